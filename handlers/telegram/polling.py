"""`digibot run` with REDIS_URL: several replicas, one of them polling Telegram at a time.

Only the holder of the polling lease (bot/shared.Lease, renewed every few seconds) calls getUpdates; the
others wait to take it over. An update is handled under a claim (bot/shared.UpdateClaims) and marked done
once handled, and Telegram is told an update may be forgotten (the next getUpdates' `offset`) only when
every update before it is done. So when the holder dies, whatever it had fetched but not finished is still
at Telegram: the replica that takes the lease over fetches it again, skips what is done, waits out the
claims of what the dead replica was working on, and answers the rest — nothing lost, nothing answered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from telegram.error import Conflict, InvalidToken, NetworkError, TimedOut

from bot.redact import error_type
from bot.shared import CURRENT_UPDATE, InHand, Lease, UpdateClaims

from .app import ALLOWED_UPDATES, start_application

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds a getUpdates long poll waits at Telegram for updates
STANDBY_INTERVAL = 1.0  # seconds between a standby replica's tries for the lease
IDLE_WAIT = 0.5  # seconds to wait for a handled update before asking again while fetched ones are in flight
DRAIN_SECONDS = 10.0  # at SIGTERM, how long updates in flight get to finish


async def handle_claimed(application, claims: UpdateClaims, update) -> bool:
    """Handle one update at most once across replicas (the webhook uses this too): skip it when done, wait
    for the replica holding it (or for its lease to run out), handle it under this replica's claim and mark
    it done. False when another live replica still holds it."""
    update_id = update.update_id
    state = await claims.claim(update_id)
    if state == "busy":
        state = await claims.wait_settled(update_id, give_up=claims.lease * 3)
    if state == "done":
        log.info("update %d was already answered (a repeated delivery); not answering it again", update_id)
        return True
    if state != "mine":
        return False
    token = CURRENT_UPDATE.set(InHand(claims, update_id))  # the rate limiter marks it answered at its first send
    try:
        async with claims.held(update_id):
            await application.update_processor.process_update(update, application.process_update(update))
    except BaseException:
        with contextlib.suppress(Exception):
            await claims.release(update_id)  # not done: the next delivery tries again
        raise
    finally:
        CURRENT_UPDATE.reset(token)
    await claims.done(update_id)
    return True


class Poller:
    """getUpdates while holding the lease; each update handled in a task of its own (per chat in order)."""

    def __init__(self, application, claims: UpdateClaims, lease: Lease, stop: asyncio.Event):
        self.application = application
        self.claims = claims
        self.lease = lease
        self.stop = stop
        self.in_flight: dict[int, asyncio.Task] = {}
        self.finished: set[int] = set()  # handled here, at or after the offset Telegram still holds
        self.highest = 0

    async def run(self) -> None:
        bot = self.application.bot
        await bot.delete_webhook()  # polling and a webhook exclude each other
        offset: int | None = None
        while not self.stop.is_set() and not self.lease.lost.is_set():
            try:
                updates = await bot.get_updates(offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                                                read_timeout=POLL_TIMEOUT + 10)
            except Conflict:
                log.warning("getUpdates conflict: another poller is still waiting at Telegram; asking again")
                await asyncio.sleep(STANDBY_INTERVAL)
                continue
            except (NetworkError, TimedOut) as exc:
                log.warning("getUpdates failed (%s); asking again", error_type(exc))
                await asyncio.sleep(STANDBY_INTERVAL)
                continue
            new = [u for u in updates if u.update_id not in self.in_flight and u.update_id not in self.finished]
            for update in new:
                self.highest = max(self.highest, update.update_id)
                self.in_flight[update.update_id] = asyncio.create_task(self._handle(update))
            if not new and self.in_flight:  # only what is already being handled came back: let some finish
                await asyncio.wait(list(self.in_flight.values()), timeout=IDLE_WAIT,
                                   return_when=asyncio.FIRST_COMPLETED)
            offset = self._offset()

    def _offset(self) -> int | None:
        """The update Telegram must keep from: the oldest still in flight, or the one after the newest seen."""
        if self.in_flight:
            first = min(self.in_flight)
        elif self.highest:
            first = self.highest + 1
        else:
            return None
        self.finished = {u for u in self.finished if u >= first}
        return first

    async def _handle(self, update) -> None:
        try:
            if await handle_claimed(self.application, self.claims, update):
                self.finished.add(update.update_id)
        except Exception:
            log.exception("update %d could not be handled; it stays at Telegram for the next poll", update.update_id)
        finally:
            self.in_flight.pop(update.update_id, None)

    async def drain(self, seconds: float) -> None:
        if self.in_flight:
            await asyncio.wait(list(self.in_flight.values()), timeout=seconds)


async def serve_with_lease(application, core, stop: asyncio.Event) -> None:
    """Stand by, take the polling lease when it is free, poll until it is lost or `stop` is set."""
    bot_id = application.bot.token.split(":", 1)[0]
    claims = UpdateClaims(core.shared, bot_id)
    await start_application(application)
    await core.start()
    try:
        log.info("replica %s: waiting for the polling lease (one replica polls Telegram at a time)",
                 core.shared.replica)
        while not stop.is_set():
            lease = Lease(core.shared, f"polling:{bot_id}")
            if not await lease.acquire():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), STANDBY_INTERVAL)
                continue
            log.info("replica %s holds the polling lease: polling Telegram", core.shared.replica)
            poller = Poller(application, claims, lease, stop)
            try:
                await poller.run()
            finally:
                await poller.drain(DRAIN_SECONDS)
                await lease.release()
            if lease.lost.is_set():
                log.warning("lost the polling lease; standing by")
    finally:
        if application.running:
            await application.stop()
        await application.shutdown()
        await core.stop()


def run_with_lease(config, core, application) -> int:
    """`digibot run` with REDIS_URL, until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_with_lease(application, core, stop)

    try:
        asyncio.run(main())
    except InvalidToken:
        print("digibot run: Telegram rejected TELEGRAM_BOT_TOKEN; check the token from @BotFather", file=sys.stderr)
        return 1
    except Exception as exc:  # Redis unreachable, Telegram unreachable at start
        from bot.storage import StorageError

        if isinstance(exc, StorageError):
            print(f"digibot run: {exc}", file=sys.stderr)
            return 1
        raise
    return 0

