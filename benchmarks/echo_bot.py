"""The framework's floor: a bare python-telegram-bot Application that answers each text with its own text.

Built with the same rate limiter (class and settings), the same update processor (class and
concurrency) and the same HTTP time-outs and connection pool as digibot's own Application: they are
read from a digibot Application built by `handlers.telegram.app.build_application`, not copied as
numbers, so the floor follows any change to the product's settings.

    app = build_echo_application(token, base_url, like=digibot_application)
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text with the same text."""
    await context.bot.send_message(update.effective_chat.id, update.effective_message.text)


def limiter_like(application: Application):
    """A fresh rate limiter of the same class and settings as `application`'s (None when it has none)."""
    limiter = application.bot.rate_limiter
    if limiter is None:
        return None
    base = limiter._base_limiter
    settings = dict(overall_max_rate=base.max_rate if base else 0, overall_time_period=base.time_period if base else 0,
                    group_max_rate=limiter._group_max_rate, group_time_period=limiter._group_time_period,
                    max_retries=limiter._max_retries)
    for name in ("network_retries", "backoff"):  # handlers.telegram.app.RetryingRateLimiter's own settings
        if hasattr(limiter, f"_{name}"):
            settings[name] = getattr(limiter, f"_{name}")
    return type(limiter)(**settings)


def limiter_settings(application: Application) -> dict:
    """The rate limiter's settings, for printing next to a measurement."""
    limiter = application.bot.rate_limiter
    if limiter is None:
        return {}
    base = limiter._base_limiter
    return {"class": type(limiter).__name__,
            "overall": f"{base.max_rate:g}/{base.time_period:g}s" if base else "off",
            "group": f"{limiter._group_max_rate:g}/{limiter._group_time_period:g}s" if limiter._group_max_rate else "off",
            "max_retries": limiter._max_retries,
            **({"network_retries": limiter._network_retries} if hasattr(limiter, "_network_retries") else {})}


def build_echo_application(token: str, base_url: str, *, like: Application) -> Application:
    """The echo bot, configured like `like` (a digibot Application)."""
    processor = like.update_processor
    request, updates_request = like.bot.request, like.bot._request[0]
    timeout, updates_timeout = request._client.timeout, updates_request._client.timeout
    builder = (ApplicationBuilder()
               .token(token)
               .base_url(base_url)
               .concurrent_updates(type(processor)(processor.max_concurrent_updates))
               .connection_pool_size(request._client_kwargs["limits"].max_connections)
               .connect_timeout(timeout.connect).read_timeout(timeout.read)
               .write_timeout(timeout.write).pool_timeout(timeout.pool)
               .get_updates_connection_pool_size(updates_request._client_kwargs["limits"].max_connections)
               .get_updates_connect_timeout(updates_timeout.connect).get_updates_read_timeout(updates_timeout.read)
               .get_updates_write_timeout(updates_timeout.write).get_updates_pool_timeout(updates_timeout.pool))
    limiter = limiter_like(like)
    if limiter is not None:
        builder = builder.rate_limiter(limiter)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return application
