"""The folders are the architecture: dependencies point one way (DESIGN.md).

    handlers → bot → intents, knowledge

knowledge/ and intents/ import neither each other nor their callers; bot/ never imports a channel
library (telegram, aiohttp) nor handlers/; handlers/ reach the report only through bot/. The one
exception is bot/__main__.py, the `python -m bot` launcher: the program's entry point, which
nothing imports, starts the command line in handlers/cli.py.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("knowledge", "intents", "bot", "handlers")
ALLOWED = {
    "knowledge": {"knowledge"},
    "intents": {"intents"},
    "bot": {"bot", "intents", "knowledge"},
    "handlers": {"handlers", "bot"},
}
FORBIDDEN_LIBRARIES = {"bot": {"telegram", "aiohttp"}, "intents": {"telegram", "aiohttp"},
                       "knowledge": {"telegram", "aiohttp"}}
LAUNCHERS = {REPO / "bot" / "__main__.py": {"handlers"}}


def imports(path: Path) -> set[str]:
    """Top-level package of every module `path` imports (relative imports resolved)."""
    package = path.relative_to(REPO).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(package if node.level else (node.module or "").split(".")[0])
    return found


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", OURS)
def test_imports_point_one_way(package):
    wrong = []
    for path in sources(package):
        allowed = ALLOWED[package] | LAUNCHERS.get(path, set())
        ours = imports(path) & set(OURS)
        libraries = imports(path) & FORBIDDEN_LIBRARIES.get(package, set())
        if ours - allowed or libraries:
            wrong.append(f"{path.relative_to(REPO)} imports {sorted((ours - allowed) | libraries)}")
    assert not wrong, "\n".join(wrong)


def test_the_check_itself_sees_a_wrong_import(tmp_path, monkeypatch):
    """The rule is not vacuous: a bot module importing handlers is caught."""
    fake = REPO / "bot" / "_layout_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: "from handlers.telegram import app\nfrom . import x\n")
    assert imports(fake) == {"handlers", "bot"}


def test_every_channel_lives_in_handlers():
    assert not list((REPO / "bot").glob("*telegram*")) and not list((REPO / "bot").glob("web*"))
    assert (REPO / "handlers" / "telegram" / "app.py").exists() and (REPO / "handlers" / "web" / "server.py").exists()
    assert (REPO / "handlers" / "cli.py").exists() and (REPO / "handlers" / "web" / "static" / "index.html").exists()
