"""The knowledge base at run time: built when missing or stale, reloaded without downtime.

`KnowledgeService.current` is the Assistant every request uses. A reload builds a new KB in a
staging folder, checks it answers the project's labelled questions at least as well as the
current one, and only then moves it into place and swaps the Assistant in one assignment. A reload
is refused when the labelled questions cannot judge it (none, unreadable, or fewer than half of the
set the serving KB was last gated on: a gutted set would let a gutted KB through).

At start-up, when knowledge/ no longer builds but a KB built earlier is on disk, that last good KB
serves, marked stale (`stale_reason`, shown by /healthz), instead of the process exiting into a
restart loop. Staging folders left by a process killed during a reload are removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, BuildError, build_kb, inputs_fingerprint, read_source, source_path
from knowledge.outline import Outline, parse_outline
from knowledge.store import KBError, load_kb

from . import training
from .assistant import Assistant
from .evaluate import EvalReport, evaluate, load_questions
from .ranker import ModelError, Ranker, load_committed

log = logging.getLogger(__name__)



class ReloadStatus(str, Enum):
    RELOADED = "reloaded"
    BUSY = "busy"  # another reload is running
    BUILD_FAILED = "build_failed"  # knowledge/ does not build; the current KB keeps serving
    NO_GATE = "no_gate"  # the labelled questions are missing, unreadable or gutted: nothing to judge the new KB by
    WORSE = "worse"  # the new KB answers the labelled questions worse
    CRASHED = "crashed"  # a bug; the current KB keeps serving


@dataclass
class ReloadResult:
    status: ReloadStatus
    message: str
    seconds: float
    counts: dict[str, int] | None = None
    old_score: float | None = None
    new_score: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is ReloadStatus.RELOADED


def report_outline() -> Outline:
    """The shipped report's outline, parsed afresh (for `digibot outline`)."""
    text, _ = read_source(source_path())
    return parse_outline(text)


def kb_is_stale(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR) -> bool:
    path = data_dir / KB_FILENAME
    if not path.exists():
        return True
    try:
        kb = load_kb(path)
    except KBError:
        return True
    return kb.meta.get("fingerprint") != inputs_fingerprint(knowledge_dir)


STAGING_PREFIX = ".staging-"


def remove_stale_staging(data_dir: Path) -> list[Path]:
    """Remove the staging folders of reloads whose process is gone (killed mid-reload); returns them. A folder
    carrying this process's id is also a leftover: a restarted container often gets the same id."""
    removed = []
    for folder in data_dir.glob(STAGING_PREFIX + "*"):
        pid_text = folder.name[len(STAGING_PREFIX):]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and _alive(int(pid_text)):
            continue  # another process's reload in progress (a web and a worker on one data directory)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info("removed %d staging folder(s) left by an interrupted reload", len(removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    return True


def check_labelled_set(questions: Path, gated_on: int | None) -> tuple[list[dict] | None, str | None]:
    """The labelled questions that gate a reload, or why they cannot: missing, unreadable, empty, or
    fewer than half of the `gated_on` questions the serving KB was last gated on."""
    try:
        rows = load_questions(questions)
    except (OSError, ValueError) as exc:
        return None, f"the labelled questions cannot be read ({exc})"
    if not rows:
        return None, f"the labelled question set {questions} is empty"
    if gated_on and len(rows) * 2 < gated_on:
        return None, (f"the labelled question set has {len(rows):,} questions, fewer than half of the "
                      f"{gated_on:,} the serving knowledge base was checked against")
    return rows, None


def load_serving_kb(data_dir: Path, knowledge_dir: Path) -> tuple[Assistant, str | None]:
    """The Assistant to serve at start-up, built first when missing or stale; and, when knowledge/ does not
    build but an earlier KB is on disk, that last good KB with the reason it is stale. BuildError when there
    is no KB to fall back on."""
    try:
        ensure_kb(data_dir, knowledge_dir)
        return Assistant.load(data_dir), None
    except BuildError as exc:
        if not (data_dir / KB_FILENAME).exists():
            raise
        try:
            assistant = Assistant.load(data_dir)
        except KBError:
            raise exc from None
        log.error("knowledge/ does not build (%s); serving the last good knowledge base, built %s, until it "
                  "is fixed and reloaded", exc, assistant.kb.meta.get("built_at", "earlier"))
        return assistant, f"knowledge/ does not build: {exc}"


def ensure_kb(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR) -> bool:
    """Build the KB when it is missing or older than knowledge/, and give it a ranker trained on the
    current labelled sets; True when it built."""
    built = kb_is_stale(data_dir, knowledge_dir)
    if built:
        log.info("building the knowledge base in %s …", data_dir)
        result = build_kb(data_dir, knowledge_dir)
        log.info("built knowledge base %s in %.2fs: %s", result.path, result.seconds, result.counts)
    ensure_ranker(data_dir, knowledge_dir)
    return built


def labelled_rows(knowledge_dir: Path = KNOWLEDGE_DIR) -> list[dict]:
    """Every labelled question set (one file per author): what the ranker learns from and reload is gated on."""
    folder = knowledge_dir / "curated" / "questions"
    return load_questions(folder) if folder.is_dir() and any(folder.glob("*.jsonl")) else []


def ensure_ranker(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, *, rows: list[dict] | None = None) -> Ranker:
    """The KB's ranker, trained again when the labelled sets, the KB's inputs or the feature code changed
    (the committed knowledge/learned/ranker.json is reused when it was trained on exactly these)."""
    path = data_dir / KB_FILENAME
    kb = load_kb(path)
    rows = labelled_rows(knowledge_dir) if rows is None else rows
    wanted = training.fingerprint(rows, kb.meta.get("fingerprint", ""))
    stored = _ranker_of(kb.meta.get("ranker", ""))
    if stored is not None and stored.fingerprint == wanted:
        return stored
    committed = load_committed()
    if committed is not None and committed.fingerprint == wanted:
        model = committed
    elif not rows:
        if committed is None:
            raise BuildError("no labelled questions to train the ranker on, and no committed ranker")
        model = committed
    else:
        log.info("training the ranker on %d labelled questions …", len(rows))
        model = training.train(Assistant(kb, ranker=committed), rows, wanted, context_ranker=committed)
        log.info("trained the ranker in %.1fs: %s", model.trained.get("seconds", 0), model.thresholds)
    store_ranker(path, model)
    return model


def retrain(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR) -> Ranker:
    """Train the ranker afresh on the labelled sets (even when a stored one fits) and store it in the KB."""
    path = data_dir / KB_FILENAME
    kb = load_kb(path)
    rows = labelled_rows(knowledge_dir)
    if not rows:
        raise BuildError(f"{knowledge_dir / 'curated' / 'questions'}: no labelled questions to train on")
    committed = load_committed()
    model = training.train(Assistant(kb, ranker=committed), rows, training.fingerprint(rows, kb.meta["fingerprint"]),
                           context_ranker=committed)
    store_ranker(path, model)
    return model


def store_ranker(path: Path, model: Ranker) -> None:
    with sqlite3.connect(path) as con:
        con.execute("insert or replace into meta (key, value) values ('ranker', ?)", (model.to_json(),))


def _ranker_of(text: str) -> Ranker | None:
    try:
        return Ranker.from_json(text) if text else None
    except ModelError:
        return None


class KnowledgeService:
    def __init__(self, data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, questions: Path | None = None, *,
                 current: Assistant | None = None):
        """`current`: an Assistant already loaded from `data_dir`'s KB (tests share one)."""
        self.data_dir = data_dir
        self.knowledge_dir = knowledge_dir
        self.questions = questions or knowledge_dir / "curated" / "questions"
        self._lock = threading.Lock()  # one reload at a time
        self.stale_reason: str | None = None  # why the serving KB is older than knowledge/ (None: it is not)
        if current is None:
            remove_stale_staging(data_dir)
            current, self.stale_reason = load_serving_kb(data_dir, knowledge_dir)
        self.current = current
        self.loaded_at = time.time()
        self._current_score: EvalReport | None = None  # the serving KB's gate score, computed once
        self._gated_on = self._labelled_count()  # the labelled set's size the serving KB goes with

    @property
    def kb(self):
        return self.current.kb

    def reload(self) -> ReloadResult:
        """Rebuild from knowledge/ and swap in the new KB if it is at least as good. Thread-safe."""
        started = time.perf_counter()
        if not self._lock.acquire(blocking=False):
            return ReloadResult(ReloadStatus.BUSY, "a reload is already running", 0.0)
        staging = self.data_dir / f"{STAGING_PREFIX}{os.getpid()}"
        try:
            rows, problem = check_labelled_set(self.questions, self._gated_on)
            if problem:
                return ReloadResult(ReloadStatus.NO_GATE, f"{problem}; the current knowledge base keeps serving",
                                    time.perf_counter() - started)
            try:
                built = build_kb(staging, self.knowledge_dir)
                ensure_ranker(staging, self.knowledge_dir)  # retrained when the labelled sets changed
                candidate = Assistant.load(staging)
            except (BuildError, KBError) as exc:
                return ReloadResult(ReloadStatus.BUILD_FAILED, f"build failed, the current knowledge base keeps serving: {exc}",
                                    time.perf_counter() - started)
            if self._current_score is None:
                self._current_score = evaluate(self.current, rows)
            old, new = self._current_score, evaluate(candidate, rows)
            if new.score < old.score:
                return ReloadResult(
                    ReloadStatus.WORSE, f"the new knowledge base answers the labelled questions worse ({new.score:.1%} vs "
                           f"{old.score:.1%}); the current one keeps serving",
                    time.perf_counter() - started, built.counts, old.score, new.score)
            os.replace(staging / KB_FILENAME, self.data_dir / KB_FILENAME)
            candidate.kb.path = self.data_dir / KB_FILENAME
            self.current = candidate  # one assignment: requests see the old or the new, never a mix
            self._current_score = new
            self._gated_on = len(rows)
            self.stale_reason = None
            self.loaded_at = time.time()
            return ReloadResult(ReloadStatus.RELOADED, "reloaded", time.perf_counter() - started, built.counts,
                                old.score, new.score)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._lock.release()

    def _labelled_count(self) -> int | None:
        """How many labelled questions there are now (None when they cannot be read)."""
        try:
            return len(load_questions(self.questions))
        except (OSError, ValueError):
            return None
