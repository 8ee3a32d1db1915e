"""Where the query log, feedback and teachings are kept: one interface, two back-ends.

- **SQLite** (the default): files in DIGIBOT_DATA_DIR, as a single process needs — `querylog.sqlite`
  (questions, answers given, votes) and `taught.sqlite` (teachings), in WAL mode.
- **PostgreSQL** (`DATABASE_URL`): one database every replica writes to, so `/usage`, `/unanswered`,
  `/taught` and `digibot export-taught` see what all of them were asked and taught.

The stores (bot/querylog.py, bot/feedback.py, bot/teach.py) are written once against `Database`: the
same SQL (`?` placeholders, `insert … returning id`, `on conflict`) runs on both; only the table
definitions differ (`schema`). `tests/test_storage.py` runs the same tests on both back-ends.

Each `Database` has a writer connection and a reader connection, each behind a lock (the stores are
used from the answering threads and the event loop): a long /usage report never holds up the answers
being logged. A PostgreSQL connection that broke (the server restarted) is opened again on next use.
"""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

SQLITE_TIMEOUT = 10.0  # seconds a writer waits for another process's write lock on the same file
POSTGRES_CONNECT_TIMEOUT = 10  # seconds


class StorageError(RuntimeError):
    """A shared store cannot be reached (the message never holds the URL: it carries a password)."""


@dataclass
class Result:
    rows: list[tuple]
    rowcount: int


class Database:
    """An SQL database the stores write to and read from."""

    dialect = ""

    def execute(self, sql: str, params: tuple | list = ()) -> Result:
        """Run one statement on the writer connection (autocommit); its rows (for `returning`) and row count."""
        raise NotImplementedError

    def _read(self, sql: str, params, reader: bool) -> tuple[Any, list]:
        """A query's column description and rows, on the reader connection when `reader`."""
        raise NotImplementedError

    def query(self, sql: str, params: tuple | list = (), *, reader: bool = False) -> list[tuple]:
        """The rows of a query, on the reader connection when `reader` (reports), else the writer's."""
        return [tuple(r) for r in self._read(sql, params, reader)[1]]

    def query_dicts(self, sql: str, params: tuple | list = (), *, reader: bool = False) -> list[dict]:
        description, rows = self._read(sql, params, reader)
        names = [d[0] for d in description or ()]  # a DB-API description: the column's name first
        return [dict(zip(names, row)) for row in rows]

    def script(self, ddl: str) -> None:
        """Run several `;`-separated statements (table definitions)."""
        raise NotImplementedError

    def schema(self, ddl: str) -> str:
        """`ddl` written with `{id}` (an auto-numbered primary key) and `{real}` for this back-end."""
        for name, sql_type in self._types.items():
            ddl = ddl.replace("{" + name + "}", sql_type)
        return ddl

    _types: dict[str, str] = {}

    def close(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
        with self._lock:
            self._con.close()


class SQLiteDatabase(Database):
    """One SQLite file. `reader=True` opens a second, read-only connection for reports."""

    dialect = "sqlite"
    _types = {"id": "integer primary key", "real": "real"}

    def __init__(self, path: Path, *, reader: bool = False, on_create: Callable[[sqlite3.Connection], None] | None = None):
        self.path = path
        self._lock = threading.Lock()
        self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=SQLITE_TIMEOUT)
        if on_create is not None:
            on_create(self._con)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=normal")
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._wants_reader = reader

    def _reader_connection(self) -> sqlite3.Connection:
        if self._reader is None:  # opened once the tables exist (a read-only connection cannot create them)
            self._reader = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                           check_same_thread=False)
        return self._reader

    def execute(self, sql: str, params: tuple | list = ()) -> Result:
        with self._lock:
            cursor = self._con.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
            return Result(rows, cursor.rowcount)

    def _read(self, sql: str, params, reader: bool):
        if reader and self._wants_reader:
            with self._read_lock:
                cursor = self._reader_connection().execute(sql, params)
                return cursor.description, cursor.fetchall()
        with self._lock:
            cursor = self._con.execute(sql, params)
            return cursor.description, cursor.fetchall()

    def script(self, ddl: str) -> None:
        with self._lock:
            self._con.executescript(ddl)


class PostgresDatabase(Database):
    """A PostgreSQL database (psycopg 3), shared by every replica."""

    dialect = "postgres"
    _types = {"id": "bigint generated by default as identity primary key", "real": "double precision"}

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._con = self._connect()
        self._reader = None

    def _connect(self):
        import psycopg  # only with DATABASE_URL

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            raise StorageError(f"cannot connect to PostgreSQL at DATABASE_URL ({type(exc).__name__})") from None

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def _run(self, which: str, sql: str, params) -> tuple[Any, list[tuple], int]:
        """Run on the writer or reader connection; a connection found broken is opened again, once."""
        import psycopg

        for attempt in (1, 2):
            con = getattr(self, which)
            if con is None or con.closed or con.broken:
                con = self._connect()
                setattr(self, which, con)
            try:
                with con.cursor() as cursor:
                    cursor.execute(self._sql(sql), params)
                    rows = cursor.fetchall() if cursor.description else []
                    return cursor.description, rows, cursor.rowcount
            except psycopg.OperationalError:
                if attempt == 2 or not con.broken:
                    raise StorageError(f"PostgreSQL failed ({'connection lost' if con.broken else 'error'})") \
                        from None
                log.warning("the PostgreSQL connection broke; connecting again")
        raise AssertionError("unreachable")

    def execute(self, sql: str, params: tuple | list = ()) -> Result:
        with self._lock:
            _, rows, count = self._run("_con", sql, params)
        return Result([tuple(r) for r in rows], count)

    def _read(self, sql: str, params, reader: bool):
        if reader:
            with self._read_lock:
                description, rows, _ = self._run("_reader", sql, params)
        else:
            with self._lock:
                description, rows, _ = self._run("_con", sql, params)
        return description, rows

    def script(self, ddl: str) -> None:
        # One advisory lock around the table definitions: replicas starting together do not race on them.
        with self._lock:
            with self._con.transaction():
                self._con.execute("select pg_advisory_xact_lock(1247861)")
                for statement in filter(str.strip, re.sub(r"--[^\n]*", "", ddl).split(";")):
                    self._con.execute(statement)


# ------------------------------------------------------------------------------------------ the salt
_SALT_SCHEMA = "create table if not exists digibot_secrets (name text primary key, value bytea not null)"


def shared_salt(db: PostgresDatabase) -> bytes:
    """The salt every replica's user hashes use, made once in the database (the first replica to start
    writes it; the others read it), so a user is the same hash whichever replica answered them."""
    db.script(_SALT_SCHEMA)
    db.execute("insert into digibot_secrets (name, value) values ('user_hash_salt', ?) on conflict (name) do nothing",
               (secrets.token_bytes(32),))
    return bytes(db.query("select value from digibot_secrets where name = 'user_hash_salt'")[0][0])


@dataclass
class Storage:
    """The three stores on one back-end, and what closes them."""
    querylog: Any
    feedback: Any
    teach: Any

    def close(self) -> None:
        for store in (self.querylog, self.feedback, self.teach):
            store.close()


def open_storage(data_dir: Path, *, database_url: str = "", retention_days: int | None = None,
                 mask: bool = True) -> Storage:
    """The query log, feedback and teach stores: in PostgreSQL at `database_url` when given, else SQLite
    files in `data_dir`."""
    from .feedback import FeedbackStore
    from .querylog import RETENTION_DAYS, QueryLog, hash_with
    from .teach import TeachStore

    retention = retention_days or RETENTION_DAYS
    if not database_url:
        querylog = QueryLog(data_dir, retention_days=retention, mask=mask)
        return Storage(querylog, FeedbackStore(data_dir, querylog.user_hash, mask=mask), TeachStore(data_dir, querylog.user_hash))
    writer = PostgresDatabase(database_url)
    user_hash = hash_with(shared_salt(writer))
    querylog = QueryLog(db=writer, user_hash=user_hash, retention_days=retention, mask=mask)
    feedback = FeedbackStore(db=PostgresDatabase(database_url), user_hash=user_hash, mask=mask)
    teach = TeachStore(db=PostgresDatabase(database_url), user_hash=user_hash)
    return Storage(querylog, feedback, teach)
