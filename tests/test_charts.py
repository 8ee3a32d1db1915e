"""Charts: PNGs with correct Traditional Chinese labels — every character has a glyph in the font."""

from __future__ import annotations

import io
import warnings

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot import charts

PNG = b"\x89PNG\r\n\x1a\n"


def all_charts(kb):
    yield charts.budget_chart(kb)
    yield charts.budget_chart(kb, year=kb.years[-1])
    for axis in kb.budget:
        yield charts.budget_chart(kb, axis=axis)
    for indicator in kb.indicators:
        yield charts.indicator_chart(kb, indicator.key)


def test_the_chart_font_is_a_cjk_font_that_is_installed():
    font = charts.chart_font()
    assert font.path.exists()
    assert "CJK" in font.family or "TC" in font.family
    # Characters the report uses that Simplified-only fonts may lack.
    assert not charts.missing_glyphs(["臺灣數位經濟躍升網路社會營造友善法制環境預估值億兆涵蓋率績效"])


def test_every_label_of_every_chart_has_a_glyph_and_no_warning(kb):
    drawn = list(all_charts(kb))
    assert len(drawn) == 3 + len(kb.budget) + len(kb.indicators) - 1
    for chart in drawn:
        assert chart.png.startswith(PNG) and len(chart.png) > 20_000, chart.filename
        assert chart.texts, chart.filename
        assert not charts.missing_glyphs(chart.texts), (chart.filename, charts.missing_glyphs(chart.texts))
        assert not [w for w in chart.warnings if "missing from font" in w], chart.filename
        assert any("\u4e00" <= ch <= "\u9fff" for text in chart.texts for ch in text)


def test_every_name_and_unit_in_the_tables_has_a_glyph(kb):
    names = [a.name for a in kb.axes.values()] + [a.lead_agency for a in kb.axes.values()]
    names += [i.name for i in kb.indicators] + [i.unit for i in kb.indicators] + [i.group for i in kb.indicators]
    assert not charts.missing_glyphs(names)


def test_charts_show_the_reports_figures_and_flag_estimates(kb):
    budget = charts.budget_chart(kb)
    assert "DIGI+方案各主軸投入預算（億元）" in budget.texts
    assert any("表列合計 244" in t for t in budget.texts) and any("254.4" in t for t in budget.texts)
    assert any("主軸7" in t and "N/A" in t for t in budget.texts)
    assert "250" in budget.texts and not any("1e" in t for t in budget.texts)  # the axis counts 億元, as labelled
    economy = charts.indicator_chart(kb, "digital_economy")
    assert "4.9兆元（預估值）" in economy.texts and "3.8兆元" in economy.texts
    one_axis = charts.budget_chart(kb, axis=1)
    assert {"5.2", "29.8", "41.8"} <= set(one_axis.texts)


def test_axis_without_budget_and_unknown_inputs_raise_chart_error(kb):
    with pytest.raises(charts.ChartError, match="N/A"):
        charts.budget_chart(kb, axis=7)
    with pytest.raises(charts.ChartError):
        charts.budget_chart(kb, year=2015)
    with pytest.raises(charts.ChartError):
        charts.indicator_chart(kb, "no_such_indicator")


def test_the_checks_can_fail():
    """Controls: an emoji is missing from the CJK font, and a Latin-only font makes matplotlib warn."""
    assert charts.missing_glyphs(["數位\U0001F600"]) == {"\U0001F600"}
    fig = Figure()
    fig.text(0.5, 0.5, "數位經濟", family="DejaVu Sans")
    FigureCanvasAgg(fig)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    assert any("missing from font" in str(w.message) for w in caught)
