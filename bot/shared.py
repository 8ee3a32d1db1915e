"""State the replicas share through Redis (`REDIS_URL`), each piece with an in-process twin.

Without REDIS_URL a process keeps all of this in memory (bot/session.py, bot/ratelimit.py, …), as one
process should. With it, every replica reads and writes the same keys, so it does not matter which
replica a request lands on:

- **sessions** (`SharedSessions`): a conversation's follow-up context, expiring after 30 minutes of silence;
- **rate limits** (`SharedRateLimiter`): the web's per-address and Telegram's per-user token buckets;
- **the flood budget** (`FloodBudget`): Telegram's limits for the one bot token — 30 messages a second,
  1 a second per chat, 20 a minute per group — spent by all replicas together, and a 429's `retry_after`
  pausing them all;
- **buttons** (`SharedButtons`, via handlers/telegram/render.py): what a callback button stands for, so a
  press works on any replica;
- **update de-duplication** (`UpdateClaims`): an update is answered once, by the replica that claimed it,
  and marked done only after its reply went out;
- **leases** (`Lease`): only the holder polls Telegram (another replica takes over when it dies), and one
  reload runs at a time across replicas;
- **reload broadcast** (`KBBroadcast`): the knowledge base a `/reload` swapped in is published with its
  fingerprint, and every replica switches to it.

Clocks are Redis's (`TIME`), so replicas whose clocks differ still share one budget. Everything runs on the
event loop (redis-py's asyncio client); the answering threads never touch Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from contextvars import ContextVar
from dataclasses import asdict, fields
from typing import Any, Awaitable, Callable

from .session import SESSION_TTL_SECONDS, Session

log = logging.getLogger(__name__)

NAMESPACE = "digibot"
LEASE_SECONDS = 5.0  # a replica that dies holding a lease is replaced within this (renewed every third of it)
UPDATE_DONE_SECONDS = 48 * 3600  # Telegram retries an unanswered update for up to a day: remember longer
BUTTON_SECONDS = 30 * 24 * 3600  # a button in an old message still works for a month
KB_SECONDS = 7 * 24 * 3600  # a published knowledge base stays fetchable this long
CONNECT_TIMEOUT = 10.0  # seconds
REDIS_CONNECTIONS = 64  # per replica (the pub/sub listener's included)

# Telegram's flood limits for one bot token ("Bots FAQ": about 30 messages a second overall, one a second
# in a chat, 20 a minute in a group), as (messages, per seconds).
FLOOD_OVERALL = (30, 1.0)
FLOOD_CHAT = (1, 1.0)
FLOOD_GROUP = (20, 60.0)
# Each window is kept this much longer than Telegram's, for the time between a request being written and it
# reaching Telegram (sends are dated when written, see FloodBudget): 30 messages per 1.1 s is 27 a second.
FLOOD_MARGIN = 0.1
FLOOD_PENDING = 5.0  # seconds a slot taken counts at most before its send is dated (its replica may have died)


def replica_id() -> str:
    """This process among the replicas: host, pid and a random part (a restarted container may reuse a pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SharedState:
    """The Redis connection every shared piece uses, and the names of its keys."""

    def __init__(self, url: str, *, namespace: str = NAMESPACE):
        import redis.asyncio as redis  # only with REDIS_URL

        self.url = url
        self.namespace = namespace
        self.replica = replica_id()
        # A blocking pool: at a burst every update's handler talks to Redis; beyond the pool they queue briefly
        # rather than fail ("Too many connections").
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=REDIS_CONNECTIONS, timeout=CONNECT_TIMEOUT,
                                                     socket_connect_timeout=CONNECT_TIMEOUT, health_check_interval=30)
        self.redis = redis.Redis(connection_pool=pool)
        self._blocking = None

    @property
    def blocking(self):
        """A plain (blocking) client, for the one write that must happen with no await before the next step:
        marking an update answered just before its reply's bytes are written (UpdateClaims.answering_now)."""
        if self._blocking is None:
            import redis

            self._blocking = redis.Redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT,
                                                  socket_timeout=CONNECT_TIMEOUT)
        return self._blocking

    def key(self, *parts: Any) -> str:
        return ":".join([self.namespace, *map(str, parts)])

    async def now(self) -> float:
        """Redis's clock, in seconds."""
        seconds, micros = await self.redis.time()
        return seconds + micros / 1e6

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self._blocking is not None:
            with contextlib.suppress(Exception):
                self._blocking.close()


# ------------------------------------------------------------------------------------------- sessions
class SharedSessions:
    """Conversation sessions in Redis, as JSON, expiring SESSION_TTL_SECONDS after the last exchange."""

    def __init__(self, shared: SharedState, ttl: float = SESSION_TTL_SECONDS):
        self.shared = shared
        self.ttl = ttl
        self._fields = {f.name for f in fields(Session)}

    def get(self, key: str) -> Session:  # the in-process store's call; replicas must use load()
        raise TypeError("shared sessions are loaded with `await load(key)`")

    async def load(self, key: str) -> Session:
        data = await self.shared.redis.get(self.shared.key("session", key))
        if not data:
            return Session()
        try:
            values = json.loads(data)
            session = Session(**{k: v for k, v in values.items() if k in self._fields})
        except (ValueError, TypeError):
            log.warning("a stored session could not be read; starting a new one")
            return Session()
        return Session() if session.expired() else session

    async def save(self, key: str, session: Session) -> None:
        data = json.dumps(asdict(session), ensure_ascii=False)
        await self.shared.redis.set(self.shared.key("session", key), data, px=int(self.ttl * 1000))

    def __len__(self) -> int:
        return 0


# ---------------------------------------------------------------------------------------- rate limits
# A token bucket per key: KEYS[1] the bucket; ARGV rate (tokens/s), burst. Returns the wait in ms (0: taken).
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local ttl = math.ceil(burst / rate * 1000) + 1000
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tokens - 1, 'at', now)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 0
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return math.ceil((1 - tokens) / rate * 1000)
"""


class SharedRateLimiter:
    """bot/ratelimit.RateLimiter's token buckets, kept in Redis: one budget per client whichever replica it
    reaches. `await take(key)`: 0 when allowed, else the seconds until a token is available."""

    def __init__(self, shared: SharedState, rate_per_minute: float, burst: int, *, name: str = "rate"):
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self.shared = shared
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.name = name
        self._script = shared.redis.register_script(_BUCKET)

    async def take(self, key: str) -> float:
        waited = await self._script(keys=[self.shared.key(self.name, key)], args=[self.rate, self.burst])
        return int(waited) / 1000.0


# ------------------------------------------------------------------------------------- flood budget
# Sliding windows of send times (sorted sets). KEYS: the pause key, then one window key per limit; ARGV:
# a unique member, then (limit, window ms) per window key, then pending ms, then peek (1: only say whether there
# is room). A slot taken is scored `pending` ms in the future until `_FLOOD_SENT` re-scores it with the time
# its request was written, so a send still on its way counts in every window until it is out. Returns 0 when
# a slot was taken (or, peeking, is free), else the ms to wait before asking again.
_FLOOD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return paused - now end
local member = ARGV[1]
local pending = tonumber(ARGV[#ARGV - 1])
local peek = ARGV[#ARGV] == '1'
local wait = 0
for i = 2, #KEYS do
  local limit, window = tonumber(ARGV[2 * i - 2]), tonumber(ARGV[2 * i - 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2])
    if oldest > now then
      wait = math.max(wait, 50)  -- every slot is a send on its way: ask again shortly
    else
      wait = math.max(wait, oldest + window - now + 1)
    end
  end
end
if wait > 0 or peek then return wait end
for i = 2, #KEYS do
  local window = tonumber(ARGV[2 * i - 1])
  redis.call('ZADD', KEYS[i], now + pending, member)
  redis.call('PEXPIRE', KEYS[i], window + pending + 1000)
end
return 0
"""
# A slot's send went out: score it with the time now. KEYS: the window keys; ARGV: the member.
_FLOOD_SENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1]) end
return 0
"""


class FloodBudget:
    """Telegram's flood limits for one bot token, spent by every replica together (sliding windows in
    Redis, on Redis's clock). `async with slot(chat_id)` waits until this replica may send one message to the
    chat, and the send made inside the block is counted from when it went out (a request delayed between
    taking its slot and reaching Telegram cannot crowd the next second there); `room()` says whether a
    message could go now without waiting (for the "typing…" courtesy); `pause(seconds)` is a 429's
    `retry_after`, which holds every replica."""

    def __init__(self, shared: SharedState, bot_id: str | int, *, overall=FLOOD_OVERALL, chat=FLOOD_CHAT,
                 group=FLOOD_GROUP, margin: float = FLOOD_MARGIN, pending: float = FLOOD_PENDING):
        self.shared = shared
        self.bot = str(bot_id)
        self.overall, self.chat, self.group, self.margin = overall, chat, group, margin
        self.pending_ms = int(pending * 1000)
        self._script = shared.redis.register_script(_FLOOD)
        self._sent = shared.redis.register_script(_FLOOD_SENT)

    def _windows(self, chat_id: int | str | None) -> tuple[list[str], list]:
        keys, args = [self.shared.key("flood", self.bot, "pause")], []

        def add(name: str, limit: tuple[int, float]) -> None:
            keys.append(self.shared.key("flood", self.bot, name))
            args.extend([limit[0], int((limit[1] + self.margin) * 1000)])

        add("all", self.overall)
        if chat_id is not None:
            add(f"chat:{chat_id}", self.chat)
            if _is_group(chat_id) and self.group:
                add(f"group:{chat_id}", self.group)
        return keys, args

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int | str | None):
        """Wait for a slot and take it; the block sends the message; on leaving, the slot is dated now."""
        keys, args = self._windows(chat_id)
        member = secrets.token_hex(8)
        while True:
            waited = int(await self._script(keys=keys, args=[member, *args, self.pending_ms, 0]))
            if waited <= 0:
                break
            await asyncio.sleep(waited / 1000.0)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # not re-dated: it simply counts until `pending` runs out
                await self._sent(keys=keys[1:], args=[member])

    async def room(self, chat_id: int | str | None = None) -> bool:
        keys, args = self._windows(chat_id)
        return int(await self._script(keys=keys, args=["peek", *args, self.pending_ms, 1])) <= 0

    async def pause(self, seconds: float) -> None:
        """Hold every replica's messages for `seconds` (Telegram answered 429 with this retry_after)."""
        until = int((await self.shared.now() + seconds) * 1000)
        key = self.shared.key("flood", self.bot, "pause")
        current = await self.shared.redis.get(key)
        if current is None or int(current) < until:
            await self.shared.redis.set(key, until, px=int(seconds * 1000) + 1000)


def _is_group(chat_id: int | str) -> bool:
    try:
        return int(chat_id) < 0
    except (TypeError, ValueError):
        return True  # "@channelname"


# ------------------------------------------------------------------------------------------ buttons
class SharedButtons:
    """What callback buttons stand for, in Redis (a press may reach any replica). Payloads are put while a
    keyboard is built (no I/O there) and written by `flush()` before the message carrying them is sent."""

    def __init__(self, shared: SharedState, local, ttl: float = BUTTON_SECONDS):
        self.shared = shared
        self.local = local  # the in-process ButtonStore: keys are content hashes, so every replica agrees
        self.ttl = ttl
        self._pending: dict[str, Any] = {}

    def put(self, payload: Any) -> str:
        key = self.local.put(payload)
        self._pending[key] = payload
        return key

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        async with self.shared.redis.pipeline(transaction=False) as pipe:
            for key, payload in pending.items():
                pipe.set(self.shared.key("button", key), json.dumps(payload, ensure_ascii=False), px=int(self.ttl * 1000))
            await pipe.execute()

    async def fetch(self, key: str) -> Any | None:
        payload = self.local.get(key)
        if payload is not None:
            return payload
        data = await self.shared.redis.get(self.shared.key("button", key))
        return json.loads(data) if data else None

    def get(self, key: str) -> Any | None:
        return self.local.get(key)

    def __len__(self) -> int:
        return len(self.local)


# ----------------------------------------------------------------------------- update de-duplication
class UpdateClaims:
    """Exactly one reply per Telegram update across replicas. A replica `claim`s an update before handling
    it (a lease, renewed while it works); the update is marked `done` once handled, and that mark outlives
    Telegram's retries. A retried delivery of a done update is acknowledged without a second reply; one
    still held by a live replica waits for it; one whose replica died is taken over when its lease runs out.

    A replica killed after its reply left but before it marked the update done would let a retried delivery
    answer twice; so the update is marked done the moment its first message has gone to Telegram
    (`answering_now`, called by the HTTP transport as soon as the request's last byte is written, with no
    await in between). What remains is that one blocking Redis round trip (NOTES.md, issue #12).

    `claim` returns "mine", "done" or "busy" (held by another replica)."""

    _CLAIM = """
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'mine'
end
if v == 'done' then return 'done' end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'mine'
end
return 'busy'
"""
    _RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
    _RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

    _ANSWERING = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == false then
  redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
  return 1
end
return 0
"""

    def __init__(self, shared: SharedState, bot_id: str | int, lease: float = LEASE_SECONDS):
        self.shared = shared
        self.bot = str(bot_id)
        self.lease = lease
        self._claim = shared.redis.register_script(self._CLAIM)
        self._renew = shared.redis.register_script(self._RENEW)
        self._release = shared.redis.register_script(self._RELEASE)

    def _key(self, update_id: int) -> str:
        return self.shared.key("update", self.bot, update_id)

    async def claim(self, update_id: int) -> str:
        result = await self._claim(keys=[self._key(update_id)], args=[self.shared.replica, int(self.lease * 1000)])
        return result.decode() if isinstance(result, bytes) else str(result)

    async def done(self, update_id: int) -> None:
        await self.shared.redis.set(self._key(update_id), "done", px=UPDATE_DONE_SECONDS * 1000)

    def answering_now(self, update_id: int) -> None:
        """The update's first message was just written to Telegram: from now on it counts as answered (a
        retried delivery is acknowledged without a second reply, even if this replica dies next). Blocking, on
        purpose: the event loop must not run anything between the write and this mark."""
        self.shared.blocking.eval(self._ANSWERING, 1, self._key(update_id), self.shared.replica,
                                  UPDATE_DONE_SECONDS * 1000)

    async def release(self, update_id: int) -> None:
        """Give a claim back without marking it done (handling failed: another delivery may try again)."""
        await self._release(keys=[self._key(update_id)], args=[self.shared.replica])

    async def wait_settled(self, update_id: int, give_up: float) -> str:
        """Wait while another replica holds the update: "done" when it finished, "mine" when its lease ran out
        and this replica took the update over, "busy" when it is still held after `give_up` seconds."""
        deadline = time.monotonic() + give_up
        delay = 0.05
        while True:
            state = await self.claim(update_id)
            if state != "busy" or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(delay)
            delay = min(0.5, delay * 2)

    @contextlib.asynccontextmanager
    async def held(self, update_id: int):
        """Keep renewing this replica's claim while the block runs."""
        stop = asyncio.Event()

        async def renew() -> None:
            while not await _stopped(stop, self.lease / 3):
                with contextlib.suppress(Exception):
                    await self._renew(keys=[self._key(update_id)], args=[self.shared.replica, int(self.lease * 1000)])

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            await _end(task, stop)


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; True when it is."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _end(task: asyncio.Task, stop: asyncio.Event) -> None:
    """End a renewing task. Not by cancelling alone: redis-py can swallow a cancellation that arrives during a
    command, and the task would then renew for ever (seen: a claim renewed, and its update held, until the
    process stopped). The stop flag ends the loop after the command in flight whatever happened to it."""
    stop.set()
    task.cancel()
    await asyncio.wait({task}, timeout=CONNECT_TIMEOUT)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


class InHand:
    """The update a handler is working on, for the HTTP transport to mark answered as soon as the first
    message of its reply went out (`CURRENT_UPDATE`, a context variable set by the claim's holder)."""

    def __init__(self, claims: UpdateClaims, update_id: int):
        self.claims = claims
        self.update_id = update_id
        self.answered = False

    def sending(self) -> None:
        """Called by the HTTP transport once a message's request is written (blocking, no await)."""
        if not self.answered:
            self.answered = True
            try:
                self.claims.answering_now(self.update_id)
            except Exception as exc:  # Redis gone for a moment: the reply still goes
                log.warning("could not mark update %d answered (%s)", self.update_id, type(exc).__name__)


CURRENT_UPDATE: ContextVar[InHand | None] = ContextVar("digibot_current_update", default=None)


# -------------------------------------------------------------------------------------------- leases
class Lease:
    """A named lease only one replica holds at a time: `await acquire()` (True when held), renewed in the
    background while held; `lost` is set when another replica got it (this one stalled past the lease)."""

    def __init__(self, shared: SharedState, name: str, seconds: float = LEASE_SECONDS):
        self.shared = shared
        self.name = name
        self.seconds = seconds
        self.key = shared.key("lease", name)
        self.lost = asyncio.Event()
        self._renewer: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self._renew = shared.redis.register_script(UpdateClaims._RENEW)
        self._release = shared.redis.register_script(UpdateClaims._RELEASE)

    @property
    def held(self) -> bool:
        return self._renewer is not None and not self.lost.is_set()

    async def acquire(self) -> bool:
        got = await self.shared.redis.set(self.key, self.shared.replica, nx=True, px=int(self.seconds * 1000))
        if got:
            self.lost.clear()
            self._stop = asyncio.Event()
            self._renewer = asyncio.create_task(self._keep())
        return bool(got)

    async def holder(self) -> str | None:
        value = await self.shared.redis.get(self.key)
        return value.decode() if value else None

    async def _keep(self) -> None:
        failures = 0
        while not await _stopped(self._stop, self.seconds / 3):
            try:
                renewed = await self._renew(keys=[self.key], args=[self.shared.replica, int(self.seconds * 1000)])
                failures = 0
            except Exception as exc:  # Redis unreachable for a moment: the lease may still be ours
                failures += 1
                log.warning("could not renew the %s lease (%s)", self.name, type(exc).__name__)
                renewed = failures < 3
            if not renewed:
                log.warning("the %s lease went to another replica", self.name)
                self.lost.set()
                return

    async def release(self) -> None:
        if self._renewer is not None:
            await _end(self._renewer, self._stop)
            self._renewer = None
        with contextlib.suppress(Exception):
            await self._release(keys=[self.key], args=[self.shared.replica])


# ---------------------------------------------------------------------------------- reload broadcast
class KBBroadcast:
    """A reloaded knowledge base, published for every replica: the KB file under its fingerprint, and a
    message naming it on a pub/sub channel. `listen(adopt)` calls `adopt(fingerprint, data)` for each
    knowledge base another replica published (and, at start, for the latest one when it differs)."""

    def __init__(self, shared: SharedState):
        self.shared = shared
        self.channel = shared.key("kb", "reloaded")
        self.latest_key = shared.key("kb", "latest")

    async def publish(self, fingerprint: str, data: bytes) -> int:
        """Store the KB file and announce it; returns how many replicas were listening."""
        async with self.shared.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.shared.key("kb", "file", fingerprint), data, px=KB_SECONDS * 1000)
            pipe.set(self.latest_key, fingerprint, px=KB_SECONDS * 1000)
            await pipe.execute()
        message = json.dumps({"fingerprint": fingerprint, "from": self.shared.replica})
        return int(await self.shared.redis.publish(self.channel, message))

    async def fetch(self, fingerprint: str) -> bytes | None:
        return await self.shared.redis.get(self.shared.key("kb", "file", fingerprint))

    async def latest(self) -> str | None:
        value = await self.shared.redis.get(self.latest_key)
        return value.decode() if value else None

    async def listen(self, adopt: Callable[[str, bytes], Awaitable[None]], ready: asyncio.Event | None = None) -> None:
        """Run until cancelled: adopt what other replicas publish. Reconnects after a lost connection."""
        while True:
            try:
                pubsub = self.shared.redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                if ready is not None:
                    ready.set()
                try:
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            note = json.loads(message["data"])
                        except ValueError:
                            continue
                        if note.get("from") == self.shared.replica:
                            continue
                        await self._adopt(adopt, note.get("fingerprint", ""))
                finally:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reload broadcast: lost the Redis subscription (%s); subscribing again",
                            type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _adopt(self, adopt, fingerprint: str) -> None:
        data = await self.fetch(fingerprint) if fingerprint else None
        if data is None:
            log.error("reload broadcast: knowledge base %s is not in Redis; this replica keeps its own",
                      fingerprint[:12])
            return
        try:
            await adopt(fingerprint, data)
        except Exception:
            log.exception("could not switch to the reloaded knowledge base %s", fingerprint[:12])
