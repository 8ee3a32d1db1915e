"""Inline mode: `@bot 偏鄉寬頻` in any chat offers answers from the report as results to send.

Each result's title is the question it answers, its description the figure, and the message sent
is the answer with its source, in the same HTML as a chat reply. Answer-less queries offer the
example questions. BotFather's /setinline must be switched on for the bot.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging

from telegram import InlineQueryResultArticle, InputTextMessageContent, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.answer import Answer
from bot.inline import INLINE_CACHE_SECONDS, InlineAnswers

from . import common, render

log = logging.getLogger(__name__)

escape = html.escape
MAX_DESCRIPTION = 120


def inline_answers(context: ContextTypes.DEFAULT_TYPE) -> InlineAnswers:
    found = context.bot_data.get("inline")
    if found is None:
        found = context.bot_data["inline"] = InlineAnswers(common.core(context))
    return found


def result(answer: Answer, title: str) -> InlineQueryResultArticle:
    """One inline result: the question as its title, the figure as its description, the answer as the message."""
    body = f"<b>{escape(title)}</b>\n" + render.answer_html(answer)
    description = " ".join(answer.answer.split())
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    result_id = hashlib.blake2b(f"{title}\n{answer.answer}".encode(), digest_size=16).hexdigest()  # 32 bytes
    return InlineQueryResultArticle(
        id=result_id, title=title[:100], description=description,
        input_message_content=InputTextMessageContent(render.split_html(body)[0], parse_mode=ParseMode.HTML,
                                                      link_preview_options=LinkPreviewOptions(is_disabled=True)))


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer up to five answers for the typed query, or the examples when it has none."""
    query = update.inline_query
    text = (query.query or "").strip()
    found, _ = await asyncio.to_thread(inline_answers(context).answers, text)
    results = [result(a, a.query or text) for a in found]  # titled with the question each one answers
    try:
        await query.answer(results, cache_time=INLINE_CACHE_SECONDS, is_personal=False)
    except BadRequest as exc:  # a query older than Telegram's window cannot be answered any more
        log.info("inline query not answered: %s", exc)
