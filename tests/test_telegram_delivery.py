"""No reply is lost silently, and one user cannot make the bot answer without limit.

- A reply that cannot be sent after every retry (the Bot API answering 502 throughout): the user is told
  once that it was lost, and the log says so.
- A reply whose answer timed out after it was sent may be in the chat: it is not repeated, the user is
  not told it failed, and it is counted.
- The per-user token bucket: a burst beyond it gets one "please wait" and then silence, other users
  are unaffected, and the bucket refills.
"""

from __future__ import annotations

import logging

import pytest

from handlers.telegram.errors import SORRY, UNDELIVERED
from tests.botapi_stub import running_bot
from tests.load_stub import set_timeouts

USER, OTHER = 5550001, 5550002


@pytest.fixture
async def bot(api, service, data_dir):
    async with running_bot(api, service, data_dir, ask_rate_per_minute=60, ask_burst=2) as application:
        application.bot.rate_limiter._backoff = 0.01  # the retries' back-off is not under test
        yield application


async def test_a_reply_that_cannot_be_sent_is_followed_by_one_notice(api, bot, caplog):
    caplog.set_level(logging.INFO)
    retries = bot.bot.rate_limiter._network_retries
    api.inject(method="sendMessage", status=502, times=retries + 1)  # the reply and every retry of it
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
    [notice] = await api.wait_for("sendMessage", since=mark, chat_id=USER)
    assert notice.text == UNDELIVERED
    assert len(api.failed("sendMessage")) == retries + 1
    await api.settle()
    assert [c.text for c in api.sent(chat_id=USER)] == [UNDELIVERED]  # once, and no apology for a bug
    lost = [r for r in caplog.records if "could not be sent after every retry" in r.getMessage()]
    assert len(lost) == 1 and str(USER) not in lost[0].getMessage()  # logged, by hash
    assert any("told" in r.getMessage() and "reply was lost" in r.getMessage() for r in caplog.records)


async def test_a_reply_that_timed_out_after_it_was_sent_is_not_repeated_nor_reported(api, service, data_dir):
    async with running_bot(api, service, data_dir) as application:
        set_timeouts(application, read=0.5)
        api.inject(method="sendMessage", status=200, slow=2.0)  # answered only after the bot gave up
        mark = api.mark()
        api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
        [reply] = await api.wait_for("sendMessage", since=mark, chat_id=USER)
        await api.settle(quiet=1.0)
        assert application.bot.rate_limiter.possibly_delivered == 1
    assert "9,735" in reply.text
    texts = [c.text for c in api.sent(chat_id=USER)]
    assert len(texts) == 1 and UNDELIVERED not in texts and SORRY not in texts


async def test_a_burst_from_one_user_gets_one_please_wait_and_others_are_unaffected(api, bot):
    now = [1000.0]
    bot.bot_data["limiter"].clock = lambda: now[0]  # time stands still during the burst
    mark = api.mark()
    for _ in range(5):
        api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
    api.push_text("數位經濟規模2019年是多少", user_id=OTHER)
    replies = await api.wait_for("sendMessage", 3, since=mark, chat_id=USER)
    [other] = await api.wait_for("sendMessage", since=mark, chat_id=OTHER)
    await api.settle()
    texts = [c.text for c in api.sent(chat_id=USER)]
    assert len(texts) == 3, texts  # two answers (the burst), one "please wait", then silence
    assert all("9,735" in t for t in texts[:2]) and "請" in texts[2] and "秒後" in texts[2]
    assert "4.7兆" in other.text
    assert replies[-1].text == texts[2]
    now[0] += 2.0  # a token a second (60 a minute): two seconds later the user may ask again
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", user_id=USER)
    [again] = await api.wait_for("sendMessage", since=mark, chat_id=USER)
    assert "9,735" in again.text
