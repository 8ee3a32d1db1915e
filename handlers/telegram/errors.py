"""The error handler: log what went wrong with its context, and tell the user."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from . import common

log = logging.getLogger(__name__)

SORRY = "抱歉，處理您的訊息時發生錯誤 🙇 請稍後再試一次，或換個方式提問。"


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
    """Log the error with context and, when there is a chat, say sorry there."""
    error = context.error
    if update is None and isinstance(error, NetworkError):
        # Polling hiccups: python-telegram-bot retries getUpdates by itself.
        log.warning("network error talking to the Bot API (retrying): %s", error)
        return
    log.error("error while handling %s: %s", describe(update, context), error, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if isinstance(error, Forbidden):
        return  # blocked by the user or removed from the group: nobody to tell
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(SORRY[:200])
            return
        except BadRequest:
            pass  # the query expired: say it in the chat instead
        except TelegramError:
            return
    if isinstance(error, (RetryAfter, TimedOut)):
        return  # telling the user would run into the same wall
    try:
        await context.bot.send_message(update.effective_chat.id, SORRY)
    except TelegramError as exc:
        log.warning("could not tell the user about the error: %s", exc)
