"""The query log keeps what /usage and /unanswered need and nothing longer or more personal than that.

Owner-only files, the salt in a folder of its own, ID and phone numbers masked, old rows deleted, and
readers on a read-only connection of their own (a long report never holds up the answers being logged).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import Config, ConfigError
from bot.querylog import LOG_FILENAME, SALT_FILENAME, QueryLog, mask_personal, salt_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def record(log: QueryLog, question: str, *, when: datetime | None = None, answered: bool = False,
           user: int = 1) -> None:
    log.record(user_id=user, chat_type="private", question=question, intent="out_of_scope" if not answered else "fact",
               answered=answered, confidence=0.1, latency_ms=1.0, when=when)


def test_files_are_the_owners_only_and_the_salt_lives_apart(tmp_path):
    old_umask = os.umask(0o022)  # a common default, under which SQLite would make 0644 files
    try:
        log = QueryLog(tmp_path / "data")
        record(log, "iTaiwan 熱點有幾個")
    finally:
        os.umask(old_umask)
    data = tmp_path / "data"
    assert mode(data) == 0o700
    for name in (LOG_FILENAME, LOG_FILENAME + "-wal", LOG_FILENAME + "-shm"):
        assert mode(data / name) == 0o600, name
    salt = salt_path(data)
    assert salt.parent != data and mode(salt.parent) == 0o700 and mode(salt) == 0o600
    assert not (data / SALT_FILENAME).exists()
    log.close()


def test_a_salt_beside_an_old_log_moves_apart_and_hashes_stay_the_same(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / SALT_FILENAME).write_bytes(b"s" * 32)  # where earlier versions kept it
    (data / SALT_FILENAME).chmod(0o644)
    log = QueryLog(data)
    try:
        assert not (data / SALT_FILENAME).exists() and salt_path(data).read_bytes() == b"s" * 32
        assert mode(salt_path(data)) == 0o600
        import hashlib
        import hmac
        assert log.user_hash(42) == hmac.new(b"s" * 32, b"42", hashlib.sha256).hexdigest()[:24]
    finally:
        log.close()


def test_an_existing_world_readable_log_is_made_private(tmp_path):
    data = tmp_path / "data"
    QueryLog(data).close()
    os.chmod(data / LOG_FILENAME, 0o644)
    QueryLog(data).close()
    assert mode(data / LOG_FILENAME) == 0o600


@pytest.mark.parametrize("typed, kept", [
    ("我是陳美玲，身分證A123456789，電話0912-345-678", "我是陳美玲，身分證[身分證號]，電話[電話號碼]"),
    ("手機 0912345678 或 +886 912 345 678", "手機 [電話號碼] 或 [電話號碼]"),
    ("市話(02)2345-6789、07-123-4567、+886-2-2345-6789", "市話[電話號碼]、[電話號碼]、[電話號碼]"),
    ("全形０９１２３４５６７８與Ａ１２３４５６７８９", "全形[電話號碼]與[身分證號]"),
    ("居留證A823456789", "居留證[身分證號]"),
])
def test_id_and_phone_numbers_are_masked(typed, kept):
    assert mask_personal(typed) == kept


@pytest.mark.parametrize("question", [
    "iTaiwan 熱點有9,735個嗎", "2017 2018 2019 2020 各主軸預算", "主軸1 2017-2020 加總", "1Gbps 85個偏鄉 98.8%",
    "截至2020年12月31日止", "民國109年預算254.4億元", "4.46億人次 1萬5,458人", "客服專線0800-080-123",
])
def test_the_reports_figures_are_not_masked(question):
    assert mask_personal(question) == question


def test_masking_is_on_by_default_and_can_be_switched_off(tmp_path):
    question = "電話0912-345-678幫我查"
    masked, kept = QueryLog(tmp_path / "a"), QueryLog(tmp_path / "b", mask=False)
    try:
        record(masked, question)
        record(kept, question)
        assert masked.unanswered()[0][0] == "電話[電話號碼]幫我查"
        assert kept.unanswered()[0][0] == question
    finally:
        masked.close()
        kept.close()
    assert Config.from_env({}).querylog_mask is True
    assert Config.from_env({"DIGIBOT_QUERYLOG_MASK": "0"}).querylog_mask is False
    with pytest.raises(ConfigError):
        Config.from_env({"DIGIBOT_QUERYLOG_MASK": "maybe"})


def test_rows_older_than_the_retention_period_are_deleted(tmp_path):
    now = datetime.now(timezone.utc)
    log = QueryLog(tmp_path / "data", retention_days=30)
    try:
        for age in (0, 29, 31, 400):
            record(log, f"{age} 天前的問題", when=now - timedelta(days=age))
        assert log.count() == 4
        assert log.prune() == 2
        assert sorted(q for q, _, _ in log.unanswered()) == ["0 天前的問題", "29 天前的問題"]
    finally:
        log.close()
    # and at start-up: a log that was left alone for a year shrinks when the bot starts again
    log = QueryLog(tmp_path / "data", retention_days=1)
    try:
        assert log.count() == 1
    finally:
        log.close()
    assert Config.from_env({}).querylog_retention_days == 180
    assert Config.from_env({"DIGIBOT_QUERYLOG_RETENTION_DAYS": "30"}).querylog_retention_days == 30


def test_a_large_prune_gives_pages_back_to_the_disk(tmp_path):
    now = datetime.now(timezone.utc)
    log = QueryLog(tmp_path / "data", retention_days=30)
    try:
        rows = [(now - timedelta(days=60)).isoformat(timespec="seconds"), (now - timedelta(days=60)).date().isoformat(),
                "u", "private", "很舊的問題" * 20, "fact", 1, 0.9, 1.0]
        with log._db._lock:
            log._db._con.execute("begin")
            log._db._con.executemany("insert into queries (ts, day, user_hash, chat_type, question, intent, answered,"
                                 " confidence, latency_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", [rows] * 20000)
            log._db._con.execute("commit")
            log._db._con.execute("pragma wal_checkpoint(truncate)")
        pages_before = log._db._con.execute("pragma page_count").fetchone()[0]
        assert log.prune() == 20000
        assert log._db._con.execute("pragma page_count").fetchone()[0] < pages_before / 4
    finally:
        log.close()


def test_readers_use_a_read_only_connection_and_do_not_wait_for_the_writer(tmp_path):
    log = QueryLog(tmp_path / "data")
    try:
        record(log, "高雄天氣如何")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            log._db._reader_connection().execute("delete from queries")
        # A report in progress holds the readers' lock; an answer being logged must not wait for it.
        with log._db._read_lock:
            writer = threading.Thread(target=record, args=(log, "台北天氣如何"))
            writer.start()
            writer.join(60)
            assert not writer.is_alive(), "the writer waited for a reader"
        assert log.count() == 2
    finally:
        log.close()


def test_the_readers_queries_use_covering_indexes(tmp_path):
    log = QueryLog(tmp_path / "data")
    try:
        plans = {
            "usage totals": "select count(*), coalesce(sum(answered), 0), count(distinct user_hash) from queries "
                            "where day >= '2026-01-01'",
            "top questions": "select question, count(*) c from queries where day >= '2026-01-01' and intent not in "
                             "('greeting', 'thanks', 'help') group by question order by c desc, max(ts) desc limit 5",
            "unanswered": "select question, count(*), max(ts) from queries where answered = 0 and intent in "
                          "('out_of_scope', 'clarify', 'fact', 'faq', 'stat') group by question order by max(ts) desc "
                          "limit 10",
        }
        for name, sql in plans.items():
            plan = " ".join(row[-1] for row in log._db._reader_connection().execute("explain query plan " + sql))
            assert "COVERING INDEX" in plan, (name, plan)
    finally:
        log.close()
