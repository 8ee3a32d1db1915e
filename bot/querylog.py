"""The query log: what was asked and how it went, for /usage and /unanswered.

It stores no raw user ids or names: users appear as an HMAC of their id with a salt kept apart from
the log (`DIGIBOT_DATA_DIR/secrets/`, a folder only the owner can open), so a copy of the log alone
cannot be matched back to Telegram ids. ID card and phone numbers typed into a question are masked
before it is stored (`DIGIBOT_QUERYLOG_MASK`), and rows older than the retention period
(`DIGIBOT_QUERYLOG_RETENTION_DAYS`) are deleted. The files are readable by their owner only (0600).

SQLite in WAL mode, so a killed process loses at most the entry being written and never corrupts the
file. Writers share one connection; readers (/usage, /unanswered) use their own read-only one, so a long
report never holds up the answers being logged. With DATABASE_URL the same tables are in PostgreSQL
(bot/storage.py), the salt in the database, so every replica logs to one place.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .storage import Database, SQLiteDatabase

log = logging.getLogger(__name__)

LOG_FILENAME = "querylog.sqlite"
SECRETS_DIRNAME = "secrets"  # the salt's folder, apart from the log's
SALT_FILENAME = "querylog.salt"
MAX_QUESTION_CHARS = 500  # enough to read; a 10,000-character paste is not kept whole
RETENTION_DAYS = 180
PRUNE_BATCH = 5000  # rows deleted per statement, so a large backlog never holds the writer long

_SCHEMA = """
create table if not exists queries (
    id {id},
    ts text not null,            -- UTC, ISO 8601
    day text not null,           -- UTC date, for per-day counts
    user_hash text not null,     -- HMAC-SHA256(salt, user id), never the id itself
    chat_type text not null,     -- private, group, supergroup, channel, web, cli
    question text not null,
    intent text not null,
    answered integer not null,
    confidence {real} not null,
    latency_ms {real} not null
);
drop index if exists queries_day;
drop index if exists queries_answered;
-- Covering indexes for the readers: /usage's counts and users, its top questions, /unanswered.
create index if not exists queries_day_users on queries(day, user_hash, answered);
create index if not exists queries_day_questions on queries(day, intent, question, ts);
create index if not exists queries_unanswered on queries(answered, intent, question, ts);
"""

def _add_ref_column(db: Database) -> None:
    """`ref` (which message a row answers, unique when given) on logs made before it existed."""
    if db.dialect == "postgres":
        db.script("alter table queries add column if not exists ref text")
    elif "ref" not in {row[1] for row in db.query("pragma table_info(queries)")}:
        db.script("alter table queries add column ref text")
    db.script("create unique index if not exists queries_ref on queries(ref)")


# What masking replaces. Taiwan's ID card and resident certificate numbers (a letter, then 1/2/8/9 or
# A–D, then eight digits), mobile numbers (09xx-xxx-xxx, +886 9xx…) and landlines ((02) 2345-6789,
# 07-123-4567, +886-2-2345-6789). Python's \d also matches full-width digits.
_SEP = r"[-‐‑–—－\s.]?"
_ID = re.compile(r"(?<![A-Za-zＡ-Ｚａ-ｚ\d])[A-Za-zＡ-Ｚａ-ｚ][1289ABCDabcdＡ-Ｄａ-ｄ１２８９]\d{8}(?!\d)")
_PHONE = re.compile(
    r"(?<![\d+＋])(?:(?:[+＋]|[0０]{2})?[8８]{2}[6６]" + _SEP + r"\(?[0０]?|\(?[0０])"  # +886 / 00886 / 0
    r"(?:[9９]\d{2}\)?" + _SEP + r"\d{3}" + _SEP + r"\d{3}"  # mobile: 9xx xxx xxx
    r"|[2-8２-８]\d?\)?" + _SEP + r"\d{3,4}" + _SEP + r"\d{4})"  # landline: area code, 7–8 digits
    r"(?!\d)")
ID_MASK, PHONE_MASK = "[身分證號]", "[電話號碼]"


def mask_personal(text: str) -> str:
    """`text` with ID card and phone numbers replaced by a placeholder."""
    return _PHONE.sub(PHONE_MASK, _ID.sub(ID_MASK, text))


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
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return hash_with(_load_salt(data_dir))


def hash_with(salt: bytes) -> Callable[[int | str | None], str]:
    """The user hash with this salt (the data directory's, or with DATABASE_URL the database's)."""

    def user_hash(user_id: int | str | None) -> str:
        if user_id is None:
            return "anonymous"
        return hmac.new(salt, str(user_id).encode(), hashlib.sha256).hexdigest()[:24]

    return user_hash


class QueryLog:
    """The query log in DIGIBOT_DATA_DIR's SQLite file, or (`db`, with its `user_hash`) in PostgreSQL."""

    def __init__(self, data_dir: Path | None = None, *, retention_days: int = RETENTION_DAYS, mask: bool = True,
                 db: Database | None = None, user_hash: Callable[[int | str | None], str] | None = None):
        self.retention_days = retention_days
        self.mask = mask
        if db is None:
            if data_dir is None:
                raise ValueError("QueryLog needs a data directory or a database")
            if not data_dir.exists():
                data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path = data_dir / LOG_FILENAME
            _private_file(self.path)  # SQLite gives the -wal and -shm files the database file's mode
            db = SQLiteDatabase(self.path, reader=True, on_create=_new_log_vacuums)
            for suffix in ("-wal", "-shm"):
                _private_file(self.path.with_name(self.path.name + suffix), create=False)
        else:
            self.path = None
        self._db = db
        self._hash = user_hash or salted_hash(data_dir)
        db.script(db.schema(_SCHEMA))
        _add_ref_column(db)
        self._pruned_on: str | None = None
        self.prune()

    def user_hash(self, user_id: int | str | None) -> str:
        return self._hash(user_id)

    def record(self, *, user_id: int | str | None, chat_type: str, question: str, intent: str, answered: bool,
               confidence: float, latency_ms: float, when: datetime | None = None, ref: str | None = None) -> int:
        """Log one question; returns its row id (what feedback on its answer refers to). `ref` names the message
        being answered ("telegram:<bot>:<update id>"): a message answered again after its replica died is
        logged once, so /usage counts each message once whichever replicas handled it."""
        when = when or datetime.now(timezone.utc)
        question = (question or "")[:MAX_QUESTION_CHARS]
        if self.mask:
            question = mask_personal(question)
        row = (when.isoformat(timespec="seconds"), when.date().isoformat(), self.user_hash(user_id), chat_type,
               question, intent, int(bool(answered)), float(confidence), float(latency_ms))
        rows = self._db.execute(
            "insert into queries (ts, day, user_hash, chat_type, question, intent, answered, confidence,"
            " latency_ms, ref) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (ref) do nothing returning id",
            (*row, ref)).rows
        if not rows:  # logged before, by a replica that died before its reply was marked sent
            rows = self._db.query("select id from queries where ref = ?", (ref,))
        [(row_id,)] = rows
        if self._pruned_on != datetime.now(timezone.utc).date().isoformat():
            self.prune()  # once a day
        return row_id

    def prune(self, today: datetime | None = None) -> int:
        """Delete the rows older than the retention period (in batches); returns how many went."""
        today = today or datetime.now(timezone.utc)
        cutoff = (today - timedelta(days=self.retention_days)).date().isoformat()
        deleted = 0
        while True:
            gone = self._db.execute("delete from queries where id in (select id from queries where day < ?"
                                    " order by id limit ?)", (cutoff, PRUNE_BATCH)).rowcount
            deleted += gone
            if gone < PRUNE_BATCH:
                break
        if deleted:
            log.info("query log: deleted %d question(s) older than %d days", deleted, self.retention_days)
        self._pruned_on = today.date().isoformat()
        return deleted

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._db.query(sql, params, reader=True)

    def unanswered(self, n: int = 10) -> list[tuple[str, int, str]]:
        """Most recent questions the bot could not answer: (question, times asked, last asked)."""
        return self._read(
            "select question, count(*), max(ts) from queries where answered = 0 and intent in "
            "('out_of_scope', 'clarify', 'fact', 'faq', 'stat') group by question order by max(ts) desc limit ?",
            (n,))

    def usage(self, days: int = 7, top: int = 5) -> Usage:
        since = (datetime.now(timezone.utc) - timedelta(days=days - 1)).date().isoformat()
        per_day = self._read("select day, count(*) from queries where day >= ? group by day order by day", (since,))
        [(total, answered, users)] = self._read(
            "select count(*), coalesce(sum(answered), 0), count(distinct user_hash) from queries where day >= ?",
            (since,))
        tops = self._read(
            "select question, count(*) c from queries where day >= ? and intent not in "
            "('greeting', 'thanks', 'help') group by question order by c desc, max(ts) desc limit ?", (since, top))
        recent = self.unanswered(top)
        return Usage(days=per_day, total=total, answered_share=(answered / total) if total else 0.0,
                     top_questions=tops, recent_unanswered=recent, users=users)

    def count(self) -> int:
        return self._read("select count(*) from queries")[0][0]

    def close(self) -> None:
        self._db.close()


def _new_log_vacuums(con: sqlite3.Connection) -> None:
    if not con.execute("select 1 from sqlite_master where name = 'queries'").fetchone():
        con.execute("pragma auto_vacuum=full")  # a new log gives pruned pages back to the disk


def _private_file(path: Path, create: bool = True) -> None:
    """Make `path` readable and writable by its owner only (0600), creating it empty when asked."""
    if create and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    try:
        os.chmod(path, 0o600)
    except FileNotFoundError:
        pass


def salt_path(data_dir: Path) -> Path:
    return data_dir / SECRETS_DIRNAME / SALT_FILENAME


def _load_salt(data_dir: Path) -> bytes:
    """The data directory's random salt, made once, in a folder of its own only the owner can open (0700,
    the file 0600). A salt from before it moved (beside the log) is moved there, so hashes stay the same."""
    path = salt_path(data_dir)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    old = data_dir / SALT_FILENAME
    if old.exists() and not path.exists():
        os.replace(old, path)
    if path.exists():
        os.chmod(path, 0o600)
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    # Written whole under a temporary name, then linked into place: a crash leaves no half salt, and of two
    # processes starting together on one data directory the second uses the first one's salt.
    tmp = path.with_name(f".{SALT_FILENAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        if path.exists():  # a short salt: replaced (nothing can have been hashed with it)
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()
