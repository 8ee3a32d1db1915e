"""Finding the passage that answers a question: BM25 over the report's sentences (with their
outline titles and agencies as context), re-ranked by how much of the question each passage
covers, whether it holds the kind of figure asked for, and the years and places asked about;
and fuzzy matching of the FAQ's questions (rapidfuzz).

Scores from both come out in [0, 1] so the answering core can compare them.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from .store import FaqEntry, KnowledgeBase, Sentence

# Which figure kinds satisfy which kind of question.
ASK_KINDS = {
    # "多少" alone may ask for any amount; a count with its measure word ("幾家") is checked by unit.
    "count": {"count", "people_times", "range", "money", "percent", "duration", "multiple", "speed"},
    "money": {"money"},
    "percent": {"percent"},
    "date": {"date"},
    "rank": {"rank"},
    "duration": {"duration", "range"},
    "multiple": {"multiple"},
    "speed": {"speed"},
}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


@dataclass
class QueryConcept:
    typed: str
    alternatives: list[str]
    named: bool = False
    noun: bool = False


@dataclass
class Query:
    """What retrieval needs from the understanding stages (plain data, no NLP objects)."""

    terms: list[str]  # index terms of the question and its repairs/expansions
    concepts: list[QueryConcept]
    text: str  # normalised question (for FAQ matching)
    years: list[int] = field(default_factory=list)
    places: list[tuple[str, ...]] = field(default_factory=list)  # each place as the report may write it
    ask: str | None = None
    unit: str | None = None
    english: bool = False
    latest: bool = False  # "現在", "目前": the most recent figure is wanted


@dataclass
class Hit:
    sentence: Sentence
    score: float  # final, in [0, 1]
    coverage: float
    bm25: float
    type_ok: bool
    years_ok: bool
    places_ok: bool
    missing: list[str] = field(default_factory=list)  # concepts the passage does not cover


@dataclass
class FaqHit:
    entry: FaqEntry
    score: float  # rapidfuzz similarity in [0, 1]
    matched: str  # the phrasing that matched


class SentenceIndex:
    """BM25 over sentences; each document also carries its outline context at lower weight."""

    K1 = 1.2
    B = 0.75
    CONTEXT_WEIGHT = 0.35

    def __init__(self, kb: KnowledgeBase, analyze: Callable[[str], list[str]], normalize: Callable[[str], str]):
        self.kb = kb
        self.normalize = normalize
        self.sentences = [s for s in kb.sentences if kb.nodes[s.node_id].kind not in ("table",)]
        self.text: list[str] = []  # normalised sentence
        self.context: list[str] = []  # normalised titles, agencies and neighbouring sentences
        self.node_text: list[str] = []
        # Per sentence: its clauses, normalised, with the kinds and units of the figures in each.
        self.clauses: list[list[tuple[str, set[str], set[str]]]] = []
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        lengths = []
        for i, s in enumerate(self.sentences):
            node = kb.nodes[s.node_id]
            chain = self._ancestors(node.id)
            titles = " ".join(n.display_title for n in chain if n.display_title)
            siblings = kb.node_sentences(node.id)
            prev = siblings[s.ord - 1].text if s.ord > 0 else ""
            own = normalize(s.text)
            context = normalize(" ".join([titles, " ".join(node.agencies), prev]))
            self.text.append(own)
            self.context.append(context)
            self.node_text.append(normalize(" ".join(x.text for x in siblings)))
            self.clauses.append(_clauses(s, normalize))
            tf: Counter[str] = Counter(analyze(own))
            for term, count in Counter(analyze(context)).items():
                tf[term] += count * self.CONTEXT_WEIGHT
            lengths.append(sum(tf.values()))
            for term, count in tf.items():
                self.postings[term].append((i, count))
        self.avg_len = sum(lengths) / max(len(lengths), 1)
        self.lengths = lengths
        n = len(self.sentences)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}
        self.max_idf = math.log(1 + (n - 0.5) / 1.5)
        self._df_cache: dict[str, int] = {}

    def _ancestors(self, node_id: int) -> list:
        chain = []
        node = self.kb.nodes.get(node_id)
        while node is not None:
            chain.append(node)
            node = self.kb.nodes.get(node.parent_id) if node.parent_id else None
        return list(reversed(chain))

    def document_frequency(self, text: str) -> int:
        """In how many sentences (with context) a normalised word occurs, as a substring."""
        if text not in self._df_cache:
            self._df_cache[text] = sum(1 for a, b in zip(self.text, self.context) if text in a or text in b)
        return self._df_cache[text]

    def bm25(self, terms: list[str], limit: int = 40) -> list[tuple[int, float]]:
        scores: dict[int, float] = defaultdict(float)
        for term, qtf in Counter(terms).items():
            postings = self.postings.get(term)
            if not postings:
                continue
            idf = self.idf[term]
            for doc, tf in postings:
                norm = tf * (self.K1 + 1) / (tf + self.K1 * (1 - self.B + self.B * self.lengths[doc] / self.avg_len))
                scores[doc] += idf * norm * (1 + math.log(qtf))
        return sorted(scores.items(), key=lambda x: -x[1])[:limit]

    def concept_weight(self, concept: QueryConcept) -> float:
        """How much a concept matters: rare report words most, unknown words a fair amount."""
        dfs = [self.document_frequency(alt) for alt in concept.alternatives if alt]
        df = max(dfs) if dfs else 0
        n = len(self.sentences)
        if len(concept.typed) == 1 and not concept.typed.isascii():
            return 0.2  # a lone character (拿, 去) carries almost nothing
        if df:
            weight = math.log(1 + (n - df + 0.5) / (df + 0.5))
            if not (concept.noun or concept.named or concept.typed.isascii()):
                weight *= 0.5  # verbs and adverbs (開始, 提升) are wording more than topic
        elif concept.named:
            weight = self.max_idf  # a proper name or acronym the report never mentions
        elif concept.typed.isascii():
            weight = 1.2  # an English word without a translation: may well be filler
        elif concept.noun:
            weight = self.max_idf  # a thing the report never names: likely about something else
        else:
            weight = 1.0  # a verb or adverb in everyday wording (拿到, 登入)
        return weight

    def search(self, query: Query, limit: int = 5) -> list[Hit]:
        candidates = self.bm25(query.terms)
        if not candidates:
            return []
        top_bm25 = candidates[0][1]
        weights = [(c, self.concept_weight(c)) for c in query.concepts]
        total_weight = sum(w for _, w in weights) or 1.0
        hits = []
        for doc, raw in candidates:
            sentence = self.sentences[doc]
            own, context, node_text = self.text[doc], self.context[doc], self.node_text[doc]
            covered = 0.0
            missing = []
            for concept, weight in weights:
                if any(alt in own for alt in concept.alternatives):
                    covered += weight
                elif any(alt in context for alt in concept.alternatives):
                    covered += weight * 0.7
                elif any(alt in node_text for alt in concept.alternatives):
                    covered += weight * 0.5
                elif _abbreviates(concept.typed, own):
                    covered += weight * 0.5  # 帳密 for 帳號/密碼
                else:
                    missing.append(concept.typed)
            coverage = covered / total_weight if query.concepts else 0.0
            type_ok = _type_ok(sentence, query)
            units = {u for _, _, us in self.clauses[doc] for u in us}
            unit_ok = bool(query.unit) and any(_same_unit(u, query.unit) for u in units)
            years_ok = all(str(y) in own or str(y) in node_text or str(y) in context for y in query.years)
            places_ok = all(any(form in own + context + node_text for form in forms) for forms in query.places)
            # Coverage decides; BM25 and a figure standing next to the asked-about words break ties.
            focus = _focus(self.clauses[doc], weights, total_weight, query)
            score = coverage * (0.7 + 0.15 * raw / top_bm25 + 0.15 * focus)
            if query.ask and not type_ok:
                score *= 0.6
            elif unit_ok:
                score = min(1.0, score * 1.1)
            elif query.unit and query.ask == "count":
                score *= 0.85  # "幾處" answered with a count of something else
            if not years_ok:
                score *= 0.6
            elif query.years and not all(str(y) in own for y in query.years):
                score *= 0.9  # the year is only in the passage's context
            if not places_ok:
                score *= 0.5
            hits.append(Hit(sentence, min(score, 1.0), coverage, raw, type_ok, years_ok, places_ok, missing))
        hits.sort(key=lambda h: -h.score)
        if query.latest and hits:
            # Among near-equal passages, "現在…" wants the most recent one.
            top = hits[0].score
            close = [h for h in hits if h.score >= top - 0.08]
            newest = max(close, key=lambda h: (_latest_year(h.sentence), h.score))
            if newest is not hits[0]:
                hits.remove(newest)
                hits.insert(0, newest)
        return hits[:limit]


_CLAUSE_END = re.compile(r"[，；：。,;]")
# Measure words people use for one another: "多少人次" is answered by "4.46億人".
_UNIT_FAMILIES = [{"人", "人次", "名", "位"}, {"個", "處", "座", "點", "站"}, {"家", "間"}, {"件", "案"}, {"次", "場", "梯次", "班次"}]


def _same_unit(found: str, asked: str) -> bool:
    if found == asked or found.endswith(asked):
        return True
    return any(found in family and asked in family for family in _UNIT_FAMILIES)


def _clauses(sentence: Sentence, normalize: Callable[[str], str]) -> list[tuple[str, set[str], set[str]]]:
    bounds = [0] + [m.end() for m in _CLAUSE_END.finditer(sentence.text)] + [len(sentence.text)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        if a == b:
            continue
        figs = [f for f in sentence.figures if a <= f.start < b]
        out.append((normalize(sentence.text[a:b]), {f.kind for f in figs}, {f.unit for f in figs}))
    return out


def _focus(clauses: list[tuple[str, set[str], set[str]]], weights: list, total_weight: float, query: Query) -> float:
    """Share of the question covered by the best single clause holding a figure of the asked kind."""
    wanted = ASK_KINDS.get(query.ask or "")
    best = 0.0
    for text, kinds, _ in clauses:
        if not kinds or (wanted and not kinds & wanted):
            continue
        share = sum(w for c, w in weights if any(alt in text for alt in c.alternatives)) / total_weight
        best = max(best, share)
    return best


def _abbreviates(word: str, text: str) -> bool:
    """Chinese abbreviations keep characters of the full term in order: 帳密 ← 帳號/密碼."""
    if len(word) < 2 or word.isascii():
        return False
    start = text.find(word[0])
    while start != -1:
        pos, ok = start, True
        for ch in word[1:]:
            pos = text.find(ch, pos + 1, start + len(word) + 4)
            if pos == -1:
                ok = False
                break
        if ok:
            return True
        start = text.find(word[0], start + 1)
    return False


def _latest_year(sentence: Sentence) -> int:
    years = [int(f.iso[:4]) for f in sentence.figures if f.kind == "date" and f.iso[:4].isdigit()]
    return max(years, default=0)


def _type_ok(sentence: Sentence, query: Query) -> bool:
    if not query.ask:
        return bool(sentence.figures)
    kinds = ASK_KINDS.get(query.ask, set())
    if query.ask == "money":
        return any(f.kind in kinds or (f.kind == "count" and re.search(r"[億萬兆]", f.text)) for f in sentence.figures)
    if query.ask == "rank":
        return any(f.kind == "rank" or f.unit == "名" for f in sentence.figures)
    return any(f.kind in kinds for f in sentence.figures)


class FaqIndex:
    """rapidfuzz over every FAQ phrasing (canonical and alternates), normalised the same way."""

    def __init__(self, faq: list[FaqEntry], normalize: Callable[[str], str]):
        self.entries: list[FaqEntry] = []
        self.phrasings: list[str] = []
        for entry in faq:
            for phrasing in [entry.question, *entry.alternates]:
                self.entries.append(entry)
                self.phrasings.append(_strip_punct(normalize(phrasing)))

    def match(self, text: str, limit: int = 3) -> list[FaqHit]:
        query = _strip_punct(text)
        if not query or not self.phrasings:
            return []
        found = process.extract(query, self.phrasings, scorer=fuzz.ratio, limit=limit * 3)
        hits: list[FaqHit] = []
        seen: set[str] = set()
        for phrasing, score, idx in found:
            entry = self.entries[idx]
            if entry.id in seen:
                continue
            seen.add(entry.id)
            hits.append(FaqHit(entry, score / 100.0, phrasing))
            if len(hits) == limit:
                break
        return hits


def _strip_punct(text: str) -> str:
    return re.sub(r"[\s?？!！。,，、:：;；\"'「」()（）~～.…]+", "", text)
