"""Configuration from environment variables (see DESIGN.md); read once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_API_BASE = "https://api.telegram.org/bot"


class ConfigError(ValueError):
    pass


def _ids(value: str, name: str) -> frozenset[int]:
    ids = set()
    for part in value.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.add(int(part))
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated Telegram user ids, got {part!r}") from None
    return frozenset(ids)


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (on or off), got {text!r}")


def _positive(env: dict[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {text!r}")
    return value


def _url(env: dict[str, str], name: str, schemes: tuple[str, ...]) -> str:
    text = env.get(name, "").strip()
    if text and not text.lower().startswith(schemes):
        # Never echo the value: it usually carries a password.
        raise ConfigError(f"{name} must start with {' or '.join(schemes)}")
    return text


@dataclass(frozen=True)
class Config:
    token: str = ""
    api_base_url: str = DEFAULT_API_BASE
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    official_ids: frozenset[int] = field(default_factory=frozenset)
    data_dir: Path = Path("data")
    port: int = 8080
    webhook_url: str = ""
    webhook_secret: str = ""
    trust_proxy: bool = False  # behind a proxy that appends the client to X-Forwarded-For
    ask_rate_per_minute: float = 30.0  # questions per client: a web address, a Telegram user
    ask_burst: int = 10
    answer_workers: int = 2  # threads answering questions off the event loop (see bot/core.py)
    querylog_retention_days: int = 180  # query log rows older than this are deleted
    querylog_mask: bool = True  # ID card and phone numbers in stored questions are masked
    http_header_timeout: float = 15.0  # seconds a client has to send its request headers (also idle keep-alive)
    http_body_timeout: float = 15.0  # seconds a client has to send a request body
    # Replicas (README "Scaling out"): both optional; unset means one process with everything in it.
    redis_url: str = ""  # REDIS_URL: sessions, rate limits, the flood budget, buttons, update de-duplication, leases
    database_url: str = ""  # DATABASE_URL: PostgreSQL for the query log, feedback and teachings

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Config":
        env = dict(os.environ if env is None else env)
        port_text = env.get("PORT", "8080").strip() or "8080"
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(f"PORT must be a number, got {port_text!r}") from None
        return cls(
            trust_proxy=_flag(env.get("DIGIBOT_TRUST_PROXY", "")),
            ask_rate_per_minute=_positive(env, "DIGIBOT_ASK_RATE_PER_MINUTE", cls.ask_rate_per_minute),
            ask_burst=max(1, int(_positive(env, "DIGIBOT_ASK_BURST", cls.ask_burst))),
            answer_workers=max(1, int(_positive(env, "DIGIBOT_ANSWER_WORKERS", cls.answer_workers))),
            querylog_retention_days=max(1, int(_positive(env, "DIGIBOT_QUERYLOG_RETENTION_DAYS",
                                                         cls.querylog_retention_days))),
            querylog_mask=_switch(env, "DIGIBOT_QUERYLOG_MASK", cls.querylog_mask),
            http_header_timeout=_positive(env, "DIGIBOT_HTTP_HEADER_TIMEOUT", cls.http_header_timeout),
            http_body_timeout=_positive(env, "DIGIBOT_HTTP_BODY_TIMEOUT", cls.http_body_timeout),
            token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
            api_base_url=env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE,
            admin_ids=_ids(env.get("DIGIBOT_ADMIN_IDS", ""), "DIGIBOT_ADMIN_IDS"),
            official_ids=_ids(env.get("DIGIBOT_OFFICIAL_IDS", ""), "DIGIBOT_OFFICIAL_IDS"),
            data_dir=Path(env.get("DIGIBOT_DATA_DIR", "").strip() or "data"),
            port=port,
            webhook_url=env.get("WEBHOOK_URL", "").strip(),
            webhook_secret=env.get("WEBHOOK_SECRET", "").strip(),
            redis_url=_url(env, "REDIS_URL", ("redis://", "rediss://", "unix://")),
            database_url=_url(env, "DATABASE_URL", ("postgres://", "postgresql://")),
        )

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_ids

    def is_official(self, user_id: int | None) -> bool:
        return user_id is not None and (user_id in self.official_ids or user_id in self.admin_ids)
