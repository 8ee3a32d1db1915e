"""The error handler: log what went wrong with its context, and tell the user.

- A bug: logged with its traceback; the user is told sorry (SORRY).
- A reply that could not be sent (the Bot API unreachable, 5xx or 429 after every retry of
  `RetryingRateLimiter`): logged, and the user is told once that the answer was lost (UNDELIVERED),
  as soon as the bot can reach them again — never silently dropped.
- A reply that timed out after it was sent (`PossiblyDelivered`): it may be in the chat, so it is
  counted and logged by the rate limiter and nothing more is said.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.redact import error_type

from . import common

log = logging.getLogger(__name__)

SORRY = "抱歉，處理您的訊息時發生錯誤 🙇 請稍後再試一次，或換個方式提問。"
UNDELIVERED = "抱歉，剛才的回覆因為連線問題沒能送出 🙇 請再傳一次您的問題。"


def describe(update: object, context: ContextTypes.DEFAULT_TYPE) -> str:
    """What the failing update was, without raw ids, names or message text."""
    if not isinstance(update, Update):
        return "no update" if update is None else type(update).__name__
    kind = next((k for k in ("message", "edited_message", "callback_query", "my_chat_member", "channel_post")
                 if getattr(update, k, None) is not None), "other")
    chat = update.effective_chat
    message = update.effective_message
    parts = [f"update {update.update_id}", kind, f"chat type {chat.type if chat else '-'}",
             f"user {common.who(context, update)}"]
    if message is not None and message.text:
        command = message.text.split()[0] if message.text.startswith("/") else None
        parts.append(f"command {command}" if command else f"text of {len(message.text)} chars")
    if update.callback_query is not None and update.callback_query.data:
        parts.append(f"button {update.callback_query.data.split(':', 1)[0]}")
    return ", ".join(parts)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error with context and, when there is a chat, tell the user what happened."""
    from .app import PossiblyDelivered  # app.py wires this module in

    error = context.error
    if update is None and isinstance(error, NetworkError):
        # Polling hiccups: python-telegram-bot retries getUpdates by itself.
        log.warning("network error talking to the Bot API (retrying): %s", error_type(error))
        return
    if isinstance(error, PossiblyDelivered):
        return  # counted and logged where it happened; the reply may well be in the chat
    if isinstance(error, Forbidden):
        log.info("could not reach %s: the bot was blocked or removed (%s)", describe(update, context),
                 error_type(error))
        return  # nobody to tell
    if isinstance(error, (NetworkError, RetryAfter)) and not isinstance(error, BadRequest):
        # TimedOut is a NetworkError; so is BadRequest in python-telegram-bot, but that one is our bug.
        log.error("a reply to %s could not be sent after every retry (%s); the user will be told",
                  describe(update, context), error_type(error))
        tell_undelivered(update, context)
        return
    log.error("error while handling %s: %s", describe(update, context), error_type(error), exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(SORRY[:200])
            return
        except BadRequest:
            pass  # the query expired: say it in the chat instead
        except TelegramError:
            return
    try:
        await context.bot.send_message(update.effective_chat.id, SORRY)
    except TelegramError as exc:
        log.warning("could not tell the user about the error (%s)", error_type(exc))


def tell_undelivered(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tell the chat, once, that a reply was lost. In the background (the rate limiter's own retries wait
    out the outage); while one notice to a chat is on its way, further losses in that chat add none."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    chat_id = update.effective_chat.id
    pending: set[int] = context.bot_data.setdefault("undelivered", set())
    if chat_id in pending:
        return
    pending.add(chat_id)

    async def tell() -> None:
        try:
            await context.bot.send_message(chat_id, UNDELIVERED)
            log.info("told %s that a reply was lost", describe(update, context))
        except (TelegramError, TimedOut) as exc:
            log.error("could not tell %s that a reply was lost either (%s)", describe(update, context),
                      error_type(exc))
        finally:
            pending.discard(chat_id)

    context.application.create_task(tell(), update=update, name=f"undelivered:{update.update_id}")
