"""Turning an `Answer` into a Telegram reply: HTML, a source line, buttons; long text split safely.

Everything a user or the report wrote is escaped before it goes into HTML. Button payloads
(suggested questions, quotes) stay on the server in a bounded `ButtonStore`; the button carries
only a short key, so callback data stays far under Telegram's 64 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections import OrderedDict
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.answer import Answer, Source

MAX_MESSAGE = 4096  # Telegram's limit on a message's visible text (UTF-16 code units)
MAX_BUTTON_LABEL = 60  # Telegram cuts long labels anyway; keep them readable
MAX_SOURCES_SHOWN = 2

escape = html.escape


class ButtonStore:
    """Bounded server-side store for what a button stands for; keys are short content hashes,
    so the same suggestion shown twice shares one entry."""

    def __init__(self, capacity: int = 5000):
        self.capacity = capacity
        self._items: OrderedDict[str, Any] = OrderedDict()

    def put(self, payload: Any) -> str:
        digest = hashlib.blake2b(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode(), digest_size=6)
        key = base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
        self._items[key] = payload
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Any | None:
        payload = self._items.get(key)
        if payload is not None:
            self._items.move_to_end(key)
        return payload

    async def fetch(self, key: str) -> Any | None:
        """`get`, with the interface of bot/shared.SharedButtons (replicas keep payloads in Redis)."""
        return self.get(key)

    async def flush(self) -> None:
        """Nothing to write: the payloads are here (SharedButtons writes them to Redis)."""

    def __len__(self) -> int:
        return len(self._items)


# ------------------------------------------------------------------------------ answers
def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_BUTTON_LABEL else text[: MAX_BUTTON_LABEL - 1] + "…"


def source_line(source: Source, lang: str = "zh") -> str:
    """One compact line: outline path and title · agency."""
    where = " ".join(part for part in (source.section.strip(), source.title.strip()) if part)
    if source.agency:
        where += f" · {source.agency}"
    label = "Source" if lang == "en" else "來源"
    return f"<i>{label}：{escape(where)}</i>"


def contacts_html(answer: Answer) -> str:
    """Agency websites from the curated directory, labelled as not being report data."""
    if not answer.contacts:
        return ""
    head = "🔗 Official websites (agency directory, not the report):" if answer.lang == "en" \
        else "🔗 機關官方網站（取自機關名錄，非報告內容）："
    lines = [f'{escape(c.name)}：<a href="{escape(c.website, quote=True)}">{escape(c.website)}</a>' for c in answer.contacts]
    return head + "\n" + "\n".join(lines)


def answer_html(answer: Answer) -> str:
    """The reply body (escaped) and, for answers from the report, where it comes from."""
    parts = [escape(answer.answer.strip() or "…")]
    if answer.answered and answer.sources:
        seen: list[str] = []
        for source in answer.sources:
            line = source_line(source, answer.lang)
            if line not in seen:
                seen.append(line)
        parts.append("\n".join(seen[:MAX_SOURCES_SHOWN]))
    if answer.contacts:
        parts.append(contacts_html(answer))
    return "\n\n".join(parts)


def question_button(store: ButtonStore, question: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(_label(question), callback_data=f"q:{store.put({'q': question})}")


# Feedback buttons: callback data "fb:<u|d|n>:<answer id>" (u 👍, d 👎, n "none of these"); ✓ marks the vote.
FEEDBACK_PREFIX = "fb:"
NO_FEEDBACK_INTENTS = ("greeting", "thanks", "help", "feedback", "clarify")  # clarify: "none of these" instead
VOTED = "✓ "


def feedback_labels(lang: str) -> dict[str, str]:
    if lang == "en":
        return {"u": "👍 Helpful", "d": "👎 Wrong", "n": "🔄 None of these — I'll rephrase"}
    return {"u": "👍 有幫助", "d": "👎 不正確", "n": "🔄 都不是，我換個說法"}


def feedback_row(answer_id: str, lang: str, vote: str | None = None) -> list[InlineKeyboardButton]:
    labels = feedback_labels(lang)
    return [InlineKeyboardButton((VOTED if vote == v else "") + labels[k], callback_data=f"{FEEDBACK_PREFIX}{k}:{answer_id}")
            for k, v in (("u", "up"), ("d", "down"))]


def with_vote(markup: InlineKeyboardMarkup | None, vote: str | None,
              tally: dict[str, int] | None = None) -> InlineKeyboardMarkup | None:
    """The same keyboard with the 👍/👎 row showing `vote` (None: no vote), or, in a group where many
    vote on one answer, each button's count (`tally`)."""
    if markup is None:
        return None
    rows = []
    for row in markup.inline_keyboard:
        new = []
        for button in row:
            data = button.callback_data if isinstance(button.callback_data, str) else ""
            if data.startswith((FEEDBACK_PREFIX + "u:", FEEDBACK_PREFIX + "d:")):
                which = "up" if data[3] == "u" else "down"
                text = re.sub(r" \d+$", "", button.text.removeprefix(VOTED))
                if tally is not None:
                    text += f" {tally[which]}" if tally.get(which) else ""
                elif which == vote:
                    text = VOTED + text
                button = InlineKeyboardButton(text, callback_data=data)
            new.append(button)
        rows.append(new)
    return InlineKeyboardMarkup(rows)


def answer_keyboard(answer: Answer, store: ButtonStore) -> InlineKeyboardMarkup | None:
    """Follow-up suggestions (or "did you mean" choices and "none of these"), one a row, a 原文
    button, and 👍/👎 under every answer that has an id."""
    rows = [[question_button(store, s)] for s in answer.suggestions if s and s.strip()]
    if answer.intent == "clarify" and answer.answer_id:
        rows.append([InlineKeyboardButton(feedback_labels(answer.lang)["n"],
                                          callback_data=f"{FEEDBACK_PREFIX}n:{answer.answer_id}")])
    quotes = [s for s in answer.sources if s.quote and s.quote.strip()]
    if answer.answered and quotes:
        key = store.put({"sources": [[s.section, s.title, s.agency, s.quote] for s in quotes], "lang": answer.lang})
        label = "📄 Source text" if answer.lang == "en" else "📄 原文"
        rows.append([InlineKeyboardButton(label, callback_data=f"src:{key}")])
    if answer.answer_id and answer.intent not in NO_FEEDBACK_INTENTS:
        rows.append(feedback_row(answer.answer_id, answer.lang))
    return InlineKeyboardMarkup(rows) if rows else None


def quotes_html(payload: dict) -> str:
    """The report's own sentence(s) behind an answer, each with its source line."""
    lang = payload.get("lang", "zh")
    blocks = ["<b>" + ("From the report" if lang == "en" else "報告原文") + "</b>"]
    for section, title, agency, quote in payload.get("sources", []):
        blocks.append(f"<blockquote>{escape(quote.strip())}</blockquote>\n"
                      + source_line(Source(section, title, agency, quote), lang))
    return "\n".join(blocks)


def examples_keyboard(store: ButtonStore, questions: list[str]) -> InlineKeyboardMarkup | None:
    rows = [[question_button(store, q)] for q in questions if q]
    return InlineKeyboardMarkup(rows) if rows else None


# ------------------------------------------------------------------------ splitting
_TOKEN = re.compile(r"<[^<>]*>|&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);|[\s\S]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")
_SENTENCE_END = set("。！？!?；;")
_SOFT_BREAK = set(" ，、,：:")


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(markup: str) -> int:
    """Length of what Telegram shows for HTML text (tags dropped, entities decoded), in UTF-16 units."""
    return sum(_units(html.unescape(t)) for t in _TOKEN.findall(markup) if not t.startswith("<"))


def split_html(markup: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split HTML into messages of at most `limit` visible characters, at line breaks where possible,
    else at sentence ends, else at spaces or commas; tags open at a cut are closed and reopened."""
    if visible_length(markup) <= limit:
        return [markup]
    tokens = _TOKEN.findall(markup)
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag name, opening tag as written)
    i = 0
    while i < len(tokens):
        prefix = "".join(tag for _, tag in stack)
        local = list(stack)
        size = 0
        j = i
        breaks: dict[int, tuple[int, list, int]] = {}  # priority → (token index after, stack, size)
        while j < len(tokens):
            token = tokens[j]
            if token.startswith("<"):
                _apply_tag(local, token)
                j += 1
                continue
            units = _units(html.unescape(token))
            if size + units > limit:
                break
            size += units
            j += 1
            char = html.unescape(token)
            priority = 3 if char == "\n" else 2 if char in _SENTENCE_END else 1 if char in _SOFT_BREAK else 0
            if priority:
                breaks[priority] = (j, list(local), size)
        if j >= len(tokens):
            end, end_stack = j, local
        else:
            end, end_stack = j, local
            for priority in (3, 2, 1):
                if priority in breaks and breaks[priority][2] >= limit // 3:
                    end, end_stack = breaks[priority][0], breaks[priority][1]
                    break
        body = prefix + "".join(tokens[i:end]) + "".join(f"</{name}>" for name, _ in reversed(end_stack))
        if html.unescape(re.sub(r"<[^<>]*>", "", body)).strip():
            chunks.append(body)
        stack = end_stack
        i = end
        while i < len(tokens) and tokens[i] == "\n":  # no blank lines at the top of the next message
            i += 1
    return chunks


def _apply_tag(stack: list[tuple[str, str]], tag: str) -> None:
    m = _TAG_NAME.match(tag)
    if not m:
        return
    name = m.group(1).lower()
    if tag.startswith("</"):
        for k in range(len(stack) - 1, -1, -1):
            if stack[k][0] == name:
                del stack[k:]
                break
    elif not tag.endswith("/>"):
        stack.append((name, tag))
