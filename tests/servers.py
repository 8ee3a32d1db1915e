"""Throwaway Redis and PostgreSQL servers for the tests: Debian's real `redis-server` and `postgres`,
started in a temporary folder on a free loopback port, stopped when the test session ends.

Outside CI, a test that needs a server is skipped (with the reason) when the binaries are not installed.
In CI (`DIGIBOT_CI=1`, set by .ci/run, which installs both packages) a missing server fails the test
instead: the replica tests must run there.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

START_TIMEOUT = 120.0  # seconds a server gets to accept connections (a busy CI machine is slow, never this slow)


def in_ci() -> bool:
    return os.environ.get("DIGIBOT_CI", "").strip() not in ("", "0")


def unavailable(reason: str):
    """Skip outside CI; fail in CI, where .ci/run installs the servers."""
    if in_ci():
        pytest.fail(f"{reason} (DIGIBOT_CI is set: .ci/run installs redis-server and postgresql)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} while starting")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT:.0f} s")


# ---------------------------------------------------------------------------------------- Redis
class RedisServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        for _ in range(5):  # a free port can be taken between finding it and binding it
            self.port = free_port()
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                 "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait(self.ping, "redis-server", self.process)
                return self
            except RuntimeError:
                self.stop()
        raise RuntimeError("redis-server could not listen on a free port")

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"FLUSHALL\r\n")
            assert s.recv(64).startswith(b"+OK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ----------------------------------------------------------------------------------- PostgreSQL
def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """A cluster of its own (initdb), trust authentication on 127.0.0.1 only. PostgreSQL refuses to run as
    root, so as root it runs as the `postgres` user Debian's package creates."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "pgdata"
        self.port = 0
        self.bin = postgres_bin()
        self._user: str | None = None

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            return ["runuser", "-u", self._user, "--", *command]
        return command

    def start(self) -> "PostgresServer":
        if self.bin is None:
            raise FileNotFoundError("postgres")
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise FileNotFoundError("a 'postgres' user to run the server as (we are root)") from None
            self._user = "postgres"
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._cmd("initdb", "-D", str(self.data), "-U", "digibot", "--auth=trust", "-E", "UTF8",
                                 "--no-sync", "--locale=C"), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=START_TIMEOUT)
        for _ in range(5):
            self.port = free_port()
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            started = subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                                               str(self.folder / "postgres.log"), "-w", "-t", str(int(START_TIMEOUT)),
                                               "start"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if started.returncode == 0:
                return self
        raise RuntimeError("postgres did not start: " + (self.folder / "postgres.log").read_text(errors="replace")[-2000:])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://digibot@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f"create database {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.port:
            subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def redis_server():
    """A Redis server for this test session (per pytest-xdist worker)."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="digibot-redis-"))
    server = RedisServer(folder).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster for this test session (per pytest-xdist worker)."""
    if postgres_bin() is None:
        unavailable("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="digibot-pg-"))
    server = PostgresServer(folder)
    try:
        server.start()
    except FileNotFoundError as exc:
        unavailable(f"cannot run PostgreSQL here: {exc}")
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def database_url(postgres_server) -> str:
    """A fresh PostgreSQL database for this test."""
    return postgres_server.new_database()
