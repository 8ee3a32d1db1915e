"""Rendering for Telegram: escaping, buttons, splitting long HTML, officials' tables and arguments."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer import Answer, Source
from handlers.telegram import tables
from handlers.telegram.render import ButtonStore, answer_html, answer_keyboard, quotes_html, split_html, visible_length
from tests.botapi_stub import parse_html, utf16_len


def test_answer_html_escapes_everything_and_carries_a_compact_source():
    answer = Answer(query="q", answered=True, intent="fact", answer="<b>9,735</b> & more",
                    sources=[Source("伍、主軸1 一、(二) 1.", "提升<服務>", "國發會&通傳會", "原文 <x>")],
                    suggestions=["a" * 300, "第二個問題？"])
    markup = answer_html(answer)
    visible, entities = parse_html(markup)
    assert "<b>9,735</b> & more" in visible
    assert "來源：伍、主軸1 一、(二) 1. 提升<服務> · 國發會&通傳會" in visible
    assert [e["type"] for e in entities] == ["italic"]
    store = ButtonStore()
    keyboard = answer_keyboard(answer, store).inline_keyboard
    assert [row[0].text for row in keyboard][1:] == ["第二個問題？", "📄 原文"]
    assert len(keyboard[0][0].text) <= 60
    assert all(len(row[0].callback_data.encode()) <= 64 for row in keyboard)
    assert store.get(keyboard[0][0].callback_data[2:]) == {"q": "a" * 300}  # the whole question, server-side
    quote = quotes_html(store.get(keyboard[-1][0].callback_data[4:]))
    assert "原文 <x>" in parse_html(quote)[0]


def test_unanswered_replies_show_no_source_line():
    answer = Answer(query="q", answered=False, intent="out_of_scope", answer="抱歉",
                    sources=[Source("伍、", "成果", "", "成果")], suggestions=["例子"])
    assert "來源" not in answer_html(answer)
    assert [row[0].text for row in answer_keyboard(answer, ButtonStore()).inline_keyboard] == ["例子"]


def test_button_store_is_bounded_and_keys_are_stable():
    store = ButtonStore(capacity=3)
    keys = [store.put({"q": str(i)}) for i in range(5)]
    assert len(store) == 3 and store.get(keys[0]) is None and store.get(keys[4]) == {"q": "4"}
    assert store.put({"q": "4"}) == keys[4]


# ------------------------------------------------------------------------------ splitting
def test_split_prefers_line_breaks_and_keeps_tags_balanced():
    lines = [f"<b>第{i}行</b> " + "內容" * 30 + " &amp; 更多" for i in range(200)]
    markup = "<i>" + "\n".join(lines) + "</i>"
    chunks = split_html(markup, 4096)
    assert len(chunks) > 1
    for chunk in chunks:
        visible, _ = parse_html(chunk)  # would raise on broken HTML
        assert utf16_len(visible) <= 4096
        assert chunk.startswith("<i>") and chunk.endswith("</i>")
        assert visible.rstrip().endswith("更多")  # cut at a line end, not mid-line
    assert sum(visible_length(c) for c in chunks) >= visible_length(markup) - len(chunks)


def test_split_a_single_huge_line_at_sentence_ends():
    markup = "<pre>" + "這是一句話。" * 1500 + "</pre>"
    chunks = split_html(markup, 4096)
    assert len(chunks) == 3
    for chunk in chunks:
        visible, entities = parse_html(chunk)
        assert visible.endswith("。") and entities[0]["type"] == "pre"


fragments = st.lists(st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).map(html.escape),
    st.sampled_from(["\n", "。", "😀", "&amp;", "&#128512;", " "]),
    st.tuples(st.sampled_from(["b", "i", "code", "blockquote"]),
              st.text(min_size=1, max_size=30).map(html.escape)).map(lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"),
), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(fragments, st.integers(min_value=20, max_value=300))
def test_split_html_property(parts, limit):
    markup = "".join(parts)
    original = parse_html(markup)[0]
    chunks = split_html(markup, limit)
    total = 0
    for chunk in chunks:
        visible, _ = parse_html(chunk)
        assert utf16_len(visible) <= limit
        assert visible.strip() or not original.strip()  # never an empty message from a non-empty text
        total += utf16_len(visible)
    if original.strip():
        # Nothing is lost except the line breaks dropped at the cuts (and whitespace alone at a cut, which
        # Telegram would trim from a message anyway).
        assert total >= utf16_len(original) - len(chunks) - original.count("\n")
        assert re.sub(r"\s", "", "".join(parse_html(c)[0] for c in chunks)) == re.sub(r"\s", "", original)


# ------------------------------------------------------------------------ tables, arguments
def test_tables_are_valid_html_with_the_reports_spelling(kb):
    for markup in [tables.budget_by_axis(kb), tables.budget_by_year(kb), tables.budget_year(kb, 2019),
                   tables.budget_by_axis(kb, [2017, 2020], 1), tables.indicators_table(kb),
                   tables.indicators_table(kb, [2019]), tables.indicator_detail(kb, "it_power_rank")]:
        visible, entities = parse_html(markup)
        assert any(e["type"] == "pre" for e in entities)
        assert "來源" in visible
    assert "30.0" in tables.budget_year(kb, 2019)  # printed as 30.0億元, not 30
    grid = tables.grid([["主軸", "2020"], ["合計", "244"]], "<>")
    assert [tables.display_width(line) for line in parse_html(grid)[0].splitlines()] == [10, 10]
