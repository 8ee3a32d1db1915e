"""Web: requests per second and latency of `POST /api/ask` at 50 concurrent clients, against the floor.

The server runs in its own process (`--serve`), set up as `digibot serve` sets it up — the KnowledgeService,
the query log, `handlers.web.server.create_app` and `run`, logging configured as the CLI does — but bound to
127.0.0.1 and with the per-client rate limit raised (every request here comes from one address). Its
app also gets `POST /bench/trivial`, which parses the same JSON body and answers `{"q": …}`: the floor of
aiohttp plus digibot's own middlewares (in-flight tracking, JSON errors, security headers) on the same
server. This process drives both with aiohttp's client, 50 workers over a fixed number of requests,
alternating which goes first; prints figures, asserts nothing but that every answer was a 200.

    .venv/bin/python benchmarks/web_load.py [--requests 2000] [--concurrency 50] [--rounds 2]
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
sys.path.insert(0, str(REPO / "benchmarks"))

ASK, TRIVIAL = "/api/ask", "/bench/trivial"


# ---------------------------------------------------------------------------------- server
def serve(port: int, data_dir: Path) -> None:
    from aiohttp import web

    from bot.config import Config
    from bot.core import Core
    from handlers.web.server import create_app, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def trivial(request: web.Request) -> web.Response:
        """The floor: parse the JSON body, answer a small JSON object."""
        data = json.loads(await request.read())
        return web.json_response({"q": data.get("q")}, dumps=lambda d: json.dumps(d, ensure_ascii=False))

    app = create_app(Config(data_dir=data_dir, ask_rate_per_minute=10**9, ask_burst=10**6), Core.open(data_dir))
    app.router.add_post(TRIVIAL, trivial)
    asyncio.run(run(app, "127.0.0.1", port))


# ---------------------------------------------------------------------------------- client
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def drive(base: str, path: str, bodies: list[bytes], concurrency: int, pid: int) -> dict:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def worker() -> None:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                async with http.post(base + path, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        cpu = process_cpu(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        cpu = process_cpu(pid) - cpu
    ms = [x * 1000 for x in latencies]
    return {"path": path, "n": len(bodies), "wall": wall, "rps": len(bodies) / wall, "p50": percentile(ms, 50),
            "p99": percentile(ms, 99), "max": max(ms), "statuses": statuses, "cpu_ms": cpu * 1000 / len(bodies)}


def questions(kb_file: Path) -> list[str]:
    from answer_speed import questions as answer_speed_questions
    from knowledge.store import load_kb

    return [q for q in answer_speed_questions(load_kb(kb_file)) if q.strip() and len(q) <= 2000]


async def main_async(args) -> None:
    import aiohttp

    from knowledge.build import build_kb

    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        kb_file = build_kb(data_dir).path
        pool = questions(kb_file)
        bodies = [json.dumps({"q": pool[(i * 7) % len(pool)]}, ensure_ascii=False).encode()
                  for i in range(args.requests)]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "serve.log", "wb")
        server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(port),
                                   "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            async with aiohttp.ClientSession() as http:
                while True:
                    try:
                        async with http.get(base + "/healthz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the server did not start:\n" + (Path(tmp) / "serve.log").read_text()[-2000:])
                    await asyncio.sleep(0.1)
            print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(f"{args.requests} POSTs per run, {args.concurrency} concurrent clients, {args.rounds} rounds "
                  f"alternating; server in its own process on 127.0.0.1 (set up as `digibot serve`)")
            for path in (ASK, TRIVIAL):  # warm-up, not measured
                await drive(base, path, bodies[:200], args.concurrency, server.pid)
            results = []
            for round_ in range(args.rounds):
                for path in ((ASK, TRIVIAL) if round_ % 2 == 0 else (TRIVIAL, ASK)):
                    r = await drive(base, path, bodies, args.concurrency, server.pid)
                    results.append(r)
                    bad = {s: n for s, n in r["statuses"].items() if s != 200}
                    print(f"  {path:<15} {r['rps']:8.1f} req/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms   "
                          f"max {r['max']:6.1f} ms   server CPU {r['cpu_ms']:.2f} ms/request"
                          + (f"   NON-200: {bad}" if bad else ""), flush=True)
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    ask = [r for r in results if r["path"] == ASK]
    floor = [r for r in results if r["path"] == TRIVIAL]
    ask_rps, floor_rps = statistics.median(r["rps"] for r in ask), statistics.median(r["rps"] for r in floor)
    print(f"  median: /api/ask {ask_rps:.1f} req/s (p99 {statistics.median(r['p99'] for r in ask):.1f} ms), "
          f"trivial handler {floor_rps:.1f} req/s (p99 {statistics.median(r['p99'] for r in floor):.1f} ms) "
          f"→ ratio {ask_rps / floor_rps:.2f}")
    print(f"  server CPU per request (median): /api/ask {statistics.median(r['cpu_ms'] for r in ask):.2f} ms, "
          f"trivial {statistics.median(r['cpu_ms'] for r in floor):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.data_dir)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
