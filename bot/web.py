"""`digibot serve`: one aiohttp server for the web chat, the JSON API, health and the Telegram webhook.

Routes (all answers come from the one `KnowledgeService.current` Assistant, read per request):

- `GET /` — the citizens' chat page (static files in bot/static/, no build step, no external assets)
- `POST /api/ask` — `{"q": "...", "session": "optional id"}` → the Answer JSON of DESIGN.md
- `GET /api/examples` — a few questions the bot answers well (the page's first suggestion chips)
- `GET /api/stats/budget`, `GET /api/stats/indicators` — the report's tables as JSON, `?format=csv` for CSV
- `GET /healthz` — KB version (source hash, build time, counts), uptime and the Telegram mode
- `POST /telegram/<sha256(token)[:16]>` — the Telegram webhook, only when the token, `WEBHOOK_URL`
  and `WEBHOOK_SECRET` are all set; the path is derived from the (secret) token so it cannot be
  guessed from the public URL, and every update must carry `X-Telegram-Bot-Api-Secret-Token`.

Errors are JSON (`{"error": "bad_request", "message": "…"}`) with a 4xx status, never a traceback.
`/api/ask` is rate-limited per client IP (token bucket). The client IP is the socket's peer; set
`DIGIBOT_TRUST_PROXY=1` only behind a reverse proxy that appends the real client to
`X-Forwarded-For` (Heroku, Render, nginx): then the right-most entry is used.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from intents.normalize import clean_display

from .config import Config
from .session import Session, SessionStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

MAX_BODY_BYTES = 16 * 1024  # /api/ask request body
MAX_QUESTION_CHARS = 2000
# The app-wide body limit. Larger than /api/ask's own because a Telegram update that quotes a
# long message (4,096 characters, up to 12 KiB of UTF-8 each) can exceed 16 KiB.
MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_RATE_PER_MINUTE = 30.0
DEFAULT_BURST = 10
SHUTDOWN_TIMEOUT = 10.0  # seconds in-flight requests get after SIGTERM (platforms kill after ~30 s)
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WEBHOOK_SECRET_FORM = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TELEGRAM_RETRY_SECONDS = (5, 15, 30, 60, 120, 300)

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
SERVICE = web.AppKey("service", Any)
QUERYLOG = web.AppKey("querylog", Any)
SESSIONS = web.AppKey("sessions", SessionStore)
LIMITER = web.AppKey("limiter", Any)
SETTINGS = web.AppKey("settings", Any)
TELEGRAM = web.AppKey("telegram", Any)
INFLIGHT = web.AppKey("inflight", Any)


# ---------------------------------------------------------------------- rate limit
class RateLimiter:
    """Token buckets by client key: `rate` tokens a second, holding at most `burst`."""

    def __init__(self, rate_per_minute: float = DEFAULT_RATE_PER_MINUTE, burst: int = DEFAULT_BURST,
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
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def _dumps(data) -> str:
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


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
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


# ---------------------------------------------------------------------- handlers
async def index(request: web.Request) -> web.StreamResponse:
    """The chat page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def ask(request: web.Request) -> web.Response:
    """POST /api/ask: one question in, the Answer JSON out."""
    wait = request.app[LIMITER].acquire(client_key(request))
    if wait > 0:
        retry = max(1, math.ceil(wait))
        return json_error(429, f"too many questions from this client; retry in {retry} s",
                          headers={"Retry-After": str(retry)}, retry_after=retry)
    body = await _read_body(request, MAX_BODY_BYTES,
                            f"; questions are limited to {MAX_QUESTION_CHARS:,} characters")
    if isinstance(body, web.Response):
        return body
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return json_error(400, "the body must be UTF-8 encoded JSON")
    except json.JSONDecodeError as exc:
        return json_error(400, f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                               'send {"q": "your question"}')
    except RecursionError:
        return json_error(400, 'the body nests too deeply to be a question; send {"q": "your question"}')
    if not isinstance(data, dict):
        return json_error(400, 'the body must be a JSON object like {"q": "your question"}')
    if "q" not in data:
        return json_error(400, 'missing "q": send {"q": "your question", "session": "optional id"}')
    question = data["q"]
    if not isinstance(question, str):
        return json_error(400, f'"q" must be a string, got {_json_type(question)}')
    if len(question) > MAX_QUESTION_CHARS:
        return json_error(400, f'"q" is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}',
                          limit=MAX_QUESTION_CHARS)
    question = clean_display(question)[0]  # what is logged: no control characters or lone surrogates
    session_id = data.get("session")
    if session_id is not None:
        if not isinstance(session_id, str):
            return json_error(400, f'"session" must be a string, got {_json_type(session_id)}')
        if not SESSION_ID.match(session_id):
            return json_error(400, '"session" must be 1–64 characters of letters, digits, "-" or "_" '
                                   "(a UUID works)")
    session = request.app[SESSIONS].get(session_id) if session_id else Session()

    started = time.perf_counter()
    answer = request.app[SERVICE].current.ask(question, session)
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        request.app[QUERYLOG].record(user_id=session_id, chat_type="web", question=question, intent=answer.intent,
                                     answered=answer.answered, confidence=answer.confidence,
                                     latency_ms=latency_ms)
    except Exception:  # the answer matters more than its log line
        log.exception("could not record the query")
    return web.json_response(answer.to_dict(), dumps=_dumps)


async def examples(request: web.Request) -> web.Response:
    """GET /api/examples: questions for the page's first suggestion chips."""
    try:
        n = int(request.query.get("n", "4"))
    except ValueError:
        return json_error(400, '"n" must be a whole number between 1 and 10')
    if not 1 <= n <= 10:
        return json_error(400, '"n" must be a whole number between 1 and 10')
    return web.json_response({"examples": request.app[SERVICE].current.example_questions(n)}, dumps=_dumps)


def _stats(table_fn: Callable, csv_fn: Callable, filename: str):
    async def handler(request: web.Request) -> web.Response:
        """GET /api/stats/…: a report table as JSON, or CSV with ?format=csv."""
        fmt = request.query.get("format", "json").lower()
        kb = request.app[SERVICE].kb
        if fmt == "json":
            return web.json_response(table_fn(kb), dumps=_dumps)
        if fmt == "csv":
            # A byte-order mark so Excel opens the Chinese text as UTF-8.
            return web.Response(
                body=("\ufeff" + csv_fn(kb)).encode("utf-8"),
                headers={"Content-Type": "text/csv; charset=utf-8",
                         "Content-Disposition": f'attachment; filename="{filename}"'})
        return json_error(400, f"unknown format {fmt!r}; use format=json (default) or format=csv")
    return handler


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: alive, which KB is serving, for how long, and the Telegram mode."""
    service = request.app[SERVICE]
    kb = service.kb  # once: an admin reload may swap it while we read
    telegram = request.app[TELEGRAM]
    body = {
        "status": "ok",
        "kb": {"source_sha256": kb.meta.get("source_sha256"), "built_at": kb.meta.get("built_at"),
               "counts": kb.counts},
        "kb_loaded_at": _iso(service.loaded_at),
        "uptime_seconds": round(time.monotonic() - request.app[SETTINGS].started, 3),
        "telegram": "webhook" if telegram else "disabled",
    }
    if telegram:
        body["telegram_ready"] = telegram.ready
    return web.json_response(body, dumps=_dumps)


async def _read_body(request: web.Request, limit: int, hint: str = "") -> bytes | web.Response:
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


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------- Telegram webhook
def webhook_path(token: str) -> str:
    """The webhook's path: derived from the secret token, so it cannot be guessed from the public URL."""
    return "/telegram/" + hashlib.sha256(token.encode()).hexdigest()[:16]


class TelegramWebhook:
    """The Telegram `Application` fed by webhook POSTs; started with the server, stopped after it."""

    def __init__(self, config: Config, application, allowed_updates: list[str] | None = None):
        self.config = config
        self.application = application
        self.allowed_updates = allowed_updates
        self.path = webhook_path(config.token)
        self.url = config.webhook_url.rstrip("/") + self.path
        self.ready = False
        self._started = False
        self._retry: asyncio.Task | None = None

    async def start(self, app: web.Application) -> None:
        """on_startup: start the Application and register the webhook; retry in the background on failure."""
        try:
            await self._start_once()
        except Exception as exc:  # Telegram unreachable: the web chat still starts
            log.error("could not register the Telegram webhook (%s); retrying in the background", exc)
            self._retry = asyncio.create_task(self._keep_trying())

    async def _start_once(self) -> None:
        ptb = self.application
        if not self._started:
            await ptb.initialize()
            if ptb.post_init and not getattr(ptb, "initialize_runs_post_init", False):
                await ptb.post_init(ptb)
            await ptb.start()
            self._started = True
        await ptb.bot.set_webhook(url=self.url, secret_token=self.config.webhook_secret,
                                  allowed_updates=self.allowed_updates)
        self.ready = True
        log.info("Telegram webhook registered at %s", self.config.webhook_url.rstrip("/") + "/telegram/…")

    async def _keep_trying(self) -> None:
        for attempt in itertools.count():
            await asyncio.sleep(TELEGRAM_RETRY_SECONDS[min(attempt, len(TELEGRAM_RETRY_SECONDS) - 1)])
            try:
                await self._start_once()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("Telegram webhook still not registered: %s", exc)

    async def stop(self, app: web.Application) -> None:
        """on_cleanup (after in-flight requests finished): process queued updates, then shut down."""
        if self._retry:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)
        if not self._started:
            return
        ptb = self.application
        self.ready = False
        try:
            if ptb.running:
                await ptb.stop()
            if ptb.post_stop:
                await ptb.post_stop(ptb)
            await ptb.shutdown()
            if ptb.post_shutdown:
                await ptb.post_shutdown(ptb)
        except Exception:
            log.exception("the Telegram application did not shut down cleanly")

    async def handle(self, request: web.Request) -> web.Response:
        """POST /telegram/<path>: check the secret header, queue the update, answer 200 at once."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.config.webhook_secret.encode()):
            return json_error(403, "missing or wrong X-Telegram-Bot-Api-Secret-Token")
        if not self.ready:
            return json_error(503, "the Telegram application is not running yet; Telegram will retry",
                              headers={"Retry-After": "5"})
        body = await _read_body(request, MAX_REQUEST_BYTES)
        if isinstance(body, web.Response):
            return body
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return json_error(400, "the update is not valid UTF-8 JSON")
        if not isinstance(data, dict):
            return json_error(400, "the update must be a JSON object")
        from telegram import Update

        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:
            return json_error(400, f"not a Telegram update: {exc}")
        await self.application.update_queue.put(update)
        return web.json_response({"ok": True})


def _telegram(config: Config, service, querylog, application=None) -> TelegramWebhook | None:
    """The webhook when the token, WEBHOOK_URL and WEBHOOK_SECRET are all set; else None (logged).
    `application` is a prebuilt telegram.ext.Application (tests); by default bot.telegram_app builds it."""
    if not config.token:
        return None
    if not config.webhook_url:
        log.warning("TELEGRAM_BOT_TOKEN is set but WEBHOOK_URL is not: serving the web channel only "
                    "(run `digibot run` as a worker for long polling)")
        return None
    if not config.webhook_secret:
        log.warning("WEBHOOK_URL is set but WEBHOOK_SECRET is not: refusing to register a webhook that would "
                    "accept unauthenticated updates; serving the web channel only")
        return None
    if not WEBHOOK_SECRET_FORM.match(config.webhook_secret):
        log.error("WEBHOOK_SECRET must be 1–256 characters of A–Z, a–z, 0–9, _ and - (Telegram's rule); "
                  "not registering the webhook; serving the web channel only")
        return None
    if not config.webhook_url.startswith("https://"):
        log.warning("WEBHOOK_URL %s is not https://; Telegram only delivers webhooks to HTTPS URLs",
                    config.webhook_url)
    if application is not None:
        return TelegramWebhook(config, application)
    from . import telegram_app

    return TelegramWebhook(config, telegram_app.build_application(config, service, querylog, polling=False),
                           getattr(telegram_app, "ALLOWED_UPDATES", None))


# ---------------------------------------------------------------------- app
def create_app(config: Config, service=None, querylog=None, *, rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
               burst: int = DEFAULT_BURST, trust_proxy: bool = False,
               clock: Callable[[], float] = time.monotonic, telegram_application=None) -> web.Application:
    """The aiohttp application. `service` and `querylog` default to ones on `config.data_dir`
    (building the KB first when it is missing or stale). The Telegram webhook is added when the
    config has a token, WEBHOOK_URL and WEBHOOK_SECRET; `telegram_application` overrides the
    Application it feeds (default: `bot.telegram_app.build_application(..., polling=False)`)."""
    if service is None:
        from .service import KnowledgeService

        service = KnowledgeService(config.data_dir)
    if querylog is None:
        from .querylog import QueryLog

        querylog = QueryLog(config.data_dir)
    inflight = InFlight()
    app = web.Application(middlewares=[inflight.middleware, error_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[INFLIGHT] = inflight
    app[SERVICE] = service
    app[QUERYLOG] = querylog
    app[SESSIONS] = SessionStore()
    app[LIMITER] = RateLimiter(rate_per_minute, burst, clock=clock)
    app[SETTINGS] = Settings(trust_proxy=trust_proxy, started=time.monotonic())
    app.on_response_prepare.append(_security_headers)

    from .tables import budget_csv, budget_table, indicator_csv, indicator_table

    app.router.add_get("/", index)
    app.router.add_post("/api/ask", ask)
    app.router.add_get("/api/examples", examples)
    app.router.add_get("/api/stats/budget", _stats(budget_table, budget_csv, "digi-plus-budget.csv"))
    app.router.add_get("/api/stats/indicators", _stats(indicator_table, indicator_csv, "digi-plus-indicators.csv"))
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)

    telegram = _telegram(config, service, querylog, telegram_application)
    app[TELEGRAM] = telegram
    if telegram:
        app.router.add_post(telegram.path, telegram.handle)
        app.on_startup.append(telegram.start)
        app.on_cleanup.append(telegram.stop)
    return app


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    value = float(text)  # ValueError is reported by serve()
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return value


def serve(config: Config) -> int:
    """`digibot serve`: build the KB if needed, then serve on 0.0.0.0:$PORT until SIGTERM/SIGINT."""
    from .querylog import QueryLog
    from .service import open_service

    try:
        rate = _number("DIGIBOT_ASK_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE)
        burst = int(_number("DIGIBOT_ASK_BURST", DEFAULT_BURST))
    except ValueError as exc:
        print(f"digibot serve: {exc}", file=sys.stderr)
        return 2
    service = open_service(config.data_dir, "serve")
    if service is None:
        return 1
    app = create_app(config, service, QueryLog(config.data_dir), rate_per_minute=rate, burst=max(1, burst),
                     trust_proxy=_flag("DIGIBOT_TRUST_PROXY"))
    try:
        asyncio.run(run(app, "0.0.0.0", config.port))
    except ListenError as exc:
        print(f"digibot serve: {exc}", file=sys.stderr)
        return 1
    return 0


class ListenError(RuntimeError):
    pass


async def run(app: web.Application, host: str, port: int, *, shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """Serve until SIGTERM or SIGINT, then drain: stop accepting connections, let the requests in
    flight finish (up to `shutdown_timeout`; a second signal cuts it short), stop Telegram, exit.

    aiohttp's own run_app stops reading from connections as soon as shutdown starts, so a request
    whose body is still arriving would hang until the timeout; this waits for it instead.
    """
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal(name: str) -> None:
        if stop.is_set():
            log.warning("%s again: stopping without waiting", name)
            hurry.set()
        else:
            log.info("%s received: finishing %d request(s) in flight, then stopping", name, app[INFLIGHT].count)
            stop.set()

    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout,
                           access_log_format='"%r" %s %b %Tfs')  # no client IPs in the access log
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
        log.info("serving on http://%s:%d (telegram: %s)", host, port, "webhook" if app[TELEGRAM] else "disabled")
        await stop.wait()
        await site.stop()  # no new connections
        drained = asyncio.ensure_future(app[INFLIGHT].wait_idle(shutdown_timeout))
        hurried = asyncio.ensure_future(hurry.wait())
        await asyncio.wait({drained, hurried}, return_when=asyncio.FIRST_COMPLETED)
        hurried.cancel()
        if not (drained.done() and drained.result()):
            drained.cancel()
            log.warning("%d request(s) still in flight; closing them", app[INFLIGHT].count)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # on_shutdown, close connections, on_cleanup (Telegram stops here)
    log.info("server stopped")
