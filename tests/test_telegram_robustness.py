"""Flood limits, 429s, network errors, handler errors, long replies and shutdown, over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import sys

import pytest

from bot.answer import Answer
from bot.config import Config
from bot.feedback import FeedbackStore
from bot.querylog import QueryLog, salted_hash
from handlers.telegram.app import run_polling
from handlers.telegram.errors import SORRY
from tests.botapi_stub import BotAPIStub, parse_html, running_bot, utf16_len

USER, ADMIN = 8880001, 8880002

# Questions with the figure the reply must carry (the real answers, checked per reply).
QUESTIONS = [("iTaiwan 熱點有幾個?", "9,735"), ("數位經濟規模2019年是多少", "4.7兆元"),
             ("主軸6 2018年預算多少", "57.3億元"), ("2020年資訊國力全球排名", "11名")]




@pytest.fixture
async def bot(api, service, data_dir):
    # Bursts of 20 from one user: the per-user question limit (tests/test_telegram_delivery.py) is not under test.
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}, ask_burst=100) as application:
        yield application


async def test_a_429_in_the_middle_of_a_burst_loses_no_reply_and_keeps_order(api, bot):
    api.inject(method="sendMessage", status=429, retry_after=1, times=1, after=7)
    burst = [QUESTIONS[i % len(QUESTIONS)] for i in range(20)]
    mark = api.mark()
    for question, _ in burst:
        api.push_text(question, user_id=USER)
    replies = await api.wait_for("sendMessage", 20, since=mark, timeout=30)
    assert [c.status for c in api.failed("sendMessage")] == [429]
    for (question, figure), reply in zip(burst, replies):
        assert figure in reply.text, (question, reply.text[:80])  # in order: one chat, one at a time
    await api.settle()
    assert len(api.sent(chat_id=USER)) == 20  # and nothing twice


async def test_bursts_from_many_chats_survive_429s_and_502s(api, bot):
    api.inject(method="sendMessage", status=429, retry_after=1, times=2, after=5)
    api.inject(method="sendMessage", status=502, times=2, after=12)
    users = [USER + 100 + i for i in range(20)]
    mark = api.mark()
    for i, user in enumerate(users):
        api.push_text(QUESTIONS[i % len(QUESTIONS)][0], user_id=user)
    await api.wait_for("sendMessage", 20, since=mark, timeout=30)
    await api.settle()
    for i, user in enumerate(users):
        [reply] = api.sent(chat_id=user)
        assert QUESTIONS[i % len(QUESTIONS)][1] in reply.text
    assert sorted(c.status for c in api.failed("sendMessage")) == [429, 429, 502, 502]


async def test_polling_survives_bot_api_errors(api, bot):
    api.inject(method="getUpdates", status=502, times=1)
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
    [reply] = await api.wait_for("sendMessage", since=mark, timeout=15)
    assert "9,735" in reply.text
    assert any(c.method == "getUpdates" and c.status == 502 for c in api.calls)


async def test_handler_errors_are_logged_with_context_and_the_user_is_told(api, bot, caplog):
    caplog.set_level(logging.INFO)
    api.inject(method="sendMessage", status=400, times=1)  # e.g. something Telegram refuses
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
    [sorry] = await api.wait_for("sendMessage", since=mark)
    assert sorry["text"] == SORRY
    [record] = [r for r in caplog.records if r.getMessage().startswith("error while handling")]
    message = record.getMessage()
    assert "message" in message and "chat type private" in message and str(USER) not in message
    assert re.search(r"user [0-9a-f]{24}", message) and record.exc_info is not None
    assert "9,735" in (await ask_again(api))


async def ask_again(api: BotAPIStub) -> str:
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
    [reply] = await api.wait_for("sendMessage", since=mark)
    return reply.text


async def test_long_listings_are_valid_messages(api, bot, data_dir):
    rng = random.Random(5)
    store = FeedbackStore(data_dir, salted_hash(data_dir))
    for i in range(20):  # twenty long, different questions the bot could not answer, with HTML in them
        question = f"<i>問題{i}</i> & " + "".join(rng.choice("天地玄黃宇宙洪荒日月盈昃辰宿列張寒來暑往秋收冬藏閏餘成歲律呂調陽雲騰致雨")
                                                 for _ in range(600))
        store.record_answer(Answer(query=question, answered=False, intent="out_of_scope", answer="抱歉"), user=i,
                            channel="private", question=question)
    store.close()
    mark = api.mark()
    api.push_text("/unanswered 20", user_id=ADMIN)
    [header] = await api.wait_for("sendMessage", since=mark)
    assert "20 組" in header.text
    messages = await api.wait_for("sendMessage", count=21, since=mark)
    assert all(c.ok for c in messages)
    for call in messages:
        visible, _ = parse_html(call["text"])
        assert utf16_len(visible) <= 4096
    shown = "".join(c.text for c in messages)
    assert all(f"<i>問題{i}</i> & " in shown for i in range(20))  # escaped, so shown as typed; none lost


def test_run_polling_without_a_token_says_what_to_set(capsys, tmp_path):
    assert run_polling(Config(token="", data_dir=tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TELEGRAM_BOT_TOKEN" in err[0]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_digibot_run_answers_and_shuts_down_cleanly_on_a_signal(api, data_dir, stop):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
           "DIGIBOT_DATA_DIR": str(data_dir), "DIGIBOT_ADMIN_IDS": str(ADMIN)}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await api.wait_for("getUpdates", timeout=30, in_flight=True)  # a long poll has started
        assert api.commands, "setMyCommands at start-up"
        mark = api.mark()
        api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
        [reply] = await api.wait_for("sendMessage", since=mark, timeout=15)
        assert "9,735" in reply.text
        process.send_signal(stop)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "Traceback" not in stderr.decode()


async def test_without_an_updater_updates_can_be_fed_in_as_a_webhook_would(api, service, data_dir):
    """The contract `digibot serve` relies on: build(polling=False), start_application, feed the queue."""
    from telegram import Update

    from bot.core import Core
    from handlers.telegram.app import build_application, start_application

    config = Config(token=api.token, api_base_url=api.base_url, data_dir=data_dir)
    log = QueryLog(data_dir)
    application = build_application(config, Core(service, log), polling=False)
    assert application.updater is None
    await start_application(application)
    try:
        assert len(api.sent("setMyCommands")) == 1, "post_init runs once, with no run_polling"
        data = {"update_id": 1, "message": api.new_message(user_id=USER, text="iTaiwan 熱點有幾個?")}
        await application.update_queue.put(Update.de_json(data, application.bot))
        [reply] = await api.wait_for("sendMessage")
        assert "9,735" in reply.text
    finally:
        await application.stop()
        await application.shutdown()
        log.close()
    assert not [c for c in api.calls if c.method == "getUpdates"]


async def test_typing_gives_way_to_replies_under_the_flood_limit():
    """A chat action is a courtesy: when the overall limit has no room it is skipped; a reply waits."""
    from handlers.telegram.app import RetryingRateLimiter

    limiter = RetryingRateLimiter(overall_max_rate=1, overall_time_period=60, group_max_rate=0)
    await limiter.initialize()
    sent = []

    def request(endpoint):
        async def callback():
            sent.append(endpoint)
            return True
        return limiter.process_request(callback, (), {}, endpoint, {"chat_id": 7}, None)

    await request("sendMessage")  # takes the only slot of this minute
    assert await asyncio.wait_for(request("sendChatAction"), timeout=10) is True  # queued, it would wait 60 s
    assert sent == ["sendMessage"]  # "typing" was skipped, not queued
    reply = asyncio.create_task(request("sendMessage"))
    await asyncio.sleep(0.3)
    assert not reply.done()  # a reply is never dropped: it waits for room
    reply.cancel()
