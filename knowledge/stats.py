"""Direct look-ups in the two tables: budget per axis and year, stated totals, indicators.

Results carry the printed table rows they come from, so every figure can be quoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .store import KnowledgeBase



@dataclass
class StatCell:
    label: str  # 主軸6「研發先進數位科技」, 合計, 數位經濟規模
    label_en: str
    year: int
    text: str  # as printed: 57.3億元
    value: float
    estimate: bool = False
    axis: int | None = None
    indicator: str | None = None


@dataclass
class StatResult:
    table: str  # "budget" or "indicators"
    cells: list[StatCell]
    quotes: list[str]  # printed rows (with the header row) the cells come from
    path: str
    title: str
    notes: list[str] = field(default_factory=list)  # source discrepancies touching these cells
    missing_years: list[int] = field(default_factory=list)  # asked for, not in the table
    empty_reason: str = ""  # why there are no figures (主軸7 has no budget)
    superlative: str | None = None
    rank: int = 1  # with a superlative: 2 for "the second largest"


def budget_header(kb: KnowledgeBase) -> str:
    return "主軸名稱 " + " ".join(f"{y}年" for y in kb.years)


def indicator_header(kb: KnowledgeBase) -> str:
    return "年份 " + " ".join(str(y) for y in kb.years)


def axis_label(kb: KnowledgeBase, axis: int) -> tuple[str, str]:
    a = kb.axes[axis]
    return f"主軸{axis}「{a.name}」", f"Axis {axis} “{a.name_en}”"


def budget_row_text(kb: KnowledgeBase, axis: int) -> str:
    cells = kb.budget.get(axis, {})
    return f"主軸 {axis}.{kb.axes[axis].name} " + " ".join(cells[y].text for y in sorted(cells))


def total_row_text(kb: KnowledgeBase) -> str:
    return "合計 " + " ".join(kb.budget_totals[y].text for y in sorted(kb.budget_totals))


def lookup_budget(kb: KnowledgeBase, axis: int | None, years: list[int], *, total: bool = False,
                  superlative: str | None = None, rank: int = 1) -> StatResult:
    wanted = [y for y in years if y in kb.budget_totals] or list(kb.years)
    missing = [y for y in years if y not in kb.budget_totals]
    path = kb.layout.budget_table
    title = kb.nodes_by_path[path].display_title
    header = budget_header(kb)
    result = StatResult("budget", [], [], path, title, missing_years=missing, superlative=superlative, rank=rank)
    if axis is not None and axis not in kb.budget:
        note = kb.budget_notes.get(axis, {})
        result.empty_reason = note.get("text") or note.get("note", "")
        result.quotes.append(f"{header}｜主軸 {axis}.{kb.axes[axis].name} {note.get('note', 'N/A')}")
        if note.get("text"):
            result.quotes.append(note["text"])
            result.path = note.get("path") or path
        return result
    if axis is not None:
        label, label_en = axis_label(kb, axis)
        for y in wanted:
            cell = kb.budget[axis][y]
            result.cells.append(StatCell(label, label_en, y, cell.text, cell.value, axis=axis))
        result.quotes.append(f"{header}｜{budget_row_text(kb, axis)}")
    elif superlative:
        for y in wanted:
            ranked = sorted((a for a in kb.budget if y in kb.budget[a]), key=lambda a: kb.budget[a][y].value,
                            reverse=superlative == "max")
            best = ranked[min(rank, len(ranked)) - 1]
            label, label_en = axis_label(kb, best)
            cell = kb.budget[best][y]
            result.cells.append(StatCell(label, label_en, y, cell.text, cell.value, axis=best))
            row = f"{header}｜{budget_row_text(kb, best)}"
            if row not in result.quotes:
                result.quotes.append(row)
    else:
        for y in wanted:
            t = kb.budget_totals[y]
            result.cells.append(StatCell("合計", "Total", y, t.text, t.value))
            if t.discrepancy:
                result.notes.append(f"報告中{y}年各主軸預算加總與表列合計不一致。")
        result.quotes.append(f"{header}｜{total_row_text(kb)}")
    return result


def lookup_indicator(kb: KnowledgeBase, key: str, years: list[int]) -> StatResult:
    ind = kb.indicator(key)
    wanted = [y for y in years if y in ind.cells] or sorted(ind.cells)
    missing = [y for y in years if y not in ind.cells]
    path = kb.layout.indicator_table
    result = StatResult("indicators", [], [f"{indicator_header(kb)}｜{ind.printed}"], path,
                        kb.nodes_by_path[path].display_title, missing_years=missing)
    for y in wanted:
        c = ind.cells[y]
        result.cells.append(StatCell(ind.name, ind.name_en, y, c.text, c.value, c.estimate, indicator=key))
    for note in kb.source_notes:
        if ind.name in note and any(str(y) in note for y in wanted):
            result.notes.append(note)
    return result
