"""Helpers for the replica tests and benchmarks/replicas.py: `digibot serve` / `digibot run` processes sharing a
Redis and a PostgreSQL server, and a Telegram-like webhook deliverer.

A replica is a real process started as a platform starts one (`python -m bot serve` with environment
variables); each has a data directory of its own holding a copy of the built KB, as each container would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from knowledge.build import KB_FILENAME

from .servers import free_port

REPO = Path(__file__).resolve().parents[1]
START_BACKSTOP = 180.0  # seconds a replica gets to come up; a backstop only, progress (the process alive) decides
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


class Replica:
    """One `python -m bot <command>` process."""

    def __init__(self, name: str, folder: Path, kb_file: Path, env: dict[str, str], command: str = "serve"):
        self.name = name
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        if not (self.data / KB_FILENAME).exists():
            shutil.copy(kb_file, self.data / KB_FILENAME)
        self.env = env
        self.command = command
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, extra: dict[str, str] | None = None) -> "Replica":
        self.port = free_port()
        env = {**os.environ, **self.env, "PORT": str(self.port), "DIGIBOT_DATA_DIR": str(self.data), **(extra or {})}
        if "WEBHOOK_URL" in env:
            env["WEBHOOK_URL"] = self.url
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.started_at = time.monotonic()
        with open(self.folder / "log.txt", "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", self.command], cwd=REPO, env=env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        path = self.folder / "log.txt"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def healthz(self) -> dict:
        with urllib.request.urlopen(self.url + "/healthz", timeout=30) as response:
            return json.loads(response.read())

    def wait_ready(self, *, telegram: bool = True) -> dict:
        """Until /healthz answers (and the webhook is registered); fails at once if the process exits."""
        deadline = time.monotonic() + START_BACKSTOP
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"replica {self.name} exited ({self.process.returncode}):\n{self.log()}")
            try:
                health = self.healthz()
                if not telegram or health.get("telegram_ready"):
                    return health
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"replica {self.name} not ready after {START_BACKSTOP:.0f} s:\n{self.log()}")

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


class Deliverer:
    """Telegram's side of a webhook: every update POSTed (with the secret header) until a replica answers 200;
    up to `connections` deliveries at once (Telegram's default max_connections is 40); a delivery that failed
    (connection refused or dropped, non-2xx) is tried again after `retry_delay`, to the next replica in turn —
    as a platform's router in front of the replicas passes Telegram's retry on."""

    def __init__(self, urls: list[str], path: str, secret: str, *, connections: int = 40, retry_delay: float = 0.5):
        self.urls = urls
        self.path = path
        self.secret = secret
        self.connections = connections
        self.retry_delay = retry_delay
        self._turn = itertools.count()
        self.delivered: dict[int, str] = {}  # update id → the replica URL that answered 200
        self.failures: dict[int, list] = defaultdict(list)  # update id → what failed
        self.last_progress = time.monotonic()

    async def post(self, http, update: dict, url: str | None = None) -> int | None:
        import aiohttp

        url = url or self.urls[next(self._turn) % len(self.urls)]
        try:
            async with http.post(url + self.path, data=json.dumps(update, ensure_ascii=False).encode(),
                                 headers={"Content-Type": "application/json",
                                          "X-Telegram-Bot-Api-Secret-Token": self.secret}) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.failures[update["update_id"]].append(type(exc).__name__)
            return None
        if status == 200:
            self.delivered[update["update_id"]] = url
            self.last_progress = time.monotonic()
        else:
            self.failures[update["update_id"]].append(status)
        return status

    async def deliver(self, updates: list[dict], *, stall: float = 60.0) -> None:
        """Deliver every update; fails when nothing was delivered for `stall` seconds (a backstop)."""
        import aiohttp

        queue: asyncio.Queue = asyncio.Queue()
        for update in updates:
            queue.put_nowait(update)
        remaining = {u["update_id"] for u in updates}
        finished = asyncio.Event()

        async def worker(http) -> None:
            while True:
                update = await queue.get()
                if await self.post(http, update) == 200:
                    remaining.discard(update["update_id"])
                    if not remaining:
                        finished.set()
                else:
                    await asyncio.sleep(self.retry_delay)
                    queue.put_nowait(update)

        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
            workers = [asyncio.create_task(worker(http)) for _ in range(self.connections)]
            try:
                while not finished.is_set():
                    try:
                        await asyncio.wait_for(finished.wait(), 1.0)
                    except asyncio.TimeoutError:
                        if time.monotonic() - self.last_progress > stall:
                            stuck = {u: self.failures.get(u) for u in sorted(remaining)}
                            raise AssertionError(f"no update delivered for {stall:.0f} s; {len(remaining)} left: "
                                                 f"{stuck}")
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)


def most_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open interval [t, t + window) (times in seconds, any order)."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        most = max(most, end - start + 1)
    return most
