"""The knowledge base at run time: built when missing or stale, reloaded without downtime.

`KnowledgeService.current` is the Assistant every request uses. A reload builds a new KB in a
staging folder, checks it answers the project's labelled questions at least as well as the
current one, and only then moves it into place and swaps the Assistant in one assignment.
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
        if current is None:
            ensure_kb(data_dir, knowledge_dir)
        self.current = current or Assistant.load(data_dir)
        self.loaded_at = time.time()
        self._current_score: EvalReport | None = None  # the serving KB's gate score, computed once

    @property
    def kb(self):
        return self.current.kb

    def reload(self) -> ReloadResult:
        """Rebuild from knowledge/ and swap in the new KB if it is at least as good. Thread-safe."""
        started = time.perf_counter()
        if not self._lock.acquire(blocking=False):
            return ReloadResult(ReloadStatus.BUSY, "a reload is already running", 0.0)
        staging = self.data_dir / f".staging-{os.getpid()}"
        try:
            try:
                built = build_kb(staging, self.knowledge_dir)
                ensure_ranker(staging, self.knowledge_dir)  # retrained when the labelled sets changed
                candidate = Assistant.load(staging)
            except (BuildError, KBError) as exc:
                return ReloadResult(ReloadStatus.BUILD_FAILED, f"build failed, the current knowledge base keeps serving: {exc}",
                                    time.perf_counter() - started)
            if self._current_score is None:
                self._current_score = self._score(self.current)
            old, new = self._current_score, self._score(candidate)
            if old is not None and new is not None and new.score < old.score:
                return ReloadResult(
                    ReloadStatus.WORSE, f"the new knowledge base answers the labelled questions worse ({new.score:.1%} vs "
                           f"{old.score:.1%}); the current one keeps serving",
                    time.perf_counter() - started, built.counts, old.score, new.score)
            os.replace(staging / KB_FILENAME, self.data_dir / KB_FILENAME)
            candidate.kb.path = self.data_dir / KB_FILENAME
            self.current = candidate  # one assignment: requests see the old or the new, never a mix
            self._current_score = new
            self.loaded_at = time.time()
            return ReloadResult(ReloadStatus.RELOADED, "reloaded", time.perf_counter() - started, built.counts,
                                old.score if old else None, new.score if new else None)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._lock.release()

    def _score(self, assistant: Assistant) -> EvalReport | None:
        if not self.questions.exists():
            return None
        try:
            rows = load_questions(self.questions)
        except ValueError as exc:
            log.warning("labelled questions unusable, reload not gated: %s", exc)
            return None
        return evaluate(assistant, rows)
