"""Re-runs every finding of the attack-and-fault review of eb3674a (issue #13) and prints what happens now.

Each row is one finding: what the review saw at eb3674a (from the issue) and what this run measures on the
code in this checkout, with the same kind of input. Everything runs on loopback (the Bot API stand-in of
tests/botapi_stub.py, the web app on 127.0.0.1, `digibot` as child processes). Nothing is asserted: the
tests in tests/ do that; this prints the table for the closing note.

    .venv/bin/python benchmarks/attack_rerun.py [--quick]    # --quick skips the fault run and the slow clients

Takes about 3 minutes (40 s with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROWS: list[tuple[str, str, str]] = []


def row(finding: str, before: str, now: str) -> None:
    ROWS.append((finding, before, now))
    print(f"· {finding}: {now}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ 1. secrets in logs
async def secrets_in_logs(data_dir: Path) -> None:
    from bot.config import Config
    from bot.redact import secrets_of
    from handlers.web.webhook import webhook_path
    from tests.botapi_stub import BotAPIStub

    secret = "WebhookSecret_7Qx2Lm9Zr4"
    runs, leaking, lines = 0, 0, 0
    async with BotAPIStub(token="424242:AcceptedTokenPart_x8Hq3Vb6Tn") as api:
        unknown, malformed = "555001:UnknownTokenPart_h3Kd9sLq0Wz", "MalformedTokenValue8Jq2Xv5Np"
        for command, token in (("run", unknown), ("run", malformed), ("serve", unknown), ("serve", malformed),
                               ("serve", api.token)):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DIGIBOT_"))}
            env.update(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_BASE_URL=api.base_url, DIGIBOT_DATA_DIR=str(data_dir),
                       PORT=str(free_port()), WEBHOOK_URL="https://bot.example.org", WEBHOOK_SECRET=secret)
            log_path = data_dir.parent / f"secrets-{runs}.log"
            with open(log_path, "wb") as log:
                proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "-v", command, env=env,
                                                            stdout=log, stderr=asyncio.subprocess.STDOUT)
            if command == "serve":  # until the start-up attempt and one retry have failed, or the webhook is set
                marker = "Telegram webhook registered" if token == api.token else "still not registered"
                while marker not in log_path.read_text() and proc.returncode is None:
                    await asyncio.sleep(0.2)
                proc.send_signal(signal.SIGTERM)
            await proc.wait()
            text = log_path.read_text()
            secrets = secrets_of(Config(token=token, webhook_secret=secret)) + [webhook_path(token)]
            bad = [line for line in text.splitlines() if any(s in line for s in secrets)]
            runs, leaking, lines = runs + 1, leaking + bool(bad), lines + len(bad)
    row("1. Bot token / webhook secret in the logs (`run` and `serve` at -v; 401, 404, webhook set)",
        "token in the log in 5 of 5 runs (InvalidToken text, retries, DEBUG URL, setWebhook secret_token)",
        f"{leaking} of {runs} runs leak ({lines} lines); secrets appear as ***")


# ------------------------------------------------------------------------------ 2. groups
async def group_privacy(service, data_dir: Path) -> None:
    from tests.botapi_stub import BotAPIStub, running_bot

    question = "我是陳美玲，電話0912-345-678，身分證A123456789，請問高雄明天會下雨嗎"
    leaked = []
    async with BotAPIStub() as api:
        async with running_bot(api, service, data_dir, admin_ids={9001}, official_ids={9002}):
            mark = api.mark()
            api.push_text(question, user_id=9003)
            await api.wait_for("sendMessage", since=mark, chat_id=9003)
            for command, user in (("/unanswered", 9001), ("/usage", 9002)):
                mark = api.mark()
                api.push_text(command, user_id=user, chat_id=-1009000, chat_type="group")
                [reply] = await api.wait_for("sendMessage", since=mark, chat_id=-1009000)
                leaked += [part for part in ("陳美玲", "0912-345-678", "A123456789", "下雨") if part in reply.text]
    row("2. /unanswered and /usage in a group chat (question with a name, phone and ID number)",
        "the raw question, name, phone and ID number posted to the group",
        f"group gets a pointer to a private chat; {len(leaked)} of 8 private items reached it")


# ------------------------------------------------------------------------------ 3. event loop
async def event_loop(service, querylog) -> None:
    import aiohttp
    from aiohttp.test_utils import TestServer

    from bot.config import Config
    from bot.core import Core
    from handlers.web.server import create_app
    from tests.fuzz_inputs import worst_case_questions

    config = Config(data_dir=Path(tempfile.mkdtemp()), ask_rate_per_minute=10**9, ask_burst=10**6)
    core = Core(service, querylog)
    server = TestServer(create_app(config, core), host="127.0.0.1", port=0)
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    questions = worst_case_questions(10)

    # One crafted question: CPU the event loop spends on it, against what answering it costs the worker.
    loop_thread = threading.get_ident()
    steps: list[float] = []
    original = asyncio.events.Handle._run

    def timed(handle):
        if threading.get_ident() != loop_thread:
            return original(handle)
        started = time.thread_time()
        try:
            return original(handle)
        finally:
            steps.append(time.thread_time() - started)

    answer_cpu: list[float] = []
    ask = core.answer

    def measured(*args, **kwargs):
        started = time.thread_time()
        try:
            return ask(*args, **kwargs)
        finally:
            answer_cpu.append(time.thread_time() - started)

    core.answer = measured
    async with aiohttp.ClientSession() as session:
        asyncio.events.Handle._run = timed
        try:
            for q in questions:
                async with session.post(base + "/api/ask", json={"q": q}) as response:
                    await response.read()
        finally:
            asyncio.events.Handle._run = original
        row("3a. One crafted 2,000-character question: event-loop time",
            "150–600 ms of event-loop time per question",
            f"largest event-loop step {max(steps) * 1000:.1f} ms CPU; the answer itself "
            f"{min(answer_cpu) * 1000:.0f}–{max(answer_cpu) * 1000:.0f} ms CPU on a worker thread "
            f"(200 characters read)")

        latencies: list[float] = []
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                async with session.get(base + "/healthz") as response:
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.01)

        async def one(q: str) -> None:
            async with session.post(base + "/api/ask", json={"q": q}) as response:
                await response.read()

        for _ in range(10):
            done.clear()
            poller = asyncio.create_task(poll())
            await asyncio.gather(*(one(q) for q in questions))
            done.set()
            await poller
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        row("3b. Ten crafted questions in a burst: /healthz latency (10 bursts, in-process client)",
            "/healthz delayed by 1.9 s",
            f"/healthz p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms "
            f"({len(latencies)} checks; benchmarks/loop_latency.py has the same-run comparison)")

        statuses = []
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            async with session.post(base + "/api/ask", data='{"q": "iTaiwan 熱點有幾個"}'.encode(),
                                    headers={"Content-Type": ctype}) as response:
                statuses.append(f"{ctype} → {response.status}")
        row("3d. /api/ask with a JSON body sent as text/plain (no CORS preflight)", "200: answered",
            "; ".join(statuses))
    await server.close()


async def telegram_rate_limit(service, data_dir: Path) -> None:
    from tests.botapi_stub import BotAPIStub, running_bot

    async with BotAPIStub() as api:
        async with running_bot(api, service, data_dir):
            mark = api.mark()
            for _ in range(30):
                api.push_text("iTaiwan 熱點有幾個?", user_id=9100)
            await api.wait_for("sendMessage", 11, since=mark, chat_id=9100, timeout=60)
            await api.settle(quiet=1.0, timeout=30)
            texts = [c.text for c in api.sent(chat_id=9100)]
    answered = sum("9,735" in t for t in texts)
    row("3c. Telegram: 30 questions at once from one user", "no per-user limit: 30 answered",
        f"{answered} answered, {len(texts) - answered} 'please wait', {30 - len(texts)} unanswered "
        f"(DIGIBOT_ASK_RATE_PER_MINUTE 30, burst 10, as on the web)")


# ------------------------------------------------------------------------------ 4. lost replies
async def lost_replies(service, data_dir: Path) -> None:
    from handlers.telegram.errors import SORRY, UNDELIVERED
    from tests.botapi_stub import running_bot
    from tests.load_stub import LoadStub, StubThread, set_timeouts, throttle_off
    from tests.test_load import push_load

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]  # CPU load
    try:
        async with StubThread(LoadStub(seed=6)) as api:
            async with running_bot(api, service, data_dir) as application:
                throttle_off(application)
                set_timeouts(application, read=2.0)
                api.call(api.inject, method=None, probability=0.1, kinds=("429", "502", "slow"), slow=4.0)
                api.call(api.inject, method="getUpdates", probability=0.1, kinds=("429", "502"))
                expected = api.call(push_load, api.stub, chats=100, per_chat=10)
                await api.run(api.wait_replies_progressing, 1000)
                api.call(api.clear_faults)
                await api.run(api.quiet, 5.0)
                possibly = application.bot.rate_limiter.possibly_delivered
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    got = Counter(r.chat_id for r in api.replies if UNDELIVERED not in r.text and SORRY not in r.text)
    lost = sum(max(0, len(v) - got[c]) for c, v in expected.items())
    dup = sum(max(0, got[c] - len(v)) for c, v in expected.items())
    told = sum(UNDELIVERED in r.text for r in api.replies)
    row("4. 1,000 messages, 10% of Bot API calls faulted (429, 502, slow), two CPU hogs beside it",
        "13–24 of 1,000 replies lost silently in three busy runs",
        f"{lost} lost, {dup} duplicated, {told} users told of a loss; {possibly} replies timed out after they "
        f"were sent (counted, not repeated)")


# ------------------------------------------------------------------------------ 5. lesser
def querylog_findings(tmp: Path) -> None:
    from bot.querylog import LOG_FILENAME, QueryLog, salt_path

    data = tmp / "ql"
    log = QueryLog(data)
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(300_000):
        when = now - timedelta(seconds=(i * 7919) % (200 * 86400))  # spread over 200 days
        rows.append((when.isoformat(timespec="seconds"), when.date().isoformat(), f"u{i % 5000}", "private",
                     f"問題{i % 20000} iTaiwan 熱點有幾個", ("fact", "out_of_scope", "clarify")[i % 3], i % 2, 0.5, 1.0))
    with log._lock:
        log._con.execute("begin")
        log._con.executemany("insert into queries (ts, day, user_hash, chat_type, question, intent, answered, "
                             "confidence, latency_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        log._con.execute("commit")
    waits: list[float] = []
    reader = threading.Thread(target=log.usage, args=(90,))
    started = time.perf_counter()
    reader.start()
    while reader.is_alive():  # answers keep being logged while /usage 90 reads
        t = time.perf_counter()
        log.record(user_id=1, chat_type="private", question="iTaiwan", intent="fact", answered=True,
                   confidence=0.9, latency_ms=1.0)
        waits.append((time.perf_counter() - t) * 1000)
    took = time.perf_counter() - started
    row("5a. /usage 90 on a 300,000-row log", "froze the event loop 3.8 s (the reader held the writer's lock)",
        f"read in {took:.2f} s on its own read-only connection (covering indexes, off the loop); "
        f"{len(waits)} answers logged meanwhile, longest wait {max(waits):.1f} ms")
    deleted = log.prune()
    row("5b. The query log never shrinks", "rows kept forever",
        f"{deleted:,} rows older than 180 days deleted at start-up/daily (DIGIBOT_QUERYLOG_RETENTION_DAYS); "
        f"{log.count():,} kept")
    log.record(user_id=2, chat_type="private", question="我的電話0912-345-678，身分證A123456789", intent="out_of_scope",
               answered=False, confidence=0.1, latency_ms=1.0)
    stored = log._reader.execute("select question from queries order by id desc limit 1").fetchone()[0]
    modes = {name: oct(stat.S_IMODE(os.stat(data / name).st_mode)) for name in (LOG_FILENAME, LOG_FILENAME + "-wal")}
    log.close()
    salt = salt_path(data)
    row("5c. Query log permissions, raw questions, salt beside the log",
        "0644 (world-readable), raw questions forever, salt in the log's folder",
        f"log {modes[LOG_FILENAME]}, WAL {modes[LOG_FILENAME + '-wal']}, folder "
        f"{oct(stat.S_IMODE(os.stat(data).st_mode))}; salt in {salt.parent.name}/ "
        f"({oct(stat.S_IMODE(os.stat(salt.parent).st_mode))}, file {oct(stat.S_IMODE(os.stat(salt).st_mode))}); "
        f"stored as “{stored}”")


async def web_findings(service, querylog, tmp: Path) -> None:
    import aiohttp
    from aiohttp import web

    from bot.config import Config
    from bot.core import Core
    from handlers.web.server import create_app, make_runner
    from handlers.web.webhook import webhook_path
    from tests.botapi_stub import BotAPIStub
    from tests.test_web_telegram import echo_application

    async with BotAPIStub() as api:
        config = Config(data_dir=tmp, trust_proxy=True, ask_rate_per_minute=1, ask_burst=1, token=api.token,
                        api_base_url=api.base_url, webhook_url="https://bot.example.org",
                        webhook_secret="s3cret-Token_0123456789")
        app = create_app(config, Core(service, querylog), telegram_application=echo_application(api))
        runner = make_runner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            statuses = []
            for spoof in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
                async with session.post(base + "/api/ask", data=b'{"q": "hi"}', headers=[
                        ("Content-Type", "application/json"), ("X-Forwarded-For", spoof),
                        ("X-Forwarded-For", "198.51.100.7")]) as response:
                    statuses.append(response.status)
            row("5d. DIGIBOT_TRUST_PROXY=1: a made-up second X-Forwarded-For line per request (limit 1/min)",
                "evades the rate limit (only the first line was read)", f"statuses {statuses}")

            big = b'{"q": "iTaiwan", "n": ' + b"9" * 5000 + b"}"
            async with session.post(base + "/api/ask", data=big, headers={"Content-Type": "application/json",
                                                                          "X-Forwarded-For": "198.51.100.8"}) as r1:
                s1 = r1.status
            async with session.post(base + webhook_path(api.token), data=big,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": config.webhook_secret}) as r2:
                s2 = r2.status
            row("5e. A JSON integer of 5,000 digits", "500 with a traceback", f"/api/ask {s1}, webhook {s2}")

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST " + webhook_path(api.token).encode() + b" HTTP/1.1\r\nHost: x\r\n"
                     b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        row("5f. A secret header that is not UTF-8", "500 with a traceback", answer.split(b"\r\n")[0].decode())

        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/healthz") as response:
                server_header = response.headers.get("Server")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        await writer.drain()
        bad = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        low_level = next((line.decode() for line in bad.split(b"\r\n") if line.startswith(b"Server:")), "none")
        row("5g. The Server header", "names the Python and aiohttp versions",
            f"“{server_header}” (and “{low_level.split(': ', 1)[-1]}” on aiohttp's own 400)")
        await runner.cleanup()


async def slow_clients(service, querylog, tmp: Path) -> None:
    from aiohttp import web

    from bot.config import Config
    from bot.core import Core
    from handlers.web.server import create_app, make_runner

    config = Config(data_dir=tmp)  # the product's time-outs (15 s)
    runner = make_runner(create_app(config, Core(service, querylog)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    conns = []
    for i in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if i % 2 else (
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        writer.write(head)
        conns.append((reader, writer))
    started = time.monotonic()
    while time.monotonic() - started < 30:
        for _, writer in conns:
            if not writer.is_closing():
                try:
                    writer.write(b"a")
                except ConnectionError:
                    pass
        await asyncio.sleep(1.0)
        for reader, writer in conns:
            if reader.at_eof():
                writer.close()
        if all(reader.at_eof() or writer.is_closing() for reader, writer in conns):
            break
    open_after = sum(not (reader.at_eof() or writer.is_closing()) for reader, writer in conns)
    took = time.monotonic() - started
    for _, writer in conns:
        writer.close()
    await runner.cleanup()
    row("5h. 200 connections trickling a byte a second (100 in the headers, 100 in a body)",
        "all 200 held for 60 s", f"all cut off by {took:.0f} s (header/body time-outs 15 s); {open_after} still open")


def reload_findings(tmp: Path) -> None:
    from bot.config import Config
    from bot.core import open_core
    from bot.service import KnowledgeService
    from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, build_kb

    def fresh() -> tuple[Path, Path]:
        base = Path(tempfile.mkdtemp(dir=tmp))
        knowledge = base / "knowledge"
        shutil.copytree(KNOWLEDGE_DIR / "source", knowledge / "source")
        shutil.copytree(KNOWLEDGE_DIR / "curated", knowledge / "curated")
        data = base / "data"
        build_kb(data, knowledge)
        return knowledge, data

    knowledge, data = fresh()
    service = KnowledgeService(data, knowledge)
    faq = knowledge / "curated" / "faq.yaml"
    faq.write_text("\n- id: ".join(faq.read_text(encoding="utf-8").split("\n- id: ")[:3]) + "\n", encoding="utf-8")
    for path in (knowledge / "curated" / "questions").glob("*.jsonl"):
        path.write_text("", encoding="utf-8")
    result = service.reload()
    row("5i. /reload of a gutted FAQ with the labelled questions emptied", "accepted: the gutted KB served",
        f"refused ({result.status.value}): {result.message.replace(str(knowledge), 'knowledge')}")

    knowledge, data = fresh()
    budget = knowledge / "curated" / "budget.yaml"
    budget.write_text(budget.read_text(encoding="utf-8").replace("5.2億元", "5.3億元", 1), encoding="utf-8")
    core = open_core(Config(data_dir=data), "serve", knowledge)
    state = "exits 1" if core is None else (
        f"serves the last good KB, marked stale (/healthz kb.stale true): "
        f"“{core.answer('iTaiwan 熱點有幾個?', channel='cli', user=None).answer[:24]}…”")
    if core is not None:
        core.close()
    row("5j. Restart after a bad edit to knowledge/ with a good KB on disk", "exits 1 (a crash loop on a platform)",
        state)

    knowledge, data = fresh()
    script = ("import sys; from pathlib import Path; from bot.service import KnowledgeService; "
              "KnowledgeService(Path(sys.argv[1]), Path(sys.argv[2])).reload()")
    proc = subprocess.Popen([sys.executable, "-c", script, str(data), str(knowledge)], cwd=REPO)
    staging = data / f".staging-{proc.pid}"
    while not (staging / KB_FILENAME).exists() and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = staging.exists()
    KnowledgeService(data, knowledge)
    row("5k. SIGKILL during /reload", "its staging folder stays forever",
        f"staging folder {'left' if left else 'not left'} by the kill; "
        f"{'removed' if not staging.exists() else 'still there'} at the next start")


# ------------------------------------------------------------------------------ main
async def main(quick: bool) -> None:
    from bot.assistant import Assistant
    from bot.querylog import QueryLog
    from bot.service import KnowledgeService
    from knowledge.build import build_kb

    tmp = Path(tempfile.mkdtemp(prefix="attack-rerun-"))
    try:
        kb_dir = tmp / "kb"
        build_kb(kb_dir)
        service = KnowledgeService(kb_dir, current=Assistant.load(kb_dir))

        def data_dir() -> Path:
            target = Path(tempfile.mkdtemp(dir=tmp)) / "data"
            shutil.copytree(kb_dir, target)
            return target

        await secrets_in_logs(data_dir())
        await group_privacy(service, data_dir())
        querylog = QueryLog(tmp / "web-log")
        await event_loop(service, querylog)
        await telegram_rate_limit(service, data_dir())
        if not quick:
            await lost_replies(service, data_dir())
        querylog_findings(tmp)
        await web_findings(service, querylog, tmp / "web")
        if not quick:
            await slow_clients(service, querylog, tmp / "slow")
        reload_findings(tmp)
        querylog.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    print(f"\nRe-run of the eb3674a review's findings on {commit.stdout.strip()} (load average {load[0]:.1f}):\n")
    print("| finding | at eb3674a (the review) | now (this run) |")
    print("|---|---|---|")
    def order(r):
        number, letter = re.match(r"(\d+)([a-z]?)", r[0]).groups()
        return int(number), letter

    for finding, before, now in sorted(ROWS, key=order):
        print(f"| {finding} | {before} | {now} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the fault run and the slow clients")
    asyncio.run(main(parser.parse_args().quick))
