"""Answers for inline mode (`@bot 偏鄉寬頻` in any chat): up to five answers from the report.

The answer to the query itself comes first; then the answers to the questions it suggests (or,
for a did-you-mean, to its options). A query with no answer — empty, or not in the report —
offers the example questions, answered. Results are cached briefly per serving knowledge base:
Telegram sends a query for every pause in typing. Inline queries are not written to the query log
(a half-typed "偏鄉寬" is not a question anyone asked); a result someone sends is an ordinary message.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from intents.normalize import clean_display, match_form

from .answer import Answer

INLINE_RESULTS = 5  # answers offered for one inline query (Telegram allows 50)
INLINE_CACHE_SECONDS = 60  # how long an inline query's answers are reused (here and by Telegram)
INLINE_CACHE_ENTRIES = 512
MAX_INLINE_QUERY = 256  # Telegram's own limit on an inline query's text


class InlineAnswers:
    """Answers for inline queries, with a small time-limited cache."""

    def __init__(self, core, *, ttl: float = INLINE_CACHE_SECONDS, capacity: int = INLINE_CACHE_ENTRIES,
                 clock=time.monotonic):
        self.core = core
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self._cache: OrderedDict[tuple[int, str], tuple[float, list[Answer], bool]] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # how many queries were answered afresh (the rest came from the cache)

    def answers(self, text: str) -> tuple[list[Answer], bool]:
        """Up to INLINE_RESULTS answered Answers for `text`, and whether they are about it (False: the
        examples, offered because the query has no answer)."""
        assistant = self.core.assistant
        query = clean_display(text or "")[0][:MAX_INLINE_QUERY]
        key = (id(assistant), match_form(query))
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                self._cache.move_to_end(key)
                return hit[1], hit[2]
        found, about = self._compute(assistant, query)
        with self._lock:
            self._cache[key] = (now, found, about)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return found, about

    def _compute(self, assistant, query: str) -> tuple[list[Answer], bool]:
        self.computed += 1
        picked: list[Answer] = []
        seen: set[str] = set()

        def add(answer: Answer) -> None:
            if answer.answered and answer.answer not in seen and len(picked) < INLINE_RESULTS:
                seen.add(answer.answer)
                picked.append(answer)

        if query.strip():
            first = assistant.ask(query)
            add(first)
            if first.answered or first.intent == "clarify":  # its follow-ups, or its did-you-mean options
                for question in first.suggestions:
                    add(assistant.ask(question))
        if picked:
            return picked, True
        for question in assistant.example_questions(INLINE_RESULTS):
            add(assistant.ask(question))
        return picked, False
