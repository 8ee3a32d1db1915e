"""Stage 5 — the decision: state the best candidate, offer "did you mean", or say the report does not
cover it.

The ranker's probabilities decide, against thresholds chosen on held-out question sets so that wrong
figures stay rare (bot/training.py). A few candidates are never stated whatever their probability:
`VETOES` lists the features that mark a reply that would be wrong by construction (a place the
passage does not name, a year outside the report the sentence does not state, a FAQ written for
other years or numbers, a table asked what it cannot say, a reply to the previous question that holds
none of the words a new message names).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .candidates import Candidate
from .features import INDEX, decision_row
from .ranker import Ranker

TOPIC_COVERED = 0.999  # share of a bare topic's words the best candidate must hold for a "did you mean"
TOPIC_WEIGHT = 1.5  # … and the least concept weight it must have ("年" alone names nothing)

# A candidate with any of these features set is never the reply.
VETOES = ("p_place_missing", "p_outside_year_missing", "f_misfit", "f_place_missing", "t_ask_mismatch", "t_place",
          "x_new_unfound")


@dataclass
class Decision:
    action: str  # "answer", "clarify" or "refuse"
    best: Candidate | None  # the most probable candidate that may be stated (None: none may)
    ranked: list[Candidate] = field(default_factory=list)  # every candidate, most probable first
    confidence: float = 0.0  # the decision model's probability that stating `best` is right
    row: np.ndarray | None = None  # the decision model's input (for training)


def vetoed(rows: np.ndarray) -> np.ndarray:
    return rows[:, [INDEX[v] for v in VETOES]].any(axis=1) if len(rows) else np.zeros(0, bool)


def ranking(candidates: list[Candidate], rows: np.ndarray, probabilities: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Candidate indices, most probable first (vetoed ones last), and which may be stated."""
    allowed = ~vetoed(rows)
    order = sorted(range(len(candidates)), key=lambda i: (not allowed[i], -probabilities[i]))
    return order, allowed


def decide(candidates: list[Candidate], rows: np.ndarray, ranker: Ranker) -> Decision:
    probabilities = ranker.probabilities(rows)
    for candidate, p, row in zip(candidates, probabilities, rows):
        candidate.p = float(p)
        candidate.features = row
    order, allowed = ranking(candidates, rows, probabilities)
    ranked = [candidates[i] for i in order]
    permitted = [i for i in order if allowed[i]]
    if not permitted:
        return Decision("refuse", None, ranked)
    best = candidates[permitted[0]]
    row = decision_row(rows, probabilities, allowed, order, [c.figures for c in candidates])
    confidence = ranker.confidence(row)
    t = ranker.thresholds
    action = "answer" if confidence >= t.answer else "clarify" if confidence >= t.clarify else "refuse"
    if action == "refuse" and names_a_covered_topic(best.features):
        action = "clarify"  # "人才": the report has much about it; "not in the report" would be untrue
    return Decision(action, best, ranked, confidence, row)


def names_a_covered_topic(row: np.ndarray) -> bool:
    """A message that only names a topic (no figure, year, place or procedure asked) whose every word the
    best candidate holds, and that the report knows: the reply is "did you mean", not a refusal."""
    f = {name: row[INDEX[name]] for name in (
        "q_unknown_nouns", "q_asks_figure", "q_asks_agency", "q_years", "q_places", "q_procedure", "q_log_weight",
        "is_passage", "is_faq", "p_in_sentence", "p_in_title", "p_in_context", "f_cover")}
    if any(f[k] for k in ("q_unknown_nouns", "q_asks_figure", "q_asks_agency", "q_years", "q_places", "q_procedure")):
        return False
    if f["q_log_weight"] < np.log1p(TOPIC_WEIGHT):
        return False
    covered = f["p_in_sentence"] + f["p_in_title"] + f["p_in_context"] if f["is_passage"] else \
        f["f_cover"] if f["is_faq"] else 0.0
    return covered >= TOPIC_COVERED
