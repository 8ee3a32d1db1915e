"""The Telegram channel: one python-telegram-bot `Application` wired to the answering core.

`build_application` only wires: services into `bot_data`, handlers from `handlers/`, the error
handler, a rate limiter that honours flood limits and 429 `retry_after` and retries network
errors, and start-up work (`setMyCommands`). `digibot run` drives it with long polling
(`run_polling`); `digibot serve` builds it with `polling=False` and feeds webhook updates in (handlers/web/webhook.py).

Updates from different chats are handled concurrently; updates from one chat strictly in order
(a follow-up must see the context its previous question left). /reload runs in the background
so questions keep being answered while the knowledge base is rebuilt.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import sys

import httpx
from telegram import Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, BaseUpdateProcessor,
                          CallbackQueryHandler, ChatMemberHandler, CommandHandler, InlineQueryHandler, MessageHandler,
                          filters)

from bot.config import Config
from bot.core import Core, open_core
from bot.ratelimit import RateLimiter
from bot.redact import error_type
from bot.shared import CURRENT_UPDATE

from . import admin, citizen, errors, feedback, inline, menu, stats, teach
from .render import ButtonStore

log = logging.getLogger(__name__)

# Update kinds the bot asks Telegram for (also what a webhook should be registered with).
KNOWN_COMMAND = (r"^/(?:start|help|about|stats|chart|export|usage|unanswered|taught|untaught|reload)"
                 r"(?:@\w+)?(?:\s|$)")
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY,
                   Update.MY_CHAT_MEMBER]

class PossiblyDelivered(TimedOut):
    """A request timed out after it was sent: Telegram may have carried it out (a message may be in the
    chat), so it is not repeated and the user is not told it failed."""

    def __init__(self, endpoint: str):
        super().__init__(f"{endpoint} timed out after it was sent; it may have been delivered")
        self.endpoint = endpoint


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (Telegram's flood limits; waits out 429 `retry_after` and retries) that also
    retries network failures: connection errors and 5xx always; a time-out when the request never
    left (no free connection, no connection made, the body not written), and any time-out of a
    request that is safe to repeat. A sendMessage whose answer timed out may have been delivered: it
    is counted and logged, never sent twice."""

    IDEMPOTENT = frozenset({"getMe", "sendChatAction", "answerCallbackQuery", "editMessageText",
                            "editMessageReplyMarkup", "setMyCommands", "deleteMyCommands", "getMyCommands",
                            "deleteWebhook", "setWebhook", "getWebhookInfo", "answerInlineQuery"})
    NOT_SENT = (httpx.PoolTimeout, httpx.ConnectTimeout, httpx.WriteTimeout)

    __slots__ = ("_backoff", "_network_retries", "possibly_delivered")

    # Five tries after the first for network failures as for 429s (backoff 0.5 s … 8 s): with one call
    # in ten failing, three retries still lost a reply every few dozen runs of the fault test.
    def __init__(self, *, network_retries: int = 5, backoff: float = 0.5, max_retries: int = 5, **kwargs):
        super().__init__(max_retries=max_retries, **kwargs)
        self._network_retries = network_retries
        self._backoff = backoff
        self.possibly_delivered = 0  # requests whose answer timed out after they were sent

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        overall = self._base_limiter  # None when the overall limit is switched off
        if endpoint == "sendChatAction" and overall is not None and not overall.has_capacity():
            # "typing…" is a courtesy: under the flood limit it would take a reply's place.
            return True
        attempt = 0
        while True:
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except BadRequest:
                raise
            except TimedOut as exc:
                never_sent = isinstance(exc.__cause__, self.NOT_SENT)
                if not never_sent and endpoint not in self.IDEMPOTENT:
                    self.possibly_delivered += 1
                    log.warning("%s timed out after it was sent; it may have been delivered, so it is not "
                                "repeated (%d so far)", endpoint, self.possibly_delivered)
                    raise PossiblyDelivered(endpoint) from exc
                if attempt >= self._network_retries:
                    raise
            except NetworkError:
                if attempt >= self._network_retries:
                    raise
            attempt += 1
            delay = self._backoff * 2 ** (attempt - 1)
            log.info("%s failed with a network error; retry %d in %.1fs", endpoint, attempt, delay)
            await asyncio.sleep(delay)


_REQUEST: contextvars.ContextVar[tuple[str, object]] = contextvars.ContextVar("bot_api_request", default=("", None))


class SharedFloodLimiter(RetryingRateLimiter):
    """RetryingRateLimiter (429s waited out, network errors retried, nothing possibly delivered repeated) whose
    throttle is the replicas' shared flood budget in Redis (bot/shared.FloodBudget) instead of this process's
    own: 30 messages a second for the token, 1 a second per chat, 20 a minute per group, over all replicas,
    and a 429's retry_after holds them all. The "typing…" action goes only when the budget has room now."""

    __slots__ = ("_budget",)

    def __init__(self, budget, **kwargs):
        super().__init__(overall_max_rate=0, group_max_rate=0, **kwargs)  # the shared budget throttles
        self._budget = budget

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        chat_id = data.get("chat_id")
        if endpoint == "sendChatAction" and not await self._budget.room(chat_id):
            return True  # a courtesy: under the flood limit it would take a reply's place
        token = _REQUEST.set((endpoint, chat_id))
        try:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        finally:
            _REQUEST.reset(token)

    async def _run_request(self, chat, group, allow_paid_broadcast, callback, args, kwargs):
        endpoint, chat_id = _REQUEST.get()
        await self._retry_after_event.wait()
        if not chat or endpoint == "sendChatAction":
            return await self._call(callback, args, kwargs)
        async with self._budget.slot(chat_id):  # the send is dated when it went out
            return await self._call(callback, args, kwargs)

    async def _call(self, callback, args, kwargs):
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            await self._budget.pause(exc._retry_after.total_seconds())  # every replica waits it out
            raise


MESSAGE_METHODS = ("sendmessage", "sendphoto", "senddocument")  # a reply's messages (lower case, as in URLs)


class MarkingTransport(httpx.AsyncHTTPTransport):
    """With replicas: the moment a reply's first message has been written to Telegram (the request's last byte
    handed to the kernel, which delivers it even if this process is killed next), the update it answers is
    marked answered in Redis (bot/shared.UpdateClaims.answering_now) from httpcore's trace hook, blocking, with
    no await in between. A replica killed before that has not replied (part of a request is no request); one
    killed after it has marked the update, and a retried delivery does not reply again. Only a kill during
    that one Redis round trip (well under a millisecond) could still double a reply."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        in_hand = CURRENT_UPDATE.get()
        if in_hand is not None and not in_hand.answered \
                and request.url.path.rsplit("/", 1)[-1].lower() in MESSAGE_METHODS:
            outer = request.extensions.get("trace")

            async def trace(name: str, info: dict) -> None:
                if name.endswith("send_request_body.complete"):
                    in_hand.sending()
                if outer is not None:
                    await outer(name, info)

            request.extensions = {**request.extensions, "trace": trace}
        return await super().handle_async_request(request)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Process updates of different chats concurrently and each chat's updates in arrival order."""

    __slots__ = ("_chats",)

    def __init__(self, max_concurrent_updates: int = 64):
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, list] = {}  # chat id → [lock, updates holding or waiting for it]

    async def process_update(self, update, coroutine) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await super().process_update(update, coroutine)
            return
        entry = self._chats.setdefault(chat.id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:  # taken before a concurrency slot, so waiting costs no slot
                await super().process_update(update, coroutine)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._chats.pop(chat.id, None)

    async def do_process_update(self, update, coroutine) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def post_init(application: Application) -> None:
    """Start-up work: register the command menu (Chinese descriptions). `run_polling` calls it once
    after initialising; the webhook server does the same through `start_application`."""
    log.info("Telegram bot @%s ready", application.bot.username)
    await menu.set_default_menu(application)


async def start_application(application: Application) -> None:
    """Drive an Application by hand (webhook mode, tests) the way run_polling does: initialise, run
    post_init once, start processing updates."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()


def _file_url(api_base_url: str) -> str:
    if api_base_url.rstrip("/").endswith("/bot"):
        return api_base_url.rstrip("/")[: -len("bot")] + "file/bot"
    return "https://api.telegram.org/file/bot"


def build_application(config: Config, core: Core, *, polling: bool = True) -> Application:
    """A fully wired Application; with `polling=False` it has no Updater (webhook use)."""
    if not config.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    shared = core.shared  # REDIS_URL: the replicas share the flood budget, buttons and per-user limits
    if shared is not None:
        from bot.shared import FloodBudget

        rate_limiter = SharedFloodLimiter(FloodBudget(shared, config.token.split(":", 1)[0]))
    else:
        rate_limiter = RetryingRateLimiter()
    builder = (ApplicationBuilder()
               .token(config.token)
               .base_url(config.api_base_url)
               .base_file_url(_file_url(config.api_base_url))
               .rate_limiter(rate_limiter)
               .concurrent_updates(PerChatUpdateProcessor())
               .post_init(post_init))
    if shared is not None:  # replies mark their update answered as they are written (MarkingTransport)
        from telegram.request import HTTPXRequest

        builder = builder.request(HTTPXRequest(
            connect_timeout=10, read_timeout=15, write_timeout=30, pool_timeout=10,
            httpx_kwargs={"transport": MarkingTransport(limits=httpx.Limits(max_connections=256))}))
    else:
        builder = builder.connect_timeout(10).read_timeout(15).write_timeout(30).pool_timeout(10)
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    if shared is not None:
        from bot.shared import SharedButtons, SharedRateLimiter

        buttons = SharedButtons(shared, ButtonStore())
        limiter = SharedRateLimiter(shared, config.ask_rate_per_minute, config.ask_burst, name="telegram")
    else:
        buttons, limiter = ButtonStore(), RateLimiter(config.ask_rate_per_minute, config.ask_burst)
    application.bot_data.update(core=core, config=config, buttons=buttons, limiter=limiter)
    _add_handlers(application)
    return application


def _add_handlers(application: Application) -> None:
    new = filters.UpdateType.MESSAGE
    messages = filters.UpdateType.MESSAGES  # new and edited: an edited question is answered again
    addressed = citizen.ADDRESSED
    application.add_handlers([
        CommandHandler("start", citizen.start, filters=new),
        CommandHandler("help", citizen.help_command, filters=messages),
        CommandHandler("about", citizen.about, filters=messages),
        CommandHandler("stats", stats.stats, filters=messages),
        CommandHandler("chart", stats.chart, filters=new),
        CommandHandler("export", stats.export, filters=new),
        CommandHandler("usage", admin.usage, filters=messages),
        CommandHandler("unanswered", teach.unanswered, filters=new),
        CommandHandler("taught", teach.taught, filters=messages),
        CommandHandler("untaught", teach.untaught, filters=new),
        CommandHandler("reload", admin.reload, filters=new, block=False),  # rebuilds in the background
        # Only commands the bot does not know: an edited /start or /export is not "unknown", just not re-run.
        MessageHandler(filters.COMMAND & messages & ~filters.Regex(re.compile(KNOWN_COMMAND, re.IGNORECASE)),
                       citizen.unknown_command),
        MessageHandler(filters.TEXT & ~filters.COMMAND & messages & addressed, citizen.question),
        MessageHandler(new & addressed & ~filters.TEXT & ~filters.StatusUpdate.ALL, citizen.not_text),
        CallbackQueryHandler(citizen.suggestion_pressed, pattern=r"^q:"),
        CallbackQueryHandler(citizen.source_pressed, pattern=r"^src:"),
        CallbackQueryHandler(stats.menu_pressed, pattern=r"^st:"),
        CallbackQueryHandler(stats.chart_pressed, pattern=r"^ch:"),
        CallbackQueryHandler(stats.export_pressed, pattern=r"^ex:"),
        CallbackQueryHandler(feedback.feedback_pressed, pattern=r"^fb:"),
        CallbackQueryHandler(teach.teach_pressed, pattern=r"^tq:"),
        InlineQueryHandler(inline.inline_query),
        CallbackQueryHandler(citizen.stale_button),
        ChatMemberHandler(citizen.added_to_group, ChatMemberHandler.MY_CHAT_MEMBER),
    ])
    application.add_error_handler(errors.on_error)


def run_polling(config: Config) -> int:
    """`digibot run`: long polling until SIGINT/SIGTERM; returns the exit code."""
    if not config.token:
        print("digibot run: set TELEGRAM_BOT_TOKEN to the bot's token (from @BotFather) to run the Telegram bot",
              file=sys.stderr)
        return 2
    core = open_core(config, "run")
    if core is None:
        return 1
    if core.shared is not None:  # REDIS_URL: several `digibot run` replicas, one polling at a time
        from .polling import run_with_lease

        try:
            return run_with_lease(config, core, build_application(config, core, polling=False))
        finally:
            core.close()
    application = build_application(config, core)
    try:
        # PTB retries getUpdates on network errors and stops cleanly on SIGINT, SIGTERM and SIGABRT.
        application.run_polling(allowed_updates=ALLOWED_UPDATES, bootstrap_retries=3)
    except InvalidToken:
        print("digibot run: Telegram rejected TELEGRAM_BOT_TOKEN; check the token from @BotFather",
              file=sys.stderr)
        return 1
    except (NetworkError, Forbidden) as exc:
        print(f"digibot run: cannot reach the Telegram Bot API at {config.api_base_url} ({error_type(exc)})",
              file=sys.stderr)
        return 1
    finally:
        core.close()
    return 0
