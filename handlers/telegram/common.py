"""What every handler module shares: the long-lived services in bot_data and safe sending."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.config import Config
from bot.core import Core
from bot.ratelimit import RateLimiter
from bot.session import Session

from .render import ButtonStore, split_html

log = logging.getLogger("handlers")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def core(context: ContextTypes.DEFAULT_TYPE) -> Core:
    return context.bot_data["core"]


def config(context: ContextTypes.DEFAULT_TYPE) -> Config:
    return context.bot_data["config"]


def buttons(context: ContextTypes.DEFAULT_TYPE) -> ButtonStore:
    return context.bot_data["buttons"]


def limiter(context: ContextTypes.DEFAULT_TYPE) -> RateLimiter:
    return context.bot_data["limiter"]


async def take_turn(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether this user may have another question answered (or chart drawn) now: the same token bucket
    per user as the web's per address (DIGIBOT_ASK_RATE_PER_MINUTE, DIGIBOT_ASK_BURST). The first refusal
    of a run says how long to wait; the ones after it are silent, so a flood costs no flood of replies."""
    user = update.effective_user
    key = f"user:{user.id}" if user else f"chat:{update.effective_chat.id if update.effective_chat else 0}"
    told: set[str] = context.bot_data.setdefault("rate_limited", set())
    wait = await limiter(context).take(key)
    if wait <= 0:
        told.discard(key)
        return True
    if key in told:
        return False
    told.add(key)
    seconds = max(1, math.ceil(wait))
    log.info("rate limited user %s for %d s", who(context, update), seconds)
    text = f"您問得有點快 🙏 請 {seconds} 秒後再問下一題。"
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(text)
            return False
        except BadRequest:
            pass  # already answered (or expired): say it in the chat
    if update.effective_chat is not None:
        await send_html(context, update.effective_chat.id, text,
                        reply_to=update.effective_message if in_group(update) else None)
    return False


def session_key(chat_id: int) -> str:
    """Where a chat's conversation context is kept (bot.core.Core.converse; it expires after 30 minutes)."""
    return f"telegram:{chat_id}"


def session_for(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> Session:
    """The conversation context of one chat, in this process (without REDIS_URL)."""
    return core(context).session(session_key(chat_id))


def who(context: ContextTypes.DEFAULT_TYPE, update: object) -> str:
    """The salted hash of the user behind an update, for logs (never the raw id)."""
    user = update.effective_user if isinstance(update, Update) else None
    try:
        return core(context).querylog.user_hash(user.id if user else None)
    except Exception:  # the log must never fail because of this
        return "unknown"


def in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def show_action(context: ContextTypes.DEFAULT_TYPE, chat_id: int, action: str = ChatAction.TYPING) -> None:
    """Show "typing…" (or "sending photo…"); a failure here must not cost the reply."""
    try:
        await context.bot.send_chat_action(chat_id, action)
    except TelegramError as exc:
        log.debug("chat action %s failed: %s", action, exc)


async def send_html(context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str, *,
                    markup: InlineKeyboardMarkup | None = None, reply_to: Message | None = None,
                    limit: int = 4096) -> list[Message]:
    """Send HTML, split into as many messages as Telegram needs; buttons go on the last one."""
    if markup is not None:
        await buttons(context).flush()  # what the buttons stand for is stored before anyone can press them
    chunks = split_html(text, limit)
    sent: list[Message] = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        reply = ReplyParameters(reply_to.message_id, allow_sending_without_reply=True) \
            if reply_to is not None and index == 0 else None
        sent.append(await context.bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML,
                                                   reply_markup=markup if last else None, reply_parameters=reply,
                                                   link_preview_options=NO_PREVIEW))
    return sent


async def edit_or_send(context: ContextTypes.DEFAULT_TYPE, message: Message | None, chat_id: int, text: str, *,
                       markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace a menu message's text (when it fits), else send the text as new messages."""
    if markup is not None:
        await buttons(context).flush()
    if message is not None and len(split_html(text)) == 1:
        try:
            await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message.message_id,
                                                parse_mode=ParseMode.HTML, reply_markup=markup,
                                                link_preview_options=NO_PREVIEW)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return  # the same view pressed twice
            if "message to edit not found" not in str(exc).lower() and "can't be edited" not in str(exc).lower():
                raise
    await send_html(context, chat_id, text, markup=markup)


async def acknowledge(update: Update, text: str | None = None) -> None:
    """Stop the button's spinner (an expired query is not worth an error)."""
    query = update.callback_query
    if query is None:
        return
    with contextlib.suppress(BadRequest):
        await query.answer(text)


def args_text(args: Sequence[str] | None) -> str:
    return " ".join(args or []).strip()
