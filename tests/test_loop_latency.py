"""Answering never holds up the event loop: questions are answered on the core's worker threads.

- While every worker is stuck on a question (and more questions wait for one), `/healthz` is answered.
- Ten crafted worst-case questions in a burst (tests.fuzz_inputs.worst_case_questions) are answered while
  `/healthz` is asked over and over. What is asserted is measured in CPU time, which a busy machine does
  not change: no single step of the event loop costs as much CPU as the cheapest of those answers (it
  would cost at least that if an answer ran on the loop), and the answers ran on threads other than the
  loop's. The wall-clock figure — /healthz p99, under 100 ms — is printed here and measured with a
  same-run comparison by benchmarks/loop_latency.py (p99 55 ms with threads, 1,084 ms before).
- Only the first MAX_QUESTION_CHARS characters of a question are read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from bot.core import MAX_QUESTION_CHARS as READ_CHARS
from bot.core import Core, read_partly
from bot.session import Session
from handlers.web.http import CORE
from tests.fuzz_inputs import worst_case_questions


class Watched:
    """An Assistant whose `ask` records the thread it ran on and its CPU time, and can be held at a gate."""

    def __init__(self, assistant, gate: threading.Event | None = None):
        self.assistant, self.gate = assistant, gate
        self.threads: set[int] = set()
        self.cpu: list[float] = []
        self.entered = 0
        self.texts: list[str] = []

    def ask(self, text, session=None):
        self.entered += 1
        self.threads.add(threading.get_ident())
        self.texts.append(text)
        if self.gate is not None and not self.gate.wait(30):  # a backstop only: the test opens the gate …
            self.gate.set()  # … unless this runs on the event loop, which the test then cannot
        started = time.thread_time()
        answer = self.assistant.ask(text, session)
        self.cpu.append(time.thread_time() - started)
        return answer

    def __getattr__(self, name):
        return getattr(self.assistant, name)


def service_with(watched: Watched, real):
    return SimpleNamespace(current=watched, kb=real.kb, loaded_at=real.loaded_at, stale_reason=None)


async def ask(client, text: str):
    return await client.post("/api/ask", json={"q": text})


async def test_healthz_is_answered_while_every_worker_is_stuck_on_a_question(make_client, web_service):
    gate = threading.Event()
    watched = Watched(web_service.current, gate)
    client = await make_client(service=service_with(watched, web_service), rate_per_minute=10**6, burst=10**6)
    workers = client.server.app[CORE].workers
    asks = [asyncio.ensure_future(ask(client, "iTaiwan 熱點有幾個?")) for _ in range(10)]
    try:
        while watched.entered < workers:  # every worker now holds a question, the rest queue
            await asyncio.sleep(0.01)
        for _ in range(3):
            response = await client.get("/healthz")
            assert response.status == 200
        assert not any(a.done() for a in asks) and watched.entered == workers
    finally:
        gate.set()
    responses = await asyncio.gather(*asks)
    assert [r.status for r in responses] == [200] * 10
    assert "9,735" in (await responses[0].json())["answer"]
    assert threading.get_ident() not in watched.threads and len(watched.threads) <= workers


async def test_ten_worst_case_questions_cost_the_event_loop_no_answer(make_client, web_service, monkeypatch, capsys):
    watched = Watched(web_service.current)
    client = await make_client(service=service_with(watched, web_service), rate_per_minute=10**6, burst=10**6)
    questions = worst_case_questions(10)
    assert all(len(q) == 2000 for q in questions)

    loop_thread = threading.get_ident()
    steps: list[float] = []  # CPU time of each step the event loop ran during the burst
    run = asyncio.events.Handle._run

    def timed_run(handle):
        if threading.get_ident() != loop_thread:
            return run(handle)
        started = time.thread_time()
        try:
            return run(handle)
        finally:
            steps.append(time.thread_time() - started)

    await client.get("/healthz")  # the connection pool and the route warm
    latencies: list[float] = []
    done = asyncio.Event()

    async def poll() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await client.get("/healthz")).status == 200
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)

    monkeypatch.setattr(asyncio.events.Handle, "_run", timed_run)
    poller = asyncio.ensure_future(poll())
    responses = await asyncio.gather(*(ask(client, q) for q in questions))
    done.set()
    await poller
    monkeypatch.undo()

    assert [r.status for r in responses] == [200] * 10
    assert [(await r.json())["read_chars"] for r in responses] == [READ_CHARS] * 10
    assert len(watched.cpu) == 10
    assert all(len(text) <= READ_CHARS for text in watched.texts)  # only the first 200 characters were read
    cheapest = min(watched.cpu)
    assert max(steps) < cheapest, (f"a step of the event loop took {max(steps) * 1000:.1f} ms of CPU, as much as "
                                   f"an answer ({cheapest * 1000:.1f} ms)")
    assert loop_thread not in watched.threads
    latencies.sort()
    with capsys.disabled():
        print(f"\n/healthz during the burst: {len(latencies)} answered, p99 "
              f"{latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]:.1f} ms; largest loop step "
              f"{max(steps) * 1000:.2f} ms CPU; answers {cheapest * 1000:.1f}–{max(watched.cpu) * 1000:.1f} ms CPU")


def test_only_the_first_characters_of_a_long_message_are_read(web_service, querylog):
    core = Core(web_service, querylog)
    question = "iTaiwan 熱點有幾個?"
    padded = question + "\u3000" * READ_CHARS + "高雄天氣如何"  # what comes after the first 200 is not read
    answer = core.answer(padded, Session(), channel="test", user=None)
    assert "9,735" in answer.answer and "高雄" not in answer.query and len(answer.query) <= READ_CHARS
    assert read_partly(padded) and not read_partly(question) and not read_partly("字" * READ_CHARS)
    core.close()


async def test_one_conversation_is_answered_in_order(web_service, querylog):
    """Two questions of one session asked at once: the follow-up sees the context the first one left."""
    core = Core(web_service, querylog, workers=4)
    session = Session()
    first, follow = await asyncio.gather(core.ask("2018年數位經濟規模", session, channel="test", user=1),
                                         core.ask("那2019年呢？", session, channel="test", user=1))
    assert "4.5兆" in first.answer and "4.7兆" in follow.answer
    core.close()


BODY = '{"q": "iTaiwan 熱點有幾個"}'.encode()


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
async def test_api_ask_answers_415_unless_the_body_is_json(make_client, querylog, ctype):
    """A text/plain or form POST is a request any web page can make a visitor's browser send (no CORS
    preflight); only application/json is accepted."""
    client = await make_client()
    headers = {"Content-Type": ctype} if ctype else {}
    response = await client.post("/api/ask", data=BODY, headers=headers,
                                 skip_auto_headers=["Content-Type"])
    assert response.status == 415
    body = await response.json()
    assert body["error"] == "unsupported_media_type" and "application/json" in body["message"]
    assert querylog.count() == 0
    ok = await client.post("/api/ask", data=BODY,
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status == 200
