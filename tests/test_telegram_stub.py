"""The Bot API stand-in judges requests the way Telegram does (so the bot tests mean something)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.botapi_stub import BotAPIStub, EntityParseError, parse_html, utf16_len


async def call(api: BotAPIStub, method: str, **params) -> tuple[int, dict]:
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}{api.token}/{method}", data=form) as response:
            return response.status, await response.json()


# ----------------------------------------------------------------------------- HTML
@pytest.mark.parametrize("markup, visible", [
    ("plain", "plain"),
    ("<b>bold</b> &amp; <i>it</i>", "bold & it"),
    ("a &lt;b&gt; &quot;c&quot; &#39;d&#x27;", "a <b> \"c\" 'd'"),
    ("<pre><code class=\"language-python\">x = 1</code></pre>", "x = 1"),
    ("<a href=\"https://example.org/?a=1&amp;b=2\">link</a>", "link"),
    ("<span class=\"tg-spoiler\">s</span><tg-spoiler>t</tg-spoiler>", "st"),
    ("<blockquote expandable>q</blockquote>", "q"),
    ("1 > 0", "1 > 0"),
])
def test_html_telegram_accepts(markup, visible):
    text, _ = parse_html(markup)
    assert text == visible


@pytest.mark.parametrize("markup", [
    "<br>", "<div>x</div>", "<b>unclosed", "<b><i>x</b></i>", "x</b>", "a < b", "AT&T", "&nbsp;", "<span>x</span>",
    "<b", "<pre><pre>x</pre></pre>",
])
def test_html_telegram_rejects(markup):
    with pytest.raises(EntityParseError):
        parse_html(markup)


def test_entities_use_utf16_offsets():
    text, entities = parse_html("😀 <b>粗體</b>")
    assert text == "😀 粗體"
    assert entities == [{"type": "bold", "offset": 3, "length": 2}]


# ------------------------------------------------------------------------- messages
async def test_send_message_validation():
    async with BotAPIStub() as api:
        api.push_text("hi", user_id=7)
        ok = lambda status, body: status == 200 and body["ok"]  # noqa: E731
        assert ok(*await call(api, "sendMessage", chat_id=7, text="<b>好</b>", parse_mode="HTML"))
        status, body = await call(api, "sendMessage", chat_id=7, text="x" * 4097)
        assert (status, body["description"]) == (400, "Bad Request: message is too long")
        # The limit counts what is shown: tags are free, an emoji is two units.
        assert ok(*await call(api, "sendMessage", chat_id=7, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML"))
        status, body = await call(api, "sendMessage", chat_id=7, text="😀" * 2049)
        assert status == 400 and utf16_len("😀" * 2049) > 4096
        status, body = await call(api, "sendMessage", chat_id=7, text="  \n ")
        assert body["description"] == "Bad Request: message text is empty"
        status, body = await call(api, "sendMessage", chat_id=7, text="<b></b>", parse_mode="HTML")
        assert body["description"] == "Bad Request: message text is empty"
        status, body = await call(api, "sendMessage", chat_id=7, text="<b>x", parse_mode="HTML")
        assert status == 400 and body["description"].startswith("Bad Request: can't parse entities:")
        status, body = await call(api, "sendMessage", chat_id=999, text="x")
        assert body["description"] == "Bad Request: chat not found"
        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}
        status, body = await call(api, "sendMessage", chat_id=7, text="x", reply_markup=markup)
        assert body["description"] == "Bad Request: BUTTON_DATA_INVALID"
        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "界" * 21}]]}  # 63 bytes
        assert ok(*await call(api, "sendMessage", chat_id=7, text="x", reply_markup=markup))
        assert len(api.sent()) == 3 and len(api.failed("sendMessage")) == 7


async def test_edit_and_callback_rules():
    async with BotAPIStub() as api:
        api.push_text("hi", user_id=7)
        markup = {"inline_keyboard": [[{"text": "按我", "callback_data": "q:1"}]]}
        _, body = await call(api, "sendMessage", chat_id=7, text="menu", reply_markup=markup)
        message = body["result"]
        status, body = await call(api, "editMessageText", chat_id=7, message_id=message["message_id"], text="menu",
                                  reply_markup=markup)
        assert status == 400 and "message is not modified" in body["description"]
        status, _ = await call(api, "editMessageText", chat_id=7, message_id=message["message_id"], text="new",
                               reply_markup=markup)
        assert status == 200 and api.message(7, message["message_id"])["text"] == "new"
        status, body = await call(api, "editMessageText", chat_id=7, message_id=1, text="not mine")
        assert body["description"] == "Bad Request: message can't be edited"
        with pytest.raises(ValueError):
            api.push_callback(message, "q:2")  # no such button
        update = api.push_callback(message, "q:1")
        query_id = update["callback_query"]["id"]
        assert (await call(api, "answerCallbackQuery", callback_query_id=query_id))[0] == 200
        status, body = await call(api, "answerCallbackQuery", callback_query_id=query_id)
        assert status == 400 and "query is too old" in body["description"]


async def test_user_updates_carry_entities_like_telegram():
    async with BotAPIStub() as api:
        command = api.push_text("/stats@digibot_test_bot 預算", chat_type="group", user_id=5)["message"]
        assert command["entities"] == [{"type": "bot_command", "offset": 0, "length": 23}]
        assert command["chat"]["type"] == "group" and command["chat"]["id"] < 0
        mention = api.push_text("😀 @digibot_test_bot 你好", chat_type="group", user_id=5)["message"]
        assert mention["entities"] == [{"type": "mention", "offset": 3, "length": 17}]


# ------------------------------------------------------------------- polling, faults
async def test_get_updates_long_polls_and_confirms_by_offset():
    async with BotAPIStub() as api:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, body = await call(api, "getUpdates", timeout=1)
        assert body["result"] == [] and loop.time() - started >= 0.9
        poll = asyncio.create_task(call(api, "getUpdates", timeout=5))
        await asyncio.sleep(0.1)
        first = api.push_text("一")
        _, body = await poll
        assert [u["update_id"] for u in body["result"]] == [first["update_id"]]
        second = api.push_text("二")
        _, body = await call(api, "getUpdates", offset=first["update_id"], limit=1)
        assert [u["update_id"] for u in body["result"]] == [first["update_id"]]  # not confirmed yet
        _, body = await call(api, "getUpdates", offset=first["update_id"] + 1, timeout=0)
        assert [u["update_id"] for u in body["result"]] == [second["update_id"]]


async def test_injected_faults():
    async with BotAPIStub() as api:
        api.push_text("hi", user_id=7)
        api.inject(method="sendMessage", status=429, retry_after=3, times=2)
        for _ in range(2):
            status, body = await call(api, "sendMessage", chat_id=7, text="x")
            assert status == 429 and body["parameters"] == {"retry_after": 3}
            assert body["description"] == "Too Many Requests: retry after 3"
        assert (await call(api, "sendMessage", chat_id=7, text="x"))[0] == 200
        api.inject(method="sendChatAction", status=502)
        assert (await call(api, "sendChatAction", chat_id=7, action="typing"))[0] == 502
        api.inject(probability=1.0, kinds=("slow",), delay=0.3, times=1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await call(api, "getMe"))[0] == 200 and loop.time() - started >= 0.3
        api.inject(method="getMe", kinds=("drop",))
        with pytest.raises(aiohttp.ClientError):
            await call(api, "getMe")
        assert [c.status for c in api.calls if c.method != "getUpdates"][-1] == 0


async def test_webhook_registration_and_delivery():
    from aiohttp import web

    received = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with BotAPIStub() as api:
            status, body = await call(api, "setWebhook", url="http://example.org/hook")
            assert status == 400 and "HTTPS" in body["description"]
            status, _ = await call(api, "setWebhook", url=f"http://127.0.0.1:{port}/telegram", secret_token="s3cr-t_")
            assert status == 200 and api.webhook_secret == "s3cr-t_"
            assert (await call(api, "getUpdates"))[0] == 409  # Telegram refuses polling while a webhook is set
            assert await api.post_to_webhook({"message": api.new_message(text="hi")}) == 200
            assert received[0][0] == "s3cr-t_" and received[0][1]["message"]["text"] == "hi"
            _, info = await call(api, "getWebhookInfo")
            assert info["result"]["url"].endswith("/telegram")
            assert (await call(api, "deleteWebhook"))[0] == 200 and api.webhook_url is None
    finally:
        await runner.cleanup()
