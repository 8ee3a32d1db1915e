"""The query log: what was asked and how it went, for /usage and /unanswered.

It stores no raw user ids or names: users appear as an HMAC of their id with a salt that
lives only in DIGIBOT_DATA_DIR. SQLite in WAL mode, so a killed process loses at most the
entry being written and never corrupts the file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

LOG_FILENAME = "querylog.sqlite"
SALT_FILENAME = "querylog.salt"
MAX_QUESTION_CHARS = 500  # enough to read; a 10,000-character paste is not kept whole

_SCHEMA = """
create table if not exists queries (
    id integer primary key,
    ts text not null,            -- UTC, ISO 8601
    day text not null,           -- UTC date, for per-day counts
    user_hash text not null,     -- HMAC-SHA256(salt, user id), never the id itself
    chat_type text not null,     -- private, group, supergroup, channel, web, cli
    question text not null,
    intent text not null,
    answered integer not null,
    confidence real not null,
    latency_ms real not null
);
create index if not exists queries_day on queries(day);
create index if not exists queries_answered on queries(answered, ts);
"""


@dataclass
class Usage:
    days: list[tuple[str, int]]  # (day, questions)
    total: int
    answered_share: float
    top_questions: list[tuple[str, int]]
    recent_unanswered: list[tuple[str, int, str]]  # (question, times asked, last asked)
    users: int


def salted_hash(data_dir: Path) -> Callable[[int | str | None], str]:
    """The data directory's user hash: HMAC-SHA256 of a user id with the salt kept there."""
    data_dir.mkdir(parents=True, exist_ok=True)
    salt = _load_salt(data_dir / SALT_FILENAME)

    def user_hash(user_id: int | str | None) -> str:
        if user_id is None:
            return "anonymous"
        return hmac.new(salt, str(user_id).encode(), hashlib.sha256).hexdigest()[:24]

    return user_hash


class QueryLog:
    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / LOG_FILENAME
        self._hash = salted_hash(data_dir)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=normal")
        self._con.executescript(_SCHEMA)

    def user_hash(self, user_id: int | str | None) -> str:
        return self._hash(user_id)

    def record(self, *, user_id: int | str | None, chat_type: str, question: str, intent: str, answered: bool,
               confidence: float, latency_ms: float, when: datetime | None = None) -> int:
        """Log one question; returns its row id (what feedback on its answer refers to)."""
        when = when or datetime.now(timezone.utc)
        row = (when.isoformat(timespec="seconds"), when.date().isoformat(), self.user_hash(user_id), chat_type,
               (question or "")[:MAX_QUESTION_CHARS], intent, int(bool(answered)), float(confidence),
               float(latency_ms))
        with self._lock:
            cursor = self._con.execute(
                "insert into queries (ts, day, user_hash, chat_type, question, intent, answered, confidence,"
                " latency_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return cursor.lastrowid

    def unanswered(self, n: int = 10) -> list[tuple[str, int, str]]:
        """Most recent questions the bot could not answer: (question, times asked, last asked)."""
        with self._lock:
            return self._con.execute(
                "select question, count(*), max(ts) from queries where answered = 0 and intent in "
                "('out_of_scope', 'clarify', 'fact', 'faq', 'stat') group by question order by max(ts) desc limit ?",
                (n,)).fetchall()

    def usage(self, days: int = 7, top: int = 5) -> Usage:
        since = (datetime.now(timezone.utc) - timedelta(days=days - 1)).date().isoformat()
        with self._lock:
            per_day = self._con.execute(
                "select day, count(*) from queries where day >= ? group by day order by day", (since,)).fetchall()
            total, answered, users = self._con.execute(
                "select count(*), coalesce(sum(answered), 0), count(distinct user_hash) from queries where day >= ?",
                (since,)).fetchone()
            tops = self._con.execute(
                "select question, count(*) c from queries where day >= ? and intent not in "
                "('greeting', 'thanks', 'help') group by question order by c desc, max(ts) desc limit ?",
                (since, top)).fetchall()
        recent = [r for r in self.unanswered(top)]
        return Usage(days=per_day, total=total, answered_share=(answered / total) if total else 0.0,
                     top_questions=tops, recent_unanswered=recent, users=users)

    def count(self) -> int:
        with self._lock:
            return self._con.execute("select count(*) from queries").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _load_salt(path: Path) -> bytes:
    """A random salt made once per data directory, readable only by its owner."""
    if path.exists():
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    salt = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(salt)
    return salt
