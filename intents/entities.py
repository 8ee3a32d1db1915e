"""Stage 4 — entities: years, policy axis, indicator, agency, place, and what kind of figure is asked.

All rules work on the normalised text (Traditional, lower case). Relative years ("去年") are read
relative to today, as the person asking means them; the answering core says when the report does
not reach them. The domain's names (axes, indicators, agencies, places, the report's years) come in
from the knowledge base; none is written here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz

from .matching import TermMatcher

_CN_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "壹": 1, "貳": 2, "參": 3, "肆": 4,
             "伍": 5, "陸": 6, "柒": 7}

# Years named relative to today ("去年" asked in 2026 is 2025, which a 2017–2020 report does not reach).
RELATIVE_YEARS = {"前年": -2, "去年": -1, "今年": 0, "last year": -1, "this year": 0}


@dataclass(frozen=True)
class Place:
    """A place a question may name (knowledge/curated/places.yaml): a constraint, not a topic."""

    name: str
    typed: tuple[str, ...]  # what people type, normalised
    report: tuple[str, ...]  # how the report may write it


# What kind of figure the question asks for, from its question words.
# "哪個機關負責…": the answer is an agency, not a figure.
AGENCY_ASK = re.compile(r"(?:哪|什麼|那)一?(?:個|些)?(?:機關|單位|部會|部門|機構|分組|小組)|負責|主責|主辦|承辦|主導|誰(?:在)?(?:做|辦|推動)|"
                        r"which (?:agency|agencies|ministry|department|body|office|(?:task )?group)|"
                        r"who (?:is|was) (?:responsible|in charge)|"
                        r"who (?:runs|ran|leads|led|handles|handled)|responsible for|in charge of")
# Words of such a question that name the asking, not the topic.
AGENCY_ASK_WORDS = frozenset("機關 單位 部會 部門 機構 分組 小組 負責 主責 主辦 承辦 主導 推動 誰 agency agencies ministry department "
                             "body office group task responsible charge runs ran leads led handles handled".split())

ASK_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("agency", AGENCY_ASK),
    ("date", re.compile(r"哪一?年|哪一?天|何時|什麼時候|幾月|幾號|哪個月|日期|哪[兩幾]次|when\b|what date|which year|what year|"
                        r"which day")),
    ("rank", re.compile(r"第幾|排名|排行|名次|\brank|\bplace[d]?\b|position")),
    ("multiple", re.compile(r"幾倍|多少倍|倍數|how many times|times (?:more|higher|as)")),
    ("percent", re.compile(r"百分之|百分比|%|比例|比率|幾成|(?!頻)\w率|percent|percentage|\brate\b|share|proportion")),
    ("money", re.compile(r"多少錢|金額|預算|經費|投資|多少億|多少萬|幾億|花了|營收|商機|交易額|產值|補助款|budget|cost|money|"
                         r"fund|invest|revenue|dollars|nt\$|spend|spent")),
    ("duration", re.compile(r"多久|多長時間|多少時間|(?:幾|多少)\s*個?\s*(?:分鐘|秒|小時|鐘頭|天|月|星期|禮拜)|"
                            r"how long(?! (?:is|are|was|were) (?:the|a|an|its|their)\b)|minutes?\b|hours?\b|seconds?\b|days\b")),
    ("speed", re.compile(r"網速|速度|頻寬|速率|mbps|gbps|bandwidth|speed")),
    # "how long is the cable" asks a length (any amount), "how long does it take" a duration.
    ("count", re.compile(r"多少|幾|多大|多高|多長|how many|number of|how much|how big|how large|how long|how far|"
                         # a bare noun phrase asking a count ("iTaiwan熱點數", "就業金卡張數", "智慧停車格數量")
                         r"數量|數目|總數|(?<=[\u4e00-\u9fff])數\s*[?？]?$|"
                         # a trend ("偏鄉網路有變快嗎"): the figures that show it
                         r"有(?:沒有)?(?:變|進步|提升|成長|增加|改善|提高|擴大)|進步了?嗎|\bimprov|\b(?:grow|grew|increase)")),
]

# Measure words a count question may name ("幾處", "多少家") — the answer should carry the same.
_UNIT_ASKED = re.compile(r"(?:幾|多少)\s*(人次|人|個(?!\s*(?:小時|鐘頭|月|星期|禮拜|hour|minute|day|month))|處|項|家|所|件|場|部|座|張|筆|則|案|次|門|校|篇|組|式|集|點|站|條|位|名|間|台|款|種|屆|國|隊|池|倍|兆|億|萬)|"
                         r"(人次|人|處|項|家|所|件|場|座|張|筆|案|次|校|篇|組|位|名|間|款|種)數")

BUDGET_WORDS = re.compile(r"預算|經費|科技預算|投入.{0,6}(?:錢|多少)|(?:的|多少)錢|編列|編了|花了|花多少|撥款|"
                          r"(?:拿|得|分|獲得|分配|分到).{0,4}(?:多少錢|多少預算|多少經費|多少億)|編.{0,2}多少|"
                          r"budget|funding|spend|spent|allocat|money")
TOTAL_WORDS = re.compile(r"總共|合計|總計|全部|總額|加總|總預算|整體|總投入|一共|total|overall|altogether|in all|sum")
COMPARE_WORDS = re.compile(r"比較|相比|對比|比起|vs\.?|versus|compare|差多少|差距|增加了?多少|成長了?多少|變化|趨勢|difference|change|trend")
MAX_WORDS = re.compile(r"最多|最高|最大|最少|最低|最小|most|highest|largest|biggest|least|lowest|smallest|"
                       r"第\s*[二三四五2-5]\s*(?:高|多|大|低|少|小)")
# "第二高", "second largest": which place of the ranking is asked for.
RANK_ASKED = re.compile(r"第\s*([二三四五2-5])\s*(?:高|多|大|低|少|小)|\b(second|third|fourth|fifth)\b")
_ORDINAL = {"二": 2, "三": 3, "四": 4, "五": 5, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
FOLLOW_UP = re.compile(r"^(?:那|那麼|那如果|還有|再問|and|what about|how about)|(?:呢|咧|的呢)[?？。!！]*$|^(?:and|what about|how about)\b|"
                       # pronouns and "this/that X" point back at what was just asked about
                       r"^它|它[的們是在有]|該(?:計畫|主軸|方案|項目|平臺|平台)|這個(?:計畫|主軸|方案|項目)|這項|"
                       r"\b(?:its|it|that (?:axis|one|program|programme|plan|project|platform)|this (?:axis|one|program))\b")
LATEST = re.compile(r"現在|目前|最新|如今|現今|至今|now|current|latest|today")
ADVICE = re.compile(r"(?:你|您|可以|請|有什麼|有沒有).{0,4}推薦|推薦.{0,6}(?:哪|什麼|一下|給我)|哪一?[家間個].{0,10}"
                    r"(?:好|便宜|推薦|划算|比較好|值得)|最便宜|划算|值得買|值不值得|該買|要買|怎麼選|如何選擇|建議我|幫我選|"
                    r"比價|recommend|cheapest|which (?:isp|provider|carrier|company) should|best (?:deal|plan|price)")
# How to apply, where to sign up, a web address or phone number: a results report gives none.
PROCEDURE = re.compile(r"(?:怎麼|怎樣|如何|要怎麼|去哪裡?|哪裡|在哪).{0,3}(?:申請|申辦|報名|登記|註冊)|"
                       r"申請(?:流程|方式|步驟|資格|條件|文件)|申辦(?:流程|方式|步驟)|要準備(?:什麼|哪些)|"
                       r"需要(?:什麼|哪些)(?:文件|證件)|網址|網站(?:是什麼|是多少|在哪)|電話|聯絡方式|聯繫方式|"
                       r"\bhow (?:do|can|should) (?:i|we|you) (?:apply|register|sign up)|\bhow to (?:apply|register|sign up)|"
                       r"\bwhere (?:do|can) i (?:apply|register|sign up)|\burl\b|web ?site address|web address|"
                       r"phone number|contact (?:details|information|number)|e-?mail address")
# The report looks back on 2017–2020: questions about what comes next are not in it.
FUTURE = re.compile(r"明天|後天|大後天|下週|下星期|下禮拜|下個月|明年|後年|未來幾年|將來|這週末|本週末|週末|"
                    r"tomorrow|next week|next month|next year|this weekend|in the future")


@dataclass
class Entities:
    years: list[int] = field(default_factory=list)
    year_range: tuple[int, int] | None = None
    axis: int | None = None
    indicator: str | None = None
    agencies: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    ask: str | None = None  # date, rank, multiple, percent, money, speed, duration, count
    unit: str | None = None  # measure word asked for: 處, 家, 人次 …
    budget: bool = False
    total: bool = False
    compare: bool = False
    superlative: str | None = None  # "max" or "min"
    superlative_rank: int = 1  # "第二高": 2
    follow_up: bool = False
    advice: bool = False
    future: bool = False  # 明天, 明年: after the report
    procedure: bool = False  # 怎麼申請, 網址: how-to and contact details
    latest: bool = False  # 現在, 目前, 最新: the most recent figure
    relative_years: list[tuple[str, int]] = field(default_factory=list)  # ("去年", 2025): read relative to today

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], False)}


YEAR_SPAN = re.compile(r"((?:19|20)\d{2})\s*(?:年)?\s*(?:至|到|-|~|～|－|through|to)\s*((?:19|20)\d{2})\s*年?")


def extract_years(text: str, this_year: int | None = None) -> tuple[list[int], tuple[int, int] | None]:
    """Years a text names (also 民國 years and, when `this_year` is given, 去年/今年 relative to it)
    and a span such as 2017到2020."""
    years: list[int] = []
    span = None
    m = YEAR_SPAN.search(text)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if a < b:
            span = (a, b)
    for m in re.finditer(r"(?<!\d)((?:19|20)\d{2})(?!\d)", text):
        years.append(int(m.group(1)))
    # 民國 years: 106年–109年 are 2017–2020 (also 110 and later, which the report does not cover).
    for m in re.finditer(r"(?:民國\s*)?(?<!\d)(1[01]\d)\s*年", text):
        years.append(int(m.group(1)) + 1911)
    if this_year is not None:
        years += [year for _, year in relative_years(text, this_year)]
    seen: list[int] = []
    for y in years:
        if y not in seen:
            seen.append(y)
    return seen, span


def relative_years(text: str, this_year: int) -> list[tuple[str, int]]:
    """The years a text names relative to `this_year`: [("去年", 2025)]."""
    return [(word, this_year + offset) for word, offset in RELATIVE_YEARS.items()
            if (re.search(rf"\b{word}\b", text) if word.isascii() else word in text)]


_AXIS_NUMBER = re.compile(r"主軸\s*(?:第)?\s*([1-7一二三四五六七])(?![\d年])|第\s*([1-7一二三四五六七])\s*(?:個)?主軸|"
                          r"axis\s*([1-7])\b")
_INDICATOR_HINT = re.compile(r"率|規模|排名|名次|涵蓋|普及|國力|coverage|rank|size|rate|adoption")


def _alternation(names: list[str]) -> re.Pattern[str] | None:
    """One regex for many names, longest first; Latin names only as whole words."""
    names = sorted({n.lower() for n in names if n}, key=len, reverse=True)
    if not names:
        return None
    parts = [rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])" if n.isascii() else re.escape(n) for n in names]
    return re.compile("|".join(parts))


class EntityExtractor:
    """Entity rules with the domain's names compiled once (axes, indicators, agencies)."""

    def __init__(self, axis_aliases: dict[int, list[str]], indicator_aliases: dict[str, list[str]],
                 agency_names: dict[str, str], places: list[Place] = (), report_years: tuple[int, int] = (0, 0),
                 this_year: Callable[[], int] = lambda: date.today().year):
        self.places = list(places)
        self._place_of = {t: p for p in self.places for t in p.typed}
        self._en_place = _alternation([t for t in self._place_of if t.isascii()])
        self._zh_place = _alternation([t for t in self._place_of if not t.isascii()])
        self.report_years = report_years  # (first, last) year the report covers
        self.this_year = this_year
        self._axis_of = {a.lower(): axis for axis, aliases in axis_aliases.items() for a in aliases if a}
        self._axis_re = _alternation(list(self._axis_of))
        self._indicator_of = {a.lower().replace(" ", ""): key for key, aliases in indicator_aliases.items()
                              for a in aliases if a}
        self._indicator_re = _alternation(list(self._indicator_of))
        self._indicator_en = _alternation([a.lower() for aliases in indicator_aliases.values() for a in aliases
                                           if a and a.isascii()])
        # English names also match word by word ("1gbps high-speed broadband coverage rate").
        self._indicator_words = sorted(((frozenset(_singular(w) for w in re.findall(r"[a-z0-9]+", a.lower())), key)
                                        for key, aliases in indicator_aliases.items() for a in aliases
                                        if a and a.isascii() and " " in a), key=lambda x: -len(x[0]))
        self._fuzzy_aliases = [(a, key) for a, key in self._indicator_of.items() if len(a) >= 6 and not a.isascii()]
        self._agency_of = {n.lower(): c for n, c in agency_names.items() if n}
        self._axis_pairs = _pair_owners(self._axis_of)
        self._indicator_pairs = _pair_owners(self._indicator_of)
        self._agency_terms = TermMatcher(self._agency_of)

    def axis_spellings(self, axis: int) -> list[str]:
        """Every way an axis may be named: its aliases, and 主軸N / 第N主軸 / axis N forms."""
        digits = [str(axis)] + [c for c, n in _CN_DIGIT.items() if n == axis]
        forms = [f"主軸{d}" for d in digits] + [f"主軸 {d}" for d in digits] + [f"第{d}主軸" for d in digits]
        forms += [f"第{d}個主軸" for d in digits] + [f"axis {axis}", f"axis{axis}"]
        return [a for a, n in self._axis_of.items() if n == axis] + forms

    def axis(self, text: str) -> int | None:
        return self._axis(text)[0]

    def _axis(self, text: str) -> tuple[int | None, str]:
        """The axis a text names and the words naming it ("" for 主軸3, 第三主軸, axis 3)."""
        m = _AXIS_NUMBER.search(text)
        if m:
            token = next(g for g in m.groups() if g)
            return (int(token) if token.isdigit() else _CN_DIGIT[token]), ""
        found = [m.group(0) for m in self._axis_re.finditer(text)] if self._axis_re else []
        if found:
            name = max(found, key=len)
            return self._axis_of[name], name
        if _AXIS_WORD.search(text):
            # "培養人才那條主軸": words only one axis's names have point at it.
            return _unique_by_bigrams(text, self._axis_pairs), ""
        return None, ""

    def _indicator_spelling(self, text: str) -> str:
        """The indicator name or alias a text spells out, if any."""
        compact = text.replace(" ", "")
        found = [m.group(0) for m in self._indicator_re.finditer(compact)] if self._indicator_re else []
        return max(found, key=len) if found else ""

    def indicator(self, text: str) -> str | None:
        compact = text.replace(" ", "")
        found = []
        if self._indicator_re:
            # Chinese names match with spaces ignored; English names need their spaces as word breaks.
            found = [m.group(0) for m in self._indicator_re.finditer(compact) if not m.group(0).isascii()]
            found += [m.group(0) for m in self._indicator_en.finditer(text)] if self._indicator_en else []
        if found:
            return self._indicator_of[max(found, key=len).replace(" ", "")]
        if not _INDICATOR_HINT.search(text):
            return None
        words = {_singular(w) for w in re.findall(r"[a-z0-9]+", text)}
        for alias_words, key in self._indicator_words:
            if len(alias_words) >= 2 and alias_words <= words:
                return key
        # Near spellings of a long indicator name ("數位生活服務使用普及律", "寬頻的涵蓋率") still name it.
        loose = re.sub(r"[的之\s]", "", compact)
        best = None
        for alias, key in self._fuzzy_aliases:
            score = fuzz.partial_ratio(alias, loose)
            if score >= 86 and (best is None or score > best[1]):
                best = (key, score)
        if best:
            return best[0]
        # "偏鄉網路…涵蓋率": a word only one indicator's names have, with a word that asks for an indicator.
        return _unique_by_bigrams(_INDICATOR_HINT.sub(" ", compact), self._indicator_pairs)

    def extract_places(self, text: str) -> list[str]:
        """The places a text names, by their canonical name, each once."""
        out: list[str] = []
        for typed in self.place_words(text):
            name = self._place_of[typed].name
            if name not in out:
                out.append(name)
        return out

    def place_words(self, text: str) -> list[str]:
        """The place names as typed ("高雄", "estonia"), to keep them out of topic words."""
        found = [m.group(0) for m in self._zh_place.finditer(text)] if self._zh_place else []
        return found + ([m.group(0) for m in self._en_place.finditer(text)] if self._en_place else [])

    def place(self, name: str) -> Place:
        return next(p for p in self.places if p.name == name)

    def indicator_names(self) -> dict[str, list[str]]:
        """Every spelling of each indicator, by key."""
        names: dict[str, list[str]] = {}
        for alias, key in self._indicator_of.items():
            names.setdefault(key, []).append(alias)
        return names

    def indicator_by_words(self, text: str) -> str | None:
        """The one indicator whose names hold a two-character word of `text` no other's do ("偏鄉")."""
        return _unique_by_bigrams(text.replace(" ", ""), self._indicator_pairs)

    def agencies(self, text: str) -> list[str]:
        out: list[str] = []
        for _, _, name in self._agency_terms.find(text):
            canonical = self._agency_of[name]
            if canonical not in out:
                out.append(canonical)
        return out

    def extract(self, text: str) -> Entities:
        ent = Entities()
        this_year = self.this_year()
        ent.years, ent.year_range = extract_years(text, this_year)
        ent.relative_years = relative_years(text, this_year)
        ent.axis, axis_words = self._axis(text)
        ent.indicator = self.indicator(text)
        if ent.axis is not None and axis_words and axis_words in self._indicator_spelling(text):
            ent.axis = None  # "數位經濟規模" names the indicator; 數位經濟 inside it is not axis 2
        ent.agencies = self.agencies(text)
        ent.places = self.extract_places(text)
        unit = _UNIT_ASKED.search(text)
        ent.unit = (unit.group(1) or unit.group(2)) if unit else None
        for kind, pattern in ASK_PATTERNS:
            if kind not in ("agency", "date", "rank", "multiple") and ent.unit and ent.unit not in ("兆", "億", "萬"):
                # "幾家", "多少人次": a count with its measure word, whatever else is mentioned.
                ent.ask = "count"
                break
            if pattern.search(text):
                ent.ask = kind
                break
        ent.budget = bool(BUDGET_WORDS.search(text))
        ent.total = bool(TOTAL_WORDS.search(text))
        ent.compare = bool(COMPARE_WORDS.search(text)) or len(ent.years) >= 2
        sup = MAX_WORDS.search(text)
        if sup:
            word = sup.group(0)
            ent.superlative = "min" if word[-1] in "少低小" or word in ("least", "lowest", "smallest") else "max"
            rank = RANK_ASKED.search(text)
            if rank:
                token = rank.group(1) or rank.group(2)
                ent.superlative_rank = int(token) if token.isdigit() else _ORDINAL[token]
        ent.follow_up = bool(FOLLOW_UP.search(text.strip()))
        ent.advice = bool(ADVICE.search(text))
        ent.future = bool(FUTURE.search(text))
        ent.procedure = bool(PROCEDURE.search(text))
        ent.latest = bool(LATEST.search(text)) and not ent.years
        return ent


_AXIS_WORD = re.compile(r"主軸|axis|pillar")
_CJK_PAIR = re.compile(r"(?=([\u4e00-\u9fff]{2}))")


def _pair_owners(names: dict[str, object]) -> dict[str, object]:
    """Each two-character word that only one entity's names hold, with that entity."""
    owners: dict[str, set] = {}
    for name, key in names.items():
        for m in _CJK_PAIR.finditer(name):
            owners.setdefault(m.group(1), set()).add(key)
    return {pair: next(iter(keys)) for pair, keys in owners.items() if len(keys) == 1}


def _unique_by_bigrams(text: str, owners: dict[str, object]) -> object | None:
    """The one entity that owns (see _pair_owners) every owned two-character word of `text` ("人才" is only
    in axis 5's names); None when there is none or they disagree."""
    found = {owners[pair] for pair in (m.group(1) for m in _CJK_PAIR.finditer(text)) if pair in owners}
    return found.pop() if len(found) == 1 else None


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
