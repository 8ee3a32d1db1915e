"""Stage 2 — tokenisation: jieba words plus character bigrams.

jieba segments Traditional text poorly (寬頻涵蓋率 → 寬/頻涵/蓋率), so text is segmented in
its Simplified form and the cuts are mapped back onto the Traditional text. A domain
dictionary drawn from the knowledge base (report terms, agency names, acronyms such as
iTaiwan, MyData, TWCC, APCS, 5G) keeps report terms whole. Character bigrams of every CJK run
make matching robust to segmentation differences and partial terms.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from .dictionary import trimmed_dictionary
from .normalize import match_form, to_simplified



def _import_jieba():
    """jieba 0.42 imports pkg_resources (~60 ms and 8 MB a process) only to open its own files, and opens them
    with open() when that import fails: it is imported with pkg_resources hidden, unless something loaded it."""
    hide = "pkg_resources" not in sys.modules
    if hide:
        sys.modules["pkg_resources"] = None  # an import of it raises ImportError
    try:
        import jieba
    finally:
        if hide:
            del sys.modules["pkg_resources"]
    return jieba


jieba = _import_jieba()
jieba.setLogLevel(logging.WARNING)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_IS_CJK = re.compile(f"[{_CJK}]")
_WORDISH = re.compile(rf"[{_CJK}]|[a-z0-9]")
_CJK_RUN = re.compile(f"[{_CJK}]+")
# Latin words and numbers (with their inner punctuation), or runs of everything else.
_CHUNK = re.compile(r"(?:19|20)\d\d年(?:度)?|\d[\d,.]*(?:條|個|項|家|人|次|所|件|處|名|位|場)(?!\d)"
                    r"|[a-z0-9](?:[a-z0-9+#&]|(?:-(?!(?:19|20)\d\d(?!\d))|[.,'])(?=[a-z0-9]))*|[^a-z0-9\s]+")

# Index terms remembered (text → terms): the report's sentences and titles while the index is built, then
# the spellings questions look up, up to this many.
MAX_KEPT_TERMS = 20_000

# Characters that carry grammar, not topic, at the edge of a word jieba could not find.
FUNCTION_CHARS = "是只各都也就還跟和與及了的在有被把給讓對向從於為而且又再才便即則卻所若但並要會能可將已曾正很更最太呢嗎吧啊這那個"


@dataclass(frozen=True)
class Tokens:
    words: tuple[str, ...]  # jieba words (Traditional), stopwords and punctuation removed
    bigrams: tuple[str, ...]  # CJK character bigrams of the whole text
    all_words: tuple[str, ...]  # every jieba word, stopwords kept (for entity and intent rules)


class Tokenizer:
    """jieba with the knowledge base's domain dictionary; one instance per process.

    `state` is what an earlier instance with the same terms exported (`state()`): jieba's dictionary with the
    domain words added and the part-of-speech tags. Reading it takes ~0.1 s; building it, ~0.8 s.
    """

    def __init__(self, domain_terms: Iterable[str] = (), report_words: Iterable[str] = (),
                 stopwords: Iterable[str] = (), state: dict | None = None):
        # Words that carry no topic (knowledge/curated/stopwords.txt): never content words.
        self.stopwords = frozenset(stopwords)
        self._terms: dict[str, tuple[str, ...]] = {}  # index_terms, remembered
        if state is not None:
            self._jieba = jieba.Tokenizer()
            self._jieba.FREQ, self._jieba.total = state["freq"], state["total"]
            self._jieba.initialized = True
            self._tags, self._domain = state["tags"], set(state["domain"])
            return
        self._domain: set[str] = set()
        dictionary, tags = trimmed_dictionary()
        self._jieba = jieba.Tokenizer(dictionary=str(dictionary))
        self._jieba.initialize()
        # Part-of-speech tags from the dictionary, looked up per word (tagging whole questions
        # with jieba.posseg costs ~0.5 ms; a dictionary look-up costs nothing). A tag's word is the
        # dictionary's own string, so the two tables share their 140,000 keys in memory.
        own = {word: word for word in self._jieba.FREQ}
        self._tags = {own.get(word, word): sys.intern(tag) for word, tag in tags.items()}
        for term in domain_terms:
            term = match_form(term)
            # Latin words are split off before jieba sees the text, so only CJK terms matter here.
            if len(term) >= 2 and _IS_CJK.search(term) and not re.search(r"[a-z0-9\s]", term):
                # High frequency so a report term wins over the default dictionary's cuts.
                self._jieba.add_word(to_simplified(term), freq=200000)
                self._domain.add(term)
        for word in report_words:
            # A low frequency: these fill gaps in jieba's dictionary but never beat its own words.
            simplified = to_simplified(word)
            if not self._jieba.FREQ.get(simplified):
                self._jieba.add_word(simplified, freq=50)

    def state(self) -> dict:
        """What a later instance with the same terms starts from (plain values, for marshal)."""
        return {"freq": self._jieba.FREQ, "total": self._jieba.total, "tags": self._tags,
                "domain": sorted(self._domain)}

    def is_noun(self, word: str) -> bool:
        """Whether jieba's dictionary tags the word as a noun (unknown words count as nouns)."""
        if word.isascii():
            return False
        tag = self._tags.get(to_simplified(word))
        if tag is None:
            # Out-of-dictionary: a noun unless it ends like a verb phrase (編了, 用過, 縮到).
            return word[-1] not in "了過著得地嗎呢啦吧到完掉起出"
        # Nouns, places (s), abbreviations (j), verbal nouns (vn) and unknown-class words name things.
        return tag.startswith(("n", "s", "j", "vn", "x"))

    def word_frequency(self, word: str) -> int:
        """jieba's dictionary frequency of a (Traditional) word; 0 when unknown."""
        return self._jieba.FREQ.get(to_simplified(word), 0) or 0

    def cut(self, text: str, simplified: str | None = None) -> list[str]:
        """Segment normalised Traditional text; `simplified` may be passed to skip converting.

        Latin words and numbers are split off first ("budget", "5g", "2,160"): jieba would
        otherwise cut them with its dictionary ("budget" → bud/ge/t).
        """
        simplified = simplified if simplified is not None else to_simplified(text)
        if len(simplified) != len(text):  # conversion changed lengths: segment the Traditional text
            simplified = text
        out: list[str] = []
        for m in _CHUNK.finditer(text):
            chunk = m.group(0)
            if not _IS_CJK.search(chunk):
                if chunk.strip():
                    out.append(chunk)
                continue
            pos = m.start()
            for piece in self._jieba.lcut(simplified[m.start(): m.end()], HMM=True):
                word = text[pos: pos + len(piece)]
                pos += len(piece)
                if word.strip():
                    out.append(word)
        return out

    def tokens(self, text: str, simplified: str | None = None) -> Tokens:
        words = self.cut(text, simplified)
        content = []
        for word in words:
            if _IS_CJK.search(word) and len(word) > 1 and word not in self._domain and not self.word_frequency(word):
                # jieba's guess for unknown text often glues a function character to a word
                # (各是, 只編, 是從): keep only what is left without them.
                word = word.strip(FUNCTION_CHARS)
            if word and _WORDISH.search(word) and word not in self.stopwords:
                content.append(word)
        return Tokens(words=tuple(content), bigrams=tuple(bigrams(text)), all_words=tuple(words))

    def index_terms(self, text: str) -> tuple[str, ...]:
        """A normalised text's search-index terms: its content words, and its CJK bigrams in a namespace of their
        own ("~" before them). Remembered: report terms and translations recur across questions."""
        terms = self._terms.get(text)
        if terms is None:
            terms = tuple(self.tokens(text).words) + tuple("~" + b for b in bigrams(text))
            if len(self._terms) < MAX_KEPT_TERMS:
                self._terms[text] = terms
        return terms


def bigrams(text: str) -> list[str]:
    out = []
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            out.append(run)
        out.extend(run[i: i + 2] for i in range(len(run) - 1))
    return out


def is_cjk(word: str) -> bool:
    return bool(_IS_CJK.search(word))
