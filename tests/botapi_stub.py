"""A loopback stand-in for the Telegram Bot API, for tests that run the real `Application`.

An aiohttp server on 127.0.0.1 (a free port) that speaks enough of the Bot API for
python-telegram-bot 22 and judges requests the way Telegram does: message length counted on
the visible text after entity parsing, empty text, HTML that Telegram would not parse, callback
data over 64 bytes, edits of unknown or unchanged messages, stale callback queries. Faults
(429 with ``retry_after``, 5xx, slow answers, dropped connections) are injected on demand.
Every request is recorded as a `Call`.

    async with BotAPIStub() as api:
        app = build_application(Config(token=api.token, api_base_url=api.base_url, ...), core)
        async with polling(app):
            api.push_text("iTaiwan 熱點有幾個?")
            [reply] = await api.wait_for("sendMessage")
            assert "9,735" in reply.text

Updates are made with `push_text`, `push_edited`, `push_media` (sticker, photo, voice, …),
`push_callback` (pressing a button of a message the bot sent), `push_inline_query` (typing
"@bot …" in any chat) or `push_update` (anything). `inline_answers` holds what answerInlineQuery
was given, by inline query id, after the checks Telegram makes (at most 50 results, unique ids of
1–64 bytes, titles, message texts that parse as HTML and fit 4,096 characters).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import random
import re
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["BotAPIStub", "Call", "EntityParseError", "Upload", "parse_html", "polling", "running_bot", "utf16_len"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID = 64  # bytes
INLINE_QUERY_WINDOW = 10.0  # seconds Telegram waits for answerInlineQuery before the query is "too old"
_INLINE_TYPES = {"article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document", "location", "venue",
                 "contact", "game", "sticker"}
_UNSET: Any = object()
_TOKEN_FORM = re.compile(r"^\d+:[A-Za-z0-9_-]+$")  # a well-formed token: wrong ones get 401, malformed ones 404

# Parameters Telegram decodes as JSON when they arrive form-encoded.
_JSON_PARAMS = {
    "reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope",
    "reply_parameters", "link_preview_options", "media", "results", "options",
}
_INT_PARAMS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "reply_to_message_id",
               "message_thread_id", "cache_time", "max_connections"}
_BOOL_PARAMS = {"disable_notification", "protect_content", "drop_pending_updates", "show_alert",
                "disable_web_page_preview", "allow_sending_without_reply", "disable_content_type_detection"}

_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}

_UPDATE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
                 "inline_query", "chosen_inline_result", "my_chat_member", "chat_member", "chat_join_request",
                 "poll", "poll_answer", "message_reaction", "message_reaction_count", "shipping_query",
                 "pre_checkout_query", "business_message")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


# ------------------------------------------------------------------------------------ HTML
class EntityParseError(ValueError):
    """HTML Telegram would reject; the message is Telegram's description after the prefix."""


_TAG_ENTITY = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_ENTITY_REF = re.compile(r"&(?:(lt|gt|amp|quot);|#(\d{1,7});|#[xX]([0-9a-fA-F]{1,6});)")
_START_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*>")
_END_TAG = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_ATTR = re.compile(r"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")


def _offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _unescape_attr(value: str) -> str:
    if value[:1] in "\"'":
        value = value[1:-1]
    return html.unescape(value)


def parse_html(source: str) -> tuple[str, list[dict]]:
    """Parse text with parse_mode=HTML as Telegram does: the visible text and its entities.

    Raises EntityParseError for unsupported tags, unclosed or misnested tags, and `<` or `&`
    that start neither a tag nor an entity (Telegram asks for &lt; &gt; &amp; &quot;).
    """
    out: list[str] = []
    pos = 0  # UTF-16 offset in the visible text
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "&":
            m = _ENTITY_REF.match(source, i)
            if not m:
                raise EntityParseError(f"Character '&' is reserved and must be escaped with \"&amp;\" at byte "
                                       f"offset {_offset(source, i)}")
            if m.group(1):
                decoded = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[m.group(1)]
            else:
                code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
                if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise EntityParseError(f"Invalid HTML entity at byte offset {_offset(source, i)}")
                decoded = chr(code)
            out.append(decoded)
            pos += utf16_len(decoded)
            i = m.end()
            continue
        if ch == "<":
            if source.startswith("</", i):
                m = _END_TAG.match(source, i)
                if not m:
                    raise EntityParseError(f"Can't find end of the tag at byte offset {_offset(source, i)}")
                name = m.group(1).lower()
                if not stack:
                    raise EntityParseError(f"Unexpected end tag at byte offset {_offset(source, i)}")
                open_name, start, attrs = stack[-1]
                if open_name != name:
                    raise EntityParseError(f"Unmatched end tag at byte offset {_offset(source, i)}, expected "
                                           f"\"</{open_name}>\", found \"</{name}>\"")
                stack.pop()
                entity = _entity(open_name, start, pos - start, attrs, stack)
                if entity:
                    entities.append(entity)
                i = m.end()
                continue
            m = _START_TAG.match(source, i)
            if not m:
                raise EntityParseError(f"Unsupported start tag at byte offset {_offset(source, i)}"
                                       if re.match(r"<[a-zA-Z]", source[i:i + 2])
                                       else f"Character '<' is reserved and must be escaped with \"&lt;\" "
                                            f"at byte offset {_offset(source, i)}")
            name = m.group(1).lower()
            if name not in _TAG_ENTITY:
                raise EntityParseError(f"Unsupported start tag \"{name}\" at byte offset {_offset(source, i)}")
            attrs = {a.lower(): _unescape_attr(v) if v else "" for a, v in _ATTR.findall(m.group(2) or "")}
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise EntityParseError(f"Tag \"span\" must have class \"tg-spoiler\" at byte offset "
                                       f"{_offset(source, i)}")
            if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
                raise EntityParseError(f"Custom emoji entity must have a valid emoji-id at byte offset "
                                       f"{_offset(source, i)}")
            if name in ("pre", "blockquote") and any(s[0] == name for s in stack):
                raise EntityParseError(f"Tag \"{name}\" can't be nested at byte offset {_offset(source, i)}")
            stack.append((name, pos, attrs))
            i = m.end()
            continue
        out.append(ch)
        pos += utf16_len(ch)
        i += 1
    if stack:
        raise EntityParseError(f"Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity(name: str, offset: int, length: int, attrs: dict[str, str], stack: list) -> dict | None:
    if length <= 0:
        return None  # Telegram drops empty entities
    kind = _TAG_ENTITY[name]
    entity: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    if name == "a":
        href = attrs.get("href", "")
        if not href:
            return None
        entity["url"] = href
    elif name == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["_language"] = language[len("language-"):]
        return None  # the code inside a pre is part of the pre entity
    elif name == "pre" and attrs.get("_language"):
        entity["language"] = attrs["_language"]
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    return entity


def _text_entities(text: str, username: str) -> list[dict]:
    """The entities Telegram adds to a user's plain text: bot commands and @mentions."""
    entities = []
    for m in re.finditer(r"(?:(?<=\s)|^)(/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)(?=\s|$)", text):
        entities.append({"type": "bot_command", "offset": utf16_len(text[:m.start(1)]), "length": utf16_len(m.group(1))})
    for m in re.finditer(r"(?:(?<=[^A-Za-z0-9_/])|^)(@[A-Za-z0-9_]{3,32})", text):
        if any(e["offset"] <= utf16_len(text[:m.start(1)]) < e["offset"] + e["length"] for e in entities):
            continue  # part of /command@bot
        entities.append({"type": "mention", "offset": utf16_len(text[:m.start(1)]), "length": utf16_len(m.group(1))})
    return sorted(entities, key=lambda e: e["offset"])


# ------------------------------------------------------------------------------- records
@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One request as the stand-in received it. `call["text"]` reads a parameter."""

    method: str
    params: dict[str, Any]
    files: dict[str, Upload] = field(default_factory=dict)
    status: int | None = None  # None while the request is in flight
    result: Any = None
    description: str = ""
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def text(self) -> str:
        """The visible text of a sent or edited message (or a caption)."""
        if isinstance(self.result, dict):
            return self.result.get("text") or self.result.get("caption") or ""
        return ""

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data or url) of the inline keyboard sent with this call."""
        markup = self.params.get("reply_markup") or {}
        return [(b.get("text", ""), b.get("callback_data") or b.get("url") or "")
                for row in markup.get("inline_keyboard", []) for b in row]

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def __repr__(self) -> str:
        brief = {k: (v[:60] + "…" if isinstance(v, str) and len(v) > 60 else v) for k, v in self.params.items()
                 if k in ("chat_id", "text", "caption", "data", "action", "message_id", "offset")}
        return f"Call({self.method}, {brief}, status={self.status})"


@dataclass
class _Rule:
    methods: frozenset[str] | None  # None: every method but getUpdates; {"*"}: every method
    kinds: tuple[str, ...]
    retry_after: int
    remaining: int | None
    probability: float | None
    delay: float
    skip: int = 0  # matching calls to let through before the rule starts
    slow: float = 1.5  # seconds before a "slow" fault's answer

    def matches(self, method: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.methods is None:
            return method != "getUpdates"
        return "*" in self.methods or method in self.methods


class _Reject(Exception):
    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def _bad(description: str) -> _Reject:
    return _Reject(400, f"Bad Request: {description}")


# ---------------------------------------------------------------------------------- stub
class BotAPIStub:
    """The stand-in server. Use `async with BotAPIStub() as api:` or start()/stop()."""

    def __init__(self, *, token: str = "123456:TEST", username: str = "digibot_test_bot",
                 first_name: str = "DIGI+ 小幫手", seed: int = 4):
        self.token = token
        self.username = username
        self.first_name = first_name
        self.bot_id = int(token.split(":", 1)[0])
        self.base_url = ""
        self.port = 0
        self.calls: list[Call] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.commands: dict[str, list[dict]] = {}  # scope+language → commands
        self.rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._allowed: list[str] | None = None
        self._chats: dict[int, dict] = {}
        self._messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) → message
        self._message_ids: dict[int, itertools.count] = {}
        self._callbacks: dict[str, bool] = {}  # callback query id → answered
        self._inline_queries: dict[str, float] = {}  # inline query id → when it was sent (removed once answered)
        self.inline_answers: dict[str, dict] = {}  # inline query id → the accepted answerInlineQuery parameters
        self._changed = asyncio.Condition()
        self._poll_generation = 0
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"

    async def stop(self) -> None:
        self._stopping = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "BotAPIStub":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ------------------------------------------------------------ fault injection
    def inject(self, method: str | Iterable[str] | None = None, status: int = 429, retry_after: int = 1,
               times: int | None = _UNSET, probability: float | None = None,
               kinds: Iterable[str] | None = None, delay: float = 0.0, after: int = 0, slow: float = 1.5) -> None:
        """Make calls fail the way Telegram sometimes does.

        `method`: a method name, several, None (every method but getUpdates) or "*" (every method).
        Deterministic (`probability` None): the next `times` matching calls (default 1) fail with
        `status` (429 carries `retry_after`; 502/500 as Telegram's front end sends them).
        Random: each matching call fails with `probability`, picking from `kinds` ("429", "502",
        "500", "slow" — answered after `slow` seconds (or `delay`, when set) —, "drop" — connection closed with no
        answer); `times` caps the faults (default: no cap). `delay` also delays any fault.
        """
        methods = None if method is None else frozenset([method] if isinstance(method, str) else method)
        if kinds is None:
            kinds = ("slow",) if status == 200 else (str(status),)
        if times is _UNSET:
            times = 1 if probability is None else None
        self._rules.append(_Rule(methods, tuple(kinds), retry_after, times, probability, delay, after, slow))

    def clear_faults(self) -> None:
        self._rules.clear()

    def _pick_fault(self, method: str) -> _Rule | None:
        for rule in self._rules:
            if not rule.matches(method):
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.probability is not None and self.rng.random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            return rule
        return None

    # ------------------------------------------------------------ queries for tests
    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        """Successful calls of `method` (to `chat_id`), in order; `call["text"]` is the parameter."""
        return [c for c in self.calls if c.method == method and c.ok
                and (chat_id is None or c.params.get("chat_id") == chat_id)]

    def failed(self, method: str | None = None) -> list[Call]:
        """Calls answered with an error (or dropped), in order."""
        return [c for c in self.calls if c.status not in (None, 200) and (method is None or c.method == method)]

    def mark(self) -> int:
        """A position in `calls`; pass as `since=` to wait only for what comes after it."""
        return len(self.calls)

    async def wait_for(self, predicate_or_method: str | Callable[[Call], bool] = "sendMessage", count: int = 1,
                       timeout: float = 10.0, *, since: int = 0, chat_id: int | None = None,
                       in_flight: bool = False) -> list[Call]:
        """Wait until `count` successful calls match (a method name or a predicate on Call).
        With `in_flight`, requests count as soon as they arrive (e.g. "a long poll has started")."""
        if isinstance(predicate_or_method, str):
            name = predicate_or_method
            predicate = lambda c: c.method == name  # noqa: E731
        else:
            predicate = predicate_or_method

        def matching() -> list[Call]:
            return [c for c in self.calls[since:] if (c.ok or (in_flight and c.status is None)) and predicate(c)
                    and (chat_id is None or c.params.get("chat_id") == chat_id)]

        deadline = time.monotonic() + timeout
        async with self._changed:
            while len(found := matching()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = "\n  ".join(repr(c) for c in self.calls[since:][-15:])
                    raise AssertionError(f"timed out after {timeout}s waiting for {count} call(s) of "
                                         f"{predicate_or_method!r}; saw {len(found)}. Recent calls:\n  {recent}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return found[:count] if count else found

    async def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until no call has arrived for `quiet` seconds (long polls excepted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = max((c.at for c in self.calls if c.method != "getUpdates"), default=0.0)
            if time.monotonic() - last >= quiet and not self._updates:
                return
            await asyncio.sleep(0.05)

    def messages(self, chat_id: int) -> list[dict]:
        """Every message in a chat as Telegram holds it now (users' and the bot's), oldest first."""
        return [m for (c, _), m in sorted(self._messages.items()) if c == chat_id]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        return self._messages.get((chat_id, message_id))

    # ------------------------------------------------------------ making updates
    def user(self, user_id: int, first_name: str = "測試使用者") -> dict:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hant"}

    def chat(self, chat_id: int, chat_type: str = "private", user: dict | None = None) -> dict:
        if chat_id in self._chats:
            return self._chats[chat_id]
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": (user or {}).get("first_name", "測試使用者")}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": "DIGI+ 測試群組"}
        self._chats[chat_id] = chat
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def new_message(self, *, user_id: int = 1001, chat_id: int | None = None, chat_type: str = "private",
                    reply_to_bot: bool = False, reply_to: dict | None = None, **content: Any) -> dict:
        """A user's message (not yet queued): `content` is e.g. text=…, sticker={…}, location={…}."""
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -100 - user_id
        if chat_type == "private" and chat_id != user_id:
            raise ValueError("a private chat's id is the user's id")
        sender = self.user(user_id)
        message = {"message_id": self._next_message_id(chat_id), "date": int(time.time()),
                   "chat": self.chat(chat_id, chat_type, sender), "from": sender, **content}
        if "text" in content and "entities" not in content:
            entities = _text_entities(content["text"], self.username)
            if entities:
                message["entities"] = entities
        if reply_to is None and reply_to_bot:
            mine = [m for m in self.messages(chat_id) if m.get("from", {}).get("id") == self.bot_id]
            reply_to = mine[-1] if mine else self._bot_message(chat_id, "（稍早的訊息）")
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def push_update(self, update: dict) -> dict:
        """Queue any update (an update_id is assigned when it has none)."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._notify()
        return update

    def push_text(self, text: str, *, chat_id: int | None = None, user_id: int = 1001, chat_type: str = "private",
                  reply_to_bot: bool = False) -> dict:
        """Queue a text message from a user; commands get bot_command entities, @names mention ones."""
        message = self.new_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type, reply_to_bot=reply_to_bot,
                                   text=text)
        return self.push_update({"message": message})

    def push_edited(self, message: dict, text: str) -> dict:
        """Queue the user's edit of one of their messages (an `edited_message` update)."""
        if "message" in message:
            message = message["message"]
        edited = {k: v for k, v in message.items() if k not in ("entities", "text")}
        edited.update(text=text, edit_date=int(time.time()))
        entities = _text_entities(text, self.username)
        if entities:
            edited["entities"] = entities
        self._messages[(edited["chat"]["id"], edited["message_id"])] = edited
        return self.push_update({"edited_message": edited})

    def push_media(self, kind: str, *, user_id: int = 1001, chat_id: int | None = None, chat_type: str = "private",
                   reply_to_bot: bool = False, caption: str | None = None) -> dict:
        """Queue a non-text message: sticker, photo, voice, audio, video, video_note, animation,
        document, location, venue, contact, poll or dice."""
        file = {"file_id": f"F{self.rng.getrandbits(48):x}", "file_unique_id": f"U{self.rng.getrandbits(32):x}"}
        content: dict[str, Any] = {
            "sticker": {"sticker": {**file, "width": 512, "height": 512, "is_animated": False, "is_video": False,
                                    "type": "regular", "emoji": "👍"}},
            "photo": {"photo": [{**file, "width": 90, "height": 90}, {**file, "width": 800, "height": 800}]},
            "voice": {"voice": {**file, "duration": 3, "mime_type": "audio/ogg"}},
            "audio": {"audio": {**file, "duration": 30, "mime_type": "audio/mpeg"}},
            "video": {"video": {**file, "width": 640, "height": 360, "duration": 5}},
            "video_note": {"video_note": {**file, "length": 240, "duration": 5}},
            "animation": {"animation": {**file, "width": 320, "height": 240, "duration": 2}},
            "document": {"document": {**file, "file_name": "report.pdf", "mime_type": "application/pdf"}},
            "location": {"location": {"latitude": 25.0330, "longitude": 121.5654}},
            "venue": {"venue": {"location": {"latitude": 25.0330, "longitude": 121.5654}, "title": "臺北101",
                                "address": "臺北市信義區"}},
            "contact": {"contact": {"phone_number": "+886900000000", "first_name": "測試"}},
            "poll": {"poll": {"id": "1", "question": "?", "options": [{"text": "a", "voter_count": 0},
                                                                      {"text": "b", "voter_count": 0}],
                              "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                              "type": "regular", "allows_multiple_answers": False}},
            "dice": {"dice": {"emoji": "🎲", "value": 4}},
        }[kind]
        if kind == "venue":
            content["location"] = content["venue"]["location"]
        if caption is not None:
            content["caption"] = caption
        message = self.new_message(user_id=user_id, chat_id=chat_id, chat_type=chat_type, reply_to_bot=reply_to_bot,
                                   **content)
        return self.push_update({"message": message})

    def push_callback(self, message: dict | Call, data: str, *, user_id: int | None = None) -> dict:
        """Queue a user pressing the button with `data` on a message the bot sent."""
        if isinstance(message, Call):
            message = message.result
        message = self._messages.get((message["chat"]["id"], message["message_id"]), message)
        datas = [b.get("callback_data") for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
                 for b in row]
        if data not in datas:
            raise ValueError(f"the message has no button with callback_data {data!r} (it has {datas})")
        chat = message["chat"]
        if user_id is None:
            user_id = chat["id"] if chat["type"] == "private" else 1001
        query_id = str(self.rng.getrandbits(62))
        self._callbacks[query_id] = False
        return self.push_update({"callback_query": {
            "id": query_id, "from": self.user(user_id), "message": message, "chat_instance": str(chat["id"]),
            "data": data}})

    def push_inline_query(self, query: str, *, user_id: int = 1001, chat_type: str = "private") -> dict:
        """Queue an inline query, as when a user types "@bot <query>" in a chat; returns the update."""
        query_id = str(self.rng.getrandbits(62))
        self._inline_queries[query_id] = time.monotonic()
        return self.push_update({"inline_query": {"id": query_id, "from": self.user(user_id), "query": query,
                                                  "offset": "", "chat_type": chat_type}})

    def press(self, message: dict | Call, label: str, *, user_id: int | None = None) -> dict:
        """Queue pressing the first button whose label contains `label`."""
        result = message.result if isinstance(message, Call) else message
        result = self._messages.get((result["chat"]["id"], result["message_id"]), result)
        for row in (result.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if label in button.get("text", "") and "callback_data" in button:
                    return self.push_callback(result, button["callback_data"], user_id=user_id)
        raise ValueError(f"no button labelled {label!r} on message {result.get('message_id')}")

    async def post_to_webhook(self, update: dict) -> int:
        """Deliver an update to the registered webhook as Telegram does (JSON POST with the secret
        header); returns the HTTP status the webhook answered with."""
        import aiohttp

        if not self.webhook_url:
            raise RuntimeError("no webhook is set (setWebhook was not called)")
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        async with aiohttp.ClientSession() as http:
            async with http.post(self.webhook_url, data=_dumps(update).encode(), headers={
                    "Content-Type": "application/json", **headers}) as response:
                return response.status

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(notify())

    def _bot_message(self, chat_id: int, text: str, **extra: Any) -> dict:
        chat = self._chats.get(chat_id) or self.chat(chat_id, "private" if chat_id > 0 else "group")
        message = {"message_id": self._next_message_id(chat_id), "date": int(time.time()), "chat": chat,
                   "from": self._me(), "text": text, **extra}
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _me(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    # ------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()  # Telegram's clock starts when a request reaches it, not when its body is read
        method = request.match_info["method"]
        try:
            params, files = await _read_params(request)
        except ConnectionResetError:  # the client went away mid-request (an application stopping): nothing arrived
            return web.Response(status=400, text="connection lost")
        call = Call(method, params, files, at=arrived)
        self.calls.append(call)
        await self._notify_now()  # predicates may look at requests in flight (a long poll started)
        try:
            token = request.match_info["token"]
            if not _TOKEN_FORM.match(token):
                raise _Reject(404, "Not Found")  # Telegram answers a malformed token so
            if token != self.token:
                raise _Reject(401, "Unauthorized")
            rule = self._pick_fault(method)
            if rule is not None:
                await self._fault(rule, request)
            handler = getattr(self, f"_api_{method}", None) or getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise _Reject(404, "Not Found: method not found")
            result = handler(params, files, request.transport) if method == "getUpdates" else handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
            call.result, call.status = result, 200
            response = web.json_response({"ok": True, "result": result}, dumps=_dumps)
        except _Reject as exc:
            call.status, call.description = exc.status, exc.description
            body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            response = web.json_response(body, status=exc.status, dumps=_dumps)
        except ConnectionResetError:
            call.status, call.description = 0, "connection dropped"
            await self._notify_now()
            raise
        await self._notify_now()
        return response

    async def _notify_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _fault(self, rule: _Rule, request: web.Request) -> None:
        kind = self.rng.choice(rule.kinds)
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if kind == "slow":
            if not rule.delay:
                await asyncio.sleep(rule.slow)
            return  # then answered normally
        if kind == "drop":
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("dropped by fault injection")
        status = int(kind)
        if status == 429:
            raise _Reject(429, f"Too Many Requests: retry after {rule.retry_after}",
                          {"retry_after": rule.retry_after})
        descriptions = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                        504: "Gateway Timeout", 400: "Bad Request: injected", 403: "Forbidden: bot was blocked by the user"}
        raise _Reject(status, descriptions.get(status, f"Error {status}"))

    # ------------------------------------------------------------ validation helpers
    def _chat_of(self, params: dict) -> dict:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise _bad("chat not found") from None
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _formatted(self, text: Any, parse_mode: str | None, *, limit: int, what: str) -> tuple[str, list[dict]]:
        text = "" if text is None else str(text)
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                visible, entities = parse_html(text)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        elif mode in ("", "markdown", "markdownv2"):
            visible, entities = text, []
        else:
            raise _bad("unsupported parse_mode")
        if not visible.strip():
            if what == "caption":
                return "", []
            raise _bad("message text is empty")
        if utf16_len(visible) > limit:
            raise _bad("message caption is too long" if what == "caption" else "message is too long")
        return visible, entities

    def _markup(self, params: dict) -> dict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return markup  # reply keyboards, remove-keyboard, force-reply: accepted as is
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad("field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
        if len(rows) > 100 or sum(len(r) for r in rows) > 100:
            raise _bad("too many inline keyboard buttons")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                    raise _bad("BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None:
                    if not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                        raise _bad("BUTTON_DATA_INVALID")
                elif not any(k in button for k in ("url", "switch_inline_query", "switch_inline_query_current_chat",
                                                   "web_app", "login_url", "copy_text", "pay", "callback_game")):
                    raise _bad("can't find field \"callback_data\"")
        return markup

    def _reply_to(self, chat: dict, params: dict) -> dict | None:
        reply = params.get("reply_parameters")
        message_id = (reply or {}).get("message_id") if isinstance(reply, dict) else params.get("reply_to_message_id")
        if message_id is None:
            return None
        target = self._messages.get((chat["id"], int(message_id)))
        if target is None:
            if (reply or {}).get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
                return None
            raise _bad("message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _send(self, params: dict, **content: Any) -> dict:
        chat = self._chat_of(params)
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        extra = dict(content)
        if markup is not None and "inline_keyboard" in markup:
            extra["reply_markup"] = markup
        if reply_to is not None:
            extra["reply_to_message"] = reply_to
        text = extra.pop("text", None)
        message = self._bot_message(chat["id"], text, **extra)
        if text is None:
            message.pop("text")
        return message

    # ------------------------------------------------------------ methods
    def _api_getMe(self, params: dict, files: dict) -> dict:
        return {**self._me(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": True, "can_connect_to_business": False, "has_main_web_app": False}

    async def _api_getUpdates(self, params: dict, files: dict, transport=None) -> list[dict]:
        if self.webhook_url:
            raise _Reject(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                               "to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, float(params.get("timeout") or 0))
        if params.get("allowed_updates") is not None:
            self._allowed = list(params["allowed_updates"]) or None
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                if generation != self._poll_generation:
                    if transport is None or transport.is_closing():
                        return []  # the client already gave up on this poll; nobody reads the answer
                    raise _Reject(409, "Conflict: terminated by other getUpdates request; make sure that only one "
                                       "bot instance is running")
                if offset > 0:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                elif offset < 0:
                    self._updates = self._updates[offset:]
                if self._allowed:
                    self._updates = [u for u in self._updates if any(k in u for k in self._allowed)]
                if self._updates or self._stopping:
                    return self._updates[:limit]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    def _api_sendMessage(self, params: dict, files: dict) -> dict:
        self._chat_of(params)
        text, entities = self._formatted(params.get("text"), params.get("parse_mode"), limit=MAX_TEXT, what="text")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._send(params, **content)

    def _api_sendChatAction(self, params: dict, files: dict) -> bool:
        self._chat_of(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _editable(self, params: dict) -> dict:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._chat_of(params)
        message = self._messages.get((chat["id"], int(params.get("message_id") or 0)))
        if message is None:
            raise _bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return message

    def _api_editMessageText(self, params: dict, files: dict) -> dict:
        message = self._editable(params)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text, entities = self._formatted(params.get("text"), params.get("parse_mode"), limit=MAX_TEXT, what="text")
        markup = self._markup(params)
        if text == message.get("text") and entities == message.get("entities", []) \
                and markup == message.get("reply_markup"):
            raise _bad("message is not modified: specified new message content and reply markup are exactly the "
                       "same as a current content and reply markup of the message")
        edited = {k: v for k, v in message.items() if k not in ("entities", "reply_markup")}
        edited.update(text=text, edit_date=int(time.time()))
        if entities:
            edited["entities"] = entities
        if markup is not None and "inline_keyboard" in markup:
            edited["reply_markup"] = markup
        self._messages[(message["chat"]["id"], message["message_id"])] = edited
        return edited

    def _api_editMessageReplyMarkup(self, params: dict, files: dict) -> dict:
        message = self._editable(params)
        markup = self._markup(params)
        if markup == message.get("reply_markup"):
            raise _bad("message is not modified: specified new message content and reply markup are exactly the "
                       "same as a current content and reply markup of the message")
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        if markup is not None and markup.get("inline_keyboard"):
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        self._messages[(message["chat"]["id"], message["message_id"])] = edited
        return edited

    def _api_answerCallbackQuery(self, params: dict, files: dict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callbacks.get(query_id, True):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > MAX_CALLBACK_ANSWER:
            raise _bad("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        return True

    def _api_answerInlineQuery(self, params: dict, files: dict) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        sent = self._inline_queries.get(query_id)
        if sent is None or time.monotonic() - sent > INLINE_QUERY_WINDOW:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        cache_time = params.get("cache_time", 300)
        if not isinstance(cache_time, int) or cache_time < 0:
            raise _bad("wrong parameter cache_time")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or result.get("type") not in _INLINE_TYPES:
                raise _bad("RESULT_TYPE_INVALID")
            rid = str(result.get("id") or "")
            if not 1 <= len(rid.encode()) <= MAX_INLINE_RESULT_ID:
                raise _bad("RESULT_ID_INVALID")
            if rid in seen:
                raise _bad("RESULT_ID_DUPLICATE")
            seen.add(rid)
            if result["type"] == "article":
                if not str(result.get("title") or "").strip():
                    raise _bad("RESULT_TITLE_EMPTY")
                content = result.get("input_message_content")
                if not isinstance(content, dict) or "message_text" not in content:
                    raise _bad("MESSAGE_EMPTY")
                self._formatted(content.get("message_text"), content.get("parse_mode"), limit=MAX_TEXT, what="text")
            if result.get("reply_markup") is not None:
                self._markup({"reply_markup": result["reply_markup"]})
        del self._inline_queries[query_id]
        self.inline_answers[query_id] = params
        return True

    def _upload(self, params: dict, files: dict, name: str) -> Upload | str:
        if name in files:
            upload = files[name]
            if not upload.data:
                raise _bad("file must be non-empty")
            return upload
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://"):])
            if upload is None:
                raise _bad(f"can't find attached file \"{value}\"")
            return upload
        if not value:
            raise _bad(f"there is no {name} in the request")
        return str(value)  # a file_id or URL: accepted as is

    def _caption(self, params: dict) -> dict:
        caption, entities = self._formatted(params.get("caption"), params.get("parse_mode"), limit=MAX_CAPTION,
                                            what="caption")
        content: dict[str, Any] = {}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return content

    def _api_sendPhoto(self, params: dict, files: dict) -> dict:
        self._chat_of(params)
        photo = self._upload(params, files, "photo")
        width = height = 512
        size = 0
        if isinstance(photo, Upload):
            data = photo.data
            size = len(data)
            if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
                width, height = struct.unpack(">II", data[16:24])
            elif data[:3] != b"\xff\xd8\xff":
                raise _bad("IMAGE_PROCESS_FAILED")
            if size > 10 * 1024 * 1024:
                raise _Reject(413, "Request Entity Too Large")
            if width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise _bad("PHOTO_INVALID_DIMENSIONS")
        file_id = f"P{self.rng.getrandbits(48):x}"
        sizes = [{"file_id": f"{file_id}_{w}", "file_unique_id": f"u{file_id}_{w}", "width": w,
                  "height": max(1, round(height * w / max(width, 1))), "file_size": max(1, size * w // max(width, 1))}
                 for w in sorted({min(width, 320), min(width, 800), width})]
        return self._send(params, photo=sizes, **self._caption(params))

    def _api_sendDocument(self, params: dict, files: dict) -> dict:
        self._chat_of(params)
        document = self._upload(params, files, "document")
        info: dict[str, Any] = {"file_id": f"D{self.rng.getrandbits(48):x}", "file_unique_id": f"d{self.rng.getrandbits(32):x}"}
        if isinstance(document, Upload):
            if len(document.data) > 50 * 1024 * 1024:
                raise _Reject(413, "Request Entity Too Large")
            info.update(file_name=document.filename, mime_type=document.content_type, file_size=len(document.data))
        return self._send(params, document=info, **self._caption(params))

    def _api_setMyCommands(self, params: dict, files: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be an array of at most 100 BotCommand")
        for command in commands:
            name = str(command.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") == "chat" and int(scope.get("chat_id", 0)) not in self._chats:
            raise _bad("chat not found")
        self.commands[self._scope_key(params)] = commands
        return True

    def _scope_key(self, params: dict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True) + "|" + str(params.get("language_code") or "")

    def _api_getMyCommands(self, params: dict, files: dict) -> list[dict]:
        return self.commands.get(self._scope_key(params), [])

    def _api_deleteMyCommands(self, params: dict, files: dict) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _api_setWebhook(self, params: dict, files: dict) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):  # loopback for tests
            raise _bad("bad webhook: HTTPS url must be provided for webhook")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = url or None
        self.webhook_secret = str(secret) if secret and url else None
        return True

    def _api_deleteWebhook(self, params: dict, files: dict) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = None
        self.webhook_secret = None
        return True

    def _api_getWebhookInfo(self, params: dict, files: dict) -> dict:
        return {"url": self.webhook_url or "", "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    def _api_close(self, params: dict, files: dict) -> bool:
        return True

    def _api_logOut(self, params: dict, files: dict) -> bool:
        return True


# ---------------------------------------------------------------------------- decoding
def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value  # "@channelname"
    if name in _BOOL_PARAMS:
        return value.lower() in ("true", "1")
    return value


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Parameters from the query string and a JSON, form or multipart body, as Telegram reads them."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.method == "POST" and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if part.filename is not None:
                    files[part.name] = Upload(part.filename, part.headers.get("Content-Type", ""), await part.read())
                else:
                    params[part.name] = await part.text()
        else:
            params.update(await request.post())
    return {k: _coerce(k, v) for k, v in params.items()}, files


# ----------------------------------------------------------------------------- harness
@contextlib.asynccontextmanager
async def polling(application: Any, *, timeout: int = 1):
    """Run a python-telegram-bot Application with long polling for the duration of the block, started as
    run_polling starts it (initialise, post_init once, start)."""
    from handlers.telegram.app import start_application

    await start_application(application)
    try:
        await application.updater.start_polling(poll_interval=0, timeout=timeout)
        yield application
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()


@contextlib.asynccontextmanager
async def running_bot(api: BotAPIStub, service: Any, data_dir: Any, *, admin_ids: Iterable[int] = (),
                      official_ids: Iterable[int] = (), querylog: Any = None, **settings: Any):
    """digibot's own Application (handlers/telegram/app.py) polling this stand-in; yields the Application.
    `settings` are further Config fields (e.g. ask_rate_per_minute, ask_burst)."""
    from bot.config import Config
    from bot.core import Core
    from bot.querylog import QueryLog
    from handlers.telegram.app import build_application

    config = Config(token=api.token, api_base_url=api.base_url, admin_ids=frozenset(admin_ids),
                    official_ids=frozenset(official_ids), data_dir=data_dir, **settings)
    log = querylog if querylog is not None else QueryLog(data_dir)
    application = build_application(config, Core(service, log))
    try:
        async with polling(application):
            yield application
    finally:
        if querylog is None:
            log.close()
