"""Deterministic hostile inputs for the fuzz tests: `generate(n, seed)` yields (kind, text) pairs.

Every text is a valid Unicode string (no lone surrogates: those cannot arrive over Telegram or as
UTF-8, and tests/test_fuzz.py checks them separately). Kinds, in rotation so every run covers all:

- `unicode`: random code points from every plane and category (combining marks, RTL and zero-width
  marks, private use, noncharacters, emoji with ZWJ, CJK extensions)
- `huge`: 2,000–20,000 characters (question repeated, one character repeated, random text)
- `control`: C0/C1 controls, NUL, DEL, line/paragraph separators, BOM, mixed into questions
- `markup`: HTML (Telegram's tags, unknown tags, broken tags, entities) and Markdown
- `query`: SQL, SQLite FTS5 and regular-expression syntax, alone and inside questions
- `mixed`: questions in mixed scripts (Traditional/Simplified Chinese, Japanese, Korean, Arabic,
  Hebrew, Cyrillic, Thai, Devanagari), full-width forms, odd numerals and numbers
- `mutant`: real questions with characters inserted, deleted, swapped or repeated
- `command`: slash commands (the bot's and unknown ones) with hostile arguments
- `blank`: empty and whitespace-only text
"""

from __future__ import annotations

import random
from collections.abc import Iterator

QUESTIONS = [
    "iTaiwan 熱點有幾個?", "數位經濟規模2019年是多少", "主軸6 2018年預算多少", "2020年資訊國力全球排名",
    "iTaiwan 热点有几个?", "MyData 是什麼", "偏鄉寬頻涵蓋率", "How many iTaiwan hotspots are there?",
    "那2019年呢?", "5G 什麼時候開台", "數位人才培育了多少人", "DIGI+方案是哪一年開始推動的？",
    "各主軸預算", "資安", "民國109年的總預算", "去年呢", "高雄天氣如何", "謝謝", "你好",
]

_MARKUP = [
    "<b>粗體</b>", "<i>", "</i>", "<b><i>交錯</b></i>", "<a href=\"javascript:alert(1)\">x</a>", "<script>alert(1)</script>",
    "<tg-spoiler>", "<span class=\"x\">", "<pre><code class=\"language-py\">x</code></pre>", "<blockquote expandable>",
    "&amp;", "&lt;", "&gt", "&#0;", "&#x110000;", "&#55296;", "&nbsp;", "&", "<", ">", "<<>>", "</", "<!-- -->",
    "<img src=x onerror=alert(1)>", "**粗**", "__底__", "`code`", "```\nblock\n```", "[連結](http://example.com)",
    "~~刪~~", "||spoiler||", "\\*", "# 標題", "> 引用", "- 清單", "| a | b |\n|---|---|",
]
_QUERY = [
    "' OR 1=1; --", "\"; DROP TABLE queries; --", "1' UNION SELECT * FROM sqlite_master --", "%", "_", "\\", "'",
    "\"", "\"\"", "*", "^", "NEAR(熱點 iTaiwan, 2)", "熱點 AND NOT 寬頻", "OR", "AND", "NOT", "MATCH", "\"unterminated",
    "col:value", "{a b}:c", "熱點*", "-熱點", "+寬頻", "(熱點 OR", "((((((", ")))", "[", "]", "(?<=x)", "(?P<n>", ".*" * 50,
    "$", "\\d+", "a{1000000}", "\\1", "*?+", "%s%s%n", "{0}{1}", "${jndi:ldap://x}", "../../etc/passwd", "NULL", "\x1a",
]
_SCRIPTS = [
    "日本語の質問ですか", "ひらがなカタカナ", "한국어 질문입니다", "السؤال باللغة العربية", "שאלה בעברית", "Вопрос по-русски",
    "คำถามภาษาไทย", "हिन्दी प्रश्न", "Ελληνικά", "Tiếng Việt có dấu", "𠀀𠀁𪚥", "ＩＴＡＩＷＡＮ　熱點", "１２３４５",
    "九千七百三十五", "壹億貳仟", "9,735", "4.7兆", "1e309", "NaN", "-0", "0x1F", "1" * 300, "１，２３４",
    "数字经济", "宽带", "网络", "٣٤٥", "Ⅻ", "½", "㊿", "🇹🇼", "👩‍💻👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑🏽‍🚀",
]
_CONTROL = [chr(c) for c in range(0, 32)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)] + [
    "\u2028", "\u2029", "\ufeff", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066",
    "\u2069", "\u00ad", "\u034f", "\u180e", "\u3000", "\ufff9", "\ufffc", "\ufffd"]
_COMMANDS = ["/start", "/help", "/about", "/stats", "/chart", "/export", "/usage", "/unanswered", "/reload",
             "/nosuchcommand", "/START", "/stats@digibot_test_bot", "/help@digibot_test_bot"]

# Code point ranges to draw "random Unicode" from (no surrogates).
_RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x97F),
           (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2100, 0x27BF), (0x3000, 0x30FF), (0x3400, 0x4DBF),
           (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xFB00, 0xFFFF), (0x10000, 0x1FFFF),
           (0x1F300, 0x1FAFF), (0x20000, 0x2FFFF), (0xE0000, 0xE01EF), (0xF0000, 0x10FFFF)]

KINDS = ("unicode", "huge", "control", "markup", "query", "mixed", "mutant", "command", "blank")


def _code_point(rng: random.Random) -> str:
    low, high = rng.choice(_RANGES)
    return chr(rng.randint(low, high))


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(_code_point(rng) for _ in range(n))


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        i = rng.randrange(len(chars) + 1)
        if op == 0:
            chars.insert(i, _code_point(rng))
        elif op == 1 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 2 and len(chars) > 1:
            j = rng.randrange(len(chars))
            i = min(i, len(chars) - 1)
            chars[i], chars[j] = chars[j], chars[i]
        elif op == 3 and chars:
            i = min(i, len(chars) - 1)
            chars[i:i + 1] = [chars[i]] * rng.randint(2, 30)
        else:
            chars.insert(i, rng.choice(_CONTROL + _QUERY + _MARKUP))
    return "".join(chars)


def _one(rng: random.Random, kind: str, many_parts: bool) -> str:
    q = rng.choice(QUESTIONS)
    if kind == "unicode":
        return _random_text(rng, rng.choice((1, 2, 5, 20, 80, 300)))
    if kind == "huge":
        n = rng.choice((rng.randint(1900, 2100), rng.randint(2000, 20000)))
        pick = rng.randrange(4)
        if pick == 0:
            text = (q * (n // len(q) + 1))[:n]
        elif pick == 1:
            text = rng.choice("字a9 熱,<&\u200b") * n
        elif pick == 2:
            text = " ".join(rng.choice(QUESTIONS) for _ in range(n // 10))[:n]
        else:
            return _random_text(rng, n // 4)
        # Without `many_parts` the pasted questions lose their "?": hundreds of parts used to take the
        # core's slowest path (about a second each, before e5a1b47).
        return text if many_parts else text.replace("?", " ").replace("？", " ")
    if kind == "control":
        junk = "".join(rng.choice(_CONTROL) for _ in range(rng.randint(1, 40)))
        return rng.choice((junk, junk + q, q + junk, junk.join(q)))
    if kind == "markup":
        parts = [rng.choice(_MARKUP) for _ in range(rng.randint(1, 5))]
        return rng.choice(("".join(parts), parts[0] + q + parts[-1], q.replace("熱點", parts[0])))
    if kind == "query":
        parts = [rng.choice(_QUERY) for _ in range(rng.randint(1, 4))]
        return rng.choice((" ".join(parts), q + " " + parts[0], parts[0] + q))
    if kind == "mixed":
        parts = [rng.choice(_SCRIPTS) for _ in range(rng.randint(1, 4))] + [q]
        rng.shuffle(parts)
        return rng.choice(("", " ")).join(parts)
    if kind == "mutant":
        return _mutate(rng, q)
    if kind == "command":
        args = rng.choice(["", " 預算", " 指標", " 2020", " 預算 2017 2020", " 指標 偏鄉", " 50", " -1",
                           " " + rng.choice(_QUERY), " " + rng.choice(_MARKUP), " " + _random_text(rng, 10),
                           " " + "9" * 40, " 主軸8 2016", " budget 2021"])
        return rng.choice(_COMMANDS) + args
    return rng.choice(("", " ", "\n", "\t \n", "\u3000", "\u200b", "\ufeff"))


def generate(n: int, seed: int, *, weights: dict[str, int] | None = None,
             many_parts: bool = True) -> Iterator[tuple[str, str]]:
    """`n` (kind, text) pairs, the same for the same seed. Kinds rotate in proportion to `weights`
    (default: equal), contents are random. `many_parts` lets huge texts keep their question marks."""
    rng = random.Random(seed)
    cycle = [kind for kind in KINDS for _ in range((weights or {}).get(kind, 1))]
    for i in range(n):
        kind = cycle[i % len(cycle)]
        yield kind, _one(rng, kind, many_parts)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def telegram_text(text: str) -> str | None:
    """The text as Telegram would deliver it: surrounding whitespace trimmed, at most 4,096 UTF-16 code
    units (a client splits longer pastes; this keeps the first part); None when nothing is left."""
    text = text.strip()
    while utf16_len(text) > 4096:
        text = text[: len(text) - (utf16_len(text) - 4096 + 1) // 2 - 1].rstrip()
    return text or None


# ------------------------------------------------------------------------------ worst cases
def worst_case_questions(n: int = 10, seed: int = 2_000, length: int = 2000) -> list[str]:
    """`n` crafted questions of `length` characters built to make answering slow: the report's own
    indicator names, axis names, FAQ phrases and words run together with question words and years (the
    mixtures that cost most per character when measured), random CJK text, and labelled questions pasted
    end to end. The same for the same seed."""
    import re
    from pathlib import Path

    from knowledge.build import KNOWLEDGE_DIR

    curated = Path(KNOWLEDGE_DIR) / "curated"
    report = next((Path(KNOWLEDGE_DIR) / "source").glob("*.txt")).read_text(encoding="utf-8")
    han = re.compile(r"[\u4e00-\u9fff]{2,10}")
    pools = {
        "indicators": han.findall((curated / "indicators.yaml").read_text(encoding="utf-8")),
        "axes": han.findall((curated / "axes.yaml").read_text(encoding="utf-8")),
        "faq": han.findall((curated / "faq.yaml").read_text(encoding="utf-8")),
        "words": sorted(set(re.findall(r"[\u4e00-\u9fff]{2,4}", report))),
        "asking": ["多少", "幾個", "哪個機關", "什麼時候", "排名", "預算", "比較", "增加", "平均", "加總", "和",
                   "2017年", "2018年", "2019年", "2020年", "民國108年", "去年", "主軸3", "第五主軸"],
    }
    labelled = [line.split('"q": "', 1)[1].split('"', 1)[0] for f in sorted((curated / "questions").glob("*.jsonl"))
                for line in f.read_text(encoding="utf-8").splitlines() if '"q": "' in line]
    mixtures = [("indicators", "axes", "asking", "words"), ("asking", "faq", "indicators"), ("indicators",),
                ("faq", "indicators"), ("words", "indicators"), ("words",)]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        shape = i % (len(mixtures) + 2)
        if shape < len(mixtures):
            names, sep = mixtures[shape], rng.choice(("", "，", "？", " "))
            parts: list[str] = []
            while len(sep.join(parts)) < length:
                parts.append(rng.choice(pools[rng.choice(names)]))
            text = sep.join(parts)
        elif shape == len(mixtures):
            text = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(length))
        else:
            text = "？".join(rng.sample(labelled, min(len(labelled), 200)))
        out.append(text[:length])
    return out
