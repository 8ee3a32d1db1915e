"""The `digibot` command: ask (text, JSON, streaming), eval, chat, and documentation of every command."""

import json
import os
import subprocess
import sys

import pytest

from bot.cli import COMMANDS, _parser

from .conftest import DEV_SET, REPO


def _run(args, data_dir, stdin=None, timeout=120):
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_ask_text_and_json(data_dir):
    text = _run(["ask", "iTaiwan 熱點有幾個?"], data_dir)
    assert text.returncode == 0 and "9,735" in text.stdout and "伍、主軸1 一、(二) 1." in text.stdout
    js = _run(["ask", "--json", "MyData 線上服務有幾項"], data_dir)
    data = json.loads(js.stdout)
    assert data["answered"] and "144" in data["answer"] and data["sources"][0]["quote"]


def test_ask_json_streams_one_object_a_line_in_order(data_dir):
    questions = ["iTaiwan 熱點有幾個?", "嗨", "", "高雄天氣如何", "研發先進數位科技2018年預算多少"]
    result = _run(["ask", "--json"], data_dir, stdin="\n".join(questions) + "\n")
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
def test_eval_prints_the_scoring_figures(data_dir):
    result = _run(["eval", str(DEV_SET)], data_dir)
    assert result.returncode == 0
    for label in ("answerable right", "wrong figure", "out of scope refused", "greetings recognised"):
        assert label in result.stdout
    js = json.loads(_run(["eval", "--json", str(DEV_SET)], data_dir).stdout)
    assert js["total"] == 60 and js["accuracy"] >= 0.95


def test_eval_rejects_a_malformed_file(data_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "ok", "kind": "fact", "expect": []}\n{not json\n', encoding="utf-8")
    result = _run(["eval", str(bad)], data_dir)
    assert result.returncode == 2 and "line 2" in result.stderr


def test_chat_keeps_context(data_dir):
    result = _run(["chat"], data_dir, stdin="研發先進數位科技2018年預算多少\n那2019年呢？\n")
    assert result.returncode == 0
    assert "57.3億元" in result.stdout and "57.4億元" in result.stdout


def test_run_without_token_says_what_to_set(data_dir):
    result = _run(["run"], data_dir, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "TELEGRAM_BOT_TOKEN" in result.stderr


def test_every_command_is_documented():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)
    for command in COMMANDS:
        assert f"digibot {command}" in readme, command


def test_bad_configuration_is_one_clear_line(data_dir):
    env = {**os.environ, "DIGIBOT_DATA_DIR": str(data_dir), "PORT": "eighty"}
    result = subprocess.run([sys.executable, "-m", "bot", "ask", "hi"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 2 and "PORT must be a number" in result.stderr
