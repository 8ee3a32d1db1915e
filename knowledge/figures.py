"""Finding the figures in report sentences, with their units, kinds and true values.

The report writes numbers the way Chinese documents do: ``9,735個``, ``4.7兆元``,
``1萬5,458人`` (=15,458), ``3億3,106萬元`` (=331,060,000), ``第11名``, ``20至30分鐘``,
``截至2020年12月31日``. Each figure keeps the report's own spelling (``text``) next to its
value, so answers can quote it exactly while look-ups can compare numbers.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_BIG_SCALES = {"兆": 1e12, "億": 1e8, "萬": 1e4, "千": 1e3}
# A number with Chinese large units: "1萬5,458", "3億3,106萬", "16萬0,119", "1.73億".
BIGNUM = rf"(?:{NUM})\s*[兆億萬](?:\s*(?:{NUM})\s*[億萬千]?)*|(?:{NUM})"

# Measure words after a count, longest first so 人次 wins over 人.
COUNT_UNITS = sorted(
    """人次 人時 家次 案次 課次 班次 梯次 小時 分鐘 縣市 村里 鄉鎮 個月 萬次 週年
    人 個 處 項 家 所 件 場 部 座 張 筆 則 案 次 門 校 篇 組 式 集 點 站 條 格 位 名 間 台 臺 款 種 屆 國
    隊 池 秒 天 週 年 分 團 輛 支 套 屋 車 季 期 檔 冊 頁 堂 段 批 片 吋 戶 筆 樣 類 倍 成 PV TB GB
    FPS fps kW KW MW μm nm 奈米 公里 公尺 元""".split(),
    key=len,
    reverse=True,
)
_UNIT_RE = "|".join(re.escape(u) for u in COUNT_UNITS)

KIND_BY_UNIT = {
    "元": "money",
    "人次": "people_times",
    "小時": "duration",
    "分鐘": "duration",
    "秒": "duration",
    "天": "duration",
    "日": "duration",  # "14日內": a date's day ("10月17日") is read as a date before this
    "個月": "duration",
    "倍": "multiple",
    "Mbps": "speed",
    "Gbps": "speed",
    "Kbps": "speed",
    "%": "percent",
}

_QUAL_BEFORE = re.compile(r"(逾|超過|近|約|達|計|共|累計|高達|突破)\s*$")

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Dates: 2020年12月31日, 2020年7月, 2020年底, 2017年8月中旬, 12月31日, 同年11月21日, 民國109年.
    (
        "date",
        re.compile(
            r"(?<![\d,.])(?P<y>(?:19|20)\d{2})\s*年(?:\s*度)?"
            r"(?:\s*(?P<m>\d{1,2})\s*月(?:\s*(?P<d>\d{1,2})\s*日|\s*(?:底|初|中旬|下旬|上旬))?|\s*(?:底|初|中))?"
        ),
    ),
    ("date", re.compile(r"(?<![\d,.])(?P<m>1[0-2]|0?[1-9])\s*月\s*(?P<d>[12]\d|3[01]|0?[1-9])\s*日")),
    ("date", re.compile(r"(?<![\d,.])(?P<roc>1[01]\d)\s*(?:學)?年(?:度)?(?!\d)")),
    # Ranks: 第11名, 全球第20名, 第3大; bare "12名" only beside 排名.
    ("rank", re.compile(rf"第\s*(?P<n>{NUM})\s*(?P<u>名|大|屆|次|階段|條|款)")),
    ("rank", re.compile(r"第(?P<cn>[一二三四五六七八九十]{1,2})(?P<u>名)?(?![次屆階部章條款項個套座齣張台批線])")),
    # Ranges: 20至30分鐘, 5-8分鐘, 2,500小時至4,500小時, 10至20秒.
    (
        "range",
        re.compile(
            rf"(?<![\d,.A-Za-z])(?P<a>{NUM})\s*(?P<u1>{_UNIT_RE}|%)?\s*(?:至|到|-|~|～|－)\s*(?P<b>{NUM})\s*"
            rf"(?P<u>{_UNIT_RE}|%|Mbps|Gbps)"
        ),
    ),
    ("percent", re.compile(rf"(?<![\d,.A-Za-z])(?P<n>{NUM})\s*%")),
    ("speed", re.compile(rf"(?<![\d,.A-Za-z])(?P<n>{NUM})\s*(?P<u>[MGK]bps)")),
    # Money: 新臺幣563.78億元, 4.7兆元, 68億元, 105,000千元, 4,200萬元.
    ("money", re.compile(rf"(?:新[臺台]幣\s*)?(?<![\d,.A-Za-z])(?P<n>{BIGNUM})\s*(?P<s>[兆億萬千])?\s*元")),
    # Counts with a measure word: 9,735個, 4.46億人次, 1萬5,458人, 30餘位.
    (
        "count",
        re.compile(rf"(?<![\d,.A-Za-z\-/])(?P<n>{BIGNUM})\s*(?P<q>餘|多)?\s*(?P<u>{_UNIT_RE})"),
    ),
    # Large amounts standing alone ("1.5億以上海外訂單", "461億。"); "1,700萬運算小時" counts hours.
    ("count", re.compile(rf"(?<![\d,.A-Za-z])(?P<n>(?:{NUM})\s*[兆億萬](?:\s*(?:{NUM})\s*[億萬千]?)*)"
                         rf"(?=\s*(?:以上|以下|多|餘|[，。；、）)」\s]|$))")),
    # Any other number before a noun: "48,400資料集", "5,074點" (a count of that noun).
    ("count", re.compile(r"(?<![\d,.A-Za-z\-/])(?P<n>\d{1,3}(?:,\d{3})+|\d{2,})\s*(?P<u>[\u4e00-\u9fff])")),
    # Chinese numerals with a measure word: 三次, 兩間, 七大.
    ("count", re.compile(r"(?<![一二兩三四五六七八九十第])(?P<cn>[兩二三四五六七八九十])\s*(?P<u>次|種|間|大|項|座|場)")),
]

def _cn_value(text: str) -> int:
    """一…九十九 as written in ranks: 二 → 2, 十一 → 11, 二十 → 20."""
    if "十" not in text:
        return _CN_NUMERALS[text]
    tens, _, ones = text.partition("十")
    return (_CN_NUMERALS[tens] if tens else 1) * 10 + (_CN_NUMERALS[ones] if ones else 0)


_CN_NUMERALS = {"一": 1, "兩": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


@dataclass
class Figure:
    text: str  # the report's spelling, e.g. "1萬5,458人"
    value: float | None  # true value, e.g. 15458.0; None for dates
    unit: str  # "人", "元", "%", "名", "Mbps", "date" …
    kind: str  # count, money, percent, rank, people_times, speed, date, duration, multiple, range
    start: int
    end: int
    value2: float | None = None  # upper bound of a range
    iso: str = ""  # dates: "2020-12-31", "2020-07", "2020"
    qualifier: str = ""  # 逾, 約, 超過 … as the report hedges
    context: str = ""  # the clause the figure sits in

    def as_dict(self) -> dict:
        return asdict(self)


def parse_number(text: str) -> float:
    """Value of a number as the report writes it: '9,735' → 9735, '1萬5,458' → 15458,
    '3億3,106萬' → 331060000, '16萬 0,119' → 160119, '4.7兆' → 4.7e12."""
    text = re.sub(r"\s+", "", text)
    parts = re.findall(rf"({NUM})([兆億萬千]?)", text)
    if not parts:
        raise ValueError(f"not a number: {text!r}")
    total = 0.0
    for digits, unit in parts:
        number = float(digits.replace(",", ""))
        total += number * _BIG_SCALES.get(unit, 1)
    return total


def _clause(sentence: str, start: int, end: int) -> str:
    left = max(sentence.rfind(p, 0, start) for p in "，。；：、") + 1
    rights = [i for i in (sentence.find(p, end) for p in "，。；") if i != -1]
    right = min(rights) if rights else len(sentence)
    return sentence[left:right].strip()


def extract_figures(sentence: str, year_hint: int | None = None) -> list[Figure]:
    """All figures in a sentence, left to right, without overlaps (earlier patterns win)."""
    taken: list[tuple[int, int]] = []
    figures: list[Figure] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    last_year = year_hint
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(sentence):
            a, b = m.span()
            text = m.group(0).strip()
            if not free(a, b) or not text:
                continue
            fig = _make_figure(kind, m, sentence, last_year)
            if fig is None:
                continue
            if fig.kind == "date" and fig.iso[:4].isdigit():
                last_year = int(fig.iso[:4])
            taken.append((a, b))
            figures.append(fig)
    figures.sort(key=lambda f: f.start)
    # Bare month-day dates take the year of the nearest earlier full date ("同年11月21日").
    year = year_hint
    for fig in figures:
        if fig.kind == "date" and len(fig.iso) >= 4 and fig.iso[:4].isdigit():
            year = int(fig.iso[:4])
        elif fig.kind == "date" and fig.iso.startswith("--") and year:
            fig.iso = f"{year}{fig.iso[1:]}"
    for fig in figures:
        fig.context = _clause(sentence, fig.start, fig.end)
        q = _QUAL_BEFORE.search(sentence[max(0, fig.start - 3): fig.start])
        if q and not fig.qualifier:
            fig.qualifier = q.group(1)
    return figures


def _make_figure(kind: str, m: re.Match[str], sentence: str, year: int | None) -> Figure | None:
    a, b = m.span()
    text = sentence[a:b].strip()
    g = m.groupdict()
    if kind == "date":
        if g.get("roc"):
            # 民國 years (109年 = 2020) only in a plausible range, and not "110年新竹臺灣燈會" counts.
            roc = int(g["roc"])
            return Figure(text, None, "date", "date", a, b, iso=str(roc + 1911))
        if g.get("y"):
            iso = g["y"]
            if g.get("m"):
                iso += f"-{int(g['m']):02d}"
                if g.get("d"):
                    iso += f"-{int(g['d']):02d}"
            return Figure(text, None, "date", "date", a, b, iso=iso)
        return Figure(text, None, "date", "date", a, b, iso=f"--{int(g['m']):02d}-{int(g['d']):02d}")
    if kind == "rank":
        if g.get("cn"):
            return Figure(text, float(_cn_value(g["cn"])), "名", "rank", a, b)
        return Figure(text, parse_number(g["n"]), g["u"], "rank", a, b)
    if kind == "range":
        unit = g["u"]
        if g.get("u1") and g["u1"] != unit:
            return None
        low, high = parse_number(g["a"]), parse_number(g["b"])
        if high <= low:
            return None  # "2017-2020" style spans are dates, "3-2" is not a range
        return Figure(text, low, unit, "range", a, b, value2=high)
    if kind == "percent":
        return Figure(text, parse_number(g["n"]), "%", "percent", a, b)
    if kind == "speed":
        return Figure(text, parse_number(g["n"]), g["u"], "speed", a, b)
    if kind == "money":
        value = parse_number(g["n"]) * _BIG_SCALES.get(g.get("s") or "", 1)
        return Figure(text, value, "元", "money", a, b)
    if kind == "count":
        if g.get("cn"):
            return Figure(text, float(_CN_NUMERALS[g["cn"]]), g["u"], "count", a, b)
        unit = g.get("u") or ""
        # "2020年" style years are dates, caught above; a bare year-like number with 年 is a span.
        if unit == "年" and re.fullmatch(r"(?:19|20)\d{2}", g["n"].strip()):
            return None
        value = parse_number(g["n"])
        if not unit:
            return Figure(text, value, "", "count", a, b)
        fig_kind = KIND_BY_UNIT.get(unit, "count")
        if unit == "名" and re.search(r"(排名|排行|名次)", sentence[max(0, a - 12): a]):
            fig_kind = "rank"
        return Figure(text, value, unit, fig_kind, a, b, qualifier=g.get("q") or "")
    return None
