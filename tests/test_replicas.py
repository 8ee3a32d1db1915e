"""Replicas sharing a real Redis and PostgreSQL (issue #12), as processes, against the Bot API stand-in.

- Three `digibot serve` replicas in webhook mode; 1,000 updates from 100 chats delivered the way Telegram does
  (40 connections, round-robin over the replicas, a failed delivery tried again); one replica SIGKILLed in the
  middle. Every message is answered exactly once, a follow-up continues on another replica the conversation
  the killed one began, the stand-in's clock shows at most 30 sends in any second and one per chat per second
  over all replicas together, and /usage counts all 1,000. The killed replica comes back; an admin's /reload
  on one replica makes all three report the new KB fingerprint on /healthz.
- Two `digibot run` pollers: the lease holder SIGKILLed mid-run, the other takes over; nothing lost or doubled.

Waits follow progress (replies arriving, /healthz answering); the long figures are backstops only.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest

from bot.storage import open_storage
from handlers.web.webhook import webhook_path

from .botapi_stub import BotAPIStub
from .replicas import SEND_METHODS, Deliverer, Replica, most_in_window
from .servers import database_url, postgres_server, redis_server, redis_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "123456:REPLICAS"
SECRET = "replica-test-secret"
ADMIN = 4242
QUESTIONS = ["iTaiwan 熱點有幾個?", "怎麼聯絡國發會", "5G 基地台有幾座", "數位經濟規模多大", "資安人才培育了多少人",
             "DIGI+ 總預算多少", "2020年的預算", "數位國家創新經濟發展方案是什麼", "偏鄉寬頻", "開放資料有幾個資料集"]
USERS = list(range(5001, 5101))  # 100 people, each asking in a group of their own: in groups the bot replies
CHATS = [-100 - user for user in USERS]  # to the message it answers, so each reply names its update
FOLLOW_CHAT = 9001
BACKSTOP = 600.0  # seconds; progress decides


def _env(redis_url: str, database_url: str, api: BotAPIStub, *, webhook: bool) -> dict[str, str]:
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": api.token,
           "TELEGRAM_API_BASE_URL": api.base_url, "DIGIBOT_ADMIN_IDS": str(ADMIN),
           "DIGIBOT_ASK_RATE_PER_MINUTE": "600", "DIGIBOT_ASK_BURST": "60"}
    if webhook:
        env.update(WEBHOOK_URL="http://127.0.0.1", WEBHOOK_SECRET=SECRET)
    return env


def _update(api: BotAPIStub, ids, chat: int, text: str) -> dict:
    return {"update_id": next(ids), "message": api.new_message(user_id=chat, text=text)}


def _group_update(api: BotAPIStub, ids, user: int, text: str) -> dict:
    message = api.new_message(user_id=user, chat_type="group", text=f"@{api.username} {text}")
    return {"update_id": next(ids), "message": message}


def _check_once(api: BotAPIStub, updates: list[dict]) -> None:
    """Every message answered by exactly one reply (a reply names the message it answers), nothing else sent."""
    answered = Counter((c.chat_id, (c.result.get("reply_to_message") or {}).get("message_id"))
                       for c in api.calls if c.method in SEND_METHODS and c.ok and c.chat_id in set(CHATS))
    asked = Counter((u["message"]["chat"]["id"], u["message"]["message_id"]) for u in updates)
    assert answered == asked, (f"unanswered {list((asked - answered).items())[:5]}, "
                               f"more than once or unasked {list((answered - asked).items())[:5]}")


async def _ready(replicas: list[Replica], *, telegram: bool = True) -> list[dict]:
    return await asyncio.gather(*(asyncio.to_thread(r.wait_ready, telegram=telegram) for r in replicas))


def _sent_to(api: BotAPIStub, chats: list[int]) -> int:
    chats = set(chats)
    return sum(1 for c in api.calls if c.method == "sendMessage" and c.ok and c.chat_id in chats)


def _replies(api: BotAPIStub, chat: int) -> list:
    return [c for c in api.calls if c.method in SEND_METHODS and c.ok and c.chat_id == chat]


def _check_flood(api: BotAPIStub) -> tuple[int, float]:
    """Telegram's limits on the stand-in's clock: ≤ 30 sends in any second, ≤ 1 per chat per second."""
    sends = [c for c in api.calls if c.method in SEND_METHODS and c.ok]
    busiest = most_in_window([c.at for c in sends])
    assert busiest <= 30, f"{busiest} sends within one second"
    by_chat: dict = {}
    for call in sends:
        by_chat.setdefault(call.chat_id, []).append(call.at)
    gaps = [b - a for times in by_chat.values() for a, b in zip(sorted(times), sorted(times)[1:])]
    closest = min(gaps, default=1.0)
    assert closest >= 1.0, f"two sends to one chat {closest:.3f} s apart"
    return busiest, closest


@pytest.fixture
def kb_file(kb_dir):
    from knowledge.build import KB_FILENAME

    return kb_dir / KB_FILENAME


async def test_three_webhook_replicas_answer_1000_updates_once_through_a_kill_and_reload_together(
        redis_url, database_url, kb_file, tmp_path):  # noqa: F811
    async with BotAPIStub(token=TOKEN) as api:
        env = _env(redis_url, database_url, api, webhook=True)
        replicas = [Replica(f"r{i}", tmp_path / f"r{i}", kb_file, env).start() for i in range(3)]
        try:
            await _ready(replicas)
            urls = [r.url for r in replicas]
            ids = iter(range(1, 10**6))
            deliverer = Deliverer(urls, webhook_path(TOKEN), SECRET)

            # A conversation begins on the replica that will be killed.
            import aiohttp

            async with aiohttp.ClientSession() as http:
                first = _update(api, ids, FOLLOW_CHAT, "DIGI+ 總預算多少")
                assert await deliverer.post(http, first, replicas[2].url) == 200
            [opening] = _replies(api, FOLLOW_CHAT)
            assert "251億元" in opening.text and "242億元" in opening.text

            # 1,000 updates from 100 chats, chats interleaved; replica r2 SIGKILLed once 400 replies are out.
            updates = [_group_update(api, ids, user, question) for question in QUESTIONS for user in USERS]

            async def kill_midway() -> None:
                while _sent_to(api, CHATS) < 400:  # polled: a predicate run on every call would load the stand-in
                    await asyncio.sleep(0.05)
                replicas[2].kill()

            killer = asyncio.create_task(kill_midway())
            await deliverer.deliver(updates)
            await killer
            assert not replicas[2].alive()
            assert any(deliverer.failures.values()), "the kill cost no delivery: it did not happen mid-run"

            _check_once(api, updates)  # exactly once

            # The follow-up reaches another replica and continues the killed replica's conversation.
            async with aiohttp.ClientSession() as http:
                follow = _update(api, ids, FOLLOW_CHAT, "那2019年呢?")
                assert await deliverer.post(http, follow, replicas[0].url) == 200
            followed = _replies(api, FOLLOW_CHAT)[-1]
            assert "251億元" in followed.text and "242億元" not in followed.text, followed.text

            busiest, closest = _check_flood(api)

            # /usage (an admin, on any replica) counts every question every replica logged.
            async with aiohttp.ClientSession() as http:
                assert await deliverer.post(http, _update(api, ids, ADMIN, "/usage"), replicas[1].url) == 200
            usage = _replies(api, ADMIN)[-1].text
            total, users = map(lambda s: int(s.replace(",", "")),
                               re.search(r"提問 ([\d,]+) 則・使用者 ([\d,]+) 人", usage).groups())
            assert (total, users) == (1000 + 2, 100 + 1), usage

            # The killed replica comes back; /reload on r0 with a pending teaching: all three switch.
            replicas[2].start()
            healths = await _ready(replicas)
            before = {h["kb"]["fingerprint"] for h in healths}
            assert len(before) == 1
            storage = open_storage(tmp_path, database_url=database_url)
            try:
                storage.teach.mark_out_of_scope(["高雄今天的天氣如何"], by=ADMIN)
            finally:
                storage.close()
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BACKSTOP)) as http:
                mark = api.mark()
                assert await deliverer.post(http, _update(api, ids, ADMIN, "/reload"), replicas[0].url) == 200
            # The reload runs in the background (its handler does not hold up the chat); its report replaces "⏳".
            [report] = await api.wait_for(lambda c: c.chat_id == ADMIN and c.method == "editMessageText", since=mark,
                                          timeout=BACKSTOP)
            assert report.text.startswith("✅"), report.text
            new = (await _ready(replicas[:1]))[0]["kb"]["fingerprint"]
            assert new not in before

            async def reports_new(replica: Replica) -> None:
                while (await asyncio.to_thread(replica.healthz))["kb"]["fingerprint"] != new:
                    assert replica.alive(), replica.log()
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(asyncio.gather(*(reports_new(r) for r in replicas)), BACKSTOP)
            print(f"busiest second {busiest} sends; closest sends to one chat {closest:.3f} s apart; "
                  f"{sum(map(len, deliverer.failures.values()))} failed deliveries retried")
        finally:
            for replica in replicas:
                replica.stop()


async def test_two_pollers_the_lease_holder_killed_the_other_takes_over(redis_url, database_url, kb_file,
                                                                       tmp_path):  # noqa: F811
    import redis

    async with BotAPIStub(token=TOKEN) as api:
        env = _env(redis_url, database_url, api, webhook=False)
        pollers = [Replica(f"p{i}", tmp_path / f"p{i}", kb_file, env, command="run").start() for i in range(2)]
        client = redis.Redis.from_url(redis_url)
        try:
            lease = f"digibot:lease:polling:{TOKEN.split(':')[0]}"

            async def holder(other_than: Replica | None = None) -> Replica:
                while True:
                    value = client.get(lease)
                    pid = int(value.decode().split(":")[1]) if value else None
                    found = next((p for p in pollers if p.pid == pid and p is not other_than), None)
                    if found is not None:
                        return found
                    assert all(p.alive() for p in pollers if p is not other_than), "\n".join(p.log() for p in pollers)
                    await asyncio.sleep(0.05)

            first = await asyncio.wait_for(holder(), BACKSTOP)
            chats = CHATS[:20]
            updates = [api.push_update({"message": api.new_message(user_id=user, chat_type="group",
                                                                    text=f"@{api.username} {question}")})
                       for question in QUESTIONS for user in USERS[:20]]

            while _sent_to(api, chats) < 60:
                await asyncio.sleep(0.05)
            first.kill()
            print(f"killed the lease holder after {_sent_to(api, chats)} replies")
            second = next(p for p in pollers if p is not first)
            assert (await asyncio.wait_for(holder(other_than=first), BACKSTOP)) is second
            while _sent_to(api, chats) < len(updates):
                assert second.alive(), second.log()
                await asyncio.sleep(0.05)
            while api._updates:  # the poller tells Telegram it has them all (the next getUpdates' offset)
                assert second.alive(), second.log()
                await asyncio.sleep(0.05)
            _check_once(api, updates)
            _check_flood(api)
        finally:
            client.close()
            for poller in pollers:
                poller.stop()
