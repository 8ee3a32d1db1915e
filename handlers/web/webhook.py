"""The Telegram webhook: `POST /telegram/<sha256(token)[:16]>`, fed into the PTB Application.

The path is derived from the (secret) token so it cannot be guessed from the public URL, and every
update must carry `X-Telegram-Bot-Api-Secret-Token` (compared in constant time).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import re

from aiohttp import web

from bot.config import Config
from bot.redact import error_type

from .http import MAX_REQUEST_BYTES, json_error, loads_json, read_body

log = logging.getLogger(__name__)

WEBHOOK_SECRET_FORM = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TELEGRAM_RETRY_SECONDS = (5, 15, 30, 60, 120, 300)
TOKEN_HINT = ": Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)"


def _hint(exc: Exception) -> str:
    from telegram.error import InvalidToken  # python-telegram-bot only when a webhook is configured

    return TOKEN_HINT if isinstance(exc, InvalidToken) else ""


def webhook_path(token: str) -> str:
    """The webhook's path: derived from the secret token, so it cannot be guessed from the public URL."""
    return "/telegram/" + hashlib.sha256(token.encode()).hexdigest()[:16]


class TelegramWebhook:
    """The Telegram `Application` fed by webhook POSTs; started with the server, stopped after it."""

    def __init__(self, config: Config, application, allowed_updates: list[str] | None = None, claims=None):
        """`claims`: a bot.shared.UpdateClaims (REDIS_URL): each update is then handled before it is
        acknowledged, once across the replicas."""
        self.config = config
        self.application = application
        self.claims = claims
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
        except Exception as exc:  # Telegram unreachable or the token rejected: the web chat still starts
            log.error("could not register the Telegram webhook (%s); retrying in the background%s", error_type(exc),
                      _hint(exc))
            self._retry = asyncio.create_task(self._keep_trying())

    async def _start_once(self) -> None:
        ptb = self.application
        if not self._started:
            from handlers.telegram.app import start_application

            await start_application(ptb)
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
                log.error("Telegram webhook still not registered (%s)%s", error_type(exc),
                          _hint(exc))

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
        """POST /telegram/<path>: check the secret header, queue the update, answer 200 at once. With replicas
        (REDIS_URL) the update is handled first and 200 answered after its reply went out: Telegram delivers
        again what was not acknowledged (this replica died), and the update's claim makes sure a repeated
        delivery, to any replica, is acknowledged without a second reply."""
        # The header as the bytes that came (aiohttp decodes them as UTF-8 with surrogateescape), so a header
        # that is not UTF-8 is simply a wrong secret.
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self.config.webhook_secret.encode()):
            return json_error(403, "missing or wrong X-Telegram-Bot-Api-Secret-Token")
        if not self.ready:
            return json_error(503, "the Telegram application is not running yet; Telegram will retry",
                              headers={"Retry-After": "5"})
        body = await read_body(request, MAX_REQUEST_BYTES)
        if isinstance(body, web.Response):
            return body
        try:
            data = loads_json(body)
        except ValueError as exc:
            return json_error(400, f"the update is not a JSON object Telegram would send: {exc}")
        if not isinstance(data, dict):
            return json_error(400, "the update must be a JSON object")
        from telegram import Update

        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:
            return json_error(400, f"not a Telegram update: {exc}")
        if self.claims is None:
            await self.application.update_queue.put(update)
            return web.json_response({"ok": True})
        from handlers.telegram.polling import handle_claimed

        try:
            handled = await handle_claimed(self.application, self.claims, update)
        except Exception as exc:
            log.error("update %d was not handled (%s); Telegram will deliver it again", update.update_id,
                      error_type(exc))
            return json_error(500, "the update could not be handled; deliver it again")
        if not handled:
            return json_error(503, "another replica is still handling this update; deliver it again later",
                              headers={"Retry-After": "5"})
        return web.json_response({"ok": True})


def telegram_webhook(config: Config, core, application=None) -> TelegramWebhook | None:
    """The webhook when the token, WEBHOOK_URL and WEBHOOK_SECRET are all set; else None (logged).
    `application` is a prebuilt telegram.ext.Application (tests); by default handlers.telegram.app builds it."""
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
    claims = None
    if core.shared is not None:
        from bot.shared import UpdateClaims

        claims = UpdateClaims(core.shared, config.token.split(":", 1)[0])
    if application is not None:
        return TelegramWebhook(config, application, claims=claims)
    from handlers.telegram.app import ALLOWED_UPDATES, build_application  # python-telegram-bot only when used

    return TelegramWebhook(config, build_application(config, core, polling=False), ALLOWED_UPDATES, claims)

