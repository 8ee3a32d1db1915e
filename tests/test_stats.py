"""Statistics questions answered from the two tables."""

import pytest


@pytest.mark.parametrize("question, figure", [
    ("研发先进数字科技 2018 年预算多少？", "57.3億元"),
    ("主軸3 2020年預算", "29.0億元"),
    ("2020年智慧城鄉那個主軸編了多少錢？", "43.4億元"),
    ("DIGI+ 2018那一年總共投入多少科技預算？", "242億元"),
    ("What was the 2017 budget for the Digital Government pillar (Axis 3)?", "12.2億元"),
    ("數位經濟規模2019年多少", "4.7兆元"),
    ("Gbps等級服務到偏鄉函蓋率2017年是多少", "33.7%"),
    ("In 2017, where did Taiwan place in the IMD digital competitiveness ranking?", "12名"),
])
def test_table_lookups(assistant, question, figure):
    answer = assistant.ask(question)
    assert answer.answered and answer.intent in ("stat", "faq", "fact"), answer
    assert figure in answer.answer
    # The table, or a sentence of the report that states the same figure (數位經濟規模 is in both).
    assert answer.intent != "stat" or answer.sources[0].section in ("肆、投入預算表", "參、總體指標表")
    assert any(figure.replace("%", "") in s.quote for s in answer.sources)


def test_estimates_are_flagged(assistant):
    answer = assistant.ask("2020年數位經濟規模是多少")
    assert "4.9兆元" in answer.answer and "預估值" in answer.answer


def test_comparison_gives_both_years(assistant):
    answer = assistant.ask("研發先進數位科技的預算2017年和2020年比較")
    assert "23.8億元" in answer.answer and "53.7億元" in answer.answer


def test_superlative(assistant):
    answer = assistant.ask("2018年哪個主軸預算最多？")
    assert answer.intent == "stat" and "研發先進數位科技" in answer.answer and "57.3億元" in answer.answer


def test_total_with_source_discrepancy_is_flagged_without_new_figures(assistant):
    answer = assistant.ask("2020年DIGI+預算合計多少")
    assert "244億元" in answer.answer
    assert "不一致" in answer.answer
    assert "254.4" not in answer.answer  # a computed sum is not a report figure


def test_axis_without_budget(assistant):
    answer = assistant.ask("營造友善法制環境這個主軸每年預算多少？")
    assert answer.answered and "N/A" in answer.answer and "科技預算" in answer.answer


def test_years_outside_the_report_are_refused(assistant):
    answer = assistant.ask("2022年DIGI+預算合計多少")
    assert not answer.answered and answer.intent == "out_of_scope"


def test_english_labels(assistant):
    answer = assistant.ask("What was the total DIGI+ budget in 2019?")
    assert "251億元" in answer.answer and "total" in answer.answer.lower()
