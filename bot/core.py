"""What every channel calls: `await Core.ask(text, session, channel=…, user=…)` (or, outside an event
loop, `Core.answer`) asks the current knowledge base, times the answer and logs it. Channels (handlers/)
hold one `Core` and never reach past it into the knowledge base or the query log to answer a question.

Before the knowledge base is asked, a complaint about the last answer or a request for a person
(bot/feedback.py) and a question an admin marked out of scope (bot/teach.py) get their own reply.
Every answer is kept with an id (`Answer.answer_id`) that channels send back with 👍/👎.

Answering is CPU work (a crafted 300-character question costs ~15 ms), so `ask` runs it on a small pool
of worker threads and the event loop stays free for everything else (/healthz, other chats, Bot API
calls). Threads rather than processes: measured in benchmarks/loop_latency.py, ten worst-case questions
in a burst keep /healthz's p99 far under 100 ms with threads, and processes would each need their own
copy of the knowledge base and a way to hand sessions and reloads across.

Replicas (README "Scaling out"): with DATABASE_URL the query log, feedback and teachings are in
PostgreSQL (bot/storage.py); with REDIS_URL sessions live in Redis and `converse` loads and saves them
around each answer, `reload` runs one gated reload across all replicas and publishes the knowledge base
it swapped in, and `start` listens for the ones other replicas publish (bot/shared.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from intents.normalize import ANALYSED_CHARS, analysed, clean_display
from knowledge.build import KNOWLEDGE_DIR, BuildError
from knowledge.store import KBError

from . import feedback, tables
from .answer import Answer
from .config import Config
from .feedback import FeedbackStore
from .querylog import QueryLog
from .service import KnowledgeService, ReloadResult, ReloadStatus
from .session import Session, SessionStore
from .storage import StorageError, open_storage
from .teach import TeachStore, taught_refusal

MAX_QUESTION_CHARS = ANALYSED_CHARS  # a longer message is read only this far (channels say so)

log = logging.getLogger(__name__)


def read_partly(text: str) -> bool:
    """True when a message is longer than what is read of it (channels tell the user)."""
    return analysed(text)[1]


class Core:
    """The answering core as the channels see it: reloadable knowledge, conversation sessions, the query log."""

    def __init__(self, service: KnowledgeService, querylog: QueryLog, sessions: SessionStore | None = None, *,
                 workers: int = Config.answer_workers, feedback: FeedbackStore | None = None,
                 teach: TeachStore | None = None, shared=None):
        """`feedback` and `teach` default to stores beside the query log (the service's teach store first).
        `shared`: a bot.shared.SharedState (REDIS_URL) this core's replica shares with the others."""
        self.service = service
        self.querylog = querylog
        self.sessions = sessions if sessions is not None else SessionStore()
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="answer")
        self._conversations: dict[object, list] = {}  # session (or its key) → [lock, asks holding or waiting]
        self.feedback = feedback or FeedbackStore(querylog.path.parent, querylog.user_hash, mask=querylog.mask)
        self.teach = teach or getattr(service, "teach", None) or TeachStore(querylog.path.parent, querylog.user_hash)
        self.shared = shared
        self._listener: asyncio.Task | None = None

    @classmethod
    def open(cls, data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, *, config: Config | None = None) -> "Core":
        """The core on `data_dir`: its KB (built first when missing or stale, with what admins taught; the
        last good one, marked stale, when knowledge/ no longer builds), its query log, feedback and
        teachings (in PostgreSQL with `config.database_url`), sessions in Redis with `config.redis_url`;
        `config` gives the tunables."""
        config = config or Config(data_dir=data_dir)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # runtime state: the owner's only (when we make it)
        storage = open_storage(data_dir, database_url=config.database_url,
                               retention_days=config.querylog_retention_days, mask=config.querylog_mask)
        try:
            service = KnowledgeService(data_dir, knowledge_dir, teach=storage.teach)
        except BaseException:
            storage.close()
            raise
        shared = sessions = None
        if config.redis_url:
            from .shared import SharedSessions, SharedState

            shared = SharedState(config.redis_url)
            sessions = SharedSessions(shared)
        return cls(service, storage.querylog, sessions, workers=config.answer_workers, feedback=storage.feedback,
                   teach=storage.teach, shared=shared)

    async def start(self) -> None:
        """Replicas: listen for knowledge bases other replicas' /reload published (no-op in one process)."""
        if self.shared is None or self._listener is not None:
            return
        from .shared import KBBroadcast

        try:
            await self.shared.redis.ping()
        except Exception as exc:
            raise StorageError(f"cannot reach Redis at REDIS_URL ({type(exc).__name__})") from None
        ready = asyncio.Event()
        self._listener = asyncio.create_task(KBBroadcast(self.shared).listen(self.adopt, ready))
        await asyncio.wait({self._listener, asyncio.ensure_future(ready.wait())}, return_when=asyncio.FIRST_COMPLETED)
        latest = await KBBroadcast(self.shared).latest()
        if latest and latest != self.service.fingerprint:
            log.warning("this replica serves knowledge base %s; the last /reload of the replicas published %s "
                        "(a deploy with other knowledge/ files, or teachings this replica could not build in)",
                        self.service.fingerprint[:12], latest[:12])

    async def stop(self) -> None:
        """Stop listening and close the shared connection (the stores are closed by `close`)."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self.shared is not None:
            await self.shared.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.querylog.close()
        self.feedback.close()
        self.teach.close()

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

    async def ask(self, text: str, session: Session | None = None, *, channel: str, user: int | str | None) -> Answer:
        """`answer` on a worker thread, so the event loop is never held up by answering. The messages of one
        conversation (one session) are answered one after another, in the order they came."""
        loop = asyncio.get_running_loop()
        work = functools.partial(self.answer, text, session, channel=channel, user=user)
        if session is None:
            return await loop.run_in_executor(self._pool, work)
        async with self._turn(id(session)):
            return await loop.run_in_executor(self._pool, work)

    async def converse(self, text: str, key: str | None, *, channel: str, user: int | str | None) -> Answer:
        """`ask` in the conversation stored under `key` ("telegram:<chat>", "web:<id>"; None: no context):
        its session is loaded before and saved after the answer — from and to Redis with REDIS_URL, so a
        follow-up continues its context whichever replica it reaches."""
        if not key:
            return await self.ask(text, None, channel=channel, user=user)
        loop = asyncio.get_running_loop()
        ref = None
        if self.shared is not None:  # a Telegram update answered again after its replica died is logged once
            from .shared import CURRENT_UPDATE

            in_hand = CURRENT_UPDATE.get()
            ref = in_hand and f"telegram:{in_hand.claims.bot}:{in_hand.update_id}"
        async with self._turn(("key", key)):
            session = await self.sessions.load(key)
            answer = await loop.run_in_executor(
                self._pool, functools.partial(self.answer, text, session, channel=channel, user=user, ref=ref))
            await self.sessions.save(key, session)
        return answer

    @contextlib.asynccontextmanager
    async def _turn(self, key):
        """One ask at a time per conversation in this process, in arrival order."""
        entry = self._conversations.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                self._conversations.pop(key, None)

    # ------------------------------------------------------------------------------- reloads
    async def reload(self) -> ReloadResult:
        """An admin's /reload: the evaluation-gated rebuild (KnowledgeService.reload) on a thread. With REDIS_URL
        one reload runs at a time across the replicas (a lease), and the knowledge base it swapped in is
        published for every replica to switch to."""
        if self.shared is None:
            return await asyncio.to_thread(self.service.reload)
        from .shared import KBBroadcast, Lease

        lease = Lease(self.shared, "reload")
        if not await lease.acquire():
            return ReloadResult(ReloadStatus.BUSY, "a reload is already running on another replica", 0.0)
        try:
            result = await asyncio.to_thread(self.service.reload)
            if result.ok:
                fingerprint, data = await asyncio.to_thread(self.service.kb_file)
                listening = await KBBroadcast(self.shared).publish(fingerprint, data)
                log.info("published knowledge base %s to the replicas (%d listening)", fingerprint[:12], listening)
            return result
        finally:
            await lease.release()

    async def adopt(self, fingerprint: str, data: bytes) -> None:
        """Switch to the knowledge base another replica's /reload published (its gate already passed)."""
        if fingerprint == self.service.fingerprint:
            return
        await asyncio.to_thread(self.service.adopt, fingerprint, data)
        log.info("switched to knowledge base %s, reloaded on another replica", fingerprint[:12])

    def answer(self, text: str, session: Session | None = None, *, channel: str, user: int | str | None,
               ref: str | None = None) -> Answer:
        """Answer one message with the session's context, and log it (a failed log line costs no answer; `ref`,
        the message's name, keeps a message answered twice from being logged twice). Only the first
        ANALYSED_CHARS characters are read."""
        started = time.perf_counter()
        session = session if session is not None else Session()
        answer, kind = self.reply(analysed(text if isinstance(text, str) else "")[0], session, user=user)
        latency_ms = (time.perf_counter() - started) * 1000
        question = clean_display(text if isinstance(text, str) else "")[0]
        try:
            # What is logged: no control characters or lone surrogates, at most MAX_QUESTION_CHARS.
            query_id = self.querylog.record(user_id=user, chat_type=channel, question=question, intent=answer.intent,
                                            answered=answer.answered, confidence=answer.confidence,
                                            latency_ms=latency_ms, ref=ref)
            answer.answer_id = self.feedback.record_answer(answer, user=user, channel=channel, question=question,
                                                           query_id=query_id, kind=kind)
        except Exception:  # a full disk must not stop the answers
            log.exception("could not record the query")
        feedback.remember(session, answer)
        return answer

    def reply(self, text: str, session: Session | None = None, *, user: int | str | None = None) -> tuple[Answer, str]:
        """The reply to one message, logged nowhere (`digibot ask` uses it as is), and what it is: "complaint",
        "contact" or "" (an answer from the knowledge base, or a refusal an admin taught)."""
        session = session if session is not None else Session()
        assistant = self.service.current
        try:
            replied = feedback.reply(text, session, kb=assistant.kb, ask=assistant.ask, store=self.feedback, user=user)
        except Exception:  # the feedback store failing must not cost the answer
            log.exception("could not handle a complaint or contact request")
            replied = None
        if replied is not None:
            return replied
        answer = taught_refusal(assistant.kb, text) or assistant.ask(text, session)
        return feedback.add_contacts(assistant.kb, answer), ""

    def vote(self, answer_id: str, vote: str | None, *, user: int | str | None, source: str = "button",
             owner_only: bool = False):
        """👍 ("up"), 👎 ("down") or no vote (None) on an answer; None when there is no such answer (for this user)."""
        return self.feedback.vote(answer_id, user=user, vote=vote, source=source, owner_only=owner_only)


def open_core(config: Config, command: str, knowledge_dir: Path = KNOWLEDGE_DIR) -> Core | None:
    """For the long-running commands: the core, or None after telling stderr why the KB is unusable."""
    try:
        return Core.open(config.data_dir, knowledge_dir, config=config)
    except (BuildError, KBError) as exc:
        print(f"digibot {command}: the knowledge base could not be built or loaded: {exc}", file=sys.stderr)
        return None
    except StorageError as exc:
        print(f"digibot {command}: {exc}", file=sys.stderr)
        return None
