"""The `digibot` command (also `python -m bot`): a thin layer over the knowledge base and the core."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from bot import redact
from bot.config import Config, ConfigError

COMMANDS = {
    "build-kb": "build the knowledge base from knowledge/ and print its counts",
    "ask": "answer one question (or, with --json and no question, one per line of standard input)",
    "eval": "score a question set (the format of eval/dev.jsonl); --cv: each labelled set by a ranker trained on the others",
    "train": "train the ranker on the labelled sets and write knowledge/learned/ranker.json",
    "chat": "interactive terminal chat with follow-up context",
    "outline": "print the report's outline: paths, titles and agencies",
    "run": "run the Telegram bot (long polling); needs TELEGRAM_BOT_TOKEN",
    "serve": "run the web server: chat page, JSON API, health and the Telegram webhook",
    "export-taught": "write what admins taught (/unanswered) as files to commit into knowledge/curated/",
}
EXPORT_DIR = Path("taught-export")
BROKEN_PIPE = 128 + 13  # the reader went away (SIGPIPE), as Unix tools exit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digibot", description="DIGI+ 小幫手 — answers from the DIGI+ 2017–2020 report.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("build-kb", help=COMMANDS["build-kb"])
    p.add_argument("--knowledge-dir", type=Path, help="where the report and curated files are (default: the package's)")
    p = sub.add_parser("ask", help=COMMANDS["ask"])
    p.add_argument("question", nargs="*", help="the question; omit with --json to read standard input")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p = sub.add_parser("eval", help=COMMANDS["eval"])
    p.add_argument("file", type=Path, nargs="?", help="a question set, or a folder of them (with --cv: default "
                   "knowledge/curated/questions)")
    p.add_argument("--cv", action="store_true", help="leave one set out: train on all the other sets, score it")
    p.add_argument("--failures", action="store_true", help="list the questions answered wrongly")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    sub.add_parser("train", help=COMMANDS["train"])
    sub.add_parser("chat", help=COMMANDS["chat"])
    p = sub.add_parser("outline", help=COMMANDS["outline"])
    p.add_argument("--text", action="store_true", help="also print each node's sentences")
    sub.add_parser("run", help=COMMANDS["run"])
    sub.add_parser("serve", help=COMMANDS["serve"])
    p = sub.add_parser("export-taught", help=COMMANDS["export-taught"])
    p.add_argument("--out", type=Path, default=EXPORT_DIR,
                   help=f"folder to write taught.yaml and questions/taught.jsonl into (default: {EXPORT_DIR})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"digibot: {exc}", file=sys.stderr)
        return 2
    redact.install(config)  # the token and the webhook secret are masked in every log line, at any verbosity
    handler = {
        "build-kb": cmd_build_kb, "ask": cmd_ask, "eval": cmd_eval, "train": cmd_train, "chat": cmd_chat,
        "outline": cmd_outline, "run": cmd_run, "serve": cmd_serve, "export-taught": cmd_export_taught,
    }[args.command]
    try:
        code = handler(args, config) or 0
        sys.stdout.flush()  # here, where a closed pipe can still be handled
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `digibot ask … | head -2`: the reader has what it wanted. Stop quietly; nothing more goes to the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def _assistant(config: Config):
    """The core on a fresh KB (built first when missing or stale)."""
    from bot.assistant import Assistant
    from bot.service import BuildError, ensure_kb

    try:
        ensure_kb(config.data_dir)
    except BuildError as exc:
        print(f"digibot: knowledge base build failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    return Assistant.load(config.data_dir)


def cmd_build_kb(args, config: Config) -> int:
    from bot.service import KNOWLEDGE_DIR, BuildError, build_kb, prepare_kb, taught_dir

    try:
        result = build_kb(config.data_dir, args.knowledge_dir or KNOWLEDGE_DIR, taught_dir(config.data_dir))
    except BuildError as exc:
        print(f"digibot build-kb: {exc}", file=sys.stderr)
        return 1
    c = result.counts
    print(f"knowledge base written to {result.path} in {result.seconds:.2f}s")
    print(f"  start-up state   worked out and stored in {prepare_kb(config.data_dir):.2f}s (read by every start)")
    print(f"  axes             {c['axes']}")
    print(f"  outline nodes    {c['nodes']}")
    print(f"  sentences        {c['sentences']}")
    print(f"  figures          {c['figures']}")
    print(f"  FAQ entries      {c['faq']}")
    print(f"  table cells      {c['indicator_cells'] + c['budget_cells'] + c['budget_totals']} "
          f"(indicators {c['indicator_cells']}, budget {c['budget_cells']}, stated totals {c['budget_totals']})")
    print(f"  synonyms         {c['synonyms']}")
    print(f"  english terms    {c['english_terms']}")
    print(f"  agencies         {c['agencies']} (official websites from agencies.yaml, not report data)")
    if c["taught"] or result.taught_skipped:
        print(f"  taught           {c['taught']} (what admins taught; {len(result.taught_skipped)} left out)")
        for problem in result.taught_skipped:
            print(f"    left out: {problem}")
    print(f"  source sha256    {result.source_sha256}")
    if result.notes:
        print("inconsistencies in the report itself (answers quote the report and flag these):")
        for note in result.notes:
            print(f"  - {note}")
    return 0


def _core(config: Config):
    """The core on the data directory's KB, for one-off answers that are logged nowhere (`ask`)."""
    from bot.core import Core
    from bot.querylog import QueryLog
    from bot.service import KnowledgeService

    return Core(KnowledgeService(config.data_dir, current=_assistant(config)), QueryLog(config.data_dir))


def cmd_ask(args, config: Config) -> int:
    question = " ".join(args.question)
    if not question and not args.json:
        print("digibot ask: give a question, or use --json to read questions from standard input", file=sys.stderr)
        return 2
    core = _core(config)
    try:
        if question:
            answer, _ = core.reply(question)
            print(json.dumps(answer.to_dict(), ensure_ascii=False) if args.json else _as_text(answer))
            return 0
        for line in sys.stdin:
            answer, _ = core.reply(line.rstrip("\n"))
            sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        return 0
    finally:
        core.close()


def _as_text(answer) -> str:
    lines = [answer.answer]
    if answer.answered or not answer.sources or any(s.quote and s.quote != s.title for s in answer.sources):
        for s in answer.sources:
            if not answer.answered and (not s.quote or s.quote == s.title):
                continue  # a refusal cites no bare heading as its source
            lines.append(f"  來源：{s.section} {s.title}" + (f"（{s.agency}）" if s.agency else ""))
            lines.append(f"  原文：{s.quote}")
    for c in answer.contacts:
        lines.append(f"  機關網站（非報告內容）：{c.name} {c.website}")
    if answer.suggestions:
        label = "選項" if answer.intent == "clarify" else "延伸問題" if answer.answered else "可以試試"
        lines.append(f"  {label}：" + " ｜ ".join(answer.suggestions))
    return "\n".join(lines)


TARGETS = {"accuracy": 0.95, "wrong_rate": 0.01, "refusal_rate": 0.95, "greeting_rate": 1.0, "conversation_rate": 0.90}


def cmd_eval(args, config: Config) -> int:
    from bot.evaluate import evaluate, load_questions
    from bot.service import KNOWLEDGE_DIR

    path = args.file or (KNOWLEDGE_DIR / "curated" / "questions" if args.cv else None)
    if path is None:
        print("digibot eval: give a question set (a .jsonl file or a folder of them), or --cv", file=sys.stderr)
        return 2
    try:
        rows = load_questions(path)
    except (OSError, ValueError) as exc:
        print(f"digibot eval: {exc}", file=sys.stderr)
        return 2
    assistant = _assistant(config)
    if args.cv:
        return _cross_validate(args, assistant, rows)
    started = time.perf_counter()
    report = evaluate(assistant, rows)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({**report.as_dict(), "seconds": round(elapsed, 3)}, ensure_ascii=False))
    else:
        print(f"questions            {report.total}  ({elapsed * 1000 / max(report.total, 1):.2f} ms each)")
        print(_figures(report))
    if args.failures:
        for f in report.failures:
            print(json.dumps(f, ensure_ascii=False))
    return 0


def _figures(report) -> str:
    t = TARGETS
    lines = [
        f"answerable right     {report.answerable_right}/{report.answerable}  = {report.accuracy:.1%}  (target ≥ {t['accuracy']:.0%})",
        f"wrong figure         {report.wrong_figure}/{report.answerable}  = {report.wrong_rate:.1%}  (target ≤ {t['wrong_rate']:.0%})",
        f"out of scope refused {report.refused}/{report.out_of_scope}  = {report.refusal_rate:.1%}  (target ≥ {t['refusal_rate']:.0%})",
        f"greetings recognised {report.greetings_right}/{report.greetings}  = {report.greeting_rate:.1%}  (target 100%)",
    ]
    if report.conversations:
        lines.append(f"conversations        {report.conversations_right}/{report.conversations}  = "
                     f"{report.conversation_rate:.1%}  (last turn, also counted above; target ≥ {t['conversation_rate']:.0%})")
    return "\n".join(lines)


def _cross_validate(args, assistant, rows) -> int:
    from bot.training import cross_validate

    started = time.perf_counter()
    result = cross_validate(assistant, rows)
    if args.json:
        print(json.dumps({"folds": [{"set": f.name, **f.report.as_dict(),
                                     "thresholds": {"answer": f.thresholds.answer, "clarify": f.thresholds.clarify}}
                                    for f in result.folds],
                          "mean": {k: round(result.mean(k), 4) for k in TARGETS},
                          "seconds": round(time.perf_counter() - started, 1)}, ensure_ascii=False))
        return 0
    print(f"leave one set out: {len(result.folds)} sets, each answered by a ranker trained on the others "
          f"({time.perf_counter() - started:.0f} s)")
    print(f"{'set':18} {'questions':>9} {'right':>7} {'wrong':>6} {'refused':>8} {'small talk':>10} {'conversations':>13}")
    for f in result.folds:
        r = f.report
        print(f"{f.name:18} {r.total:>9} {r.accuracy:>7.1%} {r.wrong_rate:>6.1%} {r.refusal_rate:>8.1%} "
              f"{r.greeting_rate:>10.1%} {f'{r.conversation_rate:.1%}' if r.conversations else '—':>13}")
    m = result.mean
    print(f"{'mean':18} {'':>9} {m('accuracy'):>7.1%} {m('wrong_rate'):>6.1%} {m('refusal_rate'):>8.1%} "
          f"{m('greeting_rate'):>10.1%} {_mean_conversations(result):>13.1%}")
    print(f"{'target':18} {'':>9} {'≥95%':>7} {'≤1%':>6} {'≥95%':>8} {'100%':>10} {'≥90%':>13}")
    if args.failures:
        for f in result.folds:
            for failure in f.report.failures:
                print(json.dumps({"set": f.name, **failure}, ensure_ascii=False))
    return 0


def _mean_conversations(result) -> float:
    with_conversations = [f.report for f in result.folds if f.report.conversations]
    return (sum(r.conversation_rate for r in with_conversations) / len(with_conversations)) if with_conversations \
        else float("nan")


def cmd_train(args, config: Config) -> int:
    """Train on the labelled sets; the model goes into the KB and knowledge/learned/ranker.json (commit it)."""
    from bot.ranker import MODEL_FILE
    from bot.service import BuildError, ensure_kb, retrain

    try:
        ensure_kb(config.data_dir)
        model = retrain(config.data_dir)
    except BuildError as exc:
        print(f"digibot train: {exc}", file=sys.stderr)
        return 1
    MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    MODEL_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
    figures = model.trained.get("out_of_fold", {})
    print(f"trained on {model.trained.get('questions')} questions ({model.trained.get('candidates')} candidates) "
          f"in {model.trained.get('seconds')} s; written to {MODEL_FILE}")
    print(f"thresholds: answer ≥ {model.thresholds.answer:.3f}, did-you-mean ≥ {model.thresholds.clarify:.3f}")
    if figures:
        print(f"out of fold: {figures['answerable_right']}/{figures['answerable']} answerable right, "
              f"{figures['wrong']} wrong figures, {figures['out_of_scope_refused']} out-of-scope refused")
    return 0


def cmd_chat(args, config: Config) -> int:
    """A conversation through the same core as Telegram and the web: follow-ups, "答案錯了", "找真人"."""
    from bot.core import open_core
    from bot.session import Session

    core = open_core(config, "chat")
    if core is None:
        return 1
    session = Session()
    user = f"cli-{os.getpid()}"
    print("DIGI+ 小幫手 — 請輸入問題（Ctrl-D 離開）", flush=True)
    try:
        while True:
            try:
                line = input("> ")
            except EOFError:
                print()
                return 0
            if line.strip() in ("/quit", "/exit"):
                return 0
            print(_as_text(core.answer(line, session, channel="cli", user=user)), flush=True)
    finally:
        core.close()


def cmd_export_taught(args, config: Config) -> int:
    """Write the teachings in force as taught.yaml and questions/taught.jsonl, the layout of knowledge/curated/."""
    from bot.teach import TEACH_FILENAME, TeachStore

    if not (config.data_dir / TEACH_FILENAME).exists():
        print(f"digibot export-taught: nothing taught yet in {config.data_dir} (no {TEACH_FILENAME})", file=sys.stderr)
        return 1
    store = TeachStore(config.data_dir)
    try:
        active = [t for t in store.list(("active",)) if t.kind != "dismissed"]
        paths = store.export(args.out)
    finally:
        store.close()
    print(f"{len(active)} teaching(s) in force written to:")
    for path in paths:
        print(f"  {path}")
    print("To keep them in the repository: copy taught.yaml and questions/taught.jsonl into knowledge/curated/ "
          "(the build checks them like faq.yaml) and commit.")
    return 0


def cmd_outline(args, config: Config) -> int:
    from bot.service import report_outline

    for node in report_outline().nodes:
        print(f"{node.path}\t{node.display_title}\t{'、'.join(node.agencies)}")
        if args.text:
            for sentence in node.sentences:
                print(f"    {sentence}")
    return 0


def cmd_run(args, config: Config) -> int:
    if not config.token:
        print("digibot run: set TELEGRAM_BOT_TOKEN to the bot's token (from @BotFather) to run the Telegram bot",
              file=sys.stderr)
        return 2
    from handlers.telegram.app import run_polling

    return run_polling(config)


def cmd_serve(args, config: Config) -> int:
    from handlers.web.server import serve

    return serve(config)
