"""The admin teach loop: what the bot could not answer, grouped; what admins teach about it, stored.

1. `unanswered_groups` reads the week's refusals, did-you-means and 👎 answers from the feedback store
   and groups them by similarity (rapidfuzz over the normalised questions), most asked first.
2. An admin attaches a group to the answer it should have had — an existing FAQ entry
   (`teach_faq`; its questions become the entry's alternates) or a report section (`teach_section`;
   a new FAQ entry answered with the section's best-matching sentence) —, marks it out of scope
   (`mark_out_of_scope`; the bot then refuses exactly those questions) or dismisses it (`dismiss`).
3. A teaching waits ("pending") until the next /reload, which builds the knowledge base with it
   (`write_files` → the data directory's taught.yaml, read by knowledge/build.py) and scores the
   labelled questions, the taught ones included: a teaching that lowers the score is refused with
   the figures; otherwise it becomes "active". `untaught` undoes one the same way (it is removed at
   the next reload), and `export` writes the active teachings as files to commit.

Every teaching records who (the salted hash of the admin's id) and when. `TeachStore` is the whole
storage interface: SQLite in DIGIBOT_DATA_DIR, or with DATABASE_URL the PostgreSQL database every
replica shares (bot/storage.py), so what one replica's admin taught is what every replica builds in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import yaml
from rapidfuzz import fuzz, process

from intents.normalize import match_form
from knowledge.curated import TAUGHT_FILENAME
from knowledge.figures import extract_figures
from knowledge.store import FaqEntry, KnowledgeBase, Sentence

from .answer import Answer
from .querylog import salted_hash
from .storage import Database, SQLiteDatabase

TEACH_FILENAME = "taught.sqlite"
TAUGHT_DIRNAME = "taught"  # in DIGIBOT_DATA_DIR: taught.yaml and questions.jsonl, what the build reads
QUESTIONS_FILENAME = "questions.jsonl"
UNANSWERED_DAYS = 7  # /unanswered looks back this far
GROUP_SIMILARITY = 70  # rapidfuzz ratio (0–100) at which two normalised questions are one group
MAX_GROUP_QUESTIONS = 20  # phrasings kept per teaching
MAX_CANDIDATES = 4  # FAQ entries offered as "the answer it should have had"
MAX_EXPECTED_FIGURES = 3  # figures a taught labelled question expects

# pending: waits for /reload · active: built in · refused: the gate refused it · removing: undone, waits
# for /reload · removed: gone · dismissed: an admin said it needs nothing (hidden from /unanswered).
STATUSES = ("pending", "active", "refused", "removing", "removed", "dismissed")
KINDS = ("alternates", "entry", "out_of_scope", "dismissed")

_SCHEMA = """
create table if not exists teachings (
    id {id},
    file_id text not null,            -- its id in taught.yaml and the labelled questions
    kind text not null,               -- alternates | entry | out_of_scope | dismissed
    questions text not null,          -- JSON list, most asked first
    faq_id text not null default '',  -- alternates: the FAQ entry
    title text not null default '',   -- the FAQ entry's question, or the new entry's section title
    path text not null default '',    -- entry: the report section
    answer text not null default '',  -- the answer the questions should get (FAQ answer or report sentence)
    status text not null,
    created_at text not null,
    created_by text not null,         -- HMAC of the admin's id (bot/querylog.py), never the id itself
    decided_at text not null default '',
    detail text not null default '',  -- the gate's figures when it was refused, or why it was skipped
    removed_at text not null default '',
    removed_by text not null default ''
);
create index if not exists teachings_status on teachings(status);
"""


@dataclass
class Teaching:
    id: int
    file_id: str
    kind: str
    questions: list[str]
    faq_id: str
    title: str
    path: str
    answer: str
    status: str
    created_at: str
    created_by: str
    decided_at: str = ""
    detail: str = ""
    removed_at: str = ""
    removed_by: str = ""

    def taught_entry(self) -> dict:
        """Its entry in taught.yaml (knowledge/curated.py reads it)."""
        base = {"id": self.file_id, "kind": self.kind}
        if self.kind == "alternates":
            base.update(faq=self.faq_id, questions=self.questions)
        elif self.kind == "entry":
            base.update(question=self.questions[0], alternates=self.questions[1:], answer=self.answer, path=self.path)
        else:
            base.update(questions=self.questions)
        base.update(taught_at=self.created_at, taught_by=self.created_by)
        return base

    def labelled(self) -> list[dict]:
        """Its questions as labelled questions (the format of eval/dev.jsonl), for the reload gate."""
        if self.kind == "out_of_scope":
            return [{"id": f"{self.file_id}-{i}", "q": q, "kind": "out_of_scope", "set": "taught"}
                    for i, q in enumerate(self.questions, 1)]
        expect = expected_figures(self.answer)
        return [{"id": f"{self.file_id}-{i}", "q": q, "kind": "fact", "expect": expect, "set": "taught"}
                for i, q in enumerate(self.questions, 1)]


def expected_figures(answer: str) -> list[list[str]]:
    """What a right answer to a taught question must contain: the taught answer's figures (or, with
    none, its opening words)."""
    figures = [f.text for f in extract_figures(answer) if f.kind != "date"] or [f.text for f in extract_figures(answer)]
    unique = list(dict.fromkeys(figures))[:MAX_EXPECTED_FIGURES]
    if unique:
        return [[f] for f in unique]
    opening = re.split(r"[，。；、：,;:]", answer.strip())[0][:12]
    return [[opening]] if opening else []


class TeachStore:
    """Teachings in DIGIBOT_DATA_DIR/taught.sqlite (WAL: a kill loses nothing committed)."""

    def __init__(self, data_dir: Path | None = None, user_hash: Callable[[int | str | None], str] | None = None, *,
                 db: Database | None = None):
        """The store in `data_dir`'s taught.sqlite, or in `db` (PostgreSQL, DATABASE_URL, with its `user_hash`)."""
        if db is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.path = data_dir / TEACH_FILENAME
            db = SQLiteDatabase(self.path)
            user_hash = user_hash or salted_hash(data_dir)
        else:
            self.path = None
        if user_hash is None:
            raise ValueError("TeachStore on a database needs that database's user hash")
        self.user_hash = user_hash
        self._lock = threading.Lock()  # read-then-write steps are one step in this process
        self._db = db
        db.script(db.schema(_SCHEMA))

    # ------------------------------------------------------------------ teaching
    def teach_faq(self, questions: list[str], entry: FaqEntry, *, by: int | str | None) -> Teaching:
        """These questions should get this FAQ entry's answer (they become its alternates)."""
        return self._add("alternates", questions, by, faq_id=entry.id, title=entry.question, answer=entry.answer)

    def teach_section(self, questions: list[str], path: str, title: str, sentence: str, *,
                      by: int | str | None) -> Teaching:
        """These questions should be answered with `sentence` of report section `path` (a new FAQ entry)."""
        return self._add("entry", questions, by, path=path, title=title, answer=sentence)

    def mark_out_of_scope(self, questions: list[str], *, by: int | str | None) -> Teaching:
        """The report does not answer these questions: the bot refuses them (after the next /reload)."""
        return self._add("out_of_scope", questions, by)

    def dismiss(self, questions: list[str], *, by: int | str | None) -> Teaching:
        """Nothing to teach: hide these questions from /unanswered (takes effect at once)."""
        return self._add("dismissed", questions, by, status="dismissed")

    def _add(self, kind: str, questions: list[str], by, *, status: str = "pending", **fields) -> Teaching:
        questions = list(dict.fromkeys(q.strip() for q in questions if q and q.strip()))[:MAX_GROUP_QUESTIONS]
        if not questions:
            raise ValueError("a teaching needs at least one question")
        digest = hashlib.sha256(json.dumps([kind, fields.get("faq_id", ""), fields.get("path", ""),
                                            fields.get("answer", ""), questions], ensure_ascii=False).encode())
        row = {"file_id": f"taught-{digest.hexdigest()[:10]}", "kind": kind,
               "questions": json.dumps(questions, ensure_ascii=False), "faq_id": "", "title": "", "path": "",
               "answer": "", **fields, "status": status, "created_at": _now(), "created_by": self.user_hash(by)}
        names = ", ".join(row)
        with self._lock:
            [(new_id,)] = self._db.execute(f"insert into teachings ({names}) values ({', '.join('?' * len(row))})"
                                           " returning id", list(row.values())).rows
            return self._get(new_id)

    def untaught(self, teaching_id: int, *, by: int | str | None) -> Teaching | None:
        """Undo a teaching: a pending one is dropped now, an active one is removed at the next /reload,
        a dismissal is lifted (its questions may show up in /unanswered again). None when there is no
        such teaching or nothing to undo."""
        with self._lock:
            teaching = self._get(teaching_id)
            if teaching is None:
                return None
            new = {"pending": "removed", "active": "removing", "dismissed": "removed"}.get(teaching.status)
            if new is None:
                return None
            self._db.execute("update teachings set status = ?, removed_at = ?, removed_by = ? where id = ?",
                             (new, _now(), self.user_hash(by), teaching_id))
            return self._get(teaching_id)

    # ------------------------------------------------------------------ the reload
    def changes(self) -> tuple[list[Teaching], list[Teaching]]:
        """What the next reload applies: teachings to add (pending) and to remove (removing)."""
        return self.list(("pending",)), self.list(("removing",))

    def settle(self, added: list[int], removed: list[int], *, ok: bool, detail: str = "",
               skipped: dict[int, str] | None = None) -> None:
        """Record a reload's outcome: applied (pending → active, removing → removed) or refused (pending →
        refused, removing → active), with `detail` (the gate's figures); `skipped` teachings (that no
        longer fit the report or the FAQ) are refused with their reason either way."""
        skipped = skipped or {}
        now = _now()
        with self._lock:
            for tid in added:
                if tid in skipped:
                    self._set(tid, "refused", now, skipped[tid])
                else:
                    self._set(tid, "active" if ok else "refused", now, "" if ok else detail)
            for tid in removed:
                self._set(tid, "removed" if ok else "active", now, "" if ok else "removal refused: " + detail)

    def _set(self, tid: int, status: str, when: str, detail: str) -> None:
        self._db.execute("update teachings set status = ?, decided_at = ?, detail = ? where id = ?",
                         (status, when, detail, tid))

    def in_build(self, *, candidate: bool) -> list[Teaching]:
        """The teachings a build includes: the active ones, and for a reload's candidate also the pending
        ones, less those being removed."""
        statuses = ("active", "pending") if candidate else ("active", "removing")
        return self.list(statuses)

    def write_files(self, folder: Path, *, candidate: bool) -> list[Path]:
        """taught.yaml and questions.jsonl for a build (see `in_build`); both removed when there is
        nothing taught, so an untaught data directory builds exactly like a fresh one."""
        teachings = [t for t in self.in_build(candidate=candidate) if t.kind != "dismissed"]
        return _write_taught(folder, teachings, TAUGHT_FILENAME, QUESTIONS_FILENAME)

    def export(self, folder: Path) -> list[Path]:
        """`digibot export-taught`: the active teachings as files to commit — `folder`/taught.yaml and
        `folder`/questions/taught.jsonl, the layout of knowledge/curated/."""
        teachings = [t for t in self.list(("active",)) if t.kind != "dismissed"]
        return _write_taught(folder, teachings, TAUGHT_FILENAME, f"questions/{TAUGHT_DIRNAME}.jsonl", keep_empty=True)

    def labelled(self, statuses: tuple[str, ...]) -> list[dict]:
        return [row for t in self.list(statuses) if t.kind != "dismissed" for row in t.labelled()]

    # ------------------------------------------------------------------ reading
    def get(self, teaching_id: int) -> Teaching | None:
        with self._lock:
            return self._get(teaching_id)

    def _get(self, teaching_id: int) -> Teaching | None:
        rows = self._db.query_dicts("select * from teachings where id = ?", (teaching_id,))
        return _teaching(rows[0]) if rows else None

    def list(self, statuses: tuple[str, ...] | None = None, limit: int | None = None) -> list[Teaching]:
        """Teachings (newest last), of the given statuses or all."""
        sql = "select * from teachings"
        args: list = []
        if statuses:
            sql += f" where status in ({', '.join('?' * len(statuses))})"
            args += list(statuses)
        sql += " order by id"
        out = [_teaching(r) for r in self._db.query_dicts(sql, args)]
        return out[-limit:] if limit else out

    def handled(self) -> set[str]:
        """Normalised questions an admin has already dealt with (taught, waiting, dismissed)."""
        return {question_key(q) for t in self.list(("pending", "active", "removing", "dismissed")) for q in t.questions}

    def close(self) -> None:
        self._db.close()


def _teaching(row: dict) -> Teaching:
    data = dict(row)
    data["questions"] = json.loads(data["questions"])
    return Teaching(**data)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_taught(folder: Path, teachings: list[Teaching], yaml_name: str, questions_name: str, *,
                  keep_empty: bool = False) -> list[Path]:
    targets = [folder / yaml_name, folder / questions_name]
    if not teachings and not keep_empty:
        for path in targets:
            path.unlink(missing_ok=True)
        return []
    header = ("# What admins taught with /unanswered (bot/teach.py). Read by the build like faq.yaml and checked the\n"
              "# same way: alternates join an FAQ entry, an entry is a new FAQ entry quoting its report section,\n"
              "# out_of_scope questions are refused. taught_by is the salted hash of the admin's id.\n")
    body = yaml.safe_dump([t.taught_entry() for t in teachings], allow_unicode=True, sort_keys=False, width=120)
    rows = [json.dumps(row, ensure_ascii=False) for t in teachings for row in t.labelled()]
    for path, text in zip(targets, (header + body, "\n".join(rows) + ("\n" if rows else ""))):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return targets


# ---------------------------------------------------------------------------- /unanswered
def question_key(text: str) -> str:
    """A question as grouping compares it: normalised, without punctuation or spaces."""
    return re.sub(r"[\s?？!！。,，、:：;；\"'「」()（）~～.…]+", "", match_form(text or ""))


@dataclass
class Group:
    """Similar questions an admin should look at, with why they are here."""
    questions: list[tuple[str, int]]  # (as typed, times), most asked first
    reasons: dict[str, int] = field(default_factory=dict)  # refused / clarify / disliked → times
    suggestions: list[str] = field(default_factory=list)  # the did-you-mean or suggested questions shown
    comments: list[str] = field(default_factory=list)  # corrections typed with a complaint
    answers_given: list[str] = field(default_factory=list)  # the replies that got a 👎
    last_ts: str = ""

    @property
    def question(self) -> str:
        return self.questions[0][0]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.questions)

    @property
    def all_questions(self) -> list[str]:
        return [q for q, _ in self.questions]


def unanswered_groups(rows: list[dict], handled: set[str] = frozenset(), *,
                      similarity: int = GROUP_SIMILARITY) -> list[Group]:
    """Group the answers needing review (FeedbackStore.needing_review) by question similarity; the
    questions in `handled` (question_key form) are left out. Most asked groups first."""
    by_key: dict[str, dict] = {}
    for row in rows:
        key = question_key(row["question"])
        if not key or key in handled:
            continue
        item = by_key.setdefault(key, {"key": key, "typed": {}, "reasons": {}, "suggestions": [], "comments": [],
                                       "given": [], "last": "", "answers": set()})
        if row["reason"] != "disliked" or row["id"] not in item["answers"]:
            item["typed"][row["question"]] = item["typed"].get(row["question"], 0) + 1
        item["answers"].add(row["id"])
        item["reasons"][row["reason"]] = item["reasons"].get(row["reason"], 0) + 1
        item["suggestions"] += [s for s in row["suggestions"] if s not in item["suggestions"]]
        if row.get("comment"):
            item["comments"].append(row["comment"])
        if row["reason"] == "disliked" and row["answer"] not in item["given"]:
            item["given"].append(row["answer"])
        item["last"] = max(item["last"], row["ts"])
    items = sorted(by_key.values(), key=lambda i: (-sum(i["typed"].values()), i["last"]), reverse=False)
    groups: list[tuple[list[str], Group]] = []
    for item in items:
        home = None
        for keys, group in groups:
            if process.extractOne(item["key"], keys, scorer=fuzz.ratio, score_cutoff=similarity):
                home = (keys, group)
                break
        if home is None:
            home = ([], Group(questions=[]))
            groups.append(home)
        keys, group = home
        keys.append(item["key"])
        for typed, n in item["typed"].items():
            group.questions.append((typed, n))
        for reason, n in item["reasons"].items():
            group.reasons[reason] = group.reasons.get(reason, 0) + n
        group.suggestions += [s for s in item["suggestions"] if s not in group.suggestions]
        group.comments += [c for c in item["comments"] if c not in group.comments]
        group.answers_given += [a for a in item["given"] if a not in group.answers_given]
        group.last_ts = max(group.last_ts, item["last"])
    out = [g for _, g in groups]
    for g in out:
        g.questions.sort(key=lambda qn: -qn[1])
    out.sort(key=lambda g: (-g.total, -_ts(g.last_ts)))
    return out


def _ts(value: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


def review_since(days: int = UNANSWERED_DAYS) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


# Question words and particles: what every question has, so not what tells two questions apart.
_ASKING = re.compile(r"請問|到底|總共|一共|目前|現在|已經|有多少|多少|有幾個|幾個|有幾|幾|是什麼|什麼|哪些|哪一|哪個|"
                     r"哪裡|哪|怎麼|如何|嗎|呢|吧|的|了|是|有|\b(?:how|many|much|what|which|when|is|are|the|of|in|there|"
                     r"do|does|did)\b")


def _canonical(kb: KnowledgeBase) -> tuple[re.Pattern | None, dict[str, str]]:
    cached = kb.__dict__.get("_teach_canonical")
    if cached is None:
        table = {match_form(v): match_form(c) for v, c, kind in kb.synonyms if kind != "agency" and len(v) >= 2}
        table = {v: c for v, c in table.items() if v and v != c}
        pattern = re.compile("|".join(re.escape(v) for v in sorted(table, key=len, reverse=True))) if table else None
        cached = kb.__dict__["_teach_canonical"] = (pattern, table)
    return cached


def _content(kb: KnowledgeBase, text: str) -> str:
    """What a question is about: the report's words for it (curated synonyms), without question words."""
    pattern, table = _canonical(kb)
    form = match_form(text or "")
    if pattern is not None:
        form = pattern.sub(lambda m: table[m.group(0)], form)
    return question_key(_ASKING.sub("", form))


def candidates(kb: KnowledgeBase, group: Group, n: int = MAX_CANDIDATES) -> list[FaqEntry]:
    """FAQ entries a group may have meant: the phrasings (question and alternates) closest to its
    questions in content (synonyms applied, question words left out), an entry the bot itself
    suggested to these askers counting extra; never an entry whose answer is the one that got the 👎."""
    phrasings, owners = [], []
    for entry in kb.faq:
        for phrasing in (entry.question, *entry.alternates):
            phrasings.append(_content(kb, phrasing))
            owners.append(entry)
    shown: dict[str, int] = {}
    for s in group.suggestions:
        shown[question_key(s)] = shown.get(question_key(s), 0) + 1
    disliked = {a.strip() for a in group.answers_given}
    scores: dict[str, float] = {}
    for question in group.all_questions[:5]:
        content = _content(kb, question)
        if not content:
            continue
        for scorer, weight in ((fuzz.ratio, 1.0), (fuzz.partial_ratio, 0.85)):
            for _, score, i in process.extract(content, phrasings, scorer=scorer, limit=12):
                entry = owners[i]
                scores[entry.id] = max(scores.get(entry.id, 0.0), score * weight)
    by_id = {e.id: e for e in kb.faq}
    for entry in kb.faq:  # what the bot suggested to these askers was near what they asked
        times = shown.get(question_key(entry.question), 0)
        if times and entry.id in scores:
            scores[entry.id] += min(16, 8 * times)
    ranked = sorted(scores, key=lambda i: -scores[i])
    return [by_id[i] for i in ranked if by_id[i].answer.strip() not in disliked][:n]


def best_sentence(kb: KnowledgeBase, node_id: int, question: str) -> Sentence | None:
    """The sentence of a section (or, for a heading, of the sections under it) that best answers a
    question: the closest wording, sentences stating figures first."""
    pool = kb.node_sentences(node_id)
    if not pool:
        pool = [s for n in kb.nodes.values() if _under(kb, n.id, node_id) for s in kb.node_sentences(n.id)]
    if not pool:
        return None
    key = question_key(question)
    return max(pool, key=lambda s: (fuzz.partial_ratio(key, question_key(s.text)) + (15 if s.figures else 0), -s.id))


def _under(kb: KnowledgeBase, node_id: int, ancestor: int) -> bool:
    parent = kb.nodes[node_id].parent_id
    while parent is not None:
        if parent == ancestor:
            return True
        parent = kb.nodes[parent].parent_id
    return False


# ---------------------------------------------------------------------------- answering
def _refused_keys(kb: KnowledgeBase) -> frozenset[str]:
    cached = kb.__dict__.get("_taught_refused")
    if cached is None:
        cached = frozenset(question_key(q) for q in kb.taught_out_of_scope)
        kb.__dict__["_taught_refused"] = cached
    return cached


def taught_refusal(kb: KnowledgeBase, text: str) -> Answer | None:
    """The refusal for a question an admin marked out of scope (compared normalised, exactly)."""
    if not kb.taught_out_of_scope or question_key(text) not in _refused_keys(kb):
        return None
    english = isinstance(text, str) and text.isascii()
    body = ("That is outside the report: it has no information on it. I answer from the DIGI+ programme's "
            "results report, e.g. iTaiwan hotspots, MyData or the budgets per policy axis.") if english else (
            "抱歉，這個問題不在報告的範圍內，報告沒有相關資料。我只根據 DIGI+ 方案的推動成果報告回答，"
            "例如 iTaiwan 熱點、MyData 服務或各主軸預算。")
    return Answer(query=(text or "")[:200], answered=False, intent="out_of_scope", answer=body, confidence=1.0,
                  lang="en" if english else "zh")


class WithTeachings:
    """An Assistant that also refuses what admins marked out of scope (what Core.answer does), for scoring."""

    def __init__(self, assistant):
        self.assistant = assistant
        self.kb = assistant.kb

    def ask(self, text: str, session=None) -> Answer:
        return taught_refusal(self.kb, text) or self.assistant.ask(text, session)
