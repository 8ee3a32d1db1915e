"""Bad input gets a valid Answer, never an exception."""

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer import MAX_ANSWER_CHARS
from bot.grounding import ungrounded_numbers

INTENTS = {"greeting", "thanks", "help", "fact", "faq", "stat", "clarify", "out_of_scope"}


def _valid(answer):
    data = answer.to_dict()
    json.dumps(data, ensure_ascii=False)  # serialisable
    assert data["intent"] in INTENTS
    assert isinstance(data["answered"], bool) and 0.0 <= data["confidence"] <= 1.0
    assert len(data["answer"]) <= MAX_ANSWER_CHARS and data["answer"].strip()
    assert not ungrounded_numbers(answer.answer, [s.quote + s.title for s in answer.sources]) or not answer.answered
    return data


@pytest.mark.parametrize("text", [
    "", "   ", "\n\t", "字" * 10_000, "😀😀😀", "🇹🇼", "\x00\x01\x02熱點\x7f", "<b>iTaiwan</b> 熱點有幾個?",
    "<script>alert(1)</script>", "**MyData** _服務_ 有幾項 `code`", "'; DROP TABLE faq; --", "熱點\" OR 1=1 --",
    "NEAR(熱點 iTaiwan) AND *", "\u202e熱點\u202c", "\ufeff", "0" * 500, "⁉️" * 100, "ℹ️ＩＴＡＩＷＡＮ",
])
def test_hostile_input(assistant, text):
    data = _valid(assistant.ask(text))
    assert "<script>" not in data["answer"]


def test_empty_question_asks_for_one(assistant):
    answer = assistant.ask("   ")
    assert answer.intent == "help" and not answer.answered and "請輸入" in answer.answer


def test_html_in_the_question_is_answered_as_text(assistant):
    answer = assistant.ask("<b>iTaiwan</b> 熱點有幾個?")
    assert "9,735" in answer.answer


def test_non_string_input_is_tolerated(assistant):
    assert assistant.ask(None).intent == "help"  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_unicode(assistant, text):
    _valid(assistant.ask(text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["熱點", "iTaiwan", "預算", "2019", "主軸", "<", "&", "呢", "?", "MyData", "寬頻",
                                 "多少", "\u3000", "年", "🙂", "DROP", "'", "\\"]), max_size=12).map("".join))
def test_random_domain_fragments(assistant, text):
    _valid(assistant.ask(text))


def test_grounding_check_finds_invented_numbers():
    assert ungrounded_numbers("已提供9,735個熱點", ["已提供全臺逾9,735個 iTaiwan 熱點"]) == []
    assert ungrounded_numbers("已提供9,753個熱點", ["已提供全臺逾9,735個 iTaiwan 熱點"]) == ["9753"]
    assert ungrounded_numbers("2020年 66%", ["2020年我國普及率已達66%"]) == []


@pytest.mark.parametrize("answer, quote", [("17", "2017年起"), ("4.4億人次", "總使用逾4.46億人次"),
                                           ("9,73個熱點", "逾9,735個熱點")])
def test_grounding_compares_whole_numbers(answer, quote):
    """A number is grounded by the same whole number, never by part of a longer one."""
    assert ungrounded_numbers(answer, [quote])


def test_a_computed_figure_is_grounded_only_by_its_quoted_parts_and_right_arithmetic():
    from bot.grounding import Computed

    quote = ["主軸 1.數位創新基礎環境 5.2億元 29.8億元 41.8億元 41.8億元"]
    parts = ("5.2", "29.8", "41.8", "41.8")
    assert ungrounded_numbers("四年加總118.6億元", quote, [Computed("118.6", parts)]) == []
    assert ungrounded_numbers("四年加總118.7億元", quote, [Computed("118.7", parts)]) == ["118.7"]  # wrong sum
    assert ungrounded_numbers("加總47.0億元", quote, [Computed("47.0", ("5.2", "41.8"))]) == []
    assert ungrounded_numbers("加總50億元", quote, [Computed("50", ("8.2", "41.8"))]) == ["50"]  # 8.2 not quoted


def test_reply_with_an_ungrounded_figure_falls_back_to_the_quote(assistant, monkeypatch):
    from bot import compose

    def tampered(real):
        def body(*args, **kwargs):
            text, sources = real(*args, **kwargs)
            return text.replace("9,735", "9,999"), sources
        return body

    # Whichever route answers (the report's passage or a curated FAQ entry), its figure is tampered with.
    monkeypatch.setattr(compose, "fact_body", tampered(compose.fact_body))
    monkeypatch.setattr(compose, "faq_body", tampered(compose.faq_body))
    answer = assistant.ask("iTaiwan 熱點有幾個")
    assert "9,999" not in answer.answer
    assert "9,735" in answer.answer  # the report's own sentence instead
    assert not re.search(r"9,999", json.dumps(answer.to_dict(), ensure_ascii=False))
