"""Secrets never reach a log: a logging filter that masks the bot token, the webhook secret and the
passwords in REDIS_URL and DATABASE_URL.

`install(config)` puts a `SecretFilter` on every handler of the root logger, so whatever logs a
record — our code, python-telegram-bot's DEBUG lines ("Set Bot API URL: …/bot<token>", "Calling Bot
API endpoint `setWebhook` with parameters {… 'secret_token': …}"), its retry loops, aiohttp's access
log, a traceback — the text that is written has every secret replaced by `***`. Our own messages
about failures name the error's type (`error_type`), not the library's text.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
_SECRET_CHARS = "A-Za-z0-9_-"
SHORT = 6  # a secret shorter than this is masked only where it stands alone (not inside other words)


def secrets_of(config) -> list[str]:
    """What must never be logged: the token (and its secret part alone), the webhook secret, and the
    webhook path derived from the token (it is what keeps the webhook URL unguessable)."""
    found = []
    token = getattr(config, "token", "") or ""
    if token:
        found += [token, quote(token, safe=""), hashlib.sha256(token.encode()).hexdigest()[:16]]
        _, _, secret_part = token.partition(":")
        if secret_part:
            found.append(secret_part)
    secret = getattr(config, "webhook_secret", "") or ""
    if secret:
        found.append(secret)
    for url in (getattr(config, "redis_url", "") or "", getattr(config, "database_url", "") or ""):
        password = _password(url)
        if password:  # REDIS_URL and DATABASE_URL usually carry one (redis://:pw@host, postgres://u:pw@host/db)
            found += [password, quote(password, safe="")]
    return found


def _password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""


class SecretFilter(logging.Filter):
    """Masks the given secrets in a record's message, its exception text and its stack text."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        parts = [re.escape(s) if len(s) >= SHORT else rf"(?<![{_SECRET_CHARS}]){re.escape(s)}(?![{_SECRET_CHARS}])"
                 for s in self.secrets]
        self._pattern = re.compile("|".join(parts)) if parts else None

    def mask(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None and text else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the pieces, masked
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def install(config, logger: logging.Logger | None = None) -> SecretFilter:
    """Mask `config`'s secrets in everything the handlers of `logger` (default: the root logger) write."""
    secret_filter = SecretFilter(secrets_of(config))
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(secret_filter)
    return secret_filter


def error_type(exc: BaseException) -> str:
    """An error for a log line without its text (which may quote a URL or the token): its type, and
    the type of what caused it ("NetworkError from ConnectError")."""
    name = type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    return f"{name} from {type(cause).__name__}" if cause is not None and type(cause) is not type(exc) else name
