"""Citizens: questions in plain language, follow-up buttons, the report's own words on request."""

from __future__ import annotations

import html
import logging
import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes, filters

from bot.core import MAX_QUESTION_CHARS, read_partly

from . import common, menu, render

log = logging.getLogger(__name__)

escape = html.escape



def _report(context) -> str:
    """The report's title as the bot names it (knowledge/curated/report.yaml)."""
    return f"《{common.core(context).kb.report['title']}》"


class AddressedToBot(filters.MessageFilter):
    """Private chats always; in groups only messages that mention the bot or reply to it."""

    def filter(self, message: Message) -> bool:
        if message.chat.type == ChatType.PRIVATE:
            return True
        bot = message.get_bot()
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        for entity, text in {**message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
                             **message.parse_caption_entities([MessageEntity.MENTION])}.items():
            if text.lower() == mention or (entity.user is not None and entity.user.id == bot.id):
                return True
        return False


ADDRESSED = AddressedToBot(name="AddressedToBot")


def _without_mention(text: str, username: str | None) -> str:
    if username:
        text = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return text.strip()


# ---------------------------------------------------------------------------- answering
async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, *,
                          reply_to: Message | None = None) -> None:
    """Ask the core (the current KB, with this chat's context), log it, and send the reply."""
    chat = update.effective_chat
    await common.show_action(context, chat.id)
    answer = await common.core(context).converse(text, common.session_key(chat.id), channel=chat.type,
                                                 user=update.effective_user.id if update.effective_user else None)
    body = render.answer_html(answer)
    if read_partly(text):
        body += f"\n\n<i>（訊息很長，我只讀了前 {MAX_QUESTION_CHARS:,} 個字。）</i>"
    await common.send_html(context, chat.id, body, markup=render.answer_keyboard(answer, common.buttons(context)),
                           reply_to=reply_to)


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message, or answer an edited one again."""
    message = update.effective_message
    if not await common.take_turn(update, context):
        return
    text = _without_mention(message.text or "", context.bot.username)
    edited = update.edited_message is not None
    await answer_question(update, context, text,
                          reply_to=message if (edited or common.in_group(update)) else None)


async def suggestion_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the question behind a suggestion or "did you mean" button."""
    query = update.callback_query
    payload = await common.buttons(context).fetch(query.data.split(":", 1)[1])
    question_text = payload["q"] if payload else _label_of(query.message, query.data)
    if not question_text:
        await common.acknowledge(update, "這個按鈕已失效，請直接輸入問題。")
        return
    if not await common.take_turn(update, context):
        return
    await common.acknowledge(update)
    await answer_question(update, context, question_text)


def _label_of(message: Message | None, data: str) -> str:
    """The label of the pressed button: a suggestion's label is the question itself (for buttons
    older than the server-side store, e.g. after a restart)."""
    markup = getattr(message, "reply_markup", None)
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data and not button.text.endswith("…"):
                return button.text
    return ""


async def source_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the report sentence(s) an answer quotes."""
    query = update.callback_query
    payload = await common.buttons(context).fetch(query.data.split(":", 1)[1])
    if payload is None:
        await common.acknowledge(update, "這個按鈕已過期，請重新提問一次。")
        return
    await common.acknowledge(update)
    message = query.message if isinstance(query.message, Message) else None
    await common.send_html(context, update.effective_chat.id, render.quotes_html(payload), reply_to=message)


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tell the user that a button from an older version of the bot no longer works."""
    await common.acknowledge(update, "這個按鈕已失效，請直接輸入問題或輸入 /help。")


# ----------------------------------------------------------------------------- commands
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Welcome the user, say what the bot can do, offer three example questions."""
    await menu.ensure_role_menu(update, context)
    examples = common.core(context).assistant.example_questions(3)
    text = ("您好，我是 <b>DIGI+ 小幫手</b> 👋\n"
            f"我根據{escape(_report(context))}報告回答問題：iTaiwan 熱點、MyData、偏鄉寬頻、數位人才、各主軸預算與總體指標等。"
            "數字照報告原文引用，並附上出處。\n\n"
            "直接輸入問題就可以（繁體、簡體或英文皆可），也可以接著追問，例如「那2019年呢？」。"
            + ("\n在群組裡請 @我 或回覆我的訊息。" if common.in_group(update) else "")
            + "\n\n試試這些問題，或輸入 /help 看所有功能：")
    await common.send_html(context, update.effective_chat.id, text,
                           markup=render.examples_keyboard(common.buttons(context), examples),
                           reply_to=update.effective_message if common.in_group(update) else None)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask and list the commands this user may use."""
    await menu.ensure_role_menu(update, context)
    user_id = update.effective_user.id if update.effective_user else None
    cfg = common.config(context)
    lines = [
        "<b>怎麼問</b>",
        "• 直接輸入問題，例如「iTaiwan 熱點有幾個？」「2020年數位經濟規模多少？」",
        "• 可以接著追問：「那2019年呢？」（同一個對話 30 分鐘內有效）",
        "• 答案下方的按鈕：延伸問題、「📄 原文」看報告原句，👍/👎 告訴我答得好不好（答錯也可以直接說「答案錯了」）",
        "• 在任何聊天室輸入 @" + escape(context.bot.username or "") + " 加上關鍵字，可以直接分享報告裡的數字",
        "• 繁體、簡體、英文都可以" + ("；在群組裡請 @我 或回覆我的訊息" if common.in_group(update) else ""),
        "",
        "<b>指令</b>",
        "/start 開始與範例問題",
        "/help 使用說明",
        "/about 關於這份報告與資料來源",
        "/stats 統計表，例如 /stats 預算 2020、/stats 預算 2017 2020、/stats 指標 偏鄉",
        "/chart 統計圖，例如 /chart 預算、/chart 指標 數位經濟規模",
        "/export 下載 CSV：/export 預算、/export 指標",
    ]
    if cfg.is_official(user_id):
        lines.append("/usage 使用統計（公務人員）")
    if cfg.is_admin(user_id):
        lines += ["/reload 重新載入知識庫（管理員）", "/unanswered 需要處理的問題，按鈕可教正確的回答（管理員）",
                  "/taught 教過的內容・/untaught 編號 撤銷（管理員）"]
    await common.send_html(context, update.effective_chat.id, "\n".join(lines))


async def about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the report is, the period it covers, and that answers quote it."""
    kb = common.core(context).kb
    counts = kb.counts
    built = kb.meta.get("built_at", "")[:10]
    sha = kb.meta.get("source_sha256", "")[:12]
    years = kb.years
    about = "；".join(fact["text"] for fact in kb.report["about"])
    text = (
        "<b>關於 DIGI+ 小幫手</b>\n"
        f"資料來源：行政院{escape(_report(context))}報告。{escape(about)}；"
        f"這份報告整理 {years[0]}–{years[-1]} 年的成果：總體指標、投入預算，以及7大主軸的推動成果。\n\n"
        "我只根據這份報告回答：答案裡的數字都照報告原文引用，並標示出處（章節・主責機關），"
        "按「📄 原文」可以看到報告的原句。報告沒有提到的事，我會直接說明，不會猜測。\n\n"
        f"<i>知識庫：{counts.get('nodes', 0)} 個章節、{counts.get('sentences', 0)} 句原文、"
        f"{counts.get('faq', 0)} 則常見問答；建立於 {escape(built)}"
        + (f"（報告 SHA-256 {escape(sha)}…）" if sha else "") + "。</i>")
    await common.send_html(context, update.effective_chat.id, text)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help for a command the bot does not have (in groups only when addressed to it)."""
    message = update.effective_message
    command = (message.text or "").split()[0]
    target = command.partition("@")[2]
    if target and target.lower() != (context.bot.username or "").lower():
        return  # meant for another bot
    if common.in_group(update) and not target:
        return  # in a group, an unknown bare command is probably another bot's
    await common.send_html(context, update.effective_chat.id,
                           f"我不認得 {escape(command)} 這個指令。輸入 /help 看看我能做什麼。",
                           reply_to=message if common.in_group(update) else None)


async def added_to_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Introduce the bot when it is added to a group."""
    change = update.my_chat_member
    if change is None or change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    was_in = change.old_chat_member.status in ("member", "administrator", "creator", "restricted")
    is_in = change.new_chat_member.status in ("member", "administrator", "restricted")
    if was_in or not is_in:
        return
    await common.send_html(context, change.chat.id,
                           "大家好，我是 <b>DIGI+ 小幫手</b> 👋 我根據" + escape(_report(context)) + "報告回答問題。\n"
                           f"在群組裡請 @{escape(context.bot.username or '')} 或回覆我的訊息來提問；輸入 /help 看所有功能。")


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply politely to stickers, photos, voice, locations and other non-text messages."""
    message = update.effective_message
    await common.send_html(
        context, update.effective_chat.id,
        "謝謝您的訊息！不過我目前只看得懂文字 🙂\n請用文字輸入您想問的問題，例如「iTaiwan 熱點有幾個？」，"
        "或輸入 /help 看看我能做什麼。",
        reply_to=message if common.in_group(update) else None)
