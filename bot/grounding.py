"""The figure-grounding check: every number a reply states must be in the report text it cites.

Numbers are compared as whole numbers on both sides: the answer and the quotes are cut into
number tokens the same way ("9,735", "4.46", "2017"), so "17" is not grounded by "2017", nor
"4.4" by "4.46", nor "9,73" by "9,735". A computed figure (a sum the report does not print) is
grounded when the answer declares it with its parts, each part is itself in the quotes, and the
arithmetic holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# A number as written: a whole run of digits, commas and points ("9,735", "4.46", "2017"); a run
# in thousands form loses its commas, any other run ("9,73") is compared as it is.
_RUN = re.compile(r"\d[\d,.]*\d|\d")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def round_half_up(value: float, decimals: int = 1) -> float:
    """Rounding as people do it (201.25 → 201.3), not to the nearest even binary float."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("％", "%")


def numbers(text: str) -> list[str]:
    """The whole numbers in `text`, without thousands separators: "9,735個、4.46億" → ["9735", "4.46"]."""
    out = []
    for m in _RUN.finditer(text.replace("％", "%")):
        token = m.group(0)
        out.append(token.replace(",", "") if _THOUSANDS.fullmatch(token) else token)
    return out


@dataclass(frozen=True)
class Computed:
    """A figure the bot computed (not printed in the report): its value as written and its parts."""

    text: str  # as written in the answer: "118.6"
    parts: tuple[str, ...]  # the report's figures it adds up, as written in the quotes
    op: str = "sum"  # "sum", "difference" (last − first) or "mean"

    def holds(self) -> bool:
        values = [float(p.replace(",", "")) for p in self.parts]
        if not values:
            return False
        result = {"sum": sum(values), "difference": values[-1] - values[0], "mean": sum(values) / len(values)}[self.op]
        decimals = len(self.text.split(".")[1]) if "." in self.text else 0
        return abs(round_half_up(result, decimals) - float(self.text.replace(",", ""))) < 1e-9


def ungrounded_numbers(answer: str, quotes: list[str], computed: list[Computed] = ()) -> list[str]:
    """Numbers in `answer` that are in none of `quotes` as whole numbers, and not a declared computed
    figure whose parts are all quoted and whose arithmetic holds."""
    quoted = set(numbers("\n".join(quotes)))
    declared = {c.text.replace(",", "").lstrip("+-") for c in computed
                if c.holds() and all(p.replace(",", "") in quoted for p in c.parts)}
    missing: list[str] = []
    for number in numbers(answer):
        if number not in quoted and number not in declared and number not in missing:
            missing.append(number)
    return missing
