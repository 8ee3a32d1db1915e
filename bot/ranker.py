"""Stage 4 — the learned ranker and answer decision, as stored numbers.

Two models, trained by bot/training.py on the labelled question sets (scikit-learn) and stored as plain
numbers so answering needs only numpy:

- the candidate model, a logistic regression: a candidate's features (bot/features.py FEATURES) → the
  probability that its reply states every figure the question asks for; candidates are ranked by it;
- the decision model, a small ensemble of boosted trees: what the ranking looks like for the question (the best candidate's probability
  and features, the runner-up, how many candidates are likely; DECISION_FEATURES) → the probability
  that stating the best candidate is right. Its answer and clarify thresholds were chosen on held-out
  sets so that wrong figures stay rare.

The model lives in the knowledge base (meta "ranker"); knowledge/learned/ranker.json is the committed
copy that builds reuse while the labelled sets, the KB's inputs and the feature code are unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .features import DECISION_FEATURES, FEATURES

LEARNED_DIR = Path(__file__).resolve().parents[1] / "knowledge" / "learned"
MODEL_FILE = LEARNED_DIR / "ranker.json"


class ModelError(ValueError):
    """A stored model that does not fit this code (other features) or is not a model at all."""


@dataclass
class Thresholds:
    answer: float  # the best candidate is stated when the decision model's probability reaches this …
    clarify: float  # … offered as "did you mean" when it reaches this, else the reply is a refusal


@dataclass
class Logistic:
    """p = σ(((x − mean) / scale) · weights + bias)."""

    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]

    def __post_init__(self):
        w = np.asarray(self.weights, dtype=float) / np.asarray(self.scale, dtype=float)
        self._w = w  # the standardisation folded in: p = σ(x·w + b)
        self._b = float(self.bias) - float(np.dot(w, np.asarray(self.mean, dtype=float)))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        z = rows @ self._w + self._b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "mean": self.mean, "scale": self.scale}


@dataclass
class Trees:
    """A gradient-boosted tree ensemble (scikit-learn's HistGradientBoostingClassifier) stored as complete
    binary trees of `depth` levels in heap order: p = σ(baseline + Σ leaf values). A node sends a row
    right when its feature is above the node's threshold; a leaf reached early fills the levels below it."""

    depth: int
    baseline: float
    features: list[list[int]]  # per tree: each internal node's feature
    thresholds: list[list[float]]
    leaves: list[list[float]]

    def __post_init__(self):
        self._f = np.asarray(self.features, dtype=int)
        self._t = np.asarray(self.thresholds, dtype=float)
        self._l = np.asarray(self.leaves, dtype=float)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows) or not len(self._f):
            return np.full(len(rows), 1.0 / (1.0 + np.exp(-self.baseline)))
        trees = np.arange(len(self._f))[None, :]
        at = np.zeros((len(rows), len(self._f)), dtype=int)
        row = np.arange(len(rows))[:, None]
        for _ in range(self.depth):
            at = 2 * at + 1 + (rows[row, self._f[trees, at]] > self._t[trees, at])
        raw = self.baseline + self._l[trees, at - (2 ** self.depth - 1)].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-np.clip(raw, -40, 40)))

    def to_dict(self) -> dict:
        return {"depth": self.depth, "baseline": self.baseline, "features": self.features,
                "thresholds": self.thresholds, "leaves": self.leaves}


@dataclass
class Ranker:
    features: list[str]
    candidate: Logistic
    decision_features: list[str]
    decision: Trees
    thresholds: Thresholds
    fingerprint: str = ""  # of what it was trained on (labelled sets, KB inputs, feature code)
    trained: dict = field(default_factory=dict)  # how: questions, candidates, out-of-fold figures

    def __post_init__(self):
        if isinstance(self.candidate, dict):
            self.candidate = Logistic(**self.candidate)
        if isinstance(self.decision, dict):
            self.decision = Trees(**self.decision)
        if isinstance(self.thresholds, dict):
            self.thresholds = Thresholds(**self.thresholds)
        if list(self.features) != list(FEATURES) or list(self.decision_features) != list(DECISION_FEATURES):
            raise ModelError("the stored ranker was trained on other features; run `digibot train`")

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        return self.candidate.probabilities(rows)

    def confidence(self, decision_row: np.ndarray) -> float:
        return float(self.decision.probabilities(decision_row[None, :])[0])

    def to_json(self) -> str:
        data = asdict(self)
        data["candidate"] = self.candidate.to_dict()
        data["decision"] = self.decision.to_dict()
        return json.dumps(data, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Ranker":
        try:
            return cls(**json.loads(text))
        except ModelError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelError(f"not a ranker model: {exc}") from None


def load_committed() -> Ranker | None:
    """knowledge/learned/ranker.json, or None when there is none or it no longer fits the code."""
    try:
        return Ranker.from_json(MODEL_FILE.read_text(encoding="utf-8"))
    except (OSError, ModelError):
        return None
