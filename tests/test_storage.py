"""One storage interface, two back-ends: the same tests on SQLite files and on a real PostgreSQL server.

The query log (/usage, /unanswered, masking, retention), feedback (answers kept, votes set, changed and
taken back, what needs review) and teachings (taught, settled by a reload, undone, exported) behave alike
on both; with PostgreSQL, two stores opened on one database (two replicas) see each other's rows and hash
a user alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.answer import Answer, Source
from bot.storage import PostgresDatabase, open_storage
from bot.teach import review_since

from .servers import database_url, postgres_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """(open, url): `open()` opens the stores on this back-end (call it twice for two replicas)."""
    url = request.getfixturevalue("database_url") if request.param == "postgres" else ""
    opened = []

    def open_():
        storage = open_storage(tmp_path / "data", database_url=url, retention_days=30)
        opened.append(storage)
        return storage

    yield open_, request.param
    for storage in opened:
        storage.close()


def _answer(text="截至2020年，全臺已提供逾9,735個 iTaiwan 熱點。", intent="fact", answered=True) -> Answer:
    return Answer(query="iTaiwan 熱點有幾個", answered=answered, intent=intent, answer=text, confidence=0.9,
                  sources=[Source(section="伍、主軸1 一、(二) 1.", title="提升公共場域行動通訊服務品質", agency="國發會",
                                  quote="已提供全臺逾9,735個 iTaiwan 熱點")],
                  suggestions=["iTaiwan 總共有多少人使用過？"])


def test_the_query_log_counts_masks_and_prunes_alike(backend):
    open_, _ = backend
    log = open_().querylog
    now = datetime.now(timezone.utc)
    first = log.record(user_id=7, chat_type="private", question="iTaiwan 熱點有幾個", intent="faq", answered=True,
                       confidence=0.93, latency_ms=1.2)
    second = log.record(user_id=8, chat_type="web", question="高雄天氣如何 0912-345-678", intent="out_of_scope",
                        answered=False, confidence=0.1, latency_ms=0.8)
    log.record(user_id=7, chat_type="private", question="很久以前", intent="fact", answered=True, confidence=0.9,
               latency_ms=1.0, when=now - timedelta(days=60))
    assert second > first
    usage = log.usage(7)
    assert usage.total == 2 and usage.users == 2 and usage.answered_share == 0.5
    assert usage.top_questions[0][1] == 1
    [(question, times, _)] = log.unanswered()
    assert question == "高雄天氣如何 [電話號碼]" and times == 1  # masked before it was stored
    assert log.count() == 3
    assert log.prune() == 1 and log.count() == 2  # older than the 30 days kept
    assert log.user_hash(7) == log.user_hash(7) != log.user_hash(8) and len(log.user_hash(7)) == 24


def test_feedback_votes_change_and_go_alike(backend):
    open_, _ = backend
    storage = open_()
    feedback = storage.feedback
    query_id = storage.querylog.record(user_id=5, chat_type="private", question="iTaiwan 熱點有幾個", intent="fact",
                                       answered=True, confidence=0.9, latency_ms=1)
    answer_id = feedback.record_answer(_answer(), user=5, channel="private", question="iTaiwan 熱點有幾個",
                                       query_id=query_id)
    kept = feedback.answer(answer_id)
    assert kept["answered"] is True and kept["sources"][0]["agency"] == "國發會" and kept["query_id"] == query_id
    assert kept["suggestions"] == ["iTaiwan 總共有多少人使用過？"]
    vote = feedback.vote(answer_id, user=5, vote="down", comment="應該是一萬個")
    assert (vote.previous, vote.current) == (None, "down")
    assert feedback.vote(answer_id, user=5, vote="up").previous == "down"
    assert feedback.vote(answer_id, user=6, vote="down").current == "down"
    assert feedback.tally(answer_id) == {"up": 1, "down": 1}
    assert feedback.user_vote(answer_id, 5) == "up"
    assert feedback.vote(answer_id, user=6, vote=None).previous == "down"  # taken back
    assert feedback.tally(answer_id) == {"up": 1, "down": 0} and feedback.count_votes() == 1
    assert feedback.vote(answer_id, user=9, vote="up", owner_only=True) is None  # not the asker's
    assert feedback.vote("no-such-answer", user=5, vote="up") is None
    refused = feedback.record_answer(_answer("報告沒有這項資料。", "out_of_scope", False), user=6, channel="web",
                                     question="高雄天氣如何")
    feedback.vote(answer_id, user=6, vote="down", comment="錯")
    reasons = {(row["id"], row["reason"], row["comment"]) for row in feedback.needing_review(review_since())}
    assert reasons == {(refused, "refused", ""), (answer_id, "disliked", "錯")}


def test_teachings_are_taught_settled_and_undone_alike(backend, tmp_path, kb):
    open_, _ = backend
    teach = open_().teach
    entry = kb.faq[0]
    taught = teach.teach_faq(["熱點到底有幾個", "熱點到底有幾個", " "], entry, by=42)
    assert taught.id and taught.status == "pending" and taught.questions == ["熱點到底有幾個"]
    assert taught.created_by == teach.user_hash(42) != "42"
    refused = teach.mark_out_of_scope(["明天會下雨嗎"], by=42)
    dismissed = teach.dismiss(["隨便問問"], by=42)
    assert [t.id for t in teach.changes()[0]] == [taught.id, refused.id]
    teach.settle([taught.id, refused.id], [], ok=True)
    assert {t.id: t.status for t in teach.list()} == {taught.id: "active", refused.id: "active",
                                                      dismissed.id: "dismissed"}
    assert teach.untaught(taught.id, by=43).status == "removing"
    assert teach.untaught(taught.id, by=43) is None  # nothing more to undo
    teach.settle([], [taught.id], ok=False, detail="worse")
    assert teach.get(taught.id).status == "active" and "worse" in teach.get(taught.id).detail
    assert teach.handled() >= {"熱點到底有幾個", "明天會下雨嗎", "隨便問問"}
    files = teach.export(tmp_path / "export")
    assert "熱點到底有幾個" in files[0].read_text(encoding="utf-8")
    assert len(teach.labelled(("active",))) == 2


def test_two_replicas_on_one_postgres_database_share_everything(database_url, tmp_path):
    """What one replica logged, recorded and was taught, the other reads; a user hashes alike on both."""
    one = open_storage(tmp_path / "one", database_url=database_url)
    two = open_storage(tmp_path / "two", database_url=database_url)
    try:
        assert one.querylog.user_hash(1001) == two.querylog.user_hash(1001)
        one.querylog.record(user_id=1001, chat_type="private", question="5G 基地台", intent="fact", answered=True,
                            confidence=0.9, latency_ms=1)
        two.querylog.record(user_id=1001, chat_type="web", question="5G 基地台", intent="fact", answered=True,
                            confidence=0.9, latency_ms=1)
        assert two.querylog.usage(1).total == 2 and one.querylog.usage(1).users == 1
        answer_id = one.feedback.record_answer(_answer(), user=1001, channel="web", question="q")
        assert two.feedback.vote(answer_id, user=1001, vote="up", owner_only=True).current == "up"
        teaching = two.teach.mark_out_of_scope(["今天天氣"], by=7)
        assert one.teach.get(teaching.id).questions == ["今天天氣"]
        assert not (tmp_path / "one" / "querylog.sqlite").exists()  # nothing of it went to the data directory
    finally:
        one.close()
        two.close()


def test_a_postgres_connection_that_broke_is_opened_again(database_url):
    db = PostgresDatabase(database_url)
    try:
        pid = db.query("select pg_backend_pid()")[0][0]
        killer = PostgresDatabase(database_url)
        killer.query("select pg_terminate_backend(?)", (pid,))
        killer.close()
        assert db.query("select 41 + 1")[0][0] == 42  # the first use after the break reconnects
        assert db.query("select pg_backend_pid()")[0][0] != pid
    finally:
        db.close()


def test_a_message_answered_again_is_logged_once(backend):
    """A Telegram update answered again after its replica died (same `ref`) is one row, with one id."""
    open_, _ = backend
    log = open_().querylog
    first = log.record(user_id=7, chat_type="private", question="iTaiwan 熱點有幾個", intent="faq", answered=True,
                       confidence=0.9, latency_ms=1, ref="telegram:1:41")
    again = open_().querylog.record(user_id=7, chat_type="private", question="iTaiwan 熱點有幾個", intent="faq",
                                    answered=True, confidence=0.9, latency_ms=1, ref="telegram:1:41")
    other = log.record(user_id=7, chat_type="private", question="iTaiwan 熱點有幾個", intent="faq", answered=True,
                       confidence=0.9, latency_ms=1, ref="telegram:1:42")
    log.record(user_id=7, chat_type="web", question="iTaiwan 熱點有幾個", intent="faq", answered=True,
               confidence=0.9, latency_ms=1)
    log.record(user_id=7, chat_type="web", question="iTaiwan 熱點有幾個", intent="faq", answered=True,
               confidence=0.9, latency_ms=1)
    assert again == first != other
    assert log.count() == 4 and log.usage(1).total == 4
