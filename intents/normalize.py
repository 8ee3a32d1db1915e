"""Stage 1 — normalisation: one canonical spelling for whatever the user typed.

NFKC (full/half width), lower case, Simplified → Traditional (OpenCC ``s2tw``), 台 → 臺 as the
report writes it, and the PDF-style spacing removed. Display text
stays as the user wrote it; only matching uses the normalised form.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc

MAX_CHARS = 2000  # what is kept of a message to echo or log; nobody asks a question this long
# What is read of a message: its first 200 characters. Answering time grows with the length (a crafted
# 2,000-character question took up to ~170 ms here); at 200 characters the worst crafted mixtures of
# indicator names, question words and report phrases take ~15–30 ms on this 2-core machine under load
# (benchmarks/loop_latency.py). The longest of the 2,140 labelled and dev questions has 155 characters.
ANALYSED_CHARS = 200

# Character conversion only (s2tw): OpenCC's phrase tables (s2twp) also rewrite Traditional
# input (設備→裝置), which moves it away from the report's own words. Mainland vocabulary
# (软件, 宽带, 数字经济) is mapped by the curated synonyms instead. The s2tw dictionaries are loaded
# for the first message that needs them: one holding a character s2tw changes (data/s2tw_changes.txt,
# written from OpenCC by scripts/make_s2tw_changes.py).
S2TW_CHANGES = frozenset((Path(__file__).parent / "data" / "s2tw_changes.txt").read_text(encoding="utf-8").strip())
_t2s = opencc.OpenCC("t2s")
# OpenCC's s2tw merges its phrase table with phrases generated from the regional tables (a "union" group,
# which copies both: 43 MB a process). Without that group it takes 27 MB; over the report written in
# Simplified characters and every labelled question the two convert alike (tests/test_lean.py).
REGIONAL_PHRASES = "STPhrases_GeneratedFromRegionalPhrases.ocd2"


@lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC(lean_config("s2tw"))


def lean_config(name: str) -> str:
    """OpenCC's configuration `name` without the regional phrases, written once to the temporary directory (with
    the dictionaries' full paths); `name` itself where OpenCC's files are not found or nothing can be written."""
    share = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
    if not (share / f"{name}.json").is_file():
        return name

    def lean(node):
        if isinstance(node, list):
            return [lean(x) for x in node if not (isinstance(x, dict) and x.get("file") == REGIONAL_PHRASES)]
        if not isinstance(node, dict):
            return node
        node = {k: lean(v) for k, v in node.items()}
        if node.get("type") == "group" and len(node["dicts"]) == 1:
            return node["dicts"][0]
        if "file" in node:
            node["file"] = str(share / node["file"])
        return node

    text = json.dumps(lean(json.loads((share / f"{name}.json").read_text(encoding="utf-8"))), ensure_ascii=False)
    path = Path(tempfile.gettempdir()) / f"digibot-opencc-{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)  # atomic: concurrent starts never read half a file
        except OSError:
            return name  # no writable temporary directory: OpenCC's own configuration (16 MB more)
    return str(path)

# Control and formatting characters, and lone surrogates (valid in JSON "\ud800", not in UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACES = re.compile(r"\s+")
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}\d])|(?<=[{_CJK}\d]) (?=[{_CJK}])")
# Characters the report writes in one form where users type another.
_VARIANTS = str.maketrans({"台": "臺", "逹": "達", "佈": "布", "裏": "裡", "綫": "線", "汙": "污", "賬": "帳",
                           "着": "著", "麪": "麵", "衆": "眾", "羣": "群"})


@dataclass(frozen=True)
class Normalized:
    original: str  # as typed (trimmed, control characters removed, length-capped)
    text: str  # Traditional, NFKC, lower case: what every later stage matches on
    simplified: str  # `text` in Simplified characters, for jieba (see DESIGN.md)
    truncated: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


def clean_display(text: str) -> tuple[str, bool]:
    """User text safe to echo: no control characters, at most MAX_CHARS characters."""
    text = _CONTROL.sub("", text or "").strip()
    truncated = len(text) > MAX_CHARS
    return text[:MAX_CHARS], truncated


def analysed(text: str) -> tuple[str, bool]:
    """The part of a message that is read: control characters removed, at most ANALYSED_CHARS characters;
    and whether anything was cut."""
    text = _CONTROL.sub("", text or "").strip()
    return text[:ANALYSED_CHARS], len(text) > ANALYSED_CHARS


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    return _s2t().convert(text) if any(c in S2TW_CHANGES for c in text) else text


@lru_cache(maxsize=65536)  # called for every word looked up in jieba's dictionary
def to_simplified(text: str) -> str:
    return _t2s.convert(text)


_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,10}(?:\s[^<>]{0,80})?/?>")


def match_form(text: str) -> str:
    """The normalised form used on both sides of every comparison (questions and report).
    Markup typed or pasted into a question ("<b>iTaiwan</b>") is not part of what is asked."""
    text = _HTML_TAG.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    text = text.translate(_VARIANTS)
    text = text.replace("wi-fi", "wifi").replace("e-mail", "email")
    text = _SPACES.sub(" ", text).strip()
    return _CJK_SPACE.sub("", text)


def traditional(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Simplified → Traditional for text written in Simplified characters. Text with none
    (Traditional as the report writes it) is left alone: 村里 stays 村里 although 里 is also the
    Simplified form of 裡. `keep` is the set of characters the report itself uses."""
    if not re.search(f"[{_CJK}]", text):
        return text
    converted = to_traditional(text)
    if keep and len(converted) == len(text):
        simplified_only = any(o != c and o not in keep for o, c in zip(text, converted))
        if not simplified_only:
            return text
    return converted


def normalize(text: str, keep: frozenset[str] = frozenset()) -> Normalized:
    original, truncated = analysed(text)
    nfkc = unicodedata.normalize("NFKC", original)
    traditional_text = traditional(nfkc, keep)
    form = match_form(traditional_text)
    return Normalized(original=original, text=form, simplified=to_simplified(form), truncated=truncated)
