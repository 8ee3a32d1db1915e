"""Composing replies: short, phone-sized text that quotes the report's figures exactly.

Each builder returns the reply body and its sources; `Assistant.ask` adds intent, confidence and
suggestions and runs the grounding check.
"""

from __future__ import annotations

import re

from knowledge.search import PassageMatch
from knowledge.stats import StatResult, budget_header, budget_row_text, indicator_header, total_row_text
from knowledge.store import FaqEntry, KnowledgeBase, Node, Sentence

from .answer import MAX_ANSWER_CHARS, Source
from .grounding import numbers

SHORT_SENTENCE = 160  # a sentence this short is quoted whole
CLAUSE_BUDGET = 110  # a longer one is cut to its relevant clauses, about this long
_CLAUSE_SPLIT = re.compile(r"[，；：,;]")
_OPENS = "（(「『《【"
_CLOSES = "）)」』》】"
_CONNECTIVE_START = re.compile(r"^(其中|另外|另|並|同時|此外|目前|亦|也|且|而|包括|包含|如|例如|以及)")
_YEAR_PHRASE = re.compile(r"(截至|迄|至|於)?\s*((?:19|20)\d{2}\s*年?(?:\s*(?:-|至|到)\s*(?:19|20)\d{2})?\s*年(?:底|度)?)")


def node_source(kb: KnowledgeBase, node: Node, quote: str) -> Source:
    return Source(section=node.path, title=node.display_title, agency="、".join(node.agencies), quote=quote)


def split_clauses(sentence: str) -> list[str]:
    """Clauses at ，；： outside brackets and quotes; punctuation stays with its clause."""
    clauses, depth, start = [], 0, 0
    for i, ch in enumerate(sentence):
        if ch in _OPENS:
            depth += 1
        elif ch in _CLOSES:
            depth = max(0, depth - 1)
        elif depth == 0 and _CLAUSE_SPLIT.match(ch) and not (ch == "," and sentence[i + 1: i + 2].isdigit()):
            clauses.append(sentence[start: i + 1])
            start = i + 1
    if start < len(sentence):
        clauses.append(sentence[start:])
    return [c for c in clauses if c.strip()]


def finish(text: str) -> str:
    text = text.strip().rstrip("，；：,;、")
    if not text.endswith(("。", "！", "？", ".", "!", "?", "」", "）", ")")):
        text += "。"
    return text


def fact_body(kb: KnowledgeBase, hit: PassageMatch, match: callable, concepts: list, years: list[int],
              ask_kinds: set[str], unit: str | None) -> tuple[str, list[Source]]:
    """The answering sentence, cut to its relevant clauses when long, and its source."""
    sentence = hit.sentence
    node = kb.nodes[sentence.node_id]
    siblings = kb.node_sentences(node.id)
    quote_parts = [sentence.text]
    text = sentence.text
    prev = siblings[sentence.ord - 1] if sentence.ord > 0 else None
    if prev and _CONNECTIVE_START.match(sentence.text) and len(prev.text) + len(text) <= SHORT_SENTENCE:
        text = prev.text + text
        quote_parts.insert(0, prev.text)
    if len(text) > SHORT_SENTENCE:
        text = _relevant_clauses(sentence, match, concepts, years, ask_kinds, unit)
    body = finish(text)
    sources = [node_source(kb, node, "".join(quote_parts))]
    period, framing = _period_for(kb, node, body)
    if period:
        body = f"{period}，{body}"
        if framing is not None:
            sources.append(framing)  # the report text that dates the figure
    if node.title and len(node.title) <= SHORT_TITLE and node.title not in body and len(sentence.text) <= SHORT_SUBJECTLESS \
            and not re.search(r"\d", node.title):  # a figure in the heading would not be in the quote
        # "截至2020年底已提供57項服務。" says what only under its heading: "臨櫃核驗：…".
        body = f"{node.title}：{body}"
    # Items are listed only when the answer is the list's introduction, not a figure before it.
    intro_start = sentence.text.rfind(split_clauses(sentence.text)[-1])
    answered_before = any(f.kind in ask_kinds and f.start < intro_start for f in sentence.figures)
    listed = [] if answered_before or not _LIST_INTRO.search(body.rstrip("。")) else _listed_items(kb, node, sentence)
    if listed:
        # "平臺規劃下列三種服務模式：" introduces a list whose figures are in the child items.
        clauses = split_clauses(sentence.text)
        lead = body if len(body) <= 60 or len(clauses) < 3 else clauses[0] + "…" + clauses[-1]
        body = lead.rstrip("。：:，,") + "：" + "；".join(text for text, _ in listed) + "。"
        sources += [src for _, src in listed]
    if "agency" in ask_kinds:
        # "哪一個分組負責…": the answer is who, so name the passage's own heading and its agencies.
        if node.title and node.title not in body:
            body = f"{node.title}：{body}"
        if node.agencies:
            body = _fit(body, MAX_ANSWER_CHARS - 40) + f"（負責機關：{'、'.join(node.agencies)}）"
    return _fit(body), sources


SHORT_TITLE = 16  # a heading short enough to name a subject ("臨櫃核驗", "iTaiwan 熱點")
SHORT_SUBJECTLESS = 40  # a sentence this short often leaves its subject to the heading

_LIST_INTRO = re.compile(r"(如下|下列.{0,12})[。：:]?$")


def _listed_items(kb: KnowledgeBase, node: Node, sentence: Sentence) -> list[tuple[str, Source]]:
    """For a sentence introducing a list, each child item's title with its first short figure."""
    if not _LIST_INTRO.search(sentence.text) or sentence.ord != len(node.sentence_ids) - 1:
        return []
    items = []
    for child in (n for n in kb.nodes.values() if n.parent_id == node.id):
        for s in kb.node_sentences(child.id):
            if s.figures and len(s.text) <= 60:
                label = f"{child.title}（{s.text.rstrip('。；')}）" if child.title else s.text.rstrip("。；")
                items.append((label, node_source(kb, child, s.text)))
                break
        if len(items) == 4:
            break
    return items


def _relevant_clauses(sentence: Sentence, match: callable, concepts: list, years: list[int],
                      ask_kinds: set[str], unit: str | None) -> str:
    clauses = split_clauses(sentence.text)
    scores = []
    offset = 0
    for clause in clauses:
        norm = match(clause)
        score = sum(1.0 for c in concepts if any(alt in norm for alt in c.alternatives))
        score += sum(1.5 for y in years if str(y) in clause)
        start, end = offset, offset + len(clause)
        figs = [f for f in sentence.figures if start <= f.start < end]
        if any(f.kind in ask_kinds for f in figs):
            score += 2.0
        if unit and any(f.unit == unit for f in figs):
            score += 1.0
        scores.append(score)
        offset = end
    best = max(range(len(clauses)), key=lambda i: (scores[i], -i))
    chosen = {best}
    length = len(clauses[best])
    # Grow around the best clause with neighbours that are nearly as relevant, while it stays short.
    left, right = best - 1, best + 1
    while True:
        options = [(scores[i], i) for i in (left, right) if 0 <= i < len(clauses)
                   and scores[i] >= max(0.5, scores[best] / 2) and length + len(clauses[i]) <= CLAUSE_BUDGET]
        if not options:
            break
        _, pick = max(options)
        chosen.add(pick)
        length += len(clauses[pick])
        left, right = min(chosen) - 1, max(chosen) + 1
    first, last = min(chosen), max(chosen)
    return "".join(clauses[first: last + 1])


def _period_for(kb: KnowledgeBase, node: Node, body: str) -> tuple[str, Source | None]:
    """The period a figure refers to, when the answer itself gives none, and the report text that
    says so: the node's or its parent's title ("2018-2020年「智慧城鄉生活應用」整體推動成效"),
    or a sentence framing a list ("2017年至 2020年推動成果如下:")."""
    if re.search(r"(?:19|20)\d{2}", body):
        return "", None
    parent = kb.nodes.get(node.parent_id) if node.parent_id else None
    framing: list[tuple[str, Source | None]] = [(node.display_title, None)]
    for owner in (node, parent):
        if owner is not None:
            framing += [(s.text, node_source(kb, owner, s.text)) for s in kb.node_sentences(owner.id)
                        if s.text.rstrip().endswith(("如下：", "如下:"))]
    if parent is not None:
        framing.append((parent.display_title, node_source(kb, parent, parent.display_title)))
    for text, source in framing:
        m = _YEAR_PHRASE.search(text or "")
        if m:
            return (m.group(1) or "") + re.sub(r"\s+", "", m.group(2)), source
    return "", None


def _fit(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for mark in "。；，":
        pos = cut.rfind(mark)
        if pos > limit // 2:
            return cut[: pos] + "…"
    return cut + "…"


def faq_body(kb: KnowledgeBase, entry: FaqEntry) -> tuple[str, list[Source]]:
    node = kb.nodes[entry.node_id]
    if node.kind == "table":
        quote = _table_quote(kb, node, entry.answer)
    else:
        sentences = kb.node_sentences(node.id)
        stated = numbers(entry.answer)
        # Quote the sentences holding the answer's figures; years alone do not pick a sentence.
        figures = [n for n in stated if not re.fullmatch(r"(?:19|20)\d\d", n)] or stated
        picked = [s.text for s in sentences if set(figures) & set(numbers(s.text))] or [s.text for s in sentences]
        for number in stated:  # the period may come from another sentence of the node ("截至2020年…")
            if number not in numbers("".join(picked)):
                picked = [s.text for s in sentences if s.text in picked or number in numbers(s.text)]
        quote = "".join(picked)
    return _fit(entry.answer), [node_source(kb, node, quote)]


def _table_quote(kb: KnowledgeBase, node: Node, answer: str) -> str:
    stated = {n for n in numbers(answer) if "." in n or len(n) >= 2}
    if node.path == kb.layout.budget_table:
        rows = [budget_row_text(kb, a) for a in kb.budget] + [total_row_text(kb)]
        picked = [r for r in rows if stated & set(numbers(r))]
        return budget_header(kb) + "｜" + "｜".join(picked or rows)
    rows = [i.printed for i in kb.indicators]
    picked = [r for r in rows if stated & set(numbers(r))]
    return indicator_header(kb) + "｜" + "｜".join(picked or rows)


_ORDINAL_EN = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def stat_body(kb: KnowledgeBase, result: StatResult, english: bool) -> tuple[str, list[Source]]:
    source = Source(section=result.path, title=result.title, agency="", quote="｜".join(result.quotes))
    if result.empty_reason:
        if english:
            # The English explanation is curated (report.yaml) and quotes the note it explains.
            explained = [e["text_en"] for e in kb.report.get("budget_na_en", [])
                         if all(q.replace(" ", "") in result.empty_reason.replace(" ", "") for q in e["quotes"])]
            text = explained[0] if explained else "The report's budget table lists this axis as N/A."
        else:
            text = "報告的預算表中此主軸列為 N/A：" + result.empty_reason
        return _fit(text), [source]
    if result.superlative:
        parts = []
        for c in result.cells:
            if english:
                word = ("largest" if result.superlative == "max" else "smallest") if result.rank == 1 else \
                    f"{_ORDINAL_EN.get(result.rank, result.rank)}-{'largest' if result.superlative == 'max' else 'smallest'}"
                parts.append(f"{c.year}: {c.label_en} ({c.label}) had the {word} budget, {c.text}")
            else:
                word = ("最多" if result.superlative == "max" else "最少") if result.rank == 1 else \
                    f"第{'一二三四五'[result.rank - 1] if result.rank <= 5 else result.rank}{'多' if result.superlative == 'max' else '少'}"
                parts.append(f"{c.year}年預算{word}的是{c.label}，{c.text}")
        return _fit(("; ".join(parts) + ".") if english else "；".join(parts) + "。"), [source]
    first = result.cells[0]
    values = []
    for c in result.cells:
        flag = (" (estimate, 預估值)" if english else "（預估值）") if c.estimate else ""
        values.append(f"{c.year}: {c.text}{flag}" if english else f"{c.year}年{c.text}{flag}")
    if result.table == "budget" and first.label == "合計":
        subject = "DIGI+ technology budget, total" if english else "DIGI+方案科技預算合計"
    elif result.table == "budget":
        subject = f"Budget of {first.label_en} ({first.label})" if english else f"{first.label}的預算"
    else:
        subject = f"{first.label_en} ({first.label})" if english else first.label
    text = f"{subject}: " + "; ".join(values) + "." if english else f"{subject}：" + "、".join(values) + "。"
    if result.notes:
        # The discrepancy itself is in the source; the reply only flags it, stating no new figure.
        text += (" Note: the report's own figures are inconsistent here; see the source." if english else
                 "（註：報告中此處數字前後不一致，詳見來源。）")
    return _fit(text), [source]


# ------------------------------------------------------------------------ table arithmetic
def view_body(kb: KnowledgeBase, view: dict, english: bool) -> tuple[str, list[Source]]:
    """A year's per-axis breakdown, or a sum, change or mean over years: the report's printed cells,
    the computed figure labelled as computed with its parts, and the report's own statement when it
    makes one."""
    section = view["source"]["section"]
    title = view["source"]["title"]
    kind = view["kind"]
    if kind == "breakdown":
        cells = [r for r in view["rows"] if r["text"]]
        quote = budget_header(kb) + "｜" + "｜".join(
            budget_row_text(kb, r["axis"]) if r["text"] else
            f"主軸 {r['axis']}.{kb.axes[r['axis']].name} {kb.budget_notes.get(r['axis'], {}).get('note', 'N/A')}"
            for r in view["rows"]) + "｜" + total_row_text(kb)
        if english:
            parts = "; ".join(f"Axis {r['axis']} {r['text']}" for r in cells)
            text = (f"DIGI+ technology budget by axis, {view['year']} (億元 = NT$100 million): {parts}. "
                    f"Stated total {view['stated_total']['text']}")
        else:
            parts = "、".join(f"主軸{r['axis']} {r['text']}" for r in cells)
            text = f"{view['year']}年各主軸預算：{parts}；表列合計{view['stated_total']['text']}"
        absent = [r for r in view["rows"] if not r["text"]]
        if absent:
            text += "; " if english else "；"
            text += ", ".join(f"axis {r['axis']} N/A" for r in absent) if english else \
                "、".join(f"主軸{r['axis']}列為N/A" for r in absent)
        if view["discrepancy"]:
            text += (f". The axes add up to {view['computed_sum']['text']}億元 (computed), not the stated total: "
                     "the report's own figures differ." if english else
                     f"（各主軸相加為{view['computed_sum']['text']}億元，計算值，與表列合計不一致，報告原文如此）")
        return _fit(finish(text)), [Source(section, title, "", quote)]
    parts = view["parts"]
    label = view["label_en"] if english else view["label"]
    if view.get("indicator"):
        return _indicator_change(kb, view, english)
    rows = [budget_row_text(kb, view["axis"])] if view.get("axis") else [total_row_text(kb)]
    if "axes_computed" in view:  # its parts are every axis's cells
        rows += [budget_row_text(kb, a) for a in sorted(kb.budget)]
    quote = budget_header(kb) + "｜" + "｜".join(rows)
    span = f"{parts[0]['year']}–{parts[-1]['year']}" if parts else ""
    listed = " + ".join(p["text"] for p in parts)
    computed = view.get("computed")
    if kind == "sum":
        text = (f"{label}, {span} added up: {listed} = {computed['text']}億元 (computed; the report prints no such total)"
                if english else f"{label}{span}預算加總：{listed} = {computed['text']}億元（計算值，報告未列此數）")
        if "axes_computed" in view:
            text += (f". Adding the axes instead gives {view['axes_computed']['text']}億元 (computed): the report's "
                     "stated totals and its axes differ" if english else
                     f"；若以各主軸相加則為{view['axes_computed']['text']}億元（計算值），報告的表列合計與各主軸加總不一致")
    elif kind == "change":
        text = (f"{label}: {parts[0]['text']} in {parts[0]['year']}, {parts[-1]['text']} in {parts[-1]['year']}; "
                f"change {computed['text']}億元 (computed)" if english else
                f"{label}：{parts[0]['year']}年{parts[0]['text']}，{parts[-1]['year']}年{parts[-1]['text']}，"
                f"增減{computed['text']}億元（計算值）")
    else:  # average
        stated = view.get("stated")
        if stated:
            quote += "｜" + stated["quote"]
            text = (f"The report: 「{stated['quote'].rstrip('。')}」. From the table, the mean of {_count(len(parts), True)} "
                    f"years ({listed}) is {computed['text']}億元 a year (computed)" if english else
                    f"報告原文：「{stated['quote'].rstrip('。')}」；依預算表計算，{_count(len(parts), False)}年（{listed}）"
                    f"平均為{computed['text']}億元（計算值）")
        else:
            text = (f"{label}, {span}: the mean of {_count(len(parts), True)} years ({listed}) is {computed['text']}億元 "
                    "a year (computed)" if english else
                    f"{label}{span}{_count(len(parts), False)}年（{listed}）平均為{computed['text']}億元（計算值）")
    sources = [Source(section, title, "", quote)]
    if kind == "average" and view.get("stated"):
        node = kb.nodes_by_path[view["stated"]["section"]]
        sources.append(node_source(kb, node, view["stated"]["quote"]))
    return _fit(finish(text)), sources


def _count(n: int, english: bool) -> str:
    """A small count in words (a count of years is not a figure of the report's)."""
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten") if english \
        else "零一兩三四五六七八九十"
    return words[n] if n < len(words) else ("many" if english else "多")


def _indicator_change(kb: KnowledgeBase, view: dict, english: bool) -> tuple[str, list[Source]]:
    indicator = kb.indicator(view["indicator"])
    first, last = view["parts"]
    computed = view["computed"]
    flag = (lambda c: " (estimate)" if c["year"] in view["estimates"] else "") if english else \
        (lambda c: "（預估值）" if c["year"] in view["estimates"] else "")
    if english:
        text = (f"{indicator.name_en} ({indicator.name}): {first['text']}{flag(first)} in {first['year']}, "
                f"{last['text']}{flag(last)} in {last['year']}; change {computed['text']} {view['unit_en']} (computed)")
    else:
        text = (f"{indicator.name}：{first['year']}年{first['text']}{flag(first)}，{last['year']}年{last['text']}{flag(last)}，"
                f"增減{computed['text']}{view['unit']}（計算值）")
    quote = indicator_header(kb) + "｜" + indicator.printed
    return _fit(finish(text)), [Source(view["source"]["section"], view["source"]["title"], "", quote)]


# ------------------------------------------------------------------------ definitions, agencies
def definition_body(kb: KnowledgeBase, key: str, english: bool) -> tuple[str, list[Source]]:
    """"1Gbps涵蓋率是拿什麼當分母": the table's footnote that defines the indicator."""
    indicator = kb.indicator(key)
    note = kb.nodes_by_path[indicator.definition_path]
    definition = kb.node_sentences(note.id)[0].text
    if english:
        body = f"The report's table note defines {indicator.name_en} ({indicator.name}) as: {definition}"
    else:
        body = f"{indicator.name}的定義（總體指標表註）：{definition}"
    table = kb.nodes_by_path[kb.layout.indicator_table]
    return _fit(body), [node_source(kb, note, definition),
                        Source(section=table.path, title=table.display_title, agency="", quote=indicator.printed)]


def agency_body(kb: KnowledgeBase, axis: int, english: bool) -> tuple[str, list[Source]]:
    """"主軸4的主責機關是誰": the lead agency, in the report's words."""
    a = kb.axes[axis]
    node = kb.nodes_by_path[a.path]
    if english:
        body = f"The lead agency of Axis {a.axis} “{a.name_en}” ({a.name}) is {a.lead_agency}."
    else:
        body = f"主軸{a.axis}「{a.name}」的主責機關是{a.lead_agency}。"
    return body, [Source(section=node.path, title=f"主軸{a.axis} {a.name}", agency=a.lead_agency, quote=a.agency_quote)]


# ------------------------------------------------------------------------ English
# Written in words: a gloss is not a figure of the report's, and the grounding check reads every digit.
UNIT_GLOSSES = (("兆", "兆 = trillion"), ("億", "億 = hundred million"), ("萬", "萬 = ten thousand"), ("元", "元 = NT$"))


def in_english(body: str) -> str:
    """An English reply that quotes the report: English framing, the report's words as printed, and its
    Chinese units glossed (a conversion would be a figure the report does not state)."""
    glosses = [g for unit, g in UNIT_GLOSSES if re.search(rf"\d\s*{unit}", body) or (unit == "元" and "億元" in body)]
    text = f"From the report: {body}"
    if glosses:
        text += f" ({'; '.join(glosses)})"
    return _fit(text)
