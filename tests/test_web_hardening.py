"""HTTP edges found by the attack review: proxies' header lines, oversized numbers, undecodable secrets,
slow clients and what the Server header gives away."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bot.config import Config, ConfigError
from handlers.web.server import create_app, make_runner
from handlers.web.webhook import webhook_path
from tests.test_web_telegram import SECRET, config_for, echo_application

LONG_INTEGER = b'{"q": "iTaiwan", "n": ' + b"9" * 5000 + b"}"


async def test_every_x_forwarded_for_line_counts_so_a_second_line_cannot_dodge_the_limit(make_client):
    client = await make_client(rate_per_minute=1, burst=1, trust_proxy=True)
    # The client sends its own X-Forwarded-For line; the proxy adds the real address in a line of its own.
    headers = [("Content-Type", "application/json"), ("X-Forwarded-For", "10.0.0.1"),
               ("X-Forwarded-For", "198.51.100.7")]
    first = await client.post("/api/ask", data=b'{"q": "hi"}', headers=headers)
    assert first.status == 200
    headers[1] = ("X-Forwarded-For", "10.0.0.2")  # a new made-up first line: the same client for the limit
    second = await client.post("/api/ask", data=b'{"q": "hi"}', headers=headers)
    assert second.status == 429
    other = await client.post("/api/ask", data=b'{"q": "hi"}',
                              headers=[("Content-Type", "application/json"), ("X-Forwarded-For", "10.0.0.2"),
                                       ("X-Forwarded-For", "198.51.100.8")])
    assert other.status == 200  # another real client


async def test_an_integer_of_thousands_of_digits_is_a_400_not_a_500(make_client, caplog):
    client = await make_client()
    response = await client.post("/api/ask", data=LONG_INTEGER, headers={"Content-Type": "application/json"})
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "bad_request" and "too long" in body["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.fixture
async def webhook(api, tmp_path, make_client):
    return await make_client(config_for(api, tmp_path), telegram_application=echo_application(api))


async def test_the_webhook_answers_400_to_an_integer_of_thousands_of_digits(api, webhook, caplog):
    response = await webhook.post(webhook_path(api.token), data=LONG_INTEGER,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 400 and (await response.json())["error"] == "bad_request"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_an_undecodable_secret_header_is_a_403(api, webhook, caplog):
    """Header bytes that are not UTF-8 used to raise UnicodeEncodeError in the comparison: a 500."""
    port = webhook.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"{}"
    writer.write(b"POST " + webhook_path(api.token).encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe" + SECRET.encode() + b"\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 60)
    writer.close()
    assert response.startswith(b"HTTP/1.1 403"), response[:200]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_the_server_header_names_no_versions(make_client):
    client = await make_client()
    for response in (await client.get("/healthz"), await client.get("/nowhere"),
                     await client.post("/api/ask", data=b"x", headers={"Content-Type": "application/json"})):
        assert response.headers["Server"] == "digibot"


async def test_aiohttps_own_answer_to_a_malformed_request_names_no_versions_either(make_client):
    client = await make_client()
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 60)
    writer.close()
    head = response.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0].endswith(b"400 Bad Request") and b"Server: digibot" in head, head


# ------------------------------------------------------------------------------ slow clients
@pytest.fixture
async def slow_server(web_service, querylog, tmp_path):
    """The app as `digibot serve` runs it (make_runner), with one-second header and body time-outs."""
    from bot.core import Core

    config = Config(data_dir=tmp_path, http_header_timeout=1.0, http_body_timeout=1.0)
    runner = make_runner(create_app(config, Core(web_service, querylog)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]
    await runner.cleanup()


async def closed_while_trickling(port: int, head: bytes, drip: bytes, backstop: float = 60.0) -> bytes:
    """Send `head`, then one byte of `drip` every 0.1 s; return what the server sent once it closed the
    connection (b"" when it closed without a word). Fails if it is still open after `backstop` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    received = b""
    deadline = asyncio.get_running_loop().time() + backstop
    try:
        for byte in (drip[i:i + 1] for i in range(len(drip))):
            assert asyncio.get_running_loop().time() < deadline, "the server is still waiting for the client"
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.1)
            except asyncio.TimeoutError:
                chunk = None
            if chunk is not None:
                received += chunk
                if not chunk or reader.at_eof():
                    return received
            try:
                writer.write(byte)
                await writer.drain()
            except ConnectionError:
                return received + await reader.read()
        raise AssertionError("ran out of bytes to trickle before the server gave up")
    finally:
        writer.close()


async def test_a_client_trickling_its_headers_is_cut_off(slow_server):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    received = await closed_while_trickling(slow_server, head, b"X-Slow: " + b"a" * 100_000)
    assert b"200 OK" not in received


async def test_a_client_trickling_its_body_gets_a_408(slow_server, querylog):
    body = b'{"q": "iTaiwan ' + b"x" * 5000 + b'"}'  # under the 16 KiB limit
    head = (b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    received = await closed_while_trickling(slow_server, head + body[:10], body[10:])
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"request_timeout" in received
    assert querylog.count() == 0


def test_the_time_outs_are_settings():
    config = Config.from_env({"DIGIBOT_HTTP_HEADER_TIMEOUT": "5", "DIGIBOT_HTTP_BODY_TIMEOUT": "7.5"})
    assert (config.http_header_timeout, config.http_body_timeout) == (5.0, 7.5)
    assert Config.from_env({}).http_header_timeout == 15.0 and Config.from_env({}).http_body_timeout == 15.0
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigError):
            Config.from_env({"DIGIBOT_HTTP_BODY_TIMEOUT": bad})
    assert Config.from_env({"DIGIBOT_ANSWER_WORKERS": "4"}).answer_workers == 4
