"""`digibot build-kb`: counts, atomic writes, determinism, and curated data checked against the report."""

import json
import re
import sqlite3
import subprocess
import sys

import pytest
import yaml

from bot.config import Config
from bot.core import open_core
from knowledge.build import KB_FILENAME, KNOWLEDGE_DIR, BuildError, build_kb, inputs_fingerprint
from knowledge.outline import compact_path
from knowledge.store import load_kb


def _tables(path):
    con = sqlite3.connect(path)
    names = [r[0] for r in con.execute("select name from sqlite_master where type='table' order by name")]
    content = {}
    for name in names:
        rows = con.execute(f"select * from [{name}]").fetchall()
        if name == "meta":
            rows = [r for r in rows if r[0] != "built_at"]  # the build time differs, by design
        content[name] = sorted(map(repr, rows))
    con.close()
    return content


def test_cli_prints_counts(tmp_path):
    env = {"DIGIBOT_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run([sys.executable, "-m", "bot", "build-kb"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"axes\s+7\b", out)
    assert re.search(r"outline nodes\s+\d{3}", out)
    assert re.search(r"sentences\s+\d{3}", out)
    assert re.search(r"figures\s+\d{3}", out)
    faq = int(re.search(r"FAQ entries\s+(\d+)", out).group(1))
    assert faq >= 150
    assert re.search(r"table cells\s+52 \(indicators 24, budget 24, stated totals 4\)", out)
    assert "2020年各主軸加總為254.4億元，但表列合計為244億元" in out  # a source discrepancy, reported
    assert (tmp_path / KB_FILENAME).exists()


def test_building_twice_gives_the_same_content(tmp_path):
    first = build_kb(tmp_path / "a")
    second = build_kb(tmp_path / "b")
    assert first.counts == second.counts
    assert _tables(first.path) == _tables(second.path)
    assert first.seconds < 30  # generous: the figure itself is reported by the CLI and benchmarks


def test_kb_holds_every_table_and_meta(kb):
    recorded = (KNOWLEDGE_DIR / "source" / "SHA256SUMS").read_text().split()[0]
    assert kb.meta["source_sha256"] == recorded
    assert kb.meta["fingerprint"] == inputs_fingerprint()
    counts = json.loads(kb.meta["counts"])
    assert counts["axes"] == 7 and counts["faq"] >= 150
    assert kb.axes[7].lead_agency == "國發會"  # from curated data, with its evidence checked
    assert all(node.agencies for node in kb.nodes.values() if node.path.startswith("伍、主軸7"))


def test_budget_table_reproduces_all_cells_and_totals(kb):
    printed = {
        1: "5.2億元 29.8億元 41.8億元 41.8億元", 2: "14.8億元 50.1億元 45.8億元 57.8億元",
        3: "12.2億元 31.2億元 30.0億元 29.0億元", 4: "8.1億元 40.1億元 44.6億元 43.4億元",
        5: "4.0億元 34.1億元 31.4億元 28.7億元", 6: "23.8億元 57.3億元 57.4億元 53.7億元",
    }
    cells = 0
    for axis, row in printed.items():
        assert " ".join(kb.budget[axis][y].text for y in (2017, 2018, 2019, 2020)) == row
        cells += 4
    assert 7 not in kb.budget and kb.budget_notes[7]["note"] == "N/A"  # printed N/A[註 2] for every year
    cells += 4
    assert cells == 28
    assert [kb.budget_totals[y].text for y in (2017, 2018, 2019, 2020)] == ["68億元", "242億元", "251億元", "244億元"]
    assert kb.budget_totals[2020].discrepancy and kb.budget_totals[2020].axes_sum == pytest.approx(254.4)
    assert not kb.budget_totals[2018].discrepancy  # 242.6 vs 242 is rounding


def test_indicator_table_with_estimates(kb):
    economy = kb.indicator("digital_economy")
    assert [economy.cells[y].text for y in (2017, 2018, 2019, 2020)] == ["3.8兆元", "4.5兆元", "4.7兆元", "4.9兆元"]
    assert [economy.cells[y].estimate for y in (2017, 2018, 2019, 2020)] == [False, False, False, True]
    rank = kb.indicator("it_power_rank")
    assert rank.cells[2020].text == "11名" and "IMD" in rank.definition
    assert len(kb.indicators) == 6 and sum(len(i.cells) for i in kb.indicators) == 24


def test_every_faq_figure_is_in_its_cited_node(kb):
    for entry in kb.faq:
        node = kb.nodes[entry.node_id]
        if node.kind == "table":
            continue  # table FAQs are checked against the printed table by the build
        text = re.sub(r"\s+", "", "".join(s.text for s in kb.node_sentences(node.id)))
        for number in re.findall(r"\d[\d,.]*\d|\d", re.sub(r"\s+", "", entry.answer)):
            assert number in text, (entry.id, number, node.path)


def test_source_inconsistencies_are_reported_not_fatal(kb):
    notes = "\n".join(kb.source_notes)
    assert "254.4億元" in notes
    assert "13,885人次" in notes and "13,855人次" in notes  # a total that does not add up, found by the build
    assert "印有註[2]" in notes  # the indicator table's swapped footnote markers


# ---- tampering: the build fails with one line naming the file and entry ----------------------------

def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_tampered_faq_figure_fails_naming_the_entry(knowledge_copy, tmp_path):
    faq_path = knowledge_copy / "curated" / "faq.yaml"
    entries = yaml.safe_load(faq_path.read_text(encoding="utf-8"))
    entry = next(e for e in entries if "9,735" in e["answer"])
    _edit(faq_path, entry["answer"], entry["answer"].replace("9,735", "9,753"))
    with pytest.raises(BuildError) as err:
        build_kb(tmp_path, knowledge_copy)
    message = str(err.value)
    assert entry["id"] in message and "9,753" in message and "faq.yaml" in message
    assert "\n" not in message


def test_tampered_budget_cell_fails_naming_axis_and_year(knowledge_copy, tmp_path):
    _edit(knowledge_copy / "curated" / "budget.yaml", "2018: 57.3億元", "2018: 75.3億元")
    with pytest.raises(BuildError, match=r"budget\.yaml: axis 6 2018 is '75\.3億元' but the report's table prints '57\.3億元'"):
        build_kb(tmp_path, knowledge_copy)


def test_tampered_indicator_fails(knowledge_copy, tmp_path):
    _edit(knowledge_copy / "curated" / "indicators.yaml", "2019: 13名", "2019: 14名")
    with pytest.raises(BuildError, match=r"indicators\.yaml: indicator 'it_power_rank' 2019"):
        build_kb(tmp_path, knowledge_copy)


def test_synonym_must_name_a_report_term(knowledge_copy, tmp_path):
    path = knowledge_copy / "curated" / "synonyms.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n- canonical: 量子電腦\n  kind: vocabulary\n  variants: [qc]\n",
                    encoding="utf-8")
    with pytest.raises(BuildError, match="量子電腦"):
        build_kb(tmp_path, knowledge_copy)


def test_malformed_yaml_names_file_and_line(knowledge_copy, tmp_path):
    path = knowledge_copy / "curated" / "axes.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n- axis: [unclosed\n", encoding="utf-8")
    with pytest.raises(BuildError, match=r"axes\.yaml: malformed YAML at line \d+"):
        build_kb(tmp_path, knowledge_copy)


# ---- a broken source never replaces a good KB ---------------------------------------------------------

@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b""), "the report is empty"),
    (lambda p: p.write_bytes("推動背景".encode("big5") + b"\xff\xfe"), "not UTF-8"),
    (lambda p: p.unlink(), "the report is missing"),
    (lambda p: p.write_text(p.read_text(encoding="utf-8") + "\n多一行", encoding="utf-8"), "does not match SHA256SUMS"),
])
def test_broken_source_leaves_previous_kb_untouched(knowledge_copy, tmp_path, damage, message):
    good = build_kb(tmp_path, knowledge_copy)
    before = good.path.read_bytes()
    damage(knowledge_copy / "source" / "digi-plus-2017-2020-report.txt")
    with pytest.raises(BuildError, match=message):
        build_kb(tmp_path, knowledge_copy)
    assert good.path.read_bytes() == before
    assert load_kb(good.path).counts == good.counts
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_reports_a_broken_curated_file_in_one_line(knowledge_copy, tmp_path):
    _edit(knowledge_copy / "curated" / "budget.yaml", "2017: 68億元", "2017: 86億元")
    env = {"DIGIBOT_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run([sys.executable, "-m", "bot", "build-kb", "--knowledge-dir", str(knowledge_copy)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "budget.yaml" in lines[0] and "totals" in lines[0]


def test_faq_paths_exist_in_outline(kb):
    paths = {compact_path(n.path) for n in kb.nodes.values()}
    assert all(compact_path(e.path) in paths for e in kb.faq)


def test_a_long_running_command_refuses_to_start_on_a_broken_curated_file(knowledge_copy, tmp_path, capsys):
    faq_path = knowledge_copy / "curated" / "faq.yaml"
    entry = next(e for e in yaml.safe_load(faq_path.read_text(encoding="utf-8")) if "9,735" in e["answer"])
    _edit(faq_path, entry["answer"], entry["answer"].replace("9,735", "9,753"))
    assert open_core(Config(data_dir=tmp_path / "data"), "serve", knowledge_copy) is None
    said = capsys.readouterr().err
    assert said.startswith("digibot serve: the knowledge base could not be built")
    assert entry["id"] in said and "faq.yaml" in said
    assert not (tmp_path / "data" / KB_FILENAME).exists()
