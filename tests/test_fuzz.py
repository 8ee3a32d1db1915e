"""Fuzzing: generated hostile inputs (tests/fuzz_inputs.py, seeded) through every channel.

- 10,000 through `Assistant.ask` (most with a fresh session, one in five inside running conversations)
- 3,000 questions and 500 malformed bodies through `POST /api/ask` (rate limit raised)
- 2,000 messages (plus edits) through the real Telegram handlers against the loopback stand-in

Zero exceptions (nothing logged at ERROR, no 500, the Telegram error handler never called), every reply
well-formed, and every sendMessage/editMessageText/sendPhoto/sendDocument accepted by the stand-in, which
parses HTML as Telegram does. Telegram gets fewer inputs than the core because each costs a round trip
through python-telegram-bot and the stand-in (about 9 ms here against about 1 ms for `ask`).

The last tests are regressions for the four bugs this fuzzing found (fixed in e5a1b47): lone surrogates,
deeply nested JSON, a question pasted many times answered part by part, edited commands called unknown;
the very last checks that fix also covers commands typed in capitals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import defaultdict

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.answer import MAX_ANSWER_CHARS, Answer
from bot.config import Config
from bot.querylog import QueryLog
from bot.session import Session
from bot.core import Core
from handlers.web.http import MAX_BODY_BYTES, MAX_QUESTION_CHARS
from handlers.web.server import create_app
from handlers.telegram import render
from handlers.telegram.errors import SORRY
from tests.botapi_stub import EntityParseError, parse_html, running_bot, utf16_len
from tests.fuzz_inputs import KINDS, generate, telegram_text
from tests.load_stub import LoadStub, throttle_off

INTENTS = {"greeting", "thanks", "help", "fact", "faq", "stat", "clarify", "out_of_scope", "feedback"}
ANSWER_KEYS = {"query", "answered", "intent", "answer", "sources", "confidence", "suggestions"}
OPTIONAL_KEYS = {"answer_id", "contacts", "read_chars"}  # an answer that went through Core.answer has an id; contacts when given
# Huge inputs cost the core ~20 ms each (2,000 characters analysed) against ~1 ms for the rest: fewer of them.
WEIGHTS = {"huge": 1, **{kind: 6 for kind in KINDS if kind != "huge"}}
FIRST_USER = 6_300_001



def errors_logged(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()[:200]}" for r in caplog.records if r.levelno >= logging.ERROR]


def answer_problems(answer: Answer) -> list[str]:
    """What is wrong with an Answer as the channels use it (JSON for the web, HTML and buttons for Telegram)."""
    problems = []
    if not isinstance(answer, Answer):
        return [f"not an Answer: {type(answer).__name__}"]
    if answer.intent not in INTENTS:
        problems.append(f"intent {answer.intent!r}")
    if not isinstance(answer.answer, str) or not answer.answer.strip():
        problems.append("empty answer")
    elif len(answer.answer) > MAX_ANSWER_CHARS:
        problems.append(f"answer of {len(answer.answer)} characters")
    if not 0.0 <= answer.confidence <= 1.0:
        problems.append(f"confidence {answer.confidence}")
    if answer.answered and not answer.sources:
        problems.append("answered without a source")
    try:
        body = answer.to_dict()
        json.dumps(body, ensure_ascii=False).encode("utf-8")
        if not ANSWER_KEYS <= set(body) <= ANSWER_KEYS | OPTIONAL_KEYS:
            problems.append(f"JSON keys {sorted(body)}")
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        problems.append(f"to JSON: {exc!r}")
    try:
        chunks = render.split_html(render.answer_html(answer))
        for chunk in chunks:
            visible, _ = parse_html(chunk)
            if not visible.strip() or utf16_len(visible) > 4096:
                problems.append(f"Telegram message of {utf16_len(visible)} characters")
        markup = render.answer_keyboard(answer, render.ButtonStore())
        for row in (markup.inline_keyboard if markup else ()):
            for button in row:
                if not button.text.strip() or not 1 <= len(button.callback_data.encode()) <= 64:
                    problems.append(f"button {button.text!r} / {button.callback_data!r}")
    except EntityParseError as exc:
        problems.append(f"HTML Telegram would reject: {exc}")
    return problems


# ------------------------------------------------------------------------------------ the core
def test_assistant_ask_survives_10000_hostile_inputs(assistant, caplog):
    caplog.set_level(logging.ERROR)
    rng = random.Random(11)
    conversations = [Session() for _ in range(5)]
    failures = []
    for i, (kind, text) in enumerate(generate(10_000, seed=20_170_101, weights=WEIGHTS)):
        session = rng.choice(conversations) if i % 5 == 0 else Session()
        problems = answer_problems(assistant.ask(text, session))
        if problems:
            failures.append((i, kind, text[:80], problems))
    assert not failures, failures[:10]
    assert not errors_logged(caplog), errors_logged(caplog)[:10]


# -------------------------------------------------------------------------------- the web API
@pytest.fixture
async def web_client(service, tmp_path):
    querylog = QueryLog(tmp_path / "web-log")
    app = create_app(Config(data_dir=tmp_path, ask_rate_per_minute=10**9, ask_burst=10**6), Core(service, querylog))
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    yield client
    await client.close()
    querylog.close()


def malformed_bodies(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    shapes = [
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))),
        lambda: json.dumps(rng.choice([None, 1, 1.5, True, [], {}, "q", ["q"], {"q": None}, {"q": 5},
                                       {"q": ["熱點"]}, {"q": {"q": "x"}}, {"q": "x", "session": 7},
                                       {"q": "x", "session": "../../etc"}, {"q": "x", "session": "a" * 65},
                                       {"Q": "x"}, {"q": "x", "extra": [1] * 100}])).encode(),
        lambda: b'{"q": "' + "熱點".encode() * rng.randint(1, 3000) + b'"}',
        lambda: b'{"q": ' + b"[" * rng.randint(1, 8000) + b"]" * rng.randint(0, 8000) + b"}",
        lambda: rng.choice([b'{"q": NaN}', b'{"q": Infinity}', b'{"q": 1e999999}', b'{"q": "a", "q": 3}',
                            b'{"q": "\\u0000"}', b'{"q": "x"', b"\xef\xbb\xbf{\"q\": \"x\"}", b"\xff\xfe",
                            b'{"q": "\xe7\x86"}', b"null", b'"just a string"', b"[" * 100000]),
    ]
    return [rng.choice(shapes)() for _ in range(n)]


async def test_api_ask_survives_3000_hostile_questions_and_500_malformed_bodies(web_client, caplog):
    caplog.set_level(logging.ERROR)
    failures = []
    inputs = list(generate(3000, seed=20_180_101, weights=WEIGHTS))

    async def one(i: int, kind: str, text: str) -> None:
        payload = {"q": text, **({"session": f"fuzz-{i % 7}"} if i % 3 == 0 else {})}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        response = await web_client.post("/api/ask", data=body, headers={"Content-Type": "application/json"})
        data = await response.json()
        too_long = len(text) > MAX_QUESTION_CHARS or len(body) > MAX_BODY_BYTES
        if too_long:
            ok = response.status in (400, 413) and data.get("error") in ("bad_request", "payload_too_large")
        else:
            ok = response.status == 200 and ANSWER_KEYS | {"answer_id"} <= set(data) <= ANSWER_KEYS | OPTIONAL_KEYS \
                and data["intent"] in INTENTS \
                and isinstance(data["answer"], str) and data["answer"].strip()
        if not ok:
            failures.append((i, kind, text[:80], response.status, str(data)[:200]))

    for start in range(0, len(inputs), 20):  # 20 requests in flight at a time
        await asyncio.gather(*(one(start + j, kind, text) for j, (kind, text) in enumerate(inputs[start:start + 20])))

    for i, body in enumerate(malformed_bodies(500, seed=7)):
        response = await web_client.post("/api/ask", data=body, headers={"Content-Type": "application/json"})
        data = await response.json(content_type=None)
        if response.status not in (200, 400, 413) or (response.status != 200 and not data.get("message")):
            failures.append((i, "body", body[:80], response.status, str(data)[:200]))
    assert not failures, failures[:10]
    assert not errors_logged(caplog), errors_logged(caplog)[:10]


# ------------------------------------------------------------------------------ the Telegram bot
def responses_by_chat(api: LoadStub) -> dict[int, int]:
    """Messages, photos (charts) and documents (CSV) the bot sent, per chat."""
    responded: dict[int, int] = defaultdict(int)
    for call in api.calls:
        if call.method in ("sendMessage", "sendPhoto", "sendDocument") and call.ok:
            responded[call.chat_id] += 1
    return responded


async def wait_for_responses(api: LoadStub, expected: dict[int, int], timeout: float) -> dict[int, int]:
    """Wait until every chat has at least the responses it asked for (or the time-out); returns the counts."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        responded = responses_by_chat(api)
        if all(responded[chat] >= n for chat, n in expected.items()):
            return responded
        if asyncio.get_running_loop().time() > deadline:
            return responded
        await asyncio.sleep(0.2)


async def test_telegram_handlers_survive_2000_hostile_messages(service, data_dir, caplog):
    caplog.set_level(logging.INFO)
    rng = random.Random(13)
    expected: dict[int, int] = defaultdict(int)  # chat → messages needing at least one response
    pushed: dict[int, list[dict]] = defaultdict(list)
    async with LoadStub() as api:
        # The per-user question limit is not under test (a running conversation here sends ten or more).
        async with running_bot(api, service, data_dir, ask_rate_per_minute=10**9, ask_burst=10**6) as application:
            throttle_off(application)  # 30 messages a second would make this a four-minute test
            sent = 0
            for i, (kind, raw) in enumerate(generate(3000, seed=20_190_101, weights=WEIGHTS)):
                text = telegram_text(raw)
                if text is None:
                    continue  # Telegram delivers no empty message
                # Three in four from a chat of their own; the rest in 50 running conversations.
                chat = FIRST_USER + i if i % 4 else FIRST_USER + 100_000 + i % 50
                update = api.push_text(text, user_id=chat)
                pushed[chat].append(update)
                expected[chat] += 1
                sent += 1
                if rng.random() < 0.05 and not text.startswith("/"):  # the user edits an earlier message
                    earlier = rng.choice(pushed[chat])
                    edit = telegram_text(rng.choice([raw[::-1], raw + "?", "那2019年呢", raw[: len(raw) // 2]]))
                    if edit and not edit.startswith("/") and edit != earlier["message"].get("text"):
                        api.push_edited(earlier, edit)
                        expected[chat] += 1
                if sent % 200 == 0:
                    await asyncio.sleep(0)  # let the bot start while messages keep coming
                if sent == 2000:
                    break
            responded = await wait_for_responses(api, expected, timeout=240)
            await api.quiet(1.0)  # anything more (an error apology) would arrive now
    assert sent == 2000
    silent = {chat: (n, responded[chat]) for chat, n in expected.items() if responded[chat] < n}
    assert not silent, list(silent.items())[:10]
    rejected = [(c, c.description) for c in api.failed() if c.method != "getUpdates"]
    assert not rejected, rejected[:10]  # every message and edit the bot made passed the stand-in's checks
    assert not any(c.text == SORRY for c in api.sent())
    handler_errors = [r.getMessage()[:200] for r in caplog.records if r.name == "handlers.errors"]
    assert not handler_errors, handler_errors[:5]
    assert not errors_logged(caplog), errors_logged(caplog)[:10]


# ------------------------------------------------------------------------------ bugs found
def test_a_lone_surrogate_in_a_question_is_answered_without_an_error(assistant, caplog):
    """JSON may carry "\\ud800"; OpenCC used to raise on it inside Assistant.ask."""
    caplog.set_level(logging.ERROR)
    answer = assistant.ask("iTaiwan 熱點有幾個?\ud800")
    assert not errors_logged(caplog), errors_logged(caplog)
    assert "9,735" in answer.answer


async def test_a_lone_surrogate_in_api_ask_is_not_a_server_error(web_client, caplog):
    """It used to fail in the query log and in encoding the response: a 500."""
    caplog.set_level(logging.ERROR)
    response = await web_client.post("/api/ask", data=b'{"q": "iTaiwan \\u71b1\\u9ede\\ud800"}',
                                     headers={"Content-Type": "application/json"})
    assert response.status in (200, 400), await response.text()
    assert not errors_logged(caplog), errors_logged(caplog)


async def test_deeply_nested_json_in_api_ask_is_a_bad_request(web_client, caplog):
    """1 KB of "[" used to raise RecursionError in json.loads: a 500 and a logged traceback per request."""
    caplog.set_level(logging.ERROR)
    response = await web_client.post("/api/ask", data=b'{"q": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                                     headers={"Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    assert not errors_logged(caplog), errors_logged(caplog)


def test_a_question_pasted_many_times_is_not_answered_part_by_part(assistant, monkeypatch):
    """Every "?"-separated part used to be answered: ~140 searches (~1 s, blocking the event loop) for a
    question pasted 130 times, and again for every follow-up in that conversation. Counted, not timed."""
    searches = 0
    search = assistant.index.match

    def counting(query, *args, **kwargs):
        nonlocal searches
        searches += 1
        return search(query, *args, **kwargs)

    monkeypatch.setattr(assistant.index, "match", counting)
    session = Session()
    first = assistant.ask("iTaiwan 熱點有幾個?" * 130, session)
    assert "9,735" in first.answer
    assert searches <= 10, f"{searches} searches for one question"
    searches = 0
    assistant.ask("MyData 是什麼", session)  # a follow-up in the same conversation
    assert searches <= 10, f"{searches} searches for the follow-up"


async def handled(api: LoadStub, chat: int) -> None:
    """Wait until everything the chat sent so far has been handled: a chat's updates are handled in
    order, so once the answer to a question sent now arrives, the earlier ones are done."""
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", user_id=chat)
    await api.wait_for(lambda c: c.method == "sendMessage" and "9,735" in c.text, since=mark, chat_id=chat,
                       timeout=30)


async def test_an_edited_known_command_is_not_called_unknown(service, data_dir):
    """An edited /start, /chart or /export used to get "我不認得 /start 這個指令"."""
    async with LoadStub() as api:
        async with running_bot(api, service, data_dir):
            for command in ("/start", "/chart 預算", "/export 預算"):
                update = api.push_text(command, user_id=FIRST_USER)
                await handled(api, FIRST_USER)
                mark = api.mark()
                api.push_edited(update, command + " 2020")
                await handled(api, FIRST_USER)
                replies = [c.text for c in api.calls[mark:] if c.method == "sendMessage" and c.ok][:-1]
                assert not any("我不認得" in text for text in replies), (command, replies)


async def test_an_edited_known_command_in_capitals_is_not_called_unknown(service, data_dir):
    async with LoadStub() as api:
        async with running_bot(api, service, data_dir):
            update = api.push_text("/START", user_id=FIRST_USER)
            await handled(api, FIRST_USER)
            mark = api.mark()
            api.push_edited(update, "/START 2020")
            await handled(api, FIRST_USER)
            replies = [c.text for c in api.calls[mark:] if c.method == "sendMessage" and c.ok][:-1]
            assert not any("我不認得" in text for text in replies), replies
