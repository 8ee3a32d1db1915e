"""First contact: what the README shows is what the programs do.

Every `$ .venv/bin/digibot …` line in README.md's shell blocks is run and its output compared with
the lines under it; the first command shows pip's progress; the example question set ships; a
closed pipe ends quietly; building the KB says so (tests/test_web_serve.py checks that `serve` says
which address to open).
"""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import subprocess
import sys

import pytest

from handlers import cli as cli_module
from handlers.cli import main

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def samples() -> list[tuple[list[str], str]]:
    """(arguments, expected output) of each `$ .venv/bin/digibot …` line in a ```sh block."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ .venv/bin/digibot "):
                output = []
                for following in lines[i + 1:]:
                    if following.startswith("$ "):
                        break
                    output.append(following)
                found.append((shlex.split(line[len("$ .venv/bin/digibot "):]), "\n".join(output).rstrip("\n")))
    return found


def test_the_readme_has_samples():
    assert len(samples()) >= 2


@pytest.mark.parametrize("args, expected", samples(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_readme_samples_match_real_output(args, expected, monkeypatch, capsys, assistant, data_dir):
    monkeypatch.setenv("DIGIBOT_DATA_DIR", str(data_dir))
    monkeypatch.setattr(cli_module, "_assistant", lambda config: assistant)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(args) == 0
    assert capsys.readouterr().out.rstrip("\n") == expected


def test_the_first_command_shows_progress():
    first = re.search(r"```sh\n(.*?)\n", README).group(1)
    assert "pip install -e ." in first and " -q" not in first.split("&&")[1]  # pip's own progress is shown
    assert first.endswith("digibot serve")


def test_an_example_question_set_ships_and_is_scored(monkeypatch, capsys, assistant, data_dir):
    assert "digibot eval eval/example.jsonl" in README
    monkeypatch.setenv("DIGIBOT_DATA_DIR", str(data_dir))
    monkeypatch.setattr(cli_module, "_assistant", lambda config: assistant)
    assert main(["eval", str(REPO / "eval" / "example.jsonl")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"questions\s+2\d ", out) and "answerable right" in out and "conversations" in out


def test_the_readme_says_how_to_run_the_telegram_bot_in_three_steps():
    section = README.split("## Try the Telegram bot", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^(\d)\. ", section, re.M)
    assert steps == ["1", "2", "3"]
    assert "BotFather" in section and "TELEGRAM_BOT_TOKEN" in section and "digibot run" in section


def test_a_closed_pipe_ends_quietly(data_dir):
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    questions = "\n".join(["iTaiwan 熱點有幾個"] * 50) + "\n"
    command = f"{shlex.quote(sys.executable)} -m bot ask --json | head -2"
    for shell_input, cmd in ((questions, command),
                             ("", f"{shlex.quote(sys.executable)} -m bot ask 免費wifi熱點有幾個 | head -1")):
        result = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], input=shell_input, capture_output=True,
                                text=True, env=env, timeout=120, cwd=REPO)
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
        assert result.stdout.count("\n") in (1, 2) and result.returncode in (0, 141)


def test_building_the_knowledge_base_says_so(tmp_path, caplog):
    from bot.service import ensure_kb

    caplog.set_level(logging.INFO)
    assert ensure_kb(tmp_path) is True
    messages = [r.getMessage() for r in caplog.records]
    building = next(i for i, m in enumerate(messages) if "building the knowledge base" in m)
    built = next(i for i, m in enumerate(messages) if m.startswith("built knowledge base"))
    assert building < built  # said before the wait, not only after
