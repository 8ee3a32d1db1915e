"""PNG charts of the report's two tables (budget per axis and year, headline indicators).

Rendered with matplotlib's Agg backend (no display, no pyplot state) in a CJK font that a
fresh install provides: a system "Noto Sans CJK TC" when present (Debian: fonts-noto-cjk), otherwise
bot/fonts/NotoSansTC-charts.otf, a subset of it holding every character of the report and the
curated files (scripts/make_chart_font.py; `missing_glyphs` checks every chart's text). Values are
the report's own; computed sums are labelled.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from knowledge.store import KnowledgeBase  # noqa: E402

from .tables import budget_table, indicator_table  # noqa: E402

log = logging.getLogger(__name__)

PREFERRED_FAMILIES = ("Noto Sans CJK TC", "Noto Sans TC", "Source Han Sans TC")
BUNDLED_FONT = Path(__file__).resolve().parent / "fonts" / "NotoSansTC-charts.otf"
AXIS_COLOURS = ("#1b6ca8", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#9c755f", "#b07aa1")
ESTIMATE_HATCH = "//"

_render_lock = threading.Lock()  # rc_context touches global rcParams


class ChartError(RuntimeError):
    """No usable CJK font, or nothing to draw."""


@dataclass(frozen=True)
class ChartFont:
    family: str
    path: Path


@dataclass
class Chart:
    png: bytes
    title: str
    filename: str
    texts: list[str] = field(default_factory=list)  # every piece of text drawn, for glyph checks
    warnings: list[str] = field(default_factory=list)  # matplotlib warnings while rendering


@lru_cache(maxsize=1)
def chart_font() -> ChartFont:
    """The CJK font charts use, registered with matplotlib (found once per process)."""
    for family in PREFERRED_FAMILIES:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        if path and Path(path).exists():
            return ChartFont(family, Path(path))
    path = BUNDLED_FONT
    if not path.exists():
        raise ChartError(f"no CJK font: {path} is missing (reinstall digibot, or apt-get install fonts-noto-cjk)")
    font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=str(path)).get_name()
    return ChartFont(family, path)


@lru_cache(maxsize=4)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(path, lazy=True, fontNumber=0)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def missing_glyphs(texts: list[str], font: ChartFont | None = None) -> set[str]:
    """Characters in `texts` the chart font has no glyph for (whitespace ignored)."""
    cmap = _cmap(str((font or chart_font()).path))
    return {ch for text in texts for ch in text if not ch.isspace() and ord(ch) not in cmap}


def _render(fig: Figure, title: str, filename: str) -> Chart:
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FigureCanvasAgg(fig)
        fig.savefig(buffer, format="png", dpi=144)
    # Tick labels are only final after drawing: collect again.
    texts += [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    messages = [str(w.message) for w in caught]
    for message in messages:
        log.warning("while drawing %s: %s", filename, message)
    return Chart(buffer.getvalue(), title, filename, sorted(set(texts)), messages)


def _style(font: ChartFont) -> dict:
    return {"font.family": [font.family], "font.size": 10, "axes.unicode_minus": False,
            "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none"}


def _number(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def budget_chart(kb: KnowledgeBase, *, axis: int | None = None, year: int | None = None) -> Chart:
    """Budget (億元) by year stacked per axis; or one axis over the years; or one year per axis."""
    table = budget_table(kb)
    years = table["years"]
    font = chart_font()
    with _render_lock, matplotlib.rc_context(_style(font)):
        fig = Figure(figsize=(8, 5), layout="constrained")
        ax = fig.add_subplot()
        source = f"資料來源：{_report_name(kb)} {table['source']['section']}"
        if axis is not None:
            row = next((a for a in table["axes"] if a["axis"] == axis), None)
            if row is None:
                raise ChartError(f"主軸{axis} 不存在")
            title = f"主軸{axis}「{row['name']}」投入預算（億元）"
            filename = f"digi-plus-budget-axis{axis}.png"
            values = [row["amounts"].get(str(y)) for y in years]
            if not any(v is not None for v in values):
                raise ChartError(f"主軸{axis}「{row['name']}」報告未列預算（{row['note'] or 'N/A'}）")
            heights = [v or 0 for v in values]  # amounts are in 億元 already
            bars = ax.bar(range(len(years)), heights, color=AXIS_COLOURS[axis - 1])
            ax.set_xticks(range(len(years)), [str(y) for y in years])
            for bar, y in zip(bars, years):
                text = row["values"].get(str(y), "N/A").replace("億元", "")
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                            xytext=(0, 3), textcoords="offset points")
            ax.set_xlabel("年度")
        elif year is not None:
            if year not in years:
                raise ChartError(f"報告只列 {years[0]}–{years[-1]} 年的預算")
            title = f"{year}年各主軸投入預算（億元）"
            filename = f"digi-plus-budget-{year}.png"
            rows = [a for a in table["axes"] if str(year) in a["amounts"]]
            labels = [f"主軸{a['axis']} {a['name']}" for a in rows]
            heights = [a["amounts"][str(year)] for a in rows]
            bars = ax.barh(range(len(rows)), heights[::-1], color=[AXIS_COLOURS[a["axis"] - 1] for a in rows][::-1])
            ax.set_yticks(range(len(rows)), labels[::-1])
            for bar, a in zip(bars, rows[::-1]):
                ax.annotate(a["values"][str(year)].replace("億元", ""), (bar.get_width(), bar.get_y() +
                            bar.get_height() / 2), va="center", xytext=(3, 0), textcoords="offset points")
            check = next(c for c in table["total_checks"] if c["year"] == year)
            note = f"表列合計 {table['totals'][str(year)]}；各主軸加總（計算值）{_number(check['axes_sum_computed'])}億元"
            source = f"{note}\n{source}"
            ax.set_xlabel("億元")
        else:
            title = "DIGI+方案各主軸投入預算（億元）"
            filename = "digi-plus-budget.png"
            positions = range(len(years))
            bottom = [0.0] * len(years)
            for a in table["axes"]:
                if not a["amounts"]:
                    continue
                heights = [a["amounts"].get(str(y), 0) for y in years]
                ax.bar(positions, heights, bottom=bottom, color=AXIS_COLOURS[a["axis"] - 1],
                       label=f"主軸{a['axis']} {a['name']}")
                bottom = [b + h for b, h in zip(bottom, heights)]
            for i, y in enumerate(years):
                check = table["total_checks"][i]
                text = f"表列合計 {table['totals'][str(y)].replace('億元', '')}"
                if check["discrepancy"]:
                    text += f"\n（各主軸加總 {_number(check['axes_sum_computed'])}）"
                ax.annotate(text, (i, bottom[i]), ha="center", va="bottom", xytext=(0, 3),
                            textcoords="offset points", fontsize=8)
            ax.set_xticks(positions, [str(y) for y in years])
            ax.set_ylim(0, max(bottom) * 1.2)
            ax.legend(loc="upper left", fontsize=8, frameon=False)
            ax.set_xlabel("年度")
            absent = [a for a in table["axes"] if not a["amounts"]]
            if absent:
                source = "、".join(f"主軸{a['axis']}「{a['name']}」未列預算（{a['note'] or 'N/A'}）"
                                  for a in absent) + f"\n{source}"
        ax.set_title(title)
        if year is None:
            ax.set_ylabel("億元")
        fig.text(0.01, 0.005, source, fontsize=7, color="#555555", ha="left", va="bottom")
        fig.get_layout_engine().set(rect=(0, 0.06, 1, 0.94))
        return _render(fig, title, filename)


def indicator_chart(kb: KnowledgeBase, key: str) -> Chart:
    """One headline indicator over the years; estimates hatched and labelled."""
    table = indicator_table(kb)
    row = next((r for r in table["indicators"] if r["key"] == key), None)
    if row is None:
        raise ChartError(f"沒有這項指標：{key}")
    ind = kb.indicator(key)
    years = [y for y in table["years"] if y in ind.cells]
    font = chart_font()
    with _render_lock, matplotlib.rc_context(_style(font)):
        fig = Figure(figsize=(8, 5), layout="constrained")
        ax = fig.add_subplot()
        title = f"{row['name']}（{row['unit']}）"
        heights = [ind.cells[y].value for y in years]
        if row["unit"] == "兆元":
            heights = [v / 1e12 if v > 1e6 else v for v in heights]
        colours = ["#1b6ca8"] * len(years)
        bars = ax.bar(range(len(years)), heights, color=colours)
        ax.set_xticks(range(len(years)), [str(y) for y in years])
        for bar, y in zip(bars, years):
            cell = ind.cells[y]
            if cell.estimate:
                bar.set_hatch(ESTIMATE_HATCH)
                bar.set_facecolor("#a6c8e0")
            ax.annotate(cell.text + ("（預估值）" if cell.estimate else ""),
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        xytext=(0, 3), textcoords="offset points")
        if row["unit"] == "名":
            ax.set_ylabel("名次（數字愈小愈好）")
        else:
            ax.set_ylabel(row["unit"])
        if row["unit"] == "%":
            ax.set_ylim(0, 112)
            ax.set_yticks(range(0, 101, 20))
        else:
            ax.set_ylim(0, max(heights) * 1.2 if heights else 1)
        ax.set_xlabel("年度")
        ax.set_title(title)
        source = f"資料來源：{_report_name(kb)} {table['source']['section']}"
        if row["estimates"]:
            source = "斜線為預估值。" + source
        fig.text(0.01, 0.005, source, fontsize=7, color="#555555", ha="left", va="bottom")
        fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
        return _render(fig, title, f"digi-plus-{key}.png")


def _report_name(kb: KnowledgeBase) -> str:
    return f"DIGI+方案 {kb.layout.first_year}–{kb.layout.last_year} 推動成果報告"
