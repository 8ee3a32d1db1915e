"""The shape of a question: what kind of reply it asks for, beyond its topic words.

These are wording rules (they read the normalised text), used by the answering core as features and
by its policy: whether a question asks how an indicator is defined, a per-place breakdown the tables
do not have, how to apply for something, several questions at once, or only says "a figure from the
table, please" in some of its words.
"""

from __future__ import annotations

import re

from .pipeline import dedupe

# How an indicator is defined or computed, which its footnote says.
DEFINITION = re.compile(r"定義|怎麼算|如何計算|怎麼計算|計算方式|分母|分子|指的是|是指|什麼意思|涵義|"
                        r"how (?:is|are) .{0,40}(?:defined|calculated|measured|computed)|definition|denominator")
# A breakdown the tables do not have: per county, city or agency.
PER_PLACE = re.compile(r"(?:各|每個|每一個|哪些|哪個)(?:縣市|縣|市|鄉鎮|地方|地區|城市|機關|部會)|by (?:county|city|region)")
# A passage that speaks of applying, registering or logging in answers "怎麼申請" itself.
APPLYING = re.compile(r"申請|申辦|報名|註冊|登入|帳號")
# Words that only say "a figure from the table, please" (matched against whole concepts).
STAT_WORDS = re.compile(r"(?:總|科技|年度|整體)?(?:預算|經費)|投入|編列|編了|花了|合計|總共|總計|全部|總額|整體|比較|最多|最少|最高|"
                        r"最低|主軸|多少|金額|數值|數字|規模|預估|預估值|[兆億萬千]?元|[兆億萬]|名|第.名|率|%|百分比|各|分別|歷年|每年|年度|拿了|"
                        r"拿到|分到|編|總體指標|指標|表|表格|那張表|總表|數據|加總|加起來|平均|增減|增加|減少|錢|"
                        r"budgets?|totals?|overall|axis|axes|pillars?|spend|spent|funds?|funding|compare|most|least|"
                        r"years?|largest|highest|lowest|allocated|size|values?|rates?|amounts?|estimates?|each|sum|average|same|money|"
                        r"figures?|indicators?|table|big|large|high|how|share|percent(?:age)?|proportion|ratio|"
                        r"第[一二三四1-4]年|\d+年?")
# Words a sentence uses for a running total or an overall result ("截至2020年底已…", "累計").
CUMULATIVE = re.compile(r"截至|迄今|迄\d|累計|累積|總計|共計|合計|至今|總共|總數|已達|達成|全臺|全台|全國")
# A sentence that shows a change over time ("從2017年3%提升至2020年80%", "由45天縮短至23天", "逐年提升").
CHANGE_SHOWN = re.compile(r"(?:從|由|自).{0,30}(?:提升|增加|成長|增為|縮短|減少|降低|上升|擴大)(?:至|到|為)?|逐年|提升至|增加至|成長至|"
                          r"增為|縮短為|提高至|提高到")
# A question about a trend ("有變快嗎", "有進步嗎"): the figures that show it answer it.
TREND = re.compile(r"有(?:沒有)?(?:變|進步|提升|成長|增加|改善|提高|擴大)|進步了?嗎|變化|趨勢|\bimprov|\btrend|"
                   r"\b(?:grow|grew|increase)")
# What a follow-up says instead of a year: the next or the previous one ("隔年呢", "那前一年呢").
NEXT_YEAR = re.compile(r"隔年|後一年|下一年|次年|翌年|next year|the year after|following year")
PREVIOUS_YEAR = re.compile(r"前一年|上一年|前一個年度|the year before|previous year|prior year")
# "目標" vs "實際": a follow-up asking the other side of a target question drops the target word.
TARGET = re.compile(r"目標|target|goal")
ACTUAL = re.compile(r"實際|真正|實績|結果|actual|actually|achieved|really")

_QUESTION_WORD = re.compile(r"多少|幾|哪|什麼|何時|多久|多大|how|what|when|which|where")
MAX_PARTS = 3  # a message pasted many times is one question, not a hundred


def question_parts(text: str) -> list[str]:
    """The separate questions in one message ("…原本要幾天？現在縮到幾天？")."""
    parts = [p.strip() for p in re.split(r"[?？]|[;；]", text) if p.strip()]
    asked = dedupe([p for p in parts if _QUESTION_WORD.search(p)])
    if len(asked) == 1 and parts.count(asked[0]) > 1:
        return asked  # one question pasted several times is that question
    return asked[:MAX_PARTS] if len(asked) > 1 else [text]
