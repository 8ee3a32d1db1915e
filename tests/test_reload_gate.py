"""The knowledge base's life cycle under mistakes and crashes.

- A reload is refused when the labelled questions cannot judge it: none left, or fewer than half of the
  set the serving KB was gated on (a gutted FAQ must not get through because the questions were gutted too).
- A restart after a bad edit to knowledge/ serves the last good KB, marked stale in /healthz, instead of
  exiting (which a platform turns into a crash loop); a fixed knowledge/ and a reload clear the mark.
- Staging folders left by a process killed during a reload are removed at start-up; another live
  process's reload in progress is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import Config
from bot.core import open_core
from bot.service import KnowledgeService, ReloadStatus, STAGING_PREFIX, check_labelled_set
from knowledge.build import KB_FILENAME


def gut_faq(knowledge_dir) -> None:
    faq = knowledge_dir / "curated" / "faq.yaml"
    entries = faq.read_text(encoding="utf-8").split("\n- id: ")
    faq.write_text("\n- id: ".join(entries[:3]) + "\n", encoding="utf-8")  # drop almost every FAQ entry


def keep_questions(knowledge_dir, share: float) -> tuple[int, int]:
    """Keep `share` of every labelled set's lines; returns (lines before, lines after)."""
    before = after = 0
    for path in sorted((knowledge_dir / "curated" / "questions").glob("*.jsonl")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = lines[: int(len(lines) * share)]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        before, after = before + len(lines), after + len(kept)
    return before, after


def break_budget(knowledge_dir) -> None:
    budget = knowledge_dir / "curated" / "budget.yaml"
    budget.write_text(budget.read_text(encoding="utf-8").replace("5.2億元", "5.3億元", 1), encoding="utf-8")


@pytest.mark.parametrize("share", [0.0, 0.4], ids=["emptied", "shrunk-to-40%"])
def test_a_gutted_faq_with_gutted_questions_is_refused(data_dir, knowledge_copy, share):
    service = KnowledgeService(data_dir, knowledge_dir=knowledge_copy)
    before = service.current
    kb_bytes = (data_dir / KB_FILENAME).read_bytes()
    gut_faq(knowledge_copy)
    total, kept = keep_questions(knowledge_copy, share)
    result = service.reload()
    assert result.status is ReloadStatus.NO_GATE, result
    assert ("empty" in result.message) if not kept else (f"{kept:,} questions" in result.message
                                                          and f"{total:,}" in result.message)
    assert service.current is before and (data_dir / KB_FILENAME).read_bytes() == kb_bytes
    assert "9,735" in service.current.ask("iTaiwan 熱點有幾個?").answer


def test_a_missing_question_folder_refuses_a_reload(data_dir, knowledge_copy):
    service = KnowledgeService(data_dir, knowledge_dir=knowledge_copy)
    for path in (knowledge_copy / "curated" / "questions").glob("*.jsonl"):
        path.unlink()
    result = service.reload()
    assert result.status is ReloadStatus.NO_GATE and "cannot be read" in result.message


def test_the_labelled_set_check_compares_with_the_set_last_gated_on(knowledge_copy):
    folder = knowledge_copy / "curated" / "questions"
    rows, problem = check_labelled_set(folder, None)
    assert rows and problem is None
    assert check_labelled_set(folder, 2 * len(rows))[1] is None  # exactly half: still judged
    assert "fewer than half" in check_labelled_set(folder, 2 * len(rows) + 1)[1]


def test_a_restart_after_a_bad_edit_serves_the_last_good_kb_marked_stale(data_dir, knowledge_copy, tmp_path):
    break_budget(knowledge_copy)  # the KB on disk is now out of date, and knowledge/ does not build
    core = open_core(Config(data_dir=data_dir), "serve", knowledge_copy)
    assert core is not None, "exited although a good KB is on disk"
    try:
        assert core.service.stale_reason and "budget.yaml" in core.service.stale_reason
        assert "9,735" in core.answer("iTaiwan 熱點有幾個?", channel="test", user=None).answer
        # an admin fixes the file and reloads: the mark goes
        budget = knowledge_copy / "curated" / "budget.yaml"
        budget.write_text(budget.read_text(encoding="utf-8").replace("5.3億元", "5.2億元", 1), encoding="utf-8")
        result = core.service.reload()
        assert result.ok, result
        assert core.service.stale_reason is None
    finally:
        core.close()


async def test_healthz_says_when_the_kb_is_stale(make_client, data_dir, knowledge_copy):
    break_budget(knowledge_copy)
    service = KnowledgeService(data_dir, knowledge_dir=knowledge_copy)
    client = await make_client(service=service)
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok" and body["kb"]["stale"] is True and "last knowledge base" in body["kb"]["note"]
    assert "budget.yaml" not in str(body)  # the reason is for the log, not for anyone who asks


def test_without_a_kb_on_disk_a_bad_edit_still_stops_the_start(knowledge_copy, tmp_path, capsys):
    break_budget(knowledge_copy)
    assert open_core(Config(data_dir=tmp_path / "empty"), "serve", knowledge_copy) is None
    assert "could not be built" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="process ids")
def test_staging_folders_of_dead_reloads_are_removed_at_start_up(data_dir, knowledge_copy):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited (killed mid-reload, say)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        folders = {name: data_dir / f"{STAGING_PREFIX}{pid}" for name, pid in
                   (("dead", dead_pid), ("mine", os.getpid()), ("alive", alive.pid))}
        for folder in folders.values():
            folder.mkdir()
            (folder / KB_FILENAME).write_bytes(b"half a knowledge base")
        KnowledgeService(data_dir, knowledge_dir=knowledge_copy)
        assert not folders["dead"].exists() and not folders["mine"].exists()
        assert folders["alive"].exists()  # another process's reload in progress
    finally:
        alive.kill()
        alive.wait()
