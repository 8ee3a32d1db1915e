"""Event-loop latency while the server answers a burst of worst-case questions: `/healthz` p50/p99/max.

Each round sends ten crafted 2,000-character questions (`tests.fuzz_inputs.worst_case_questions`) to
`POST /api/ask` at once and, from the moment they go until the last answer is back, asks `/healthz`
over and over (one at a time, 10 ms apart) and times each. `/healthz` does almost nothing, so its
latency is how long the event loop was busy with something else. The server runs in its own process,
set up as `digibot serve` sets it up (per-client rate limit raised: every request comes from here).

Modes, alternated round by round, each in its own server process:

- `threads`    — the product: `Core.ask` answers on a pool of DIGIBOT_ANSWER_WORKERS (2) threads, 200 characters read.
- `processes`  — what-if: a pool of 2 processes, each with its own Assistant, answers (sessions not carried).
- `on-loop`    — what-if: the product's 200-character cap, but answering on the event loop.
- `eb3674a`    — what-if: the reviewed behaviour: answering on the event loop, 2,000 characters read.

    .venv/bin/python benchmarks/loop_latency.py [--rounds 5] [--modes threads,processes,on-loop,eb3674a]

Prints figures; asserts nothing but that every answer was a 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("threads", "processes", "on-loop", "eb3674a")
BURST = 10
POLL_GAP = 0.010


# ---------------------------------------------------------------------------------- server
_worker_assistant = None


def _load_worker(data_dir: str) -> None:
    global _worker_assistant
    from bot.assistant import Assistant

    _worker_assistant = Assistant.load(Path(data_dir))


def _answer_in_worker(text: str):
    from intents.normalize import analysed

    return _worker_assistant.ask(analysed(text)[0])


def serve(mode: str, port: int, data_dir: Path) -> None:
    import functools
    from concurrent.futures import ProcessPoolExecutor

    import intents.normalize
    from bot.config import Config
    from bot.core import Core
    from handlers.web.server import create_app, run

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config(data_dir=data_dir, ask_rate_per_minute=10**9, ask_burst=10**6)
    core = Core.open(data_dir, config=config)
    if mode in ("on-loop", "eb3674a"):
        async def on_loop(self, text, session=None, *, channel, user):
            return self.answer(text, session, channel=channel, user=user)

        Core.ask = on_loop
        if mode == "eb3674a":
            intents.normalize.ANALYSED_CHARS = 2000
    elif mode == "processes":
        pool = ProcessPoolExecutor(2, initializer=_load_worker, initargs=(str(data_dir),))
        list(pool.map(_answer_in_worker, ["暖身"] * 4))  # every worker loaded before the first round

        async def in_process(self, text, session=None, *, channel, user):
            started = time.perf_counter()
            answer = await asyncio.get_running_loop().run_in_executor(pool, functools.partial(_answer_in_worker, text))
            self.querylog.record(user_id=user, chat_type=channel, question=text[:200], intent=answer.intent,
                                 answered=answer.answered, confidence=answer.confidence,
                                 latency_ms=(time.perf_counter() - started) * 1000)
            return answer

        Core.ask = in_process
    asyncio.run(run(create_app(config, core), "127.0.0.1", port))


# ---------------------------------------------------------------------------------- client
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(base: str, proc: subprocess.Popen) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


async def one_round(base: str, questions: list[str]) -> tuple[list[float], float]:
    """Healthz latencies (ms) during one burst, and the burst's duration (s)."""
    import aiohttp

    latencies: list[float] = []
    done = asyncio.Event()
    async with aiohttp.ClientSession() as asker, aiohttp.ClientSession() as checker:
        async def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                async with checker.get(base + "/healthz") as response:
                    await response.read()
                    assert response.status == 200
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(POLL_GAP)

        async def ask(q: str) -> None:
            async with asker.post(base + "/api/ask", json={"q": q}) as response:
                await response.read()
                assert response.status == 200, response.status

        async with checker.get(base + "/healthz") as response:  # connection open before the burst
            await response.read()
        poller = asyncio.create_task(poll())
        started = time.perf_counter()
        await asyncio.gather(*(ask(q) for q in questions))
        took = time.perf_counter() - started
        done.set()
        await poller
    return latencies, took


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def main(rounds: int, modes: list[str]) -> None:
    from knowledge.build import build_kb
    from tests.fuzz_inputs import worst_case_questions

    questions = worst_case_questions(BURST)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        build_kb(data_dir)
        servers = {}
        try:
            for mode in modes:
                port = free_port()
                proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port),
                                         "--data-dir", str(data_dir)], cwd=REPO)
                servers[mode] = (proc, f"http://127.0.0.1:{port}")
            for proc, base in servers.values():
                await wait_ready(base, proc)
            results: dict[str, list[tuple[list[float], float]]] = {m: [] for m in modes}
            for r in range(rounds):
                for mode in (modes if r % 2 == 0 else modes[::-1]):
                    results[mode].append(await one_round(servers[mode][1], questions))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
    load = os.getloadavg()
    print(f"{BURST} worst-case questions of {len(questions[0]):,} characters at once, /healthz polled during "
          f"the burst; {rounds} rounds per mode, alternated; load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'mode':12s} {'healthz n':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'burst s (median)':>17s}")
    for mode in modes:
        lat = [x for latencies, _ in results[mode] for x in latencies]
        took = statistics.median(t for _, t in results[mode])
        print(f"{mode:12s} {len(lat):9d} {statistics.median(lat):8.1f} {percentile(lat, 99):8.1f} "
              f"{max(lat):8.1f} {took:17.2f}")
    print(json.dumps({m: {"p99_ms": round(percentile([x for l, _ in results[m] for x in l], 99), 1)} for m in modes}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--serve", choices=MODES)
    parser.add_argument("--port", type=int)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.data_dir)
    else:
        asyncio.run(main(args.rounds, [m.strip() for m in args.modes.split(",") if m.strip()]))
