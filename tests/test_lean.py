"""A leaner process (issue #12): what answering loads, and that leaving pypinyin's phrases out changed no reading.

Speed and memory are measured by benchmarks/replicas.py, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import REPO

READINGS = """
import hashlib, json
import bot  # leaves pypinyin's phrase dictionary out, as every digibot process does
from intents.typos import char_keys, _syllable
chars = [chr(c) for r in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)) for c in range(*r)]
print(hashlib.sha256(json.dumps([(c, char_keys(c), _syllable(c)) for c in chars]).encode()).hexdigest())
"""

SERVING = """
import json, sys
from pathlib import Path
from bot.core import Core
from handlers.web.server import create_app
from bot.config import Config
core = Core.open(Path(sys.argv[1]))
create_app(Config(data_dir=Path(sys.argv[1])), core)
answers = [core.answer(q, None, channel="web", user=None).answered
           for q in ["iTaiwan 熱點有幾個?", "數位經濟規模多大", "2019年的預算", "明天會下雨嗎", "DIGI+ 總預算多少"]]
print(json.dumps({"answered": answers, "modules": sorted(sys.modules)}))
"""


def _run(code: str, *args: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_every_character_reads_the_same_without_pypinyins_phrase_dictionary():
    without = _run(READINGS)
    with_phrases = _run(READINGS.replace("import hashlib", "import os; os.environ['PYPINYIN_NO_PHRASES'] = ''; "
                                                          "os.environ['PYPINYIN_NO_DICT_COPY'] = ''; import hashlib"))
    assert without == with_phrases


def test_a_process_serving_a_built_kb_answers_without_loading_training_charts_or_the_builder(data_dir):
    """(pkg_resources: jieba imports it only to open its own files; sqlite_utils writes a KB, never reads one.)"""
    report = json.loads(_run(SERVING, str(data_dir)))
    assert any(report["answered"])
    loaded = {name.split(".")[0] for name in report["modules"]} | set(report["modules"])
    for heavy in ("sklearn", "scipy", "matplotlib", "PIL", "pypinyin.phrases_dict", "telegram",
                  "redis", "psycopg", "pkg_resources", "sqlite_utils"):
        assert heavy not in loaded, f"{heavy} was imported to answer"



def test_the_list_of_characters_s2tw_changes_is_what_opencc_says():
    """intents/data/s2tw_changes.txt decides when OpenCC's s2tw dictionaries are loaded: it must list
    exactly the characters s2tw changes (scripts/make_s2tw_changes.py writes it)."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from make_s2tw_changes import changed_characters
    finally:
        sys.path.remove(str(REPO / "scripts"))
    from intents.normalize import S2TW_CHANGES

    assert S2TW_CHANGES == frozenset(changed_characters())


CONVERTING = """
import json
import intents.normalize as n
from intents.normalize import normalize, to_traditional
before = n._s2t.cache_info().currsize
traditional = normalize("iTaiwan熱點有幾個？公布了嗎").text
after_traditional = n._s2t.cache_info().currsize
simplified = normalize("宽带覆盖率多少").text
print(json.dumps([before, traditional, after_traditional, simplified, n._s2t.cache_info().currsize]))
"""


def test_s2tw_is_loaded_only_for_a_message_it_would_change():
    before, traditional, after_traditional, simplified, after = json.loads(_run(CONVERTING))
    assert (before, after_traditional, after) == (0, 0, 1)
    assert "公布" in traditional and "itaiwan" in traditional  # as typed (s2tw's phrases would make it 公佈)
    assert "寬帶覆蓋率" in simplified


def test_the_lean_s2tw_converts_the_report_and_every_labelled_question_as_opencc_s2tw_does():
    """intents/normalize.py loads s2tw without the regional phrase group (27 MB instead of 43): it must give the
    same Traditional text as OpenCC's own s2tw for the report written in Simplified characters and every
    question of the labelled sets."""
    import opencc

    from bot.evaluate import load_questions
    from intents.normalize import _s2t
    from knowledge.build import read_source, source_path

    report, _ = read_source(source_path())
    simplified = opencc.OpenCC("t2s")
    texts = [simplified.convert(line) for line in report.splitlines() if line.strip()]
    for row in load_questions(REPO / "knowledge" / "curated" / "questions"):
        texts += row.get("turns") or [row["q"]]
    assert len(texts) > 3000
    reference = opencc.OpenCC("s2tw")
    differ = [t for t in texts if _s2t().convert(t) != reference.convert(t)]
    assert not differ, differ[:5]
    assert _s2t().convert("数字经济发展，制造业关系，宽带网络") == "數字經濟發展，製造業關係，寬帶網絡"


def test_without_a_writable_temporary_directory_s2tw_is_opencc_own(tmp_path, monkeypatch):
    """The lean configuration is written to the temporary directory; where that cannot be written (a read-only
    container), OpenCC's own s2tw is used rather than Simplified questions failing."""
    import intents.normalize as normalize

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(normalize.tempfile, "gettempdir", lambda: str(blocked))
    assert normalize.lean_config("s2tw") == "s2tw"
