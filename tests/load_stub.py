"""The Bot API stand-in for load, fault and benchmark runs: Telegram's flood limits, hand-out times, cheap counting.

`LoadStub` is a `BotAPIStub` (tests/botapi_stub.py, unchanged) that adds what load needs:

- **Flood limits** (off unless `flood_limits=True`): Telegram answers 429 with `retry_after` when a bot
  sends more than about 30 messages a second overall or more than about one a second in one chat
  ("short bursts" tolerated). Modelled as two token buckets: `overall_rate`/s holding at most
  `overall_burst`, and `chat_rate`/s per chat holding at most `chat_burst`. Only calls that put a
  message in a chat count (sendMessage, sendPhoto, sendDocument, editMessageText); getUpdates,
  sendChatAction and answerCallbackQuery do not. `retry_after` is the wait rounded up to whole
  seconds, as Telegram sends it. `flood_rejections` counts the 429s given.
- **Hand-out times**: `handed_out[update_id]` is when getUpdates first returned the update (the
  moment the bot got it), for latency measured from there to the reply's arrival.
- **Fault counts**: `faults[(method, kind)]` counts the injected faults by kind ("429", "502", "slow", …).
- **Cheap counting**: every accepted sendMessage is appended to `replies` as a `Reply` as it
  arrives, and `await wait_replies(n)` returns when `n` have arrived. (`BotAPIStub.wait_for`
  rescans every call on every call, which is quadratic at thousands of messages.)

Helpers for an `Application` built against it: `throttle_off` (the raw-pipeline runs) and
`set_timeouts` (short client time-outs so a slow answer becomes a real `TimedOut`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.botapi_stub import BotAPIStub, _Reject

__all__ = ["LoadStub", "Reply", "StubThread", "TokenBucket", "set_timeouts", "throttle_off"]

# Telegram's published guidance: about 30 messages a second overall, about 1 a second per chat.
OVERALL_RATE = 30.0
OVERALL_BURST = 35  # Telegram's "or so": a little slack for arrivals bunched by the network
CHAT_RATE = 1.0
CHAT_BURST = 3  # "we may allow short bursts that go over this limit"

FLOOD_COUNTED = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText")

_slow_fault: contextvars.ContextVar[bool] = contextvars.ContextVar("slow_fault", default=False)


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), now

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0: one is available now). Takes nothing."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


@dataclass
class Reply:
    chat_id: int
    text: str  # the visible text as Telegram would show it
    at: float  # time.monotonic() when the stand-in accepted it
    reply_to: int | None  # message id it replies to, if any
    late: bool = False  # answered only after an injected "slow" delay (the bot may have given up on it)


class LoadStub(BotAPIStub):
    def __init__(self, *, flood_limits: bool = False, overall_rate: float = OVERALL_RATE,
                 overall_burst: float = OVERALL_BURST, chat_rate: float = CHAT_RATE, chat_burst: float = CHAT_BURST,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.flood_limits = flood_limits
        self.overall_rate, self.overall_burst = overall_rate, overall_burst
        self.chat_rate, self.chat_burst = chat_rate, chat_burst
        self._overall: TokenBucket | None = None
        self._per_chat: dict[Any, TokenBucket] = {}
        self.flood_rejections = 0
        self.handed_out: dict[int, float] = {}
        self.replies: list[Reply] = []
        self._reply_waiters: list[tuple[int, asyncio.Future]] = []
        self.faults: Counter[tuple[str, str]] = Counter()

    # ------------------------------------------------------------------ flood limits
    def forced_seconds(self, messages: int, chats: int) -> float:
        """The shortest time the emulated limits allow for `messages` replies spread over `chats` chats."""
        overall = max(0.0, messages - self.overall_burst) / self.overall_rate
        per_chat = max(0.0, math.ceil(messages / max(1, chats)) - self.chat_burst) / self.chat_rate
        return max(overall, per_chat)

    def _flood_check(self, params: dict) -> None:
        if not self.flood_limits:
            return
        now = time.monotonic()
        if self._overall is None:
            self._overall = TokenBucket(self.overall_rate, self.overall_burst, now)
        chat = self._per_chat.setdefault(params.get("chat_id"), TokenBucket(self.chat_rate, self.chat_burst, now))
        wait = max(self._overall.wait(now), chat.wait(now))
        if wait > 0:
            self.flood_rejections += 1
            retry_after = max(1, math.ceil(wait))
            raise _Reject(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        self._overall.take()
        chat.take()

    def _api_sendMessage(self, params: dict, files: dict) -> dict:
        self._flood_check(params)
        message = super()._api_sendMessage(params, files)
        reply_to = (message.get("reply_to_message") or {}).get("message_id")
        self.replies.append(Reply(message["chat"]["id"], message.get("text", ""), time.monotonic(), reply_to,
                                  late=_slow_fault.get()))
        self._wake_reply_waiters()
        return message

    def _api_sendPhoto(self, params: dict, files: dict) -> dict:
        self._flood_check(params)
        return super()._api_sendPhoto(params, files)

    def _api_sendDocument(self, params: dict, files: dict) -> dict:
        self._flood_check(params)
        return super()._api_sendDocument(params, files)

    def _api_editMessageText(self, params: dict, files: dict) -> dict:
        self._flood_check(params)
        return super()._api_editMessageText(params, files)

    async def _fault(self, rule, request) -> None:
        state = self.rng.getstate()  # peek at the kind the stand-in is about to pick, then let it pick it
        kind = self.rng.choice(rule.kinds)
        self.rng.setstate(state)
        self.faults[(request.match_info["method"], kind)] += 1
        if kind == "slow":
            _slow_fault.set(True)  # this request's own context: the handler that answers it sees it
        await super()._fault(rule, request)

    # ------------------------------------------------------------------ hand-out times
    async def _api_getUpdates(self, params: dict, files: dict, transport=None) -> list[dict]:
        updates = await super()._api_getUpdates(params, files, transport)
        now = time.monotonic()
        for update in updates:
            self.handed_out.setdefault(update["update_id"], now)
        return updates

    # ------------------------------------------------------------------ waiting
    def _wake_reply_waiters(self) -> None:
        for count, future in list(self._reply_waiters):
            if len(self.replies) >= count and not future.done():
                future.set_result(None)

    async def wait_replies(self, count: int, timeout: float) -> list[Reply]:
        """Wait until `count` replies (accepted sendMessage calls) have arrived in all; returns them all.
        On time-out returns what arrived (callers assert on the count)."""
        if len(self.replies) < count:
            future = asyncio.get_running_loop().create_future()
            entry = (count, future)
            self._reply_waiters.append(entry)
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                self._reply_waiters.remove(entry)
        return list(self.replies)

    async def wait_replies_progressing(self, count: int, stall: float = 60.0) -> list[Reply]:
        """Wait until `count` replies have arrived, for as long as they keep arriving: give up only when
        none has arrived for `stall` seconds. A slow machine makes this slower, never wrong."""
        seen, since = len(self.replies), time.monotonic()
        while len(self.replies) < count:
            await self.wait_replies(min(count, len(self.replies) + 1), timeout=1.0)
            if len(self.replies) > seen:
                seen, since = len(self.replies), time.monotonic()
            elif time.monotonic() - since > stall:
                break
        return list(self.replies)

    async def quiet(self, seconds: float = 0.5, timeout: float = 30.0) -> None:
        """Wait until no call but long polls has arrived, or is still in flight, for `seconds`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            last, busy = 0.0, False
            for call in reversed(self.calls):
                if call.method == "getUpdates":
                    continue
                busy = busy or call.status is None
                last = max(last, call.at)
                if now - call.at > seconds + 60:  # far enough back: nothing older is still in flight
                    break
            if not busy and now - last >= seconds:
                return
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- a stand-in of its own
class StubThread:
    """Serve a stand-in from its own thread and event loop, as Telegram's servers are not held up by a
    busy bot: a bot whose loop is starved then sees slow answers, and requests it sent still arrive.

    `call(fn, *args)` runs a function that changes the stand-in (push_text, inject, …) on its loop;
    `await run(coroutine_function, *args)` runs one of its waits there. Reading attributes (`replies`,
    `faults`, `token`) goes straight to the stand-in."""

    def __init__(self, stub: BotAPIStub):
        self.stub = stub
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    async def __aenter__(self) -> "StubThread":
        started: concurrent.futures.Future = concurrent.futures.Future()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            try:
                loop.run_until_complete(self.stub.start())
                started.set_result(True)
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                started.set_exception(exc)
                return
            loop.run_forever()
            loop.run_until_complete(self.stub.stop())
            loop.close()
            self._stopped.set()

        self._thread = threading.Thread(target=serve, name="bot-api-stand-in", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(started)
        return self

    async def __aexit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._stopped.wait)

    def call(self, fn, *args, **kwargs):
        async def on_its_loop():
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(on_its_loop(), self.loop).result()

    async def run(self, fn, *args, **kwargs):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop))

    def __getattr__(self, name: str):
        return getattr(self.stub, name)


# ---------------------------------------------------------------------- Application helpers
def throttle_off(application) -> None:
    """Turn off the overall and per-group throttling of the bot's AIORateLimiter, keeping everything
    else (retry on 429 `retry_after`, network retries): the raw pipeline, for runs where the limiter's
    30/s would only make the run longer."""
    limiter = application.bot.rate_limiter
    limiter._base_limiter = None
    limiter._group_max_rate = 0


def set_timeouts(application, *, read: float, write: float | None = None, connect: float | None = None) -> None:
    """Shorter client time-outs for Bot API calls (not getUpdates), set before `initialize()`,
    so an injected slow answer turns into a real `telegram.error.TimedOut` in the bot."""
    import httpx

    request = application.bot.request
    current = request._client.timeout
    timeout = httpx.Timeout(connect=connect if connect is not None else current.connect, read=read,
                            write=write if write is not None else current.write, pool=current.pool)
    request._client_kwargs["timeout"] = timeout
    request._client.timeout = timeout
