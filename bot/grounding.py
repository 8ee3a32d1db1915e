"""The figure-grounding check: every number a reply states must be in the report text it cites."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("％", "%")


def ungrounded_numbers(answer: str, quotes: list[str]) -> list[str]:
    """Numbers in `answer` that appear in none of `quotes` (spaces ignored)."""
    haystack = squeeze("\n".join(quotes))
    missing = []
    for number in _NUMBER.findall(squeeze(answer)):
        number = number.rstrip(",.")
        if number and number not in haystack and number not in missing:
            missing.append(number)
    return missing
