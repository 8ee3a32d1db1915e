"""The one reader of statistics requests: what part of the report's two tables a message asks for.

Chat ("2019年各主軸預算", "主軸1四年的預算加起來多少"), the Telegram commands (`/stats 預算 民國109年`,
`/chart 指標 數位經濟規模`, `/export 預算`) and the web API all read requests here, with the same
entity rules as every question (years incl. 民國 and 去年, axes incl. 第三主軸, indicators by name,
alias or a word only one indicator's name has).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .entities import Entities, EntityExtractor
from .normalize import match_form, normalize

VIEWS = ("values", "breakdown", "sum", "average", "change", "max", "min")

TABLE_WORDS = {
    "indicators": re.compile(r"總體指標|指標|indicators?"),
    "budget": re.compile(r"預算|經費|投入|budgets?|funding|spending"),
}
# Every axis in one year ("2019年各主軸預算", "budget by axis").
BREAKDOWN = re.compile(r"各主軸|每個主軸|每一個主軸|各個主軸|各軸|分別|(?:by|per|each|every) (?:axis|axes|pillar)|breakdown")
SUM = re.compile(r"加總|加起來|總共|合計|一共|總和|總額|累計|總預算|總經費|總花費|in total|total|sum|altogether|combined")
AVERAGE = re.compile(r"平均|average|mean|per year on average")
CHANGE = re.compile(r"增減|增加|減少|成長|變化|差距|差多少|相差|多了|少了|多幾|少幾|百分點|比.{0,12}[多少](?:多少|幾|了)|"
                    r"change|difference|increase|decrease|"
                    r"grow|grew|growth|go up|went up|gone up|go down|went down|gone down|rise|rose|fall|fell|by how much")
# The whole period: "四年", "歷年", "2017-2020", "all four years".
ALL_YEARS = re.compile(r"[四4]\s*年(?!度)|歷年|各年|每年|這幾年|all (?:four )?years|four years|every year|each year|over the years")
# What is left of a command once its table, years, axis, indicator and view words are read.
_NOISE = re.compile(r"(?:vs\.?|versus|and|the|of|in|for|[\s,，、;；/|｜:：()（）「」\-–~～到至和與及比較的年度年]|"
                    r"民國|第|主軸|axis|pillar|多少|幾|呢|嗎)+")


@dataclass
class StatsRequest:
    """What a message asks of the report's tables."""

    table: str | None = None  # "budget", "indicators", or None when it names neither
    years: list[int] = field(default_factory=list)  # asked for and in the report, in order
    outside_years: list[int] = field(default_factory=list)  # asked for, not in the report
    relative_years: list[tuple[str, int]] = field(default_factory=list)  # ("去年", 2025): read relative to today
    axis: int | None = None
    indicator: str | None = None
    view: str = "values"  # one of VIEWS
    unknown: str = ""  # words of a command that name nothing in the tables

    @property
    def asks_table(self) -> bool:
        return self.table is not None


def from_entities(entities: Entities, text: str, report_years: list[int]) -> StatsRequest:
    """The table request a question's entities make (no leftover words: a question has other words)."""
    request = StatsRequest(axis=entities.axis, indicator=entities.indicator, relative_years=list(entities.relative_years))
    if entities.indicator:
        request.table = "indicators"
    elif entities.budget or TABLE_WORDS["budget"].search(text) or entities.axis:
        request.table = "budget"
    elif TABLE_WORDS["indicators"].search(text):
        request.table = "indicators"
    years = list(entities.years)
    if entities.year_range:
        a, b = entities.year_range
        years = [y for y in years if not a <= y <= b] + list(range(a, b + 1))
    if ALL_YEARS.search(text) and not years:
        years = list(report_years)
    request.years = sorted({y for y in years if y in report_years})
    request.outside_years = sorted({y for y in years if y not in report_years})
    request.view = _view(entities, text, request)
    return request


def _view(entities: Entities, text: str, request: StatsRequest) -> str:
    if entities.superlative:
        return entities.superlative
    if AVERAGE.search(text):
        return "average"
    if CHANGE.search(text) and len(request.years) != 1:
        return "change"
    if request.table == "budget" and request.axis is None and BREAKDOWN.search(text):
        return "breakdown"
    if SUM.search(text) and (len(request.years) > 1 or ALL_YEARS.search(text)):
        return "sum"
    return "values"


def parse_command(text: str, extractor: EntityExtractor, report_years: list[int],
                  indicator_names: dict[str, list[str]]) -> StatsRequest:
    """Read the arguments of an officials' command (`/stats 預算 民國109年`): the request, and the
    words it could not place (`unknown`), so the command can say what it did not understand."""
    norm = normalize(text).text
    entities = extractor.extract(norm)
    left = norm
    for pattern in (*TABLE_WORDS.values(), BREAKDOWN, SUM, AVERAGE, CHANGE, ALL_YEARS):
        left = pattern.sub(" ", left)
    left = re.sub(r"(?:民國\s*)?\d{2,4}\s*年?|前年|去年|今年|last year|this year", " ", left)
    indicator_hit = None
    if entities.indicator is None and not TABLE_WORDS["budget"].search(norm):
        indicator_hit = partial_indicator(left, indicator_names)
        entities.indicator = indicator_hit[0] if indicator_hit else None
    request = from_entities(entities, norm, report_years)
    if TABLE_WORDS["indicators"].search(norm) and request.table == "budget" and request.axis is None:
        request.table = "indicators"
    if request.table == "indicators":
        request.axis = None
    spellings = []
    if request.axis is not None:
        spellings += extractor.axis_spellings(request.axis)
    if entities.indicator:
        spellings += [match_form(s) for s in indicator_names.get(entities.indicator, [])]
    if indicator_hit:
        spellings.append(indicator_hit[1])
    for spelling in sorted(set(spellings), key=len, reverse=True):
        if spelling:
            left = left.replace(spelling, " ")
    left = re.sub(r"[1-7一二三四五六七]", " ", left) if request.axis is not None else left
    for word in ("最多", "最高", "最大", "最少", "最低", "最小", "most", "highest", "largest", "least", "lowest", "smallest"):
        left = left.replace(word, " ")
    request.unknown = _NOISE.sub(" ", left).strip()
    return request


def partial_indicator(text: str, names: dict[str, list[str]]) -> tuple[str, str] | None:
    """A word that is part of exactly one indicator's name (偏鄉 → Gbps等級服務到偏鄉涵蓋率)."""
    words = [w for w in _NOISE.split(text) if len(w) >= 2]
    for word in sorted(words, key=len, reverse=True):
        keys = {key for key, spellings in names.items() if any(word in match_form(s) for s in spellings)}
        if len(keys) == 1:
            return keys.pop(), word
    return None
