"""Scoring a question set (the format of eval/dev.jsonl) with the rule in DESIGN.md."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.curated import load_jsonl

from .answer import MAX_ANSWER_CHARS, Answer
from .session import Session

SMALLTALK = ("greeting", "thanks", "help")


def _squash(text: str) -> str:
    return re.sub(r"[\s,]", "", unicodedata.normalize("NFKC", text).lower())


def is_right(row: dict, answer: Answer) -> bool:
    kind = row.get("kind")
    if kind == "out_of_scope":
        return not answer.answered
    if kind == "greeting":
        return answer.intent in SMALLTALK
    if not answer.answered or len(answer.answer) > MAX_ANSWER_CHARS:
        return False
    text = _squash(answer.answer)
    return all(any(_squash(spelling) in text for spelling in group) for group in row.get("expect", []))


@dataclass
class EvalReport:
    total: int = 0
    answerable: int = 0
    answerable_right: int = 0
    wrong_figure: int = 0  # answered, but without the expected figure
    out_of_scope: int = 0
    refused: int = 0
    greetings: int = 0
    greetings_right: int = 0
    conversations: int = 0  # rows with "turns": their last turn, scored by the same rule (also counted above)
    conversations_right: int = 0
    failures: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.answerable_right / self.answerable if self.answerable else 1.0

    @property
    def wrong_rate(self) -> float:
        return self.wrong_figure / self.answerable if self.answerable else 0.0

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.out_of_scope if self.out_of_scope else 1.0

    @property
    def greeting_rate(self) -> float:
        return self.greetings_right / self.greetings if self.greetings else 1.0

    @property
    def conversation_rate(self) -> float:
        return self.conversations_right / self.conversations if self.conversations else 1.0

    @property
    def score(self) -> float:
        """One number for comparing two knowledge bases: share of all questions right."""
        right = self.answerable_right + self.refused + self.greetings_right
        return right / self.total if self.total else 1.0

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "answerable": self.answerable,
            "answerable_right": self.answerable_right,
            "accuracy": round(self.accuracy, 4),
            "wrong_figure": self.wrong_figure,
            "wrong_figure_rate": round(self.wrong_rate, 4),
            "out_of_scope": self.out_of_scope,
            "refused": self.refused,
            "refusal_rate": round(self.refusal_rate, 4),
            "greetings": self.greetings,
            "greetings_right": self.greetings_right,
            "conversations": self.conversations,
            "conversations_right": self.conversations_right,
            "score": round(self.score, 4),
        }


def load_questions(path: Path) -> list[dict]:
    """A question set in the format of eval/dev.jsonl (single questions, or conversations with "turns"),
    or every *.jsonl file of a folder; ValueError names the file and line."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no *.jsonl question sets in this folder")
    return [row for f in files for row in load_jsonl(f, required=(), turns_ok=True)]


def ask_row(assistant, row: dict) -> Answer:
    """The answer a labelled row is scored on: its question, or a conversation's last turn."""
    if "turns" not in row:
        return assistant.ask(row["q"])
    session = Session()
    for turn in row["turns"][:-1]:
        assistant.ask(turn, session)
    return assistant.ask(row["turns"][-1], session)


def question_text(row: dict) -> str:
    return " → ".join(row["turns"]) if "turns" in row else row["q"]


def evaluate(assistant, rows: list[dict]) -> EvalReport:
    report = EvalReport()
    for row in rows:
        answer = ask_row(assistant, row)
        right = is_right(row, answer)
        kind = row.get("kind")
        report.total += 1
        if "turns" in row:
            report.conversations += 1
            report.conversations_right += right
        if kind == "out_of_scope":
            report.out_of_scope += 1
            report.refused += right
        elif kind == "greeting":
            report.greetings += 1
            report.greetings_right += right
        else:
            report.answerable += 1
            report.answerable_right += right
            if answer.answered and not right:
                report.wrong_figure += 1
        if not right:
            report.failures.append({"id": row.get("id"), "q": question_text(row), "kind": kind, "expect": row.get("expect"),
                                    "intent": answer.intent, "answered": answer.answered, "answer": answer.answer})
    return report
