"""Statistics from the report's tables: /stats (monospace tables), /chart (PNG), /export (CSV)."""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import ContextTypes

from bot.tables import budget_csv, indicator_csv

from . import common, tables

log = logging.getLogger(__name__)

escape = html.escape

USAGE = ("用法：\n"
         "/stats 預算 ｜ /stats 預算 2020 ｜ /stats 預算 主軸1 ｜ /stats 預算 2017 2020\n"
         "/stats 指標 ｜ /stats 指標 2020 ｜ /stats 指標 數位經濟規模")
MENU = InlineKeyboardMarkup([
    [InlineKeyboardButton("總體指標", callback_data="st:i")],
    [InlineKeyboardButton("預算（依年度）", callback_data="st:y"),
     InlineKeyboardButton("預算（依主軸）", callback_data="st:a")],
])
EXPORT_MENU = InlineKeyboardMarkup([[InlineKeyboardButton("預算 CSV", callback_data="ex:b"),
                                     InlineKeyboardButton("總體指標 CSV", callback_data="ex:i")]])


def _chart_menu(kb) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton("各主軸預算（各年度）", callback_data="ch:b")]]
    rows += [[InlineKeyboardButton(i.name, callback_data=f"ch:i:{i.key}")] for i in kb.indicators]
    return InlineKeyboardMarkup(rows)


def _problem(request, kb) -> str | None:
    """What a request asks that the tables cannot give: years the report does not reach, unknown words."""
    problems = []
    relative = {year: word for word, year in request.relative_years}
    if request.outside_years:
        named = "、".join(f"{relative[y]}（{y}年）" if y in relative else f"{y}年" for y in request.outside_years)
        problems.append(f"報告只涵蓋 {kb.years[0]}–{kb.years[-1]} 年，沒有{named}的數字。")
    if request.unknown:
        problems.append(f"看不懂「{escape(request.unknown[:50])}」：表裡沒有這個主軸或指標。")
    return "\n".join(problems) if problems else None


def view(kb, request) -> str:
    """The table a parsed /stats request asks for."""
    if request.table == "indicators":
        if request.indicator:
            return tables.indicator_detail(kb, request.indicator, request.years or None)
        return tables.indicators_table(kb, request.years or None)
    if request.table == "budget":
        if request.view == "sum":
            return tables.budget_total_over_years(kb, request.axis, request.years)
        if request.view == "average":
            return tables.budget_mean(kb, request.axis, request.years)
        if request.axis is None and len(request.years) == 1:
            return tables.budget_year(kb, request.years[0])
        return tables.budget_by_axis(kb, request.years or None, request.axis)
    # Only years: both tables for those years.
    return tables.budget_by_axis(kb, request.years) + "\n\n" + tables.indicators_table(kb, request.years)


# ------------------------------------------------------------------------------- /stats
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the statistics menu, or the table the arguments ask for."""
    chat_id = update.effective_chat.id
    kb = common.core(context).kb
    reply_to = update.effective_message if common.in_group(update) else None
    if not context.args:
        await common.send_html(context, chat_id, "<b>統計表</b>：請選擇要看的表，或在指令後加上條件。\n" + escape(USAGE),
                               markup=MENU, reply_to=reply_to)
        return
    request = common.core(context).stats_request(common.args_text(context.args))
    problem = _problem(request, kb)
    if problem or (request.table is None and not request.years):
        await common.send_html(context, chat_id, (problem or "請說明要看「預算」還是「指標」。") + "\n\n" + escape(USAGE),
                               markup=MENU, reply_to=reply_to)
        return
    await common.send_html(context, chat_id, view(kb, request), reply_to=reply_to)


async def menu_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the table chosen from the /stats menu in place of the menu text."""
    query = update.callback_query
    kb = common.core(context).kb
    choice = query.data.split(":", 1)[1]
    text = {"i": lambda: tables.indicators_table(kb), "y": lambda: tables.budget_by_year(kb),
            "a": lambda: tables.budget_by_axis(kb)}.get(choice)
    await common.acknowledge(update)
    if text is None:
        return
    message = query.message if isinstance(query.message, Message) else None
    await common.edit_or_send(context, message, update.effective_chat.id, text(), markup=MENU)


# ------------------------------------------------------------------------------- /chart
async def chart(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a PNG chart of the budget or of one indicator."""
    chat_id = update.effective_chat.id
    kb = common.core(context).kb
    request = common.core(context).stats_request(common.args_text(context.args))
    problem = _problem(request, kb)
    if problem:
        await common.send_html(context, chat_id, problem + "\n請選擇要畫的圖：", markup=_chart_menu(kb))
        return
    if request.table == "indicators" and request.indicator:
        await send_chart(update, context, "indicator", key=request.indicator)
    elif request.table == "budget":
        year = request.years[0] if len(request.years) == 1 and request.axis is None else None
        await send_chart(update, context, "budget", axis=request.axis, year=year)
    else:
        prompt = "請選擇指標：" if request.table == "indicators" else "請選擇要畫的圖（也可以輸入 /chart 預算、/chart 指標 數位經濟規模）："
        await common.send_html(context, chat_id, prompt, markup=_chart_menu(kb))


async def chart_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the chart chosen from the /chart menu."""
    parts = update.callback_query.data.split(":")
    await common.acknowledge(update)
    if parts[1:2] == ["b"]:
        await send_chart(update, context, "budget")
    elif parts[1:2] == ["i"] and len(parts) == 3:
        await send_chart(update, context, "indicator", key=parts[2])


async def send_chart(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str, **options) -> None:
    chat_id = update.effective_chat.id
    kb = common.core(context).kb
    if not await common.take_turn(update, context):  # drawing costs CPU like answering: the same limit
        return
    await common.show_action(context, chat_id, ChatAction.UPLOAD_PHOTO)
    from bot import charts  # matplotlib is loaded when the first chart is drawn, not at start-up

    try:
        if kind == "budget":
            drawn = await asyncio.to_thread(charts.budget_chart, kb, **options)
        else:
            if options.get("key") not in {i.key for i in kb.indicators}:
                await common.send_html(context, chat_id, "這個指標不存在，請重新選擇：", markup=_chart_menu(kb))
                return
            drawn = await asyncio.to_thread(charts.indicator_chart, kb, options["key"])
    except charts.ChartError as exc:
        await common.send_html(context, chat_id, escape(str(exc)))
        return
    caption = (f"<b>{escape(drawn.title)}</b>\n<i>數字依《{escape(kb.report['title'])}》報告；"
               "表格請用 /stats，原始資料請用 /export。</i>")
    reply = ReplyParameters(update.message.message_id, allow_sending_without_reply=True) \
        if common.in_group(update) and update.message else None
    await context.bot.send_photo(chat_id, InputFile(drawn.png, filename=drawn.filename), caption=caption,
                                 parse_mode=ParseMode.HTML, reply_parameters=reply)


# ------------------------------------------------------------------------------ /export
async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the budget or indicator table as a CSV document."""
    request = common.core(context).stats_request(common.args_text(context.args))
    if request.table not in ("budget", "indicators") or request.unknown:
        await common.send_html(context, update.effective_chat.id, "要下載哪一張表？（/export 預算 或 /export 指標）",
                               markup=EXPORT_MENU)
        return
    await send_csv(update, context, request.table)


async def export_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the CSV chosen from the /export menu."""
    choice = update.callback_query.data.split(":", 1)[1]
    await common.acknowledge(update)
    if choice in ("b", "i"):
        await send_csv(update, context, "budget" if choice == "b" else "indicators")


async def send_csv(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str) -> None:
    chat_id = update.effective_chat.id
    kb = common.core(context).kb
    await common.show_action(context, chat_id, ChatAction.UPLOAD_DOCUMENT)
    span = f"{kb.years[0]}-{kb.years[-1]}"
    if kind == "budget":
        data, filename = budget_csv(kb), f"digi-plus-budget-{span}.csv"
        differing = "、".join(str(c.year) for c in kb.budget_totals.values() if c.discrepancy)
        caption = ("<b>DIGI+方案投入預算</b>（億元）\n數字依報告原文；最後兩列為報告表列合計與各主軸加總（計算值）"
                   + (f"，{differing}年兩者不一致，報告原文如此。" if differing else "。"))
    else:
        data, filename = indicator_csv(kb), f"digi-plus-indicators-{span}.csv"
        caption = "<b>總體指標達成情形</b>\n數字依報告原文；「預估值年份」欄列出報告標示為預估值的年份。"
    # UTF-8 with a byte-order mark so spreadsheet programs read the Chinese correctly.
    await context.bot.send_document(chat_id, InputFile(data.encode("utf-8-sig"), filename=filename),
                                    caption=caption, parse_mode=ParseMode.HTML)
