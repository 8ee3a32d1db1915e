"""The knowledge base at run time: built when missing or stale, reloaded without downtime.

`KnowledgeService.current` is the Assistant every request uses. A reload builds a new KB in a
staging folder — from knowledge/ and what admins taught (bot/teach.py) —, trains the ranker again
when the labelled questions changed, checks the new KB answers the labelled questions (the
project's, and those admins taught) at least as well as the current one, and only then moves it
into place and swaps the Assistant in one assignment. Teachings waiting for the reload are applied
with it, or refused with it, the figures saying why. A reload is refused when the labelled
questions cannot judge it (none, unreadable, or fewer than half of the set the serving KB was last
gated on: a gutted set would let a gutted KB through).

At start-up, when knowledge/ no longer builds but a KB built earlier is on disk, that last good KB
serves, marked stale (`stale_reason`, shown by /healthz), instead of the process exiting into a
restart loop. Staging folders left by a process killed during a reload are removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, BuildError, build_kb, inputs_fingerprint, read_source, source_path
from knowledge.outline import Outline, parse_outline
from knowledge.store import KBError, KnowledgeBase, load_kb

from . import training
from .assistant import Assistant
from .evaluate import EvalReport, evaluate, load_questions
from .ranker import ModelError, Ranker, load_committed
from .teach import QUESTIONS_FILENAME, TAUGHT_DIRNAME, TeachStore, WithTeachings

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


def _current_kb(data_dir: Path, knowledge_dir: Path) -> KnowledgeBase | None:
    """The data directory's KB when it is built from the current knowledge/ (and teachings); None when it is
    missing, unreadable or stale."""
    path = data_dir / KB_FILENAME
    if not path.exists():
        return None
    try:
        kb = load_kb(path)
    except KBError:
        return None
    return kb if kb.meta.get("fingerprint") == inputs_fingerprint(knowledge_dir, taught_dir(data_dir)) else None


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
        _, kb, model = _ensure(data_dir, knowledge_dir)
        return Assistant(kb, ranker=model), None
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
    """Build the KB when it is missing or older than knowledge/ (or what admins taught), and give it a
    ranker trained on the current labelled questions; True when it built."""
    return _ensure(data_dir, knowledge_dir)[0]


def _ensure(data_dir: Path, knowledge_dir: Path) -> tuple[bool, KnowledgeBase, Ranker]:
    """`ensure_kb`, and the KB it ensured with its ranker (the file is read once)."""
    kb = _current_kb(data_dir, knowledge_dir)
    built = kb is None
    if built:
        log.info("building the knowledge base in %s from the report and knowledge/curated/ (first start, or they "
                 "changed; a few seconds)…", data_dir)
        result = build_kb(data_dir, knowledge_dir, taught_dir(data_dir))
        log.info("built knowledge base %s in %.2fs: %s", result.path, result.seconds, result.counts)
        for problem in result.taught_skipped:
            log.warning("a teaching was left out of the build: %s", problem)
        kb = load_kb(result.path)
    return built, kb, ensure_ranker(data_dir, knowledge_dir, fresh=False, kb=kb)


def prepare_kb(data_dir: Path) -> float:
    """Store the answering core's start-up state in the data directory's KB file (bot/prepared.py), so every
    process starting on it reads that instead of working it out; the seconds it took."""
    return Assistant.load(data_dir).startup_seconds


def labelled_rows(knowledge_dir: Path = KNOWLEDGE_DIR, taught: Path | None = None) -> list[dict]:
    """Every labelled question set (one file per author), and the questions admins taught (in `taught`,
    a data directory's taught/): what the ranker learns from."""
    folder = knowledge_dir / "curated" / "questions"
    rows = load_questions(folder) if folder.is_dir() and any(folder.glob("*.jsonl")) else []
    if taught is not None and (taught / QUESTIONS_FILENAME).exists():
        rows += load_questions(taught / QUESTIONS_FILENAME)
    return rows


def ensure_ranker(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, *, rows: list[dict] | None = None,
                  fresh: bool = True, kb: KnowledgeBase | None = None) -> Ranker:
    """The KB's ranker, trained again when the labelled sets, the KB's inputs or the feature code changed
    (the committed knowledge/learned/ranker.json is reused when it was trained on exactly these).
    `fresh=False` (a process starting): a ranker that fits the code's features is used even when it was
    trained on other labelled questions — starting takes seconds, not a training; `digibot train` and a
    `/reload` bring it up to date. `kb`: the data directory's KB, read already."""
    path = data_dir / KB_FILENAME
    kb = kb if kb is not None else load_kb(path)
    rows = labelled_rows(knowledge_dir, taught_dir(data_dir)) if rows is None else rows
    wanted = training.fingerprint(rows, kb.meta.get("fingerprint", ""))
    stored = _ranker_of(kb.meta.get("ranker", ""))
    if stored is not None and stored.fingerprint == wanted:
        return stored
    committed = load_committed()
    usable = stored or committed
    if committed is not None and committed.fingerprint == wanted:
        model = committed
    elif not fresh and usable is not None:
        log.warning("the ranker was trained on other labelled questions or code than these; answering with it "
                    "until `digibot train` (or a /reload) trains it again")
        if stored is not None:
            return stored
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
    rows = labelled_rows(knowledge_dir, taught_dir(data_dir))
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
                 current: Assistant | None = None, teach: TeachStore | None = None):
        """`current`: an Assistant already loaded from `data_dir`'s KB (tests share one). `teach`: what admins
        taught; its teachings in force are built in, and a reload applies (or refuses) the waiting ones."""
        self.data_dir = data_dir
        self.knowledge_dir = knowledge_dir
        self.questions = questions or knowledge_dir / "curated" / "questions"
        self.teach = teach
        self._lock = threading.Lock()  # one reload at a time
        self.stale_reason: str | None = None  # why the serving KB is older than knowledge/ (None: it is not)
        if current is None:
            remove_stale_staging(data_dir)
            if teach is not None:  # the store is the record; the files are what the build reads
                teach.write_files(taught_dir(data_dir), candidate=False)
            current, self.stale_reason = load_serving_kb(data_dir, knowledge_dir)
        self.current = current
        self.loaded_at = time.time()
        self._current_score: tuple[str, EvalReport] | None = None  # the serving KB's gate score and its rows
        self._gated_on = self._labelled_count()  # the labelled set's size the serving KB goes with

    @property
    def kb(self):
        return self.current.kb

    @property
    def fingerprint(self) -> str:
        """What the serving KB was built from (knowledge/, what admins taught, the builder's code)."""
        return self.current.kb.meta.get("fingerprint", "")

    def kb_file(self) -> tuple[str, bytes]:
        """The serving KB's fingerprint and file, as a reload publishes it to the other replicas."""
        with self._lock:
            return self.fingerprint, (self.data_dir / KB_FILENAME).read_bytes()

    def adopt(self, fingerprint: str, data: bytes) -> bool:
        """Swap in a knowledge base another replica's /reload built and gated (its file, `data`): checked to
        load and to carry `fingerprint`, then moved into place like a reload's. False when it already serves."""
        with self._lock:  # not in the middle of a reload of this replica's own
            if self.fingerprint == fingerprint:
                return False
            staging = self.data_dir / f"{STAGING_PREFIX}{os.getpid()}"
            try:
                staging.mkdir(parents=True, exist_ok=True)
                (staging / KB_FILENAME).write_bytes(data)
                candidate = Assistant.load(staging)
                if candidate.kb.meta.get("fingerprint") != fingerprint:
                    raise KBError(f"the published knowledge base is {candidate.kb.meta.get('fingerprint', '')[:12]}, "
                                  f"not {fingerprint[:12]}")
                os.replace(staging / KB_FILENAME, self.data_dir / KB_FILENAME)
                candidate.kb.path = self.data_dir / KB_FILENAME
                self.current = candidate
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if self.teach:  # the teachings it applied are settled in the shared store: their files follow
                self.teach.write_files(taught_dir(self.data_dir), candidate=False)
            self._current_score = None
            self._gated_on = self._labelled_count()
            self.stale_reason = None
            self.loaded_at = time.time()
            return True

    def reload(self) -> ReloadResult:
        """Rebuild from knowledge/ and the teachings, retrain the ranker if the labelled questions changed,
        and swap in the new KB if it answers the labelled questions at least as well. Thread-safe."""
        started = time.perf_counter()
        if not self._lock.acquire(blocking=False):
            return ReloadResult(ReloadStatus.BUSY, "a reload is already running", 0.0)
        staging = self.data_dir / f"{STAGING_PREFIX}{os.getpid()}"
        adding, removing = self.teach.changes() if self.teach else ([], [])
        added, removed = [t.id for t in adding], [t.id for t in removing]
        try:
            project, problem = check_labelled_set(self.questions, self._gated_on)
            if problem:
                return ReloadResult(ReloadStatus.NO_GATE, f"{problem}; the current knowledge base keeps serving",
                                    time.perf_counter() - started, taught=added, untaught=removed)
            try:
                if self.teach:
                    self.teach.write_files(taught_dir(staging), candidate=True)
                built = build_kb(staging, self.knowledge_dir, taught_dir(staging))
                ensure_ranker(staging, self.knowledge_dir)  # retrained when the labelled questions changed
                candidate = Assistant.load(staging)
            except (BuildError, KBError) as exc:
                return ReloadResult(ReloadStatus.BUILD_FAILED, f"build failed, the current knowledge base keeps serving: {exc}",
                                    time.perf_counter() - started, taught=added, untaught=removed)
            skipped = {t.id: _reason(t.file_id, built.taught_skipped) for t in adding if t.file_id not in built.taught}
            changed = {t.file_id for t in adding + removing}
            rows = self._rows(project, exclude=changed)
            old = self._score_current(rows)
            # The knowledge (and teachings) judged apart from the retraining: the new KB answered by the serving
            # ranker. A retraining moves a few borderline answers either way; it must neither hide a teaching
            # that makes a labelled question wrong nor refuse one that does not.
            serving = self.current.ranker
            new = self._score(candidate, rows)
            if serving is not None and candidate.ranker is not serving:
                steady = Assistant(candidate.kb, ranker=serving)
                steady_report = self._score(steady, rows)
                if steady_report.score < old.score or steady_report.score > new.score:
                    log.info("reload: with the serving ranker %.1f%%, retrained %.1f%% (now %.1f%%); judging the "
                             "serving one", steady_report.score * 100, new.score * 100, old.score * 100)
                    candidate, new = steady, steady_report
                    store_ranker(staging / KB_FILENAME, serving)
            new_rows = [r for t in adding if t.id not in skipped for r in t.labelled()]
            taught_report = evaluate(WithTeachings(candidate), new_rows) if new_rows else None
            figures = dict(old_score=old.score, new_score=new.score, old_right=_right(old), new_right=_right(new),
                           total=new.total, newly_wrong=_newly_wrong(old, new), taught=added, untaught=removed,
                           skipped=skipped, taught_right=_right(taught_report),
                           taught_total=taught_report.total if taught_report else None)
            if new.score < old.score:
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
            now_judged_on = self._rows_key(self._rows(project))
            self._current_score = (now_judged_on, new) if now_judged_on == self._rows_key(rows) else None
            self._gated_on = len(project)
            self.stale_reason = None
            self.loaded_at = time.time()
            return ReloadResult(ReloadStatus.RELOADED, "reloaded", time.perf_counter() - started, built.counts,
                                **figures)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._lock.release()

    def _rows(self, project: list[dict], exclude: set[str] = frozenset()) -> list[dict]:
        """The labelled questions a reload is judged on: the project's, and those of the teachings in
        force (less the ones this reload changes)."""
        rows = list(project)
        if self.teach:
            rows += [r for r in self.teach.labelled(("active", "removing")) if r["id"].rsplit("-", 1)[0] not in exclude]
        return rows

    @staticmethod
    def _rows_key(rows: list[dict]) -> str:
        return str(hash(json.dumps(rows, ensure_ascii=False, sort_keys=True)))

    def _score_current(self, rows: list[dict]) -> EvalReport:
        """The serving KB's score on `rows`, computed once per set of rows."""
        key = self._rows_key(rows)
        if self._current_score is None or self._current_score[0] != key:
            self._current_score = (key, evaluate(WithTeachings(self.current), rows))
        return self._current_score[1]

    def _score(self, assistant: Assistant, rows: list[dict]) -> EvalReport:
        return evaluate(WithTeachings(assistant), rows)

    def _labelled_count(self) -> int | None:
        """How many labelled questions there are now (None when they cannot be read)."""
        try:
            return len(load_questions(self.questions))
        except (OSError, ValueError):
            return None


def _right(report: EvalReport | None) -> int | None:
    return None if report is None else report.answerable_right + report.refused + report.greetings_right


def _newly_wrong(old: EvalReport | None, new: EvalReport | None) -> list[str]:
    if old is None or new is None:
        return []
    before = {(f.get("id"), f["q"]) for f in old.failures}
    return [f["q"] for f in new.failures if (f.get("id"), f["q"]) not in before]


def _reason(file_id: str, skipped: list[str]) -> str:
    return next((s for s in skipped if repr(file_id) in s), "it no longer fits the report or the FAQ")
