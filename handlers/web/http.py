"""HTTP plumbing shared by the web routes: app keys, JSON errors, security headers, body limits,
the per-client rate limit and the in-flight counter that lets shutdown drain."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from bot.config import Config

log = logging.getLogger("handlers.web")

MAX_BODY_BYTES = 16 * 1024  # /api/ask request body
MAX_QUESTION_CHARS = 2000
# The app-wide body limit. Larger than /api/ask's own because a Telegram update that quotes a
# long message (4,096 characters, up to 12 KiB of UTF-8 each) can exceed 16 KiB.
MAX_REQUEST_BYTES = 256 * 1024
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

TEXT_TYPES = ("text/html", "text/css", "application/javascript", "text/javascript", "image/svg+xml")

ERROR_CODES = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "payload_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
    500: "internal_error", 503: "unavailable",
}

# Keys on the Application (typed, so aiohttp does not warn).

# Keys on the Application (typed, so aiohttp does not warn).
CORE = web.AppKey("core", Any)
LIMITER = web.AppKey("limiter", Any)
SETTINGS = web.AppKey("settings", Any)
TELEGRAM = web.AppKey("telegram", Any)
INFLIGHT = web.AppKey("inflight", Any)
CHARTS = web.AppKey("charts", Any)  # PNGs drawn for the officials' page, by (knowledge base, chart)


# ---------------------------------------------------------------------- rate limit
class RateLimiter:
    """Token buckets by client key: `rate` tokens a second, holding at most `burst`."""

    def __init__(self, rate_per_minute: float = Config.ask_rate_per_minute, burst: int = Config.ask_burst,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10000):
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget_idle(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely (they equal a new one); memory stays bounded."""
        full = (self.burst / self.rate)
        for key in [k for k, (_, at) in self._buckets.items() if now - at >= full]:
            del self._buckets[key]
        while len(self._buckets) > self.max_clients:  # still too many: drop the least recently seen
            del self._buckets[min(self._buckets, key=lambda k: self._buckets[k][1])]


class InFlight:
    """Requests inside a handler right now, so shutdown can wait for them (bodies still uploading too)."""

    def __init__(self):
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        self.count += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self.count -= 1
            if not self.count:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


@dataclass(frozen=True)
class Settings:
    trust_proxy: bool
    started: float  # time.monotonic() at app creation, for uptime


# ---------------------------------------------------------------------- errors
def json_error(status: int, message: str, *, headers: dict[str, str] | None = None, **extra) -> web.Response:
    body = {"error": ERROR_CODES.get(status, "error"), "message": message, **extra}
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Every error leaves as JSON with a message a developer understands; never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {}
        if exc.status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.path}; use {' or '.join(allowed)}"
        elif exc.status == 404:
            message = f"no such endpoint: {request.path}"
        elif exc.status == 413:
            message = f"the request body is larger than the server accepts ({MAX_REQUEST_BYTES:,} bytes)"
        else:
            message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(exc.status, message, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "the server failed to handle this request; it has been logged")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    ctype = response.headers.get("Content-Type", "")
    if ctype in TEXT_TYPES:  # static files: say UTF-8 rather than leave it to the browser
        response.headers["Content-Type"] = f"{ctype}; charset=utf-8"
    if request.path.startswith("/api/") or request.path == "/healthz":
        response.headers.setdefault("Cache-Control", "no-store")


def client_key(request: web.Request) -> str:
    """The client for rate limiting: the socket peer, or X-Forwarded-For's last hop when trusted."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"



async def read_body(request: web.Request, limit: int, hint: str = "") -> bytes | web.Response:
    """The body, or a 413 response when it is (or declares itself) larger than `limit`."""
    too_large = json_error(413, f"the body is larger than {limit:,} bytes{hint}", limit_bytes=limit)
    if request.content_length is not None and request.content_length > limit:
        return too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__)

