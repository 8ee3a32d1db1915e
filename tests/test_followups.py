"""Multi-turn: a follow-up is read in the context of the previous question."""

import time

from bot.session import SESSION_TTL_SECONDS, Session, SessionStore


def test_year_follow_up_after_a_budget_question(assistant):
    session = Session()
    first = assistant.ask("研發先進數位科技2018年預算多少？", session)
    assert "57.3億元" in first.answer
    second = assistant.ask("那2019年呢？", session)
    assert second.intent == "stat" and "57.4億元" in second.answer
    third = assistant.ask("主軸2呢", session)
    assert "45.8億元" in third.answer  # same year (2019), another axis


def test_indicator_follow_up(assistant):
    session = Session()
    assistant.ask("數位生活服務使用普及率2018年多少", session)
    answer = assistant.ask("2020年呢？", session)
    assert "66%" in answer.answer


def test_topic_follow_up_after_a_services_question(assistant):
    session = Session()
    first = assistant.ask("「我的E政府」集中列示了多少項服務？", session)
    assert "4,500" in first.answer
    second = assistant.ask("MyData 呢？", session)
    if second.answered:  # the figure MyData's own passage gives …
        assert "MyData" in second.sources[0].title + second.sources[0].quote
        assert any(n in second.answer for n in ("144", "57", "100"))
    else:  # … or, which of its figures being open, a did-you-mean about MyData
        assert second.intent == "clarify" and all("MyData" in s for s in second.suggestions[:2])


def test_without_session_a_follow_up_is_not_guessed(assistant):
    answer = assistant.ask("那2019年呢？")
    assert not answer.answered


def test_sessions_expire():
    store = SessionStore()
    session = store.get("chat-1")
    session.intent, session.updated = "stat", time.time() - SESSION_TTL_SECONDS - 1
    assert store.get("chat-1").intent is None
    assert store.get("chat-1") is store.get("chat-1")


def test_a_question_too_vague_to_stand_alone_continues_the_topic(assistant):
    session = Session()
    assert "9,735" in assistant.ask("iTaiwan 熱點有幾個?", session).answer  # answered from the FAQ
    answer = assistant.ask("總共使用多少人次？", session)
    assert answer.answered and "4.46億" in answer.answer


def test_a_name_alone_is_not_an_english_question(assistant):
    answer = assistant.ask("MyData")
    assert answer.lang == "zh" and not answer.answer.startswith("From the report")
