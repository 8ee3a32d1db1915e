"""Typo and homophone repair against the domain vocabulary.

Chinese typing errors are mostly homophones picked from the IME list (熱店→熱點, 寬平→寬頻,
函蓋率→涵蓋率, 借問占→借問站). A query n-gram that is not a known word is looked up by its
toneless, fuzzy pinyin (in/ing, en/eng, an/ang, zh/z, ch/c, sh/s merged) among the report's
terms; a term that differs in few characters is offered as the correction. Characters are read
with every reading they have (還境 is huan jing as well as hai jing; 調適 is tiao shi as well as
diao shi): the IME offered the typed one for one of them.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_FUZZY = [("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an")]


MAX_READINGS = 16  # pinyin combinations tried for one typed n-gram


def _fuzz(syllable: str) -> str:
    for a, b in _FUZZY:
        syllable = syllable.replace(a, b)
    return syllable.replace("v", "u")


@lru_cache(maxsize=65536)
def _syllable(ch: str) -> str:
    syllable = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    return syllable[0] if syllable else ch


@lru_cache(maxsize=65536)
def char_keys(ch: str) -> tuple[str, ...]:
    """Every reading of a character, fuzzed, the most common first."""
    readings = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    keys = [_fuzz(r) for r in readings[0]] if readings else []
    return tuple(dict.fromkeys(keys)) or (ch,)


@lru_cache(maxsize=65536)
def typed_keys(text: str) -> tuple[str, ...]:
    """The readings a typed n-gram may have been typed as (bounded)."""
    return tuple(" ".join(keys) for keys in itertools.islice(itertools.product(*map(char_keys, text)), MAX_READINGS))


@dataclass(frozen=True)
class Correction:
    typed: str
    term: str


class TypoCorrector:
    def __init__(self, vocabulary: Iterable[str], is_known_word: Callable[[str], bool],
                 skip: Callable[[str], bool] = lambda gram: False, state: dict | None = None):
        """`state`: what `state()` of a corrector with the same vocabulary returned (`vocabulary` is then
        not read): the readings of ~9,000 terms take ~0.25 s to work out."""
        self._is_known_word = is_known_word
        self._skip = skip
        if state is not None:
            self.vocabulary = set(state["vocabulary"])
            self._by_key, self._by_romanised = state["by_key"], state["by_romanised"]
            return
        self.vocabulary = {t for t in vocabulary if _CJK_RUN.fullmatch(t) and 2 <= len(t) <= 6}
        self._by_key: dict[str, list[str]] = defaultdict(list)
        self._by_romanised: dict[str, list[str]] = defaultdict(list)
        for term in sorted(self.vocabulary):  # character by character: cached, and fast enough at start-up
            for key in typed_keys(term):  # 調適 is tiao shi as well as diao shi
                self._by_key[key].append(term)
            if len(term) <= 4:
                self._by_romanised["".join(map(_syllable, term))].append(term)
        # Tuples: a third less memory than the lists they were gathered in.
        self._by_key = {key: tuple(terms) for key, terms in self._by_key.items()}
        self._by_romanised = {key: tuple(terms) for key, terms in self._by_romanised.items()}

    def state(self) -> dict:
        """What a later corrector with the same vocabulary starts from (plain values, for marshal)."""
        return {"vocabulary": sorted(self.vocabulary), "by_key": self._by_key, "by_romanised": self._by_romanised}

    def corrections(self, words: list[str]) -> list[Correction]:
        """Homophone repairs for a segmented question.

        Candidates are one to three consecutive words (so a repair never straddles a word
        boundary: 新住民 is not 新竹+民) of which at least one is unknown or a lone character —
        how jieba cuts a mistyped term (熱店, 借問+占, 函+蓋率).
        """
        found: list[Correction] = []
        i = 0
        while i < len(words):
            repaired = False
            for size in (3, 2, 1):
                span = words[i: i + size]
                if len(span) < size or not all(_CJK_RUN.fullmatch(w) for w in span):
                    continue
                gram = "".join(span)
                if not 2 <= len(gram) <= 5 or self._known(gram) or self._skip(gram):
                    continue
                if not any(len(w) == 1 or not self._known(w) for w in span):
                    continue
                term = self._best(gram)
                if not term and len(gram) >= 3:
                    # jieba glues a mistyped term to its neighbour (就業 + 精卡發 for 就業金卡 + 發):
                    # drop the outer character of an unknown word.
                    parts = [gram[:-1] if self._unknown(span[-1]) else "", gram[1:] if self._unknown(span[0]) else ""]
                    for part in filter(None, parts):
                        if not (self._known(part) or self._skip(part)):
                            term = self._best(part)
                            if term:
                                gram = part
                                break
                if term:
                    found.append(Correction(gram, term))
                    i += size
                    repaired = True
                    break
            if not repaired:
                i += 1
        return found

    def romanised(self, word: str) -> list[str]:
        """Report terms spelt in pinyin: "Guanyin" → 觀音, "Lanyu" → 蘭嶼 (names an English question keeps)."""
        return sorted(self._by_romanised.get(word.lower().replace("-", ""), []))[:3]

    def _known(self, word: str) -> bool:
        return word in self.vocabulary or self._is_known_word(word)

    def _unknown(self, word: str) -> bool:
        return len(word) >= 2 and not self._known(word)

    def _best(self, gram: str) -> str | None:
        candidates = {term for key in typed_keys(gram) for term in self._by_key.get(key, ())}
        if not candidates:
            return None
        allowed = 1 if len(gram) <= 3 else 2
        best = None
        for term in sorted(candidates):
            diff = sum(a != b for a, b in zip(term, gram))
            if 0 < diff <= allowed and (best is None or diff < best[0]):
                best = (diff, term)
        return best[1] if best else None
