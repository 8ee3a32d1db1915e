"""Admins teach: /unanswered groups what the bot could not answer; buttons attach a group to the answer
it should have had, mark it out of scope, or dismiss it; /taught lists and /untaught undoes teachings.

Teachings take effect through /reload, which checks them against the labelled questions first
(bot/service.py). Every command and every button checks the admin role; button payloads stay on
the server (ButtonStore), the button carries a short key.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.teach import UNANSWERED_DAYS, Group, best_sentence, candidates, review_since, unanswered_groups

from . import common
from .admin import TAIPEI, _int_arg, _user_id, _when, private_only, requires
from .render import MAX_BUTTON_LABEL

log = logging.getLogger(__name__)

escape = html.escape
PREFIX = "tq:"
DEFAULT_GROUPS = 5  # groups /unanswered shows unless told ("/unanswered 10")
MAX_LISTED = 20  # teachings /taught lists
REASONS = (("refused", "未能回答"), ("clarify", "您是想問"), ("disliked", "👎"))
STATUS = {"pending": "⏳ 待 /reload", "active": "✅ 已生效", "refused": "❌ 未通過檢查", "removing": "↩️ 撤銷中，待 /reload",
          "removed": "🗑 已撤銷", "dismissed": "🙈 已略過"}
STALE = "這個按鈕已失效，請重新輸入 /unanswered。"


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_BUTTON_LABEL else text[: MAX_BUTTON_LABEL - 1] + "…"


def _button(context, label: str, payload: dict) -> InlineKeyboardButton:
    return InlineKeyboardButton(_label(label), callback_data=PREFIX + common.buttons(context).put(payload))


# ------------------------------------------------------------------------ /unanswered
def group_html(kb, number: int, group: Group, options) -> str:
    reasons = "・".join(f"{label} {group.reasons[key]}" for key, label in REASONS if group.reasons.get(key))
    lines = [f"<b>第 {number} 組</b> ×{group.total}（{reasons}，最近 {_when(group.last_ts)}）"]
    lines += [f"• {escape(q[:200])}" + (f"  <i>×{n}</i>" if n > 1 else "") for q, n in group.questions[:8]]
    if len(group.questions) > 8:
        lines.append(f"…另有 {len(group.questions) - 8} 種問法")
    for given in group.answers_given[:2]:
        lines.append(f"👎 的回答：「{escape(given[:120])}{'…' if len(given) > 120 else ''}」")
    for comment in group.comments[:2]:
        lines.append(f"使用者補充：「{escape(comment[:120])}」")
    if options:
        lines.append("<b>可能應有的回答</b>（常見問答）：")
        lines += [f"{i}. {escape(e.question)}\n   答：{escape(e.answer[:100])}{'…' if len(e.answer) > 100 else ''}"
                  for i, e in enumerate(options, 1)]
    return "\n".join(lines)


def group_keyboard(context, questions: list[str], options: list[str], kb) -> InlineKeyboardMarkup:
    """✅ one of the candidate FAQ entries · 📂 by section · 🚫 out of scope · 🗑 dismiss."""
    by_id = {e.id: e for e in kb.faq}
    rows = [[_button(context, f"✅ {i}. {by_id[fid].question}", {"a": "faq", "qs": questions, "faq": fid,
                                                                  "opts": options})]
            for i, fid in enumerate(options, 1) if fid in by_id]
    rows.append([_button(context, "📂 依章節指定回答…", {"a": "nav", "qs": questions, "opts": options, "node": None})])
    rows.append([_button(context, "🚫 報告範圍外", {"a": "oos", "qs": questions}),
                 _button(context, "🗑 略過", {"a": "dis", "qs": questions})])
    return InlineKeyboardMarkup(rows)


@requires("admin")
@private_only
async def unanswered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The week's refused, did-you-mean and 👎 questions, grouped by similarity, each with teach buttons."""
    core = common.core(context)
    chat_id = update.effective_chat.id
    n = _int_arg(context.args, DEFAULT_GROUPS, 1, 20)
    rows = await asyncio.to_thread(core.feedback.needing_review, review_since(UNANSWERED_DAYS))
    handled = await asyncio.to_thread(core.teach.handled)
    groups = unanswered_groups(rows, handled)
    if not groups:
        await common.send_html(context, chat_id, f"最近 {UNANSWERED_DAYS} 天沒有需要處理的問題 🎉")
        return
    shown = groups[:n]
    await common.send_html(
        context, chat_id,
        f"<b>最近 {UNANSWERED_DAYS} 天需要處理的問題</b>：{len(groups)} 組（未能回答、您是想問、👎），依相似度分組，"
        f"顯示問得最多的 {len(shown)} 組（{TAIPEI.tzname(None)}）。\n"
        "每組可以 ✅ 指定應有的回答（候選問答，或依章節）、🚫 標為報告範圍外、🗑 略過。"
        "教過的內容在 /reload 通過標註問題集檢查後生效；/taught 列出，/untaught 撤銷。")
    kb = core.kb
    for number, group in enumerate(shown, 1):
        options = candidates(kb, group)
        await common.send_html(context, chat_id, group_html(kb, number, group, options),
                               markup=group_keyboard(context, group.all_questions, [e.id for e in options], kb))


# ---------------------------------------------------------------------------- buttons
def admin_button(callback):
    """Buttons of the teach loop work for admins only (a forwarded message's buttons too)."""

    @functools.wraps(callback)
    async def checked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not common.config(context).is_admin(_user_id(update)):
            log.warning("refused a teach button for user %s (not admin)", common.who(context, update))
            await common.acknowledge(update, "只有管理員可以使用這個按鈕。")
            return
        await callback(update, context)

    return checked


@admin_button
async def teach_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Act on a group: attach it to an FAQ entry or a section, mark it out of scope, dismiss it, or
    move through the outline to pick a section."""
    query = update.callback_query
    payload = await common.buttons(context).fetch(query.data.removeprefix(PREFIX))
    if not isinstance(payload, dict) or not payload.get("qs"):
        await common.acknowledge(update, STALE)
        return
    core = common.core(context)
    kb = core.kb
    user = _user_id(update)
    message = query.message if isinstance(query.message, Message) else None
    action, questions = payload["a"], payload["qs"]
    if action == "nav":
        await common.acknowledge(update)
        await _show_outline(update, context, message, payload)
        return
    if action == "back":
        await common.acknowledge(update)
        await _edit_markup(context, update, message, group_keyboard(context, questions, payload.get("opts", []), kb))
        return
    if action == "faq":
        entry = next((e for e in kb.faq if e.id == payload["faq"]), None)
        if entry is None:
            await common.acknowledge(update, "這則常見問答已不存在，請重新輸入 /unanswered。")
            return
        teaching = await asyncio.to_thread(core.teach.teach_faq, questions, entry, by=user)
        done = f"✅ 已記錄 #{teaching.id}：這組問題應得到常見問答「{escape(entry.question)}」的回答。"
    elif action == "sec":
        node = kb.nodes.get(payload.get("node"))
        sentence = best_sentence(kb, node.id, questions[0]) if node else None
        if sentence is None:
            await common.acknowledge(update, "這一節沒有可以引用的句子，請選擇其他章節。")
            return
        teaching = await asyncio.to_thread(core.teach.teach_section, questions, node.path, node.display_title,
                                           sentence.text, by=user)
        done = (f"✅ 已記錄 #{teaching.id}：這組問題將以 {escape(node.path)} {escape(node.display_title)} 的這句回答：\n"
                f"「{escape(sentence.text[:300])}」")
    elif action == "oos":
        teaching = await asyncio.to_thread(core.teach.mark_out_of_scope, questions, by=user)
        done = f"🚫 已記錄 #{teaching.id}：這組問題不在報告範圍內，之後會直接說明報告沒有這項資料。"
    elif action == "dis":
        teaching = await asyncio.to_thread(core.teach.dismiss, questions, by=user)
        await common.acknowledge(update, "已略過。")
        await _close(context, update, message, f"🗑 已略過（#{teaching.id}，/untaught {teaching.id} 可復原）。")
        return
    else:
        await common.acknowledge(update, STALE)
        return
    log.info("admin %s taught #%d (%s, %d questions)", common.who(context, update), teaching.id, teaching.kind,
             len(teaching.questions))
    await common.acknowledge(update, "已記錄，/reload 後生效。")
    await _close(context, update, message, done + f"\n輸入 /reload 套用（會先用標註問題集檢查）；撤銷：/untaught {teaching.id}")


async def _show_outline(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message | None,
                        payload: dict) -> None:
    """One level of the report's outline as buttons: its sections, "use this section", back."""
    kb = common.core(context).kb
    node_id = payload.get("node")
    children = [n for n in kb.nodes.values() if n.parent_id == node_id]
    base = {"qs": payload["qs"], "opts": payload.get("opts", [])}
    rows = []
    if node_id is not None:
        node = kb.nodes[node_id]
        if best_sentence(kb, node_id, payload["qs"][0]) is not None:
            rows.append([_button(context, f"✅ 用「{node.path} {node.display_title}」回答", {**base, "a": "sec", "node": node_id})])
    for child in children[:40]:
        rows.append([_button(context, f"📂 {child.path} {child.display_title}", {**base, "a": "nav", "node": child.id})])
    parent = kb.nodes[node_id].parent_id if node_id is not None else None
    back = {**base, "a": "nav", "node": parent} if node_id is not None else {**base, "a": "back"}
    rows.append([_button(context, "⬅ 上一層", back), _button(context, "✖ 取消", {**base, "a": "back"})])
    await _edit_markup(context, update, message, InlineKeyboardMarkup(rows))


async def _edit_markup(context, update: Update, message: Message | None, markup: InlineKeyboardMarkup) -> None:
    if message is None:
        return
    await common.buttons(context).flush()  # a press may reach another replica
    try:
        await context.bot.edit_message_reply_markup(update.effective_chat.id, message.message_id, reply_markup=markup)
    except BadRequest as exc:
        log.debug("teach keyboard not updated: %s", exc)


async def _close(context, update: Update, message: Message | None, note: str) -> None:
    """Replace the group's buttons by what was done."""
    chat_id = update.effective_chat.id
    if message is None:
        await common.send_html(context, chat_id, note)
        return
    text = (message.text_html or "") + "\n\n" + note
    try:
        await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message.message_id,
                                            parse_mode=ParseMode.HTML, reply_markup=None)
    except BadRequest as exc:
        log.info("could not edit the group message (%s); sending the note", exc)
        await common.send_html(context, chat_id, note)


# ------------------------------------------------------------------------ /taught
def teaching_line(t) -> str:
    first = escape(t.questions[0][:80])
    more = f" 等 {len(t.questions)} 種問法" if len(t.questions) > 1 else ""
    target = {"alternates": f"→ 常見問答「{escape(t.title)}」", "entry": f"→ {escape(t.path)} {escape(t.title)}",
              "out_of_scope": "→ 報告範圍外", "dismissed": "→ 略過"}[t.kind]
    line = (f"<b>#{t.id}</b> {STATUS[t.status]}・「{first}」{more} {target}\n"
            f"   <i>{_when(t.created_at)} 由 {escape(t.created_by[:8])}</i>")
    if t.detail and t.status in ("refused", "active"):
        line += f"\n   <i>{escape(t.detail[:200])}</i>"
    return line


@requires("admin")
@private_only
async def taught(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List what admins taught (newest last): status, questions, target, when and by whom (hashed)."""
    teachings = await asyncio.to_thread(common.core(context).teach.list, None, MAX_LISTED)
    if not teachings:
        text = "還沒有教過任何內容。輸入 /unanswered 看看需要處理的問題。"
    else:
        text = (f"<b>教過的內容</b>（最近 {len(teachings)} 則，{TAIPEI.tzname(None)}；教的人以雜湊代號記錄）\n"
                + "\n".join(teaching_line(t) for t in teachings)
                + "\n撤銷：/untaught 編號（已生效的在下次 /reload 移除）")
    await common.send_html(context, update.effective_chat.id, text)


@requires("admin")
async def untaught(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Undo a teaching by its number: dropped now if waiting, removed at the next /reload if in force."""
    chat_id = update.effective_chat.id
    number = next((int(a.lstrip("#")) for a in context.args or [] if a.lstrip("#").isdigit()), None)
    if number is None:
        await common.send_html(context, chat_id, "用法：/untaught 編號（編號見 /taught）")
        return
    store = common.core(context).teach
    before = await asyncio.to_thread(store.get, number)
    after = await asyncio.to_thread(store.untaught, number, by=_user_id(update))
    if before is None:
        text = f"找不到 #{number}。編號見 /taught。"
    elif after is None:
        text = f"#{number} 目前{STATUS[before.status]}，沒有可以撤銷的。"
    elif after.status == "removing":
        text = f"↩️ 已撤銷 #{number}：下次 /reload 時移除（會先用標註問題集檢查）。"
    elif before.status == "dismissed":
        text = f"↩️ 已取消略過 #{number}：這組問題會再出現在 /unanswered。"
    else:
        text = f"↩️ 已撤銷 #{number}（尚未生效，直接移除）。"
    log.info("admin %s untaught #%d", common.who(context, update), number)
    await common.send_html(context, chat_id, text)
