"""The knowledge base at run time: built when missing or stale, reloaded without downtime.

`KnowledgeService.current` is the Assistant every request uses. A reload builds a new KB in a
staging folder — from knowledge/ and what admins taught (bot/teach.py) —, checks it answers the
labelled questions (the project's, and those admins taught) at least as well as the current one,
and only then moves it into place and swaps the Assistant in one assignment. Teachings waiting for
the reload are applied with it, or refused with it, the figures saying why.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, BuildError, build_kb, inputs_fingerprint, read_source, source_path
from knowledge.outline import Outline, parse_outline
from knowledge.store import KBError, load_kb

from .assistant import Assistant
from .evaluate import EvalReport, evaluate, load_questions
from .teach import TAUGHT_DIRNAME, TeachStore, WithTeachings

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
    old_right: int | None = None  # labelled questions answered right by the serving KB …
    new_right: int | None = None  # … and by the new one, out of
    total: int | None = None
    newly_wrong: list[str] = field(default_factory=list)  # labelled questions the new KB gets wrong, the old right
    taught: list[int] = field(default_factory=list)  # teachings applied (or, when refused, not applied)
    untaught: list[int] = field(default_factory=list)  # teachings removed (or, when refused, kept)
    skipped: dict[int, str] = field(default_factory=dict)  # teachings that no longer fit, and why
    taught_right: int | None = None  # the new teachings' own questions answered as taught, out of
    taught_total: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is ReloadStatus.RELOADED


def report_outline() -> Outline:
    """The shipped report's outline, parsed afresh (for `digibot outline`)."""
    text, _ = read_source(source_path())
    return parse_outline(text)


def taught_dir(data_dir: Path) -> Path:
    """Where the teachings in force are written for the build (DIGIBOT_DATA_DIR/taught/)."""
    return data_dir / TAUGHT_DIRNAME


def kb_is_stale(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR) -> bool:
    path = data_dir / KB_FILENAME
    if not path.exists():
        return True
    try:
        kb = load_kb(path)
    except KBError:
        return True
    return kb.meta.get("fingerprint") != inputs_fingerprint(knowledge_dir, taught_dir(data_dir))


def ensure_kb(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR) -> bool:
    """Build the KB when it is missing or older than knowledge/ (or what admins taught); True when it built."""
    if not kb_is_stale(data_dir, knowledge_dir):
        return False
    log.info("building the knowledge base in %s from the report and knowledge/curated/ (first start, or they "
             "changed; a few seconds)…", data_dir)
    result = build_kb(data_dir, knowledge_dir, taught_dir(data_dir))
    log.info("built knowledge base %s in %.2fs: %s", result.path, result.seconds, result.counts)
    for problem in result.taught_skipped:
        log.warning("a teaching was left out of the build: %s", problem)
    return True


class KnowledgeService:
    def __init__(self, data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, questions: Path | None = None, *,
                 current: Assistant | None = None, teach: TeachStore | None = None):
        """`current`: an Assistant already loaded from `data_dir`'s KB (tests share one). `teach`: what admins
        taught; its teachings in force are built in, and a reload applies (or refuses) the waiting ones."""
        self.data_dir = data_dir
        self.knowledge_dir = knowledge_dir
        self.questions = questions or knowledge_dir / "curated" / "questions"
        self.teach = teach
        self._lock = threading.Lock()  # one reload at a time
        if current is None:
            if teach is not None:  # the store is the record; the files are what the build reads
                teach.write_files(taught_dir(data_dir), candidate=False)
            ensure_kb(data_dir, knowledge_dir)
        self.current = current or Assistant.load(data_dir)
        self.loaded_at = time.time()
        self._current_score: tuple[str, EvalReport] | None = None  # the serving KB's gate score and its rows

    @property
    def kb(self):
        return self.current.kb

    def reload(self) -> ReloadResult:
        """Rebuild from knowledge/ and the teachings, and swap in the new KB if it answers the labelled
        questions at least as well. Thread-safe."""
        started = time.perf_counter()
        if not self._lock.acquire(blocking=False):
            return ReloadResult(ReloadStatus.BUSY, "a reload is already running", 0.0)
        staging = self.data_dir / f".staging-{os.getpid()}"
        adding, removing = self.teach.changes() if self.teach else ([], [])
        added, removed = [t.id for t in adding], [t.id for t in removing]
        try:
            try:
                if self.teach:
                    self.teach.write_files(taught_dir(staging), candidate=True)
                built = build_kb(staging, self.knowledge_dir, taught_dir(staging))
                candidate = Assistant.load(staging)
            except (BuildError, KBError) as exc:
                return ReloadResult(ReloadStatus.BUILD_FAILED, f"build failed, the current knowledge base keeps serving: {exc}",
                                    time.perf_counter() - started, taught=added, untaught=removed)
            skipped = {t.id: _reason(t.file_id, built.taught_skipped) for t in adding if t.file_id not in built.taught}
            changed = {t.file_id for t in adding + removing}
            rows = self._rows(exclude=changed)
            old = self._score_current(rows)
            new = self._score(candidate, rows)
            new_rows = [r for t in adding if t.id not in skipped for r in t.labelled()]
            taught_report = evaluate(WithTeachings(candidate), new_rows) if new_rows else None
            figures = dict(old_score=old.score if old else None, new_score=new.score if new else None,
                           old_right=_right(old), new_right=_right(new), total=new.total if new else None,
                           newly_wrong=_newly_wrong(old, new), taught=added, untaught=removed, skipped=skipped,
                           taught_right=_right(taught_report), taught_total=taught_report.total if taught_report else None)
            if old is not None and new is not None and new.score < old.score:
                message = (f"the new knowledge base answers the labelled questions worse ({new.score:.1%} vs "
                           f"{old.score:.1%}, {_right(new)} vs {_right(old)} of {new.total} right); the current one "
                           "keeps serving")
                if self.teach and (added or removed):
                    self.teach.settle(added, removed, ok=False, skipped=skipped,
                                      detail=f"labelled questions right: {_right(old)}/{old.total} → {_right(new)}/{new.total}")
                return ReloadResult(ReloadStatus.WORSE, message, time.perf_counter() - started, built.counts, **figures)
            os.replace(staging / KB_FILENAME, self.data_dir / KB_FILENAME)
            candidate.kb.path = self.data_dir / KB_FILENAME
            self.current = candidate  # one assignment: requests see the old or the new, never a mix
            if self.teach:
                self.teach.settle(added, removed, ok=True, skipped=skipped)
                self.teach.write_files(taught_dir(self.data_dir), candidate=False)
            # The new KB's score is the serving one's now, unless teachings changed the labelled set.
            now_judged_on = self._rows_key(self._rows())
            self._current_score = (now_judged_on, new) if new is not None and now_judged_on == self._rows_key(rows) \
                else None
            self.loaded_at = time.time()
            return ReloadResult(ReloadStatus.RELOADED, "reloaded", time.perf_counter() - started, built.counts,
                                **figures)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._lock.release()

    def _rows(self, exclude: set[str] = frozenset()) -> list[dict] | None:
        """The labelled questions a reload is judged on: the project's, and those of the teachings in
        force (less the ones this reload changes). None when there are none to use."""
        rows: list[dict] = []
        if self.questions.exists():
            try:
                rows = load_questions(self.questions)
            except ValueError as exc:
                log.warning("labelled questions unusable, reload not gated: %s", exc)
                return None
        if self.teach:
            rows += [r for r in self.teach.labelled(("active", "removing")) if r["id"].rsplit("-", 1)[0] not in exclude]
        return rows or None

    @staticmethod
    def _rows_key(rows: list[dict] | None) -> str:
        return "" if rows is None else str(hash(json.dumps(rows, ensure_ascii=False, sort_keys=True)))

    def _score_current(self, rows: list[dict] | None) -> EvalReport | None:
        """The serving KB's score on `rows`, computed once per set of rows."""
        if rows is None:
            return None
        key = self._rows_key(rows)
        if self._current_score is None or self._current_score[0] != key:
            self._current_score = (key, evaluate(WithTeachings(self.current), rows))
        return self._current_score[1]

    def _score(self, assistant: Assistant, rows: list[dict] | None) -> EvalReport | None:
        return None if rows is None else evaluate(WithTeachings(assistant), rows)


def _right(report: EvalReport | None) -> int | None:
    return None if report is None else report.answerable_right + report.refused + report.greetings_right


def _newly_wrong(old: EvalReport | None, new: EvalReport | None) -> list[str]:
    if old is None or new is None:
        return []
    before = {(f.get("id"), f["q"]) for f in old.failures}
    return [f["q"] for f in new.failures if (f.get("id"), f["q"]) not in before]


def _reason(file_id: str, skipped: list[str]) -> str:
    return next((s for s in skipped if repr(file_id) in s), "it no longer fits the report or the FAQ")
