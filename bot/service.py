"""The knowledge base at run time: built when missing or stale, reloaded without downtime.

`KnowledgeService.current` is the Assistant every request uses. A reload builds a new KB in a
staging folder, checks it answers the project's labelled questions at least as well as the
current one, and only then moves it into place and swaps the Assistant in one assignment.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, BuildError, build_kb, inputs_fingerprint
from knowledge.store import KBError, load_kb

from .assistant import Assistant
from .evaluate import EvalReport, evaluate, load_questions

log = logging.getLogger(__name__)

QUESTIONS_FILE = KNOWLEDGE_DIR / "curated" / "questions.jsonl"


@dataclass
class ReloadResult:
    ok: bool
    message: str
    seconds: float
    counts: dict[str, int] | None = None
    old_score: float | None = None
    new_score: float | None = None


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
    def __init__(self, data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, questions: Path = QUESTIONS_FILE):
        self.data_dir = data_dir
        self.knowledge_dir = knowledge_dir
        self.questions = questions
        self._lock = threading.Lock()  # one reload at a time
        ensure_kb(data_dir, knowledge_dir)
        self.current = Assistant.load(data_dir)
        self.loaded_at = time.time()

    @property
    def kb(self):
        return self.current.kb

    def reload(self) -> ReloadResult:
        """Rebuild from knowledge/ and swap in the new KB if it is at least as good. Thread-safe."""
        started = time.perf_counter()
        if not self._lock.acquire(blocking=False):
            return ReloadResult(False, "a reload is already running", 0.0)
        staging = self.data_dir / f".staging-{os.getpid()}"
        try:
            try:
                built = build_kb(staging, self.knowledge_dir)
                candidate = Assistant.load(staging)
            except (BuildError, KBError) as exc:
                return ReloadResult(False, f"build failed, the current knowledge base keeps serving: {exc}",
                                    time.perf_counter() - started)
            old, new = self._score(self.current), self._score(candidate)
            if old is not None and new is not None and new.score < old.score:
                return ReloadResult(
                    False, f"the new knowledge base answers the labelled questions worse ({new.score:.1%} vs "
                           f"{old.score:.1%}); the current one keeps serving",
                    time.perf_counter() - started, built.counts, old.score, new.score)
            os.replace(staging / KB_FILENAME, self.data_dir / KB_FILENAME)
            candidate.kb.path = self.data_dir / KB_FILENAME
            self.current = candidate  # one assignment: requests see the old or the new, never a mix
            self.loaded_at = time.time()
            return ReloadResult(True, "reloaded", time.perf_counter() - started, built.counts,
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


def open_service(data_dir: Path, command: str, knowledge_dir: Path = KNOWLEDGE_DIR) -> KnowledgeService | None:
    """For the long-running commands: the service, or None after telling stderr why the KB is unusable."""
    try:
        return KnowledgeService(data_dir, knowledge_dir)
    except (BuildError, KBError) as exc:
        print(f"digibot {command}: the knowledge base could not be built or loaded: {exc}", file=sys.stderr)
        return None
