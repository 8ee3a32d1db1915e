"""The knowledge base at run time: built when missing or stale, reloaded without downtime.

`KnowledgeService.current` is the Assistant every request uses. A reload builds a new KB in a
staging folder, checks it answers the project's labelled questions at least as well as the
current one, and only then moves it into place and swaps the Assistant in one assignment.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, BuildError, build_kb, inputs_fingerprint, read_source, source_path
from knowledge.outline import Outline, parse_outline
from knowledge.store import KBError, load_kb

from .assistant import Assistant
from .evaluate import EvalReport, evaluate, load_questions

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
    """Build the KB when it is missing or older than knowledge/; True when it built."""
    if not kb_is_stale(data_dir, knowledge_dir):
        return False
    result = build_kb(data_dir, knowledge_dir)
    log.info("built knowledge base %s in %.2fs: %s", result.path, result.seconds, result.counts)
    return True


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
