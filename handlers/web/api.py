"""The web routes: the chat page, `POST /api/ask`, examples, the report's tables and `/healthz`."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from aiohttp import web

from bot.tables import budget_csv, budget_table, indicator_csv, indicator_table
from bot.core import MAX_QUESTION_CHARS as READ_CHARS
from bot.core import read_partly

from .http import (CORE, LIMITER, MAX_BODY_BYTES, MAX_QUESTION_CHARS, SESSION_ID, SETTINGS, TELEGRAM, client_key,
                   dumps, json_error, loads_json, read_body)

STATIC_DIR = Path(__file__).resolve().parent / "static"


async def index(request: web.Request) -> web.StreamResponse:
    """The chat page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def ask(request: web.Request) -> web.Response:
    """POST /api/ask: one question in, the Answer JSON out (answered on the core's worker threads)."""
    if request.content_type != "application/json":
        # Only JSON: a form or text/plain POST is a "simple" request a browser sends from any web page
        # without asking first (no CORS preflight), so accepting it would let other sites post questions.
        return json_error(415, f"send the question as JSON with Content-Type: application/json (got "
                               f"{request.content_type or 'none'})", accept="application/json")
    wait = request.app[LIMITER].acquire(client_key(request))
    if wait > 0:
        retry = max(1, math.ceil(wait))
        return json_error(429, f"too many questions from this client; retry in {retry} s",
                          headers={"Retry-After": str(retry)}, retry_after=retry)
    body = await read_body(request, MAX_BODY_BYTES,
                            f"; questions are limited to {MAX_QUESTION_CHARS:,} characters")
    if isinstance(body, web.Response):
        return body
    try:
        data = loads_json(body)
    except ValueError as exc:
        return json_error(400, f'{exc}; send {{"q": "your question"}}')
    if not isinstance(data, dict):
        return json_error(400, 'the body must be a JSON object like {"q": "your question"}')
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
    answer = await core.ask(question, core.session(session_id and f"web:{session_id}"), channel="web",
                            user=session_id)
    reply = answer.to_dict()
    if read_partly(question):
        reply["read_chars"] = READ_CHARS  # a longer question is read only this far; the page says so
    return web.json_response(reply, dumps=dumps)


async def examples(request: web.Request) -> web.Response:
    """GET /api/examples: questions for the page's first suggestion chips."""
    try:
        n = int(request.query.get("n", "4"))
    except ValueError:
        return json_error(400, '"n" must be a whole number between 1 and 10')
    if not 1 <= n <= 10:
        return json_error(400, '"n" must be a whole number between 1 and 10')
    return web.json_response({"examples": request.app[CORE].assistant.example_questions(n)}, dumps=dumps)


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
    """GET /healthz: alive, which KB is serving, for how long, and the Telegram mode."""
    service = request.app[CORE].service
    kb = service.kb  # once: an admin reload may swap it while we read
    telegram = request.app[TELEGRAM]
    body = {
        "status": "ok",
        "kb": {"source_sha256": kb.meta.get("source_sha256"), "built_at": kb.meta.get("built_at"),
               "counts": kb.counts, "stale": service.stale_reason is not None},
        "kb_loaded_at": _iso(service.loaded_at),
        "uptime_seconds": round(time.monotonic() - request.app[SETTINGS].started, 3),
        "telegram": "webhook" if telegram else "disabled",
    }
    if service.stale_reason is not None:
        body["kb"]["note"] = ("knowledge/ does not build, so the last knowledge base that did is serving; "
                              "the reason is in the log, and an admin's /reload swaps in the fixed one")
    if telegram:
        body["telegram_ready"] = telegram.ready
    return web.json_response(body, dumps=dumps)



def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__)


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")

