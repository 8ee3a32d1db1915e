"""The `digibot` command: ask (text, JSON, streaming), eval, chat, and documentation of every command.

Most commands run in this process (`handlers.cli.main` with the session's Assistant); the tests of the
process itself — `python -m bot`, flushing a pipe, the exit code of a bad configuration — start one.
"""

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from handlers import cli as cli_module
from handlers.cli import COMMANDS, _parser, main

from .conftest import DEV_SET, REPO


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(monkeypatch, capsys, assistant, data_dir):
    """`digibot ARGS` in this process, with standard input `stdin`, on the session's Assistant."""
    monkeypatch.setenv("DIGIBOT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setattr(cli_module, "_assistant", lambda config: assistant)

    def digibot(args, stdin=""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(args)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)
    return digibot


def _process(args, data_dir, stdin=None, timeout=120, **env):
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir), **env}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_python_m_bot_answers_in_text_and_json(data_dir):
    text = _process(["ask", "iTaiwan 熱點有幾個?"], data_dir)
    assert text.returncode == 0 and "9,735" in text.stdout and "伍、主軸1 一、(二) 1." in text.stdout
    js = _process(["ask", "--json", "MyData 線上服務有幾項"], data_dir)
    data = json.loads(js.stdout)
    assert data["answered"] and "144" in data["answer"] and data["sources"][0]["quote"]


def test_ask_json_streams_one_object_a_line_in_order(run):
    questions = ["iTaiwan 熱點有幾個?", "嗨", "", "高雄天氣如何", "研發先進數位科技2018年預算多少"]
    result = run(["ask", "--json"], stdin="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(questions)
    answers = [json.loads(line) for line in lines]
    assert [a["query"] for a in answers] == questions
    assert answers[0]["answered"] and answers[1]["intent"] == "greeting" and answers[2]["intent"] == "help"
    assert answers[3]["intent"] == "out_of_scope" and "57.3億元" in answers[4]["answer"]


def test_ask_json_flushes_each_answer(data_dir):
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "ask", "--json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        proc.stdin.write("iTaiwan 熱點有幾個?\n")
        proc.stdin.flush()
        line = proc.stdout.readline()  # arrives before stdin is closed
        assert "9,735" in json.loads(line)["answer"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.skipif(not DEV_SET.exists(), reason="shared dev set not present")
def test_eval_prints_the_scoring_figures(run):
    result = run(["eval", str(DEV_SET)])
    assert result.returncode == 0
    for label in ("answerable right", "wrong figure", "out of scope refused", "greetings recognised"):
        assert label in result.stdout
    js = json.loads(run(["eval", "--json", str(DEV_SET)]).stdout)
    assert js["total"] == 60 and js["accuracy"] >= 0.85  # held out, as in test_answering


def test_eval_scores_conversations_by_their_last_turn(run, tmp_path):
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "a.jsonl").write_text(json.dumps({"turns": ["研發先進數位科技2018年預算多少", "那2019年呢？"], "kind": "stat",
                                              "expect": [["57.4億"]]}, ensure_ascii=False) + "\n", encoding="utf-8")
    (sets / "b.jsonl").write_text(json.dumps({"q": "嗨", "kind": "greeting", "expect": []}) + "\n", encoding="utf-8")
    js = json.loads(run(["eval", "--json", str(sets)]).stdout)
    assert js["total"] == 2 and js["conversations"] == 1 and js["conversations_right"] == 1 and js["score"] == 1.0


def test_eval_rejects_a_malformed_file(run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "ok", "kind": "fact", "expect": []}\n{not json\n', encoding="utf-8")
    result = run(["eval", str(bad)])
    assert result.returncode == 2 and "line 2" in result.stderr


def test_chat_keeps_context(run):
    result = run(["chat"], stdin="研發先進數位科技2018年預算多少\n那2019年呢？\n")
    assert result.returncode == 0
    assert "57.3億元" in result.stdout and "57.4億元" in result.stdout


def test_run_without_token_says_what_to_set(run):
    result = run(["run"])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "TELEGRAM_BOT_TOKEN" in result.stderr


def test_every_command_is_documented():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)
    for command in COMMANDS:
        assert f"digibot {command}" in readme, command


def test_every_setting_is_in_the_readme_configuration_table():
    import re

    source = (REPO / "bot" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"((?:TELEGRAM|DIGIBOT|WEBHOOK)_[A-Z_]+|PORT)"', source))
    assert {"TELEGRAM_BOT_TOKEN", "DIGIBOT_QUERYLOG_RETENTION_DAYS", "DIGIBOT_HTTP_BODY_TIMEOUT"} <= names
    table = [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    documented = {name for line in table for name in re.findall(r"`([A-Z_]+)`", line.split(" | ")[0])}
    assert names <= documented, names - documented


def test_bad_configuration_is_one_clear_line(data_dir):
    result = _process(["ask", "hi"], data_dir, timeout=60, PORT="eighty")
    assert result.returncode == 2 and "PORT must be a number" in result.stderr
