"""The Telegram webhook on the aiohttp server, against the loopback Bot API stand-in.

Most tests feed a tiny python-telegram-bot Application (so they test the webhook, not the
handlers); the last one runs the real bot (handlers/telegram/app.py) end to end.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

import handlers.web.server
from bot.config import Config
from bot.core import Core
from bot.querylog import QueryLog
import handlers.web.webhook
from handlers.web.server import create_app
from handlers.web.webhook import webhook_path
from tests.botapi_stub import BotAPIStub

SECRET = "s3cret-Token_0123456789"
PUBLIC = "https://digibot.example.org"


def config_for(api: BotAPIStub, tmp_path, **overrides) -> Config:
    env = {"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url, "WEBHOOK_URL": PUBLIC,
           "WEBHOOK_SECRET": SECRET, "DIGIBOT_DATA_DIR": str(tmp_path), **overrides}
    return Config.from_env({k: v for k, v in env.items() if v is not None})


def echo_application(api: BotAPIStub, gate: asyncio.Event | None = None) -> Application:
    """A minimal Application: replies "echo: <text>", optionally waiting for `gate` first."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Repeat the message (after the gate opens)."""
        if gate is not None:
            await gate.wait()
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app = Application.builder().token(api.token).base_url(api.base_url).updater(None).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


@pytest.fixture
def start(make_client):
    """Start the web app with a Telegram Application; returns a function giving the client."""

    async def make(config: Config, application=None) -> TestClient:
        return await make_client(config, telegram_application=application)

    return make


def update_json(api: BotAPIStub, text: str, user_id: int = 1001) -> dict:
    return {"update_id": int(time.time() * 1000) % 10**9, "message": api.new_message(user_id=user_id, text=text)}


async def test_webhook_is_registered_with_the_secret_on_a_derived_path(api, tmp_path, start):
    client = await start(config_for(api, tmp_path), echo_application(api))
    path = webhook_path(api.token)
    assert api.webhook_url == PUBLIC + path
    assert api.webhook_secret == SECRET
    assert api.token not in api.webhook_url
    health = await (await client.get("/healthz")).json()
    assert health["telegram"] == "webhook" and health["telegram_ready"] is True


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                                     {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
                                     {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
                                     {"X-Telegram-Bot-Api-Secret-Token": ""}],
                         ids=["missing", "wrong", "prefix", "longer", "empty"])
async def test_webhook_without_the_right_secret_is_403_and_not_processed(api, tmp_path, start, headers):
    client = await start(config_for(api, tmp_path), echo_application(api))
    mark = api.mark()
    response = await client.post(webhook_path(api.token), json=update_json(api, "hello"), headers=headers)
    assert response.status == 403
    body = await response.json()
    assert body["error"] == "forbidden" and "X-Telegram-Bot-Api-Secret-Token" in body["message"]
    await asyncio.sleep(0.3)
    assert not [c for c in api.calls[mark:] if c.method == "sendMessage"]


async def test_webhook_with_the_right_secret_answers_200_at_once_and_queues_the_update(api, tmp_path, start):
    gate = asyncio.Event()
    client = await start(config_for(api, tmp_path), echo_application(api, gate))
    mark = api.mark()
    started = time.perf_counter()
    response = await client.post(webhook_path(api.token), json=update_json(api, "iTaiwan"),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    elapsed = time.perf_counter() - started
    assert response.status == 200
    assert elapsed < 1.0
    await asyncio.sleep(0.2)
    assert not [c for c in api.calls[mark:] if c.method == "sendMessage"]  # the handler is still waiting
    gate.set()
    [reply] = await api.wait_for("sendMessage", since=mark, timeout=10)
    assert reply.text == "echo: iTaiwan"


async def test_webhook_rejects_what_is_not_an_update(api, tmp_path, start):
    client = await start(config_for(api, tmp_path), echo_application(api))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for body in (b"{not json", b"[1, 2]"):
        response = await client.post(webhook_path(api.token), data=body, headers=headers)
        assert response.status == 400 and (await response.json())["error"] == "bad_request"
    response = await client.get(webhook_path(api.token), headers=headers)
    assert response.status == 405 and response.headers["Allow"] == "POST"
    # other paths under /telegram/ are not the webhook
    response = await client.post("/telegram/0000000000000000", json={}, headers=headers)
    assert response.status == 404


async def test_updates_queued_before_shutdown_are_still_answered(api, tmp_path, web_service):
    application = echo_application(api)
    app = create_app(config_for(api, tmp_path), Core(web_service, QueryLog(tmp_path / "log")),
                     telegram_application=application)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    mark = api.mark()
    for i in range(3):
        response = await client.post(webhook_path(api.token), json=update_json(api, f"m{i}", user_id=2000 + i),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status == 200
    await client.close()  # the server's cleanup stops the Application, which finishes its queue
    assert not application.running
    assert sorted(c.text for c in api.sent("sendMessage")[-3:]) == ["echo: m0", "echo: m1", "echo: m2"]
    assert len([c for c in api.calls[mark:] if c.method == "sendMessage"]) == 3


async def test_the_web_chat_starts_when_telegram_is_unreachable_and_the_webhook_follows(api, tmp_path, start,
                                                                                      monkeypatch):
    monkeypatch.setattr(handlers.web.webhook, "TELEGRAM_RETRY_SECONDS", (1.0,))
    api.inject("setWebhook", status=502, times=1)
    client = await start(config_for(api, tmp_path), echo_application(api))
    assert api.webhook_url is None
    assert (await client.post("/api/ask", json={"q": "iTaiwan 熱點有幾個"})).status == 200
    assert (await (await client.get("/healthz")).json())["telegram_ready"] is False
    response = await client.post(webhook_path(api.token), json=update_json(api, "hi"),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 503 and response.headers["Retry-After"].isdigit()  # Telegram retries later
    deadline = time.monotonic() + 10
    while api.webhook_url is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert api.webhook_url == PUBLIC + webhook_path(api.token)
    assert (await (await client.get("/healthz")).json())["telegram_ready"] is True


@pytest.mark.parametrize("overrides, warning", [
    ({"WEBHOOK_SECRET": ""}, "WEBHOOK_SECRET is not"),
    ({"WEBHOOK_SECRET": "has spaces and ünïcode"}, "WEBHOOK_SECRET must be"),
    ({"WEBHOOK_URL": ""}, "WEBHOOK_URL is not"),
])
async def test_no_webhook_is_registered_without_a_usable_secret(api, tmp_path, start, overrides, warning, caplog):
    client = await start(config_for(api, tmp_path, **overrides), echo_application(api))
    assert api.webhook_url is None and not [c for c in api.calls if c.method == "setWebhook"]
    assert warning in caplog.text
    assert (await (await client.get("/healthz")).json())["telegram"] == "disabled"
    response = await client.post(webhook_path(api.token), json=update_json(api, "hi"),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 404


async def test_the_real_bot_answers_through_the_webhook(api, tmp_path, start):
    """End to end: the server builds handlers.telegram.app's Application and a webhook update gets an answer."""
    from handlers.telegram import app as telegram_app

    client = await start(config_for(api, tmp_path))
    assert api.webhook_url == PUBLIC + webhook_path(api.token) and api.webhook_secret == SECRET
    [registration] = api.sent("setWebhook")
    assert registration["allowed_updates"] == list(telegram_app.ALLOWED_UPDATES)  # as long polling asks
    mark = api.mark()
    update = update_json(api, "iTaiwan 熱點有幾個", user_id=4242)
    response = await client.post(webhook_path(api.token), json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 200
    replies = await api.wait_for(lambda c: c.method == "sendMessage" and "9,735" in c.text, since=mark,
                                 chat_id=4242, timeout=15)
    assert "9,735" in replies[0].text
