"""The command menu Telegram shows (setMyCommands): everyone's commands, plus per-role ones."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from . import common

log = logging.getLogger(__name__)

CITIZEN_COMMANDS = [
    BotCommand("start", "開始使用與範例問題"),
    BotCommand("help", "使用說明"),
    BotCommand("about", "關於這份報告與資料來源"),
    BotCommand("stats", "統計表：總體指標、各年度與各主軸預算"),
    BotCommand("chart", "統計圖：預算或總體指標"),
    BotCommand("export", "下載 CSV：預算或總體指標"),
]
OFFICIAL_COMMANDS = [BotCommand("usage", "使用統計（公務人員）")]
ADMIN_COMMANDS = [BotCommand("reload", "重新載入知識庫（管理員）"),
                  BotCommand("unanswered", "需要處理的問題與教學（管理員）"),
                  BotCommand("taught", "教過的內容（管理員）"),
                  BotCommand("untaught", "撤銷一則教學（管理員）")]


async def set_default_menu(application: Application) -> None:
    """Everyone's menu; failure is logged, not fatal (the commands work without a menu)."""
    try:
        await application.bot.set_my_commands(CITIZEN_COMMANDS, scope=BotCommandScopeDefault())
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


async def ensure_role_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Give an official or admin their longer menu in their private chat, once per process
    (Telegram only accepts a chat scope once the user has talked to the bot)."""
    user = update.effective_user
    chat = update.effective_chat
    cfg = common.config(context)
    if user is None or chat is None or chat.id != user.id or not cfg.is_official(user.id):
        return
    done: set[int] = context.bot_data.setdefault("role_menus", set())
    if user.id in done:
        return
    commands = CITIZEN_COMMANDS + OFFICIAL_COMMANDS + (ADMIN_COMMANDS if cfg.is_admin(user.id) else [])
    try:
        await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat.id))
        done.add(user.id)
    except TelegramError as exc:
        log.info("role menu not set for user %s: %s", common.who(context, update), exc)
