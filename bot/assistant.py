"""`Assistant.ask(text, session) -> Answer`: the answering core, as a short list of stages.

    understand (intents/) → follow-up (followup.py) → policy → candidates (candidates.py)
    → features (features.py) → ranker (ranker.py) → decide (decide.py) → compose (reply.py) → ground

The policy is data (`POLICY`): wording that needs no search (small talk, advice, what comes after
the report) is answered by its rule; everything else is decided by the learned ranker over every
candidate the report offers. Every number in a reply is checked against the quoted report text
before it leaves.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intents.entities import Place
from intents.normalize import match_form
from intents.pipeline import Understander, Understanding, Vocabulary
from intents.shape import question_parts
from intents.stats_request import StatsRequest, parse_command
from knowledge.build import KB_FILENAME
from knowledge.search import FaqIndex, Query, QueryConcept, SentenceIndex
from knowledge.store import KnowledgeBase, load_kb

from . import compose, features, followup, prepared
from .answer import Answer
from .candidates import Candidate, Gathered, Sources
from .decide import Decision, decide
from .grounding import ungrounded_numbers
from .ranker import Ranker, Thresholds, load_committed
from .reply import Replies
from .session import Session

log = logging.getLogger(__name__)

# Wording answered by a rule, in order; the first that applies answers. Everything else is decided by
# the ranker. Each entry: (name, does it apply to the understood question, the reply it gets).
POLICY = (
    ("empty", lambda u: u.is_empty, "help"),
    ("small talk", lambda u: u.smalltalk is not None, "smalltalk"),
    ("advice", lambda u: u.entities.advice, "advice"),
    ("after the report", lambda u: u.entities.future, "refuse"),
)
NAMES_ENOUGH = 0.5  # a question naming less than this share of the average labelled question reads as a fragment


@dataclass
class Thought:
    """Everything the stages worked out for one question (for the decision, training and tests)."""

    understanding: Understanding
    gathered: Gathered | None
    rows: np.ndarray
    decision: Decision | None


@dataclass
class Route:
    """How one message is answered: by a policy rule (`rule`), part by part (`parts`), or by the ranker
    (`thought`, with `u` the reading it decided on)."""

    query: str  # the message as typed (cleaned)
    u: Understanding
    rule: str | None = None
    parts: list[str] | None = None
    thought: Thought | None = None


class Assistant:
    def __init__(self, kb: KnowledgeBase, ranker: Ranker | None = None):
        started = time.perf_counter()
        self.kb = kb
        vocabulary = _vocabulary(kb)
        # The understanding pipeline's state, stored in the KB file by an earlier start (bot/prepared.py).
        prepared_as = prepared.fingerprint(vocabulary, SentenceIndex.source_digest(kb))
        state = prepared.read(kb.path, prepared_as) if kb.path else None
        self.prepared = state is not None  # read from the KB file, not worked out
        self.understander = Understander(vocabulary, state and state["understander"])
        self._analyze = self.understander.tokenizer.index_terms
        self.index = SentenceIndex(kb, self._analyze, match_form, state and state["index"])
        self.faq = FaqIndex(kb.faq, match_form)
        self.sources = Sources(kb, self.index, self.faq, self.concept_weight, self.understander.entities.indicator)
        self.describer = features.Describer(kb, self.sources.faq_indicator)
        self.replies = Replies(kb)
        self.ranker = ranker or _stored_ranker(kb) or load_committed()
        if state is None and kb.path and Path(kb.path).is_file():
            # After the index: the report's sentences it segmented are part of the state.
            prepared.write(kb.path, prepared_as, {"understander": self.understander.state(), "index": self.index.state()})
        self.startup_seconds = time.perf_counter() - started

    @classmethod
    def load(cls, data_dir: Path) -> "Assistant":
        return cls(load_kb(data_dir / KB_FILENAME))

    # ------------------------------------------------------------------ public
    def ask(self, text: str, session: Session | None = None) -> Answer:
        """Answer one message. Never raises: bad input gets a polite reply."""
        session = session if session is not None else Session()
        if session.expired():
            session.clear()
        try:
            answer = self._ask(text if isinstance(text, str) else "", session)
        except Exception:  # a bug must not take a channel down; the log has the traceback
            log.exception("answering failed for %r", (text or "")[:200])
            answer = Answer(query=_display(text), answered=False, intent="clarify",
                            answer="抱歉，處理這個問題時發生錯誤，請換個方式再問一次。")
        answer.answer = answer.answer[: compose.MAX_ANSWER_CHARS]
        return answer

    def stats_request(self, text: str) -> StatsRequest:
        """A statistics command's arguments read with the same entity rules as every question."""
        return parse_command(text, self.understander.entities, self.kb.years,
                             {i.key: [i.name, i.name_en, *i.aliases] for i in self.kb.indicators})

    def example_questions(self, n: int = 3) -> list[str]:
        """A few questions the bot answers well, from different axes (for /start and the web page)."""
        return self.replies.examples(n)

    # ------------------------------------------------------------------ the stages
    def _ask(self, text: str, session: Session) -> Answer:
        route = self.route(text, session)
        if route.rule is not None:
            return self._by_rule(route.rule, route.query, route.u)
        if route.parts:
            return self._several(route.query, route.u, route.parts, session)
        answer = self.reply(route.query, route.u, route.thought.decision)
        self._remember(session, route.u, route.thought.decision, answer)
        return answer

    def route(self, text: str, session: Session) -> Route:
        """How a message is answered (training reads messages with this too, so it cannot drift from answering):
        by a policy rule, part by part, or — read in its conversation — by the ranker's decision."""
        u = self.understand(text)
        query = u.normalized.original
        for _, applies, reply in POLICY:
            if applies(u):
                return Route(query, u, rule=reply)
        parts = question_parts(u.text)  # the message's own questions (not the words a follow-up carries)
        if len(parts) > 1:
            return Route(query, u, parts=parts)
        if parts[0] != u.text:  # the same question pasted again and again
            u = self.understand(parts[0])
        own = u
        u = followup.resolve(u, session, self.understander, self.names_enough)
        u, thought = self.read(u, session, own)
        return Route(query, u, thought=thought)

    def read(self, u: Understanding, session: Session, own: Understanding | None = None) -> tuple[Understanding, Thought]:
        """Decide on a (resolved) question. A message that does not read as a follow-up but comes in a live
        conversation ("新住民數位機會據點" → "借平板的有多少人次") is also read with the previous question's
        words as context, and a follow-up that names its own topic ("MyData 呢？") also on its own (`own`:
        the message before it was resolved); the reading the decision model is surer of is the one answered."""
        thought = self.think(u, context_node=session.node_id if u.entities.follow_up else None)
        if own is not None and own is not u and u.carried_weight < 1.0:
            # Its own words, still asking what the previous question asked (a count, a year's figure).
            e, r = own.entities, u.entities
            own = dataclasses.replace(own, entities=dataclasses.replace(
                e, ask=e.ask or r.ask, unit=e.unit or r.unit, years=e.years or r.years, follow_up=True))
            alone = self.think(own)
            return (own, alone) if alone.decision.confidence > thought.decision.confidence else (u, thought)
        if u.entities.follow_up or session.intent not in followup.ANSWERED_INTENTS or session.expired():
            return u, thought
        carried = followup.carry(session.text, u, self.understander, followup.NEW_TOPIC_CARRY)
        other = self.think(carried, context_node=session.node_id)
        return (carried, other) if other.decision.confidence > thought.decision.confidence else (u, thought)

    def understand(self, text: str) -> Understanding:
        return self.understander.understand(text)

    def think(self, u: Understanding, ranker: Ranker | None = None, context_node: int | None = None) -> Thought:
        """Candidates → features → probabilities → decision, for an understood (resolved) question;
        `context_node`: for a follow-up, the report node the previous answer came from."""
        gathered = self.sources.gather(u, self._query(u), context_node)
        facts = features.question_facts(u, gathered, self.kb, self.concept_weight, self.index.document_frequency)
        rows = self.describer.matrix(gathered.candidates, u, facts)
        model = ranker or self.ranker
        if model is None:
            raise RuntimeError("no trained ranker: run `digibot train` or build the knowledge base")
        decision = decide(gathered.candidates, rows, model)
        return Thought(u, gathered, rows, decision)

    def reply(self, query: str, u: Understanding, decision: Decision) -> Answer:
        if decision.action == "answer":
            return self.replies.answer(query, u, decision.best, decision.confidence)
        if decision.action == "clarify":
            return self.replies.clarify(query, u, decision)
        return self.replies.refuse(query, u, decision)

    def _by_rule(self, reply: str, query: str, u: Understanding) -> Answer:
        if reply == "help":
            return self.replies.smalltalk(query, "help", u.english, empty=True)
        if reply == "smalltalk":
            return self.replies.smalltalk(query, u.smalltalk, u.english)
        return self.replies.refuse(query, u, advice=reply == "advice")

    def _several(self, query: str, u: Understanding, parts: list[str], session: Session) -> Answer:
        """"原本要幾天？現在縮到幾天？": each part is answered in turn, the earlier parts as its context;
        one reply states them in order (a part the previous reply already answers is not repeated)."""
        answered: list[Answer] = []
        unanswered: list[str] = []
        context = ""
        last: tuple[Understanding, Decision] | None = None
        for part in parts:
            pu = self.understand(part)
            if context:  # as a follow-up: a part naming its own topic leads, the earlier parts only steer
                pu = followup.carry(context, pu, self.understander, followup.carry_weight(pu, self.names_enough))
            context = f"{context} {part}".strip()
            near = last[1].best.node_id if last else None
            thought = self.think(pu, context_node=near)
            decision = thought.decision
            # A later part is stated when sure, or when a "did you mean" would point where the earlier
            # parts were answered ("…臨櫃核驗有幾項？線上服務又有幾項？").
            beside = near is not None and decision.best is not None and self._related(decision.best.node_id, near)
            if not (decision.action == "answer" or (decision.action == "clarify" and beside)):
                unanswered.append(part)
                continue
            reply = self.replies.answer(query, pu, thought.decision.best, thought.decision.confidence)
            if any(not ungrounded_numbers(reply.answer, [a.answer]) for a in answered):
                continue  # every figure of this part is already stated
            answered.append(reply)
            last = (pu, thought.decision)
        if not answered:
            thought = self.think(u)
            answer = self.reply(query, u, thought.decision)
            self._remember(session, u, thought.decision, answer)
            return answer
        # An earlier part left unanswered may be answered by where a later part was: "幾校開課？修課人數多少"
        # — the sentence with the number of students also has the number of schools.
        for part in list(unanswered):
            near = last[1].best.node_id
            pu = self.understand(part)
            thought = self.think(followup.carry(context, pu, self.understander, followup.carry_weight(pu, self.names_enough)), context_node=near)
            decision = thought.decision
            if decision.action == "refuse" or decision.best is None or not self._related(decision.best.node_id, near):
                continue
            reply = self.replies.answer(query, thought.understanding, decision.best, decision.confidence)
            unanswered.remove(part)
            if all(ungrounded_numbers(reply.answer, [a.answer]) for a in answered):
                answered.append(reply)
        first = answered[0]
        for extra in answered[1:]:
            first.answer = compose._fit(f"{first.answer}{' ' if u.english else ''}{extra.answer}")
            first.sources += [s for s in extra.sources if s not in first.sources]
            first.confidence = min(first.confidence, extra.confidence)
        if unanswered:  # say which part is not answered rather than leave it out silently
            asked = "、".join(f"「{p}」" for p in unanswered)
            first.answer = compose._fit(first.answer + (f" (Not found in the report: {asked}.)" if u.english
                                                        else f"（{asked}：報告中沒有找到確切的資料。）"))
        first = self.replies.grounded(first)
        self._remember(session, last[0], last[1], first)
        return first

    def _related(self, a: int | None, b: int) -> bool:
        """Whether two report nodes are one, or siblings, or parent and child."""
        if a is None:
            return False
        x, y = self.kb.nodes[a], self.kb.nodes[b]
        return a == b or x.parent_id == b or y.parent_id == a or (x.parent_id is not None and x.parent_id == y.parent_id)

    # ------------------------------------------------------------------ follow-up context
    def _remember(self, session: Session, u: Understanding, decision: Decision | None, answer: Answer) -> None:
        """Keep what was asked about for a follow-up: after an answer, and after a "did you mean" (the
        person may go on about the same topic)."""
        if not (answer.answered or answer.intent == "clarify") or decision is None or decision.best is None:
            return
        best = decision.best
        years = [c.year for c in best.stat.cells] if best.stat is not None and best.stat.cells else None
        followup.remember(session, u, answer.intent, node_id=best.node_id,
                          request=best.request if best.kind in ("table", "view") else None,
                          years=years if not u.entities.years else None, when=time.time())

    def names_enough(self, u: Understanding) -> bool:
        """Whether a question names enough to be searched on its own (not "那個計畫的成果如何")."""
        return sum(self.concept_weight(c) for c in u.concepts) >= self._enough

    @functools.cached_property
    def _enough(self) -> float:
        """Half the concept weight of a typical report term: rarer than most words of the report."""
        return NAMES_ENOUGH * self.index.max_idf

    # ------------------------------------------------------------------ queries
    def concept_weight(self, c) -> float:
        return self.index.concept_weight(_query_concept(c))

    def _query(self, u: Understanding) -> Query:
        groups = [[list(self._analyze(alt)) for alt in c.alternatives] for c in u.concepts]
        concepts = [_query_concept(c, u.carried_weight) for c in u.concepts]
        places = [self.understander.entities.place(p).report for p in u.entities.places]
        return Query(groups=groups, concepts=concepts, text=u.text, years=u.entities.years, places=places,
                     ask=u.entities.ask, unit=u.entities.unit, english=u.english, latest=u.entities.latest)


def _stored_ranker(kb: KnowledgeBase) -> Ranker | None:
    """The ranker trained for this KB (kept in its meta by bot/training.py), if it fits this code."""
    from .ranker import ModelError

    text = kb.meta.get("ranker")
    if not text:
        return None
    try:
        return Ranker.from_json(text)
    except ModelError as exc:
        log.warning("the knowledge base's ranker does not fit this code (%s); using the committed one", exc)
        return None


def _query_concept(c, carried: float = 1.0) -> QueryConcept:
    """An understood concept as retrieval weighs it; a word carried over from a previous question counts
    `carried` of a new one."""
    return QueryConcept(c.typed, c.alternatives, c.named, c.noun, scale=carried if c.carried else 1.0,
                        dictionary=c.dictionary)


def _vocabulary(kb: KnowledgeBase) -> Vocabulary:
    synonyms = [(variant, canonical) for variant, canonical, _ in kb.synonyms]
    agencies = {variant: canonical for variant, canonical, kind in kb.synonyms if kind == "agency"}
    for node in kb.nodes.values():
        for agency in node.agencies:
            agencies.setdefault(agency, agency)
    for canonical in sorted(set(agencies.values())):
        agencies.setdefault(canonical, canonical)
    axis_aliases = {a.axis: [a.name, a.name_en, *a.aliases] for a in kb.axes.values()}
    indicator_aliases = {i.key: [i.name, i.name_en, *i.aliases] for i in kb.indicators}
    for ind in kb.indicators:
        synonyms += [(alias, ind.name) for alias in ind.aliases if not alias.isascii()]
    terms: set[str] = set(c for _, c in synonyms) | set(agencies) | {a.name for a in kb.axes.values()}
    terms |= {i.name for i in kb.indicators}
    for sentence in kb.sentences:
        terms.update(re.findall(r"「([^」]{2,8})」", sentence.text))  # named programmes: 「借問站」
        terms.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9+\-]*[A-Za-z0-9+]", sentence.text))
    for node in kb.nodes.values():
        if 2 <= len(node.title) <= 8:
            terms.add(node.title)
    places = [Place(p.name, p.typed, p.report) for p in kb.places]
    layout = kb.layout
    return Vocabulary(domain_terms=sorted(terms), recurring_terms=kb.report_terms, corpus=[s.text for s in kb.sentences],
                      synonyms=synonyms, english=kb.english, axis_aliases=axis_aliases,
                      indicator_aliases=indicator_aliases, agency_names=agencies, stopwords=kb.stopwords,
                      places=places, report_years=(layout.first_year, layout.last_year))


def _display(text) -> str:
    return text[:200] if isinstance(text, str) else ""


__all__ = ["Assistant", "Candidate", "Thresholds", "Thought"]
