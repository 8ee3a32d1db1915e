"""The aiohttp server (handlers/web/): every route, the bad inputs, the limits and the headers."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Config
from handlers.web.api import STATIC_DIR
from bot.core import MAX_QUESTION_CHARS as READ_CHARS
from handlers.web.http import MAX_BODY_BYTES, MAX_QUESTION_CHARS, RateLimiter
from handlers.web.webhook import webhook_path

ANSWER_KEYS = {"query", "answered", "intent", "answer", "sources", "confidence", "suggestions", "answer_id"}
SOURCE_KEYS = {"section", "title", "agency", "quote"}
INTENTS = {"greeting", "thanks", "help", "fact", "faq", "stat", "clarify", "out_of_scope"}


@pytest.fixture
async def client(make_client) -> TestClient:
    return await make_client()


async def ask(client: TestClient, payload, headers: dict[str, str] | None = None):
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload, ensure_ascii=False)
    return await client.post("/api/ask", data=data, headers={"Content-Type": "application/json", **(headers or {})})


def assert_security_headers(response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy")


async def assert_json_error(response, status: int, error: str) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) >= {"error", "message"}
    assert body["error"] == error
    assert isinstance(body["message"], str) and len(body["message"]) > 10
    assert "Traceback" not in body["message"]
    assert_security_headers(response)
    return body


# ---------------------------------------------------------------------- the page
async def test_chat_page_is_accessible_traditional_chinese_html(client):
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    assert_security_headers(response)
    html = await response.text()
    assert '<html lang="zh-Hant">' in html
    assert 'name="viewport"' in html
    # a labelled message box, a send button, a polite live conversation log
    assert re.search(r'<label[^>]+for="question"', html)
    assert re.search(r'<textarea[^>]+id="question"', html)
    assert re.search(r'<button[^>]+type="submit"', html)
    assert re.search(r'id="log"[^>]*aria-live="polite"', html)
    # scripts only from files (the CSP forbids inline script), nothing from elsewhere
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "style=" not in html and "<style" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


async def test_static_files_are_served_with_types_and_no_external_assets(client):
    for name, ctype in [("app.js", "application/javascript"), ("style.css", "text/css"),
                        ("favicon.svg", "image/svg+xml")]:
        response = await client.get(f"/static/{name}")
        assert response.status == 200, name
        assert response.content_type == ctype
        assert response.charset == "utf-8"
        assert_security_headers(response)
        text = re.sub(r'xmlns="[^"]*"', "", await response.text())  # a namespace name, not a fetch
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), f"{name} refers to another host"
    assert (await client.get("/static/nope.js")).status == 404
    assert (await client.get("/static/")).status in (403, 404)  # no directory listing


def test_page_script_renders_text_with_dom_apis_only():
    js = (STATIC_DIR / "app.js").read_text("utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "textContent" in js
    assert "sessionStorage" in js and "randomUUID" in js
    assert '"details"' in js and '"summary"' in js  # the expandable quote
    assert "isComposing" in js  # Enter that picks an IME candidate does not send


def test_page_styles_have_visible_focus_and_fit_a_phone():
    css = (STATIC_DIR / "style.css").read_text("utf-8")
    assert ":focus-visible" in css and "outline: 3px" in css
    assert "overflow-wrap: anywhere" in css  # long figures and quotes wrap at 360 px
    colors = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))

    def luminance(hex_color: str) -> float:
        channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    def contrast(a: str, b: str) -> float:
        hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
        return (hi + 0.05) / (lo + 0.05)

    pairs = [("text", "bg"), ("text", "surface"), ("muted", "surface"), ("muted", "bg"), ("accent", "surface"),
             ("accent", "accent-soft"), ("text", "user"), ("error-text", "error-bg")]
    for fg, bg in pairs:
        assert contrast(colors[fg], colors[bg]) >= 4.5, (fg, bg)
    assert contrast("#ffffff", colors["accent"]) >= 4.5  # the send button and header


async def test_head_and_unknown_page_paths(client):
    assert (await client.head("/")).status == 200
    await assert_json_error(await client.get("/no-such-page"), 404, "not_found")


# ---------------------------------------------------------------------- /api/ask
async def test_ask_answers_from_the_report_with_its_source(client, querylog):
    response = await ask(client, {"q": "iTaiwan 熱點有幾個", "session": "3f2b9c1e-aaaa-4bbb-8ccc-0123456789ab"})
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers.get("Cache-Control") == "no-store"
    assert_security_headers(response)
    body = await response.json()
    assert set(body) == ANSWER_KEYS
    assert body["query"] == "iTaiwan 熱點有幾個"
    assert body["answered"] is True
    assert body["intent"] in INTENTS
    assert "9,735" in body["answer"]
    assert isinstance(body["confidence"], float) and 0 <= body["confidence"] <= 1
    assert body["sources"] and all(set(s) == SOURCE_KEYS for s in body["sources"])
    assert any("主軸1" in s["section"] and "9,735" in s["quote"] for s in body["sources"])
    assert isinstance(body["suggestions"], list) and all(isinstance(s, str) for s in body["suggestions"])

    # logged as a web question, the browser session pseudonymised
    assert querylog.count() == 1
    row = querylog._db._con.execute("select chat_type, question, answered, user_hash from queries").fetchone()
    assert row[:3] == ("web", "iTaiwan 熱點有幾個", 1)
    assert row[3] == querylog.user_hash("3f2b9c1e-aaaa-4bbb-8ccc-0123456789ab") and "3f2b9c1e" not in row[3]


async def test_ask_without_a_session_and_out_of_scope(client):
    response = await ask(client, {"q": "明天台北會下雨嗎？"})
    assert response.status == 200
    body = await response.json()
    assert set(body) == ANSWER_KEYS
    assert body["answered"] is False
    assert body["intent"] in INTENTS


async def test_follow_up_context_is_kept_per_browser_session(client):
    first = await (await ask(client, {"q": "2018年數位經濟規模", "session": "alice"})).json()
    assert first["answered"] and "4.5兆" in first["answer"]
    follow = await (await ask(client, {"q": "那2019年呢？", "session": "alice"})).json()
    assert follow["answered"] and "數位經濟規模" in follow["answer"] and "4.7兆" in follow["answer"]
    # another browser session has no such context
    other = await (await ask(client, {"q": "那2019年呢？", "session": "bob"})).json()
    assert "4.7兆" not in other["answer"]


async def test_question_at_the_limit_is_accepted_and_says_how_much_was_read(client):
    response = await ask(client, {"q": "寬頻" * (MAX_QUESTION_CHARS // 2)})
    assert response.status == 200
    body = await response.json()
    assert set(body) == ANSWER_KEYS | {"read_chars"} and body["read_chars"] == READ_CHARS < MAX_QUESTION_CHARS
    short = await (await ask(client, {"q": "寬頻" * (READ_CHARS // 2)})).json()
    assert set(short) == ANSWER_KEYS  # read whole: nothing to say


@pytest.mark.parametrize("body, fragment", [
    (b'{"q": "iTaiwan', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe\x00q", "UTF-8"),
    (b'["iTaiwan"]', "JSON object"),
    (b'"iTaiwan"', "JSON object"),
    (b"{}", 'missing "q"'),
    (b'{"question": "iTaiwan"}', 'missing "q"'),
    (b'{"q": 5}', '"q" must be a string'),
    (b'{"q": null}', '"q" must be a string'),
    (b'{"q": ["iTaiwan"]}', '"q" must be a string'),
    (b'{"q": {"text": "iTaiwan"}}', '"q" must be a string'),
    (b'{"q": true}', '"q" must be a string'),
    (b'{"q": "iTaiwan", "session": 42}', '"session" must be a string'),
    (b'{"q": "iTaiwan", "session": "../../etc/passwd"}', '"session" must be'),
    (b'{"q": "iTaiwan", "session": ""}', '"session" must be'),
], ids=["truncated", "empty", "not-utf8", "array", "string", "no-q", "wrong-key", "number", "null", "list",
        "object", "bool", "session-number", "session-path", "session-empty"])
async def test_ask_rejects_bad_input_with_a_json_400(client, body, fragment):
    response = await ask(client, body)
    payload = await assert_json_error(response, 400, "bad_request")
    assert fragment in payload["message"]


async def test_ask_rejects_a_question_over_2000_characters(client, querylog):
    response = await ask(client, {"q": "寬" * (MAX_QUESTION_CHARS + 1)})
    payload = await assert_json_error(response, 400, "bad_request")
    assert "2,000" in payload["message"] and "2,001" in payload["message"]
    assert querylog.count() == 0  # rejected questions are not answered or logged


async def test_ask_rejects_a_body_over_16_kib(client):
    payload = json.dumps({"q": "iTaiwan", "padding": "x" * MAX_BODY_BYTES}).encode()
    body = await assert_json_error(await ask(client, payload), 413, "payload_too_large")
    assert "16,384" in body["message"]


async def test_ask_rejects_a_chunked_body_over_16_kib(client):
    async def chunks():  # no Content-Length: the server must count as it reads
        yield b'{"q": "iTaiwan", "padding": "'
        for _ in range(20):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post("/api/ask", data=chunks(), headers={"Content-Type": "application/json"})
    assert "Content-Length" not in response.request_info.headers
    await assert_json_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_ask_with_a_wrong_method_is_405_with_allow(client, method):
    response = await client.request(method, "/api/ask")
    body = await assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"
    assert method in body["message"] and "POST" in body["message"]


@pytest.mark.parametrize("path", ["/healthz", "/api/stats/budget", "/api/stats/indicators", "/"])
async def test_read_only_routes_refuse_post_with_405(client, path):
    response = await client.post(path, data=b"{}")
    await assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


async def test_unknown_api_path_is_a_json_404(client):
    body = await assert_json_error(await client.get("/api/answer"), 404, "not_found")
    assert "/api/answer" in body["message"]
    await assert_json_error(await client.post("/api/ask/more", data=b"{}"), 404, "not_found")


async def test_a_failure_inside_is_a_json_500_without_traceback(make_client, web_service):
    class Broken:
        kb = web_service.kb
        loaded_at = web_service.loaded_at
        stale_reason = None

        @property
        def current(self):
            raise RuntimeError("secret internals /home/app/bot.py line 12")

    client = await make_client(service=Broken())
    response = await ask(client, {"q": "iTaiwan 熱點有幾個"})
    body = await assert_json_error(response, 500, "internal_error")
    assert "secret internals" not in body["message"]
    assert (await client.get("/healthz")).status == 200  # the server keeps serving


# ---------------------------------------------------------------------- rate limit
async def test_rate_limit_answers_429_with_integer_retry_after(make_client):
    client = await make_client(rate_per_minute=2, burst=3)
    for _ in range(3):
        assert (await ask(client, {"q": "iTaiwan 熱點有幾個"})).status == 200
    response = await ask(client, {"q": "iTaiwan 熱點有幾個"})
    body = await assert_json_error(response, 429, "too_many_requests")
    retry = response.headers["Retry-After"]
    assert retry.isdigit() and 1 <= int(retry) <= 30  # 2 a minute: a token every 30 s
    assert body["retry_after"] == int(retry)
    # bad requests count too, and the limit is on /api/ask only
    await assert_json_error(await ask(client, b"not json"), 429, "too_many_requests")
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/api/stats/budget")).status == 200


async def test_rate_limit_ignores_x_forwarded_for_unless_trusted(make_client):
    spoofing = await make_client(rate_per_minute=1, burst=1)
    assert (await ask(spoofing, {"q": "你好"}, headers={"X-Forwarded-For": "203.0.113.1"})).status == 200
    response = await ask(spoofing, {"q": "你好"}, headers={"X-Forwarded-For": "203.0.113.2"})
    assert response.status == 429  # one socket, one bucket, whatever the header says

    proxied = await make_client(rate_per_minute=1, burst=1, trust_proxy=True)

    async def from_client(ip):
        # a spoofed left-most entry is ignored: the proxy's own (right-most) entry counts
        return await ask(proxied, {"q": "你好"}, headers={"X-Forwarded-For": f"10.9.9.9, {ip}"})

    assert (await from_client("203.0.113.1")).status == 200
    assert (await from_client("203.0.113.2")).status == 200
    assert (await from_client("203.0.113.1")).status == 429


def test_token_bucket_refills_over_time():
    now = [1000.0]
    limiter = RateLimiter(rate_per_minute=30, burst=10, clock=lambda: now[0])
    assert all(limiter.acquire("a") == 0 for _ in range(10))
    wait = limiter.acquire("a")
    assert wait == pytest.approx(2.0)  # 30 a minute: one token every 2 s
    assert limiter.acquire("b") == 0  # clients are independent
    now[0] += 2.0
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0
    now[0] += 600  # long idle: back to a full burst, not more
    assert sum(limiter.acquire("a") == 0 for _ in range(15)) == 10


def test_token_bucket_memory_stays_bounded():
    now = [0.0]
    limiter = RateLimiter(rate_per_minute=60, burst=2, clock=lambda: now[0], max_clients=100)
    for i in range(1000):
        now[0] += 0.01
        limiter.acquire(f"client-{i}")
    assert len(limiter._buckets) <= 101
    with pytest.raises(ValueError):
        RateLimiter(rate_per_minute=0)


# ---------------------------------------------------------------------- stats
async def test_budget_table_as_json(client, web_service):
    response = await client.get("/api/stats/budget")
    assert response.status == 200 and response.content_type == "application/json"
    assert_security_headers(response)
    table = await response.json()
    assert table["unit"] == "億元"
    assert table["years"] == [2017, 2018, 2019, 2020]
    assert [a["axis"] for a in table["axes"]] == list(range(1, 8))
    axis1 = table["axes"][0]
    assert axis1["values"]["2019"] == "41.8億元"
    assert set(table["totals"]) == {"2017", "2018", "2019", "2020"}
    assert table["source"]["section"].startswith("肆")


async def test_indicator_table_as_json(client):
    table = await (await client.get("/api/stats/indicators")).json()
    assert table["years"] == [2017, 2018, 2019, 2020]
    names = [row["name"] for row in table["indicators"]]
    assert "數位經濟規模" in names
    economy = next(row for row in table["indicators"] if row["name"] == "數位經濟規模")
    assert economy["values"]["2019"].startswith("4.7")
    assert all(set(row) >= {"key", "name", "unit", "values", "estimates"} for row in table["indicators"])


@pytest.mark.parametrize("path, header0, rows", [
    ("/api/stats/budget", "主軸", 7 + 1 + 2),  # header, 7 axes, stated total, computed sum
    ("/api/stats/indicators", "指標", None),
])
async def test_stats_as_csv(client, path, header0, rows):
    response = await client.get(path, params={"format": "csv"})
    assert response.status == 200
    assert response.content_type == "text/csv" and response.charset == "utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    text = (await response.read()).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == header0
    assert "2017" in table[0][-4] or "2017" in " ".join(table[0])
    if rows is not None:
        assert len(table) == rows
    assert len({len(r) for r in table}) == 1  # rectangular
    json_table = await (await client.get(path)).json()
    if path.endswith("budget"):
        # Numbers a spreadsheet can add up, the unit in its own column.
        assert table[0][:4] == ["主軸", "名稱", "單位", "2017"]
        assert table[1][:4] == ["1", json_table["axes"][0]["name"], "億元", "5.2"]
        assert [r[1] for r in table[-2:]] == ["合計（報告表列）", "各主軸加總（計算值）"]
        assert table[-2][3:7] == ["68", "242", "251", "244"] and table[-1][6] == "254.4"
        assert "相差+10.4" in table[-1][-1]
    else:
        assert [r[0] for r in table[1:]] == [r["name"] for r in json_table["indicators"]]


async def test_stats_unknown_format_is_400(client):
    body = await assert_json_error(await client.get("/api/stats/budget?format=xml"), 400, "bad_request")
    assert "csv" in body["message"]


async def test_examples_for_the_first_chips(client):
    body = await (await client.get("/api/examples?n=3")).json()
    assert len(body["examples"]) == 3 and all(isinstance(q, str) and q for q in body["examples"])
    await assert_json_error(await client.get("/api/examples?n=lots"), 400, "bad_request")
    await assert_json_error(await client.get("/api/examples?n=0"), 400, "bad_request")


# ---------------------------------------------------------------------- health
async def test_healthz_reports_kb_version_and_uptime(client, web_service):
    response = await client.get("/healthz")
    assert response.status == 200
    assert_security_headers(response)
    body = await response.json()
    assert body["status"] == "ok"
    assert set(body["kb"]) == {"fingerprint", "source_sha256", "built_at", "counts", "stale"}
    assert body["kb"]["stale"] is False and body["kb"]["fingerprint"] == web_service.kb.meta["fingerprint"]
    assert body["shared"] == {"redis": False, "database": "sqlite"} and "replica" not in body  # one process
    assert re.fullmatch(r"[0-9a-f]{64}", body["kb"]["source_sha256"])
    assert body["kb"]["source_sha256"] == web_service.kb.meta["source_sha256"]
    assert datetime.fromisoformat(body["kb"]["built_at"])
    assert body["kb"]["counts"]["sentences"] > 100 and body["kb"]["counts"]["faq"] > 0
    assert isinstance(body["uptime_seconds"], (int, float)) and 0 <= body["uptime_seconds"] < 60
    assert body["telegram"] == "disabled"


async def test_healthz_follows_an_admin_reload(make_client, web_service):
    """Routes read service.current / service.kb per request, so a reload's swap is seen at once."""

    class Swapped:
        def __init__(self, inner):
            self.inner, self.loaded_at = inner, inner.loaded_at
            self.current = inner.current
            self.stale_reason = None

        @property
        def kb(self):
            return self.current.kb

    service = Swapped(web_service)
    client = await make_client(service=service)
    before = (await (await client.get("/healthz")).json())["kb"]["source_sha256"]

    class Fake:
        kb = type("KB", (), {"meta": {"source_sha256": "f" * 64, "built_at": "2030-01-01T00:00:00+00:00"},
                             "counts": {"sentences": 1}})()

        def ask(self, text, session=None):
            raise AssertionError("not used")

    service.current = Fake()
    after = (await (await client.get("/healthz")).json())["kb"]["source_sha256"]
    assert before != after == "f" * 64


# ---------------------------------------------------------------------- telegram off
@pytest.mark.parametrize("env", [
    {"TELEGRAM_BOT_TOKEN": "123:abc"},  # no WEBHOOK_URL: web only (polling runs as a worker)
    {"TELEGRAM_BOT_TOKEN": "123:abc", "WEBHOOK_URL": "https://bot.example.org"},  # no secret: refuse
    {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "s3cret"},  # no token
])
async def test_no_webhook_without_token_url_and_secret(make_client, tmp_path, env, caplog):
    config = Config.from_env({**env, "DIGIBOT_DATA_DIR": str(tmp_path)})
    client = await make_client(config=config)
    assert (await (await client.get("/healthz")).json())["telegram"] == "disabled"
    path = webhook_path("123:abc")
    response = await client.post(path, data=b"{}", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"})
    await assert_json_error(response, 404, "not_found")
    if "TELEGRAM_BOT_TOKEN" in env:
        assert "web channel only" in caplog.text
    if "WEBHOOK_URL" in env and "WEBHOOK_SECRET" not in env:
        assert "WEBHOOK_SECRET" in caplog.text


def test_webhook_path_is_derived_from_the_token_not_guessable():
    path = webhook_path("123456:ABC-secret")
    assert re.fullmatch(r"/telegram/[0-9a-f]{16}", path)
    assert "123456" not in path and path != webhook_path("123456:ABC-secreT")


def test_static_dir_ships_with_the_package():
    names = {p.name for p in Path(STATIC_DIR).iterdir()}
    assert {"index.html", "app.js", "style.css", "favicon.svg"} <= names


# ----------------------------------------------------------------------------- /api/stats/query
async def test_stats_query_offers_the_budget_arithmetic_chat_and_stats_have(client):
    data = await (await client.get("/api/stats/query", params={"q": "2019年各主軸預算"})).json()
    view = data["figures"]
    assert data["request"]["view"] == "breakdown" and view["year"] == 2019
    assert [r["value"] for r in view["rows"][:6]] == [41.8, 45.8, 30.0, 44.6, 31.4, 57.4]
    assert view["stated_total"]["text"] == "251億元" and view["computed_sum"]["text"] == "251"
    data = await (await client.get("/api/stats/query", params={"q": "主軸1 2017-2020 加總"})).json()
    assert data["figures"]["computed"] == {"value": 118.6, "text": "118.6", "op": "sum",
                                           "parts": ["5.2億元", "29.8億元", "41.8億元", "41.8億元"]}
    data = await (await client.get("/api/stats/query", params={"q": "預算 民國109年"})).json()
    assert data["request"]["years"] == [2020]
    data = await (await client.get("/api/stats/query", params={"q": "預算 去年"})).json()
    assert data["outside_years"][0]["said_as"] == "去年" and data["report_years"] == [2017, 2018, 2019, 2020]


@pytest.mark.parametrize("params", [{}, {"q": "天氣如何"}, {"q": "budget " * 300}])
async def test_stats_query_explains_a_bad_request(client, params):
    body = await assert_json_error(await client.get("/api/stats/query", params=params), 400, "bad_request")
    assert body["message"]
