"""Stage 1b — follow-ups: read a message in the context of the conversation before it.

"那2019年呢？", "隔年呢", "那前一年呢", "那主軸3呢", "那主軸1 same year 呢？", "哪個部會負責？",
"它是什麼時候上線的？", "這個計畫培育了多少人？", "那實際排第幾？" name too little to stand alone.
`resolve` returns the question as it is meant — the previous question's words carried along as
context (they weigh less; the new words lead), its years moved to the year asked or next to it, its
table, axis, indicator and "which was most" kept unless the new message names others — and the rest
of the pipeline answers that resolved question like any other.
"""

from __future__ import annotations

import re

from intents.pipeline import Understander, Understanding
from intents.shape import ACTUAL, NEXT_YEAR, PREVIOUS_YEAR, TARGET

RELATIVE_YEAR = re.compile(f"(?:{NEXT_YEAR.pattern}|{PREVIOUS_YEAR.pattern})")
POINTS_BACK = re.compile(r"它|其|該(?:計畫|主軸|方案|項目|平臺|平台)|這個|這項|那個|\b(?:it|its|that|this|they|them|their)\b")

from .session import Session

ANSWERED_INTENTS = ("fact", "faq", "stat", "clarify")  # a "did you mean" still knows what was asked about
NEW_TOPIC_CARRY = 0.3  # what a carried word counts when the new message names its own topic
SHORT_CONCEPTS = 2  # a message naming at most this many things …
SHORT_TEXT = 20  # … in at most this many characters reads as a fragment of the conversation


def resolve(u: Understanding, session: Session, understander: Understander, names_enough) -> Understanding:
    """`u` read in the context of `session`. `names_enough(u)` says whether a question names enough to
    be searched on its own."""
    if session.intent not in ANSWERED_INTENTS or session.expired():
        return u
    e = u.entities
    relative = _relative_year(u, session)
    if relative is not None:
        e.years = [relative]
    short = len(u.concepts) <= SHORT_CONCEPTS and len(u.text) <= SHORT_TEXT
    vague = not names_enough(u) and not (e.indicator or e.axis)
    if not (e.follow_up or vague or relative is not None or (short and (e.years or e.axis) and not e.indicator)):
        return u
    # A message that names its own topic ("MyData 呢？") leads and the previous words only steer; one that
    # names little ("它是什麼時候上線的？") asks about the previous topic, whose words count in full.
    resolved = carry(session.text, u, understander, carry_weight(u, names_enough))
    if not e.indicator and e.axis is None and (session.table == "indicators" or resolved.entities.indicator):
        # "那偏鄉 same year 呢？": a word only one indicator's name has switches the indicator.
        other = understander.entities.indicator_by_words(u.text)
        if other:
            e.indicator = resolved.entities.indicator = other
    if session.table:
        _keep_table(resolved, u, session)
    elif e.ask == "agency" and e.axis is None and session.axis:
        resolved.entities.axis = session.axis
    return resolved


def carry_weight(u: Understanding, names_enough) -> float:
    """What a carried word counts: a message naming its own topic ("MyData 呢？") leads and the previous
    words only steer; one that names little or points back ("它", "這個計畫") asks about the previous topic."""
    return NEW_TOPIC_CARRY if names_enough(u) and not POINTS_BACK.search(u.text) else 1.0


def carry(previous: str, u: Understanding, understander: Understander, weight: float = 1.0) -> Understanding:
    """`u` read with the words of `previous` as context, counting `weight` of a new word each."""
    merged = understander.understand(f"{previous} {u.text}")
    merged.carried_weight = weight
    new = {c.typed for c in u.concepts}
    # "那實際排第幾？" after a target question: the target is no longer asked, and "實際" is wording.
    contrast = [TARGET, ACTUAL] if ACTUAL.search(u.text) else [ACTUAL, TARGET] if TARGET.search(u.text) else None
    kept = []
    for concept in merged.concepts:
        concept.carried = concept.typed not in new
        if contrast is not None and (contrast[0].search(concept.typed) if concept.carried
                                     else contrast[1].fullmatch(concept.typed)):
            # Neither matches a FAQ phrasing nor a passage any more.
            merged.corrected = merged.corrected.replace(concept.typed, " ")
            merged.canonical = merged.canonical.replace(concept.typed, " ")
            continue
        if (concept.carried and re.fullmatch(r"\d+年?度?", concept.typed)) or RELATIVE_YEAR.fullmatch(concept.typed):
            continue  # years are asked through the entities: the previous year is not a topic word, nor "隔年"
        kept.append(concept)
    merged.concepts = kept
    e, m = u.entities, merged.entities
    # What the new message names wins over what the previous one did ("那主軸3呢" after 主軸2).
    m.axis = e.axis if e.axis is not None else m.axis
    m.indicator = e.indicator or m.indicator
    m.places = e.places or m.places
    m.years = e.years or m.years
    m.year_range = e.year_range if e.years else m.year_range
    m.ask = e.ask or m.ask
    m.unit = e.unit if e.ask else m.unit
    m.superlative = e.superlative or m.superlative
    m.follow_up = True
    return merged


def _keep_table(resolved: Understanding, u: Understanding, session: Session) -> None:
    """A table follow-up keeps the table, axis or indicator, and "which was most", unless the new
    message names another."""
    e, r = u.entities, resolved.entities
    if e.indicator or (e.budget and not session.table == "budget"):
        return
    if session.table == "indicators" and e.axis is None:
        r.indicator = session.indicator
    else:
        r.budget = True
        r.indicator = None
        r.axis = e.axis if e.axis is not None else (None if session.superlative else session.axis)
        r.total = e.total or (session.total and r.axis is None)
        r.superlative = e.superlative or (session.superlative if e.axis is None else None)
    r.years = e.years or list(session.years)


def _relative_year(u: Understanding, session: Session) -> int | None:
    if not session.years:
        return None
    if NEXT_YEAR.search(u.text):
        return max(session.years) + 1
    if PREVIOUS_YEAR.search(u.text):
        return min(session.years) - 1
    return None


def remember(session: Session, resolved: Understanding, intent: str, *, node_id: int | None,
             request=None, years: list[int] | None = None, when: float) -> None:
    """Keep what the answered question was about for the next message."""
    e = resolved.entities
    session.intent = intent
    session.text = resolved.text
    session.years = list(years if years else e.years)
    session.ask = e.ask
    session.node_id = node_id
    session.superlative = e.superlative
    if request is not None:
        session.table, session.axis, session.indicator = request.table, request.axis, request.indicator
        session.view = request.view
        session.total = bool(e.total and request.axis is None)
    else:
        session.table, session.axis, session.indicator, session.view, session.total = None, e.axis, None, None, False
    session.updated = when
