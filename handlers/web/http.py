"""HTTP plumbing shared by the web routes: app keys, JSON errors, security headers, body limits,
the per-client rate limit and the in-flight counter that lets shutdown drain."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp.web_response
from aiohttp import web

from bot.config import Config
from bot.ratelimit import RateLimiter  # noqa: F401 - the web channel's limiter (tests import it from here)

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
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
    413: "payload_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
    500: "internal_error", 503: "unavailable",
}

SERVER_NAME = "digibot"  # the Server header: no Python or aiohttp version for a scanner to match
# security_headers sets it on the app's responses; aiohttp's own answers to requests it cannot parse (a 400
# before any route runs) take this module default, which otherwise names both versions.
aiohttp.web_response.SERVER_SOFTWARE = SERVER_NAME

# Keys on the Application (typed, so aiohttp does not warn).
CORE = web.AppKey("core", Any)
LIMITER = web.AppKey("limiter", Any)
SETTINGS = web.AppKey("settings", Any)
TELEGRAM = web.AppKey("telegram", Any)
INFLIGHT = web.AppKey("inflight", Any)
CHARTS = web.AppKey("charts", Any)  # PNGs drawn for the officials' page, by (knowledge base, chart)


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
    header_timeout: float = Config.http_header_timeout  # seconds to send the headers (the server's keep-alive)
    body_timeout: float = Config.http_body_timeout  # seconds to send a body


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
    response.headers["Server"] = SERVER_NAME
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    ctype = response.headers.get("Content-Type", "")
    if ctype in TEXT_TYPES:  # static files: say UTF-8 rather than leave it to the browser
        response.headers["Content-Type"] = f"{ctype}; charset=utf-8"
    if request.path.startswith("/api/") or request.path == "/healthz":
        response.headers.setdefault("Cache-Control", "no-store")


def client_key(request: web.Request) -> str:
    """The client for rate limiting: the socket peer, or X-Forwarded-For's last hop when trusted. Several
    X-Forwarded-For lines are one list (RFC 9110): a client's own line comes first and the proxy's last."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"



async def read_body(request: web.Request, limit: int, hint: str = "") -> bytes | web.Response:
    """The body, or a 413 response when it is (or declares itself) larger than `limit`, or a 408 when it
    does not arrive whole within the body time-out (a client trickling bytes holds nothing for long)."""
    too_large = json_error(413, f"the body is larger than {limit:,} bytes{hint}", limit_bytes=limit)
    if request.content_length is not None and request.content_length > limit:
        return too_large
    timeout = request.app[SETTINGS].body_timeout
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    return too_large
                chunks.append(chunk)
    except TimeoutError:
        log.info("%s %s: the body did not arrive within %g s", request.method, request.path, timeout)
        response = json_error(408, f"the body did not arrive within {timeout:g} seconds",
                              headers={"Connection": "close"})
        response.force_close()
        return response
    return b"".join(chunks)


def loads_json(body: bytes):
    """The body as JSON; ValueError with a message for the client when it is not (not UTF-8, not JSON,
    nested too deeply, or an integer longer than Python converts)."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the body must be UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("the body nests too deeply") from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise ValueError("the body holds a number too long to read") from None


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__)

