"""Answering speed: per-question time over ≥1,000 varied questions in one process, start-up time to
the first answer with a built KB, peak memory, and the KB build time. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/answer_speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.assistant import Assistant  # noqa: E402
from knowledge.build import KNOWLEDGE_DIR, build_kb  # noqa: E402
from knowledge.store import load_kb  # noqa: E402


def questions(kb) -> list[str]:
    """FAQ phrasings, the labelled set, the shared dev set, and table questions over axes and years."""
    out: list[str] = []
    for entry in kb.faq:
        out += [entry.question, *entry.alternates]
    for path in (KNOWLEDGE_DIR / "curated" / "questions.jsonl", REPO.parent / "shared" / "eval" / "dev.jsonl"):
        if path.exists():
            out += [json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for axis in kb.axes.values():
        for year in kb.years:
            out += [f"{axis.name}{year}年預算多少", f"What was the {year} budget of {axis.name_en}?"]
    for ind in kb.indicators:
        out += [f"{ind.name}{y}年是多少" for y in kb.years]
    out += ["", "嗨", "謝謝", "高雄天氣如何", "<b>熱點</b>", "字" * 2000]
    return out


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def startup_seconds(data_dir: Path, runs: int = 3) -> list[float]:
    """Process start → first JSON answer on stdout (`digibot ask --json`, KB already built)."""
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "ask", "--json"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
        proc.stdin.write("iTaiwan 熱點有幾個?\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        times.append(time.perf_counter() - started)
        assert "9,735" in line, line
        proc.stdin.close()
        proc.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the question list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        builds = []
        for _ in range(3):
            result = build_kb(data_dir)
            builds.append(result.seconds)
        kb = load_kb(result.path)
        started = time.perf_counter()
        assistant = Assistant(kb)
        init_seconds = time.perf_counter() - started
        qs = questions(kb)
        per_question, first_pass = [], []
        for round_ in range(args.rounds):
            for q in qs:
                t = time.perf_counter()
                assistant.ask(q)
                per_question.append(time.perf_counter() - t)
                if round_ == 0:
                    first_pass.append(per_question[-1])
        startup = startup_seconds(data_dir)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ms = [t * 1000 for t in per_question]
    cold = [t * 1000 for t in first_pass]
    print(f"machine               {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"questions             {len(qs)} distinct inputs × {args.rounds} rounds = {len(ms)} answers")
    print(f"per question          median {statistics.median(ms):.3f} ms   p90 {percentile(ms, 90):.3f} ms   "
          f"p99 {percentile(ms, 99):.3f} ms   max {max(ms):.1f} ms   (target: median ≤ 1 ms)")
    print(f"  first pass only     median {statistics.median(cold):.3f} ms   p99 {percentile(cold, 99):.3f} ms   "
          f"(every question new to the process's caches)")
    print(f"first answer after process start  median {statistics.median(startup):.2f} s   "
          f"runs {', '.join(f'{s:.2f}' for s in startup)}   (target ≤ 2 s)")
    print(f"Assistant start-up in process     {init_seconds:.2f} s (jieba, indexes)")
    print(f"KB build              median {statistics.median(builds):.2f} s   runs {', '.join(f'{s:.2f}' for s in builds)}")
    print(f"peak RSS              {peak_mb:.0f} MB (this process: build + answering)")


if __name__ == "__main__":
    main()
