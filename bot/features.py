"""Stage 3 — features: what each candidate reply has for and against it, as numbers.

Every feature is something the code measures (where the question's words are found, whether the
kind of figure, unit, years and places asked for are there, how central the passage is to its topic,
how close a FAQ phrasing is, how much of the question a table explains); none is a weight. The
learned ranker (bot/ranker.py) turns a candidate's features into the probability that it states
every figure the question asks for. `FEATURES` is the model's schema: a trained model records it and
is refused when it no longer matches.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from intents.entities import YEAR_SPAN
from intents.normalize import match_form
from intents.pipeline import Understanding
from intents.shape import APPLYING, CHANGE_SHOWN, CUMULATIVE, DEFINITION, PER_PLACE, TREND
from intents.tokenize import bigrams
from knowledge.search import ASK_KINDS, contains
from knowledge.store import KnowledgeBase

from .candidates import Candidate, Gathered
from .grounding import numbers

FEATURES = (
    # the question (the same for every candidate: they set how sure any answer can be)
    "q_log_weight", "q_concepts", "q_unknown_nouns", "q_english", "q_asks_figure", "q_asks_agency", "q_years",
    "q_year_outside",
    "q_places", "q_procedure", "q_carried", "q_definition", "q_per_place", "q_trend",
    # which source the candidate comes from
    "is_passage", "is_faq", "is_table", "is_view", "is_definition", "is_agency",
    # passages: where the question's words are, how well the figure fits
    "p_in_sentence", "p_in_title", "p_in_context", "p_in_node", "p_other_cover", "p_log_cover", "p_cover_gap",
    "p_lacks_required", "p_type_wrong", "p_no_figure", "p_unit_ok", "p_unit_wrong", "p_years_missing",
    "p_year_not_in_sentence", "p_year_not_beside", "p_place_missing", "p_outside_year_missing", "p_focus", "p_bm25_rel", "p_bm25_first",
    "p_cumulative", "p_latest", "p_older", "p_depth", "p_first_sentence", "p_overview", "p_procedure_spoken",
    "p_log_length", "p_new_cover", "p_change_shown",
    # a follow-up: the candidate comes from where the previous answer did; none of the words the new
    # message names is in it (it would answer the previous question again: "天氣如何" after iTaiwan)
    "x_same_node", "x_same_parent", "x_new_unfound",
    # FAQ entries: how close a phrasing is, whether it names what the question names
    "f_similarity", "f_misfit", "f_place_missing", "f_cover", "f_extra", "f_other_indicator", "f_same_node", "f_node_cover", "f_type_ok",
    # tables and their arithmetic, definitions, agencies: how much of the question the entity explains
    "t_explained", "t_indicator", "t_axis", "t_superlative", "t_years_missing", "t_ask_mismatch", "t_place",
    "t_best_passage",
)
INDEX = {name: i for i, name in enumerate(FEATURES)}

# What the decision model sees of a question's ranking: the best candidate that may be stated (its
# probability and every feature), the runner-up, and the best rival — a likely candidate that states
# other figures, which would give another reply — and whether the runner-up agrees with the best.
RANKING = ("d_best", "d_second", "d_margin", "d_best_logit", "d_rival", "d_rival_margin", "d_second_agrees")
DECISION_FEATURES = RANKING + tuple("best_" + name for name in FEATURES)


def agree(a: frozenset, b: frozenset) -> bool:
    """Two candidates agree when they state a figure in common (the same reply from two sources)."""
    return bool(a & b)


def decision_row(rows: np.ndarray, probabilities: np.ndarray, allowed: np.ndarray, order: list[int],
                 figures: list[frozenset]) -> np.ndarray:
    """The decision model's input for one question; `order`: candidate indices, most probable first;
    `figures`: the figures each candidate states (numbers other than years)."""
    out = np.zeros(len(DECISION_FEATURES))
    permitted = [i for i in order if allowed[i]]
    if not permitted:
        return out
    best = permitted[0]
    p1 = float(probabilities[best])
    p2 = float(probabilities[permitted[1]]) if len(permitted) > 1 else 0.0
    rival = max((float(probabilities[i]) for i in permitted[1:] if not agree(figures[i], figures[best])), default=0.0)
    agrees = len(permitted) > 1 and agree(figures[permitted[1]], figures[best])
    out[:len(RANKING)] = (p1, p2, p1 - p2, math.log(max(p1, 1e-6) / max(1 - p1, 1e-6)), rival, p1 - rival,
                          float(agrees))
    out[len(RANKING):] = rows[best]
    return out


@dataclass
class QuestionFacts:
    """What every candidate's features share about the question."""

    values: dict[str, float]
    wanted: set[str]  # figure kinds the question asks for
    best_cover: float  # the best coverage among passages
    newest: int  # the most recent year among the best-covering passages
    years: list[int]
    outside_years: list[int]  # asked, before the programme or after the report
    concepts: list  # (alternatives, share of the question's weight) of each concept
    places: list[tuple[str, ...]]  # each place asked, as the report may write it
    context_node: int | None
    bigrams: set[str]  # of the question (with its repairs and report terms)
    new: list  # a message naming its own topic, read with the previous one's words: the spellings of each of its own words


def question_facts(u: Understanding, gathered: Gathered, kb: KnowledgeBase, concept_weight, document_frequency
                   ) -> QuestionFacts:
    e = u.entities
    unknown = sum(concept_weight(c) for c in u.concepts
                  if c.noun and not c.typed.isascii() and not any(document_frequency(a) for a in c.alternatives))
    total = gathered.total_weight or 1.0
    passages = [c.match for c in gathered.candidates if c.kind == "passage"]
    best_cover = max((m.coverage for m in passages), default=0.0)
    close = [m for m in passages if m.coverage >= best_cover - 0.1]
    newest = max((_latest(m.sentence) for m in close), default=0)
    values = {
        "q_log_weight": math.log1p(gathered.total_weight),
        "q_concepts": min(len(u.concepts), 8) / 8,
        "q_unknown_nouns": unknown / total,
        "q_english": float(u.english),
        "q_asks_figure": float(bool(e.ask) and e.ask != "agency"),
        "q_asks_agency": float(e.ask == "agency"),
        "q_years": float(bool(e.years)),
        "q_year_outside": float(any(not kb.layout.covers(y) for y in e.years)),
        "q_places": float(bool(e.places)),
        "q_procedure": float(e.procedure),
        "q_carried": float(any(c.carried for c in u.concepts)),
        "q_definition": float(bool(DEFINITION.search(u.text))),
        "q_per_place": float(bool(PER_PLACE.search(u.text))),
        "q_trend": float(bool(TREND.search(u.text))),
    }
    outside = [y for y in e.years if not kb.layout.first_year - 1 <= y <= kb.layout.last_year]
    concepts = [(c.alternatives, w / total) for c, w in zip(u.concepts, gathered.weights)]
    new = [c.alternatives for c in u.concepts if not c.carried] if u.carried_weight < 1.0 else []
    return QuestionFacts(values, ASK_KINDS.get(e.ask or "", set()), best_cover, newest, list(e.years), outside,
                         concepts, gathered.query.places, gathered.context_node,
                         set(bigrams(match_form(u.canonical or u.text))) | set(bigrams(match_form(u.text))), new)


_PASSAGE = [INDEX[n] for n in (
    "p_in_sentence", "p_in_title", "p_in_context", "p_in_node", "p_other_cover", "p_log_cover", "p_cover_gap",
    "p_lacks_required", "p_type_wrong", "p_no_figure", "p_unit_ok", "p_unit_wrong", "p_years_missing",
    "p_year_not_in_sentence", "p_year_not_beside", "p_place_missing", "p_outside_year_missing", "p_focus",
    "p_bm25_rel", "p_bm25_first", "p_cumulative", "p_latest", "p_older", "p_depth", "p_first_sentence",
    "p_overview", "p_procedure_spoken", "p_log_length", "p_new_cover", "p_change_shown")]
_FAQ = [INDEX[n] for n in ("f_similarity", "f_misfit", "f_place_missing", "f_cover", "f_extra", "f_same_node",
                           "f_node_cover", "f_type_ok", "t_best_passage", "f_other_indicator")]


@dataclass(frozen=True)
class _Sentence:
    """What a sentence is, whatever the question (computed once per knowledge base)."""

    cumulative: float
    change_shown: float
    speaks_of_applying: bool
    depth: float
    first: float
    overview: float
    log_length: float
    latest: int
    no_figure: float


@dataclass(frozen=True)
class _Faq:
    entry_text: str  # question and answer, normalised
    text: str  # every phrasing, the answer and the section title, normalised
    bigrams: frozenset
    answer: str
    years: frozenset  # the years its own question names ("2020年Gbps等級服務到偏鄉涵蓋率是多少？")


class Describer:
    """Turns candidates into FEATURES rows; what does not depend on the question is kept per sentence and
    FAQ entry of the knowledge base."""

    def __init__(self, kb: KnowledgeBase, faq_indicator: dict[str, str | None]):
        self.kb = kb
        self.faq_indicator = faq_indicator
        self._sentences: dict[int, _Sentence] = {}
        self._faqs: dict[str, _Faq] = {}

    def sentence(self, s) -> _Sentence:
        found = self._sentences.get(s.id)
        if found is None:
            node = self.kb.nodes[s.node_id]
            found = self._sentences[s.id] = _Sentence(
                float(bool(CUMULATIVE.search(s.text))), float(bool(CHANGE_SHOWN.search(s.text))),
                bool(APPLYING.search(s.text)), min(node.depth, 6) / 6, float(s.ord == 0), float(node.axis == 0),
                math.log(len(s.text) + 1) / 6, _latest(s), float(not s.figures))
        return found

    def faq(self, entry) -> _Faq:
        found = self._faqs.get(entry.id)
        if found is None:
            found = self._faqs[entry.id] = _Faq(
                match_form(entry.question + " " + entry.answer),
                match_form(" ".join([entry.question, *entry.alternates, entry.answer,
                                     self.kb.nodes[entry.node_id].display_title])),
                frozenset(bigrams(match_form(entry.question))), entry.answer,
                frozenset(int(y) for y in re.findall(r"(?<!\d)(20\d\d)(?!\d)", entry.question)))
        return found

    def matrix(self, candidates: list[Candidate], u: Understanding, facts: QuestionFacts) -> np.ndarray:
        """One row of FEATURES per candidate."""
        kb = self.kb
        rows = np.zeros((len(candidates), len(FEATURES)))
        rows[:, [INDEX[k] for k in facts.values]] = list(facts.values.values())
        passages = [c for c in candidates if c.kind == "passage"]
        top_bm25 = passages[0].match.bm25 if passages else 1.0
        context = kb.nodes.get(facts.context_node) if facts.context_node else None
        for i, candidate in enumerate(candidates):
            row = rows[i]
            row[INDEX["is_" + candidate.kind]] = 1.0
            if context is not None and candidate.node_id is not None:
                row[INDEX["x_same_node"]] = float(candidate.node_id == context.id)
                parent = kb.nodes[candidate.node_id].parent_id
                row[INDEX["x_same_parent"]] = float(parent is not None and parent in (context.parent_id, context.id))
            if candidate.kind == "passage":
                row[_PASSAGE] = self._passage(candidate, u, facts, top_bm25)
                row[INDEX["x_new_unfound"]] = float(bool(facts.new) and candidate.match.new_cover == 0)
            elif candidate.kind == "faq":
                row[_FAQ] = self._faq(candidate, u, facts, passages)
                text = self.faq(candidate.faq.entry).text
                row[INDEX["x_new_unfound"]] = float(bool(facts.new) and not any(
                    contains(text, a) for alternatives in facts.new for a in alternatives if a))
            else:
                _table(row, candidate, u, facts)
                if candidate.kind in ("table", "view"):
                    text = _table_text(candidate)
                    row[INDEX["x_new_unfound"]] = float(bool(facts.new) and not any(
                        contains(text, a) for alternatives in facts.new for a in alternatives if a))
        return rows

    def _passage(self, c: Candidate, u: Understanding, facts: QuestionFacts, top_bm25: float) -> list[float]:
        m = c.match
        s = m.sentence
        e = u.entities
        static = self.sentence(s)
        other = m.abbreviated + m.counted_by + m.paraphrased
        latest = static.latest
        undated = not facts.years
        return [
            m.in_sentence, m.in_title, m.in_context, m.in_node, other, math.log(m.coverage + other + 0.05),
            m.coverage - facts.best_cover, float(m.lacks_required),
            float(bool(e.ask) and e.ask != "agency" and not m.type_ok), static.no_figure, float(m.unit_ok),
            float(m.unit_asked and not m.unit_ok), float(not m.years_ok),
            float(m.years_ok and not m.years_in_sentence), float(m.years_in_sentence and not m.year_beside_figure),
            float(not m.places_ok), float(any(str(y) not in s.text for y in facts.outside_years)), m.focus,
            m.bm25 / top_bm25 if top_bm25 else 0.0, float(m.bm25_rank == 0), static.cumulative,
            float(bool(latest) and latest == facts.newest and undated),
            float(bool(latest) and latest < facts.newest and undated), static.depth, static.first, static.overview,
            float(e.procedure and static.speaks_of_applying), static.log_length, m.new_cover, static.change_shown]

    def _faq(self, c: Candidate, u: Understanding, facts: QuestionFacts, passages: list[Candidate]) -> list[float]:
        hit = c.faq
        static = self.faq(hit.entry)
        e = u.entities
        # A year asked that the FAQ names only as the end of a span ("2017至2020年計訓練12,661人" asked about
        # 2020) gets the span's figure, not the year's; nor does a FAQ whose own question names other years.
        text = static.entry_text if len(e.years) != 1 or e.year_range else YEAR_SPAN.sub(" ", static.entry_text)
        misfit = any(str(y) not in text for y in e.years) or bool(
            e.years and static.years and not static.years & set(e.years)) or any(
            n not in static.entry_text for n in re.findall(r"\d+", u.text) if len(n) != 4)
        node_cover = max((x.match.coverage for x in passages if x.node_id == c.node_id), default=0.0)
        theirs = static.bigrams
        indicator = self.faq_indicator.get(hit.entry.id)
        return [
            hit.score, float(misfit),
            float(any(not any(form in static.entry_text for form in forms) for forms in facts.places)),
            sum(share for alternatives, share in facts.concepts if any(contains(static.text, a) for a in alternatives if a)),
            # What the FAQ's own question names that this question does not ("臺鐵" in a FAQ about the
            # railway's hotspots, asked about hotspots in general).
            len(theirs - facts.bigrams) / len(theirs) if theirs else 0.0,
            float(bool(passages) and passages[0].node_id == c.node_id), node_cover,
            float(not facts.wanted or _answer_has_kind(static.answer, facts.wanted)), facts.best_cover,
            float(bool(e.indicator and indicator) and indicator != e.indicator)]


def _table(row: np.ndarray, c: Candidate, u: Understanding, facts: QuestionFacts) -> None:
    e = u.entities
    request = c.request
    row[INDEX["t_explained"]] = c.explained
    row[INDEX["t_indicator"]] = float(bool(request and request.indicator) or c.kind == "definition")
    row[INDEX["t_axis"]] = float(bool(request and request.axis) or c.kind == "agency")
    row[INDEX["t_superlative"]] = float(bool(e.superlative))
    row[INDEX["t_years_missing"]] = float(bool(request and request.outside_years))
    row[INDEX["t_ask_mismatch"]] = float(_ask_mismatch(c, u))
    row[INDEX["t_place"]] = float(c.kind in ("table", "view") and bool(e.places or PER_PLACE.search(u.text)))
    row[INDEX["t_best_passage"]] = facts.best_cover


def _table_text(c: Candidate) -> str:
    """What a table reply is about: its title, section and printed rows (or the arithmetic's labels)."""
    if c.stat is not None:
        return " ".join([c.stat.title, c.stat.path, *c.stat.quotes])
    return " ".join(_words_of(c.view)) if c.view else ""


def _words_of(value) -> list[str]:
    """The text and numbers of a table arithmetic (its labels, section, years and figures), without its keys."""
    if isinstance(value, dict):
        return [w for v in value.values() for w in _words_of(v)]
    if isinstance(value, (list, tuple)):
        return [w for v in value for w in _words_of(v)]
    if isinstance(value, bool) or value is None:
        return []
    return [str(value)]


def _ask_mismatch(c: Candidate, u: Understanding) -> bool:
    """The question asks what this kind of candidate cannot give: a table gives values, not when or who;
    a rate or a rank is not a count of places ("多少個偏鄉"); an agency is not a figure."""
    ask = u.entities.ask
    if c.kind in ("table", "view"):
        if ask in ("agency", "duration") or (ask == "date" and not u.entities.superlative):
            return True
        unit = c.stat.cells[0].text[-1:] if c.stat is not None and c.stat.cells else ""
        return ask == "count" and bool(u.entities.unit) and unit in ("%", "名")
    if c.kind == "agency":
        return ask != "agency"
    return False


def _answer_has_kind(answer: str, wanted: set[str]) -> bool:
    text = answer
    if "percent" in wanted:
        return "%" in text or "％" in text
    if "money" in wanted:
        return bool(re.search(r"\d[\d,.]*\s*(?:[兆億萬]|元)", text))
    if "rank" in wanted:
        return bool(re.search(r"第?\d+\s*名", text))
    if "date" in wanted:
        return bool(re.search(r"(?:19|20)\d{2}\s*年|\d+\s*月", text))
    return bool(numbers(text))


def _latest(sentence) -> int:
    years = [int(f.iso[:4]) for f in sentence.figures if f.kind == "date" and f.iso[:4].isdigit()]
    return max(years, default=0)

