"""Replicas: `POST /api/ask` requests/s and p99 for one process and for 1, 2 and 3 replicas sharing Redis and
PostgreSQL; recovery after a replica is SIGKILLed; start-up and RSS per process, this checkout and a baseline.

Everything runs on loopback: private Redis and PostgreSQL servers from Debian's binaries (tests/servers.py),
`digibot serve` processes started as a platform starts them (`python -m bot serve` with environment
variables, each with its own data directory holding a copy of the built KB). The client spreads requests
round-robin over the replicas (as a platform's router does) from `--concurrency` workers, each with a
conversation (`"session"`) of its own, so context goes through Redis; it retries a failed request on the next
replica. The per-client rate limit is raised (every request comes from one address).

- *single*: one `digibot serve` with neither REDIS_URL nor DATABASE_URL (the embedded default), same run;
- *N replicas*: N processes with REDIS_URL and DATABASE_URL;
- *recovery*: three replicas under load; one SIGKILLed: requests that failed (and were retried elsewhere),
  the slowest request around the kill, the time until the restarted replica answers again; and, with
  `digibot run` pollers against the Bot API stand-in, the time until the other poller holds the lease;
- *start-up and RSS*: process start → first answer, and RSS after a warm-up of 100 questions, for this
  checkout and for `--baseline` (a checkout with its own .venv, e.g. /tmp/base at eb3674a).

    .venv/bin/python benchmarks/replicas.py [--requests 1500] [--concurrency 50] [--baseline /tmp/base]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.replicas import Replica  # noqa: E402
from tests.servers import PostgresServer, RedisServer, free_port  # noqa: E402

QUESTIONS = ["iTaiwan 熱點有幾個?", "那2019年呢?", "數位經濟規模多大", "DIGI+ 總預算多少", "那2019年呢?",
             "開放資料有幾個資料集", "偏遠鄉鎮有幾個達到1Gbps", "明天會下雨嗎", "怎麼聯絡國發會", "資安人才培育了多少人"]
# Simplified-Chinese questions: the first one loads OpenCC's s2tw dictionaries (RSS is read again after them).
SIMPLIFIED = ["宽带覆盖率多少", "数字经济规模多大", "资安人才培养了多少人", "开放数据有几个数据集", "偏远乡镇网络有变快吗"]
RELAXED = {"DIGIBOT_ASK_RATE_PER_MINUTE": "100000000", "DIGIBOT_ASK_BURST": "1000000"}


async def load(urls: list[str], requests: int, concurrency: int, *, stop: asyncio.Event | None = None,
               record: list | None = None) -> dict:
    """`requests` questions (or until `stop`) from `concurrency` workers, round-robin over `urls`."""
    import aiohttp

    turn = itertools.count()
    issued = itertools.count()
    latencies: list[float] = []
    failures = 0

    async def worker(index: int, http) -> None:
        nonlocal failures
        for n in itertools.count():
            if stop is None and next(issued) >= requests:
                return
            if stop is not None and stop.is_set():
                return
            body = json.dumps({"q": QUESTIONS[n % len(QUESTIONS)], "session": f"bench-{index}"})
            started = time.perf_counter()
            while True:
                url = urls[next(turn) % len(urls)]
                try:
                    async with http.post(url + "/api/ask", data=body,
                                         headers={"Content-Type": "application/json"}) as response:
                        await response.read()
                        if response.status == 200:
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                    pass
                failures += 1
            latency = time.perf_counter() - started
            latencies.append(latency)
            if record is not None:
                record.append((time.monotonic(), latency))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(i, http) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "per_second": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "failed_attempts": failures}


WARM_UP = 100  # questions before RSS is read


async def warm_up(url: str, n: int = WARM_UP, questions: list[str] = QUESTIONS) -> None:
    """`n` questions, each from a loopback address of its own: the baseline's per-address rate limit (30 a
    minute, not configurable at eb3674a) then never answers 429, and both checkouts see the same questions."""
    import aiohttp

    for i in range(n):
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.{1 + i // 200}.{1 + i % 200}", 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.post(url + "/api/ask", json={"q": questions[i % len(questions)]}) as response:
                await response.read()
                assert response.status == 200, response.status


def first_answer(replica: Replica) -> float:
    """Seconds from the process's start to its first answer (polled; the KB is built already)."""
    import urllib.request

    body = json.dumps({"q": "iTaiwan 熱點有幾個?"}).encode()
    while True:
        if not replica.alive():
            raise RuntimeError(f"{replica.name} exited:\n{replica.log()}")
        try:
            request = urllib.request.Request(replica.url + "/api/ask", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status == 200:
                    return time.monotonic() - replica.started_at
        except OSError:
            pass
        time.sleep(0.01)


class Baseline(Replica):
    """A process of another checkout (its own .venv), e.g. /tmp/base."""

    def __init__(self, root: Path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.root = root

    def start(self, extra=None) -> "Baseline":
        self.port = free_port()
        env = {**os.environ, **self.env, "PORT": str(self.port), "DIGIBOT_DATA_DIR": str(self.data)}
        env.pop("PYTHONPATH", None)
        self.started_at = time.monotonic()
        with open(self.folder / "log.txt", "ab") as log:
            self.process = subprocess.Popen([str(self.root / ".venv/bin/python"), "-m", "bot", "serve"], cwd=self.root,
                                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self


def start_all(replicas: list[Replica]) -> list[float]:
    for replica in replicas:
        replica.start()
    firsts = []
    for replica in replicas:
        for attempt in range(5):
            try:
                firsts.append(first_answer(replica))
                break
            except RuntimeError as exc:  # its free port was taken before it bound it: another port
                if "address already in use" not in str(exc) or attempt == 4:
                    raise
                replica.start()
    return firsts


async def polling_takeover(work: Path, kb_file: Path, redis_url: str, database_url: str) -> float:
    """Seconds from SIGKILL of the lease holder among two `digibot run` pollers to the other holding it."""
    import redis

    from tests.botapi_stub import BotAPIStub

    async with BotAPIStub(token="123456:BENCH") as api:
        env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": api.token,
               "TELEGRAM_API_BASE_URL": api.base_url}
        pollers = [Replica(f"poll{i}", work / f"poll{i}", kb_file, env, command="run").start() for i in range(2)]
        client = redis.Redis.from_url(redis_url)
        key = "digibot:lease:polling:123456"
        try:
            while not client.get(key):
                await asyncio.sleep(0.01)
            pid = int(client.get(key).decode().split(":")[1])
            holder = next(p for p in pollers if p.pid == pid)
            await asyncio.sleep(2)  # it is polling
            killed = time.monotonic()
            holder.kill()
            while True:
                value = client.get(key)
                if value and int(value.decode().split(":")[1]) != pid:
                    return time.monotonic() - killed
                await asyncio.sleep(0.01)
        finally:
            client.close()
            for p in pollers:
                p.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout with its own .venv")
    args = parser.parse_args()

    from bot.service import ensure_kb, prepare_kb
    from knowledge.build import KB_FILENAME

    work = Path(tempfile.mkdtemp(prefix="digibot-replicas-"))
    redis_server = RedisServer(work / "redis")
    (work / "redis").mkdir()
    postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="digibot-pg-")))  # its own folder: the server's user owns it
    results: dict = {}
    try:
        redis_server.start()
        postgres.start()
        ensure_kb(work / "kb")  # as `digibot build-kb` and a first start leave it: with its ranker and start-up state
        prepare_kb(work / "kb")
        kb_file = work / "kb" / KB_FILENAME

        # Start-up and RSS: this checkout alone, and the baseline.
        single = Replica("single", work / "single", kb_file, RELAXED)
        [results["single_first_answer_s"]] = start_all([single])
        await warm_up(single.url)
        results["single_rss_mb"] = single.rss_mb()
        await warm_up(single.url, 20, SIMPLIFIED)
        results["single_rss_after_simplified_mb"] = single.rss_mb()
        results["single"] = await load([single.url], args.requests, args.concurrency)
        results["single_rss_after_load_mb"] = single.rss_mb()
        single.stop()
        print("single process:", results["single"], f"first answer {results['single_first_answer_s']:.2f} s, "
              f"RSS {results['single_rss_mb']:.0f} MB after warm-up, {results['single_rss_after_simplified_mb']:.0f} MB "
              f"after 20 Simplified questions, {results['single_rss_after_load_mb']:.0f} MB after the load", flush=True)
        if args.baseline:
            subprocess.run([str(args.baseline / ".venv/bin/python"), "-m", "bot", "build-kb"], cwd=args.baseline,
                           env={**os.environ, "DIGIBOT_DATA_DIR": str(work / "base" / "data")}, check=True,
                           stdout=subprocess.DEVNULL)
            base = Baseline(args.baseline, "base", work / "base", kb_file, RELAXED)
            [results["baseline_first_answer_s"]] = start_all([base])
            await warm_up(base.url)
            results["baseline_rss_mb"] = base.rss_mb()  # no load: its rate limit cannot be raised
            base.stop()
            print("baseline:", f"first answer {results['baseline_first_answer_s']:.2f} s, "
                  f"RSS {results['baseline_rss_mb']:.0f} MB", flush=True)

        # 1, 2 and 3 replicas on shared Redis and PostgreSQL.
        for n in (1, 2, 3):
            redis_server.flush()
            env = {**RELAXED, "REDIS_URL": redis_server.url, "DATABASE_URL": postgres.new_database()}
            replicas = [Replica(f"r{n}-{i}", work / f"r{n}-{i}", kb_file, env) for i in range(n)]
            firsts = start_all(replicas)
            for r in replicas:
                await warm_up(r.url)
            rss = [round(r.rss_mb()) for r in replicas]
            for r in replicas:
                await warm_up(r.url, 20, SIMPLIFIED)
            figures = await load([r.url for r in replicas], args.requests, args.concurrency)
            figures["first_answer_s"] = firsts
            figures["rss_mb"] = rss
            figures["rss_after_simplified_and_load_mb"] = [round(r.rss_mb()) for r in replicas]
            results[f"replicas_{n}"] = figures
            print(f"{n} replica(s):", figures, flush=True)
            if n < 3:
                for r in replicas:
                    r.stop()
                continue

            # Recovery: a steady load on the three, one SIGKILLed, then restarted as a platform would.
            stop, record = asyncio.Event(), []
            background = asyncio.create_task(load([r.url for r in replicas], 0, 20, stop=stop, record=record))
            await asyncio.sleep(3)
            killed = time.monotonic()
            replicas[2].kill()
            replicas[2].start()
            back = await asyncio.to_thread(first_answer, replicas[2])
            await asyncio.sleep(2)
            stop.set()
            during = await background
            around = [latency for at, latency in record if killed - 0.5 <= at <= killed + 5]
            results["recovery"] = {"killed_replica_restarted_and_answering_after_s": round(back, 2),
                                   "failed_attempts_retried": during["failed_attempts"],
                                   "slowest_request_around_kill_ms": round(1000 * max(around, default=0), 1),
                                   "requests_per_second_meanwhile": round(during["per_second"], 1)}
            print("recovery:", results["recovery"], flush=True)
            for r in replicas:
                r.stop()

        redis_server.flush()
        takeover = await polling_takeover(work, kb_file, redis_server.url, postgres.new_database())
        results["polling_takeover_s"] = round(takeover, 2)
        print(f"polling lease taken over {takeover:.2f} s after the holder was killed", flush=True)
        print(json.dumps(results, indent=1, ensure_ascii=False))
    finally:
        postgres.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(postgres.folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
