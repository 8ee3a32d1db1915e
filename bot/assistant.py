"""`Assistant.ask(text, session) -> Answer`: the one core every channel uses.

Understanding (intents/) turns the message into concepts and entities; the knowledge base
(knowledge/) is searched three ways — table look-ups for statistics, the FAQ, and passage
retrieval — and the best result becomes a short reply that quotes the report's figures exactly,
with its sources, a confidence and follow-up suggestions. Every number in a reply is checked
against the quoted report text before it leaves.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from pathlib import Path

from rapidfuzz import fuzz

from intents.entities import Place
from intents.normalize import match_form
from intents.pipeline import Understander, Understanding, Vocabulary, dedupe
from intents.stats_request import StatsRequest, parse_command
from intents.tokenize import bigrams
from knowledge.build import KB_FILENAME
from knowledge.search import ASK_KINDS, SPECIFIC_ENOUGH, FaqHit, FaqIndex, Hit, Query, QueryConcept, SentenceIndex
from knowledge.stats import StatResult, lookup_budget, lookup_indicator
from knowledge.store import KnowledgeBase, load_kb

from . import compose
from .answer import Answer, Source
from .grounding import ungrounded_numbers
from .session import Session

log = logging.getLogger(__name__)

# How an indicator is defined or computed, which its footnote says.
_DEFINITION = re.compile(r"定義|怎麼算|如何計算|怎麼計算|計算方式|分母|分子|指的是|是指|什麼意思|涵義|"
                         r"how (?:is|are) .{0,40}(?:defined|calculated|measured|computed)|definition|denominator")
# A breakdown the tables do not have: per county, city or agency.
_PER_PLACE = re.compile(r"(?:各|每個|每一個|哪些|哪個)(?:縣市|縣|市|鄉鎮|地方|地區|城市|機關|部會)|by (?:county|city|region)")
# A passage that says how something is applied for answers "怎麼申請" itself (one naming a
# website gives no address).
_APPLYING = re.compile(r"申請|申辦|報名|註冊")
ANSWER_THRESHOLD = 0.55  # retrieval confidence needed to state a figure
CLARIFY_THRESHOLD = 0.40  # between the two: "did you mean …?"
# English questions reach the Chinese text through a dictionary, so they cover less of it even
# when right; their named terms (MyData, N-ISAC) are required separately (see knowledge.search).
ENGLISH_ANSWER_THRESHOLD = 0.40
ENGLISH_CLARIFY_THRESHOLD = 0.28
SURE = 0.80  # a passage this well matched needs no support from the rest of the question
FAQ_DIRECT = 0.90  # a FAQ phrasing this close is the question
FAQ_AGREE = 0.85  # a FAQ this close wins when retrieval lands in the same node
STAT_THRESHOLD = 0.6  # share of a question a table must explain to answer from the table


class Assistant:
    def __init__(self, kb: KnowledgeBase):
        started = time.perf_counter()
        self.kb = kb
        self.understander = Understander(_vocabulary(kb))
        tokenizer = self.understander.tokenizer

        @functools.lru_cache(maxsize=20_000)  # report terms and translations recur across questions
        def analyze(text: str) -> tuple[str, ...]:
            return tuple(_index_terms(tokenizer.tokens(text).words, text))

        self._analyze = analyze
        self.index = SentenceIndex(kb, self._analyze, match_form)
        self.faq = FaqIndex(kb.faq, match_form)
        # Per instance, so a replaced Assistant (after /reload) is not kept alive by a cache.
        self._suggestion_pool = functools.lru_cache(maxsize=4096)(self._build_suggestion_pool)
        self._faq_by_node: dict[int, list] = {}
        for entry in kb.faq:
            self._faq_by_node.setdefault(entry.node_id, []).append(entry)
        self._period = f"{kb.layout.first_year}–{kb.layout.last_year}"
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
        picked, axes = [], set()
        for entry in self.kb.faq:
            if entry.axis not in axes:
                axes.add(entry.axis)
                picked.append(entry.question)
            if len(picked) == n:
                break
        return picked

    # ----------------------------------------------------------------- routing
    def _ask(self, text: str, session: Session) -> Answer:
        u = self.understander.understand(text)
        query = u.normalized.original
        if u.is_empty:
            return self._smalltalk(query, "help", u.english, empty=True)
        if u.smalltalk:
            return self._smalltalk(query, u.smalltalk, u.english)
        if u.entities.advice:
            return self._out_of_scope(query, u, advice=True)
        if u.entities.future:
            return self._out_of_scope(query, u)
        if u.entities.procedure:
            answer = self._procedure(query, u)
            if answer is not None:
                return answer
        u = self._with_context(u, session)

        if u.entities.ask == "agency" and u.entities.axis and self._explained(u, self._axis_words(u.entities.axis)) >= 0.8:
            answer = self._axis_agency(query, u)
            self._remember(session, u, answer)
            return answer
        q = self._query(u)
        hits = self.index.search(q)
        if not u.entities.indicator and hits:
            # An indicator described by its definition ("可提供Gbps服務之家戶數佔全部家戶的比例") is
            # found through the table's footnote that defines it.
            u.entities.indicator = next(filter(None, (self._indicator_defined_by(h) for h in hits[:3])), None)
        if u.entities.indicator and _DEFINITION.search(u.text):
            answer = self._definition(query, u)
            self._remember(session, u, answer)
            return answer
        stat, explained = self._stat(u)
        # The table answers unless a passage covers the question better ("…2020年的目標" is in the text).
        if stat is not None and not (hits and hits[0].score > explained):
            answer = self._stat_answer(query, u, stat)
            self._remember(session, u, answer, stat=stat)
            return answer
        parts = _question_parts(u.text)
        if len(parts) > 1:
            answer = self._multi_part(query, u, q, parts, hits)
            self._remember(session, u, answer, hit=hits[0] if hits else None)
            return answer
        faq_hits = self.faq.match(u.corrected or u.text)
        if u.canonical != u.corrected:  # the report's own terms may match a FAQ phrasing better
            faq_hits = sorted(faq_hits + self.faq.match(u.canonical), key=lambda h: -h.score)
        answer = self._best_of(query, u, q, hits, faq_hits)
        self._remember(session, u, answer, hit=hits[0] if hits else None)
        return answer

    def _multi_part(self, query: str, u: Understanding, q: Query, parts: list[str], hits: list[Hit]) -> Answer:
        """"原本要幾天？現在縮到幾天？": each part gets the passage that answers it, with the earlier
        parts as context; one reply states them in order. (FAQ entries answer single questions.)"""
        # The first part is answered with the rest as context, or on its own when that finds a surer
        # passage: "MyData線上服務幾項？臨櫃核驗又幾項？" needs it alone; "規劃幾年期？到哪一年？" alone
        # names too little, so alone must be sure when the whole question found nothing.
        first = self._best_of(query, u, q, hits, [])
        fu = self.understander.understand(parts[0])
        fq = self._query(fu)
        alone = self._best_of(query, fu, fq, self.index.search(fq), [])
        if alone.answered and alone.confidence > first.confidence and (first.answered or alone.confidence >= SURE):
            first = alone
        if not first.answered:
            return first
        used = {s.section + s.quote for s in first.sources}
        previous = parts[0]
        for part in parts[1:]:
            pu = self._carry(previous, self.understander.understand(part))
            previous = f"{previous} {part}"
            pq = self._query(pu)
            phits = self.index.search(pq)
            if not phits:
                continue
            extra = self._best_of(query, pu, pq, phits, [])
            body = extra.answer.removeprefix("According to the report: ")
            # The passage already quoted may answer this part too, with a clause the reply left out.
            if extra.answered and ungrounded_numbers(body, [first.answer]):
                if ungrounded_numbers(first.answer, [body]):
                    first.answer = compose._fit(f"{first.answer}{' ' if u.english else ''}{body}")
                else:  # the new part's reply already states every figure of the first
                    first.answer = extra.answer
                first.sources += [s for s in extra.sources if s.section + s.quote not in used]
                used |= {s.section + s.quote for s in extra.sources}
                first.confidence = min(first.confidence, extra.confidence)
        return self._grounded(first)

    def _best_of(self, query: str, u: Understanding, q: Query, hits: list[Hit], faq_hits: list[FaqHit]) -> Answer:
        best = hits[0] if hits else None
        faq = faq_hits[0] if faq_hits else None
        if faq and not self._faq_fits(faq, u):
            faq = None
        if faq and (faq.score >= FAQ_DIRECT or (
                faq.score >= FAQ_AGREE and best is not None and best.sentence.node_id == faq.entry.node_id)):
            return self._faq_answer(query, u, faq)
        if best is None:
            return self._out_of_scope(query, u)
        # A year the report does not cover ("2021年…") must be in the answering sentence itself.
        layout = self.kb.layout
        years_out = [y for y in u.entities.years if not layout.first_year - 1 <= y <= layout.last_year]
        if not best.places_ok or any(str(y) not in best.sentence.text for y in years_out):
            return self._out_of_scope(query, u, hit=best)
        answer_at, clarify_at = ((ENGLISH_ANSWER_THRESHOLD, ENGLISH_CLARIFY_THRESHOLD) if u.english
                                 else (ANSWER_THRESHOLD, CLARIFY_THRESHOLD))
        # A follow-up ("MyData 呢？") is answered when the passage covers everything newly asked;
        # the words carried over from the previous question only steer.
        new_words = [c.typed for c in u.concepts if not c.carried]
        if any(c.carried for c in u.concepts) and new_words and not set(new_words) & set(best.missing):
            answer_at = clarify_at
        if best.score >= answer_at:
            return self._fact_answer(query, u, q, best)
        if faq and faq.score >= 0.7 and faq.score >= best.score:
            return self._faq_answer(query, u, faq)
        if best.score >= clarify_at:
            return self._clarify(query, u, hits, faq_hits)
        return self._out_of_scope(query, u, hit=best)

    def _faq_fits(self, faq: FaqHit, u: Understanding) -> bool:
        """A FAQ close in wording is still wrong when the question names another year or number."""
        entry_text = match_form(faq.entry.question + " " + faq.entry.answer)
        if any(str(y) not in entry_text for y in u.entities.years):
            return False
        # "台中市的智慧停車格" is not answered by the 10-city total.
        if any(not any(form in entry_text for form in self._place_forms(p)) for p in u.entities.places):
            return False
        numbers = re.findall(r"\d+", u.text)
        return all(n in entry_text for n in numbers if len(n) != 4)

    # --------------------------------------------------------------- follow-ups
    def _with_context(self, u: Understanding, session: Session) -> Understanding:
        """Fill in what a follow-up leaves out ("那2019年呢?") from the session."""
        if session.intent not in ("stat", "fact", "faq") or session.expired():
            return u
        e = u.entities
        short = len(u.concepts) <= 2 and len(u.text) <= 20
        # A question that names too little to stand alone ("總共使用多少人次？") continues the last one.
        vague = session.intent in ("fact", "faq") and self._specificity(u) < 1.0 and not (e.indicator or e.axis)
        if not (e.follow_up or vague or (short and (e.years or e.axis) and not e.indicator)):
            return u
        if session.intent == "stat":
            if not (e.indicator or e.budget):
                e.indicator = session.indicator if e.axis is None else None
                e.budget = session.budget if e.indicator is None else False
                e.axis = e.axis if e.axis is not None else (session.axis if e.indicator is None else None)
                e.total = e.total or (session.total and e.axis is None)
                e.years = e.years or session.years
            return u
        # A fact follow-up: the previous question's words give context; the new ones lead.
        return self._carry(session.text, u)

    def _carry(self, previous: str, u: Understanding) -> Understanding:
        """`u` read with the words of `previous` as context (they weigh less; the new ones lead)."""
        merged = self.understander.understand(f"{previous} {u.text}")
        new = {c.typed for c in u.concepts}
        for concept in merged.concepts:
            concept.carried = concept.typed not in new
        e = u.entities
        merged.entities.years = e.years or merged.entities.years
        merged.entities.ask = e.ask or merged.entities.ask
        merged.entities.unit = e.unit if e.ask else merged.entities.unit
        return merged

    def _specificity(self, u: Understanding) -> float:
        """How much a question names on its own, 1.0 when it is specific enough to search alone."""
        weight = sum(self.index.concept_weight(_query_concept(c)) for c in u.concepts)
        return min(1.0, weight / SPECIFIC_ENOUGH)

    def _remember(self, session: Session, u: Understanding, answer: Answer, *, stat: StatResult | None = None,
                  hit: Hit | None = None) -> None:
        if not answer.answered:
            return
        e = u.entities
        session.intent = answer.intent
        session.text = u.text
        session.years = list(e.years)
        session.ask = e.ask
        if stat is not None:
            first = stat.cells[0] if stat.cells else None
            session.axis = first.axis if first and first.axis else e.axis
            session.indicator = first.indicator if first else None
            session.budget = stat.table == "budget"
            session.total = bool(first and first.label == "合計")
        else:
            session.axis, session.indicator, session.budget, session.total = e.axis, None, False, False
        session.node_id = hit.sentence.node_id if hit else None
        session.updated = time.time()

    # ---------------------------------------------------------------- queries
    def _query(self, u: Understanding) -> Query:
        groups = [[list(self._analyze(alt)) for alt in c.alternatives] for c in u.concepts]
        concepts = [_query_concept(c) for c in u.concepts]
        places = [self._place_forms(p) for p in u.entities.places]
        return Query(groups=groups, concepts=concepts, text=u.text, years=u.entities.years, places=places,
                     ask=u.entities.ask, unit=u.entities.unit, english=u.english, latest=u.entities.latest)

    def _place_forms(self, name: str) -> tuple[str, ...]:
        """How the report may write a place ("中國" is written 中國大陸)."""
        return self.understander.entities.place(name).report

    def _stat(self, u: Understanding) -> tuple[StatResult | None, float]:
        """A table look-up and the share of the question the table explains (see _explained)."""
        e = u.entities
        if e.places or _PER_PLACE.search(u.text):
            return None, 0.0  # the tables are Taiwan's totals: "韓國…", "各縣市…分別" are something else
        if _DEFINITION.search(u.text):
            return None, 0.0  # "涵蓋率是拿什麼當分母": the footnotes define, the table only counts
        if e.ask in ("agency", "duration") or (e.ask == "date" and not e.superlative):
            return None, 0.0  # "正式數字什麼時候公布": the table gives values ("哪一年最高" is one), not when or who
        result, known = None, []
        if e.indicator:
            indicator = self.kb.indicator(e.indicator)
            if e.ask == "count" and e.unit and indicator.unit in ("%", "名"):
                return None, 0.0  # "多少個偏鄉" counts places; the table gives a rate or a rank
            known = [indicator.name, *indicator.aliases]
            result = lookup_indicator(self.kb, e.indicator, self._years(e))
        elif e.budget or (e.axis and e.ask in ("money", "count", None)):  # an axis's only figures are its budget
            if e.axis:
                known = self._axis_words(e.axis)
            result = lookup_budget(self.kb, e.axis, self._years(e), total=e.total, superlative=e.superlative)
        if result is None:
            return None, 0.0
        explained = self._explained(u, known)
        return (result, explained) if explained >= STAT_THRESHOLD else (None, 0.0)

    def _definition(self, query: str, u: Understanding) -> Answer:
        """"1Gbps涵蓋率是拿什麼當分母": the table's footnote that defines the indicator."""
        indicator = self.kb.indicator(u.entities.indicator)
        note = self.kb.nodes_by_path[indicator.definition_path]
        definition = self.kb.node_sentences(note.id)[0].text
        if u.english:
            body = f"The report's table note defines {indicator.name_en} ({indicator.name}) as: {definition}"
        else:
            body = f"{indicator.name}的定義（總體指標表註）：{definition}"
        table = self.kb.nodes_by_path[self.kb.layout.indicator_table]
        sources = [compose.node_source(self.kb, note, definition),
                   Source(section=table.path, title=table.display_title, agency="", quote=indicator.printed)]
        return self._grounded(Answer(query=query, answered=True, intent="fact", answer=compose._fit(body),
                                     sources=sources, confidence=0.9, suggestions=self._suggestions(note.id),
                                     lang="en" if u.english else "zh"))

    def _indicator_defined_by(self, hit: Hit) -> str | None:
        node = self.kb.nodes[hit.sentence.node_id]
        # A footnote holds no figure, so its score is low; how much of the question it covers counts.
        if node.kind != "note" or not node.path.startswith(self.kb.layout.indicator_table) or hit.coverage < 0.5:
            return None
        number = int(re.sub(r"\D", "", node.label) or 0)
        defined = [i.key for i in self.kb.indicators if i.footnote == number]
        return defined[0] if len(defined) == 1 else None

    def _axis_words(self, axis: int) -> list[str]:
        a = self.kb.axes[axis]
        return [a.name, a.name_en, *a.aliases, f"主軸{axis}"]

    def _axis_agency(self, query: str, u: Understanding) -> Answer:
        """"主軸4的主責機關是誰": the lead agency, in the report's words."""
        a = self.kb.axes[u.entities.axis]
        node = self.kb.nodes_by_path[a.path]
        if u.english:
            body = f"The lead agency of Axis {a.axis} “{a.name_en}” ({a.name}) is {a.lead_agency}."
        else:
            body = f"主軸{a.axis}「{a.name}」的主責機關是{a.lead_agency}。"
        source = Source(section=node.path, title=f"主軸{a.axis} {a.name}", agency=a.lead_agency, quote=a.agency_quote)
        return self._grounded(Answer(query=query, answered=True, intent="fact", answer=body, sources=[source],
                                     confidence=0.95, suggestions=self._suggestions(node.id),
                                     lang="en" if u.english else "zh"))

    def _years(self, e) -> list[int]:
        if e.year_range:
            a, b = e.year_range
            return list(range(a, b + 1))
        return list(e.years)

    # Words that only say "a figure from the table, please" (matched against whole concepts).
    _STAT_WORDS = re.compile(r"(?:總|科技|年度|整體)?(?:預算|經費)|投入|編列|編了|花了|合計|總共|總計|全部|總額|整體|比較|最多|最少|最高|"
                             r"最低|主軸|多少|金額|數值|數字|規模|預估|預估值|[兆億萬千]?元|[兆億萬]|名|第.名|率|%|百分比|各|分別|歷年|每年|年度|拿了|"
                             r"拿到|分到|編|總體指標|指標|表|表格|那張表|總表|數據|"
                             r"budgets?|totals?|overall|axis|axes|pillars?|spend|spent|funds?|funding|compare|most|least|"
                             r"years?|largest|highest|lowest|allocated|size|values?|rates?|amounts?|estimates?|each|"
                             r"figures?|indicators?|table|big|large|high|how|share|percent(?:age)?|proportion|ratio|"
                             r"第[一二三四1-4]年|\d+年?")

    def _explained(self, u: Understanding, known: list[str]) -> float:
        """Share of the question (by concept weight) that a table entity, years and statistics
        words account for; what is left points at something the table does not hold."""
        known_norm = [match_form(k) for k in known if k]
        total = explained = 0.0
        for c in u.concepts:
            weight = self.index.concept_weight(_query_concept(c))
            total += weight
            if (self._STAT_WORDS.fullmatch(c.typed) or c.typed.isdigit()
                    or any(c.typed in k or k in c.typed for k in known_norm)
                    or any(alt in k for alt in c.alternatives for k in known_norm)):
                explained += weight
        return explained / total if total else 1.0

    # ---------------------------------------------------------------- replies
    def _fact_answer(self, query: str, u: Understanding, q: Query, hit: Hit) -> Answer:
        kinds = ASK_KINDS.get(u.entities.ask or "", set())
        body, sources = compose.fact_body(self.kb, hit, match_form, u.concepts, u.entities.years, kinds,
                                          u.entities.unit)
        if u.english:
            body = f"According to the report: {body}"
        answer = Answer(query=query, answered=True, intent="fact", answer=body, sources=sources,
                        confidence=hit.score, suggestions=self._suggestions(hit.sentence.node_id, exclude=query),
                        lang="en" if u.english else "zh")
        return self._grounded(answer)

    def _faq_answer(self, query: str, u: Understanding, faq: FaqHit) -> Answer:
        body, sources = compose.faq_body(self.kb, faq.entry)
        if u.english:
            body = f"According to the report: {body}"
        answer = Answer(query=query, answered=True, intent="faq", answer=body, sources=sources,
                        confidence=faq.score,
                        suggestions=self._suggestions(faq.entry.node_id, exclude=faq.entry.question),
                        lang="en" if u.english else "zh")
        return self._grounded(answer)

    def _stat_answer(self, query: str, u: Understanding, stat: StatResult) -> Answer:
        asked_out = [y for y in stat.missing_years if not self.kb.layout.covers(y)]
        if asked_out and not [y for y in u.entities.years if y not in stat.missing_years]:
            return self._out_of_scope(query, u)
        body, sources = compose.stat_body(self.kb, stat, u.english)
        answered = bool(stat.cells) or bool(stat.empty_reason)
        answer = Answer(query=query, answered=answered, intent="stat", answer=body, sources=sources,
                        confidence=0.95 if stat.cells else 0.8, suggestions=self._stat_suggestions(stat),
                        figures=[c.text for c in stat.cells], lang="en" if u.english else "zh")
        return self._grounded(answer)

    def _clarify(self, query: str, u: Understanding, hits: list[Hit], faq_hits: list[FaqHit]) -> Answer:
        suggestions = self._nearby_questions(hits, faq_hits)
        if u.english:
            body = "I'm not sure which figure you mean. Did you mean one of these?"
        else:
            body = "我不太確定您想問的是哪一項數據，您是想問："
        return Answer(query=query, answered=False, intent="clarify", answer=body,
                      confidence=hits[0].score if hits else 0.0, suggestions=suggestions,
                      lang="en" if u.english else "zh")

    def _procedure(self, query: str, u: Understanding) -> Answer | None:
        """"勞動部在職訓練補助要怎麼申請": not in a results report; name the agency in charge when clear.
        None when the passage found does speak of applying ("可於單一平台即可線上申請就業金卡")."""
        hits = self.index.search(self._query(u), limit=1)
        hit = hits[0] if hits and hits[0].coverage >= 0.6 else None
        if hit and _APPLYING.search(hit.sentence.text):
            return None
        agencies = "、".join(self.kb.nodes[hit.sentence.node_id].agencies) if hit else ""
        if u.english:
            opening = "The report describes results; it gives no application steps, web addresses or contact details. " \
                + (f"It names {agencies} as responsible for this work. " if agencies else "")
        else:
            opening = "抱歉，這份成果報告沒有申辦方式、網址或聯絡資訊。" + (f"報告中這項工作由{agencies}負責，可向相關機關洽詢。" if agencies else "")
        answer = self._out_of_scope(query, u, hit=hit, opening=opening)
        if agencies:
            answer.sources.append(compose.node_source(self.kb, self.kb.nodes[hit.sentence.node_id], hit.sentence.text))
        return answer

    def _out_of_scope(self, query: str, u: Understanding, *, advice: bool = False, hit: Hit | None = None,
                      opening: str | None = None) -> Answer:
        if opening is None and advice:
            opening = "I can't give personal advice or recommendations. " if u.english else "抱歉，我無法提供個人建議或推薦。"
        elif opening is None:
            opening = "The report does not cover that. " if u.english else "抱歉，這份報告沒有提到這項資料。"
        if u.english:
            body = opening + f"I answer from the DIGI+ programme results report for {self._period} (e.g. iTaiwan " \
                "hotspots, MyData, remote-area broadband, budgets per policy axis)."
        else:
            body = opening + f"我只根據《DIGI+方案 {self._period} 推動成果》報告回答，例如 iTaiwan 熱點、MyData 服務、偏鄉寬頻與各主軸預算。"
        suggestions = self._suggestions(hit.sentence.node_id) if hit is not None and hit.coverage >= 0.3 else []
        suggestions = (suggestions + self.example_questions())[:3]
        scope = self.kb.nodes_by_path.get(self.kb.layout.results)
        sources = [Source(section=scope.path, title=scope.display_title, agency="", quote=scope.display_title)] \
            if scope else []
        return self._grounded(Answer(query=query, answered=False, intent="out_of_scope", answer=body, sources=sources,
                                     confidence=0.0 if hit is None else hit.score, suggestions=dedupe(suggestions),
                                     lang="en" if u.english else "zh"))

    def _smalltalk(self, query: str, kind: str, english: bool, empty: bool = False) -> Answer:
        examples = self.example_questions()
        if english:
            texts = {
                "greeting": "Hello! I answer questions about Taiwan's DIGI+ programme results report. Try one of these:",
                "thanks": "You're welcome! Anything else about the DIGI+ report?",
                "help": "Ask me about the DIGI+ report in Chinese or English — hotspots, MyData, broadband, budgets "
                        "— and I'll quote the report's figures with their source.",
            }
        else:
            texts = {
                "greeting": "您好！我是 DIGI+ 小幫手，可以回答《數位國家・創新經濟發展方案》推動成果報告裡的數據。試試看：",
                "thanks": "不客氣！還想知道報告裡的哪些數據呢？",
                "help": "請直接用中文或英文提問，例如 iTaiwan 熱點、MyData 服務、偏鄉寬頻、各主軸預算；我會引用報告原文的數字並註明出處。",
            }
        body = "請輸入您的問題。" + texts["help"] if empty else texts[kind]
        return Answer(query=query, answered=False, intent=kind, answer=body, confidence=1.0, suggestions=examples,
                      lang="en" if english else "zh")

    # ------------------------------------------------------------ suggestions
    def _suggestions(self, node_id: int, exclude: str = "", n: int = 3) -> list[str]:
        """Follow-up questions from the FAQ: same passage first, then its parent, then its axis."""
        exclude_norm = match_form(exclude)
        out: list[str] = []
        for question, norm in self._suggestion_pool(node_id):
            if question not in out and fuzz.ratio(norm, exclude_norm) < 85:
                out.append(question)
                if len(out) == n:
                    break
        return out

    def _build_suggestion_pool(self, node_id: int) -> tuple[tuple[str, str], ...]:
        """FAQ questions near a passage, with their normalised form (cached per instance)."""
        node = self.kb.nodes[node_id]
        pools = [self._faq_by_node.get(node_id, [])]
        if node.parent_id:
            pools.append([e for nid, es in self._faq_by_node.items() if self.kb.nodes[nid].parent_id == node.parent_id
                          for e in es])
            pools.append(self._faq_by_node.get(node.parent_id, []))
        pools.append([e for e in self.kb.faq if e.axis == node.axis])
        seen: dict[str, str] = {}
        for pool in pools:
            for entry in pool:
                if entry.question not in seen and len(seen) < 12:
                    seen[entry.question] = match_form(entry.question)
        return tuple(seen.items())

    def _stat_suggestions(self, stat: StatResult) -> list[str]:
        years = self.kb.years
        if stat.table == "budget":
            first = stat.cells[0] if stat.cells else None
            out = []
            if first and first.axis:
                out.append(f"主軸{first.axis}各年度預算")
            out += [f"{years[-1]}年預算合計", f"{years[-1]}年哪個主軸預算最多", "總體指標達成情形"]
            return dedupe(out)[:3]
        first = stat.cells[0]
        others = [i.name for i in self.kb.indicators if i.key != first.indicator][:2]
        return [f"{first.label}歷年數值"] + [f"{name}{years[-1]}年" for name in others]

    def _nearby_questions(self, hits: list[Hit], faq_hits: list[FaqHit]) -> list[str]:
        out = [h.entry.question for h in faq_hits if h.score >= 0.5]
        for hit in hits[:3]:
            out += self._suggestions(hit.sentence.node_id, n=2)
        return dedupe(out)[:3] or self.example_questions()

    # -------------------------------------------------------------- grounding
    def _grounded(self, answer: Answer) -> Answer:
        quotes = [s.quote for s in answer.sources] + [s.title for s in answer.sources]
        missing = ungrounded_numbers(answer.answer, quotes)
        if missing:
            # Should not happen; if it does, state only the report's own words.
            log.error("ungrounded figures %s in reply to %r; replying with the quote only", missing, answer.query)
            if answer.sources and answer.answered:
                answer.answer = compose._fit(answer.sources[0].quote)
            else:
                answer.answer = re.sub(r"\d[\d,.]*", "", answer.answer)
        if not answer.figures and answer.answered:
            answer.figures = re.findall(r"\d[\d,.]*\d?\s*[^\s\d，。、；,;:：()（）]{0,3}", answer.answer)[:10]
        return answer


def _query_concept(c) -> QueryConcept:
    """An understood concept as retrieval weighs it; words carried over from a previous question weigh less."""
    return QueryConcept(c.typed, c.alternatives, c.named, c.noun, scale=0.3 if c.carried else 1.0,
                        dictionary=c.dictionary)


def _vocabulary(kb: KnowledgeBase) -> Vocabulary:
    synonyms = [(variant, canonical) for variant, canonical, _ in kb.synonyms]
    agencies = {variant: canonical for variant, canonical, kind in kb.synonyms if kind == "agency"}
    for node in kb.nodes.values():
        for agency in node.agencies:
            agencies.setdefault(agency, agency)
    for canonical in set(agencies.values()):
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


_QUESTION_WORD = re.compile(r"多少|幾|哪|什麼|何時|多久|多大|how|what|when|which|where")


MAX_PARTS = 3  # a message pasted many times is one question, not a hundred


def _question_parts(text: str) -> list[str]:
    """The separate questions in one message ("…原本要幾天？現在縮到幾天？")."""
    parts = [p.strip() for p in re.split(r"[?？]|[;；]", text) if p.strip()]
    asked = dedupe([p for p in parts if _QUESTION_WORD.search(p)])
    return asked[:MAX_PARTS] if len(asked) > 1 else [text]


def _index_terms(words: tuple[str, ...], text: str) -> list[str]:
    """Index terms: content words, and CJK bigrams in their own namespace (prefixed "~")."""
    return list(words) + ["~" + b for b in bigrams(text)]


def _display(text) -> str:
    return text[:200] if isinstance(text, str) else ""
