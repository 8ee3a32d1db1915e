"""Admins and officials: /reload the knowledge base, /usage statistics (the teach loop — /unanswered,
/taught, /untaught — is in teach.py).

Every command checks the role first; a refusal is polite and logged with the salted hash of the
user id (never the id itself).
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from datetime import datetime, timedelta, timezone

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.service import ReloadResult, ReloadStatus

from . import common

log = logging.getLogger(__name__)

escape = html.escape
TAIPEI = timezone(timedelta(hours=8), "臺北時間")
COUNT_LABELS = (("nodes", "章節"), ("sentences", "句原文"), ("figures", "個數字"), ("faq", "則問答"),
                ("indicator_cells", "個指標值"), ("budget_cells", "個預算值"))


def _user_id(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user else None


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str, role: str) -> None:
    log.warning("refused /%s for user %s (not %s) in a %s chat", command, common.who(context, update), role,
                update.effective_chat.type if update.effective_chat else "unknown")
    text = ("抱歉，這個指令只開放給管理員使用。" if role == "admin" else "抱歉，使用統計只開放給公務人員與管理員查看。") \
        + "\n一般問題請直接輸入，或輸入 /help 看看我能做什麼。"
    await common.send_html(context, update.effective_chat.id, text,
                           reply_to=update.effective_message if common.in_group(update) else None)


def requires(role: str):
    """Run the command only for users with `role` ("admin" or "official"); refuse politely otherwise."""

    def wrap(command):
        @functools.wraps(command)
        async def checked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            cfg, user_id = common.config(context), _user_id(update)
            if not (cfg.is_admin(user_id) if role == "admin" else cfg.is_official(user_id)):
                await _refuse(update, context, command.__name__, role)
                return
            await command(update, context)
        return checked

    return wrap


def private_only(command):
    """Run a command whose output quotes citizens' questions only in a private chat; in a group (or a channel),
    answer briefly and ask the user to message the bot privately. Goes inside `requires`, so a user without
    the role is refused first, in any chat."""

    @functools.wraps(command)
    async def checked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is not None and chat.type != ChatType.PRIVATE:
            log.info("/%s asked in a %s chat by %s: pointed to a private chat", command.__name__, chat.type,
                     common.who(context, update))
            bot = f"@{context.bot.username}" if context.bot.username else "我"
            await common.send_html(
                context, chat.id,
                f"/{command.__name__} 的內容含有民眾的提問，不在群組中顯示。請私訊 {escape(bot)} 再輸入 /{command.__name__}。",
                reply_to=update.effective_message)
            return
        await command(update, context)

    return checked


def _int_arg(args: list[str] | None, default: int, low: int, high: int) -> int:
    for arg in args or []:
        if arg.strip().isdigit():
            return max(low, min(high, int(arg)))
    return default


def _when(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).astimezone(TAIPEI).strftime("%m-%d %H:%M")
    except ValueError:
        return ts


# ------------------------------------------------------------------------------ /reload
def _numbers(ids: list[int]) -> str:
    return "、".join(f"#{i}" for i in ids)


def reload_report(result: ReloadResult) -> str:
    """What an admin is told after a reload attempt: the gate's figures, and what became of the teachings."""
    score = ""
    if result.old_score is not None and result.new_score is not None:
        score = f"\n標註問題集答對率：{result.old_score:.1%} → {result.new_score:.1%}"
        if result.old_right is not None and result.new_right is not None and result.total:
            score += f"（答對 {result.old_right:,} → {result.new_right:,} 題，共 {result.total:,} 題）"
    taught = [i for i in result.taught if i not in result.skipped]
    skipped = "".join(f"\n⚠️ 教學 #{i} 未套用：{escape(reason)}" for i, reason in result.skipped.items())
    if result.ok:
        counts = result.counts or {}
        listed = "、".join(f"{counts[k]:,} {label}" for k, label in COUNT_LABELS if k in counts)
        lines = [f"✅ 知識庫已重新載入（{result.seconds:.1f} 秒）。\n內容：{listed}{score}"]
        if taught:
            own = f"（教的問題答對 {result.taught_right}/{result.taught_total}）" if result.taught_total else ""
            lines.append(f"已套用教學 {_numbers(taught)}{own}。")
        if result.untaught:
            lines.append(f"已移除教學 {_numbers(result.untaught)}。")
        return "\n".join(lines) + skipped
    if result.status is ReloadStatus.BUSY:
        return "⏳ 已有一次重新載入正在進行，請稍候再試。"
    lines = [f"❌ 重新載入失敗，目前的知識庫繼續服務（{result.seconds:.1f} 秒）。\n原因：{escape(result.message)}{score}"]
    if result.status is ReloadStatus.WORSE and (taught or result.untaught):
        changes = "、".join(filter(None, [f"教學 {_numbers(taught)}" if taught else "",
                                          f"撤銷 {_numbers(result.untaught)}" if result.untaught else ""]))
        lines.append(f"因此未套用{changes}（/taught 可查看，/untaught 可撤銷後再 /reload）。")
        if result.newly_wrong:
            lines.append("因此答錯的標註問題：" + "、".join(f"「{escape(q[:60])}」" for q in result.newly_wrong[:5])
                         + (f" 等 {len(result.newly_wrong)} 題" if len(result.newly_wrong) > 5 else ""))
    elif taught or result.untaught:
        lines.append("教學與撤銷仍在等待，下次 /reload 再套用。")
    return "\n".join(lines) + skipped


@requires("admin")
async def reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Rebuild the knowledge base and swap it in; questions keep being answered meanwhile."""
    chat_id = update.effective_chat.id
    log.info("reload requested by admin %s", common.who(context, update))
    status = (await common.send_html(context, chat_id, "⏳ 正在重新建立知識庫並用標註問題集檢查，期間照常回答問題…"))[-1]
    try:
        result = await common.core(context).reload()  # with replicas: one at a time, and all switch to it
    except Exception as exc:  # reload() reports failures itself; this is a bug, and the old KB still serves
        log.exception("reload crashed")
        result = ReloadResult(ReloadStatus.CRASHED, f"{type(exc).__name__}: {exc}", 0.0)
    log.info("reload finished: ok=%s %s (%.2fs)", result.ok, result.message, result.seconds)
    await _edit(context, status, chat_id, reload_report(result))


async def _edit(context: ContextTypes.DEFAULT_TYPE, message: Message, chat_id: int, text: str) -> None:
    try:
        await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message.message_id,
                                            parse_mode=ParseMode.HTML)
    except BadRequest as exc:
        log.info("could not edit the reload message (%s); sending a new one", exc)
        await common.send_html(context, chat_id, text)


# ------------------------------------------------------------------------------- /usage
@requires("official")
@private_only
async def usage(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Questions per day, top questions, share answered and recent unanswered, from the query log."""
    days = _int_arg(context.args, 7, 1, 90)
    u = await asyncio.to_thread(common.core(context).querylog.usage, days)
    lines = [f"<b>使用統計（最近 {days} 天）</b>",
             f"提問 {u.total:,} 則・使用者 {u.users:,} 人・已回答 {u.answered_share:.0%}"]
    if u.days:
        peak = max(n for _, n in u.days) or 1
        rows = [f"{day}  {n:>5,}  {'▇' * max(1, round(10 * n / peak))}" for day, n in u.days]
        lines.append("<pre>" + escape("日期（UTC）   則數\n" + "\n".join(rows)) + "</pre>")
    else:
        lines.append("這段期間還沒有人提問。")
    if u.top_questions:
        lines.append("<b>熱門問題</b>")
        lines += [f"{i}. {escape(q[:120])}  <i>×{n}</i>" for i, (q, n) in enumerate(u.top_questions, 1)]
    if u.recent_unanswered:
        lines.append("<b>最近未能回答</b>")
        lines += [f"{i}. {escape(q[:120])}  <i>×{n}，{_when(ts)}</i>"
                  for i, (q, n, ts) in enumerate(u.recent_unanswered, 1)]
    lines.append("<i>紀錄只保存使用者代號的雜湊值，不含帳號或姓名。</i>")
    await common.send_html(context, update.effective_chat.id, "\n".join(lines))
