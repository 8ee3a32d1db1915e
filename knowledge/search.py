"""Finding the passage that answers a question: BM25 over the report's sentences (with their
outline titles and agencies as context), re-ranked by how much of the question each passage
covers, whether it holds the kind of figure asked for, and the years and places asked about;
and fuzzy matching of the FAQ's questions (rapidfuzz).

Scores from both come out in [0, 1] so the answering core can compare them.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from .store import FaqEntry, KnowledgeBase, Sentence

# Which figure kinds satisfy which kind of question.
ASK_KINDS = {
    "agency": {"agency"},
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


# Measure words count anything (344家 are firms, not 國家): a noun is not recognised by them.
MEASURE_WORDS = frozenset("家人個項件次名場位處元年月日天點張份筆種座台臺部支門本條組案所")


@dataclass
class QueryConcept:
    typed: str
    alternatives: list[str]
    named: bool = False
    noun: bool = False
    scale: float = 1.0  # < 1 for words carried over from the previous question of a follow-up
    dictionary: bool = True  # a dictionary word, not a fragment the segmenter guessed


@dataclass
class Query:
    """What retrieval needs from the understanding stages (plain data, no NLP objects)."""

    groups: list[list[list[str]]]  # per concept, per spelling of it, its index terms (see bm25)
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
    TITLE_WEIGHT = 0.6  # the node's own title ("線上服務") says what its sentences are about

    def __init__(self, kb: KnowledgeBase, analyze: Callable[[str], list[str]], normalize: Callable[[str], str]):
        self.kb = kb
        self.normalize = normalize
        self.sentences = [s for s in kb.sentences if kb.nodes[s.node_id].kind not in ("table",)]
        self.text: list[str] = []  # normalised sentence
        self.context: list[str] = []  # normalised ancestors' titles, agencies and the previous sentence
        self.title: list[str] = []  # normalised title of the sentence's own node (and the sentence it continues)
        self.node_text: list[str] = []
        # Per sentence: its clauses, normalised, with the kinds and units of the figures in each.
        self.clauses: list[list[tuple[str, set[str], set[str]]]] = []
        self.units: list[set[str]] = []  # the units of the sentence's figures
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        lengths = []
        for i, s in enumerate(self.sentences):
            node = kb.nodes[s.node_id]
            chain = self._ancestors(node.id)
            titles = " ".join(n.display_title for n in chain[:-1] if n.display_title)
            # An untitled parent's opening sentence heads its items ("(二) 推動4K超高畫質內容…" over
            # "1. …培育超高畫質專業人才"): it is context for them as a title would be.
            leads = " ".join(opening[0].text for n in chain[:-1]
                             if not n.title and (opening := kb.node_sentences(n.id)))
            titles = f"{titles} {leads}" if leads else titles
            siblings = kb.node_sentences(node.id)
            prev = siblings[s.ord - 1].text if s.ord > 0 else ""
            own = normalize(s.text)
            if prev and _CONTINUATION.match(s.text):
                # "透過計畫之推動，由…逐年提升至…" continues its previous sentence, which names its
                # subject: that sentence speaks for it like a title does.
                own_title = normalize(f"{node.display_title} {prev}")
                context = normalize(" ".join([titles, " ".join(node.agencies)]))
            else:
                own_title = normalize(node.display_title)
                context = normalize(" ".join([titles, " ".join(node.agencies), prev]))
            self.title.append(own_title)
            self.text.append(own)
            self.context.append(context)
            self.node_text.append(normalize(" ".join(x.text for x in siblings)))
            self.clauses.append(_clauses(s, normalize))
            self.units.append({f.unit for f in s.figures})
            tf: Counter[str] = Counter(analyze(own))
            for term, count in Counter(analyze(own_title)).items():
                tf[term] += count * self.TITLE_WEIGHT
            for term, count in Counter(analyze(context)).items():
                tf[term] += count * self.CONTEXT_WEIGHT
            lengths.append(sum(tf.values()))
            for term, count in tf.items():
                self.postings[term].append((i, count))
        self.avg_len = sum(lengths) / max(len(lengths), 1)
        # A posting's BM25 contribution (idf × term-frequency factor) does not depend on the
        # question: compute it once.
        n = len(self.sentences)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}
        for term, postings in self.postings.items():
            idf = self.idf[term]
            self.postings[term] = [
                (doc, idf * tf * (self.K1 + 1) / (tf + self.K1 * (1 - self.B + self.B * lengths[doc] / self.avg_len)))
                for doc, tf in postings]
        # Which sentences hold each character, to count a word's sentences without scanning all.
        self._by_char: dict[str, set[int]] = defaultdict(set)
        self._by_char_all: dict[str, set[int]] = defaultdict(set)  # also the node's other sentences
        for i, (a, b, c, d) in enumerate(zip(self.text, self.context, self.title, self.node_text)):
            for ch in set(a) | set(b) | set(c):
                self._by_char[ch].add(i)
            for ch in set(d):
                self._by_char_all[ch].add(i)
        for ch, docs in self._by_char.items():
            self._by_char_all[ch] |= docs
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
            if len(self._df_cache) > 100_000:
                self._df_cache.clear()
            docs = set.intersection(*(self._by_char.get(ch, set()) for ch in set(text))) if text else set()
            self._df_cache[text] = sum(1 for i in docs if contains(self.text[i], text) or contains(self.title[i], text)
                                       or contains(self.context[i], text))
        return self._df_cache[text]

    def _levels(self, alternatives: list[str], docs: set[int]) -> dict[int, int]:
        """For each of `docs` holding a spelling of a concept, the closest part where it occurs
        (sentence, own title, context, node). Only passages holding every character are read."""
        levels: dict[int, int] = {}
        for alt in alternatives:
            if not alt:
                continue
            possible = docs.intersection(*(self._by_char_all.get(ch, _EMPTY) for ch in set(alt)))
            for doc in possible:
                best = levels.get(doc, _NOWHERE)
                for level, text in ((_IN_SENTENCE, self.text[doc]), (_IN_TITLE, self.title[doc]),
                                    (_IN_CONTEXT, self.context[doc]), (_IN_NODE, self.node_text[doc])):
                    if level >= best:
                        break
                    if contains(text, alt):
                        levels[doc] = best = level
                        break
        return levels

    def bm25(self, groups: list[list[list[str]]], limit: int = 25) -> list[tuple[int, float]]:
        """BM25 where each concept counts once, by its best-matching spelling: the typed word,
        a repaired typo or a translation are alternatives, not extra evidence."""
        scores: dict[int, float] = defaultdict(float)
        for spellings in groups:
            best: dict[int, float] = {}
            for terms in spellings:
                partial: dict[int, float] = defaultdict(float)
                for term in terms:
                    for doc, value in self.postings.get(term, ()):
                        partial[doc] += value
                for doc, value in partial.items():
                    if value > best.get(doc, 0.0):
                        best[doc] = value
            for doc, value in best.items():
                scores[doc] += value
        return heapq.nlargest(limit, scores.items(), key=lambda x: x[1])

    def concept_weight(self, concept: QueryConcept) -> float:
        """How much a concept matters: rare report words most, unknown words a fair amount."""
        return self._concept_weight(concept) * concept.scale

    def _concept_weight(self, concept: QueryConcept) -> float:
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
        elif concept.noun and concept.dictionary:
            weight = self.max_idf  # a thing the report never names: likely about something else
        elif concept.noun:
            weight = 2.0  # a fragment the segmenter guessed (格串, 數佔): weak evidence either way
        else:
            weight = 1.0  # a verb or adverb in everyday wording (拿到, 登入)
        return weight

    def search(self, query: Query, limit: int = 5) -> list[Hit]:
        candidates = self.bm25(query.groups)
        if not candidates:
            return []
        top_bm25 = candidates[0][1]
        weights = [(c, self.concept_weight(c)) for c in query.concepts]
        total_weight = sum(w for _, w in weights) or 1.0
        # Acronyms and Latin names the report uses (5G, MyData, TWCC) are what the question is
        # about: a passage without them is about something else.
        # (An English word with a dictionary translation — "conference" — is wording, not a name.)
        required = [c.named or (c.typed.isascii() and len(c.typed) >= 2 and any(ch.isalpha() for ch in c.typed)
                                and len(c.alternatives) == 1 and bool(self.document_frequency(c.typed)))
                    for c in query.concepts]
        docs = {doc for doc, _ in candidates}
        levels = [self._levels(c.alternatives, docs) for c in query.concepts]
        hits = []
        for doc, raw in candidates:
            sentence = self.sentences[doc]
            own, title, context, node_text = self.text[doc], self.title[doc], self.context[doc], self.node_text[doc]
            covered = 0.0
            missing = []
            in_own, in_title = [], []
            lacks_required = False
            for (concept, weight), is_required, found in zip(weights, required, levels):
                where = found.get(doc, _NOWHERE)
                if where == _IN_SENTENCE:
                    covered += weight
                    in_own.append((concept, weight))
                elif where == _IN_TITLE:
                    covered += weight * 0.9
                    in_title.append((concept, weight * 0.9))
                elif where == _IN_CONTEXT:
                    covered += weight * 0.7
                elif where == _IN_NODE:
                    covered += weight * 0.5
                elif len(concept.typed) >= 2 and _abbreviates(concept.typed, own):
                    covered += weight * 0.5  # an abbreviation the report spells out: 帳密, 國中小
                elif concept.noun and len(concept.typed) >= 2 and not concept.typed.isascii() \
                        and concept.typed[-1] not in MEASURE_WORDS \
                        and concept.typed[-1] in self.units[doc]:
                    covered += weight * 0.7  # counted by its own last character: 46校 are 46所學校
                elif concept.noun and not concept.typed.isascii() and len(concept.typed) >= 2 \
                        and all(ch in own for ch in concept.typed) and not self.document_frequency(concept.typed):
                    covered += weight * 0.4  # a paraphrase made of the passage's own characters: 發卡 / 發放…金卡
                else:
                    missing.append(concept.typed)
                    lacks_required = lacks_required or is_required
            coverage = covered / total_weight if query.concepts else 0.0
            type_ok = _type_ok(sentence, query)
            clauses = self.clauses[doc]
            # "多少個" is any count; "幾萬" asks a magnitude, seen in the figure's spelling; other
            # measure words (處, 家, 人次) must match.
            unit = query.unit if query.unit not in ("個", None) else None
            if unit in ("萬", "億", "兆"):
                unit_ok, unit = any(unit in f.text for f in sentence.figures), None
            else:
                # "多少隊" is answered by "300個參賽隊伍" too: after the generic 個 the unit may follow as a noun.
                unit_ok = bool(unit) and (any(_same_unit(u, unit) for _, _, us in clauses for u in us) or any(
                    f.unit == "個" and unit in sentence.text[f.end: f.end + 6] for f in sentence.figures))
            years_ok = all(str(y) in own or str(y) in title or str(y) in node_text or str(y) in context
                           for y in query.years)
            places_ok = all(any(_names_place(part, form) for part in (own, title, context, node_text) for form in forms)
                            for forms in query.places)
            # Coverage decides; BM25 and a figure standing next to the asked-about words break ties.
            focus = _focus(clauses, in_own, in_title, total_weight, query) if in_own or in_title else 0.0
            score = coverage * (0.7 + 0.15 * raw / top_bm25 + 0.15 * focus)
            if query.ask and not type_ok:
                score *= 0.6
            elif unit_ok:
                score = min(1.0, score * 1.1)
            elif unit and query.ask == "count":
                score *= 0.5  # "幾座" answered with a count of something else
            if not years_ok:
                score *= 0.6
            elif query.years and not all(str(y) in own for y in query.years):
                score *= 0.75  # the year is only in the passage's context
            elif query.years and query.ask and not _year_beside_figure(clauses, query):
                score *= 0.85  # "2019年度是多少": the year should stand next to the figure
            if not places_ok:
                score *= 0.5
            if lacks_required:
                score *= 0.6
            # A question naming little ("那個計畫的成果如何") matches much and proves little.
            score *= min(1.0, total_weight / SPECIFIC_ENOUGH)
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


@functools.lru_cache(maxsize=50_000)
def _latin_word(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")


def contains(text: str, term: str) -> bool:
    """`term` in `text`; a Latin word only as a whole word ("try" is not in "country"), a Chinese
    term not where 非 negates it (非偏遠地區 is the opposite of 偏遠地區)."""
    if term not in text:
        return False
    if term[0].isascii() and term[0].isalnum() and term[-1].isascii() and term[-1].isalnum():
        return bool(_latin_word(term).search(text))
    if "非" not in text:
        return True
    start = text.find(term)
    while start >= 0:
        if start == 0 or text[start - 1] != "非":
            return True
        start = text.find(term, start + 1)
    return False


_IN_SENTENCE, _IN_TITLE, _IN_CONTEXT, _IN_NODE, _NOWHERE = range(5)
# Openings of a sentence that carries on from the one before it.
_CONTINUATION = re.compile(r"(透過|藉由|經由|此外|另外|另|其中|並|同時|目前|亦|也|且|而|因此|因而|使|讓|該|此|這|上開|前述|"
                           r"已|將|可|更|再|又|自|迄|截至)")
_EMPTY: frozenset[int] = frozenset()
_CLAUSE_END = re.compile(r"[，；：。;]|,(?!\d)")  # not the comma inside 9,735
SPECIFIC_ENOUGH = 4.0  # total concept weight of a question specific enough to trust full coverage
# Measure words people use for one another: "多少人次" is answered by "4.46億人".
_UNIT_FAMILIES = [{"人", "人次", "名", "位"}, {"個", "處", "座", "點", "站"}, {"家", "間"}, {"件", "案"}, {"所", "校"},
                  {"次", "場", "梯次", "班次"}, {"項", "種", "類", "款"}]


def _same_unit(found: str, asked: str) -> bool:
    if found == asked or found.endswith(asked):
        return True
    return any(found in family and asked in family for family in _UNIT_FAMILIES)


_COMPARED = re.compile(r"(?:優於|領先|超越|超過|勝過|高於|贏過|次於|落後|低於)[^，。；：,;:]*$")


def _names_place(text: str, form: str) -> bool:
    """The passage is about the place: "優於南韓、日本" compares Taiwan with Japan, it gives no figure of Japan's."""
    start = text.find(form)
    while start >= 0:
        if not _COMPARED.search(text[:start]):
            return True
        start = text.find(form, start + 1)
    return False


def _clauses(sentence: Sentence, normalize: Callable[[str], str]) -> list[tuple[str, set[str], set[str]]]:
    bounds = [0] + [m.end() for m in _CLAUSE_END.finditer(sentence.text)] + [len(sentence.text)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        if a == b:
            continue
        figs = [f for f in sentence.figures if a <= f.start < b]
        out.append((normalize(sentence.text[a:b]), {f.kind for f in figs}, {f.unit for f in figs}))
    return out


def _focus(clauses: list[tuple[str, set[str], set[str]]], weights: list, titled: list, total_weight: float,
           query: Query) -> float:
    """Share of the question covered by the best single clause holding a figure of the asked kind.

    `weights` are the concepts found in the sentence (a clause can hold no others); `titled`
    ones are in the node's title, which speaks for every clause.
    """
    wanted = ASK_KINDS.get(query.ask or "")
    base = sum(w for _, w in titled)
    if len(clauses) == 1:
        return (base + sum(w for _, w in weights)) / total_weight if clauses[0][1] and (
            not wanted or clauses[0][1] & wanted) else 0.0
    best = 0.0
    for text, kinds, _ in clauses:
        if not kinds or (wanted and not kinds & wanted):
            continue
        share = (base + sum(w for c, w in weights if any(contains(text, alt) for alt in c.alternatives))) / total_weight
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


def _year_beside_figure(clauses: list[tuple[str, set[str], set[str]]], query: Query) -> bool:
    wanted = ASK_KINDS.get(query.ask or "", set()) - {"date"}
    return any(any(str(y) in text for y in query.years) and (kinds & wanted or not wanted)
               for text, kinds, _ in clauses)


def _latest_year(sentence: Sentence) -> int:
    years = [int(f.iso[:4]) for f in sentence.figures if f.kind == "date" and f.iso[:4].isdigit()]
    return max(years, default=0)


_COUNTS = {"count", "people_times", "range"}


def _type_ok(sentence: Sentence, query: Query) -> bool:
    if query.ask == "agency":
        return True  # every passage has its responsible agencies
    if not query.ask:
        return bool(sentence.figures)
    kinds = _COUNTS if query.unit == "個" else ASK_KINDS.get(query.ask, set())  # "多少個" is a count
    if query.ask == "money":
        # Money, or a bare large amount ("461億", "1.5億以上海外訂單") — not "1,700萬運算小時".
        return any(f.kind in kinds or (f.kind == "count" and not f.unit and re.search(r"[億萬兆]", f.text))
                   for f in sentence.figures)
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
        found = process.extract(query, self.phrasings, scorer=fuzz.ratio, limit=limit * 3, score_cutoff=40)
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
