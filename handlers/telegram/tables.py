"""Officials' tables as Telegram HTML: monospace grids of the report's budget and indicator tables.

The figures come from `bot.tables` exactly as the report prints them; sums and differences the
report does not print are marked 計算值. Units are stated in every title, estimates carry `*`,
and the report's own inconsistencies (2020's stated total) are spelled out under the table.
"""

from __future__ import annotations

import html
import unicodedata

from bot.tables import (absent_axes, budget_average, budget_change, budget_discrepancies, budget_sum, budget_table,
                        indicator_notes, indicator_table)

escape = html.escape
ESTIMATE_MARK = "*"


# ------------------------------------------------------------------------------ grids
def display_width(text: str) -> int:
    """Columns a monospace font gives `text` (CJK and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, align: str) -> str:
    gap = " " * max(0, width - display_width(text))
    return text + gap if align == "<" else gap + text


def grid(rows: list[list[str]], align: str) -> str:
    """Rows of cells as aligned monospace lines, inside <pre>. `align` is one of "<>" per column."""
    widths = [max(display_width(row[c]) for row in rows if c < len(row)) for c in range(len(align))]
    lines = ["  ".join(_pad(cell, widths[c], align[c]) for c, cell in enumerate(row)).rstrip() for row in rows]
    return "<pre>" + escape("\n".join(lines)) + "</pre>"


def _bare(text: str, unit: str) -> str:
    """A printed value without its unit (the unit is in the title): 41.8億元 → 41.8."""
    return text[: -len(unit)] if unit and text.endswith(unit) else text


def _computed(value: float) -> str:
    return f"{value:,.1f}"


def _source(section: str, title: str) -> str:
    return f"<i>來源：{escape(section)} {escape(title)}（數字依報告原文）</i>"


# ----------------------------------------------------------------------------- budget
def _budget_notes(table: dict, years: list[int]) -> list[str]:
    return [f"⚠️ {escape(note)}" for note in budget_discrepancies(table, years)]


def _absent_axes(table: dict) -> list[str]:
    return [escape(note) for note in absent_axes(table)]


def _legend(table: dict) -> str:
    return "\n".join(f"{a['axis']} {escape(a['name'])}（{escape(a['lead_agency'])}）" for a in table["axes"])


def budget_by_axis(kb, years: list[int] | None = None, axis: int | None = None) -> str:
    """Budget per axis (rows) and year (columns), the stated totals, the computed sums; with two or
    more years chosen, a computed change from the first to the last."""
    table = budget_table(kb)
    unit = table["unit"]
    years = years or table["years"]
    compare = len(years) >= 2 and years != table["years"]  # a chosen comparison, not the whole table
    header = ["主軸", *[str(y) for y in years]] + (["增減*"] if compare else [])
    rows = [header]
    for a in table["axes"]:
        if axis is not None and a["axis"] != axis:
            continue
        cells = [_bare(a["values"].get(str(y), a["note"] or "N/A"), unit) for y in years]
        if compare:
            change = budget_change(kb, a["axis"], years).get("computed") if a["values"] else None
            cells.append(change["text"] if change else "")
        rows.append([str(a["axis"]), *cells])
    if axis is None:
        stated = [_bare(table["totals"][str(y)], unit) for y in years]
        checks = {c["year"]: c for c in table["total_checks"]}
        computed = [_computed(checks[y]["axes_sum_computed"]) + ("⚠" if checks[y]["discrepancy"] else "")
                    for y in years]
        extra_stated = extra_computed = []
        if compare:
            extra_stated = [budget_change(kb, None, years)["computed"]["text"]]
            extra_computed = [f"{checks[years[-1]]['axes_sum_computed'] - checks[years[0]]['axes_sum_computed']:+.1f}"]
        rows.append(["合計", *stated, *extra_stated])
        rows.append(["加總*", *computed, *extra_computed])
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0])
    if axis is not None:
        a = kb.axes[axis]
        title = f"<b>主軸{axis}「{escape(a.name)}」投入預算 {span}</b>（單位：{unit}）\n主責機關：{escape(a.lead_agency)}"
    else:
        title = f"<b>DIGI+方案投入預算 {span}</b>（單位：{unit}）"
    parts = [title, grid(rows, "<" + ">" * (len(header) - 1))]
    if axis is None:
        parts.append(_legend(table))
        parts.append("合計＝報告表列合計；加總＝各主軸相加（計算值）" + ("；增減＝末年減首年（計算值）" if compare else "")
                     + "；＊為計算值。")
    elif compare:
        parts.append("增減＝末年減首年（計算值）。")
    parts += _budget_notes(table, years) if axis is None else []
    absent = _absent_axes(table)
    if axis is None or axis in [a["axis"] for a in table["axes"] if not a["values"]]:
        parts += [n for n in absent if axis is None or n.startswith(f"主軸{axis}")]
    parts.append(_source(table["source"]["section"], table["source"]["title"]))
    return "\n".join(parts)


def budget_by_year(kb, years: list[int] | None = None) -> str:
    """One line per year: the stated total, the computed sum of the axes and the largest axis."""
    table = budget_table(kb)
    unit = table["unit"]
    years = years or table["years"]
    rows = [["年度", "合計", "加總*", "最多"]]
    for check in table["total_checks"]:
        y = check["year"]
        if y not in years:
            continue
        funded = [a for a in table["axes"] if str(y) in a["amounts"]]  # the report's cells, compared
        top = max(funded, key=lambda a: a["amounts"][str(y)]) if funded else None
        rows.append([str(y), _bare(check["stated"], unit),
                     _computed(check["axes_sum_computed"]) + ("⚠" if check["discrepancy"] else ""),
                     f"主軸{top['axis']} {_bare(top['values'][str(y)], unit)}" if top else ""])
    parts = [f"<b>DIGI+方案投入預算：各年度</b>（單位：{unit}）", grid(rows, "<>><"),
             "合計＝報告表列合計；加總＝各主軸相加（計算值）；最多＝該年預算最多的主軸。"]
    parts += _budget_notes(table, years)
    parts.append("單一年度各主軸：/stats 預算 2020")
    parts.append(_source(table["source"]["section"], table["source"]["title"]))
    return "\n".join(parts)


def budget_year(kb, year: int) -> str:
    """Every axis in one year, with the stated total and the computed sum."""
    table = budget_table(kb)
    unit = table["unit"]
    rows = [["主軸", str(year)]]
    for a in table["axes"]:
        rows.append([f"{a['axis']} {a['name']}", _bare(a["values"].get(str(year), a["note"] or "N/A"), unit)])
    check = next(c for c in table["total_checks"] if c["year"] == year)
    rows.append(["合計（表列）", _bare(check["stated"], unit)])
    rows.append(["各主軸加總*", _computed(check["axes_sum_computed"]) + ("⚠" if check["discrepancy"] else "")])
    parts = [f"<b>{year}年 DIGI+方案投入預算</b>（單位：{unit}）", grid(rows, "<>"), "＊為計算值。"]
    parts += _budget_notes(table, [year])
    parts += _absent_axes(table)
    parts.append(_source(table["source"]["section"], table["source"]["title"]))
    return "\n".join(parts)


# ------------------------------------------------------------------------- indicators
def _indicator_notes(kb, keys: list[str]) -> list[str]:
    return [f"ℹ️ {escape(note)}" for note in indicator_notes(kb, keys)]


def _cell(row: dict, year: int) -> str:
    value = row["values"].get(str(year))
    if value is None:
        return "—"
    return _bare(value, row["unit"]) + (ESTIMATE_MARK if year in row["estimates"] else "")


def indicators_table(kb, years: list[int] | None = None) -> str:
    """Every headline indicator over the chosen years: a name line, then the values."""
    table = indicator_table(kb)
    years = years or table["years"]
    if len(years) == 1:
        rows = [["指標（單位）", str(years[0])]]
        rows += [[f"{row['name']}（{row['unit']}）", _cell(row, years[0])] for row in table["indicators"]]
        body = grid(rows, "<>")
    else:
        head = ["", *[str(y) for y in years]]
        blocks = [(f"{row['name']}（{row['unit']}）", ["", *[_cell(row, y) for y in years]])
                  for row in table["indicators"]]
        widths = [max(display_width(r[c]) for r in [head] + [b[1] for b in blocks]) for c in range(len(head))]
        widths[0] = 2
        out = ["  ".join(_pad(cell, widths[c], ">") for c, cell in enumerate(head)).rstrip()]
        for name, cells in blocks:
            out.append(name)
            out.append("  ".join(_pad(cell, widths[c], ">") for c, cell in enumerate(cells)).rstrip())
        body = "<pre>" + escape("\n".join(out)) + "</pre>"
    parts = [f"<b>{escape(table['source']['title'])}</b>（單位見各指標）", body]
    if any(row["estimates"] for row in table["indicators"]):
        parts.append(f"{ESTIMATE_MARK} 預估值")
    parts += _indicator_notes(kb, [row["key"] for row in table["indicators"]])
    parts.append("單一指標：/stats 指標 數位經濟規模")
    parts.append(_source(table["source"]["section"], table["source"]["title"]))
    return "\n".join(parts)


def indicator_detail(kb, key: str, years: list[int] | None = None) -> str:
    """One indicator: its values (estimates flagged), unit, group and definition."""
    table = indicator_table(kb)
    row = next(r for r in table["indicators"] if r["key"] == key)
    years = years or table["years"]
    rows = [["年度", f"數值（{row['unit']}）"]]
    for y in years:
        value = _cell(row, y).rstrip(ESTIMATE_MARK)
        rows.append([str(y), value + ("（預估值）" if y in row["estimates"] else "")])
    parts = [f"<b>{escape(row['name'])}</b>（{escape(row['group'])}）", grid(rows, "<>")]
    if row["unit"] == "名":
        parts.append("名次：數字愈小排名愈前。")
    if row["definition"]:
        parts.append(f"定義：{escape(row['definition'])}（{escape(row['definition_section'])}）")
    parts += _indicator_notes(kb, [key])
    parts.append(_source(table["source"]["section"], table["source"]["title"]))
    return "\n".join(parts)


# ------------------------------------------------------------------------- arithmetic
def budget_total_over_years(kb, axis: int | None, years: list[int]) -> str:
    """A sum over years (computed, with its parts), e.g. `/stats 預算 主軸1 2017-2020 加總`."""
    v = budget_sum(kb, axis, years)
    if v.get("empty_reason"):
        return f"主軸{axis} 表列 N/A：{escape(v['empty_reason'])}"
    rows = [["年度", "預算"]] + [[str(p["year"]), _bare(p["text"], v["unit"])] for p in v["parts"]]
    rows.append(["加總*", v["computed"]["text"]])
    parts = [f"<b>{escape(v['label'])} {v['years'][0]}–{v['years'][-1]} 預算加總</b>（單位：{v['unit']}）",
             grid(rows, "<>"), "＊計算值：" + " + ".join(escape(p) for p in v["computed"]["parts"])
             + f" = {v['computed']['text']}{v['unit']}（報告未列此數）。"]
    if "axes_computed" in v:
        parts.append(f"⚠️ 報告表列合計與各主軸加總不一致；若以各主軸相加，{v['years'][0]}–{v['years'][-1]} 為 "
                     f"{v['axes_computed']['text']}{v['unit']}（計算值）。")
    parts.append(_source(v["source"]["section"], v["source"]["title"]))
    return "\n".join(parts)


def budget_mean(kb, axis: int | None, years: list[int]) -> str:
    """The report's own statement of the yearly average, and the computed mean of the table's cells."""
    v = budget_average(kb, axis, years)
    lines = [f"<b>{escape(v['label'])} 每年平均</b>（單位：{v['unit']}）"]
    if "stated" in v:
        lines.append(f"報告原文：「{escape(v['stated']['quote'])}」（{escape(v['stated']['section'])}）")
    if "computed" in v:
        lines.append("依預算表計算：(" + " + ".join(escape(p) for p in v["computed"]["parts"])
                     + f") ÷ {len(v['parts'])} = {v['computed']['text']}{v['unit']}（計算值）")
    lines.append(_source(v["source"]["section"], v["source"]["title"]))
    return "\n".join(lines)
