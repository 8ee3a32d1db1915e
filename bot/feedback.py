"""Feedback on answers, and the replies to complaints and contact requests.

Every answer that goes through `Core.answer` is recorded with a random, unguessable id (what a
channel sends back with 👍/👎) beside the question, the reply given and its sources, against the
user's salted hash. One vote per user and answer, changeable and clearable. A typed complaint
("答案錯了") is a 👎 on the conversation's last answer; "none of these" under a did-you-mean is a 👎
on that clarification. Nothing raw about a user is stored (see bot/querylog.py).

The tables live in the query log's SQLite file (WAL), so a vote is never lost to a restart and the
unanswered questions, the votes and the answers given can be read together; with DATABASE_URL in the
same PostgreSQL database as the query log (bot/storage.py: the same SQL on both back-ends).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from intents.feedback import feedback_intent
from intents.normalize import match_form
from knowledge.curated import agency_names
from knowledge.store import KnowledgeBase

from .answer import Answer, Contact
from .querylog import LOG_FILENAME, MAX_QUESTION_CHARS, mask_personal
from .session import SESSION_TTL_SECONDS, Session
from .storage import Database, SQLiteDatabase

VOTES = {"up": 1, "down": -1}
MAX_CONTACTS = 3  # agencies named in one contact reply
MAX_COMMENT_CHARS = 500

_SCHEMA = """
create table if not exists answers (
    id text primary key,          -- random; what a channel sends back with a vote
    query_id bigint,              -- queries.id of the same question in this database, when logged
    ts text not null,             -- UTC, ISO 8601
    user_hash text not null,      -- HMAC of the user id (bot/querylog.py), never the id itself
    channel text not null,
    question text not null,
    intent text not null,
    answered integer not null,
    kind text not null default '',  -- 'contact' for replies to contact requests, 'complaint' for complaints
    answer text not null,
    sources text not null,        -- JSON: [{section, title, agency}]
    suggestions text not null     -- JSON: the suggested or did-you-mean questions shown
);
create index if not exists answers_ts on answers(ts);
create table if not exists votes (
    answer_id text not null references answers(id),
    user_hash text not null,
    vote integer not null,        -- 1 👍, -1 👎
    source text not null,         -- button, typed (a complaint), none_of_these (under a did-you-mean)
    comment text not null default '',
    ts text not null,
    primary key (answer_id, user_hash)
);
create index if not exists votes_ts on votes(ts);
"""


@dataclass
class Vote:
    answer_id: str
    previous: str | None  # "up", "down" or None
    current: str | None


class FeedbackStore:
    """Answers given and the votes on them, in DIGIBOT_DATA_DIR's query log file."""

    def __init__(self, data_dir: Path | None = None, user_hash: Callable[[int | str | None], str] | None = None, *,
                 db: Database | None = None, mask: bool = True):
        """The store in `data_dir`'s query log file, or in `db` (PostgreSQL, DATABASE_URL)."""
        if user_hash is None:
            raise ValueError("FeedbackStore needs the user hash of its query log")
        if db is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.path = data_dir / LOG_FILENAME
            db = SQLiteDatabase(self.path)
        else:
            self.path = None
        self.user_hash = user_hash
        self._mask = mask_personal if mask else (lambda text: text)  # as the query log does
        self._lock = threading.Lock()  # a vote's read-then-write is one step in this process
        self._db = db
        db.script(db.schema(_SCHEMA))

    # ------------------------------------------------------------------ writing
    def record_answer(self, answer: Answer, *, user: int | str | None, channel: str, question: str,
                      query_id: int | None = None, kind: str = "", when: datetime | None = None) -> str:
        """Keep the answer a user was given; returns its id (22 URL-safe characters)."""
        answer_id = secrets.token_urlsafe(16)
        when = when or datetime.now(timezone.utc)
        sources = [{"section": s.section, "title": s.title, "agency": s.agency} for s in answer.sources]
        row = (answer_id, query_id, when.isoformat(timespec="seconds"), self.user_hash(user), channel,
               self._mask((question or "")[:MAX_QUESTION_CHARS]), answer.intent, int(bool(answer.answered)), kind,
               answer.answer, json.dumps(sources, ensure_ascii=False),
               json.dumps(list(answer.suggestions), ensure_ascii=False))
        self._db.execute("insert into answers (id, query_id, ts, user_hash, channel, question, intent, answered,"
                         " kind, answer, sources, suggestions) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return answer_id

    def vote(self, answer_id: str, *, user: int | str | None, vote: str | None, source: str = "button",
             comment: str = "", owner_only: bool = False, when: datetime | None = None) -> Vote | None:
        """Set (`vote` "up"/"down") or clear (None) this user's vote on an answer. None when there is no
        such answer, or, with `owner_only` (the web, where only the asker sees an answer), not theirs."""
        if vote is not None and vote not in VOTES:
            raise ValueError(f"vote must be one of {sorted(VOTES)} or None")
        who = self.user_hash(user)
        ts = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        with self._lock:
            rows = self._db.query("select user_hash from answers where id = ?", (answer_id,))
            if not rows or (owner_only and rows[0][0] != who):
                return None
            found = self._db.query("select vote from votes where answer_id = ? and user_hash = ?", (answer_id, who))
            before = found[0] if found else None
            if vote is None:
                self._db.execute("delete from votes where answer_id = ? and user_hash = ?", (answer_id, who))
            else:
                self._db.execute(
                    "insert into votes (answer_id, user_hash, vote, source, comment, ts) values (?, ?, ?, ?, ?, ?) "
                    "on conflict (answer_id, user_hash) do update set vote = excluded.vote, source = excluded.source,"
                    " comment = case when excluded.comment != '' then excluded.comment else votes.comment end,"
                    " ts = excluded.ts",
                    (answer_id, who, VOTES[vote], source, self._mask((comment or "")[:MAX_COMMENT_CHARS]), ts))
        return Vote(answer_id, _name(before[0]) if before else None, vote)

    # ------------------------------------------------------------------ reading
    def answer(self, answer_id: str) -> dict | None:
        rows = self._db.query_dicts("select * from answers where id = ?", (answer_id,))
        return _answer_row(rows[0]) if rows else None

    def user_vote(self, answer_id: str, user: int | str | None) -> str | None:
        rows = self._db.query("select vote from votes where answer_id = ? and user_hash = ?",
                              (answer_id, self.user_hash(user)))
        return _name(rows[0][0]) if rows else None

    def tally(self, answer_id: str) -> dict[str, int]:
        rows = self._db.query("select vote, count(*) from votes where answer_id = ? group by vote", (answer_id,))
        counts = {"up": 0, "down": 0}
        counts.update({_name(v): n for v, n in rows})
        return counts

    def needing_review(self, since: datetime) -> list[dict]:
        """Answers since `since` an admin should look at: refusals and did-you-means (not replies to
        contact requests or complaints) and answers someone gave a 👎, each with `reason` and, for 👎,
        `comment` (a typed correction)."""
        ts = since.isoformat(timespec="seconds")
        rows = self._db.query_dicts(
            "select a.*, 'refused' as reason, '' as comment from answers a where a.ts >= ? and a.answered = 0"
            " and a.intent in ('out_of_scope', 'clarify') and a.kind = ''"
            " union all "
            "select a.*, 'disliked' as reason, v.comment as comment from votes v join answers a on a.id = v.answer_id"
            " where v.ts >= ? and v.vote < 0", (ts, ts))
        out = []
        for row in rows:
            item = _answer_row(row)
            if item["reason"] == "refused" and item["intent"] == "clarify":
                item["reason"] = "clarify"
            out.append(item)
        return out

    def count_votes(self) -> int:
        return self._db.query("select count(*) from votes")[0][0]

    def close(self) -> None:
        self._db.close()


def _name(vote: int) -> str:
    return "up" if vote > 0 else "down"


def _answer_row(row: dict) -> dict:
    row["sources"] = json.loads(row["sources"])
    row["suggestions"] = json.loads(row["suggestions"])
    row["answered"] = bool(row["answered"])
    return row


# ---------------------------------------------------------------------------- replies
def remember(session: Session, answer: Answer) -> None:
    """What a later "答案錯了" or "找真人" refers to: this conversation's last answer."""
    if answer.intent == "feedback" or not answer.answer_id:
        return
    session.last_answer_id = answer.answer_id
    session.last_question = answer.query
    session.last_agencies = [a for s in answer.sources for a in agency_names(s.agency)]
    session.last_at = time.time()


def _last(session: Session) -> str:
    fresh = session.last_at and time.time() - session.last_at <= SESSION_TTL_SECONDS
    return session.last_answer_id if fresh else ""


def contacts_for(kb: KnowledgeBase, agencies: list[str]) -> list[Contact]:
    """The directory's websites for the agencies a report attribution names (at most MAX_CONTACTS)."""
    out: list[Contact] = []
    for name in agency_names(agencies):
        entry = kb.agencies.get(name)
        if entry is None or any(c.agency == name for c in out):
            continue
        label = entry.full_name + (f"（今{entry.now}）" if entry.now else "")
        out.append(Contact(agency=name, name=label, website=entry.website))
        if len(out) == MAX_CONTACTS:
            break
    return out


def _agencies_named(kb: KnowledgeBase, text: str) -> list[str]:
    """Agencies a message names itself ("怎麼聯絡國發會", "NDC contact"), as the report writes them."""
    form = match_form(text)
    found = []
    aliases = {variant: canonical for variant, canonical, kind in kb.synonyms if kind == "agency"}
    for entry in kb.agencies.values():
        aliases.setdefault(entry.name, entry.name)
        aliases.setdefault(entry.full_name, entry.name)
    for alias, name in sorted(aliases.items(), key=lambda kv: -len(kv[0])):
        a = match_form(alias)
        if a and (a in form if not a.isascii() else f" {a} " in f" {form} ") and name in kb.agencies \
                and name not in found:
            found.append(name)
            form = form.replace(a, " ")
    return found


def add_contacts(kb: KnowledgeBase, answer: Answer) -> Answer:
    """A refusal that names the agency in charge ("…由勞動部負責，可向相關機關洽詢") also gives its website."""
    if not answer.answered and answer.intent == "out_of_scope" and not answer.contacts:
        answer.contacts = contacts_for(kb, [a for s in answer.sources for a in agency_names(s.agency)])
    return answer


def reply(text: str, session: Session, *, kb: KnowledgeBase, ask: Callable[[str], Answer], store: FeedbackStore,
          user: int | str | None) -> tuple[Answer, str] | None:
    """The reply to a complaint or a contact request, and its kind ("complaint" or "contact"); None for
    anything else. A complaint is recorded as 👎 on the conversation's last answer; a contact request
    names the agency in charge of the topic it names, or of the last answer, and its official website."""
    intent = feedback_intent(text)
    if intent is None:
        return None
    english = text.isascii()
    query = (text or "").strip()[:200]
    if intent.kind == "complaint":
        last = _last(session)
        recorded = bool(last) and store.vote(last, user=user, vote="down", source="typed", comment=intent.rest) is not None
        if english:
            body = ("Thank you — I have recorded my last answer as wrong, and an administrator will review it. "
                    "Could you ask again in other words, e.g. "
                    "with the year or the programme's name?") if recorded else (
                    "Thank you for telling me. I have no earlier answer in this conversation to mark; please "
                    "type your question and I will answer from the report.")
        else:
            body = ("收到，已將上一則回答記為不正確，管理員會檢視。您可以換個說法再問一次，例如加上年份或計畫名稱。"
                    if recorded else
                    "謝謝您的意見。這段對話裡還沒有可以標記的回答；請直接輸入您的問題，我會引用報告原文回答。")
        return Answer(query=query, answered=False, intent="feedback", answer=body, confidence=1.0,
                      lang="en" if english else "zh"), "complaint"

    named = _agencies_named(kb, intent.rest)  # "怎麼聯絡國發會"
    agencies, topic = list(named), ""  # topic: what the agencies are responsible for, in the user's words
    if not agencies and intent.rest:  # "iTaiwan 的客服電話": who the report says is in charge of iTaiwan
        for question in (intent.rest, f"{intent.rest}是哪個機關負責的？"):  # a bare topic: asked as "who is in charge"
            found = ask(question)
            agencies = [a for s in found.sources[:1] for a in agency_names(s.agency)] if found.sources else []
            if agencies:
                break
        topic = intent.rest if agencies else ""
    if not agencies and _last(session):  # "我要找真人": whoever is in charge of the last answer's work
        agencies = list(session.last_agencies)
    contacts = contacts_for(kb, agencies)
    names = "、".join(c.agency for c in contacts)
    if english:
        body = "I am an automatic assistant that answers from the report; there is no person behind me, and " \
               "the report lists no phone numbers or e-mail addresses. "
        if not contacts:
            body += "Tell me which work you want to contact someone about (e.g. “MyData contact”) and I will name " \
                    "the agency the report holds responsible and its website."
        else:
            body += ("The official website is below" if named else
                     f"The report names {', '.join(c.agency for c in contacts)} as responsible for "
                     + (f"“{topic}”" if topic else "the work in my last answer") + "; the official website is below") \
                + " (from the bot's agency directory, not from the report)."
    else:
        body = "我是依報告自動回答的小幫手，沒有真人客服，報告裡也沒有聯絡電話或電子郵件。"
        if not contacts:
            body += "請告訴我您想聯絡哪一項業務（例如「MyData 的聯絡方式」），我會告訴您報告中負責的機關與官方網站。"
        else:
            body += (f"{names}的官方網站如下" if named else
                     ("「" + topic + "」" if topic else "上一則回答的工作") + f"在報告中由{names}負責，可透過下方的官方網站聯絡") \
                + "（網址取自機關名錄，不是報告內容）。"
    return Answer(query=query, answered=False, intent="out_of_scope", answer=body, confidence=1.0, contacts=contacts,
                  lang="en" if english else "zh"), "contact"
