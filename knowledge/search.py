"""Finding the passages that may answer a question: BM25 over the report's sentences (with their
outline titles and agencies as context), and for each candidate what it covers of the question
(where each concept is found), whether it holds the kind of figure, unit, years and places asked
for; and fuzzy matching of the FAQ's questions (rapidfuzz).

Retrieval measures; it does not decide. The answering core's learned ranker weighs the measurements.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
class PassageMatch:
    """What retrieval measured about one sentence for one question. No score: the answering core's
    learned ranker weighs these (bot/features.py turns them into a feature vector)."""

    sentence: Sentence
    bm25: float  # raw BM25 of the sentence with its context
    bm25_rank: int  # 0 for the best BM25 candidate
    # Share of the question's concept weight found at each distance from the sentence; they sum to
    # at most 1 (each concept counts once, where it is closest).
    in_sentence: float = 0.0
    in_title: float = 0.0  # the node's own title (or the sentence it continues)
    in_context: float = 0.0  # ancestors' titles, agencies, the previous sentence
    in_node: float = 0.0  # the node's other sentences
    abbreviated: float = 0.0  # an abbreviation the sentence spells out (帳密 → 帳號/密碼)
    counted_by: float = 0.0  # a noun counted by the sentence's own unit (46校 are 46所學校)
    paraphrased: float = 0.0  # a word made of the sentence's own characters (發卡 / 發放…金卡)
    missing: list[str] = field(default_factory=list)  # concepts found nowhere
    lacks_required: bool = False  # a name or acronym the question needs is absent (5G, MyData)
    type_ok: bool = False  # holds a figure of the kind asked
    unit_ok: bool = False  # the measure word asked ("幾座") is the figure's
    unit_asked: bool = False
    years_ok: bool = True  # every year asked is in the sentence or its context
    years_in_sentence: bool = True  # … in the sentence itself
    year_beside_figure: bool = True  # … in the clause holding a figure of the asked kind
    places_ok: bool = True  # every place asked is named (not only compared with)
    focus: float = 0.0  # share of the question covered by the best single clause with an asked figure
    new_cover: float = 1.0  # share of the newly asked words (not carried from the previous question) found

    @property
    def coverage(self) -> float:
        return self.in_sentence + self.in_title + self.in_context + self.in_node


@dataclass
class FaqHit:
    entry: FaqEntry
    score: float  # rapidfuzz similarity in [0, 1]
    matched: str  # the phrasing that matched


_NO_POSTINGS = ((), ())


class SentenceIndex:
    """BM25 over sentences; each document also carries its outline context at lower weight."""

    K1 = 1.2
    B = 0.75
    CONTEXT_WEIGHT = 0.35
    TITLE_WEIGHT = 0.6  # the node's own title ("線上服務") says what its sentences are about

    # What `state()` holds: everything the index works out from the KB (plain values, for marshal).
    STATE = ("text", "context", "title", "node_text", "clauses", "units", "postings", "avg_len",
             "_by_char", "_by_char_all", "max_idf")

    def __init__(self, kb: KnowledgeBase, analyze: Callable[[str], list[str]], normalize: Callable[[str], str],
                 state: dict | None = None):
        """`state`: what `state()` of an index over the same KB (`source_digest`) with the same `analyze` and
        `normalize` returned; it is taken as it is (~0.2 s of work at every start otherwise)."""
        self.kb = kb
        self.normalize = normalize
        self.sentences = [s for s in kb.sentences if kb.nodes[s.node_id].kind not in ("table",)]
        self._df_cache: dict[str, int] = {}
        if state is not None:
            for name in self.STATE:
                setattr(self, name, state[name])
            return
        self.text: list[str] = []  # normalised sentence
        self.context: list[str] = []  # normalised ancestors' titles, agencies and the previous sentence
        self.title: list[str] = []  # normalised title of the sentence's own node (and the sentence it continues)
        self.node_text: list[str] = []
        # Per sentence: its clauses, normalised, with the kinds and units of the figures in each.
        self.clauses: list[list[tuple[str, set[str], set[str]]]] = []
        self.units: list[set[str]] = []  # the units of the sentence's figures
        self.postings: dict = defaultdict(list)  # term → its (sentence, term weight) pairs, then see below
        lengths = []
        normalize = functools.lru_cache(maxsize=None)(normalize)  # titles and nodes' texts recur sentence after sentence
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
        idfs = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}
        # Kept as (sentences, contributions): two tuples per term take half the memory of a tuple per posting.
        for term, postings in self.postings.items():
            idf = idfs[term]
            self.postings[term] = (tuple(doc for doc, _ in postings), tuple(
                idf * tf * (self.K1 + 1) / (tf + self.K1 * (1 - self.B + self.B * lengths[doc] / self.avg_len))
                for doc, tf in postings))
        # Which sentences hold each character, to count a word's sentences without scanning all.
        self._by_char: dict = defaultdict(set)
        self._by_char_all: dict = defaultdict(set)  # also the node's other sentences
        for i, (a, b, c, d) in enumerate(zip(self.text, self.context, self.title, self.node_text)):
            for ch in set(a) | set(b) | set(c):
                self._by_char[ch].add(i)
            for ch in set(d):
                self._by_char_all[ch].add(i)
        for ch, docs in self._by_char.items():
            self._by_char_all[ch] |= docs
        self.max_idf = math.log(1 + (n - 0.5) / 1.5)
        # Sorted tuples: a fifth of the memory of sets, and set.intersection takes them as they are.
        self.postings = dict(self.postings)
        self._by_char = {ch: tuple(sorted(docs)) for ch, docs in self._by_char.items()}
        self._by_char_all = {ch: tuple(sorted(docs)) for ch, docs in self._by_char_all.items()}

    def state(self) -> dict:
        """What an index over the same KB with the same `analyze` and `normalize` starts from."""
        return {name: getattr(self, name) for name in self.STATE}

    @staticmethod
    def source_digest(kb: KnowledgeBase) -> str:
        """What the index is worked out from besides `analyze` and `normalize`: this code, the KB's sentences
        (with their figures) and outline."""
        digest = hashlib.sha256(Path(__file__).read_bytes())
        digest.update(repr(kb.sentences).encode())
        digest.update(repr(sorted(kb.nodes.items())).encode())
        return digest.hexdigest()

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
            chars = set(text)
            docs = set(self._by_char.get(chars.pop(), ())).intersection(
                *(self._by_char.get(ch, ()) for ch in chars)) if chars else set()
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

    def bm25(self, groups: list[list[list[str]]], limit: int = 25,
             alternatives: list[list[str]] | None = None) -> list[tuple[int, float]]:
        """BM25 where each concept counts once, by its best-matching spelling: the typed word,
        a repaired typo or a translation are alternatives, not extra evidence. A concept the sentence
        holds only negated (偏遠地區 in 非偏遠地區; `alternatives`: each concept's spellings) adds nothing."""
        scores: dict[int, float] = defaultdict(float)
        alternatives = alternatives or [[] for _ in groups]
        for spellings, alts in zip(groups, alternatives):
            best: dict[int, float] = {}
            for terms in spellings:
                partial: dict[int, float] = defaultdict(float)
                for term in terms:
                    docs, values = self.postings.get(term, _NO_POSTINGS)
                    for doc, value in zip(docs, values):
                        partial[doc] += value
                for doc, value in partial.items():
                    if value > best.get(doc, 0.0):
                        best[doc] = value
            spelled = [a for a in alts if a]
            for doc, value in best.items():
                text = self.text[doc]
                if "非" in text and any("非" + a in text for a in spelled) and not any(contains(text, a) for a in spelled):
                    continue
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

    def total_weight(self, query: Query) -> float:
        """The question's concept weight in all: how much it names (little: "那個計畫的成果如何")."""
        return sum(self.concept_weight(c) for c in query.concepts)

    def required(self, query: Query) -> list[bool]:
        """Which concepts a passage must hold: acronyms and Latin names the report uses (5G, MyData, TWCC)
        are what the question is about. (An English word with a translation — "conference" — is wording.)"""
        return [c.named or (c.typed.isascii() and len(c.typed) >= 2 and any(ch.isalpha() for ch in c.typed)
                            and len(c.alternatives) == 1 and bool(self.document_frequency(c.typed)))
                for c in query.concepts]

    def match(self, query: Query, limit: int = 25) -> list[PassageMatch]:
        """The `limit` best sentences by BM25, each with what retrieval measured about it (best BM25 first)."""
        candidates = self.bm25(query.groups, limit, [c.alternatives for c in query.concepts])
        if not candidates:
            return []
        weights = [self.concept_weight(c) for c in query.concepts]
        total = sum(weights) or 1.0
        required = self.required(query)
        docs = {doc for doc, _ in candidates}
        levels = [self._levels(c.alternatives, docs) for c in query.concepts]
        return [self._measure(doc, raw, rank, query, weights, total, required, levels)
                for rank, (doc, raw) in enumerate(candidates)]

    def _measure(self, doc: int, raw: float, rank: int, query: Query, weights: list[float], total: float,
                 required: list[bool], levels: list[dict[int, int]]) -> PassageMatch:
        sentence = self.sentences[doc]
        own, title, context, node_text = self.text[doc], self.title[doc], self.context[doc], self.node_text[doc]
        m = PassageMatch(sentence, raw, rank)
        in_own, in_title = [], []
        new_total = sum(w for c, w in zip(query.concepts, weights) if c.scale == 1.0)
        new_found = 0.0
        for concept, weight, is_required, found in zip(query.concepts, weights, required, levels):
            share = weight / total
            where = found.get(doc, _NOWHERE)
            if where != _NOWHERE and concept.scale == 1.0:
                new_found += weight
            if where == _IN_SENTENCE:
                m.in_sentence += share
                in_own.append((concept, weight))
            elif where == _IN_TITLE:
                m.in_title += share
                in_title.append((concept, weight))
            elif where == _IN_CONTEXT:
                m.in_context += share
            elif where == _IN_NODE:
                m.in_node += share
            elif len(concept.typed) >= 2 and _abbreviates(concept.typed, own):
                m.abbreviated += share
            elif concept.noun and len(concept.typed) >= 2 and not concept.typed.isascii() \
                    and concept.typed[-1] not in MEASURE_WORDS and concept.typed[-1] in self.units[doc]:
                m.counted_by += share
            elif concept.noun and not concept.typed.isascii() and len(concept.typed) >= 2 \
                    and all(ch in own for ch in concept.typed) and not self.document_frequency(concept.typed):
                m.paraphrased += share
            else:
                m.missing.append(concept.typed)
                m.lacks_required = m.lacks_required or is_required
        m.new_cover = new_found / new_total if new_total else 1.0
        clauses = self.clauses[doc]
        m.type_ok = _type_ok(sentence, query)
        # "多少個" is any count; "幾萬" asks a magnitude, seen in the figure's spelling; other
        # measure words (處, 家, 人次) must match.
        unit = query.unit if query.unit not in ("個", None) else None
        m.unit_asked = unit is not None
        if unit in ("萬", "億", "兆"):
            m.unit_ok = any(unit in f.text for f in sentence.figures)
        elif unit:
            # "多少隊" is answered by "300個參賽隊伍" too: after the generic 個 the unit may follow as a noun.
            m.unit_ok = any(_same_unit(u, unit) for _, _, us in clauses for u in us) or any(
                f.unit == "個" and unit in sentence.text[f.end: f.end + 6] for f in sentence.figures)
        m.years_ok = all(str(y) in own or str(y) in title or str(y) in node_text or str(y) in context
                         for y in query.years)
        m.years_in_sentence = all(str(y) in own for y in query.years)
        m.year_beside_figure = not query.years or not query.ask or _year_beside_figure(clauses, query)
        m.places_ok = all(any(_names_place(part, form) for part in (own, title, context, node_text) for form in forms)
                          for forms in query.places)
        m.focus = _focus(clauses, in_own, in_title, total, query) if in_own or in_title else 0.0
        return m

    def latest_year(self, sentence: Sentence) -> int:
        return _latest_year(sentence)


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
