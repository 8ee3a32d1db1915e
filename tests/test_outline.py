"""The report's outline as parsed from the PDF-extracted text."""

import re

import pytest

from knowledge.build import read_source, source_path
from knowledge.outline import OutlineError, compact_path, parse_outline

LEAD_AGENCIES = {1: "通傳會", 2: "經濟部", 3: "國發會", 4: "行政院科會辦", 5: "教育部", 6: "科技部"}


@pytest.fixture(scope="module")
def outline():
    text, _ = read_source(source_path())
    return parse_outline(text)


def test_seven_axes_with_their_lead_agencies(outline):
    axes = {a.number: a for a in outline.axes()}
    assert sorted(axes) == [1, 2, 3, 4, 5, 6, 7]
    for number, agency in LEAD_AGENCIES.items():
        assert axes[number].lead_agency == agency
        assert axes[number].agencies == [agency]
    # 主軸7 prints no 【主責機關】 tag; the build fills it from curated data (see test_build).
    assert axes[7].lead_agency == ""
    assert axes[1].title == "數位創新基礎環境"
    assert axes[7].title == "營造友善法制環境"


def test_itaiwan_node_path_agencies_and_figure(outline):
    node = outline.by_path("伍、主軸1 一、(二)")
    assert node.title == "提升公共場域行動通訊服務品質"
    assert node.agencies == ["國發會", "通傳會", "交通部等"]
    child = outline.by_path("伍、主軸1 一、(二) 1.")
    assert child.agencies == node.agencies and not child.agencies_own  # inherited
    assert child.display_title == node.title
    assert any("9,735個 iTaiwan 熱點" in s for s in child.sentences)


def test_paths_are_unique_and_numbering_restarts_are_marked(outline):
    paths = [n.path for n in outline.nodes]
    assert len(paths) == len(set(paths))
    assert "伍、主軸4 一、(三) 1.#2" in paths  # the second 1.–3. list under the same (三)


def test_pdf_damage_is_repaired(outline):
    sentences = [s for n in outline.nodes for s in n.sentences]
    text = "".join(sentences)
    assert "DIGI+方案相關工作" in text  # "DIGI" / "＋方案" across a line break
    assert "涵蓋全臺國道52條路線" in text  # the lone page number "28" between 涵 and 蓋 is gone
    cjk = "\u4e00-\u9fff"
    assert not [s for s in sentences if re.search(f"[{cjk}] [{cjk}]", s)]  # no stray spaces inside Chinese
    assert "1萬5,458人" in text  # "1萬 5,458人" in the PDF


def test_broken_lines_are_not_taken_for_headings(outline):
    # "中國大\n陸、代營運商…" must not open a part 陸、; "12月31日正式啟用" is not an item 12.
    assert [n.label for n in outline.nodes if n.kind == "top"] == ["壹、", "貳、", "參、", "肆、", "伍、"]
    assert any("中國大陸、代營運商八福客於泰國" in s for n in outline.nodes for s in n.sentences)


def test_tables_and_their_footnotes_are_separate_nodes(outline):
    notes = [n for n in outline.nodes if n.kind == "note"]
    assert [n.path for n in notes] == [f"參、總體指標表 註{i}" for i in range(1, 6)] + [
        "肆、投入預算表 註1", "肆、投入預算表 註2"]
    assert "IMD" in outline.by_path("參、總體指標表 註3").text
    assert outline.indicator_table.lines and outline.budget_table.lines


def test_paths_compare_without_spaces():
    assert compact_path("伍、主軸1 一、(二) 1.") == compact_path("伍、主軸1一、（二）1．")


def test_text_without_outline_is_an_error():
    with pytest.raises(OutlineError):
        parse_outline("")
    with pytest.raises(OutlineError):
        parse_outline("只是一段文字，沒有表格也沒有主軸。\n")
