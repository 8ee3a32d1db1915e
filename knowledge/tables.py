"""Reading the report's two tables (總體指標 and 投入預算) from their printed rows.

The curated tables in ``curated/`` are checked against what is parsed here, cell by cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .figures import parse_number
from .outline import RawTable

_VALUE = re.compile(r"(?P<num>\d[\d,.]*)\s*(?P<unit>兆元|億元|名|%)(?P<est>\s*\(預估值\))?")
_MARKER = re.compile(r"\[(?:註\s*)?(\d)\]")


@dataclass
class ParsedCell:
    year: int
    text: str  # as printed, e.g. "4.9兆元"
    value: float
    unit: str
    estimate: bool = False


@dataclass
class ParsedRow:
    name: str  # as printed, with line breaks repaired: "數位生活服務使用普及率"
    group: str = ""
    marker: str = ""  # footnote marker printed after the name, e.g. "3"
    cells: list[ParsedCell] = field(default_factory=list)
    printed: str = ""  # the row as it reads in the report, for quoting
    note: str = ""  # e.g. "N/A[註2]"


class TableError(ValueError):
    pass


def _years(header: str) -> list[int]:
    years = [int(y) for y in re.findall(r"(20\d{2})", header)]
    if len(years) < 2:
        raise TableError(f"table header has no years: {header!r}")
    return years


def parse_indicator_table(table: RawTable, group_names: list[str]) -> list[ParsedRow]:
    """Rows of 總體指標; group headers are the names the section's intro quotes (「創新數位經濟」…)."""
    header = next((line for line in table.lines if re.search(r"20\d{2}\s+20\d{2}", line)), "")
    years = _years(header)
    rows: list[ParsedRow] = []
    group = ""
    buffer = ""
    for line in table.lines[table.lines.index(header) + 1:]:
        if line in group_names:
            group = line
            continue
        if line == "(預估值)" and rows and rows[-1].cells:
            rows[-1].cells[-1].estimate = True
            rows[-1].printed += " (預估值)"
            continue
        buffer = f"{buffer} {line}".strip() if buffer else line
        values = list(_VALUE.finditer(buffer))
        if len(values) < len(years):
            continue
        name_part = buffer[: values[0].start()].strip()
        marker = _MARKER.search(name_part)
        name = re.sub(r"\s+", "", _MARKER.sub("", name_part))
        row = ParsedRow(name=name, group=group, marker=marker.group(1) if marker else "", printed=buffer)
        for year, m in zip(years, values):
            row.cells.append(
                ParsedCell(year, f"{m.group('num')}{m.group('unit')}", parse_number(m.group("num")), m.group("unit"),
                           bool(m.group("est")))
            )
        rows.append(row)
        buffer = ""
    if buffer:
        raise TableError(f"indicator table row could not be read: {buffer!r}")
    return rows


def parse_budget_table(table: RawTable) -> tuple[list[ParsedRow], ParsedRow]:
    """Axis rows of 投入預算 and the stated 合計 row."""
    years = _years(table.lines[0])
    rows: list[ParsedRow] = []
    total: ParsedRow | None = None
    for line in table.lines[1:]:
        values = list(_VALUE.finditer(line))
        name_part = line[: values[0].start()] if values else line
        m = re.match(r"主軸\s*(\d)\s*[.．]\s*(\S+)", name_part)
        if m:
            row = ParsedRow(name=m.group(2), marker=m.group(1), printed=line)
            if not values:
                row.note = re.sub(r"\s+", "", line[m.end():]) or "N/A"
        elif name_part.strip().startswith("合計"):
            row = ParsedRow(name="合計", printed=line)
        else:
            raise TableError(f"budget table row could not be read: {line!r}")
        if values and len(values) != len(years):
            raise TableError(f"budget row has {len(values)} values for {len(years)} years: {line!r}")
        for year, v in zip(years, values):
            row.cells.append(ParsedCell(year, f"{v.group('num')}{v.group('unit')}", parse_number(v.group("num")),
                                        v.group("unit")))
        if row.name == "合計":
            total = row
        else:
            rows.append(row)
    if total is None:
        raise TableError("budget table has no 合計 row")
    return rows, total
