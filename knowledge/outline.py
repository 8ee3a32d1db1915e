"""Turning the report's text into the outline a reader sees.

壹…伍 → 主軸1…7 (with 主責機關) → 一、 → (一) → 1. → (1), plus the two tables (總體指標,
投入預算) and their footnotes. Each node gets a path such as ``伍、主軸1 一、(二) 1.``, a title
when the report gives one, the agencies from its 【…】 tags (inherited from the parent when it
has none) and its repaired text split into sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import unicodedata

from .textclean import _FULLWIDTH_TABLE, join_lines, report_lines, split_sentences, tidy_line

CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
TOP_LABELS = "壹貳參肆伍陸柒捌"


def cn_ordinal(text: str) -> int:
    """一→1 … 十→10, 十一→11, 二十→20 (the outline never goes further)."""
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + CN_DIGITS[text[1]]
    if len(text) == 2 and text.endswith("十"):
        return CN_DIGITS[text[0]] * 10
    if len(text) == 3 and text[1] == "十":
        return CN_DIGITS[text[0]] * 10 + CN_DIGITS[text[2]]
    return CN_DIGITS[text]


# Heading kinds from outermost to innermost.
KINDS = ("top", "axis", "cn", "pcn", "num", "pnum")
RANK = {kind: i for i, kind in enumerate(KINDS)}

_HEADING = {
    "top": re.compile(rf"^([{TOP_LABELS}])、\s*(.*)$"),
    "axis": re.compile(r"^主軸\s*(\d)\s*[.．]\s*(.*)$"),
    "cn": re.compile(r"^([一二三四五六七八九十]{1,3})、\s*(.*)$"),
    "pcn": re.compile(r"^[(（]([一二三四五六七八九十]{1,3})[)）]\s*(.*)$"),
    "num": re.compile(r"^(\d{1,2})[.．](?!\d)\s*(.*)$"),
    "pnum": re.compile(r"^[(（](\d{1,2})[)）]\s*(.*)$"),
}

AGENCY_TAG = re.compile(r"【([^】]*)】")
LEAD_AGENCY = re.compile(r"主責機關[:：]\s*(.+)")


@dataclass
class Node:
    kind: str  # one of KINDS, or "table" / "note" for the tables and their footnotes
    number: int
    label: str  # as printed: "伍、", "主軸1", "一、", "(二)", "1.", "(1)"
    parent: "Node | None" = None
    head: str = ""  # rest of the heading line
    lines: list[str] = field(default_factory=list)  # raw continuation lines
    children: list["Node"] = field(default_factory=list)
    # Filled in by finish():
    path: str = ""
    title: str = ""
    agencies: list[str] = field(default_factory=list)
    agencies_own: bool = False
    lead_agency: str = ""
    text: str = ""
    sentences: list[str] = field(default_factory=list)
    order: int = 0

    @property
    def display_title(self) -> str:
        """The node's own title, or the nearest titled ancestor's."""
        node: Node | None = self
        while node is not None:
            if node.title:
                return node.title
            node = node.parent
        return ""

    def ancestors(self) -> list["Node"]:
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


@dataclass
class RawTable:
    """A table region as printed: its lines, and its footnotes' lines."""

    name: str
    lines: list[str]
    notes: list[str]


@dataclass
class Outline:
    nodes: list[Node]
    indicator_table: RawTable
    budget_table: RawTable

    def by_path(self, path: str) -> Node:
        key = compact_path(path)
        for node in self.nodes:
            if compact_path(node.path) == key:
                return node
        raise KeyError(path)

    def indicator_table_text(self) -> str:
        return " ".join(self.indicator_table.lines + self.indicator_table.notes)

    def axes(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "axis"]


def compact_path(path: str) -> str:
    """Paths compare without spaces, so '主軸1 一、(二) 1.' matches '主軸1一、(二)1.'."""
    return re.sub(r"\s+", "", path).replace("（", "(").replace("）", ")").replace("．", ".")


def join_path(labels: list[str]) -> str:
    out = ""
    for label in labels:
        if out and not out.endswith(("、", ".")):
            out += " "
        out += label
    return out


class OutlineError(ValueError):
    pass


def parse_outline(text: str) -> Outline:
    lines = report_lines(text)
    if not lines:
        raise OutlineError("the report has no text")
    root = Node(kind="root", number=0, label="")
    stack: list[Node] = [root]
    nodes: list[Node] = []
    tables: dict[str, RawTable] = {}
    i = 0
    while i < len(lines):
        line = tidy_line(lines[i])
        # The two tables are recognised by their header rows and read as a block.
        if line in ("年份", "年份項目") or line.startswith("主軸名稱"):
            name = "indicators" if line.startswith("年份") else "budget"
            i, table = _read_table(lines, i, name)
            tables[name] = table
            continue
        heading = _match_heading(line, stack)
        if heading is None:
            stack[-1].lines.append(lines[i])
            i += 1
            continue
        kind, number, label, rest = heading
        while RANK.get(stack[-1].kind, -1) >= RANK[kind]:
            stack.pop()
        node = Node(kind=kind, number=number, label=label, parent=stack[-1], head=rest)
        stack[-1].children.append(node)
        stack.append(node)
        nodes.append(node)
        i += 1

    if "indicators" not in tables or "budget" not in tables:
        raise OutlineError("the report's indicator table (年份…) or budget table (主軸名稱…) was not found")
    nodes = _attach_tables(nodes, tables)
    seen: dict[str, int] = {}
    for order, node in enumerate(nodes):
        _finish(node, order, seen)
    axes = [n for n in nodes if n.kind == "axis"]
    if not axes:
        raise OutlineError("no 主軸 headings were found in the report")
    return Outline(nodes=nodes, indicator_table=tables["indicators"], budget_table=tables["budget"])


def _match_heading(line: str, stack: list[Node]) -> tuple[str, int, str, str] | None:
    for kind, pattern in _HEADING.items():
        m = pattern.match(line)
        if not m:
            continue
        token, rest = m.group(1), m.group(2)
        # Part and axis headings are short titles; "陸、代營運商…" is a line broken after 大.
        if kind in ("top", "axis") and (re.search(r"[，。；]", rest) or len(rest) > 30):
            return None
        if kind == "top":
            number = TOP_LABELS.index(token) + 1
            label = f"{token}、"
        elif kind == "axis":
            number = int(token)
            label = f"主軸{number}"
        elif kind in ("cn", "pcn"):
            number = cn_ordinal(token)
            label = f"{token}、" if kind == "cn" else f"({token})"
        else:
            number = int(token)
            label = f"{number}." if kind == "num" else f"({number})"
        if not _in_sequence(kind, number, stack):
            return None
        return kind, number, label, rest
    return None


def _in_sequence(kind: str, number: int, stack: list[Node]) -> bool:
    """A numbered line is a heading only if it continues its siblings' numbering.

    PDF lines often begin with a number ("12月31日正式啟用"); requiring 1, or the previous
    sibling's number plus one, or a first child, tells headings from such continuations.
    """
    # Find the node that would be this heading's parent.
    for depth in range(len(stack) - 1, -1, -1):
        if RANK.get(stack[depth].kind, -1) < RANK[kind]:
            parent = stack[depth]
            break
    siblings = [c for c in parent.children if c.kind == kind]
    if number == 1 or not siblings:
        return True
    return siblings[-1].number + 1 == number


def _read_table(lines: list[str], start: int, name: str) -> tuple[int, RawTable]:
    """Collect a table's rows and footnotes until the outline resumes."""
    rows: list[str] = []
    notes: list[str] = []
    i = start
    in_notes = False
    while i < len(lines):
        # Cells are separated by spaces, so only collapse them (tidy_line would glue cells).
        line = " ".join(lines[i].translate(_FULLWIDTH_TABLE).split())
        if i > start and (_HEADING["top"].match(line) or (name == "indicators" and _HEADING["cn"].match(line))):
            break
        if name == "indicators" and line in ("備", "註", "備 註"):
            in_notes = True
        elif name == "budget" and line.startswith("註"):
            in_notes = True
            notes.append(line)
        elif in_notes:
            notes.append(line)
        else:
            rows.append(line)
        i += 1
    return i, RawTable(name=name, lines=rows, notes=notes)


def _attach_tables(nodes: list[Node], tables: dict[str, RawTable]) -> list[Node]:
    """Insert table and footnote nodes under 參、 and 肆、 so they can be cited like text."""
    out: list[Node] = []
    tops = {n.number: n for n in nodes if n.kind == "top"}
    for node in nodes:
        out.append(node)
        if node.kind != "top" or node.number not in (3, 4):
            continue
        table = tables["indicators" if node.number == 3 else "budget"]
        tname = "總體指標表" if node.number == 3 else "投入預算表"
        tnode = Node(kind="table", number=0, label=tname, parent=tops[node.number])
        tnode.title = "總體指標達成情形" if node.number == 3 else "DIGI+方案投入預算"
        tnode.lines = []
        node.children.append(tnode)
        out.append(tnode)
        for number, note_text in _split_notes(table.notes, table.name):
            nnode = Node(kind="note", number=number, label=f"註{number}", parent=tnode, head=note_text)
            tnode.children.append(nnode)
            out.append(nnode)
    return out


def _split_notes(note_lines: list[str], name: str) -> list[tuple[int, str]]:
    pattern = re.compile(r"^(\d)[.．]\s*(.*)$") if name == "indicators" else re.compile(r"^註\s*(\d)\s*[:：]\s*(.*)$")
    notes: list[tuple[int, list[str]]] = []
    for line in note_lines:
        m = pattern.match(line)
        if m:
            notes.append((int(m.group(1)), [m.group(2)]))
        elif notes:
            notes[-1][1].append(line)
    return [(number, join_lines(parts)) for number, parts in notes]


def _finish(node: Node, order: int, seen: dict[str, int]) -> None:
    node.order = order
    labels = [a.label for a in node.ancestors() if a.kind != "root"] + [node.label]
    path = join_path(labels)
    # The same numbering can restart inside one parent (主軸4 一、(三) lists 1.–3. twice).
    count = seen.get(path, 0) + 1
    seen[path] = count
    node.path = path if count == 1 else f"{path}#{count}"

    body = join_lines([node.head] + node.lines)
    if node.kind == "table":
        body = ""
    title, agencies, lead, body = _split_title_and_tags(node, body)
    if node.kind != "table":
        node.title = title
    node.lead_agency = lead
    if agencies:
        node.agencies, node.agencies_own = agencies, True
    else:
        node.agencies = list(node.parent.agencies) if node.parent and node.parent.kind != "root" else []
    node.text = body
    node.sentences = split_sentences(body) if body else []


def _split_title_and_tags(node: Node, body: str) -> tuple[str, list[str], str, str]:
    """Separate a heading's title and 【agency】 tags from its prose."""
    head = tidy_line(node.head)
    agencies: list[str] = []
    lead = ""
    title = ""

    def take_tags(text: str) -> str:
        nonlocal lead
        for tag in AGENCY_TAG.findall(text):
            m = LEAD_AGENCY.match(tag)
            if m:
                lead = m.group(1).strip()
                names = [lead]
            else:
                names = [a.strip() for a in re.split(r"[、,，]", tag) if a.strip()]
            for name in names:
                if name not in agencies:
                    agencies.append(name)
        return AGENCY_TAG.sub("", text).strip()

    if node.kind in ("top", "axis"):
        # The heading line is the whole title: "主軸1.數位創新基礎環境【主責機關：通傳會】".
        head_len = len(join_lines([node.head]))
        title = take_tags(body[:head_len]).rstrip("：:")
        rest = body[head_len:]
        return title, agencies, lead, take_tags(rest)

    body = body.lstrip("：: ")
    m = AGENCY_TAG.search(body)
    before_tag = body[: m.start()].rstrip("：: ") if m else ""
    # 1) "title：【agency】 prose" — a tag right after a short, unpunctuated title.
    if m and m.start() <= 60 and "。" not in before_tag and "，" not in before_tag[:8]:
        if not re.search(r"[。；]", before_tag) and (len(before_tag) <= 40 or not re.search(r"\d", before_tag)):
            body = body[m.end():].lstrip("：: ")
            return before_tag, agencies_from(m.group(1), agencies), lead, take_tags(body)
    head_plain = AGENCY_TAG.sub("", head).strip()
    # 2) a heading line ending in a colon: "1. 資料下載：", "(一) 2018-2020年「…」整體推動成效：".
    if head_plain.endswith(("：", ":")) and "。" not in head_plain and body.startswith(head_plain):
        return head_plain.rstrip("：:"), agencies, lead, take_tags(body[len(head_plain):])
    # 3) a heading with no prose of its own, possibly over several lines (伍、主軸3 五、).
    if (node.children and "。" not in body and len(body) <= 90 and not re.search(r"\d{4}年", body)
            and not body.rstrip("：: ").endswith("如下")):
        return take_tags(body).rstrip("：:"), agencies, lead, ""
    # 3b) a title over two lines, ended by a visibly short line before the prose starts
    # ("(六) 政府服務入口網…以人生重要事件 / 為主軸進行視覺化呈現 / 2020年 9月改版上線，…").
    raw = [node.head] + node.lines
    for i in range(1, min(3, len(raw) - 1)):
        line = tidy_line(raw[i])
        if _width(line) < 40 and not re.search(r"[。；：:]$", line):
            candidate = join_lines(raw[: i + 1])
            plain = AGENCY_TAG.sub("", candidate).strip()
            if "。" not in plain and len(plain) <= 60 and body.startswith(candidate):
                return plain.rstrip("：:"), agencies, lead, take_tags(body[len(candidate):])
            break
    # 4) a visibly short heading line that is only a title ("(一) 商工一站式線上服務").
    if (head_plain and _width(node.label + " " + head_plain) <= 50 and not re.search(r"[。：:；]", head_plain)
            and not re.search(r"\d{4}\s*年", head_plain)
            and not _continues_sentence(head_plain) and body.startswith(head_plain)):
        return head_plain, agencies, lead, take_tags(body[len(head_plain):])
    # 5) "title：prose" with a short, unpunctuated title.
    m2 = re.match(r"^([^，。；：:「」]{2,24})[：:](?!\d)", body)
    if m2 and node.kind in ("cn", "pcn", "num", "pnum"):
        return m2.group(1).strip(), agencies, lead, take_tags(body[m2.end():])
    return "", agencies, lead, take_tags(body)


def _width(text: str) -> int:
    """Printed width: CJK counts double, as the PDF's line breaks do."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def agencies_from(tag: str, agencies: list[str]) -> list[str]:
    for name in re.split(r"[、,，]", tag):
        name = name.strip()
        if name and name not in agencies:
            agencies.append(name)
    return agencies


def _continues_sentence(head: str) -> bool:
    """A short heading line that is really the start of a sentence broken by the PDF."""
    return bool(re.search(r"(截至|於|由|為|並|及|與|之|的|在|將|已|共|計|達)$", head))


def main() -> None:  # pragma: no cover - a maintainer's view of the outline
    """Print every outline path with its title, agencies and text (python -m knowledge.outline)."""
    import sys
    from pathlib import Path

    source = Path(__file__).parent / "source" / "digi-plus-2017-2020-report.txt"
    outline = parse_outline(source.read_text(encoding="utf-8"))
    show_text = "--text" in sys.argv
    for node in outline.nodes:
        print(f"{node.path}\t{node.display_title}\t{'、'.join(node.agencies)}")
        if show_text:
            for sentence in node.sentences:
                print(f"    {sentence}")


if __name__ == "__main__":  # pragma: no cover
    main()
