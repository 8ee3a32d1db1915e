"""Load through the real Telegram Application and the loopback Bot API stand-in: counts, order, uniqueness.

No timing is asserted (shared, noisy machines); what is asserted is that every message gets exactly one
reply, in the order its chat asked, carrying the figure its question asks for. Where the bot's
30-messages-a-second limiter would only make a run longer without being what is tested, its throttle is
turned off (`throttle_off`: retries on 429 and network errors stay); the flood-limited test keeps it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


from bot.service import KnowledgeService
from handlers.telegram.errors import SORRY
from tests.botapi_stub import running_bot
from tests.load_stub import LoadStub, throttle_off

# Ten questions whose replies each carry a figure no other of them carries, answered the same whatever
# the chat asked before (checked: every ordered pair in one session), so a reply names its question.
QUESTIONS = [
    ("主軸6 2018年預算多少", "57.3億元"),
    ("2019年數位服務經濟規模有多大？", "1.9兆元"),
    ("數位經濟規模2017到2020年各是多少？", "3.8兆元"),
    ("1Gbps高速寬頻服務涵蓋率歷年多少？", "34.2%"),
    ("Gbps等級服務到偏鄉涵蓋率歷年多少？", "33.7%"),
    ("DIGI+方案平均每年投入多少經費？", "200億元"),
    ("Gbps等級家戶涵蓋率從多少提升到多少？", "20.7%"),
    ("臺鐵車站有多少 iTaiwan 熱點？", "218個"),
    ("借問站建置完成後總共可提供幾處免費 Wi-Fi？", "43處"),
    ("各機關擴大建置 iTaiwan 熱點增加了多少個？", "1,200個"),
]
FIRST_USER = 6_100_001
ADMIN = 6_000_001



def push_load(api: LoadStub, chats: int, per_chat: int, first_user: int = FIRST_USER) -> dict[int, list[str]]:
    """Each chat asks `per_chat` of QUESTIONS, starting at a different one; messages of different chats
    interleave. Returns the figures each chat's replies must carry, in order."""
    expected: dict[int, list[str]] = defaultdict(list)
    for round_ in range(per_chat):
        for c in range(chats):
            question, figure = QUESTIONS[(c + round_) % len(QUESTIONS)]
            api.push_text(question, user_id=first_user + c)
            expected[first_user + c].append(figure)
    return expected


def replies_by_chat(api: LoadStub) -> dict[int, list[str]]:
    got: dict[int, list[str]] = defaultdict(list)
    for reply in api.replies:
        got[reply.chat_id].append(reply.text)
    return got


def assert_one_reply_each_in_order(api: LoadStub, expected: dict[int, list[str]]) -> None:
    got = replies_by_chat(api)
    assert set(got) == set(expected), "replies went to chats that asked nothing"
    for chat, figures in expected.items():
        texts = got[chat]
        assert len(texts) == len(figures), f"chat {chat}: {len(figures)} questions, {len(texts)} replies"
        for i, (figure, text) in enumerate(zip(figures, texts)):
            assert figure in text, f"chat {chat}, reply {i + 1}: expected {figure}, got {text[:80]!r}"


def assert_nothing_rejected(api: LoadStub) -> None:
    rejected = [(c, c.description) for c in api.failed() if c.method != "getUpdates"]
    assert not rejected, f"the stand-in rejected: {rejected[:5]}"


async def test_1000_messages_from_100_chats_get_exactly_one_reply_each_in_order(service, data_dir):
    async with LoadStub() as api:
        async with running_bot(api, service, data_dir) as application:
            throttle_off(application)
            expected = push_load(api, chats=100, per_chat=10)
            await api.wait_replies_progressing(1000)
            await api.quiet(0.5)  # a duplicate would arrive now
        assert len(api.replies) == 1000
        assert_one_reply_each_in_order(api, expected)
        assert_nothing_rejected(api)
        assert len(api.handed_out) == 1000  # every update was handed out (and none twice: dict keys)


async def test_flood_limited_burst_loses_and_reorders_nothing(service, data_dir):
    """Telegram's flood limits emulated in the stand-in, the bot's rate limiter as configured."""
    async with LoadStub(flood_limits=True) as api:
        async with running_bot(api, service, data_dir):
            expected = push_load(api, chats=50, per_chat=3)
            await api.wait_replies_progressing(150)
            await api.quiet(1.5)
        assert len(api.replies) == 150
        assert_one_reply_each_in_order(api, expected)
        # A 429 (if the emulated per-chat limit is hit) is waited out and retried, never lost.
        assert all(c.status == 429 for c in api.failed() if c.method != "getUpdates")


async def test_reload_in_the_middle_of_the_load_fails_no_question(kb_dir, data_dir):
    """/reload rebuilds and swaps the KB in a thread while waves of questions keep coming."""
    service = KnowledgeService(data_dir)  # its own: the reload replaces this data dir's KB file
    before = service.current
    async with LoadStub() as api:
        async with running_bot(api, service, data_dir, admin_ids={ADMIN}) as application:
            throttle_off(application)
            expected: dict[int, list[str]] = defaultdict(list)
            asked = 0

            def wave(n: int = 20) -> None:
                nonlocal asked
                for _ in range(n):
                    question, figure = QUESTIONS[asked % len(QUESTIONS)]
                    user = FIRST_USER + asked % 40
                    api.push_text(question, user_id=user)
                    expected[user].append(figure)
                    asked += 1

            for _ in range(5):  # load is flowing before the reload starts
                wave()
                await asyncio.sleep(0.05)
            await api.wait_replies_progressing(40)
            api.push_text("/reload", user_id=ADMIN)
            during = 0

            def reload_finished() -> bool:  # the admin's "reloading…" message edited with the outcome
                return any(c.chat_id == ADMIN for c in api.sent("editMessageText"))

            while service.current is before and not reload_finished():  # until the new KB is swapped in
                wave(5)
                during += 1
                await asyncio.sleep(0.25)
            for _ in range(5):  # and some more on the new KB
                wave()
                await asyncio.sleep(0.05)
            await api.wait_replies_progressing(asked + 1)  # +1: the admin's "reloading…" message
            await api.wait_for(lambda c: c.method == "editMessageText" and c.chat_id == ADMIN, timeout=60)
            await api.quiet(0.5)
    assert service.current is not before, "the reload never swapped the knowledge base in"
    [status] = [c for c in api.sent("editMessageText") if c.chat_id == ADMIN]
    assert status.text.startswith("✅"), status.text
    got = replies_by_chat(api)
    assert len(got.pop(ADMIN)) == 1  # "⏳ 正在重新建立知識庫…", later edited
    assert during >= 1, "the questions did not overlap the reload"
    assert sum(len(v) for v in got.values()) == asked
    assert not any(SORRY in text or not text.strip() for texts in got.values() for text in texts)
    for chat, figures in expected.items():
        assert len(got[chat]) == len(figures)
        for figure, text in zip(figures, got[chat]):
            assert figure in text, (chat, figure, text[:80])
    assert_nothing_rejected(api)
