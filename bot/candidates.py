"""Stage 2 — candidates: every reply the report could give to a question, from every source.

Passage sentences (BM25 over the report, with what retrieval measured about each), FAQ entries
(fuzzy match of their phrasings), table cells and table arithmetic (the one statistics reader),
the footnote that defines an indicator, and an axis's lead agency. Nothing here decides: the
features stage describes each candidate, the learned ranker scores it, the decision stage picks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from intents.normalize import match_form
from intents.pipeline import Understanding
from intents.shape import DEFINITION, STAT_WORDS
from intents.stats_request import StatsRequest, from_entities
from knowledge.search import FaqHit, FaqIndex, PassageMatch, Query, SentenceIndex
from knowledge.stats import StatResult, lookup_budget, lookup_indicator
from knowledge.store import KnowledgeBase

from . import tables
from .grounding import numbers

PASSAGES = 12  # BM25 candidates measured and ranked per question (a right one is rarely further down)
FAQ_HITS = 3


@dataclass
class Candidate:
    """One possible reply. `kind` is its source: passage, faq, table, view, definition or agency."""

    kind: str
    node_id: int | None = None  # the report node it answers from (suggestions, follow-ups)
    match: PassageMatch | None = None
    faq: FaqHit | None = None
    stat: StatResult | None = None
    view: dict | None = None  # table arithmetic (bot/tables.view)
    indicator: str | None = None  # definition: the indicator whose footnote is quoted
    axis: int | None = None  # agency: the axis whose lead agency is named
    explained: float = 0.0  # tables, definitions, agencies: share of the question their entity and words explain
    request: StatsRequest | None = None
    p: float = 0.0  # the ranker's probability that this candidate states every figure asked for
    features: list[float] = field(default_factory=list)
    figures: frozenset = frozenset()  # the numbers (other than years) its source states; agencies for "who"


@dataclass
class Gathered:
    """All candidates of one question, and what the other stages need to know about the question."""

    candidates: list[Candidate]
    query: Query
    request: StatsRequest
    weights: list[float]  # each concept's weight
    total_weight: float  # how much the question names (concept weight)
    context_node: int | None = None  # a follow-up: the node the previous answer came from


class Sources:
    """The knowledge base's searchable sources for one Assistant."""

    def __init__(self, kb: KnowledgeBase, index: SentenceIndex, faq: FaqIndex, concept_weight, indicator_of):
        self.kb = kb
        self._figure_cache: dict = {}
        # Which headline indicator each FAQ entry's question is about, if any.
        self.faq_indicator = {e.id: indicator_of(match_form(e.question)) for e in kb.faq}
        self.index = index
        self.faq = faq
        self.concept_weight = concept_weight  # Concept → weight (rare report words most)
        self._axis_words = {a: [x.name, x.name_en, *x.aliases, f"主軸{a}"] for a, x in kb.axes.items()}
        self._indicator_words = {i.key: [i.name, i.name_en, *i.aliases] for i in kb.indicators}
        self._defines = {}  # footnote node id → the one indicator it defines
        for i in kb.indicators:
            note = kb.nodes_by_path.get(i.definition_path)
            if note is not None:
                self._defines.setdefault(note.id, []).append(i.key)

    def gather(self, u: Understanding, query: Query, context_node: int | None = None) -> Gathered:
        passages = self.index.match(query, PASSAGES)
        found = [Candidate("passage", node_id=m.sentence.node_id, match=m) for m in passages]
        request = from_entities(u.entities, u.text, self.kb.years)
        tables_found = self._tables(u, request, passages)
        # A FAQ entry written on a table only repeats the table, which answers with the year asked, its
        # notes and English labels: it stands aside when the table itself is a candidate.
        table_nodes = {c.node_id for c in tables_found if c.kind == "table"}
        found += [c for c in self._faq(u) if c.node_id not in table_nodes] + tables_found
        for c in found:
            # What the reply would state: its numbers, or for "who is in charge" the agencies its source names.
            c.figures = self._agencies(c) if u.entities.ask == "agency" else self._figures(c, u.entities.ask == "date")
        weights = [self.index.concept_weight(c) for c in query.concepts]  # carried words as they count
        return Gathered(found, query, request, weights, sum(weights), context_node)

    # ------------------------------------------------------------------ FAQ
    def _faq(self, u: Understanding) -> list[Candidate]:
        hits = self.faq.match(u.corrected or u.text, FAQ_HITS)
        if u.canonical != u.corrected:  # the report's own terms may match a FAQ phrasing better
            hits = sorted(hits + self.faq.match(u.canonical, FAQ_HITS), key=lambda h: -h.score)
        seen, out = set(), []
        for hit in hits:
            if hit.entry.id not in seen:
                seen.add(hit.entry.id)
                out.append(Candidate("faq", node_id=hit.entry.node_id, faq=hit))
        return out[:FAQ_HITS]

    # ------------------------------------------------------------------ tables
    def _tables(self, u: Understanding, request: StatsRequest, passages: list[PassageMatch]) -> list[Candidate]:
        e = u.entities
        out: list[Candidate] = []
        indicator = e.indicator or self._indicator_defined_by(passages)
        if indicator and DEFINITION.search(u.text):
            note = self.kb.nodes_by_path[self.kb.indicator(indicator).definition_path]
            out.append(Candidate("definition", node_id=note.id, indicator=indicator,
                                 explained=self.explained(u, self._indicator_words[indicator])))
        if e.axis and e.ask == "agency":
            out.append(Candidate("agency", node_id=self.kb.nodes_by_path[self.kb.axes[e.axis].path].id, axis=e.axis,
                                 explained=self.explained(u, self._axis_words[e.axis])))
        years = request.years or []
        table_node = None
        if request.table == "indicators" and request.indicator:
            result = lookup_indicator(self.kb, request.indicator, years + request.outside_years)
            known = self._indicator_words[request.indicator]
            table_node = self.kb.layout.indicator_table
        elif request.table == "budget" and (e.budget or request.axis is None or e.ask in ("money", "count", None)):
            result = lookup_budget(self.kb, request.axis, years + request.outside_years,
                                   total=e.total, superlative=e.superlative, rank=e.superlative_rank)
            known = self._axis_words[request.axis] if request.axis else []
            table_node = self.kb.layout.budget_table
        else:
            result = None
        if result is not None:
            node_id = self.kb.nodes_by_path[table_node].id
            explained = self.explained(u, known)
            out.append(Candidate("table", node_id=node_id, stat=result, explained=explained, request=request))
            # Arithmetic only when the question asks the table's own measure (a budget, an indicator's change).
            arithmetic = tables.view(self.kb, request) if (e.budget or request.table == "indicators") else None
            if arithmetic is not None:
                out.append(Candidate("view", node_id=node_id, view=arithmetic, explained=explained, request=request))
        return out

    def _figures(self, c: Candidate, years: bool = False) -> frozenset:
        """The numbers a candidate's source states, other than years unless `years` ("when": the year is
        the answer); a sentence's and a FAQ entry's are kept."""
        key = (c.kind, c.match.sentence.id if c.match else c.faq.entry.id if c.faq else None, years)
        if key[1] is not None:
            found = self._figure_cache.get(key)
            if found is None:
                found = self._figure_cache[key] = _figures(c, years)
            return found
        return _figures(c, years)

    def _agencies(self, c: Candidate) -> frozenset:
        return frozenset(self.kb.nodes[c.node_id].agencies) if c.node_id is not None else frozenset()

    def _indicator_defined_by(self, passages: list[PassageMatch]) -> str | None:
        """An indicator described by its definition ("可提供Gbps服務之家戶數佔全部家戶的比例") is found
        through the table footnote that defines it."""
        for m in passages[:3]:
            keys = self._defines.get(m.sentence.node_id, [])
            if len(keys) == 1 and m.coverage >= 0.5:
                return keys[0]
        return None

    def explained(self, u: Understanding, known: list[str]) -> float:
        """Share of the question (by concept weight) that a table entity, years and statistics words
        account for; what is left points at something the table does not hold."""
        known_norm = [match_form(k) for k in known if k]
        total = explained = 0.0
        for c in u.concepts:
            weight = self.concept_weight(c)
            total += weight
            if (STAT_WORDS.fullmatch(c.typed) or c.typed.isdigit()
                    or any(c.typed in k or k in c.typed for k in known_norm)
                    or any(alt in k for alt in c.alternatives for k in known_norm)):
                explained += weight
        return explained / total if total else 1.0


def _figures(c: Candidate, years: bool = False) -> frozenset:
    """The numbers a candidate's source states, other than years unless `years`."""
    if c.kind == "passage":
        text = c.match.sentence.text
    elif c.kind == "faq":
        text = c.faq.entry.answer
    elif c.kind == "table":
        text = " ".join(cell.text for cell in c.stat.cells)
    elif c.kind == "view":
        text = " ".join(str(v.get("text", "")) for k, v in c.view.items() if isinstance(v, dict))
    else:
        text = ""
    return frozenset(n for n in numbers(text) if years or not re.fullmatch(r"(?:19|20)\d\d", n))
