"""The reply every channel renders: `Answer`, as specified in DESIGN.md's Answer JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_ANSWER_CHARS = 400


@dataclass
class Source:
    section: str  # outline path, e.g. "伍、主軸1 一、(二) 1."
    title: str
    agency: str
    quote: str  # the report sentence(s) the answer rests on


@dataclass
class Contact:
    """An agency's official website from the curated directory (knowledge/curated/agencies.yaml): not
    report data, and shown as such."""
    agency: str  # as the report writes it
    name: str  # full name (and what it is called today, when reorganised)
    website: str


@dataclass
class Answer:
    query: str
    answered: bool
    intent: str
    answer: str
    sources: list[Source] = field(default_factory=list)
    confidence: float = 0.0
    suggestions: list[str] = field(default_factory=list)
    # Not part of the JSON contract; used by channels and logs.
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lang: str = "zh"
    computed: list = field(default_factory=list)  # figures the bot computed (grounding.Computed), with their parts
    # Optional keys of the JSON, present only when set: the id channels send feedback with (an answer
    # that went through Core.answer has one), and agency websites for contact requests.
    answer_id: str = ""
    contacts: list[Contact] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["confidence"] = round(self.confidence, 3)
        for key in ("figures", "notes", "lang", "computed"):
            data.pop(key)
        if not self.answer_id:
            data.pop("answer_id")
        if not self.contacts:
            data.pop("contacts")
        return data
