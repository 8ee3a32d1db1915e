"""Typo and homophone repair against the domain vocabulary.

Chinese typing errors are mostly homophones picked from the IME list (熱店→熱點, 寬平→寬頻,
函蓋率→涵蓋率, 借問占→借問站). A query n-gram that is not a known word is looked up by its
toneless, fuzzy pinyin (in/ing, en/eng, an/ang, zh/z, ch/c, sh/s merged) among the report's
terms; a term that differs in few characters is offered as the correction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_FUZZY = [("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an")]


@lru_cache(maxsize=65536)
def char_key(ch: str) -> str:
    syllable = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    key = syllable[0] if syllable else ch
    for a, b in _FUZZY:
        key = key.replace(a, b)
    return key.replace("v", "u")


def pinyin_key(text: str) -> str:
    return " ".join(char_key(c) for c in text)


@dataclass(frozen=True)
class Correction:
    typed: str
    term: str


class TypoCorrector:
    def __init__(self, vocabulary: Iterable[str], is_known_word: Callable[[str], bool],
                 skip: Callable[[str], bool] = lambda gram: False):
        self.vocabulary = {t for t in vocabulary if _CJK_RUN.fullmatch(t) and 2 <= len(t) <= 6}
        self._by_key: dict[str, list[str]] = defaultdict(list)
        for term in self.vocabulary:
            self._by_key[pinyin_key(term)].append(term)
        self._is_known_word = is_known_word
        self._skip = skip

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
                if (not 2 <= len(gram) <= 5 or gram in self.vocabulary or self._is_known_word(gram)
                        or self._skip(gram)):
                    continue
                if not any(len(w) == 1 or (w not in self.vocabulary and not self._is_known_word(w)) for w in span):
                    continue
                term = self._best(gram)
                if term:
                    found.append(Correction(gram, term))
                    i += size
                    repaired = True
                    break
            if not repaired:
                i += 1
        return found

    def _best(self, gram: str) -> str | None:
        candidates = self._by_key.get(pinyin_key(gram))
        if not candidates:
            return None
        allowed = 1 if len(gram) <= 3 else 2
        best = None
        for term in candidates:
            diff = sum(a != b for a, b in zip(term, gram))
            if 0 < diff <= allowed and (best is None or diff < best[0]):
                best = (diff, term)
        return best[1] if best else None
