"""Repairing text extracted from the report's PDF.

The PDF extraction breaks lines mid-sentence, inserts spaces where the PDF switched fonts
(``截至 2020年``), leaves page numbers on their own lines and splits words across lines
(``DIGI`` / ``＋方案``). These helpers undo that damage without changing what the report says.
"""

from __future__ import annotations

import re
import unicodedata

# CJK ideographs and the CJK punctuation the report uses.
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_CJK_ANY = _CJK + _CJK_PUNCT

PAGE_NUMBER_LINE = re.compile(r"^\s*\d{1,3}\s*$")

# Full-width ASCII letters, digits and a few symbols become half-width; Chinese punctuation
# (，。：；「」（）) stays as the report writes it.
_FULLWIDTH_TO_ASCII = {
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)},  # ０-９
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)},  # Ａ-Ｚ
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)},  # ａ-ｚ
    "＋": "+",
    "％": "%",
    "．": ".",
}
_FULLWIDTH_TABLE = str.maketrans(_FULLWIDTH_TO_ASCII)

_SPACE_RUN = re.compile(r"[ \t\u3000\xa0]+")
# A space is an artefact when it sits next to CJK text or punctuation on at least one side and
# the other side is CJK, a digit or punctuation. Spaces between CJK and Latin words stay
# ("9,735個 iTaiwan 熱點"), as the report and everyday writing keep them.
_STRAY_SPACE = re.compile(
    rf"(?<=[{_CJK_ANY}]) (?=[{_CJK_ANY}\d(（\[【「%])"
    rf"|(?<=[\d)）\]】」%.,]) (?=[{_CJK_ANY}])"
    rf"|(?<=[(（【「]) | (?=[)）】」，。、；：])"
)


def is_cjk(ch: str) -> bool:
    return bool(re.match(f"[{_CJK}]", ch))


def tidy_line(line: str) -> str:
    """Width-normalise a line and remove the PDF's stray spaces; keeps the wording."""
    line = line.translate(_FULLWIDTH_TABLE)
    line = _SPACE_RUN.sub(" ", line).strip()
    # Two passes: removing one space can expose the next (e.g. "1 萬 5,458").
    for _ in range(2):
        line = _STRAY_SPACE.sub("", line)
    return line


def join_lines(lines: list[str]) -> str:
    """Join PDF lines of one paragraph: no space between CJK, one between Latin words."""
    out = ""
    for raw in lines:
        line = tidy_line(raw)
        if not line:
            continue
        if out and out[-1].isascii() and out[-1].isalnum() and line[0].isascii() and line[0].isalnum():
            out += " " + line
        elif out and out[-1] in ",;:" and line[0].isascii() and line[0].isalpha():
            out += " " + line
        else:
            out += line
    return tidy_line(out)


def report_lines(text: str) -> list[str]:
    """The report's non-empty lines with lone page-number lines dropped (still raw otherwise)."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or PAGE_NUMBER_LINE.match(raw):
            continue
        lines.append(raw)
    return lines


_SENTENCE_END = re.compile(r"(?<=[。！？；])(?![」』）)])|(?<=[。！？][」』）)])")


def split_sentences(text: str) -> list[str]:
    """Split report prose into sentences at 。！？； keeping closing brackets with the sentence."""
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    sentences: list[str] = []
    for part in parts:
        if not part:
            continue
        # A fragment that is only punctuation or a closing bracket belongs to the previous one.
        if sentences and not re.search(rf"[{_CJK}A-Za-z0-9]", part):
            sentences[-1] += part
        else:
            sentences.append(part)
    return sentences


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)
