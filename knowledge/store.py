"""Reading a built knowledge base into memory (it is small: a few thousand rows)."""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .build import SCHEMA_VERSION

REQUIRED_TABLES = ("meta", "axes", "nodes", "sentences", "figures", "faq", "indicators", "indicator_values",
                   "budget", "budget_totals", "budget_notes", "synonyms", "source_notes", "english",
                   "report_terms", "places", "stopwords", "flagged", "agencies", "taught_out_of_scope")


class KBError(RuntimeError):
    """The KB file is missing, not SQLite, or not a KB this version can read."""


@dataclass
class Node:
    id: int
    path: str
    label: str
    kind: str
    depth: int
    parent_id: int | None
    axis: int
    title: str
    display_title: str
    agencies: list[str]
    text: str
    sentence_ids: list[int] = field(default_factory=list)


@dataclass
class FigureRow:
    text: str
    value: float | None
    unit: str
    kind: str
    iso: str
    context: str
    start: int
    end: int


@dataclass
class Sentence:
    id: int
    node_id: int
    ord: int
    text: str
    figures: list[FigureRow] = field(default_factory=list)


@dataclass
class FaqEntry:
    id: str
    question: str
    alternates: list[str]
    answer: str
    path: str
    node_id: int
    axis: int | None


@dataclass
class Cell:
    year: int
    text: str
    value: float
    estimate: bool = False


@dataclass
class Indicator:
    key: str
    name: str
    name_en: str
    group: str
    group_en: str
    unit: str
    unit_en: str
    footnote: int
    printed_marker: str
    definition: str
    definition_path: str
    printed: str
    aliases: list[str]
    cells: dict[int, Cell]


@dataclass
class Axis:
    axis: int
    name: str
    name_en: str
    lead_agency: str
    path: str
    aliases: list[str]
    agency_quote: str = ""  # the report's words naming the lead agency


@dataclass(frozen=True)
class Layout:
    """Where the report keeps its tables and results, and the years it covers (read from the report)."""

    indicator_table: str  # outline path of the indicator table: "參、總體指標表"
    budget_table: str  # "肆、投入預算表"
    results: str  # the part holding the seven axes' results: "伍、"
    results_title: str
    first_year: int
    last_year: int

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    def covers(self, year: int) -> bool:
        return self.first_year <= year <= self.last_year


@dataclass(frozen=True)
class Place:
    name: str
    group: str  # "taiwan" or "abroad"
    typed: tuple[str, ...]
    report: tuple[str, ...]


@dataclass
class BudgetTotal:
    year: int
    text: str
    value: float
    axes_sum: float
    difference: float
    discrepancy: bool


@dataclass(frozen=True)
class Agency:
    """An agency's official website from knowledge/curated/agencies.yaml (not report data)."""
    name: str  # as the report writes it (國發會)
    full_name: str
    now: str  # what it is called today when reorganised since the report, else ""
    website: str


@dataclass
class KnowledgeBase:
    path: Path
    meta: dict[str, str]
    axes: dict[int, Axis]
    nodes: dict[int, Node]
    sentences: list[Sentence]
    faq: list[FaqEntry]
    indicators: list[Indicator]
    budget: dict[int, dict[int, Cell]]  # axis → year → cell
    budget_totals: dict[int, BudgetTotal]
    budget_notes: dict[int, dict]
    synonyms: list[tuple[str, str, str]]  # (variant, canonical, kind)
    english: dict[str, list[str]]
    source_notes: list[str]
    report_terms: list[str] = field(default_factory=list)  # the report's recurring words (體感, 借問站)
    places: list[Place] = field(default_factory=list)
    stopwords: frozenset[str] = frozenset()
    # Report inconsistencies with the report text each is about: never quoted without the note.
    flagged: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    agencies: dict[str, Agency] = field(default_factory=dict)  # by the report's name
    taught_out_of_scope: list[str] = field(default_factory=list)  # questions admins marked out of scope
    nodes_by_path: dict[str, Node] = field(default_factory=dict)
    sentences_by_id: dict[int, Sentence] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return json.loads(self.meta.get("counts", "{}"))

    @property
    def years(self) -> list[int]:
        return self.layout.years

    @functools.cached_property
    def layout(self) -> Layout:
        return Layout(**json.loads(self.meta["layout"]))

    @functools.cached_property
    def report(self) -> dict:
        """knowledge/curated/report.yaml: the report's title and what the bot says about it."""
        return json.loads(self.meta["report"])

    def node_sentences(self, node_id: int) -> list[Sentence]:
        return [self.sentences_by_id[i] for i in self.nodes[node_id].sentence_ids]

    def indicator(self, key: str) -> Indicator:
        return next(i for i in self.indicators if i.key == key)


def load_kb(path: Path) -> KnowledgeBase:
    if not path.exists():
        raise KBError(f"{path}: no knowledge base here; run `digibot build-kb`")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    except sqlite3.DatabaseError as exc:
        raise KBError(f"{path}: not a readable knowledge base ({exc})") from None
    try:
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise KBError(f"{path}: knowledge base lacks tables {', '.join(missing)}; rebuild it")
        meta = {r["key"]: r["value"] for r in con.execute("select key, value from meta")}
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise KBError(f"{path}: knowledge base schema {meta.get('schema_version')} is not {SCHEMA_VERSION}; rebuild it")
        kb = _read(con, path, meta)
    except sqlite3.DatabaseError as exc:
        raise KBError(f"{path}: knowledge base is damaged ({exc})") from None
    finally:
        con.close()
    if not kb.sentences or not kb.axes:
        raise KBError(f"{path}: knowledge base is empty; rebuild it")
    return kb


def _read(con: sqlite3.Connection, path: Path, meta: dict[str, str]) -> KnowledgeBase:
    axes = {r["axis"]: Axis(r["axis"], r["name"], r["name_en"], r["lead_agency"], r["path"], json.loads(r["aliases"]),
                            r["agency_quote"])
            for r in con.execute("select * from axes order by axis")}
    nodes = {r["id"]: Node(r["id"], r["path"], r["label"], r["kind"], r["depth"], r["parent_id"], r["axis"],
                           r["title"], r["display_title"], json.loads(r["agencies"]), r["text"])
             for r in con.execute("select * from nodes order by ord")}
    sentences: list[Sentence] = []
    by_id: dict[int, Sentence] = {}
    for r in con.execute("select * from sentences order by id"):
        s = Sentence(r["id"], r["node_id"], r["ord"], r["text"])
        sentences.append(s)
        by_id[s.id] = s
        nodes[s.node_id].sentence_ids.append(s.id)
    for r in con.execute("select * from figures order by sentence_id, start"):
        by_id[r["sentence_id"]].figures.append(
            FigureRow(r["text"], r["value"], r["unit"], r["kind"], r["iso"], r["context"], r["start"], r["end"]))
    faq = [FaqEntry(r["id"], r["question"], json.loads(r["alternates"]), r["answer"], r["path"], r["node_id"],
                    r["axis"]) for r in con.execute("select * from faq order by rowid")]
    cells: dict[str, dict[int, Cell]] = {}
    for r in con.execute("select * from indicator_values order by key, year"):
        cells.setdefault(r["key"], {})[r["year"]] = Cell(r["year"], r["text"], r["value"], bool(r["estimate"]))
    indicators = [Indicator(r["key"], r["name"], r["name_en"], r["grp"], r["grp_en"], r["unit"], r["unit_en"],
                            r["footnote"], r["printed_marker"], r["definition"], r["definition_path"], r["printed"],
                            json.loads(r["aliases"]), cells.get(r["key"], {}))
                  for r in con.execute("select * from indicators order by ord")]
    budget: dict[int, dict[int, Cell]] = {}
    for r in con.execute("select * from budget order by axis, year"):
        budget.setdefault(r["axis"], {})[r["year"]] = Cell(r["year"], r["text"], r["value"])
    totals = {r["year"]: BudgetTotal(r["year"], r["text"], r["value"], r["axes_sum"], r["difference"],
                                     bool(r["discrepancy"])) for r in con.execute("select * from budget_totals")}
    budget_notes = {r["axis"]: dict(r) for r in con.execute("select * from budget_notes")}
    synonyms = [(r["variant"], r["canonical"], r["kind"]) for r in con.execute("select * from synonyms")]
    english: dict[str, list[str]] = {}
    for r in con.execute("select phrase, term from english order by phrase, weight desc"):
        english.setdefault(r["phrase"], []).append(r["term"])
    source_notes = [r["text"] for r in con.execute("select text from source_notes order by ord")]
    report_terms = [r["term"] for r in con.execute("select term from report_terms order by term")]
    places = [Place(r["name"], r["grp"], tuple(json.loads(r["typed"])), tuple(json.loads(r["report"])))
              for r in con.execute("select * from places order by rowid")]
    stopwords = frozenset(r["word"] for r in con.execute("select word from stopwords"))
    flagged = [(r["note"], tuple(json.loads(r["quotes"]))) for r in con.execute("select * from flagged order by ord")]
    agencies = {r["name"]: Agency(r["name"], r["full_name"], r["now"], r["website"])
                for r in con.execute("select * from agencies order by rowid")}
    refused = [r["question"] for r in con.execute("select question from taught_out_of_scope order by ord")]
    kb = KnowledgeBase(path, meta, axes, nodes, sentences, faq, indicators, budget, totals, budget_notes, synonyms,
                       english, source_notes, report_terms, places, stopwords, flagged, agencies, refused)
    kb.nodes_by_path = {n.path: n for n in nodes.values()}
    kb.sentences_by_id = by_id
    return kb
