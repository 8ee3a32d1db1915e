"""The web routes: the chat page, `POST /api/ask`, `POST /api/feedback`, examples, the officials' page
with the report's tables and charts, and `/healthz`."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Callable

from aiohttp import web

from bot.tables import budget_csv, budget_table, indicator_csv, indicator_table
from bot.core import MAX_QUESTION_CHARS as READ_CHARS
from bot.core import read_partly

from .http import (CHARTS, CORE, LIMITER, MAX_BODY_BYTES, MAX_QUESTION_CHARS, SESSION_ID, SETTINGS, TELEGRAM,
                   client_key, dumps, json_error, loads_json, read_body)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_FEEDBACK_BYTES = 1024
CHART_CACHE_ENTRIES = 32


async def index(request: web.Request) -> web.StreamResponse:
    """The chat page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def stats_page(request: web.Request) -> web.StreamResponse:
    """The officials' page: the budget and indicator tables and their charts."""
    return web.FileResponse(STATIC_DIR / "stats.html", headers={"Cache-Control": "no-cache"})


def _not_json(request: web.Request) -> web.Response | None:
    """A 415 unless the body is declared JSON. A form or text/plain POST is a "simple" request a browser
    sends from any web page without asking first (no CORS preflight): accepting one would let other sites
    post questions and votes in their visitors' names."""
    if request.content_type == "application/json":
        return None
    return json_error(415, f"send JSON with Content-Type: application/json (got {request.content_type or 'none'})",
                      accept="application/json")


async def _limited(request: web.Request) -> web.Response | None:
    """A 429 when this client has used up its questions (feedback counts against the same budget); with
    REDIS_URL the budget is shared by the replicas."""
    wait = await request.app[LIMITER].take(client_key(request))
    if wait <= 0:
        return None
    retry = max(1, math.ceil(wait))
    return json_error(429, f"too many requests from this client; retry in {retry} s",
                      headers={"Retry-After": str(retry)}, retry_after=retry)


async def _json_object(request: web.Request, limit: int, example: str, note: str = "") -> dict | web.Response:
    body = await read_body(request, limit, note)
    if isinstance(body, web.Response):
        return body
    try:
        data = loads_json(body)
    except ValueError as exc:
        return json_error(400, f"{exc}; send {example}")
    if not isinstance(data, dict):
        return json_error(400, f"the body must be a JSON object like {example}")
    return data


async def ask(request: web.Request) -> web.Response:
    """POST /api/ask: one question in, the Answer JSON out (answered on the core's worker threads)."""
    refused = _not_json(request) or await _limited(request)
    if refused is not None:
        return refused
    data = await _json_object(request, MAX_BODY_BYTES, '{"q": "your question"}',
                              f"; questions are limited to {MAX_QUESTION_CHARS:,} characters")
    if isinstance(data, web.Response):
        return data
    if "q" not in data:
        return json_error(400, 'missing "q": send {"q": "your question", "session": "optional id"}')
    question = data["q"]
    if not isinstance(question, str):
        return json_error(400, f'"q" must be a string, got {_json_type(question)}')
    if len(question) > MAX_QUESTION_CHARS:
        return json_error(400, f'"q" is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}',
                          limit=MAX_QUESTION_CHARS)
    session_id = data.get("session")
    if session_id is not None:
        if not isinstance(session_id, str):
            return json_error(400, f'"session" must be a string, got {_json_type(session_id)}')
        if not SESSION_ID.match(session_id):
            return json_error(400, '"session" must be 1–64 characters of letters, digits, "-" or "_" '
                                   "(a UUID works)")
    core = request.app[CORE]
    answer = await core.converse(question, session_id and f"web:{session_id}", channel="web", user=session_id)
    reply = answer.to_dict()
    if read_partly(question):
        reply["read_chars"] = READ_CHARS  # a longer question is read only this far; the page says so
    return web.json_response(reply, dumps=dumps)


async def feedback(request: web.Request) -> web.Response:
    """POST /api/feedback: `{"answer_id": "…", "vote": "up" | "down" | null, "session": "…"}` — 👍, 👎 or no vote
    on an answer this browser session was given (`"source": "none_of_these"` under a did-you-mean)."""
    refused = _not_json(request) or await _limited(request)
    if refused is not None:
        return refused
    data = await _json_object(request, MAX_FEEDBACK_BYTES, '{"answer_id": "…", "vote": "up", "session": "…"}')
    if isinstance(data, web.Response):
        return data
    answer_id, vote, session_id = data.get("answer_id"), data.get("vote"), data.get("session")
    source = data.get("source", "button")
    if not isinstance(answer_id, str) or not SESSION_ID.match(answer_id):
        return json_error(400, '"answer_id" must be the answer_id of an answer from /api/ask')
    if vote not in ("up", "down", None):
        return json_error(400, '"vote" must be "up", "down" or null (no vote)')
    if source not in ("button", "none_of_these"):
        return json_error(400, '"source" must be "button" or "none_of_these"')
    if session_id is not None and (not isinstance(session_id, str) or not SESSION_ID.match(session_id)):
        return json_error(400, '"session" must be the session the question was asked in')
    recorded = request.app[CORE].vote(answer_id, vote, user=session_id, source=source, owner_only=True)
    if recorded is None:
        return json_error(404, "no answer with this answer_id was given to this session")
    return web.json_response({"answer_id": answer_id, "vote": recorded.current, "previous": recorded.previous},
                             dumps=dumps)


async def examples(request: web.Request) -> web.Response:
    """GET /api/examples: questions for the page's first suggestion chips (`lang=en`: their English wording)."""
    try:
        n = int(request.query.get("n", "4"))
    except ValueError:
        return json_error(400, '"n" must be a whole number between 1 and 10')
    if not 1 <= n <= 10:
        return json_error(400, '"n" must be a whole number between 1 and 10')
    core = request.app[CORE]
    questions = core.assistant.example_questions(n)
    if request.query.get("lang", "zh").lower().startswith("en"):
        english = {e.question: next((a for a in e.alternates if a.isascii()), None) for e in core.kb.faq}
        questions = [english.get(q) or q for q in questions]
    return web.json_response({"examples": questions}, dumps=dumps)


async def chart(request: web.Request) -> web.Response:
    """GET /api/stats/chart/budget.png (`year=` or `axis=` for one) and /api/stats/chart/indicator/<key>.png:
    the PNG charts /chart sends, drawn once per knowledge base."""
    from bot import charts  # matplotlib is loaded when the first chart is drawn, not at start-up

    core = request.app[CORE]
    kb = core.kb
    kind = request.match_info["kind"]
    options: dict = {}
    if kind == "budget":
        for name in ("year", "axis"):
            value = request.query.get(name)
            if value is not None:
                if not value.isdigit():
                    return json_error(400, f'"{name}" must be a whole number')
                options[name] = int(value)
        if len(options) > 1:
            return json_error(400, 'give "year" or "axis", not both')
    elif kind == "indicator":
        key = request.match_info.get("key", "")
        if key not in {i.key for i in kb.indicators}:
            return json_error(404, f"no indicator {key!r}; the indicators are " + ", ".join(i.key for i in kb.indicators))
        options["key"] = key
    cache: dict = request.app[CHARTS]
    cache_key = (id(kb), kind, tuple(sorted(options.items())))
    png = cache.get(cache_key)
    if png is None:
        try:
            if kind == "budget":
                drawn = await asyncio.to_thread(charts.budget_chart, kb, **options)
            else:
                drawn = await asyncio.to_thread(charts.indicator_chart, kb, options["key"])
        except charts.ChartError as exc:
            return json_error(404, str(exc))
        png = drawn.png
        cache[cache_key] = png
        while len(cache) > CHART_CACHE_ENTRIES:
            cache.pop(next(iter(cache)))
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "public, max-age=300"})


def _table(request: web.Request, table_fn: Callable, csv_fn: Callable, filename: str) -> web.Response:
    """A report table as JSON, or CSV with ?format=csv."""
    fmt = request.query.get("format", "json").lower()
    kb = request.app[CORE].kb
    if fmt == "json":
        return web.json_response(table_fn(kb), dumps=dumps)
    if fmt == "csv":
        # A byte-order mark so Excel opens the Chinese text as UTF-8.
        return web.Response(
            body=("\ufeff" + csv_fn(kb)).encode("utf-8"),
            headers={"Content-Type": "text/csv; charset=utf-8",
                     "Content-Disposition": f'attachment; filename="{filename}"'})
    return json_error(400, f"unknown format {fmt!r}; use format=json (default) or format=csv")


async def budget(request: web.Request) -> web.Response:
    """GET /api/stats/budget: the budget table (JSON, or CSV with ?format=csv)."""
    return _table(request, budget_table, budget_csv, "digi-plus-budget.csv")


async def indicators(request: web.Request) -> web.Response:
    """GET /api/stats/indicators: the headline indicator table (JSON, or CSV with ?format=csv)."""
    return _table(request, indicator_table, indicator_csv, "digi-plus-indicators.csv")


async def stats_query(request: web.Request) -> web.Response:
    """GET /api/stats/query?q=…: a statistics request in words ("2019年各主軸預算", "主軸1 2017-2020 加總"),
    read by the same parser as chat and /stats; the figures with their units, computed ones with their parts."""
    text = request.query.get("q", "").strip()
    if not text:
        return json_error(400, 'give the request in "q", e.g. q=2019年各主軸預算 or q=主軸1 2017-2020 加總')
    if len(text) > MAX_QUESTION_CHARS:
        return json_error(400, f'"q" is {len(text):,} characters; the limit is {MAX_QUESTION_CHARS:,}')
    core = request.app[CORE]
    found = core.stats(text)
    if found is None:
        return json_error(400, "this does not ask for the budget or indicator table; try q=2019年各主軸預算")
    return web.json_response(found, dumps=dumps)


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: alive, which KB is serving (its fingerprint: every replica reports the same one after a
    /reload), for how long, the Telegram mode and, with replicas, this replica and where state is shared."""
    core = request.app[CORE]
    service = core.service
    kb = service.kb  # once: an admin reload may swap it while we read
    telegram = request.app[TELEGRAM]
    body = {
        "status": "ok",
        "kb": {"fingerprint": kb.meta.get("fingerprint"), "source_sha256": kb.meta.get("source_sha256"),
               "built_at": kb.meta.get("built_at"), "counts": kb.counts, "stale": service.stale_reason is not None},
        "kb_loaded_at": _iso(service.loaded_at),
        "uptime_seconds": round(time.monotonic() - request.app[SETTINGS].started, 3),
        "telegram": "webhook" if telegram else "disabled",
    }
    if service.stale_reason is not None:
        body["kb"]["note"] = ("knowledge/ does not build, so the last knowledge base that did is serving; "
                              "the reason is in the log, and an admin's /reload swaps in the fixed one")
    if telegram:
        body["telegram_ready"] = telegram.ready
    if core.shared is not None:
        body["replica"] = core.shared.replica
    body["shared"] = {"redis": core.shared is not None,
                      "database": "postgresql" if core.querylog.path is None else "sqlite"}
    return web.json_response(body, dumps=dumps)



def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__)


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")

