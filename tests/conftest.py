"""Shared fixtures: the real knowledge base, built once per test session from knowledge/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.assistant import Assistant
from bot.config import Config
from bot.querylog import QueryLog
from bot.service import KnowledgeService
from bot.web import create_app
from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, build_kb
from knowledge.store import load_kb

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO.parent / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory) -> Path:
    """A data directory holding a KB built from the real report and curated files."""
    data = tmp_path_factory.mktemp("kb")
    build_kb(data)
    return data


@pytest.fixture(scope="session")
def kb(kb_dir):
    return load_kb(kb_dir / KB_FILENAME)


@pytest.fixture(scope="session")
def assistant(kb) -> Assistant:
    return Assistant(kb)


@pytest.fixture
def data_dir(kb_dir, tmp_path) -> Path:
    """A fresh, writable data directory that already holds the built KB (cheap to copy)."""
    target = tmp_path / "data"
    target.mkdir()
    shutil.copy(kb_dir / KB_FILENAME, target / KB_FILENAME)
    return target


@pytest.fixture(scope="module")
def service(kb_dir, tmp_path_factory):
    """A knowledge service over a copy of the built KB, shared by one module's tests (none reloads it)."""
    data = tmp_path_factory.mktemp("service-kb")
    shutil.copy(kb_dir / KB_FILENAME, data / KB_FILENAME)
    return KnowledgeService(data)


@pytest.fixture
async def api():
    """The loopback stand-in of the Telegram Bot API (see tests/botapi_stub.py)."""
    from .botapi_stub import BotAPIStub

    async with BotAPIStub() as stub:
        yield stub


@pytest.fixture
def knowledge_copy(tmp_path) -> Path:
    """A writable copy of knowledge/ (report and curated files) for tests that tamper with it."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR / "source", target / "source")
    shutil.copytree(KNOWLEDGE_DIR / "curated", target / "curated")
    return target


@pytest.fixture(scope="session")
def web_service(kb_dir) -> KnowledgeService:
    """The real knowledge service on the session's KB (already fresh, so nothing is rebuilt)."""
    return KnowledgeService(kb_dir)


@pytest.fixture
def querylog(tmp_path) -> QueryLog:
    log = QueryLog(tmp_path / "logs")
    yield log
    log.close()


@pytest.fixture
async def make_client(web_service, querylog, tmp_path):
    """Start the web app (bot/web.py) on 127.0.0.1 and a free port; keyword arguments go to create_app."""
    clients: list[TestClient] = []

    async def make(config: Config | None = None, service=None, **options) -> TestClient:
        app = create_app(config or Config(data_dir=tmp_path), service or web_service, querylog, **options)
        client = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
