"""Figures found in report sentences: value, unit, kind and the report's own spelling."""

import pytest

from knowledge.figures import extract_figures, parse_number


@pytest.mark.parametrize("text, value", [
    ("9,735", 9735), ("1萬5,458", 15458), ("1萬 5,458", 15458), ("3億3,106萬", 331_060_000),
    ("16萬 0,119", 160_119), ("38萬7,000", 387_000), ("4.7兆", 4.7e12), ("1,539萬 5,232", 15_395_232),
    ("68億", 6.8e9), ("0.82", 0.82),
])
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


def test_parse_number_rejects_non_numbers():
    with pytest.raises(ValueError):
        parse_number("幾個")


def _only(sentence, kind=None):
    figures = [f for f in extract_figures(sentence) if kind is None or f.kind == kind]
    assert len(figures) == 1, figures
    return figures[0]


@pytest.mark.parametrize("sentence, text, kind, unit, value", [
    ("已提供全臺逾9,735個 iTaiwan 熱點", "9,735個", "count", "個", 9735),
    ("總使用逾4.46億人。", "4.46億人", "count", "人", 4.46e8),
    ("2019年我國數位經濟規模已達4.7兆元", "4.7兆元", "money", "元", 4.7e12),
    ("帶動跨境交易額達新臺幣3億3,106萬元", "新臺幣3億3,106萬元", "money", "元", 331_060_000),
    ("涵蓋率33.7%", "33.7%", "percent", "%", 33.7),
    ("臺灣排名全球第11名", "第11名", "rank", "名", 11),
    ("再由每人5Mbps提升", "5Mbps", "speed", "Mbps", 5),
    ("海嘯應變時間提前20至30分鐘", "20至30分鐘", "range", "分鐘", 20),
    ("約為政府投入之2.4倍", "2.4倍", "multiple", "倍", 2.4),
    ("參與人次計760,736人次", "760,736人次", "people_times", "人次", 760_736),
    ("培訓課程人數累計達1萬5,458人", "1萬5,458人", "count", "人", 15458),
])
def test_figure_kinds(sentence, text, kind, unit, value):
    figure = next(f for f in extract_figures(sentence) if f.kind != "date")
    assert (figure.text, figure.kind, figure.unit) == (text, kind, unit)
    assert figure.value == pytest.approx(value)
    assert sentence[figure.start:figure.end].strip() == text


def test_dates_carry_iso_values_and_their_year():
    figures = extract_figures("資通安全管理法已於2018年6月6日總統令公告，相關配套子法亦於同年11月21日訂定發布")
    dates = [f.iso for f in figures if f.kind == "date"]
    assert dates == ["2018-06-06", "2018-11-21"]
    assert _only("截至2020年底已提供100項資料集", "date").iso == "2020"
    assert _only("109年國家資安資訊分享與分析中心年會", "date").iso == "2020"  # 民國 year


def test_range_keeps_both_ends():
    fig = _only("年平均播出總時數達830小時至1,060小時", "range")
    assert (fig.value, fig.value2, fig.unit) == (830, 1060, "小時")


def test_qualifier_and_context():
    fig = next(f for f in extract_figures("截至2020年12月31日止，已提供全臺逾9,735個 iTaiwan 熱點，總使用逾4.46億人。")
               if f.unit == "個")
    assert fig.qualifier == "逾"
    assert fig.context == "已提供全臺逾9,735個 iTaiwan 熱點"


def test_identifiers_are_not_figures():
    assert not [f for f in extract_figures("YOLOv4、3GPP 與 B5G 技術") if f.kind != "date"]
