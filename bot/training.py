"""Training the ranker and answer decision, and judging them on question sets they have not seen.

For every labelled question (knowledge/curated/questions/*.jsonl, one file per independent author, plus
what admins taught), the pipeline gathers its candidates and their features; a candidate's label is
whether the reply it gives states every figure the question expects (DESIGN's scoring rule).
Out-of-scope questions label every candidate 0.

Two models are fitted (scikit-learn, deterministic): the candidate model, a logistic regression on
the candidates (calibrated, and able to express what the hand-set scores multiplied, as a sum of logs);
and the decision model, boosted trees on each question's ranking as a candidate model that never saw
the question's set produced it. The answer and clarify thresholds are chosen on the decision model's out-of-fold probabilities so
that wrong figures stay under `MAX_WRONG` of the answerable questions.

`cross_validate` is `digibot eval --cv`: each set is answered, conversations included, by a ranker
built from all the other sets only (with its own out-of-fold thresholds).

scikit-learn is imported here only: answering uses the stored numbers (bot/ranker.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .evaluate import EvalReport, evaluate, is_right
from .features import DECISION_FEATURES, FEATURES, INDEX, decision_row
from .ranker import Logistic, Ranker, Thresholds, Trees
from .session import Session

log = logging.getLogger(__name__)

MAX_WRONG = 0.01  # wrong figures allowed among answerable questions, on held-out sets
REGULARISATION = 1.0  # scikit-learn's C (inverse L2 strength) on standardised features: the candidate model
# The decision model: boosted trees (one row per question; the interactions matter — a strong rival
# means little when both state the same figure), kept small and deterministic.
DECISION_TREES = 200
DECISION_DEPTH = 4
DECISION_LEARNING_RATE = 0.05
DECISION_MIN_LEAF = 40  # questions per leaf at least (scikit-learn's default 20 fitted noise: 15 fewer right out of fold)
TRAINING_ROUNDS = 2  # see train()
THRESHOLD_RESAMPLES = 201  # bootstrap resamples the answer threshold is the median of
CLARIFY_WINDOW = 40  # questions the did-you-mean precision is judged over, just above a threshold
MIN_CLARIFY_PRECISION = 0.5  # a "did you mean" is offered where at least half would have been right
# The bot/ code features and labels depend on (with intents/ and the KB's inputs, in the fingerprint).
CODE = ("assistant.py", "candidates.py", "features.py", "followup.py", "decide.py", "reply.py", "compose.py",
        "tables.py", "grounding.py", "training.py", "ranker.py")


@dataclass
class Collected:
    """Features and labels of labelled questions, one row per candidate, grouped by question."""

    rows: np.ndarray
    labels: np.ndarray  # 1: the candidate's reply states every expected figure
    question: np.ndarray  # the labelled question each candidate belongs to (non-decreasing)
    vetoed: np.ndarray  # never stated, whatever the model says (decide.VETOES)
    nodes: np.ndarray  # the report node each candidate answers from (-1: none)
    figures: list  # per candidate: the numbers (other than years) its source states
    sets: list[str]  # per question: the set (file) it comes from
    answerable: list[bool]  # per question: fact/stat (else out of scope)
    ids: list[str] = field(default_factory=list)  # per question: its id in its set

    def subset(self, keep: set[str]) -> "Collected":
        questions = [q for q, s in enumerate(self.sets) if s in keep]
        renumber = {q: n for n, q in enumerate(questions)}
        mask = np.isin(self.question, questions)
        return Collected(self.rows[mask], self.labels[mask], np.array([renumber[q] for q in self.question[mask]],
                                                                      dtype=int),
                         self.vetoed[mask], self.nodes[mask], [f for f, m in zip(self.figures, mask) if m],
                         [self.sets[q] for q in questions],
                         [self.answerable[q] for q in questions], [self.ids[q] for q in questions])


def fingerprint(rows: list[dict], kb_fingerprint: str) -> str:
    """What a trained ranker depends on: the labelled questions, the KB's inputs and the feature code."""
    digest = hashlib.sha256(f"features {' '.join(FEATURES)}\nkb {kb_fingerprint}\n".encode())
    for row in rows:
        digest.update(repr(sorted((k, str(v)) for k, v in row.items())).encode())
    here = Path(__file__).resolve().parent
    for path in [here / name for name in CODE] + sorted((here.parent / "intents").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------- collecting
def collect(assistant, rows: list[dict], context_ranker: Ranker) -> Collected:
    """Candidates, features and labels of each labelled question. Conversations' earlier turns are
    answered with `context_ranker` (they decide what the last turn follows up)."""
    from .decide import VETOES

    veto_cols = [INDEX[v] for v in VETOES]
    out: dict[str, list] = {k: [] for k in ("rows", "labels", "question", "vetoed", "nodes", "figures", "sets",
                                             "answerable", "ids")}
    original, assistant.ranker = assistant.ranker, context_ranker
    try:
        for row in rows:
            kind = row.get("kind")
            if kind not in ("fact", "stat", "out_of_scope"):
                continue
            session = Session()
            turns = row["turns"] if "turns" in row else [row["q"]]
            for turn in turns[:-1]:
                assistant.ask(turn, session)
            route = assistant.route(turns[-1], session)
            if route.thought is None:
                continue  # answered by a rule or part by part, not by ranking
            u, thought = route.u, route.thought
            q = len(out["sets"])
            out["sets"].append(row.get("set", ""))
            out["answerable"].append(kind != "out_of_scope")
            out["ids"].append(str(row.get("id", q)))
            for candidate, features in zip(thought.gathered.candidates, thought.rows):
                out["rows"].append(features)
                out["labels"].append(int(kind != "out_of_scope" and _states(assistant, u, candidate, row)))
                out["question"].append(q)
                out["vetoed"].append(bool(features[veto_cols].any()))
                out["nodes"].append(candidate.node_id if candidate.node_id is not None else -1)
                out["figures"].append(candidate.figures)
    finally:
        assistant.ranker = original
    return Collected(np.array(out["rows"]).reshape(-1, len(FEATURES)), np.array(out["labels"], dtype=int),
                     np.array(out["question"], dtype=int), np.array(out["vetoed"], dtype=bool),
                     np.array(out["nodes"], dtype=int), out["figures"], out["sets"], out["answerable"], out["ids"])


def _states(assistant, u, candidate, row: dict) -> bool:
    """Whether the reply this candidate gives states every figure `row` expects (DESIGN's rule)."""
    from .answer import Answer

    if candidate.kind == "table" and not candidate.stat.cells and not candidate.stat.empty_reason:
        return False
    try:
        body, _, _ = assistant.replies.body(u, candidate)
    except Exception:  # a candidate that cannot be composed cannot be right
        log.exception("composing a candidate failed for %r", u.text)
        return False
    return is_right(row, Answer(query="", answered=True, intent="fact", answer=body))


# ---------------------------------------------------------------------- fitting
def fit(rows: np.ndarray, labels: np.ndarray, strength: float = REGULARISATION) -> Logistic:
    """Logistic regression on standardised features (deterministic: lbfgs from zero); `strength` is C."""
    from sklearn.linear_model import LogisticRegression

    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale == 0] = 1.0
    if labels.min() == labels.max():  # nothing to tell apart: a constant model
        return Logistic([0.0] * rows.shape[1], 6.0 if labels.min() else -6.0, mean.tolist(), scale.tolist())
    model = LogisticRegression(C=strength, max_iter=5000)
    model.fit((rows - mean) / scale, labels)
    return Logistic(model.coef_[0].tolist(), float(model.intercept_[0]), mean.tolist(), scale.tolist())


def fit_trees(rows: np.ndarray, labels: np.ndarray) -> Trees:
    """Boosted trees (scikit-learn's HistGradientBoostingClassifier, fixed seed, no early stopping) as
    complete binary trees for numpy (bot/ranker.Trees)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    if labels.min() == labels.max():
        return Trees(DECISION_DEPTH, 6.0 if labels.min() else -6.0, [], [], [])
    model = HistGradientBoostingClassifier(max_iter=DECISION_TREES, max_depth=DECISION_DEPTH,
                                           learning_rate=DECISION_LEARNING_RATE, min_samples_leaf=DECISION_MIN_LEAF,
                                           early_stopping=False, random_state=0)
    # One thread: the data are small, and OpenMP threads spinning for a core another process holds
    # (a busy CI machine, a replica answering) make the fit many times slower.
    with threadpool_limits(limits=1):
        model.fit(rows, labels)
    internal = 2 ** DECISION_DEPTH - 1
    features, thresholds, leaves = [], [], []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        f, t, v = [0] * internal, [float("inf")] * internal, [0.0] * (internal + 1)

        def place(node: int, at: int, level: int) -> None:
            if level == DECISION_DEPTH:
                v[at - internal] = float(nodes[node]["value"])
                return
            if nodes[node]["is_leaf"]:  # an early leaf: every row goes left, down to the same value
                place(node, 2 * at + 1, level + 1)
                place(node, 2 * at + 2, level + 1)
                return
            f[at], t[at] = int(nodes[node]["feature_idx"]), float(nodes[node]["num_threshold"])
            place(int(nodes[node]["left"]), 2 * at + 1, level + 1)
            place(int(nodes[node]["right"]), 2 * at + 2, level + 1)

        place(0, 0, 0)
        features.append(f)
        thresholds.append(t)
        leaves.append(v)
    return Trees(DECISION_DEPTH, float(np.ravel(model._baseline_prediction)[0]), features, thresholds, leaves)


def candidate_out_of_fold(data: Collected) -> np.ndarray:
    """Each candidate's probability from a candidate model trained on the other sets (leave one set out)."""
    out = np.zeros(len(data.labels))
    set_of = np.array(data.sets)[data.question] if len(data.question) else np.array([])
    for name in sorted(set(data.sets)):
        held = set_of == name
        if held.any() and not held.all():
            out[held] = fit(data.rows[~held], data.labels[~held]).probabilities(data.rows[held])
    return out


def decision_data(data: Collected, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the decision model's input from its candidates' probabilities, and whether stating
    its best candidate is right (a question with no candidate to state has an all-zero input)."""
    rows = np.zeros((len(data.sets), len(DECISION_FEATURES)))
    right = np.zeros(len(data.sets), dtype=int)
    starts = np.searchsorted(data.question, np.arange(len(data.sets) + 1))
    for q in range(len(data.sets)):
        a, b = starts[q], starts[q + 1]
        p, allowed = probabilities[a:b], ~data.vetoed[a:b]
        order = sorted(range(b - a), key=lambda i: (not allowed[i], -p[i]))
        permitted = [i for i in order if allowed[i]]
        if not permitted:
            continue
        first = permitted[0]
        rows[q] = decision_row(data.rows[a:b], p, allowed, order, data.figures[a:b])
        right[q] = int(data.answerable[q] and data.labels[a + first] == 1)
    return rows, right


def decision_out_of_fold(data: Collected, rows: np.ndarray, right: np.ndarray) -> np.ndarray:
    sets = np.array(data.sets)
    out = np.zeros(len(rows))
    for name in sorted(set(data.sets)):
        held = sets == name
        if held.any() and not held.all():
            out[held] = fit_trees(rows[~held], right[~held]).probabilities(rows[held])
    return out


def _answer_threshold(confidence: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> float:
    """The lowest confidence to state an answer at that gets the most questions right (stated and right,
    or out of scope and not stated) with wrong figures ≤ MAX_WRONG of the answerable questions."""
    order = np.argsort(-confidence, kind="stable")
    c, r, a = confidence[order], right[order], answerable[order]
    n_answerable = max(1, int(a.sum()))
    stated_right = np.cumsum(r)
    stated_wrong = np.cumsum(~r & a)
    oos_stated = np.cumsum(~a)
    last = np.r_[c[1:] != c[:-1], True]  # stating everything ≥ c[i] states up to the last of equal values
    good = stated_right + (int((~a).sum()) - oos_stated)
    ok = last & (stated_wrong <= MAX_WRONG * n_answerable)
    if not ok.any():
        return 1.0
    best = np.flatnonzero(ok)[np.argmax(good[ok])]
    none_good = int((~a).sum())  # stating nothing
    return float(c[best]) if good[best] > none_good else 1.0


def choose_thresholds(confidence: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> tuple[Thresholds, dict]:
    """The answer threshold: the median over THRESHOLD_RESAMPLES bootstrap resamples of the questions of
    the threshold that gets the most right with wrong figures ≤ MAX_WRONG of the answerable ones (one
    borderline wrong figure moves the threshold of a single sample a long way; the median does not
    move with it). The clarify threshold below it is where a "did you mean" would be right at least
    half the time."""
    confidence = np.asarray(confidence, dtype=float)
    right = np.asarray(right).astype(bool)
    answerable = np.asarray(answerable, dtype=bool)
    rng = np.random.default_rng(0)
    picks = [_answer_threshold(confidence[i], right[i], answerable[i])
             for i in (rng.integers(0, len(confidence), len(confidence)) for _ in range(THRESHOLD_RESAMPLES))]
    chosen = float(np.median(picks)) if len(confidence) else 1.0
    stated = confidence >= chosen
    figures = {"right": int((stated & right).sum() + (~stated & ~answerable).sum()),
               "wrong": int((stated & ~right & answerable).sum()), "questions": len(confidence),
               "answerable": max(1, int(answerable.sum())), "answerable_right": int((stated & right).sum()),
               "out_of_scope_refused": int((~stated & ~answerable).sum())}
    # Going down from the answer threshold, a "did you mean" is offered as long as the CLARIFY_WINDOW
    # questions just above a confidence would have been right at least MIN_CLARIFY_PRECISION of the time
    # (judged locally: the many sure ones near the answer threshold must not carry a long tail of
    # questions the report does not answer).
    below = np.sort(confidence[confidence < chosen])[::-1]
    hits = right[confidence < chosen][np.argsort(-confidence[confidence < chosen], kind="stable")]
    clarify = chosen
    for i in range(len(below)):
        window = hits[max(0, i + 1 - CLARIFY_WINDOW): i + 1]
        if len(window) >= min(CLARIFY_WINDOW // 2, len(below)) and window.mean() < MIN_CLARIFY_PRECISION:
            break
        clarify = float(below[i])
    return Thresholds(answer=chosen, clarify=min(clarify, chosen)), figures


def build(data: Collected, fingerprint_: str = "") -> Ranker:
    """Both models and their thresholds from collected questions. The decision model learns from the
    candidate probabilities each set got from a model that never saw it; its thresholds come from the
    decision probabilities each set got the same way."""
    rows, right = decision_data(data, candidate_out_of_fold(data))
    thresholds, figures = choose_thresholds(decision_out_of_fold(data, rows, right), right, np.array(data.answerable))
    trained = {"questions": len(data.sets), "candidates": int(len(data.labels)), "positives": int(data.labels.sum()),
               "sets": sorted(set(data.sets)), "out_of_fold": figures}
    return Ranker(list(FEATURES), fit(data.rows, data.labels), list(DECISION_FEATURES), fit_trees(rows, right),
                  thresholds, fingerprint_, trained)


def train(assistant, rows: list[dict], fingerprint_: str, context_ranker: Ranker | None = None) -> Ranker:
    """The ranker for `rows`. Conversations' earlier turns are answered with `context_ranker`; without
    one, a first ranker built from the single questions stands in."""
    started = time.perf_counter()
    if context_ranker is None:
        context_ranker = build(collect(assistant, [r for r in rows if "turns" not in r], prior()))
    # Twice: the conversations' earlier turns (and which reading of a follow-up is answered) depend on the
    # ranker, so the second round reads them with a ranker trained on these very features. One round from
    # an older ranker left ±2% of the out-of-fold answers to chance.
    for _ in range(TRAINING_ROUNDS - 1):
        context_ranker = build(collect(assistant, rows, context_ranker))
    ranker = build(collect(assistant, rows, context_ranker), fingerprint_)
    ranker.trained["seconds"] = round(time.perf_counter() - started, 1)
    return ranker


def prior() -> Ranker:
    """A stand-in before any training: candidates ordered by how much of the question their sentence,
    title, table or FAQ phrasing covers; the best is always stated. Only used while training."""
    covering = ("p_in_sentence", "p_in_title", "t_explained", "f_similarity")
    n = len(FEATURES)
    return Ranker(list(FEATURES), Logistic([float(f in covering) for f in FEATURES], 0.0, [0.0] * n, [1.0] * n),
                  list(DECISION_FEATURES), Trees(DECISION_DEPTH, 6.0, [], [], []), Thresholds(0.5, 0.5))


# ---------------------------------------------------------------------- honest evaluation
@dataclass
class Fold:
    name: str
    report: EvalReport
    thresholds: Thresholds


@dataclass
class CrossValidation:
    folds: list[Fold] = field(default_factory=list)

    def mean(self, attribute: str) -> float:
        values = [getattr(f.report, attribute) for f in self.folds]
        return sum(values) / len(values) if values else 0.0


def cross_validate(assistant, rows: list[dict]) -> CrossValidation:
    """Leave one labelled set out: each set is answered by a ranker built on all the others only."""
    names = sorted({r.get("set", "") for r in rows})
    data = collect(assistant, rows, assistant.ranker or prior())
    result = CrossValidation()
    original = assistant.ranker
    try:
        for name in names:
            assistant.ranker = build(data.subset(set(names) - {name}))
            held = [r for r in rows if r.get("set", "") == name]
            result.folds.append(Fold(name, evaluate(assistant, held), assistant.ranker.thresholds))
    finally:
        assistant.ranker = original
    return result
