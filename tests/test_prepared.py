"""The answering core's start-up state stored in the KB file (bot/prepared.py, issue #12): a start that reads it
answers exactly as one that works it out; state written for other code or another vocabulary is not read; a
damaged one is worked out again. How long a start takes is measured by benchmarks/replicas.py, not here."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

from bot import prepared
from bot.assistant import Assistant
from bot.evaluate import ask_row, load_questions
from knowledge.build import KB_FILENAME
from knowledge.store import load_kb

from .conftest import REPO


def _fresh_kb(kb_dir, tmp_path):
    """A copy of the built KB without any stored state."""
    shutil.copy(kb_dir / KB_FILENAME, tmp_path / KB_FILENAME)
    with sqlite3.connect(tmp_path / KB_FILENAME) as con:
        con.execute(f"drop table if exists {prepared.TABLE}")
    return tmp_path / KB_FILENAME


def test_a_start_that_reads_the_state_answers_every_labelled_question_as_one_that_worked_it_out(kb_dir, tmp_path):
    path = _fresh_kb(kb_dir, tmp_path)
    worked_out = Assistant(load_kb(path))
    read = Assistant(load_kb(path))
    assert (worked_out.prepared, read.prepared) == (False, True)
    # The same tables, whichever way they came.
    assert read.index.state() == worked_out.index.state()
    assert read.understander.state() == worked_out.understander.state()
    rows = load_questions(REPO / "knowledge" / "curated" / "questions")
    assert len(rows) > 1000
    differ = []
    for row in rows:
        a, b = ask_row(worked_out, row), ask_row(read, row)
        if (a.answer, a.intent, a.answered, a.sources) != (b.answer, b.intent, b.answered, b.sources):
            differ.append(row.get("q") or row["turns"])
    assert not differ, differ[:5]


def test_state_written_for_another_vocabulary_is_not_read(kb_dir, tmp_path):
    path = _fresh_kb(kb_dir, tmp_path)
    Assistant(load_kb(path))  # stores the state
    kb = load_kb(path)
    kb.synonyms.append(("小幫手", "數位小幫手", "term"))  # what a teaching adds: jieba must learn the term
    taught = Assistant(kb)
    assert not taught.prepared
    assert "數位小幫手" in taught.understander.tokenizer.cut("數位小幫手在哪")
    assert Assistant(load_kb(path)).prepared is False  # the taught vocabulary's state replaced the first


def test_a_damaged_state_is_worked_out_again_and_answering_goes_on(kb_dir, tmp_path, caplog):
    path = _fresh_kb(kb_dir, tmp_path)
    Assistant(load_kb(path))
    with sqlite3.connect(path) as con:
        con.execute(f"update {prepared.TABLE} set value = ?", (b"\x00not marshal",))
    again = Assistant(load_kb(path))
    assert not again.prepared
    assert "cannot be read" in caplog.text
    assert again.ask("iTaiwan 熱點有幾個?").answered
    assert Assistant(load_kb(path)).prepared  # and stored afresh


def test_build_kb_stores_the_state_every_start_reads(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot", "build-kb"], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "DIGIBOT_DATA_DIR": str(tmp_path)}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "start-up state" in result.stdout
    assert Assistant.load(tmp_path).prepared
