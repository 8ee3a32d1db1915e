"""The query log survives `kill -9` of `digibot run` in the middle of a load.

The bot runs as its own process (`python -m bot run`) against the loopback stand-in in this process,
with DIGIBOT_DATA_DIR holding the built KB. While it answers a burst it is killed with SIGKILL, three
times over the same data directory (restarted in between). After each kill, before anything else
opens it, the log (SQLite, WAL) must have an uncheckpointed WAL to recover from, pass
`pragma integrity_check`, and hold one well-formed row for every reply the stand-in received (each
is written before its reply is sent) and no more than the questions the bot had in flight besides:
nothing lost that was answered, nothing corrupted.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys

import pytest

from bot.querylog import LOG_FILENAME, QueryLog
from handlers.telegram.app import PerChatUpdateProcessor
from tests.load_stub import LoadStub
from tests.test_load import QUESTIONS, push_load

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")

INTENTS = {"greeting", "thanks", "help", "fact", "faq", "stat", "clarify", "out_of_scope"}
KILLS = 3
# Questions being handled at once (what `build_application` configures): the most rows that can be
# written whose replies had not reached the stand-in yet when the process died.
IN_FLIGHT = PerChatUpdateProcessor().max_concurrent_updates


async def start_bot(api: LoadStub, data_dir, log_path):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
           "DIGIBOT_DATA_DIR": str(data_dir)}
    for name in ("DIGIBOT_ADMIN_IDS", "DIGIBOT_OFFICIAL_IDS", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        env.pop(name, None)
    with open(log_path, "ab") as log:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                       stdout=log, stderr=log)
    try:
        await api.wait_for("getUpdates", timeout=60, in_flight=True)  # started and long polling
    except AssertionError:
        process.kill()
        await process.wait()
        raise AssertionError(f"digibot run did not start:\n{log_path.read_text()[-3000:]}") from None
    return process


def read_log(path) -> tuple[str, str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        [(integrity,)] = con.execute("pragma integrity_check").fetchall()
        [(mode,)] = con.execute("pragma journal_mode").fetchall()
        rows = con.execute("select id, ts, day, user_hash, chat_type, question, intent, answered, confidence,"
                           " latency_ms from queries order by id").fetchall()
    finally:
        con.close()
    return integrity, mode, rows


async def test_query_log_survives_kill_9_in_the_middle_of_the_load(data_dir, tmp_path):
    questions = {q for q, _ in QUESTIONS}
    path = data_dir / LOG_FILENAME
    rows_before = 0
    for cycle in range(KILLS):
        async with LoadStub() as api:
            process = await start_bot(api, data_dir, tmp_path / "bot.log")
            try:
                push_load(api, chats=60, per_chat=10, first_user=6_200_001 + 1000 * cycle)
                await api.wait_replies_progressing(40 + 30 * cycle)  # mid-way (600 asked), a different point each time
                process.send_signal(signal.SIGKILL)
                await asyncio.wait_for(process.wait(), 30)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            assert process.returncode == -signal.SIGKILL
            replies, handed_out = len(api.replies), len(api.handed_out)
        assert replies < 600, "the load finished before the kill"

        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0, "nothing left to recover: the test would prove nothing"
        integrity, mode, rows = read_log(path)
        assert integrity == "ok"
        assert mode == "wal"
        new = rows[rows_before:]
        assert replies <= len(new) <= min(handed_out, replies + IN_FLIGHT), (cycle, replies, len(new), handed_out)
        assert [r[0] for r in rows] == sorted({r[0] for r in rows})  # ids unique, nothing half-written
        for _, ts, day, user_hash, chat_type, question, intent, answered, confidence, latency in new:
            assert question in questions and chat_type == "private" and intent in INTENTS
            assert re.fullmatch(r"[0-9a-f]{24}", user_hash) and ts.startswith(day)
            assert answered in (0, 1) and 0.0 <= confidence <= 1.0 and latency >= 0.0
        rows_before = len(rows)

    log = QueryLog(data_dir)  # and the product reads it as usual afterwards
    try:
        assert log.count() == rows_before
        assert log.usage(days=1).total == rows_before
    finally:
        log.close()
