"""The understanding pipeline: normalise → small talk → tokenise → repair and expand → entities.

Each stage is a small function or class in this package; `Understander.understand` runs them in
order and returns one plain value object, `Understanding`, for the answering core.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .classify import smalltalk_intent, strip_leading_greeting
from .entities import AGENCY_ASK_WORDS, Entities, EntityExtractor, Place
from .matching import TermMatcher
from .normalize import Normalized, match_form, normalize, to_simplified
from .tokenize import Tokenizer, Tokens, is_cjk
from .typos import Correction, TypoCorrector

RARE_WORD = 1000  # jieba dictionary frequency below which a word is specific rather than everyday
_MONTHS = {m: i for i, m in enumerate("january february march april may june july august september october "
                                      "november december".split(), 1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS.pop("may", None)  # "may" is far more often the verb
_ASKING = re.compile(r"第?(?:幾|多少)個?(?:分鐘|小時|鐘頭|星期|禮拜|公里|公尺|[\u4e00-\u9fff])?")
# Question words and particles are never typos of report terms (多大 is not 多達).
_QUESTION_CHARS = re.compile(r"[幾多少什麼哪誰嗎呢吧了的是有]")
_EN_WORD = re.compile(r"[a-z][a-z0-9+\-']*[a-z0-9+]|[a-z]")
_CAPITALISED = re.compile(r"\b([A-Z][a-zA-Z\-]+)")
_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9]{1,}|[a-z]+[A-Z][A-Za-z0-9]*|[A-Za-z]+-[A-Z][A-Za-z]+)\b")
# Capitalised words that are not names: calendar words and sentence openers.
_NOT_NAMES = frozenset("""january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday i what how which when where who why""".split())


@dataclass
class Vocabulary:
    """What the understanding stages know about the domain; drawn from the knowledge base."""

    domain_terms: list[str] = field(default_factory=list)  # report terms kept whole by jieba
    recurring_terms: list[str] = field(default_factory=list)  # the report's own words jieba may lack (體感)
    corpus: list[str] = field(default_factory=list)  # the report's sentences: their words are the typo vocabulary
    synonyms: list[tuple[str, str]] = field(default_factory=list)  # (variant, canonical report term)
    english: dict[str, list[str]] = field(default_factory=dict)  # english phrase → report terms
    axis_aliases: dict[int, list[str]] = field(default_factory=dict)
    indicator_aliases: dict[str, list[str]] = field(default_factory=dict)
    agency_names: dict[str, str] = field(default_factory=dict)  # any name → canonical short name
    stopwords: frozenset[str] = frozenset()  # words that carry no topic (curated)
    places: list[Place] = field(default_factory=list)  # places a question may name (curated)
    report_years: tuple[int, int] = (0, 0)  # the first and last year the report covers


@dataclass
class Concept:
    """One thing the question is about, with the report spellings that would match it."""

    typed: str
    alternatives: list[str]
    named: bool = False  # an English proper name or acronym ("Estonia", "e-Residency", "GDP")
    noun: bool = False  # a Chinese noun: when the report lacks it, the question is about something else
    carried: bool = False  # taken over from the previous question of a follow-up
    dictionary: bool = True  # a word jieba's dictionary knows (not a fragment its HMM guessed)


@dataclass
class Understanding:
    normalized: Normalized
    text: str  # normalised text, a leading greeting removed
    smalltalk: str | None
    tokens: Tokens
    corrections: list[Correction]
    expansions: list[tuple[str, str]]  # (what was typed, report term)
    entities: Entities
    english: bool
    concepts: list[Concept]
    search_text: str  # text handed to retrieval: the question plus repairs and expansions
    canonical: str = ""  # the question with typos repaired and variants replaced by report terms
    corrected: str = ""  # the question with typos repaired only
    carried_weight: float = 1.0  # a follow-up: how much the words carried from the previous question count

    @property
    def is_empty(self) -> bool:
        return self.normalized.is_empty


class Understander:
    """`state`: what `state()` of an Understander with the same vocabulary and code returned — the tokenizer's
    dictionary and the typo corrector's readings, which take ~1 s to work out and ~0.1 s to read."""

    def __init__(self, vocabulary: Vocabulary, state: dict | None = None):
        self.vocabulary = vocabulary
        self.report_chars = frozenset(ch for sentence in vocabulary.corpus for ch in sentence)
        self.stopwords = vocabulary.stopwords
        self._not_names = _NOT_NAMES | vocabulary.stopwords
        self.tokenizer = Tokenizer(vocabulary.domain_terms + [c for _, c in vocabulary.synonyms],
                                   vocabulary.recurring_terms, vocabulary.stopwords,
                                   state=state["tokenizer"] if state else None)
        # The typo vocabulary: the report's words, and pairs of adjacent words up to four
        # characters (jieba cuts 涵蓋率 as 涵蓋/率, but people type it as one word).
        typo_terms: list[str] = []
        if state is None:
            report_words: set[str] = set()
            for sentence in vocabulary.corpus:
                words = self.tokenizer.cut(match_form(sentence))
                report_words.update(words)
                report_words.update(a + b for a, b in zip(words, words[1:]) if len(a + b) <= 4)
            typo_terms = [match_form(t) for t in vocabulary.domain_terms] + sorted(report_words)
        self.typos = TypoCorrector(
            typo_terms,
            is_known_word=lambda w: self.tokenizer.word_frequency(w) > 50,
            skip=lambda gram: gram in self.stopwords or bool(_QUESTION_CHARS.search(gram)),
            state=state["typos"] if state else None,
        )
        form = functools.lru_cache(maxsize=None)(match_form)  # glossary and alias terms recur many times
        self._synonyms: dict[str, set[str]] = {}
        for variant, canonical in vocabulary.synonyms:
            key = form(variant)
            if key and key != form(canonical):
                self._synonyms.setdefault(key, set()).add(form(canonical))
        self._variants = TermMatcher(self._synonyms)
        self.short_report_words = {w.lower() for s in vocabulary.corpus for w in re.findall(r"\b[A-Za-z0-9]{2}\b", s)}
        self._english = {form(k): [form(t) for t in v] for k, v in vocabulary.english.items()}
        self.entities = EntityExtractor(
            {a: [form(x) for x in v] for a, v in vocabulary.axis_aliases.items()},
            {k: [form(x) for x in v] for k, v in vocabulary.indicator_aliases.items()},
            {form(k): v for k, v in vocabulary.agency_names.items()},
            vocabulary.places, vocabulary.report_years,
        )

    def state(self) -> dict:
        """What a later start with the same vocabulary and code reads instead of working it out (plain values)."""
        return {"tokenizer": self.tokenizer.state(), "typos": self.typos.state()}

    def understand(self, text: str) -> Understanding:
        norm = normalize(text, self.report_chars)
        smalltalk = smalltalk_intent(norm.text)
        body = strip_leading_greeting(norm.text) if smalltalk is None else norm.text
        simplified = norm.simplified if body == norm.text else to_simplified(body)
        tokens = self.tokenizer.tokens(body, simplified)
        corrections = self.typos.corrections(list(tokens.all_words))
        expansions = self._expand(body)
        english = _is_english(body)
        entities = self.entities.extract(body)
        # Repairs and report terms also feed the entity rules ("函蓋率", "数字经济" find their indicator).
        canonical = body
        corrected = body
        for c in corrections:
            corrected = corrected.replace(c.typed, c.term)
        if corrections or expansions:
            for c in corrections:
                canonical = canonical.replace(c.typed, c.term)
            for typed, term in expansions:
                if typed.isascii():
                    canonical = re.sub(rf"(?<![a-z0-9]){re.escape(typed)}(?![a-z0-9])", term, canonical)
                else:
                    canonical = canonical.replace(typed, term)
            more = self.entities.extract(canonical)
            entities.indicator = entities.indicator or more.indicator
            entities.axis = entities.axis or more.axis
            entities.agencies = entities.agencies or more.agencies
            entities.budget = entities.budget or more.budget
            if entities.ask is None:
                entities.ask = more.ask
        concepts = self._concepts(body, text, tokens, corrections, expansions)
        if entities.ask == "agency":
            concepts = [c for c in concepts if c.typed not in AGENCY_ASK_WORDS]
        search_text = " ".join([body] + [c.term for c in corrections] + [t for _, t in expansions])
        return Understanding(norm, body, smalltalk, tokens, corrections, expansions, entities, english, concepts,
                             search_text, canonical=canonical, corrected=corrected)

    def _expand(self, text: str) -> list[tuple[str, str]]:
        """Synonyms and English glossary entries found in the text, as (typed, report term)."""
        found: list[tuple[str, str]] = []
        seen: set[str] = set()

        def add(typed: str, term: str) -> None:
            if term not in seen and term not in text:
                seen.add(term)
                found.append((typed, term))

        for start, end, variant in self._variants.find(text):
            for term in sorted(self._synonyms[variant]):
                add(variant, term)
        # English words and phrases (up to four words), singular forms tried too.
        words = _EN_WORD.findall(text)
        for size in (4, 3, 2, 1):
            for i in range(len(words) - size + 1):
                if all(w in self.stopwords for w in words[i: i + size]):
                    continue  # "according to", "as of": wording, whatever a dictionary makes of it
                phrase = " ".join(words[i: i + size])
                for form in _forms(phrase):
                    for term in self._english.get(form, ()):
                        add(phrase, term)
                    for term in sorted(self._synonyms.get(form, ())):
                        add(phrase, term)
        return found

    def _concepts(self, body: str, original: str, tokens: Tokens, corrections: list[Correction],
                  expansions: list[tuple[str, str]]) -> list[Concept]:
        concepts: list[Concept] = []
        named = {m.group(1).lower() for m in _CAPITALISED.finditer(original) if m.start() > 0}
        named |= {m.group(1).lower() for m in _ACRONYM.finditer(original)}
        named -= self._not_names
        places = set(self.entities.place_words(body))
        by_typed: dict[str, list[str]] = {}
        for typed, term in expansions:
            by_typed.setdefault(typed, []).append(term)
        for c in corrections:
            by_typed.setdefault(c.typed, []).append(c.term)
        covered: set[str] = set()
        for word in tokens.words:
            if word in covered or word in places or _ASKING.fullmatch(word):
                continue  # places are constraints and "幾項", "多少人" the kind of answer, not topic words
            alternatives = [word]
            for typed, terms in by_typed.items():
                # Latin words match whole words of a phrase ("up" is not in "startups").
                related = (word == typed or word in typed.split()) if word.isascii() else (word in typed or typed in word)
                if related:
                    alternatives += terms
                    covered.add(typed)
            if word.isascii():
                if word in _MONTHS:
                    alternatives.append(f"{_MONTHS[word]}月")  # "December 2020" is written 2020年12月
                for form in _forms(word):
                    alternatives += self._english.get(form, [])
                if len(alternatives) == 1 and "-" in word:
                    # "gbps-level", "self-reliance": the parts the report or the glossary knows.
                    for part in word.split("-"):
                        if part in self.short_report_words or (len(part) > 2 and part not in self.stopwords):
                            alternatives += [part, *self._english.get(part, [])[:2]]
                if len(alternatives) == 1 and word in named and len(word) >= 4:
                    alternatives += self.typos.romanised(word)
                if (len(word) <= 2 and word not in by_typed and not re.search(r"\d", word) and len(alternatives) == 1
                        and word not in named and word not in self.short_report_words):
                    continue  # "it", "vs": too short to carry meaning, unless the report uses it (TB, AI, PV)
            # A rare verb names its topic like a noun does (造價, 得獎); a common one (開始, 拿到) does not.
            noun = self.tokenizer.is_noun(word) or (
                not word.isascii() and len(word) > 1 and 0 < self.tokenizer.word_frequency(word) < RARE_WORD)
            concepts.append(Concept(word, dedupe(alternatives), named=word in named, noun=noun,
                                    dictionary=word.isascii() or bool(self.tokenizer.word_frequency(word))))
        # Expansions from multi-word phrases not tied to a single token ("ministry of labor").
        for typed, terms in by_typed.items():
            if typed in covered or any(typed == c.typed for c in concepts):
                continue
            if " " in typed:
                parts = typed.split()
                concepts = [c for c in concepts if c.typed not in parts]
                concepts.append(Concept(typed, dedupe([typed] + terms)))
        return concepts


def dedupe(items: Iterable[str]) -> list[str]:
    """The non-empty items, each once, in their first order."""
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def _forms(phrase: str) -> list[str]:
    """A phrase and its likely singular: 'companies' → 'company', 'courses' → 'course'."""
    forms = [phrase]
    last = phrase.rsplit(" ", 1)[-1]
    head = phrase[: len(phrase) - len(last)]
    if len(last) > 4 and last.endswith("ed"):
        forms += [head + last[:-1], head + last[:-2]]  # revised → revise, added → add
    if len(last) > 5 and last.endswith("ing"):
        forms += [head + last[:-3], head + last[:-3] + "e"]  # training → train, issuing → issue
    if len(last) > 3:
        if last.endswith("ies"):
            forms.append(head + last[:-3] + "y")
        elif last.endswith(("ses", "xes", "ches", "shes")):
            forms.append(head + last[:-2])
        elif last.endswith("s") and not last.endswith("ss"):
            forms.append(head + last[:-1])
        if last.endswith("'s"):
            forms.append(head + last[:-2])
    return forms


def _is_english(text: str) -> bool:
    """An English question: no Chinese, and more than a name ("MyData" alone is not English)."""
    if any(is_cjk(ch) for ch in text):
        return False
    words = re.findall(r"[a-z]+", text)
    return sum(len(w) for w in words) >= 6 and len(words) >= 2


__all__ = ["Concept", "Understander", "Understanding", "Vocabulary"]
