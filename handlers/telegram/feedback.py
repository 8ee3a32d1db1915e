"""👍/👎 under every answer, and "none of these" under a did-you-mean: one tap, changeable.

A vote is stored against the answer given and the pressing user's salted hash (bot/feedback.py);
pressing the chosen button again takes the vote back. The keyboard is edited to show the vote (in a
group, where everyone may vote on one answer, the counts).
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from . import common, render

log = logging.getLogger(__name__)

THANKS = {
    "zh": {"up": "謝謝您的回饋！", "down": "謝謝，已記下這個回答不正確，管理員會檢視。", None: "已取消回饋。"},
    "en": {"up": "Thank you for the feedback!", "down": "Thank you — noted as wrong; an administrator will review it.",
           None: "Feedback withdrawn."},
}
REPHRASE = {
    "zh": "好的，請換個說法再問一次，例如加上年份、計畫或機關名稱（「2020年 iTaiwan 熱點有幾個」）。",
    "en": "All right — please ask again in other words, e.g. with the year or the programme's name "
          "(“How many iTaiwan hotspots were there in 2020?”).",
}
EXPIRED = "這個按鈕已失效，請直接輸入問題。"


def _lang(message: Message | None) -> str:
    """The answer's language, read from its buttons' labels (the store keeps no per-message state)."""
    markup = getattr(message, "reply_markup", None)
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.text.removeprefix(render.VOTED) in render.feedback_labels("en").values():
                return "en"
    return "zh"


async def feedback_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record 👍, 👎 or "none of these" for the answer under which the button was pressed."""
    query = update.callback_query
    _, kind, answer_id = (query.data.split(":", 2) + ["", ""])[:3]
    user = update.effective_user.id if update.effective_user else None
    core = common.core(context)
    message = query.message if isinstance(query.message, Message) else None
    lang = _lang(message)
    if kind == "n":  # under a did-you-mean: none of the options; ask for other words
        recorded = core.vote(answer_id, "down", user=user, source="none_of_these")
        await common.acknowledge(update, None if recorded else EXPIRED)
        if recorded:
            await common.send_html(context, update.effective_chat.id, REPHRASE[lang])
        return
    wanted = {"u": "up", "d": "down"}.get(kind)
    if wanted is None:
        await common.acknowledge(update, EXPIRED)
        return
    current = core.feedback.user_vote(answer_id, user)
    vote = None if current == wanted else wanted  # the chosen button again takes the vote back
    if core.vote(answer_id, vote, user=user) is None:
        await common.acknowledge(update, EXPIRED)
        return
    log.info("feedback %s on answer %s from user %s", vote or "withdrawn", answer_id, common.who(context, update))
    await common.acknowledge(update, THANKS[lang][vote])
    if message is not None and message.reply_markup is not None:
        tally = core.feedback.tally(answer_id) if common.in_group(update) else None  # many voters: counts
        try:
            await context.bot.edit_message_reply_markup(update.effective_chat.id, message.message_id,
                                                        reply_markup=render.with_vote(message.reply_markup, vote, tally))
        except BadRequest as exc:  # an unchanged keyboard (two quick taps) or a deleted message
            log.debug("feedback keyboard not updated: %s", exc)
