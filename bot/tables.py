"""The two report tables as rows, for officials' views (Telegram /stats, /export, /chart) and
the web API (/api/stats/…). Every value is the report's own spelling; computed sums are
labelled as computed and kept apart from the report's stated totals.
"""

from __future__ import annotations

import csv
import io

from knowledge.stats import BUDGET_PATH, INDICATOR_PATH
from knowledge.store import KnowledgeBase


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
            "amounts": {str(y): cells[y].value for y in years if y in cells},
            "note": (note or {}).get("note", "") if not cells else "",
        })
    totals = {str(y): kb.budget_totals[y].text for y in years}
    checks = [{"year": y, "stated": kb.budget_totals[y].text, "axes_sum_computed": kb.budget_totals[y].axes_sum,
               "difference": kb.budget_totals[y].difference, "discrepancy": kb.budget_totals[y].discrepancy}
              for y in years]
    return {"unit": "億元", "years": years, "axes": axes, "totals": totals, "total_checks": checks,
            "source": {"section": BUDGET_PATH, "title": "DIGI+方案投入預算"}}


def indicator_table(kb: KnowledgeBase) -> dict:
    """The headline indicators per year, with units, estimate flags and definitions."""
    years = kb.years
    rows = []
    for ind in kb.indicators:
        rows.append({
            "key": ind.key, "name": ind.name, "name_en": ind.name_en, "group": ind.group, "group_en": ind.group_en,
            "unit": ind.unit, "values": {str(y): ind.cells[y].text for y in years if y in ind.cells},
            "estimates": [y for y in years if y in ind.cells and ind.cells[y].estimate],
            "definition": ind.definition, "definition_section": ind.definition_path,
        })
    return {"years": years, "indicators": rows, "notes": list(kb.source_notes),
            "source": {"section": INDICATOR_PATH, "title": "總體指標達成情形"}}


def budget_csv(kb: KnowledgeBase) -> str:
    table = budget_table(kb)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["主軸", "名稱", *[f"{y}年" for y in table["years"]]])
    for axis in table["axes"]:
        values = [axis["values"].get(str(y), axis["note"] or "") for y in table["years"]]
        writer.writerow([axis["axis"], axis["name"], *values])
    writer.writerow(["", "合計（報告所列）", *[table["totals"][str(y)] for y in table["years"]]])
    writer.writerow(["", "各主軸加總（計算值）", *[f"{c['axes_sum_computed']:g}億元" for c in table["total_checks"]]])
    return out.getvalue()


def indicator_csv(kb: KnowledgeBase) -> str:
    table = indicator_table(kb)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["指標", "分類", "單位", *[str(y) for y in table["years"]], "定義"])
    for row in table["indicators"]:
        values = [row["values"].get(str(y), "") + ("（預估值）" if y in row["estimates"] else "")
                  for y in table["years"]]
        writer.writerow([row["name"], row["group"], row["unit"], *values, row["definition"]])
    return out.getvalue()
