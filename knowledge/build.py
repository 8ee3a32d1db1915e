"""`digibot build-kb`: the report and the curated files → one SQLite knowledge base.

The build writes to a temporary file beside the target and renames it into place, so a failed
build never leaves a half-written KB and the previous one keeps serving.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .curated import TAUGHT_FILENAME, CuratedError, load_curated
from .figures import extract_figures, parse_number
from .glossary import build_english_glossary, recurring_terms
from .outline import OutlineError, parse_outline
from .tables import TableError

SCHEMA_VERSION = 6
KNOWLEDGE_DIR = Path(__file__).resolve().parent
SOURCE_NAME = "digi-plus-2017-2020-report.txt"
KB_FILENAME = "kb.sqlite"


class BuildError(RuntimeError):
    """The build cannot go on; the message names the file and what is wrong, in one line."""


@dataclass
class BuildResult:
    path: Path
    counts: dict[str, int]
    seconds: float
    notes: list[str]
    source_sha256: str
    fingerprint: str
    taught: list[str] = field(default_factory=list)  # ids of the teachings built in
    taught_skipped: list[str] = field(default_factory=list)  # data-directory teachings that no longer fit


def source_path(knowledge_dir: Path = KNOWLEDGE_DIR) -> Path:
    return knowledge_dir / "source" / SOURCE_NAME


def inputs_fingerprint(knowledge_dir: Path = KNOWLEDGE_DIR, taught_dir: Path | None = None) -> str:
    """Hash of everything a build reads: the report, the curated files, what admins taught (the data
    directory's taught.yaml) and the builder's code.

    A KB whose fingerprint differs is stale and gets rebuilt.
    """
    digest = hashlib.sha256(f"schema {SCHEMA_VERSION}\n".encode())
    taught = taught_dir / TAUGHT_FILENAME if taught_dir is not None else None
    if taught is not None and taught.is_file():
        digest.update(b"taught\0" + taught.read_bytes() + b"\0")
    files = sorted((knowledge_dir / "source").rglob("*")) + sorted((knowledge_dir / "curated").rglob("*"))
    files += sorted(KNOWLEDGE_DIR.glob("*.py"))
    for file in files:
        if file.is_file():
            name = file.relative_to(knowledge_dir if knowledge_dir in file.parents else KNOWLEDGE_DIR)
            digest.update(str(name).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def read_source(path: Path) -> tuple[str, str]:
    """The report's text and SHA-256, or a BuildError saying what is wrong with the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BuildError(f"{path}: the report is missing") from None
    except OSError as exc:
        raise BuildError(f"{path}: cannot read the report ({exc.strerror})") from None
    if not data.strip():
        raise BuildError(f"{path}: the report is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildError(f"{path}: the report is not UTF-8 text (bad byte at offset {exc.start})") from None
    sha = hashlib.sha256(data).hexdigest()
    sums = path.parent / "SHA256SUMS"
    if sums.exists():
        recorded = dict(reversed(line.split(maxsplit=1)) for line in sums.read_text().splitlines() if line.strip())
        expected = recorded.get(path.name)
        if expected and expected != sha:
            raise BuildError(f"{path}: SHA-256 {sha[:12]}… does not match {sums.name} ({expected[:12]}…); "
                             "if the report was replaced on purpose, record its new hash there")
    return text, sha


def build_kb(data_dir: Path, knowledge_dir: Path = KNOWLEDGE_DIR, taught_dir: Path | None = None) -> BuildResult:
    """Build the KB into `data_dir` from `knowledge_dir` and, when given, the teachings in `taught_dir`."""
    started = time.perf_counter()
    text, sha = read_source(source_path(knowledge_dir))
    try:
        outline = parse_outline(text)
        curated = load_curated(knowledge_dir / "curated", outline, text, taught_dir)
    except (OutlineError, TableError) as exc:
        raise BuildError(f"{source_path(knowledge_dir)}: {exc}") from None
    except CuratedError as exc:
        raise BuildError(str(exc)) from None

    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / KB_FILENAME
    tmp = data_dir / f".{KB_FILENAME}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        fingerprint = inputs_fingerprint(knowledge_dir, taught_dir)
        counts = _write(tmp, outline, curated, sha, fingerprint)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return BuildResult(target, counts, time.perf_counter() - started, curated.notes, sha, fingerprint,
                       list(curated.taught_applied), list(curated.taught_skipped))


def _write(path: Path, outline, curated, sha: str, fingerprint: str) -> dict[str, int]:
    import sqlite_utils  # here: a process that only reads a built KB never loads the writer (~50 ms)

    db = sqlite_utils.Database(path)
    ids = {id(node): i + 1 for i, node in enumerate(outline.nodes)}
    node_by_path = {node.path: node for node in outline.nodes}

    axes_rows = []
    axis_nodes = {n.number: n for n in outline.axes()}
    for entry in curated.axes:
        node = axis_nodes[entry["axis"]]
        tagged = bool(node.lead_agency)
        if not node.agencies:  # 主軸7 prints no tag; the curated, evidenced agency fills in
            node.agencies = [entry["lead_agency"]]
            node.lead_agency = entry["lead_agency"]
            _inherit(node)
        # The report's words naming the lead agency: the axis heading's tag, or the curated evidence.
        quote = (f"主軸{entry['axis']}.{node.title}【主責機關：{node.lead_agency}】" if tagged
                 else entry["lead_agency_evidence"])
        axes_rows.append({"axis": entry["axis"], "name": entry["name"], "name_en": entry["name_en"],
                          "lead_agency": entry["lead_agency"], "path": node.path, "agency_quote": quote,
                          "aliases": json.dumps(entry.get("aliases") or [], ensure_ascii=False)})
    db["axes"].insert_all(axes_rows, pk="axis")

    node_rows, sentence_rows, figure_rows = [], [], []
    for node in outline.nodes:
        nid = ids[id(node)]
        axis = next((a.number for a in [node, *node.ancestors()] if a.kind == "axis"), 0)
        node_rows.append({
            "id": nid, "path": node.path, "label": node.label, "kind": node.kind,
            "depth": len(node.ancestors()), "parent_id": ids.get(id(node.parent)) if node.parent else None,
            "axis": axis, "title": node.title, "display_title": node.display_title,
            "agencies": json.dumps(node.agencies, ensure_ascii=False), "agencies_own": int(node.agencies_own),
            "text": node.text, "ord": node.order,
        })
        year_hint = None
        for order, sentence in enumerate(node.sentences):
            sid = len(sentence_rows) + 1
            sentence_rows.append({"id": sid, "node_id": nid, "ord": order, "text": sentence})
            for fig in extract_figures(sentence, year_hint):
                if fig.kind == "date" and fig.iso[:4].isdigit():
                    year_hint = int(fig.iso[:4])
                figure_rows.append({"id": len(figure_rows) + 1, "sentence_id": sid, "node_id": nid, **{
                    k: getattr(fig, k) for k in ("text", "value", "value2", "unit", "kind", "iso", "qualifier",
                                                  "context", "start", "end")}})
    db["nodes"].insert_all(node_rows, pk="id")
    db["sentences"].insert_all(sentence_rows, pk="id", foreign_keys=[("node_id", "nodes", "id")])
    db["figures"].insert_all(figure_rows, pk="id", foreign_keys=[("sentence_id", "sentences", "id")])
    db["nodes"].create_index(["path"], unique=True)
    db["sentences"].create_index(["node_id"])
    db["figures"].create_index(["sentence_id"])

    faq_rows = []
    for entry in curated.faq:
        node = node_by_path[entry["node_path"]]
        faq_rows.append({"id": str(entry["id"]), "question": entry["question"],
                         "alternates": json.dumps(entry.get("alternates") or [], ensure_ascii=False),
                         "answer": entry["answer"], "path": node.path, "node_id": ids[id(node)],
                         "axis": entry.get("axis")})
    db["faq"].insert_all(faq_rows, pk="id")

    indicator_rows, indicator_cells = [], []
    for order, entry in enumerate(curated.indicators):
        indicator_rows.append({
            "key": entry["key"], "ord": order, "name": entry["name"], "name_en": entry["name_en"],
            "grp": entry.get("group", ""), "grp_en": entry.get("group_en", ""), "unit": entry["unit"],
            "unit_en": entry.get("unit_en", entry["unit"]), "footnote": int(entry["footnote"]),
            "printed_marker": entry["printed_marker"], "definition": entry["definition"],
            "definition_path": entry["definition_path"], "printed": entry["printed"],
            "aliases": json.dumps(entry.get("aliases") or [], ensure_ascii=False),
        })
        for year, value in entry["values"].items():
            indicator_cells.append({"key": entry["key"], "year": int(year), "text": str(value),
                                    "value": parse_number(str(value)),
                                    "estimate": int(int(year) in (entry.get("estimates") or []))})
    db["indicators"].insert_all(indicator_rows, pk="key")
    db["indicator_values"].insert_all(indicator_cells, pk=("key", "year"))

    budget_cells = []
    for entry in curated.budget["axes"]:
        for year, value in (entry.get("values") or {}).items():
            budget_cells.append({"axis": int(entry["axis"]), "year": int(year), "text": str(value),
                                 "value": parse_number(str(value))})
    db["budget"].insert_all(budget_cells, pk=("axis", "year"))
    notes_by_axis = {int(e["axis"]): e for e in curated.budget["axes"] if not e.get("values")}
    db["budget_notes"].insert_all([
        {"axis": axis, "note": e["note"], "path": e.get("note_path", ""),
         "text": node_by_path[e["note_path"]].text if e.get("note_path") in node_by_path else ""}
        for axis, e in notes_by_axis.items()], pk="axis")
    db["budget_totals"].insert_all([
        {"year": c["year"], "text": str(curated.budget["totals"][c["year"]]), "value": c["stated_value"],
         "axes_sum": c["sum"], "difference": c["difference"], "discrepancy": int(c["discrepancy"])}
        for c in curated.budget_checks], pk="year")

    synonym_rows = []
    for entry in curated.synonyms:
        for variant in entry["variants"]:
            synonym_rows.append({"canonical": str(entry["canonical"]), "kind": entry.get("kind", "vocabulary"),
                                 "variant": str(variant)})
    db["synonyms"].insert_all(synonym_rows)
    report_text = "".join(s for n in outline.nodes for s in n.sentences) + outline.indicator_table_text()
    english_pairs = [(row["variant"], row["canonical"]) for row in synonym_rows
                     if row["kind"] == "english" or row["variant"].isascii()]
    english_rows = build_english_glossary(report_text, english_pairs)
    db["english"].insert_all(english_rows, pk=("phrase", "term"))
    db["report_terms"].insert_all([{"term": t} for t in sorted(recurring_terms(r["text"] for r in sentence_rows))],
                                  pk="term")
    db["source_notes"].insert_all([{"ord": i, "text": note} for i, note in enumerate(curated.notes)], pk="ord")
    db["flagged"].insert_all([{"ord": i, "note": note, "quotes": json.dumps(quotes, ensure_ascii=False)}
                              for i, (note, quotes) in enumerate(curated.flagged)], pk="ord")
    db["places"].insert_all([{"name": p["name"], "grp": p["group"], "typed": json.dumps(p["typed"], ensure_ascii=False),
                              "report": json.dumps(p["report"], ensure_ascii=False)} for p in curated.places],
                            pk="name")
    db["stopwords"].insert_all([{"word": w} for w in curated.stopwords], pk="word")
    db["agencies"].create({"name": str, "full_name": str, "now": str, "website": str}, pk="name")
    db["agencies"].insert_all(curated.agencies)
    db["taught_out_of_scope"].create({"ord": int, "question": str, "teaching": str}, pk="ord")
    db["taught_out_of_scope"].insert_all([{"ord": i, **row} for i, row in enumerate(curated.taught_out_of_scope)])

    counts = {
        "axes": len(axes_rows),
        "nodes": len(node_rows),
        "sentences": len(sentence_rows),
        "figures": len(figure_rows),
        "faq": len(faq_rows),
        "indicator_cells": len(indicator_cells),
        "budget_cells": len(budget_cells),
        "budget_totals": len(curated.budget_checks),
        "synonyms": len(synonym_rows),
        "english_terms": len(english_rows),
        "source_notes": len(curated.notes),
        "agencies": len(curated.agencies),
        "taught": len(curated.taught_applied),
    }
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "source_file": SOURCE_NAME,
        "source_sha256": sha,
        "fingerprint": fingerprint,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": json.dumps(counts),
        "layout": json.dumps(_layout(outline, curated), ensure_ascii=False),
        "report": json.dumps(curated.report, ensure_ascii=False),
    }
    db["meta"].insert_all([{"key": k, "value": v} for k, v in meta.items()], pk="key")
    db.close()
    return counts


def _layout(outline, curated) -> dict:
    """Where the report keeps what the bot cites outside the prose, and the years it covers: read from
    the report itself, so no code names a section or a year."""
    tables = [n for n in outline.nodes if n.kind == "table"]
    indicator_table = next(n for n in tables if n.parent.number == 3)
    budget_table = next(n for n in tables if n.parent.number == 4)
    results = outline.axes()[0].parent
    years = sorted(c["year"] for c in curated.budget_checks)
    return {"indicator_table": indicator_table.path, "budget_table": budget_table.path, "results": results.path,
            "results_title": results.display_title, "first_year": years[0], "last_year": years[-1]}


def _inherit(node) -> None:
    for child in node.children:
        if not child.agencies_own:
            child.agencies = list(node.agencies)
            _inherit(child)
