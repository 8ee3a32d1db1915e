"""Stage 6 — composing the reply: the `Answer` for a decision (an answer from a candidate, a "did you
mean", a refusal) or for small talk, with sources, suggestions and, in English, English framing.
The texts themselves are built by compose.py; grounding.py checks every number before it leaves.
"""

from __future__ import annotations

import functools
import logging
import re

from rapidfuzz import fuzz

from intents.normalize import match_form, to_traditional
from intents.pipeline import Understanding, dedupe
from knowledge.search import ASK_KINDS
from knowledge.store import KnowledgeBase

from . import compose, tables
from .answer import MAX_ANSWER_CHARS, Answer, Source
from .candidates import Candidate
from .decide import Decision
from .features import INDEX
from .grounding import Computed, ungrounded_numbers

log = logging.getLogger("bot.assistant")

TOPICAL = 0.6  # share of a question a refused candidate must cover for the reply to name its agency
INTENT = {"passage": "fact", "faq": "faq", "table": "stat", "view": "stat", "definition": "fact", "agency": "fact"}


class Replies:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        layout = kb.layout
        self.period = f"{layout.first_year}–{layout.last_year}"
        self._faq_by_node: dict[int, list] = {}
        for entry in kb.faq:
            self._faq_by_node.setdefault(entry.node_id, []).append(entry)
        # Per instance, so a replaced Assistant (after /reload) is not kept alive by a cache.
        self._suggestion_pool = functools.lru_cache(maxsize=4096)(self._build_suggestion_pool)
        # Each report inconsistency with the report text it is about (also with spaces removed).
        self._flagged = [(note, quotes, tuple(q.replace(" ", "") for q in quotes)) for note, quotes in kb.flagged]

    # ------------------------------------------------------------------ answers
    def answer(self, query: str, u: Understanding, candidate: Candidate, confidence: float) -> Answer:
        """The reply a candidate gives, grounded; `confidence`: the decision model's probability."""
        body, sources, computed = self.body(u, candidate)
        exclude = candidate.faq.entry.question if candidate.faq else query
        suggestions = self._stat_suggestions(candidate) if candidate.kind in ("table", "view") \
            else self._suggestions(candidate.node_id, exclude=exclude)
        answered = not (candidate.kind == "table" and not candidate.stat.cells and not candidate.stat.empty_reason)
        figures = [c.text for c in candidate.stat.cells] if candidate.kind == "table" else []
        answer = Answer(query=query, answered=answered, intent=INTENT[candidate.kind], answer=body, sources=sources,
                        confidence=confidence, suggestions=suggestions, figures=figures,
                        lang="en" if u.english else "zh")
        return self.grounded(answer, computed)

    def body(self, u: Understanding, c: Candidate) -> tuple[str, list[Source], list[Computed]]:
        """A candidate's reply text, its sources and the figures it computed (with their parts)."""
        english = u.english
        computed: list[Computed] = []
        if c.kind == "table":
            body, sources = compose.stat_body(self.kb, c.stat, english)
        elif c.kind == "view":
            body, sources = compose.view_body(self.kb, c.view, english)
            computed = tables.computed_figures(c.view)
        elif c.kind == "definition":
            body, sources = compose.definition_body(self.kb, c.indicator, english)
        elif c.kind == "agency":
            body, sources = compose.agency_body(self.kb, c.axis, english)
        else:
            if c.kind == "passage":
                kinds = ASK_KINDS.get(u.entities.ask or "", set())
                body, sources = compose.fact_body(self.kb, c.match, match_form, u.concepts, u.entities.years, kinds,
                                                  u.entities.unit)
            else:
                body, sources = compose.faq_body(self.kb, c.faq.entry)
            if english:
                body = compose.in_english(body)
            body, sources = self._with_notes(body, sources)
        return body, sources, computed

    def _with_notes(self, body: str, sources: list[Source]) -> tuple[str, list[Source]]:
        """A quoted sentence the build lists as inconsistent is never stated without its note; the report
        text the note is about becomes a source, so its figures are quoted too."""
        quoted = "".join(s.quote for s in sources).replace(" ", "")
        flagged = [(note, quotes) for note, quotes, squeezed in self._flagged if any(q in quoted for q in squeezed)]
        if not flagged:
            return body, sources
        note = "；".join(n.rstrip("。") for n, _ in flagged)
        extra = [Source(section="", title="報告內容前後不一致", agency="", quote="｜".join(q for _, qs in flagged for q in qs))]
        note = compose._fit(f"（註：{note}。）", MAX_ANSWER_CHARS // 2)
        return compose._fit(body.rstrip(), MAX_ANSWER_CHARS - len(note)) + note, sources + extra

    # ------------------------------------------------------------------ no answer
    def clarify(self, query: str, u: Understanding, decision: Decision) -> Answer:
        suggestions = self._nearby_questions(decision)
        body = ("I'm not sure which figure you mean. Did you mean one of these?" if u.english
                else "我不太確定您想問的是哪一項數據，您是想問：")
        return Answer(query=query, answered=False, intent="clarify", answer=body,
                      confidence=decision.confidence, suggestions=suggestions,
                      lang="en" if u.english else "zh")

    def refuse(self, query: str, u: Understanding, decision: Decision | None = None, *, advice: bool = False
               ) -> Answer:
        """The report does not cover it: say so, say what it does cover, and where a topic was found
        name the agency responsible (a how-to or contact question gets that, never a figure)."""
        english = u.english
        e = u.entities
        best = decision.best if decision else None
        node = self.kb.nodes.get(best.node_id) if best is not None and best.node_id else None
        topical = best is not None and best.features is not None and len(best.features) and (
            best.features[INDEX["p_in_sentence"]] + best.features[INDEX["p_in_title"]] >= TOPICAL
            or best.features[INDEX["f_cover"]] >= TOPICAL)
        agencies = "、".join(node.agencies) if node is not None and topical else ""
        relative = [(w, y) for w, y in e.relative_years if not self.kb.layout.covers(y)]
        if advice:
            opening = "I can't give personal advice or recommendations. " if english else "抱歉，我無法提供個人建議或推薦。"
        elif e.procedure:
            opening = ("The report describes results; it gives no application steps, web addresses or contact details. "
                       + (f"It names {agencies} as responsible for this work. " if agencies else "")) if english else \
                ("抱歉，這份成果報告沒有申辦方式、網址或聯絡資訊。" + (f"報告中這項工作由{agencies}負責。" if agencies else ""))
        elif relative:
            said = "、".join(f"{w}" for w, _ in relative)
            opening = ("The report ends in 2020, so it has nothing for last year or this year. " if english else
                       f"「{said}」不在報告涵蓋的期間內。")
        else:
            opening = "The report does not cover that. " if english else "抱歉，這份報告沒有提到這項資料。"
        if english:
            body = opening + f"I answer from the DIGI+ programme results report for {self.period} (e.g. iTaiwan " \
                "hotspots, MyData, remote-area broadband, budgets per policy axis)."
        else:
            body = opening + f"我只根據《DIGI+方案 {self.period} 推動成果》報告回答，例如 iTaiwan 熱點、MyData 服務、偏鄉寬頻與各主軸預算。"
        suggestions = self._suggestions(best.node_id) if best is not None and best.node_id and topical else []
        suggestions = dedupe(suggestions + self.examples())[:3]
        scope = self.kb.nodes_by_path[self.kb.layout.results]
        sources = [Source(section=scope.path, title=scope.display_title, agency="", quote=scope.display_title)]
        if agencies and e.procedure:
            quote = best.match.sentence.text if best.kind == "passage" else best.faq.entry.answer \
                if best.kind == "faq" else node.display_title
            sources.append(compose.node_source(self.kb, node, quote))
        return self.grounded(Answer(query=query, answered=False, intent="out_of_scope", answer=body, sources=sources,
                                    confidence=decision.confidence if decision else 0.0, suggestions=suggestions,
                                    lang="en" if english else "zh"))

    def smalltalk(self, query: str, kind: str, english: bool, empty: bool = False) -> Answer:
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
        body = ("Please type your question. " if english else "請輸入您的問題。") + texts["help"] if empty else texts[kind]
        return Answer(query=query, answered=False, intent=kind, answer=body, confidence=1.0,
                      suggestions=self.examples(), lang="en" if english else "zh")

    # ------------------------------------------------------------------ suggestions
    def examples(self, n: int = 3) -> list[str]:
        """A few questions the bot answers well, from different axes (for /start and the web page)."""
        picked, axes = [], set()
        for entry in self.kb.faq:
            if entry.axis not in axes:
                axes.add(entry.axis)
                picked.append(entry.question)
            if len(picked) == n:
                break
        return picked

    def _suggestions(self, node_id: int | None, exclude: str = "", n: int = 3) -> list[str]:
        """Follow-up questions from the FAQ: same passage first, then its parent, then its axis."""
        if node_id is None:
            return []
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

    def _stat_suggestions(self, c: Candidate) -> list[str]:
        years = self.kb.years
        if c.kind == "view" or (c.stat is not None and c.stat.table == "budget"):
            first = c.stat.cells[0] if c.stat is not None and c.stat.cells else None
            out = []
            if first and first.axis:
                out.append(f"主軸{first.axis}各年度預算")
            out += [f"{years[-1]}年各主軸預算", f"{years[-1]}年哪個主軸預算最多", "總體指標達成情形"]
            return dedupe(out)[:3]
        if c.stat is None or not c.stat.cells:
            return self.examples()
        first = c.stat.cells[0]
        others = [i.name for i in self.kb.indicators if i.key != first.indicator][:2]
        return [f"{first.label}歷年數值"] + [f"{name}{years[-1]}年" for name in others]

    def _nearby_questions(self, decision: Decision) -> list[str]:
        out = [c.faq.entry.question for c in decision.ranked if c.kind == "faq" and c.faq.score >= 0.5]
        for c in [c for c in decision.ranked if c.node_id is not None][:3]:
            out += self._suggestions(c.node_id, n=2)
        return dedupe(out)[:3] or self.examples()

    # ------------------------------------------------------------------ grounding
    def grounded(self, answer: Answer, computed: list[Computed] = ()) -> Answer:
        answer.computed = list(computed) or answer.computed
        quotes = [s.quote for s in answer.sources] + [s.title for s in answer.sources]
        # The person's own words quoted back (「…」: a part of the question not found) state no figure.
        def plain(text: str) -> str:
            return re.sub(r"\s+", "", to_traditional(match_form(text)))

        asked = plain(answer.query)
        said = re.sub(r"「([^」]*)」", lambda m: "「」" if plain(m.group(1)) in asked else m.group(0), answer.answer)
        missing = ungrounded_numbers(said, quotes, answer.computed)
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
