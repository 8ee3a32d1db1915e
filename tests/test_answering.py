"""Answers to everyday questions: the report's exact figure, its source, and honest refusals."""

import re

import pytest

from bot.answer import MAX_ANSWER_CHARS
from bot.evaluate import ask_row, evaluate, load_questions
from bot.grounding import numbers

from .conftest import DEV_SET, REPO

LABELLED = REPO / "knowledge" / "curated" / "questions"
# The sets the hand-written rules were tuned on before the learned decision (their first measurements
# are in NOTES.md); the later sets arrived after the rules were written.
TUNED_ON = {"project", "independent-1", "independent-2", "independent-3", "independent-4", "independent-5"}


@pytest.mark.parametrize("question", [
    "iTaiwan 熱點有幾個?",          # Traditional
    "itaiwan热点有几个？",           # Simplified
    "全台iTaiwan熱店現在有幾個",     # a homophone typo
    "How many iTaiwan hotspots are there?",  # English
])
def test_itaiwan_hotspots_in_any_wording(assistant, question):
    answer = assistant.ask(question)
    assert answer.answered and answer.intent in ("fact", "faq")
    assert "9,735" in answer.answer
    source = answer.sources[0]
    assert source.section == "伍、主軸1 一、(二) 1."
    assert source.agency == "國發會、通傳會、交通部等"
    assert source.title == "提升公共場域行動通訊服務品質"
    assert "9,735" in source.quote
    assert 0.5 <= answer.confidence <= 1.0
    assert answer.suggestions and all(isinstance(s, str) for s in answer.suggestions)


def test_answer_states_the_period(assistant):
    answer = assistant.ask("借問站已經核備幾處了")
    assert "634處" in answer.answer and "2020年" in answer.answer


def test_long_sentences_are_cut_to_the_relevant_clauses(assistant):
    answer = assistant.ask("行政院數位國家創新經濟推動小組成立於哪一年？")
    assert "2017" in answer.answer
    assert len(answer.answer) < len(answer.sources[0].quote)  # the quote is the whole sentence
    assert "總召集人" not in answer.answer or len(answer.answer) <= 160


def test_english_question_quotes_the_chinese_source(assistant):
    answer = assistant.ask("How many R&D staff did Google plan to recruit after bringing in HTC's phone team in 2018?")
    assert answer.answered and "300" in answer.answer and answer.answer.startswith("From the report")


@pytest.mark.parametrize("question", [
    "高雄這週末天氣怎樣？", "台灣2020年GDP成長率是多少？", "What is the annual budget of Estonia's e-Residency program?",
    "美国宽带建设计划投入了多少钱？", "你推薦哪家電信公司的吃到飽方案？", "2023年的數位經濟規模是多少？",
    "iPhone 15 在台灣賣多少？",
])
def test_out_of_scope_is_refused_honestly(assistant, question):
    answer = assistant.ask(question)
    assert not answer.answered and answer.intent == "out_of_scope"
    assert "2017" in answer.answer and "2020" in answer.answer  # says what the report covers
    # No figure other than the period: nothing invented.
    assert set(re.findall(r"\d+", answer.answer)) <= {"2017", "2020"}
    assert answer.suggestions


def test_low_confidence_asks_did_you_mean(assistant):
    answer = assistant.ask("那個計畫的成果如何")
    assert answer.intent in ("clarify", "out_of_scope") and not answer.answered
    assert 1 <= len(answer.suggestions) <= 3


@pytest.mark.parametrize("question, intent", [("嗨", "greeting"), ("謝謝！", "thanks"), ("你可以查什麼？", "help")])
def test_smalltalk_replies(assistant, question, intent):
    answer = assistant.ask(question)
    assert answer.intent == intent and not answer.answered and answer.suggestions


def test_every_answer_is_short_and_every_figure_is_quoted(assistant):
    """Every number is quoted, or a figure the bot computed from quoted parts (and says so)."""
    for row in load_questions(LABELLED):
        answer = ask_row(assistant, row)
        assert len(answer.answer) <= MAX_ANSWER_CHARS
        quoted = set(numbers(" ".join(s.quote + " " + s.title for s in answer.sources)))
        computed = {c.text.replace(",", "").lstrip("+-") for c in answer.computed
                    if c.holds() and all(p.replace(",", "") in quoted for p in c.parts)}
        if computed:
            assert "計算值" in answer.answer or "computed" in answer.answer, answer.answer
        for number in numbers(answer.answer):
            assert number in quoted | computed, (row.get("q") or row["turns"], number, answer.answer)


def test_json_contract(assistant):
    data = assistant.ask("MyData 線上服務有幾項？").to_dict()
    assert set(data) == {"query", "answered", "intent", "answer", "sources", "confidence", "suggestions"}
    assert data["intent"] in ("greeting", "thanks", "help", "fact", "faq", "stat", "clarify", "out_of_scope")
    assert set(data["sources"][0]) == {"section", "title", "agency", "quote"}
    assert "144" in data["answer"]


@pytest.mark.skipif(not DEV_SET.exists(), reason="the shared dev set is not beside this checkout")
def test_dev_set_meets_the_targets(assistant):
    """The shared dev set is never trained on: held-out targets (measured 87.5–91.7% right over retrainings, no wrong figure;
    the 95% it was once held to came from rules written for its own questions)."""
    report = evaluate(assistant, load_questions(DEV_SET))
    assert report.accuracy >= 0.85, report.failures
    assert report.wrong_rate <= 0.02, report.failures
    assert report.refusal_rate >= 0.90, report.failures
    assert report.greeting_rate == 1.0, report.failures


def test_project_question_set_holds(assistant):
    """The labelled sets the rules were tuned on (also in the /reload quality gate) must not regress."""
    tuned_on = [row for row in load_questions(LABELLED) if row["set"] in TUNED_ON]
    report = evaluate(assistant, tuned_on)
    assert report.accuracy >= 0.88, report.failures
    assert report.wrong_rate <= 0.04, report.failures
    assert report.refusal_rate >= 0.90, report.failures
    assert report.greeting_rate == 1.0, report.failures


@pytest.mark.parametrize("question, agency", [
    ("iTaiwan 是哪個機關負責的？", "國發會、通傳會、交通部等"),
    ("偏鄉寬頻是誰負責的", "通傳會"),
    ("主軸4的主責機關是誰", "行政院科會辦"),
    ("營造友善法制環境由哪個機關負責？", "國發會"),
    ("Which agency leads axis 6?", "科技部"),
])
def test_agency_questions_name_the_agency(assistant, question, agency):
    answer = assistant.ask(question)
    assert answer.answered and agency in answer.answer
    assert agency.split("、")[0] in answer.sources[0].agency + answer.sources[0].quote


def test_no_reply_needs_the_grounding_fallback(assistant, caplog):
    """The fallback exists for safety; the composer itself must never state an unquoted number."""
    rows = load_questions(LABELLED)
    if DEV_SET.exists():
        rows += load_questions(DEV_SET)
    with caplog.at_level("ERROR", logger="bot.assistant"):
        for row in rows:
            ask_row(assistant, row)
    assert not [r for r in caplog.records if "ungrounded" in r.getMessage()]


def answered_or_offered(assistant, question: str, figure: str) -> bool:
    """Answered with `figure`, or a "did you mean" whose first option is answered with it."""
    answer = assistant.ask(question)
    if answer.answered:
        return figure in answer.answer
    return answer.intent == "clarify" and bool(answer.suggestions) and figure in assistant.ask(answer.suggestions[0]).answer


def test_a_procedure_question_names_the_agency_but_states_no_figure(assistant):
    answer = assistant.ask("在職訓練補助如何申請？")
    assert not answer.answered and answer.intent == "out_of_scope"
    assert "勞動部" in answer.answer and "申辦方式" in answer.answer
    assert set(re.findall(r"\d+", answer.answer)) <= {"2017", "2020"}
    assert any("勞動部" in s.agency for s in answer.sources)
    # The report says only that the gold card is applied for online: that sentence, or the same refusal
    # naming the agency that runs it (國發會) — never a figure of the gold card's other results.
    gold = assistant.ask("就業金卡怎麼申請？")
    if gold.answered:
        assert "線上申請" in gold.answer
    else:
        assert gold.intent == "out_of_scope" and "國發會" in gold.answer and not re.search(r"\d", gold.answer.split("。")[0])


def test_another_countrys_figure_is_not_taken_from_a_comparison(assistant):
    answer = assistant.ask("南韓在IMD世界人才報告排名第幾？")  # the report only says Taiwan ranks above it
    assert not answer.answered and answer.intent in ("out_of_scope", "clarify") and not numbers(answer.answer)[2:]
    taiwan = assistant.ask("臺灣在IMD世界人才報告排名第幾？")
    assert taiwan.answered and "第20名" in taiwan.answer


def test_a_count_of_places_is_not_answered_with_a_rate(assistant):
    answer = assistant.ask("2019年有多少個偏鄉達到Gbps等級服務？")
    assert answer.answered and "85個偏鄉" in answer.answer
    assert not answer.answer.startswith("Gbps等級服務到偏鄉涵蓋率")  # the table's 87.2% is a rate


def test_two_questions_answered_by_one_sentence_are_not_repeated(assistant):
    answer = assistant.ask("智慧機器人自造基地培育多少人才？又創造多少就業機會？")
    assert answer.answered and "49,481" in answer.answer and "2,478" in answer.answer
    assert answer.answer.count("49,481") == 1


def test_a_subjectless_sentence_is_answered_under_its_heading(assistant):
    answer = assistant.ask("MyData有多少資料集")
    assert answer.answered and answer.answer.startswith("資料下載：") and "100項資料集" in answer.answer


def test_an_untitled_parents_opening_sentence_is_context(assistant):
    # "(二) …推動4K 超高畫質內容…" heads "1. …培育超高畫質專業人才，人次達2,094人".
    assert answered_or_offered(assistant, "4K節目製作人才培育了多少人次？", "2,094")


def test_a_unit_noun_counted_by_its_last_character(assistant):
    answer = assistant.ask("補助多少所學校開設5G課程？")  # the report: 補助46校開設111課次
    assert answer.answered and "46校" in answer.answer


def test_how_an_indicator_is_computed_comes_from_its_table_note(assistant):
    answer = assistant.ask("1Gbps寬頻涵蓋率的分母是什麼？")
    assert answer.answered and "家庭總戶數" in answer.answer
    assert answer.sources[0].section == "參、總體指標表 註4"
    english = assistant.ask("How is the rural Gbps coverage rate calculated?")
    assert english.answered and "全國總偏鄉數" in english.answer


def test_the_tables_do_not_answer_for_one_city_or_a_breakdown(assistant):
    city = assistant.ask("高雄市的智慧停車格有幾格？")  # the report gives a 10-city total only
    assert not city.answered
    assert "4萬" in assistant.ask("智慧停車格串聯多少個？").answer
    breakdown = assistant.ask("主軸4的預算各縣市分別拿到多少？")
    assert breakdown.intent != "stat"


def test_a_duration_in_days_is_found(assistant):
    answer = assistant.ask("法令草案預告期結束以後，機關要在幾天內綜整回應？")
    assert answer.answered and "14日" in answer.answer


def test_each_part_of_a_two_part_question_finds_its_own_passage(assistant):
    answer = assistant.ask("MyData臨櫃核驗有幾項？線上服務又有幾項？")
    assert answer.answered and "57項" in answer.answer and "144項" in answer.answer


def test_a_negated_term_does_not_match(assistant):
    # "非偏遠地區" (the rest of Taiwan) is the opposite of what the question asks about.
    answer = assistant.ask("偏远地区宽带怎么样")
    assert "非偏遠" not in answer.answer and (not answer.answered or "偏鄉" in answer.answer)
    assert "90%" in assistant.ask("非偏遠地區的1Gbps寬頻涵蓋率多少").answer
    # Retrieval: the sentence about 非偏遠地區 gets nothing for 偏遠地區 (it had been the best BM25 match).
    u = assistant.understand("偏遠地區寬頻")
    matches = assistant.index.match(assistant._query(u), 5)
    assert matches and "非偏遠" not in matches[0].sentence.text
    assert any("偏遠" in m.sentence.text and "非偏遠" not in m.sentence.text for m in matches)
