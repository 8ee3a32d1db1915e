"""Conversation context: what the last answered question was about, for follow-ups ("那2019年呢?").

Plain values only (with REDIS_URL a session is kept in Redis as JSON, bot/shared.py): the last question's resolved text,
its years, what it asked, the report node its answer came from and, for a table answer, the table
request (table, axis, indicator, view).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SESSION_TTL_SECONDS = 30 * 60  # a follow-up half an hour later is a new conversation


@dataclass
class Session:
    intent: str | None = None  # of the last answered question: fact, faq or stat
    text: str = ""  # normalised text of the last answered question, with the context it was read in
    years: list[int] = field(default_factory=list)  # the years it asked about (or its answer gave)
    ask: str | None = None
    node_id: int | None = None
    table: str | None = None  # a table answer: "budget" or "indicators"
    axis: int | None = None
    indicator: str | None = None
    total: bool = False  # the budget's stated totals
    superlative: str | None = None  # "which axis got the most": asked again for another year
    view: str | None = None  # table arithmetic: breakdown, sum, change, average
    updated: float = 0.0
    # The last reply this conversation got (any intent but feedback), for "答案錯了" and "找真人":
    # its id in the feedback store and the agencies its sources name.
    last_answer_id: str = ""
    last_agencies: list[str] = field(default_factory=list)
    last_question: str = ""
    last_at: float = 0.0

    def expired(self, now: float | None = None) -> bool:
        """True when the last exchange is too old to be followed up (a new session is not)."""
        return bool(self.updated) and (now or time.time()) - self.updated > SESSION_TTL_SECONDS

    def clear(self) -> None:
        self.__init__()


class SessionStore:
    """Sessions by key (chat id, browser session), dropping the stale ones as it goes."""

    def __init__(self, max_sessions: int = 10000):
        self._sessions: dict[str, Session] = {}
        self.max_sessions = max_sessions

    def get(self, key: str) -> Session:
        session = self._sessions.get(key)
        if session is None or session.expired():
            session = Session()
            self._sessions[key] = session
            if len(self._sessions) > self.max_sessions:
                self._evict()
        return session

    def _evict(self) -> None:
        now = time.time()
        for key in [k for k, s in self._sessions.items() if s.expired(now)]:
            del self._sessions[key]
        while len(self._sessions) > self.max_sessions:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].updated)
            del self._sessions[oldest]

    async def load(self, key: str) -> Session:
        """The same as `get` (what bot/shared.SharedSessions does with Redis, for replicas)."""
        return self.get(key)

    async def save(self, key: str, session: Session) -> None:
        """Nothing to do: the session is the stored object itself."""

    def __len__(self) -> int:
        return len(self._sessions)
