"""Answering speed: per-question time over ≥1,000 varied questions in one process, start-up time to
the first answer with a built KB, peak memory, and the KB build time. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/answer_speed.py [--rounds 3] [--compare /path/to/other/checkout]

With --compare, the same questions are answered, in the same run, by another checkout of digibot (for
example an older commit: `git worktree add /tmp/old eb3674a`), each in its own process, alternately,
so both see the same machine load; the figures are printed side by side with their ratio.
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
SHARED_DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"


def questions(repo: Path) -> list[str]:
    """FAQ phrasings, every labelled question (a conversation's last turn), the shared dev set, and table
    questions over axes and years."""
    sys.path.insert(0, str(repo))
    from knowledge.build import build_kb
    from knowledge.store import load_kb

    with tempfile.TemporaryDirectory() as tmp:
        kb = load_kb(build_kb(Path(tmp)).path)
    out: list[str] = []
    for entry in kb.faq:
        out += [entry.question, *entry.alternates]
    files = sorted((repo / "knowledge" / "curated" / "questions").glob("*.jsonl")) + [SHARED_DEV]
    for path in files:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    out.append(row["q"] if "q" in row else row["turns"][-1])
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


def measure(repo: Path, question_file: Path, rounds: int) -> dict:
    """In this process (started for `repo`): build, load, answer every question `rounds` times."""
    sys.path.insert(0, str(repo))
    from bot.assistant import Assistant
    from knowledge.build import build_kb
    from knowledge.store import load_kb

    qs = json.loads(question_file.read_text(encoding="utf-8"))
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
        per_question, first_pass = [], []
        for round_ in range(rounds):
            for q in qs:
                t = time.perf_counter()
                assistant.ask(q)
                per_question.append((time.perf_counter() - t) * 1000)
                if round_ == 0:
                    first_pass.append(per_question[-1])
        startup = startup_seconds(repo, data_dir)
    return {"per_question": per_question, "first_pass": first_pass, "init": init_seconds, "builds": builds,
            "startup": startup, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def startup_seconds(repo: Path, data_dir: Path, runs: int = 3) -> list[float]:
    """Process start → first JSON answer on stdout (`python -m bot ask --json`, KB already built)."""
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir), "PYTHONPATH": str(repo)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "ask", "--json"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=repo)
        proc.stdin.write("iTaiwan 熱點有幾個?\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        times.append(time.perf_counter() - started)
        assert "9,735" in line, line
        proc.stdin.close()
        proc.wait()
    return times


def run_child(repo: Path, question_file: Path, rounds: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(repo), "--questions", str(question_file),
                          "--rounds", str(rounds)], capture_output=True, text=True, cwd=repo,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    if out.returncode:
        raise SystemExit(f"measuring {repo} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(m: dict) -> dict:
    ms, cold = m["per_question"], m["first_pass"]
    return {"median": statistics.median(ms), "p90": percentile(ms, 90), "p99": percentile(ms, 99), "max": max(ms),
            "cold_median": statistics.median(cold), "cold_p99": percentile(cold, 99),
            "startup": statistics.median(m["startup"]), "init": m["init"], "build": statistics.median(m["builds"]),
            "peak_mb": m["peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the question list")
    parser.add_argument("--compare", type=Path, help="another checkout to measure on the same questions, same run")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.questions, args.rounds)))
        return
    qs = questions(REPO)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(qs, fh, ensure_ascii=False)
    question_file = Path(fh.name)
    repos = [REPO] + ([args.compare.resolve()] if args.compare else [])
    results = {repo: run_child(repo, question_file, args.rounds) for repo in repos}
    question_file.unlink()
    rows = {repo: summary(m) for repo, m in results.items()}
    print(f"machine               {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"questions             {len(qs)} distinct inputs × {args.rounds} rounds = {len(qs) * args.rounds} answers, "
          "the same for every checkout")
    names = [str(r) for r in repos]
    print(f"{'':36}" + "".join(f"{n[-28:]:>30}" for n in names) + ("   ratio" if len(repos) == 2 else ""))
    labels = [("per question median (ms)", "median", "{:.3f}"), ("per question p90 (ms)", "p90", "{:.3f}"),
              ("per question p99 (ms)", "p99", "{:.3f}"), ("per question max (ms)", "max", "{:.1f}"),
              ("first pass median (ms)", "cold_median", "{:.3f}"), ("first pass p99 (ms)", "cold_p99", "{:.3f}"),
              ("first answer after start (s)", "startup", "{:.2f}"), ("Assistant start-up in process (s)", "init", "{:.2f}"),
              ("KB build (s)", "build", "{:.2f}"), ("peak RSS, build + answering (MB)", "peak_mb", "{:.0f}")]
    for label, key, fmt in labels:
        values = [rows[r][key] for r in repos]
        line = f"{label:36}" + "".join(f"{fmt.format(v):>30}" for v in values)
        if len(values) == 2 and values[1]:
            line += f"   {values[0] / values[1]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
