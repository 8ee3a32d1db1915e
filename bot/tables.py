"""The report's two tables as data every channel can show: the whole tables, a year's per-axis
breakdown, sums, changes and averages over years, and CSV a spreadsheet can add up.

Every printed value keeps the report's spelling (`text`) beside its number in the table's unit
(`value`). Figures the report does not print (a sum of axes, a four-year total, a change, a mean)
are marked `computed` and carry their parts, so a reader can check them; the report's own stated
totals are kept apart from them, and where the two disagree (2020) both are shown and the
discrepancy is spelled out.
"""

from __future__ import annotations

import csv
import io
import re

from intents.stats_request import StatsRequest
from knowledge.store import KnowledgeBase

from .grounding import Computed, round_half_up


def amount(text: str) -> float | None:
    """The number a printed cell states, in the unit it is printed in: "41.8億元" → 41.8, "1萬" → None."""
    m = re.match(r"\s*([\d,]+(?:\.\d+)?)", text or "")
    return float(m.group(1).replace(",", "")) if m else None


def number_text(value: float, decimals: int = 1) -> str:
    """A computed figure as the bot writes it: `decimals` places, no trailing zeros."""
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _source(kb: KnowledgeBase, path: str) -> dict:
    return {"section": path, "title": kb.nodes_by_path[path].display_title}


# ---------------------------------------------------------------------------- whole tables
def budget_table(kb: KnowledgeBase) -> dict:
    """Budget per axis and year (億元), the stated totals, and where they disagree."""
    years = kb.years
    axes = []
    for number, axis in sorted(kb.axes.items()):
        cells = kb.budget.get(number, {})
        note = kb.budget_notes.get(number)
        axes.append({
            "axis": number, "name": axis.name, "name_en": axis.name_en, "lead_agency": axis.lead_agency,
            "values": {str(y): cells[y].text for y in years if y in cells},
            "amounts": {str(y): amount(cells[y].text) for y in years if y in cells},
            "note": (note or {}).get("note", "") if not cells else "",
            "note_text": (note or {}).get("text", "") if not cells else "",
        })
    totals = {str(y): kb.budget_totals[y].text for y in years}
    checks = [{"year": y, "stated": kb.budget_totals[y].text, "stated_amount": amount(kb.budget_totals[y].text),
               "axes_sum_computed": kb.budget_totals[y].axes_sum, "difference": kb.budget_totals[y].difference,
               "discrepancy": kb.budget_totals[y].discrepancy}
              for y in years]
    table = {"unit": "億元", "unit_en": "NT$100 million (億元)", "years": years, "axes": axes, "totals": totals,
             "total_checks": checks, "source": _source(kb, kb.layout.budget_table)}
    table["table_notes"] = budget_discrepancies(table) + absent_axes(table)
    return table


def budget_discrepancies(table: dict, years: list[int] | None = None) -> list[str]:
    """Where a year's stated total and the sum of its axes disagree (2020), as every channel says it."""
    years = years or table["years"]
    return [f"{c['year']}年：報告表列合計 {c['stated']}，但各主軸加總為 {c['axes_sum_computed']:,.1f}億元"
            f"（相差 {c['difference']:+.1f}億元）。報告原文如此，此處照列。"
            for c in table["total_checks"] if c["year"] in years and c["discrepancy"]]


def absent_axes(table: dict) -> list[str]:
    """The axes the budget table lists without figures (axis 7's N/A), with the report's reason."""
    out = []
    for a in table["axes"]:
        if not a["values"]:
            note, reason = a["note"] or "N/A", a["note_text"]
            out.append(f"主軸{a['axis']} 表列 {note}：{reason}" if reason and reason != a["note"]
                       else f"主軸{a['axis']}「{a['name']}」未列預算（{note}）。")
    return out


def indicator_notes(kb: KnowledgeBase, keys: list[str]) -> list[str]:
    """The report's inconsistencies that concern these indicators (named by their name or a longer alias)."""
    spellings = [s for i in kb.indicators if i.key in keys for s in [i.name, *i.aliases] if len(s) >= 5]
    return [note for note in kb.source_notes if any(s in note for s in spellings)]


def indicator_table(kb: KnowledgeBase) -> dict:
    """The headline indicators per year, with units, estimate flags and definitions."""
    years = kb.years
    rows = []
    for ind in kb.indicators:
        rows.append({
            "key": ind.key, "name": ind.name, "name_en": ind.name_en, "group": ind.group, "group_en": ind.group_en,
            "unit": ind.unit, "unit_en": ind.unit_en, "values": {str(y): ind.cells[y].text for y in years if y in ind.cells},
            "amounts": {str(y): amount(ind.cells[y].text) for y in years if y in ind.cells},
            "estimates": [y for y in years if y in ind.cells and ind.cells[y].estimate],
            "definition": ind.definition, "definition_section": ind.definition_path,
        })
    return {"years": years, "indicators": rows, "notes": list(kb.source_notes),
            "table_notes": indicator_notes(kb, [r["key"] for r in rows]), "source": _source(kb, kb.layout.indicator_table)}


# ---------------------------------------------------------------------------- arithmetic
def _axis_cells(kb: KnowledgeBase, axis: int | None, years: list[int]) -> list[dict]:
    """The printed cells an axis (or, for None, the stated totals) has in `years`."""
    if axis is None:
        return [{"year": y, "text": kb.budget_totals[y].text, "value": amount(kb.budget_totals[y].text)} for y in years]
    cells = kb.budget.get(axis, {})
    return [{"year": y, "text": cells[y].text, "value": amount(cells[y].text)} for y in years if y in cells]


def _label(kb: KnowledgeBase, axis: int | None) -> dict:
    if axis is None:
        return {"axis": None, "label": "DIGI+方案科技預算合計", "label_en": "DIGI+ technology budget, total"}
    a = kb.axes[axis]
    return {"axis": axis, "label": f"主軸{axis}「{a.name}」", "label_en": f"Axis {axis} “{a.name_en}”"}


def budget_breakdown(kb: KnowledgeBase, year: int) -> dict:
    """Every axis in one year, the stated total, and the computed sum of the axes (with its parts)."""
    table = budget_table(kb)
    rows = []
    for a in table["axes"]:
        rows.append({"axis": a["axis"], "name": a["name"], "name_en": a["name_en"],
                     "text": a["values"].get(str(year)), "value": a["amounts"].get(str(year)),
                     "note": a["note"], "note_text": a["note_text"]})
    check = next(c for c in table["total_checks"] if c["year"] == year)
    parts = [r["text"] for r in rows if r["value"] is not None]
    return {"kind": "breakdown", "year": year, "unit": table["unit"], "rows": rows,
            "stated_total": {"text": check["stated"], "value": check["stated_amount"]},
            "computed_sum": {"value": check["axes_sum_computed"], "text": number_text(check["axes_sum_computed"]),
                             "parts": parts, "op": "sum"},
            "discrepancy": check["discrepancy"], "difference": check["difference"], "source": table["source"]}


def budget_sum(kb: KnowledgeBase, axis: int | None, years: list[int]) -> dict:
    """An axis's (or the stated totals') budget added up over `years`: a computed figure with its parts.
    Where a year's stated total disagrees with its axes, the sum of the axes is given beside it."""
    years = years or kb.years
    cells = _axis_cells(kb, axis, years)
    total = round_half_up(sum(c["value"] for c in cells))
    out = {"kind": "sum", **_label(kb, axis), "years": [c["year"] for c in cells], "unit": "億元", "parts": cells,
           "computed": {"value": total, "text": number_text(total), "parts": [c["text"] for c in cells], "op": "sum"},
           "source": _source(kb, kb.layout.budget_table)}
    if axis is None:
        axes_total = round_half_up(sum(kb.budget_totals[y].axes_sum for y in out["years"]))
        if any(kb.budget_totals[y].discrepancy for y in out["years"]) and axes_total != total:
            cells = [c for a in sorted(kb.budget) for c in _axis_cells(kb, a, out["years"])]
            out["axes_computed"] = {"value": axes_total, "text": number_text(axes_total), "op": "sum",
                                    "parts": [c["text"] for c in cells]}
    if axis is not None and not cells:
        out["empty_reason"] = kb.budget_notes.get(axis, {}).get("text", "")
    return out


def budget_change(kb: KnowledgeBase, axis: int | None, years: list[int]) -> dict:
    """The change of an axis's (or the stated total's) budget from the first to the last of `years`."""
    years = sorted(years) if len(years) >= 2 else kb.years
    cells = _axis_cells(kb, axis, [years[0], years[-1]])
    out = {"kind": "change", **_label(kb, axis), "unit": "億元", "parts": cells,
           "source": _source(kb, kb.layout.budget_table)}
    if len(cells) == 2:
        out["computed"] = _difference(cells)
    return out


def _difference(cells: list[dict]) -> dict:
    """The last of two printed cells minus the first: a computed figure with its parts, signed."""
    change = round_half_up(cells[1]["value"] - cells[0]["value"])
    return {"value": change, "text": ("+" if change > 0 else "") + number_text(change),
            "parts": [c["text"] for c in cells], "op": "difference"}


def budget_average(kb: KnowledgeBase, axis: int | None, years: list[int]) -> dict:
    """The report's own statement of the yearly average (when it makes one) and the computed mean."""
    years = years or kb.years
    cells = _axis_cells(kb, axis, years)
    mean = round_half_up(sum(c["value"] for c in cells) / len(cells), 2) if cells else None
    out = {"kind": "average", **_label(kb, axis), "years": [c["year"] for c in cells], "unit": "億元", "parts": cells,
           "source": _source(kb, kb.layout.budget_table)}
    if mean is not None:
        out["computed"] = {"value": mean, "text": number_text(mean, 2), "parts": [c["text"] for c in cells], "op": "mean"}
    part = kb.nodes_by_path[kb.layout.budget_table].parent_id
    stated = [s.text for s in kb.node_sentences(part) if "平均" in s.text] if axis is None else []
    if stated:
        out["stated"] = {"quote": stated[0], "section": kb.nodes[part].path}
    return out


def computed_figures(view: dict) -> list[Computed]:
    """The computed figures of a view, for the grounding check: each with its parts as bare numbers."""
    found = [view[k] for k in ("computed", "computed_sum", "axes_computed") if k in view]
    if view.get("kind") == "breakdown" and not view.get("discrepancy"):
        found = []  # the reply states the printed total only; the axes' sum is shown when it differs
    return [Computed(c["text"], tuple(re.match(r"\s*([\d,]+(?:\.\d+)?)", p).group(1) for p in c["parts"]), c["op"])
            for c in found]


def indicator_change(kb: KnowledgeBase, key: str, years: list[int]) -> dict:
    """An indicator's change from the first to the last of `years` (percentage points for a rate,
    places for a rank): a computed figure with its two printed parts."""
    indicator = kb.indicator(key)
    years = sorted(years) if len(years) >= 2 else sorted(indicator.cells)
    cells = [{"year": y, "text": indicator.cells[y].text, "value": amount(indicator.cells[y].text)}
             for y in (years[0], years[-1]) if y in indicator.cells]
    unit = {"%": "個百分點", "名": "名"}.get(indicator.unit, indicator.unit)
    out = {"kind": "change", "indicator": key, "axis": None, "label": indicator.name, "label_en": indicator.name_en,
           "unit": unit, "unit_en": {"%": "percentage points", "名": "places"}.get(indicator.unit, indicator.unit_en),
           "parts": cells, "estimates": [c["year"] for c in cells if indicator.cells[c["year"]].estimate],
           "source": _source(kb, kb.layout.indicator_table)}
    if len(cells) == 2:
        out["computed"] = _difference(cells)
    return out


def view(kb: KnowledgeBase, request: StatsRequest) -> dict | None:
    """The arithmetic a request asks for (a year's breakdown, a sum, change or average over years);
    None for plain look-ups."""
    if request.table == "indicators" and request.indicator and request.view == "change":
        return indicator_change(kb, request.indicator, request.years)
    if request.table != "budget":
        return None
    if request.view == "breakdown" and len(request.years) == 1:
        return budget_breakdown(kb, request.years[0])
    if request.view == "sum" and (request.axis is None or request.axis in kb.budget):
        return budget_sum(kb, request.axis, request.years)
    if request.view == "change" and (request.axis is None or request.axis in kb.budget):
        return budget_change(kb, request.axis, request.years)
    if request.view == "average" and (request.axis is None or request.axis in kb.budget):
        return budget_average(kb, request.axis, request.years)
    return None


def request_figures(kb: KnowledgeBase, request: StatsRequest) -> dict:
    """Everything a statistics request asks for, as JSON-ready data: the request as read, the figures
    (a view with arithmetic, one indicator's row, or the table), and what the report does not reach."""
    out: dict = {"request": {"table": request.table, "years": request.years, "axis": request.axis,
                             "indicator": request.indicator, "view": request.view},
                 "outside_years": [{"year": y, "said_as": next((w for w, yy in request.relative_years if yy == y), None)}
                                   for y in request.outside_years],
                 "report_years": kb.years, "unknown": request.unknown}
    computed = view(kb, request)
    if computed is not None:
        out["figures"] = computed
    elif request.table == "indicators" and request.indicator:
        row = next(r for r in indicator_table(kb)["indicators"] if r["key"] == request.indicator)
        years = request.years or kb.years
        out["figures"] = {"kind": "indicator", **{k: row[k] for k in ("key", "name", "name_en", "unit", "definition")},
                          "values": [{"year": y, "text": row["values"].get(str(y)), "value": row["amounts"].get(str(y)),
                                      "estimate": y in row["estimates"]} for y in years],
                          "source": indicator_table(kb)["source"]}
    elif request.table == "budget" and request.axis is not None:
        years = request.years or kb.years
        cells = _axis_cells(kb, request.axis, years)
        out["figures"] = {"kind": "axis", **_label(kb, request.axis), "unit": "億元", "values": cells,
                          "empty_reason": kb.budget_notes.get(request.axis, {}).get("text", "") if not cells else "",
                          "source": _source(kb, kb.layout.budget_table)}
    else:
        out["figures"] = {"kind": "table", **(budget_table(kb) if request.table == "budget" else indicator_table(kb))}
    return out


# ---------------------------------------------------------------------------- CSV
def budget_csv(kb: KnowledgeBase) -> str:
    """One row per axis and the two total rows; numeric year columns in 億元, the report's wording in 備註."""
    table = budget_table(kb)
    years = table["years"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["主軸", "名稱", "單位", *[str(y) for y in years], "備註"])
    for a in table["axes"]:
        values = [_csv_number(a["amounts"].get(str(y))) for y in years]
        note = f"報告表列 {a['note']}：{a['note_text']}" if a["note"] else ""
        writer.writerow([a["axis"], a["name"], table["unit"], *values, note])
    differing = [c for c in table["total_checks"] if c["discrepancy"]]
    writer.writerow(["", "合計（報告表列）", table["unit"], *[_csv_number(c["stated_amount"]) for c in table["total_checks"]],
                     "報告原文所列合計"])
    writer.writerow(["", "各主軸加總（計算值）", table["unit"],
                     *[_csv_number(c["axes_sum_computed"]) for c in table["total_checks"]],
                     "計算值：各主軸相加" + ("；" + "、".join(f"{c['year']}年與表列合計相差{c['difference']:+g}" for c in differing)
                                      + "，報告原文如此" if differing else "")])
    return out.getvalue()


def indicator_csv(kb: KnowledgeBase) -> str:
    """One row per indicator; numeric year columns in the indicator's unit, estimates and definition beside."""
    table = indicator_table(kb)
    years = table["years"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["指標", "分類", "單位", *[str(y) for y in years], "預估值年份", "定義"])
    for row in table["indicators"]:
        values = [_csv_number(row["amounts"].get(str(y))) for y in years]
        writer.writerow([row["name"], row["group"], row["unit"], *values,
                         "、".join(str(y) for y in row["estimates"]), row["definition"]])
    return out.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
