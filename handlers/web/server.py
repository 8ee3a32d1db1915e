"""`digibot serve`: one aiohttp server for the web chat, the JSON API, health and the Telegram webhook.

Routes (all answers come from the one `Core`, whose knowledge base an admin may reload):

- `GET /` — the citizens' chat page (static files in handlers/web/static/, no build step, no external assets)
- `GET /stats` — the officials' page: the budget and indicator tables and charts, as /stats and /chart show them
- `POST /api/ask` — `{"q": "...", "session": "optional id"}` → the Answer JSON of DESIGN.md, with `answer_id`
- `POST /api/feedback` — `{"answer_id": "...", "vote": "up" | "down" | null, "session": "..."}`: 👍/👎 on an answer
- `GET /api/examples` — a few questions the bot answers well (the page's first suggestion chips)
- `GET /api/stats/budget`, `GET /api/stats/indicators` — the report's tables as JSON, `?format=csv` for CSV
- `GET /api/stats/chart/budget.png`, `GET /api/stats/chart/indicator/<key>.png` — the /chart PNGs
- `GET /api/stats/query?q=…` — a statistics request in words (a year's per-axis breakdown, sums, changes,
  averages over years, one indicator), read like chat and /stats
- `GET /healthz` — KB version (source hash, build time, counts), uptime and the Telegram mode
- `POST /telegram/<sha256(token)[:16]>` — the Telegram webhook (see webhook.py), only when the token,
  `WEBHOOK_URL` and `WEBHOOK_SECRET` are all set.

Errors are JSON (`{"error": "bad_request", "message": "…"}`) with a 4xx status, never a traceback.
`/api/ask` is rate-limited per client IP (token bucket). The client IP is the socket's peer; set
`DIGIBOT_TRUST_PROXY=1` only behind a reverse proxy that appends the real client to
`X-Forwarded-For` (Heroku, Render, nginx): then the right-most entry is used.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from typing import Callable

from aiohttp import web

from bot.config import Config
from bot.core import Core, open_core
from bot.storage import StorageError

from . import api
from .http import CHARTS, CORE, INFLIGHT, LIMITER, MAX_REQUEST_BYTES, SETTINGS, TELEGRAM, InFlight, RateLimiter, \
    Settings, error_middleware, security_headers
from .webhook import telegram_webhook

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 10.0  # seconds in-flight requests get after SIGTERM (platforms kill after ~30 s)
# Seconds the server goes on reading (and dropping) a body it answered without reading whole (a 408, a 413),
# so the client sees the answer rather than a reset; aiohttp's default is 10 s, a long hold for a slow client.
LINGER_SECONDS = 2.0


def create_app(config: Config, core: Core | None = None, *, clock: Callable[[], float] = time.monotonic,
               telegram_application=None) -> web.Application:
    """The aiohttp application. `core` defaults to one on `config.data_dir` (building the KB first
    when it is missing or stale). The Telegram webhook is added when the config has a token,
    WEBHOOK_URL and WEBHOOK_SECRET; `telegram_application` overrides the Application it feeds
    (default: `handlers.telegram.app.build_application(..., polling=False)`)."""
    if core is None:
        core = Core.open(config.data_dir, config=config)
    inflight = InFlight()
    app = web.Application(middlewares=[inflight.middleware, error_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[INFLIGHT] = inflight
    app[CORE] = core
    if core.shared is not None:  # REDIS_URL: one budget per client across the replicas
        from bot.shared import SharedRateLimiter

        app[LIMITER] = SharedRateLimiter(core.shared, config.ask_rate_per_minute, config.ask_burst, name="web")
    else:
        app[LIMITER] = RateLimiter(config.ask_rate_per_minute, config.ask_burst, clock=clock)
    app[SETTINGS] = Settings(trust_proxy=config.trust_proxy, started=time.monotonic(),
                             header_timeout=config.http_header_timeout, body_timeout=config.http_body_timeout)
    app[CHARTS] = {}
    app.on_response_prepare.append(security_headers)

    app.router.add_get("/", api.index)
    app.router.add_get("/stats", api.stats_page)
    app.router.add_post("/api/ask", api.ask)
    app.router.add_post("/api/feedback", api.feedback)
    app.router.add_get("/api/examples", api.examples)
    app.router.add_get("/api/stats/budget", api.budget)
    app.router.add_get("/api/stats/indicators", api.indicators)
    app.router.add_get("/api/stats/query", api.stats_query)
    app.router.add_get("/api/stats/chart/{kind:budget}.png", api.chart)
    app.router.add_get("/api/stats/chart/{kind:indicator}/{key:[a-z0-9_]+}.png", api.chart)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_static("/static/", api.STATIC_DIR, show_index=False, follow_symlinks=False)

    app.on_startup.append(_start_core)
    telegram = telegram_webhook(config, core, telegram_application)
    app[TELEGRAM] = telegram
    if telegram:
        app.router.add_post(telegram.path, telegram.handle)
        app.on_startup.append(telegram.start)
        app.on_cleanup.append(telegram.stop)
    app.on_cleanup.append(_stop_core)  # after Telegram's queued updates were handled
    return app


async def _start_core(app: web.Application) -> None:
    await app[CORE].start()  # replicas: listen for reloads published by the others


async def _stop_core(app: web.Application) -> None:
    await app[CORE].stop()


def serve(config: Config) -> int:
    """`digibot serve`: build the KB if needed, then serve on 0.0.0.0:$PORT until SIGTERM/SIGINT."""
    core = open_core(config, "serve")
    if core is None:
        return 1
    app = create_app(config, core)
    try:
        asyncio.run(run(app, "0.0.0.0", config.port))
    except (ListenError, StorageError) as exc:
        print(f"digibot serve: {exc}", file=sys.stderr)
        return 1
    finally:
        core.close()
    return 0


class ListenError(RuntimeError):
    pass


def make_runner(app: web.Application, *, shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> web.AppRunner:
    """The runner `run` serves `app` with. Its keep-alive time-out is also how long a new connection may take
    to send its request headers (DIGIBOT_HTTP_HEADER_TIMEOUT): aiohttp closes a connection that holds no
    whole request when it runs out, so a client trickling header bytes holds nothing for long."""
    return web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout,
                         keepalive_timeout=app[SETTINGS].header_timeout, lingering_time=LINGER_SECONDS,
                         access_log_format='"%r" %s %b %Tfs')  # no client IPs in the access log


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

    runner = make_runner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        log.info("serving on %s:%d (telegram: %s) — open http://%s:%d/ in a browser", host, port,
                 "webhook" if app[TELEGRAM] else "disabled", local, port)
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
