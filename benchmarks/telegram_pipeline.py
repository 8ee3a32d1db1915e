"""Telegram pipeline: replies per second for a burst, digibot against a bare echo bot on the same stand-in.

Each run starts the Bot API stand-in (tests/load_stub.py, loopback only) in this process and the bot
under test in its own process (`--child`, long polling, configured exactly as `digibot run` is), pushes
a burst of messages from many chats at once and measures

    replies per second = replies / (last reply received − first update handed out by getUpdates)

for digibot and for the echo floor (benchmarks/echo_bot.py: same rate limiter, concurrency and
time-outs, answering each text with itself), alternating which goes first. Two modes:

- **flood**: the stand-in enforces Telegram's flood limits (about 30 messages/s overall, about 1/s
  per chat, 429 with retry_after) and the bots run their rate limiter as configured; the time the
  limits force is printed next to each bot's.
- **raw**: no flood limits in the stand-in and the bots' rate limiter does not throttle (it still
  retries): what the pipeline itself costs.

Then the reply latency at light load (one message every 100 ms, flood limits on): from the update
being handed out by getUpdates to its reply arriving at the stand-in. Prints figures; asserts nothing
but that every message got exactly one reply.

    .venv/bin/python benchmarks/telegram_pipeline.py [--messages 1000] [--chats 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from tests.load_stub import LoadStub  # noqa: E402

BOTS = ("digibot", "echo")
# --what-if: digibot without the "typing…" chat action before each answer (handlers.telegram.common.show_action
# replaced by a no-op in the child only), to measure what that one Bot API call per reply costs.
WHAT_IF = "digibot-no-typing"
FIRST_USER = 7_000_001


# ---------------------------------------------------------------------------------- child
def child(bot: str, throttle: bool) -> None:
    """The bot under test, as `digibot run` starts it (logging, Application, long polling). On exit it
    writes its garbage collections (generation, start, end on the shared monotonic clock) to
    $BENCH_GC_FILE, so the parent can tell how much of a run was collector time."""
    import atexit
    import gc
    import json

    collections: list[tuple[int, float, float]] = []
    started: dict[str, float] = {}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started["at"] = time.monotonic()
        else:
            collections.append((info["generation"], started.pop("at", time.monotonic()), time.monotonic()))

    gc.callbacks.append(on_gc)
    if os.environ.get("BENCH_GC_FILE"):
        atexit.register(lambda: Path(os.environ["BENCH_GC_FILE"]).write_text(json.dumps(collections)))
    from bot.config import Config
    from handlers.telegram.app import ALLOWED_UPDATES, build_application
    from tests.load_stub import throttle_off

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = Config.from_env()
    if bot == WHAT_IF:
        import handlers.telegram.common

        async def no_action(*args, **kwargs) -> None:
            return None

        handlers.telegram.common.show_action = no_action
    if bot.startswith("digibot"):
        from bot.core import Core

        application = build_application(config, Core.open(config.data_dir))
    else:
        from echo_bot import build_echo_application, limiter_settings

        like = build_application(config, None)  # only read for its settings
        application = build_echo_application(config.token, config.api_base_url, like=like)
        assert limiter_settings(application) == limiter_settings(like)
    if not throttle:
        throttle_off(application)
    application.run_polling(allowed_updates=ALLOWED_UPDATES, bootstrap_retries=3)


# ---------------------------------------------------------------------------------- runs
@dataclass
class Run:
    bot: str
    mode: str
    messages: int
    chats: int
    replies: int = 0
    seconds: float = 0.0
    forced: float = 0.0
    flood_429: int = 0
    failed_calls: int = 0
    cpu_seconds: float = 0.0  # the bot process's user+system CPU from the first push to the last reply
    calls: dict[str, int] = field(default_factory=dict)  # Bot API calls the bot made during the run, by method
    gc_full: int = 0  # full (generation 2) collections in the bot process during the run
    gc_seconds: float = 0.0  # time spent in garbage collection (all generations) during the run
    latencies_ms: list[float] = field(default_factory=list)
    push_latencies_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.replies / self.seconds if self.seconds else 0.0


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_bot(api: LoadStub, bot: str, throttle: bool, data_dir: Path, log_path: Path):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
           "DIGIBOT_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "BENCH_GC_FILE": str(data_dir / "gc.json")}
    for name in ("DIGIBOT_ADMIN_IDS", "DIGIBOT_OFFICIAL_IDS", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        env.pop(name, None)
    log = open(log_path, "ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), "--child", bot, "--throttle", "on" if throttle else "off",
        env=env, stdout=log, stderr=log, cwd=str(data_dir))
    log.close()
    await api.wait_for("getUpdates", timeout=90, in_flight=True)  # initialised and long polling
    return process


async def stop_bot(process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


def account(run: Run, api: LoadStub, data_dir: Path, start: float, end: float) -> None:
    """Calls by method, and the bot's garbage collections within [start, end] (from its $BENCH_GC_FILE)."""
    import json

    counts: dict[str, int] = defaultdict(int)
    for call in api.calls:
        if start <= call.at <= end:
            counts[call.method] += 1
    run.calls = dict(counts)
    try:
        collections = json.loads((data_dir / "gc.json").read_text())
    except (OSError, ValueError):
        return
    inside = [(gen, a, b) for gen, a, b in collections if a >= start and b <= end]
    run.gc_full = sum(1 for gen, _, _ in inside if gen == 2)
    run.gc_seconds = sum(b - a for _, a, b in inside)


def check_replies(api: LoadStub, pushed: dict[int, list[tuple[int, str]]], bot: str) -> list[str]:
    """Exactly one reply per message in every chat; for the echo bot also the same texts in order."""
    problems = []
    got: dict[int, list[str]] = defaultdict(list)
    for reply in api.replies:
        got[reply.chat_id].append(reply.text)
    for chat, sent in pushed.items():
        if len(got[chat]) != len(sent):
            problems.append(f"chat {chat}: {len(sent)} messages, {len(got[chat])} replies")
        elif bot == "echo" and got[chat] != [text for _, text in sent]:
            problems.append(f"chat {chat}: echo replies out of order")
    return problems


async def burst(bot: str, mode: str, texts: list[str], chats: int, kb_file: Path, work: Path) -> Run:
    run = Run(bot, mode, len(texts), chats)
    data_dir = Path(tempfile.mkdtemp(dir=work))
    shutil.copy(kb_file, data_dir / kb_file.name)
    async with LoadStub(flood_limits=(mode == "flood")) as api:
        process = await start_bot(api, bot, mode == "flood", data_dir, work / f"{bot}-{mode}.log")
        try:
            cpu_before = process_cpu(process.pid)
            pushed: dict[int, list[tuple[int, str]]] = defaultdict(list)
            for i, text in enumerate(texts):
                user = FIRST_USER + i % chats
                update = api.push_text(text, user_id=user)
                pushed[user].append((update["update_id"], text))
            replies = await api.wait_replies(len(texts), timeout=max(180.0, 6 * api.forced_seconds(len(texts), chats)))
            run.cpu_seconds = process_cpu(process.pid) - cpu_before
            await api.quiet(0.5)  # anything extra (a duplicate) would arrive now
            first = last = 0.0
            if replies:
                run.replies = len(api.replies)
                first, last = min(api.handed_out.values()), max(r.at for r in api.replies)
                run.seconds = last - first
            run.forced = api.forced_seconds(len(texts), chats) if mode == "flood" else 0.0
            run.flood_429 = api.flood_rejections
            run.failed_calls = len([c for c in api.failed() if c.method != "getUpdates"])
            run.problems = check_replies(api, pushed, bot)
        finally:
            await stop_bot(process)
        account(run, api, data_dir, first, last)
    shutil.rmtree(data_dir, ignore_errors=True)
    return run


async def light_load(bot: str, texts: list[str], chats: int, interval: float, kb_file: Path, work: Path) -> Run:
    """One message every `interval` seconds, rotating over `chats` chats, flood limits on."""
    run = Run(bot, "light", len(texts), chats)
    data_dir = Path(tempfile.mkdtemp(dir=work))
    shutil.copy(kb_file, data_dir / kb_file.name)
    async with LoadStub(flood_limits=True) as api:
        process = await start_bot(api, bot, True, data_dir, work / f"{bot}-light.log")
        try:
            cpu_before = process_cpu(process.pid)
            pushed: dict[int, list[tuple[int, str]]] = defaultdict(list)
            pushed_at: dict[int, float] = {}
            next_at = time.monotonic()
            for i, text in enumerate(texts):
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
                user = FIRST_USER + i % chats
                update = api.push_text(text, user_id=user)
                pushed[user].append((update["update_id"], text))
                pushed_at[update["update_id"]] = time.monotonic()
            await api.wait_replies(len(texts), timeout=60)
            run.cpu_seconds = process_cpu(process.pid) - cpu_before
            await api.quiet(0.5)
            run.replies = len(api.replies)
            replies: dict[int, list] = defaultdict(list)
            for reply in api.replies:
                replies[reply.chat_id].append(reply)
            for chat, sent in pushed.items():
                for (update_id, _), reply in zip(sent, replies[chat]):
                    run.latencies_ms.append((reply.at - api.handed_out[update_id]) * 1000)
                    run.push_latencies_ms.append((reply.at - pushed_at[update_id]) * 1000)
            run.flood_429 = api.flood_rejections
            run.failed_calls = len([c for c in api.failed() if c.method != "getUpdates"])
            run.problems = check_replies(api, pushed, bot)
        finally:
            await stop_bot(process)
    shutil.rmtree(data_dir, ignore_errors=True)
    return run


# ---------------------------------------------------------------------------------- report
def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def describe(run: Run) -> str:
    extra = f"   429s {run.flood_429}" if run.mode == "flood" else ""
    calls = ", ".join(f"{m} {n}" for m, n in sorted(run.calls.items()) if m != "getUpdates")
    extra += f"   GC {run.gc_seconds:.2f} s ({run.gc_full} full)   calls: {calls}"
    if run.failed_calls and run.failed_calls != run.flood_429:
        extra += f"   failed calls {run.failed_calls}"
    if run.problems:
        extra += f"   PROBLEMS: {'; '.join(run.problems[:3])}"
    return (f"{run.bot:<17} {run.replies:>5}/{run.messages} replies in {run.seconds:6.2f} s = {run.rate:7.1f} replies/s"
            f"   bot CPU {run.cpu_seconds:5.1f} s{extra}")


def questions(kb_file: Path) -> list[str]:
    """Varied questions (the answering benchmark's list), as a user could send them on Telegram."""
    from answer_speed import questions as answer_speed_questions
    from knowledge.store import load_kb

    return [q for q in answer_speed_questions(load_kb(kb_file)) if q.strip() and not q.startswith("/")]


async def main_async(args) -> None:
    from knowledge.build import build_kb

    runs: list[Run] = []
    bots = BOTS + ((WHAT_IF,) if args.what_if else ())
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp:
        work = Path(tmp)
        kb_file = build_kb(work / "kb").path
        pool = questions(kb_file)
        texts = [pool[(i * 7) % len(pool)] for i in range(args.messages)]  # deterministic, varied
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"burst: {args.messages} messages from {args.chats} chats, pushed at once; {args.rounds} rounds, "
              f"order alternated")
        for mode in args.modes:
            print(f"\n[{mode}] " + ("Telegram flood limits in the stand-in (30/s overall, burst 35; 1/s per chat, "
                                    "burst 3); bots' rate limiter on" if mode == "flood" else
                                    "no flood limits; bots' rate limiter not throttling (raw pipeline)"))
            for round_ in range(args.rounds):
                order = bots if round_ % 2 == 0 else bots[::-1]
                for bot in order:
                    run = await burst(bot, mode, texts, args.chats, kb_file, work)
                    runs.append(run)
                    print("  " + describe(run), flush=True)
            summarize(runs, mode, bots)
        if args.latency:
            print(f"\n[light load] one message every {args.interval * 1000:.0f} ms, {args.latency} messages from "
                  f"{args.latency_chats} chats, flood limits on; latency = reply arrived − update handed out")
            light = []
            for round_ in range(args.rounds):
                order = bots if round_ % 2 == 0 else bots[::-1]
                for bot in order:
                    run = await light_load(bot, texts[: args.latency], args.latency_chats, args.interval, kb_file,
                                           work)
                    light.append(run)
                    print(f"  {bot:<17} p50 {percentile(run.latencies_ms, 50):6.1f} ms   p99 "
                          f"{percentile(run.latencies_ms, 99):6.1f} ms   max {max(run.latencies_ms):6.1f} ms   "
                          f"(from push: p50 {percentile(run.push_latencies_ms, 50):.1f} ms)   "
                          f"{run.replies}/{run.messages} replies" + (f"   PROBLEMS {run.problems[:3]}"
                                                                      if run.problems else ""), flush=True)
            for bot in bots:
                lat = [x for r in light if r.bot == bot for x in r.latencies_ms]
                print(f"  all {bot:<17} p50 {percentile(lat, 50):6.1f} ms   p99 {percentile(lat, 99):6.1f} ms   "
                      f"({len(lat)} replies)")
            ours = [x for r in light if r.bot == "digibot" for x in r.latencies_ms]
            echo = [x for r in light if r.bot == "echo" for x in r.latencies_ms]
            print(f"  digibot − echo: p50 +{percentile(ours, 50) - percentile(echo, 50):.1f} ms, "
                  f"p99 +{percentile(ours, 99) - percentile(echo, 99):.1f} ms")


def summarize(runs: list[Run], mode: str, bots: tuple[str, ...]) -> None:
    mine = {bot: [r for r in runs if r.mode == mode and r.bot == bot] for bot in bots}
    rate = {bot: statistics.median(r.rate for r in mine[bot]) for bot in bots}
    echo = rate["echo"]
    for bot in bots:
        if bot != "echo":
            print(f"  median: {bot} {rate[bot]:.1f} replies/s, echo {echo:.1f} replies/s → ratio "
                  f"{rate[bot] / echo:.2f} (target ≥ 0.80)")
    cpu = {bot: statistics.median(r.cpu_seconds / max(1, r.replies) * 1000 for r in mine[bot]) for bot in bots}
    print("  bot CPU per reply (median): " + ", ".join(f"{bot} {cpu[bot]:.2f} ms" for bot in bots))
    forced = [r.forced for r in runs if r.mode == mode and r.forced]
    if forced:
        for bot in bots:
            took = statistics.median(r.seconds for r in mine[bot])
            print(f"  limits force ≥ {forced[0]:.1f} s; {bot} took {took:.1f} s → {forced[0] / took:.0%} of the "
                  f"rate the limits allow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="runs per bot and mode; the order alternates")
    parser.add_argument("--modes", default="flood,raw", help="comma-separated: flood, raw")
    parser.add_argument("--latency", type=int, default=200, help="messages in the light-load run (0: skip)")
    parser.add_argument("--latency-chats", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between light-load messages")
    parser.add_argument("--what-if", action="store_true",
                        help=f"also run {WHAT_IF} (digibot without the typing action before each answer)")
    parser.add_argument("--child", choices=BOTS + (WHAT_IF,), help=argparse.SUPPRESS)
    parser.add_argument("--throttle", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.throttle == "on")
        return
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
