"""The bot token and the webhook secret never reach a log, at any verbosity.

`digibot -v run` and `digibot -v serve` (DEBUG logging, as processes) against the Bot API stand-in
answering 401 (a well-formed token it does not know) and 404 (a malformed token), and `serve` with a
token it accepts (so the webhook is registered with its secret). Every line either process writes is
searched for the token, its secret part, the webhook secret and the webhook path derived from the token.
python-telegram-bot puts the token in `InvalidToken`'s text and its DEBUG lines print the API URL and
setWebhook's parameters, so without the filter each of these runs leaks.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import pytest

from bot.config import Config
from bot.redact import MASK, secrets_of
from handlers.web.webhook import webhook_path
from tests.botapi_stub import BotAPIStub

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")

WEBHOOK_SECRET = "WebhookSecret_7Qx2Lm9Zr4"
UNKNOWN_TOKEN = "555001:UnknownTokenPart_h3Kd9sLq0Wz"  # well-formed: the stand-in answers 401
ACCEPTED_TOKEN = "424242:AcceptedTokenPart_x8Hq3Vb6Tn"
MALFORMED_TOKEN = "MalformedTokenValue8Jq2Xv5Np"  # no "<id>:" — the stand-in answers 404, as Telegram does


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(api, data_dir, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DIGIBOT_"))}
    env.update(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_BASE_URL=api.base_url, DIGIBOT_DATA_DIR=str(data_dir),
               PYTHONUNBUFFERED="1", **extra)
    return env


async def start(command: str, env: dict[str, str], log_path):
    with open(log_path, "wb") as log:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "-v", command, env=env,
                                                    stdout=log, stderr=asyncio.subprocess.STDOUT)


async def stop(process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


async def until(process, log_path, done, timeout: float = 180.0) -> None:
    """Wait until `done(log text)` holds while the process runs (the time-out is only a backstop)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(text := log_path.read_text()):
        assert process.returncode is None, f"exited with {process.returncode}:\n{text}"
        assert asyncio.get_running_loop().time() < deadline, text
        await asyncio.sleep(0.1)


def leaks(text: str, token: str) -> list[str]:
    secrets = secrets_of(Config(token=token, webhook_secret=WEBHOOK_SECRET)) + [webhook_path(token)]
    return [line for line in text.splitlines() if any(s in line for s in secrets)]


@pytest.mark.parametrize("token", [UNKNOWN_TOKEN, MALFORMED_TOKEN], ids=["401", "404"])
async def test_run_with_a_rejected_token_logs_no_secret(api, data_dir, tmp_path, token):
    log_path = tmp_path / "run.log"
    process = await start("run", environment(api, data_dir, token), log_path)
    code = await asyncio.wait_for(process.wait(), 120)
    text = log_path.read_text()
    assert code == 1, text
    assert [c.status for c in api.calls if c.method == "getMe"][:1] == [401 if ":" in token else 404]
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in text  # the operator is still told what is wrong
    assert "DEBUG" in text  # -v was in force
    assert not leaks(text, token), leaks(text, token)


@pytest.mark.parametrize("token", [UNKNOWN_TOKEN, MALFORMED_TOKEN], ids=["401", "404"])
async def test_serve_with_a_rejected_token_logs_no_secret_on_any_retry(api, data_dir, tmp_path, token):
    log_path = tmp_path / "serve.log"
    env = environment(api, data_dir, token, PORT=str(free_port()), WEBHOOK_URL="https://bot.example.org",
                      WEBHOOK_SECRET=WEBHOOK_SECRET)
    process = await start("serve", env, log_path)
    try:
        # The attempt at start-up and the first background retry (5 s later) both fail, and are logged.
        await until(process, log_path, lambda text: sum(c.method == "getMe" and c.status is not None
                                                        for c in api.calls) >= 2
                    and "Telegram webhook still not registered" in text)
    finally:
        code = await stop(process)
    text = log_path.read_text()
    assert code == 0, text
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in text and "DEBUG" in text
    assert not leaks(text, token), leaks(text, token)


@pytest.fixture
async def accepting_api():
    """A stand-in that knows the token (a realistic one: its secret part is long enough to search for)."""
    async with BotAPIStub(token=ACCEPTED_TOKEN) as stub:
        yield stub


async def test_serve_registering_the_webhook_logs_no_secret(accepting_api, data_dir, tmp_path):
    api = accepting_api
    log_path = tmp_path / "serve.log"
    env = environment(api, data_dir, api.token, PORT=str(free_port()), WEBHOOK_URL="https://bot.example.org",
                      WEBHOOK_SECRET=WEBHOOK_SECRET)
    process = await start("serve", env, log_path)
    try:
        await until(process, log_path, lambda text: "Telegram webhook registered" in text)
        [registered] = api.sent("setWebhook")
    finally:
        code = await stop(process)
    text = log_path.read_text()
    assert code == 0, text
    assert registered["secret_token"] == WEBHOOK_SECRET  # the secret did reach Telegram …
    assert "setWebhook" in text and MASK in text  # … and its DEBUG line was written, masked
    assert not leaks(text, api.token), leaks(text, api.token)
