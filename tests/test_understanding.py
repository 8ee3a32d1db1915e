"""The understanding stages on their own: normalise, tokenise, repair typos, entities, small talk."""

import pytest

from intents.classify import smalltalk_intent, strip_leading_greeting
from intents.entities import extract_years
from intents.normalize import ANALYSED_CHARS, match_form, normalize


@pytest.fixture(scope="module")
def understander(assistant):
    return assistant.understander


def test_normalisation_width_case_and_script():
    n = normalize("ｉＴａｉｗａｎ　熱點有幾個？")
    assert n.text == "itaiwan 熱點有幾個?"
    assert normalize("偏远地区宽带怎么样").text == "偏遠地區寬帶怎麼樣"  # 宽带 → 寬頻 is a synonym, not a script change
    assert normalize("台灣").text == "臺灣"  # the report writes 臺


def test_traditional_input_keeps_report_characters(understander):
    # 里 is also the Simplified form of 裡; the report's 村里 must survive conversion.
    assert "村里" in understander.understand("偏遠村里有幾個").text


def test_control_characters_and_length_cap():
    n = normalize("熱點\x00\x07有幾個" + "字" * 5000)
    assert "\x00" not in n.original and n.truncated and len(n.original) == ANALYSED_CHARS
    assert not normalize("字" * ANALYSED_CHARS).truncated


def test_jieba_works_on_simplified_and_keeps_report_terms(understander):
    words = understander.tokenizer.cut(match_form("寬頻涵蓋率多少"))
    assert "寬頻" in words
    assert understander.tokenizer.cut("budget of axis 3") == ["budget", "of", "axis", "3"]  # Latin stays whole


@pytest.mark.parametrize("typed, repaired", [
    ("iTaiwan熱店有幾個", ("熱店", "熱點")),
    ("借問占已經核備幾處了", ("借問佔", "借問站")),
    ("寬平涵蓋率", ("寬平", "寬頻")),
    ("函蓋率是多少", ("函蓋率", "涵蓋率")),
    ("超高話質設備", ("話質", "畫質")),
    ("數位國家基礎還境", ("還境", "環境")),  # 還 read huan, not its usual hai
    ("就業精卡核發了幾張", ("精卡", "金卡")),  # jieba glues the typo to the next word (精卡核)
    ("數位法規條適的成果", ("條適", "調適")),  # the report term's 調 is read tiao as well as diao
])
def test_homophone_typos_are_repaired(understander, typed, repaired):
    u = understander.understand(typed)
    assert any(repaired[0] in c.typed and repaired[1] in c.term for c in u.corrections), u.corrections


@pytest.mark.parametrize("text", ["新住民專屬新聞網站", "國網中心資料集平台", "數位服務經濟規模2017年有多大"])
def test_correct_words_are_left_alone(understander, text):
    assert understander.understand(text).corrections == []


def test_mainland_and_everyday_words_reach_report_terms(understander):
    expanded = {term for _, term in understander.understand("免費wifi熱點").expansions}
    assert "itaiwan" in expanded
    assert "數位經濟" in {t for _, t in understander.understand("数字经济规模").expansions}


def test_years_including_roc_relative_and_ranges():
    assert extract_years("2018年和2020年") == ([2018, 2020], None)
    assert extract_years("民國107年") == ([2018], None)
    assert extract_years("去年的預算")[0] == []  # relative years need today's year
    assert extract_years("去年的預算", this_year=2026)[0] == [2025]  # relative to today, as the asker means it
    assert extract_years("2017到2020年")[1] == (2017, 2020)


@pytest.mark.parametrize("text, axis", [
    ("主軸三的預算", 3), ("第5主軸", 5), ("智慧城鄉那個主軸", 4), ("研發先進數位科技", 6), ("axis 2 budget", 2),
])
def test_axis_entity(understander, text, axis):
    assert understander.understand(text).entities.axis == axis


def test_indicator_place_and_ask_entities(understander):
    e = understander.understand("數位生活服務使用普及律2019年是多少").entities  # a typo in a long name
    assert e.indicator == "digital_life_adoption" and e.years == [2019]
    assert understander.understand("寬頻涵蓋率是多少").entities.ask == "percent"
    assert understander.understand("美國寬頻建設投入多少錢").entities.places == ["美國"]
    assert understander.understand("哪一年成立的").entities.ask == "date"
    assert understander.understand("借問站有幾處").entities.unit == "處"
    assert understander.understand("第幾名").entities.ask == "rank"


@pytest.mark.parametrize("text, intent", [
    ("嗨", "greeting"), ("晚上好，打擾一下", "greeting"), ("hello!", "greeting"), ("感謝幫忙！", "thanks"),
    ("謝啦，資料很清楚", "thanks"), ("thank you", "thanks"), ("請問這個機器人可以查什麼資料？", "help"),
    ("What can you do?", "help"), ("", "help"), ("再見囉～", "greeting"), ("你能干什么？", "help"),
    ("這個要怎麼用？", "help"), ("怎么使用这个助手", "help"), ("好喔", "thanks"), ("好的我知道了，謝謝", "thanks"),
    ("这个助手能回答哪些问题？", "help"),
])
def test_smalltalk(text, intent):
    assert smalltalk_intent(normalize(text).text) == intent


@pytest.mark.parametrize("text", ["iTaiwan熱點有幾個", "謝謝你們推動iTaiwan，熱點有幾個？", "好的，那2019年呢",
                                  "MyData要怎麼使用", "晚上好，打擾一下 5G頻譜標金多少"])
def test_questions_are_not_smalltalk(text):
    assert smalltalk_intent(normalize(text).text) is None


def test_leading_greeting_is_stripped():
    assert strip_leading_greeting(normalize("你好，請問iTaiwan熱點有幾個").text) == "itaiwan熱點有幾個"


def test_english_names_in_pinyin_and_function_phrases(understander):
    u = understander.understand("How many air boxes were set up in the Guanyin industrial zone as of end-2020?")
    alternatives = {c.typed: c.alternatives for c in u.concepts}
    assert "觀音" in alternatives["guanyin"]  # a place name written in pinyin
    assert 2020 in u.entities.years and "end-2020" not in alternatives
    assert not {"as", "according to"} & set(alternatives)
    assert "according to" not in {typed for typed, _ in understander.understand(
        "According to the report, how big is the digital economy?").expansions}


def test_how_to_apply_and_contact_questions_are_recognised(understander):
    for text in ("在職訓練補助要怎麼申請", "國家文化記憶庫網址是什麼", "How do I apply for the gold card?"):
        assert understander.understand(text).entities.procedure, text
    for text in ("就業金卡核發了幾張", "註冊人數有多少", "國家文化記憶庫入口網站何時上線"):
        assert not understander.understand(text).entities.procedure, text


@pytest.mark.parametrize("text, ask", [
    ("How long is the cable laid along the east coast?", "count"),  # a length: any amount
    ("How long did the gold card review take?", "duration"),
    ("無線電頻率使用費收費標準是哪兩次修正的？", "date"),  # 頻率 is a frequency, not a rate
])
def test_what_kind_of_figure_is_asked(understander, text, ask):
    assert understander.understand(text).entities.ask == ask
