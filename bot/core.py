"""What every channel calls: `Core.answer(text, session, channel=…, user=…)` asks the current
knowledge base, times the answer and logs it. Channels (handlers/) hold one `Core` and never
reach past it into the knowledge base or the query log to answer a question.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from intents.normalize import MAX_CHARS, clean_display
from knowledge.build import KNOWLEDGE_DIR, BuildError
from knowledge.store import KBError

from . import tables
from .answer import Answer
from .querylog import QueryLog
from .service import KnowledgeService
from .session import Session, SessionStore

MAX_QUESTION_CHARS = MAX_CHARS  # a longer message is read only this far (channels say so)

log = logging.getLogger(__name__)


class Core:
    """The answering core as the channels see it: reloadable knowledge, conversation sessions, the query log."""

    def __init__(self, service: KnowledgeService, querylog: QueryLog, sessions: SessionStore | None = None):
        self.service = service
        self.querylog = querylog
        self.sessions = sessions if sessions is not None else SessionStore()

    @classmethod
    def open(cls, data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR) -> "Core":
        """The core on `data_dir`: its KB (built first when missing or stale) and its query log."""
        return cls(KnowledgeService(data_dir, knowledge_dir), QueryLog(data_dir))

    def close(self) -> None:
        self.querylog.close()

    @property
    def assistant(self):
        """The Assistant serving right now (read per request: a reload swaps it)."""
        return self.service.current

    @property
    def kb(self):
        return self.service.kb

    def session(self, key: str | None) -> Session:
        """The conversation context for `key` (a chat, a browser session); a fresh one for None."""
        return self.sessions.get(key) if key else Session()

    def stats_request(self, text: str):
        """What a statistics command asks of the report's tables (the parser chat uses too)."""
        return self.service.current.stats_request(text)

    def stats(self, text: str) -> dict | None:
        """A statistics request in words, as data: the request as read, and the figures it asks for (with
        units; computed figures with their parts). None when it names neither table."""
        request = self.stats_request(text)
        if request.table is None:
            return None
        return tables.request_figures(self.kb, request)

    def answer(self, text: str, session: Session | None = None, *, channel: str, user: int | str | None) -> Answer:
        """Answer one message with the session's context, and log it (a failed log line costs no answer)."""
        started = time.perf_counter()
        answer = self.service.current.ask(text, session)
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            # What is logged: no control characters or lone surrogates, at most MAX_QUESTION_CHARS.
            self.querylog.record(user_id=user, chat_type=channel, question=clean_display(text)[0], intent=answer.intent,
                                 answered=answer.answered, confidence=answer.confidence, latency_ms=latency_ms)
        except Exception:  # a full disk must not stop the answers
            log.exception("could not record the query")
        return answer


def open_core(data_dir: Path, command: str, knowledge_dir: Path = KNOWLEDGE_DIR) -> Core | None:
    """For the long-running commands: the core, or None after telling stderr why the KB is unusable."""
    try:
        return Core.open(data_dir, knowledge_dir)
    except (BuildError, KBError) as exc:
        print(f"digibot {command}: the knowledge base could not be built or loaded: {exc}", file=sys.stderr)
        return None
