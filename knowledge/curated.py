"""Loading the curated files (reviewed by people) and checking them against the report.

Every figure in curated data must be found in the report text of the node it cites; a mismatch
raises :class:`CuratedError` naming the file and entry. Inconsistencies inside the report
itself are returned as notes instead, so answers can quote the report and say so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .figures import extract_figures
from .outline import Outline, compact_path
from .tables import ParsedRow, parse_budget_table, parse_indicator_table

class CuratedError(ValueError):
    """A curated file is malformed or disagrees with the report."""


def squeeze(text: str) -> str:
    """Text for comparisons: no whitespace, full-width digits and % made half-width."""
    text = re.sub(r"\s+", "", text)
    return text.replace("％", "%").replace("（", "(").replace("）", ")")


@dataclass
class Curated:
    axes: list[dict]
    indicators: list[dict]
    budget: dict
    faq: list[dict]
    synonyms: list[dict]
    source_notes: list[dict]
    questions: list[dict]
    report: dict = field(default_factory=dict)  # report.yaml: what the bot says about the report
    places: list[dict] = field(default_factory=list)  # places.yaml, flattened: name, typed, report, group
    stopwords: list[str] = field(default_factory=list)  # stopwords.txt
    notes: list[str] = field(default_factory=list)  # source inconsistencies found while checking
    # The report text each inconsistency is about: a sentence holding one of these is never quoted
    # without its note.
    flagged: list[tuple[str, list[str]]] = field(default_factory=list)
    budget_checks: list[dict] = field(default_factory=list)
    agencies: list[dict] = field(default_factory=list)  # agencies.yaml: official websites (not report data)
    taught_out_of_scope: list[dict] = field(default_factory=list)  # {question, teaching}: refuse these
    taught_applied: list[str] = field(default_factory=list)  # ids of the teachings in this build
    taught_skipped: list[str] = field(default_factory=list)  # data-directory teachings that no longer fit


def load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise CuratedError(f"{path}: file is missing") from None
    except UnicodeDecodeError as exc:
        raise CuratedError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CuratedError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        raise CuratedError(f"{path}: file is empty")
    return data


def load_jsonl(path: Path, required: tuple[str, ...] = ("q", "kind"), turns_ok: bool = False) -> list[dict]:
    """A question set, one JSON object a line; each must have the `required` keys and a question: "q" a
    string or, with `turns_ok`, "turns" a list of messages (a conversation whose last turn is scored).
    Each row gets "set": the file's name without its extension."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CuratedError(f"{path}: file is missing") from None
    except UnicodeDecodeError as exc:
        raise CuratedError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CuratedError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        is_conversation = turns_ok and isinstance(row, dict) and "q" not in row and isinstance(row.get("turns"), list) \
            and bool(row["turns"]) and all(isinstance(t, str) for t in row["turns"])
        asked = ["q" if not turns_ok else '"q" (or "turns")', *(repr(k) for k in required if k != "q")]
        if not isinstance(row, dict) or not (isinstance(row.get("q"), str) or is_conversation) \
                or any(k not in row for k in required if k != "q"):
            raise CuratedError(f"{path}: line {number} needs {' and '.join(asked)}")
        row.setdefault("set", path.stem)
        rows.append(row)
    return rows


def load_questions_dir(curated_dir: Path) -> list[dict]:
    """Every labelled question set under curated/questions/ (one file per independent author)."""
    folder = curated_dir / "questions"
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return [row for f in files for row in load_jsonl(f, required=("kind",), turns_ok=True)]


def load_places(path: Path) -> list[dict]:
    """places.yaml as one list: {name, typed, report, group}; typed spellings normalised to lower case."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise CuratedError(f"{path}: expected groups of places (taiwan:, abroad:)")
    out, seen = [], {}
    for group, entries in data.items():
        for entry in _require_list(entries, path, f"places under {group!r}"):
            _require(entry, ("name", "typed"), path, f"place {entry.get('name')!r}")
            typed = entry["typed"]
            report = entry.get("report") or [entry["name"]]
            if not (isinstance(typed, list) and all(isinstance(t, str) and t.strip() for t in typed)) or \
                    not (isinstance(report, list) and all(isinstance(t, str) and t.strip() for t in report)):
                raise CuratedError(f"{path}: place {entry['name']!r}: typed and report must be lists of names")
            for t in typed:
                if t != t.strip().lower():
                    raise CuratedError(f"{path}: place {entry['name']!r}: typed spelling {t!r} must be lower case "
                                       "without surrounding spaces (questions are matched after normalising)")
                if t in seen:
                    raise CuratedError(f"{path}: {t!r} is listed for both {seen[t]!r} and {entry['name']!r}")
                seen[t] = entry["name"]
            out.append({"name": str(entry["name"]), "typed": typed, "report": report, "group": str(group)})
    return out


def load_stopwords(path: Path) -> list[str]:
    """stopwords.txt: words separated by spaces, `#` comments."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CuratedError(f"{path}: file is missing") from None
    words = [w for line in lines for w in line.split("#", 1)[0].split()]
    if not words:
        raise CuratedError(f"{path}: no stop words")
    return sorted(set(words))


def _require_list(data: Any, path: Path, what: str) -> list[dict]:
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise CuratedError(f"{path}: expected a list of {what}")
    return data


def _require(entry: dict, keys: tuple[str, ...], path: Path, label: str) -> None:
    missing = [k for k in keys if entry.get(k) in (None, "", [])]
    if missing:
        raise CuratedError(f"{path}: {label} is missing {', '.join(missing)}")


TAUGHT_FILENAME = "taught.yaml"
TAUGHT_KINDS = ("alternates", "entry", "out_of_scope")
# An agency website: https on a Taiwan government or academic host, an optional plain path; nothing else.
_WEBSITE = re.compile(r"https://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:gov|edu)\.tw/(?:[A-Za-z0-9._~-]+/)*")


def load_taught(path: Path) -> list[dict]:
    """What admins taught (taught.yaml, written by bot/teach.py or `digibot export-taught`): a list of
    teachings, each {id, kind, ...}; kind "alternates" (questions → an existing FAQ entry), "entry"
    (a new FAQ entry answered from a report section) or "out_of_scope" (questions to refuse)."""
    data = load_yaml(path) if path.exists() else []
    if data == [] or data is None:
        return []
    entries = _require_list(data, path, "teachings")
    for entry in entries:
        _require(entry, ("id", "kind"), path, f"teaching {entry.get('id')!r}")
        if entry["kind"] not in TAUGHT_KINDS:
            raise CuratedError(f"{path}: teaching {entry['id']!r} has kind {entry['kind']!r}; "
                               f"expected one of {', '.join(TAUGHT_KINDS)}")
        questions = entry.get("questions") if entry["kind"] != "entry" else [entry.get("question"),
                                                                              *(entry.get("alternates") or [])]
        if not isinstance(questions, list) or not questions or not all(isinstance(q, str) and q.strip()
                                                                         for q in questions):
            raise CuratedError(f"{path}: teaching {entry['id']!r} needs its questions as a list of strings")
    return entries


def agency_names(agencies: str | list[str]) -> list[str]:
    """The agencies in a report attribution: "國發會、通傳會、交通部等" → 國發會, 通傳會, 交通部."""
    parts = agencies if isinstance(agencies, list) else re.split(r"[、,，及與和]", agencies or "")
    out: list[str] = []
    for part in parts:
        name = re.sub(r"等$", "", part.strip()).strip()
        if name and name not in out:
            out.append(name)
    return out


def load_curated(curated_dir: Path, outline: Outline, report_text: str, taught_dir: Path | None = None) -> Curated:
    """Load every curated file and check it against the parsed report; then add what admins taught:
    curated/taught.yaml (committed, checked strictly) and `taught_dir`/taught.yaml (the data directory's,
    where a teaching that no longer fits the report or the FAQ is skipped and listed, not fatal)."""
    axes = _require_list(load_yaml(curated_dir / "axes.yaml"), curated_dir / "axes.yaml", "axes")
    indicators = _require_list(load_yaml(curated_dir / "indicators.yaml"), curated_dir / "indicators.yaml",
                               "indicators")
    budget = load_yaml(curated_dir / "budget.yaml")
    if not isinstance(budget, dict):
        raise CuratedError(f"{curated_dir / 'budget.yaml'}: expected a mapping with axes and totals")
    faq = _require_list(load_yaml(curated_dir / "faq.yaml"), curated_dir / "faq.yaml", "FAQ entries")
    synonyms = _require_list(load_yaml(curated_dir / "synonyms.yaml"), curated_dir / "synonyms.yaml",
                             "synonym groups")
    source_notes = _require_list(load_yaml(curated_dir / "source_notes.yaml"), curated_dir / "source_notes.yaml",
                                 "notes")
    questions = load_questions_dir(curated_dir)
    curated = Curated(axes, indicators, budget, faq, synonyms, source_notes, questions,
                      report=load_yaml(curated_dir / "report.yaml"),
                      places=load_places(curated_dir / "places.yaml"),
                      stopwords=load_stopwords(curated_dir / "stopwords.txt"))
    checker = _Checker(curated_dir, outline, report_text)
    checker.report_facts(curated.report)
    checker.axes(axes)
    checker.indicators(indicators, curated)
    checker.budget(budget, curated)
    checker.faq(faq)
    checker.synonyms(synonyms)
    checker.source_notes(source_notes, curated)
    checker.breakdowns(curated)
    curated.agencies = checker.agencies(load_yaml(curated_dir / "agencies.yaml") if (curated_dir / "agencies.yaml").exists()
                                        else [])
    committed = load_taught(curated_dir / TAUGHT_FILENAME)
    checker.taught(committed, curated, curated_dir / TAUGHT_FILENAME, strict=True)
    if taught_dir is not None:
        path = taught_dir / TAUGHT_FILENAME
        try:
            local = load_taught(path)
        except CuratedError as exc:  # the data directory's file is the bot's own; never block a start on it
            curated.taught_skipped.append(str(exc))
            local = []
        checker.taught([e for e in local if str(e["id"]) not in curated.taught_applied], curated, path, strict=False)
    return curated


class _Checker:
    def __init__(self, curated_dir: Path, outline: Outline, report_text: str):
        self.dir = curated_dir
        self.outline = outline
        self.report = squeeze(report_text)
        self.report_clean = squeeze("".join(s for n in outline.nodes for s in n.sentences))
        self.nodes = {compact_path(n.path): n for n in outline.nodes}

    def _in_report(self, text: str) -> bool:
        t = squeeze(text)
        return t in self.report or t in self.report_clean

    def report_facts(self, report: dict) -> None:
        """report.yaml: every quote is in the report, every number of a text is in its quotes."""
        path = self.dir / "report.yaml"
        if not isinstance(report, dict):
            raise CuratedError(f"{path}: expected a mapping (title, about, budget_na_en)")
        _require(report, ("title", "title_en", "title_quotes"), path, "the report")
        entries = [("title", {"text": report["title"], "quotes": report["title_quotes"]})]
        entries += [(f"about {e.get('id')!r}", e) for e in _require_list(report.get("about") or [], path, "about entries")]
        entries += [(f"budget_na_en axis {e.get('axis')}", e)
                    for e in _require_list(report.get("budget_na_en") or [], path, "budget notes")]
        for label, entry in entries:
            quotes = entry.get("quotes")
            if not isinstance(quotes, list) or not quotes or not all(isinstance(q, str) for q in quotes):
                raise CuratedError(f"{path}: {label} needs quotes (a list of the report's words)")
            for quote in quotes:
                if not self._in_report(quote):
                    raise CuratedError(f"{path}: {label} quotes {quote!r}, which is not in the report")
            quoted = set(re.findall(r"\d+", squeeze("".join(quotes))))
            for key in ("text", "text_en"):
                for number in re.findall(r"\d+", squeeze(str(entry.get(key, "")))):
                    if number not in quoted:
                        raise CuratedError(f"{path}: {label} {key} states {number}, which its quotes do not")

    def axes(self, axes: list[dict]) -> None:
        path = self.dir / "axes.yaml"
        parsed = {n.number: n for n in self.outline.axes()}
        seen = set()
        for entry in axes:
            _require(entry, ("axis", "name", "name_en", "lead_agency"), path, f"axis {entry.get('axis')}")
            number = entry["axis"]
            seen.add(number)
            node = parsed.get(number)
            if node is None:
                raise CuratedError(f"{path}: axis {number} is not in the report's outline")
            if squeeze(entry["name"]) != squeeze(node.title):
                raise CuratedError(f"{path}: axis {number} is named {entry['name']!r} but the report has {node.title!r}")
            if node.lead_agency:
                if entry["lead_agency"] != node.lead_agency:
                    raise CuratedError(f"{path}: axis {number} lead agency {entry['lead_agency']!r} differs from "
                                       f"the report's 【主責機關：{node.lead_agency}】")
            else:
                evidence = entry.get("lead_agency_evidence", "")
                if not evidence or entry["lead_agency"] not in evidence or not self._in_report(evidence):
                    raise CuratedError(f"{path}: axis {number} has no 【主責機關】 tag in the report, so "
                                       "lead_agency_evidence must quote report text naming the agency")
        missing = set(parsed) - seen
        if missing:
            raise CuratedError(f"{path}: axes {sorted(missing)} from the report are missing")

    def indicators(self, indicators: list[dict], curated: Curated) -> None:
        path = self.dir / "indicators.yaml"
        intro = self.outline.by_path("參、")
        groups = re.findall(r"「([^」]+)」", intro.text)
        rows = {squeeze(r.name): r for r in parse_indicator_table(self.outline.indicator_table, groups)}
        notes = {n.number: n for n in self.outline.nodes if n.kind == "note" and n.parent and n.parent.label == "總體指標表"}
        for entry in indicators:
            _require(entry, ("key", "name", "name_en", "unit", "values", "footnote"), path,
                     f"indicator {entry.get('key')!r}")
            row = rows.get(squeeze(entry["name"]))
            if row is None:
                raise CuratedError(f"{path}: indicator {entry['key']!r} ({entry['name']}) is not a row of the "
                                   "report's indicator table")
            self._check_cells(path, f"indicator {entry['key']!r}", entry, row)
            estimates = {c.year for c in row.cells if c.estimate}
            if set(entry.get("estimates") or []) != estimates:
                raise CuratedError(f"{path}: indicator {entry['key']!r} estimate years {entry.get('estimates')} "
                                   f"differ from the table's (預估值) years {sorted(estimates)}")
            note = notes.get(int(entry["footnote"]))
            if note is None:
                raise CuratedError(f"{path}: indicator {entry['key']!r} cites footnote {entry['footnote']}, "
                                   "which the table does not have")
            entry["definition"] = note.text
            entry["definition_path"] = note.path
            entry["printed"] = row.printed
            entry["printed_marker"] = row.marker
            if row.marker and str(entry["footnote"]) != row.marker:
                curated.notes.append(
                    f"總體指標表：「{entry['name']}」印有註[{row.marker}]，但其定義見註{entry['footnote']}"
                    f"（{note.text}）。"
                )

    def _check_cells(self, path: Path, label: str, entry: dict, row: ParsedRow) -> None:
        values = entry.get("values") or {}
        if not isinstance(values, dict):
            raise CuratedError(f"{path}: {label} values must map years to figures")
        printed = {c.year: c for c in row.cells}
        for year, text in values.items():
            cell = printed.get(int(year))
            if cell is None:
                raise CuratedError(f"{path}: {label} has a value for {year}, which the report's table lacks")
            if squeeze(str(text)) != squeeze(cell.text):
                raise CuratedError(f"{path}: {label} {year} is {text!r} but the report's table prints {cell.text!r}")
        if set(map(int, values)) != set(printed):
            raise CuratedError(f"{path}: {label} lists years {sorted(map(int, values))} but the report's table "
                               f"has {sorted(printed)}")

    def budget(self, budget: dict, curated: Curated) -> None:
        path = self.dir / "budget.yaml"
        rows, total = parse_budget_table(self.outline.budget_table)
        by_axis = {int(r.marker): r for r in rows}
        entries = budget.get("axes")
        if not isinstance(entries, list):
            raise CuratedError(f"{path}: expected a list under 'axes'")
        for entry in entries:
            _require(entry, ("axis",), path, "an axis entry")
            row = by_axis.get(int(entry["axis"]))
            if row is None:
                raise CuratedError(f"{path}: axis {entry['axis']} is not a row of the report's budget table")
            label = f"axis {entry['axis']}"
            if not row.cells:
                if not entry.get("note"):
                    raise CuratedError(f"{path}: {label} has no figures in the report ({row.note}); give a note")
                if squeeze(entry["note"]) not in squeeze(row.note):
                    raise CuratedError(f"{path}: {label} note {entry['note']!r} differs from the report's {row.note!r}")
                continue
            self._check_cells(path, label, entry, row)
            entry["printed"] = row.printed
        self._check_cells(path, "totals (合計)", {"values": budget.get("totals") or {}}, total)
        budget["printed_total"] = total.printed
        tolerance = float(budget.get("rounding_tolerance", 1.0))
        for cell in total.cells:
            summed = round(sum(c.value for r in rows for c in r.cells if c.year == cell.year), 1)
            diff = round(summed - cell.value, 1)
            check = {"year": cell.year, "stated": cell.text, "stated_value": cell.value, "sum": summed,
                     "difference": diff, "discrepancy": abs(diff) > tolerance}
            curated.budget_checks.append(check)
            if check["discrepancy"]:
                curated.notes.append(
                    f"投入預算表：{cell.year}年各主軸加總為{summed:g}億元，但表列合計為{cell.text}（相差{diff:+g}億元）。"
                )
                # An answer quoting the totals says so, stating no computed figure.
                curated.flagged.append((f"{cell.year}年各主軸預算加總與表列合計{cell.text}不一致，報告原文如此",
                                        [total.printed]))

    def faq(self, faq: list[dict]) -> None:
        path = self.dir / "faq.yaml"
        seen: set[str] = set()
        for entry in faq:
            _require(entry, ("id", "question", "answer", "path"), path, f"FAQ entry {entry.get('id')!r}")
            fid = str(entry["id"])
            if fid in seen:
                raise CuratedError(f"{path}: FAQ id {fid!r} is used twice")
            seen.add(fid)
            self.faq_entry(entry, path)

    def faq_entry(self, entry: dict, path: Path) -> None:
        """One FAQ entry: its alternates are strings, its section exists, its figures are that section's."""
        fid = str(entry["id"])
        alternates = entry.get("alternates") or []
        if not isinstance(alternates, list) or not all(isinstance(a, str) for a in alternates):
            raise CuratedError(f"{path}: FAQ entry {fid!r} alternates must be a list of strings")
        node = self.nodes.get(compact_path(entry["path"]))
        if node is None:
            raise CuratedError(f"{path}: FAQ entry {fid!r} cites {entry['path']!r}, which is not in the outline")
        if node.kind == "table":
            source = self.report  # table cells are checked against the printed table
        else:
            source = squeeze(node.text + "".join(node.sentences))
        answer = str(entry["answer"])
        for fig in extract_figures(answer):
            if squeeze(fig.text) not in source and squeeze(re.sub(r"^新[臺台]幣", "", fig.text)) not in source:
                raise CuratedError(f"{path}: FAQ entry {fid!r}: figure {fig.text!r} is not in the report text "
                                   f"of {node.path}")
        for number in re.findall(r"\d[\d,.]*\d|\d", squeeze(answer)):
            if number not in source:
                raise CuratedError(f"{path}: FAQ entry {fid!r}: number {number!r} is not in the report text "
                                   f"of {node.path}")
        entry["node_path"] = node.path

    def agencies(self, entries: Any) -> list[dict]:
        """agencies.yaml: each agency is one the report names and its website is an official address;
        every agency the report names as responsible is listed."""
        path = self.dir / "agencies.yaml"
        entries = _require_list(entries, path, "agencies")
        named = {name for node in self.outline.nodes for name in agency_names(node.agencies)}
        seen: set[str] = set()
        for entry in entries:
            _require(entry, ("name", "full_name", "website"), path, f"agency {entry.get('name')!r}")
            name, website = str(entry["name"]), str(entry["website"])
            if name in seen:
                raise CuratedError(f"{path}: agency {name!r} is listed twice")
            seen.add(name)
            if name not in named and not self._in_report(name):
                raise CuratedError(f"{path}: agency {name!r} is not named in the report")
            if not _WEBSITE.fullmatch(website):
                raise CuratedError(f"{path}: agency {name!r} website {website!r} is not an official website address "
                                   "(https://, a .gov.tw or .edu.tw host, ending in /; no phone numbers or e-mail)")
            for key in ("full_name", "now"):
                if re.search(r"@|\d{2,4}-\d{3,4}|https?:", str(entry.get(key) or "")):
                    raise CuratedError(f"{path}: agency {name!r} {key} holds contact details; websites only")
        missing = sorted(named - seen)
        if missing:
            raise CuratedError(f"{path}: the report names {', '.join(missing)} as responsible but the directory "
                               "has no entry for them")
        return [{"name": str(e["name"]), "full_name": str(e["full_name"]), "now": str(e.get("now") or ""),
                 "website": str(e["website"])} for e in entries]

    def taught(self, entries: list[dict], curated: Curated, path: Path, *, strict: bool) -> None:
        """Teachings become FAQ alternates, new FAQ entries or questions to refuse, checked like faq.yaml.
        With `strict` a teaching that does not fit fails the build; otherwise it is skipped and listed."""
        faq = {str(e["id"]): e for e in curated.faq}
        for entry in entries:
            tid = str(entry["id"])
            try:
                if tid in curated.taught_applied:
                    raise CuratedError(f"{path}: teaching id {tid!r} is used twice")
                if entry["kind"] == "alternates":
                    target = faq.get(str(entry.get("faq")))
                    if target is None:
                        raise CuratedError(f"{path}: teaching {tid!r} attaches questions to FAQ entry "
                                           f"{entry.get('faq')!r}, which does not exist")
                    known = list(target.get("alternates") or [])
                    target["alternates"] = known + [q for q in entry["questions"] if q not in known
                                                    and q != target["question"]]
                elif entry["kind"] == "entry":
                    _require(entry, ("question", "answer", "path"), path, f"teaching {tid!r}")
                    if tid in faq:
                        raise CuratedError(f"{path}: teaching {tid!r} reuses the FAQ id {tid!r}")
                    new = {"id": tid, "question": str(entry["question"]),
                           "alternates": [str(a) for a in entry.get("alternates") or []],
                           "answer": str(entry["answer"]), "path": str(entry["path"])}
                    self.faq_entry(new, path)
                    node = self.nodes[compact_path(new["path"])]
                    new["axis"] = next((a.number for a in [node, *node.ancestors()] if a.kind == "axis"), 0)
                    curated.faq.append(new)
                    faq[tid] = new
                else:
                    curated.taught_out_of_scope += [{"question": q, "teaching": tid} for q in entry["questions"]]
            except CuratedError as exc:
                if strict:
                    raise
                curated.taught_skipped.append(str(exc))
                continue
            curated.taught_applied.append(tid)

    def synonyms(self, synonyms: list[dict]) -> None:
        path = self.dir / "synonyms.yaml"
        report_lower = (self.report + self.report_clean).lower()
        for entry in synonyms:
            _require(entry, ("canonical", "variants"), path, f"synonym group {entry.get('canonical')!r}")
            if squeeze(str(entry["canonical"])).lower() not in report_lower:
                raise CuratedError(f"{path}: synonym canonical {entry['canonical']!r} does not appear in the report")
            if not isinstance(entry["variants"], list):
                raise CuratedError(f"{path}: synonym group {entry['canonical']!r} variants must be a list")

    _BREAKDOWN = re.compile(
        r"(?P<total>\d[\d,]*)\s*(?P<unit>人次|人|家|校|間|名|次|件)\s*[(（](?P<parts>(?:\s*(?:19|20)\d{2}\s*年度?\s*"
        r"\d[\d,]*\s*(?P=unit)\s*[、，,]?)+)[)）]")

    def breakdowns(self, curated: Curated) -> None:
        """Totals printed with a per-year breakdown ("13,885人次(2017年3,507人次、…)") must add up."""
        for node in self.outline.nodes:
            for sentence in node.sentences:
                for m in self._BREAKDOWN.finditer(sentence):
                    parts = re.findall(r"(?:19|20)\d{2}\s*年度?\s*(\d[\d,]*)", m.group("parts"))
                    total = int(m.group("total").replace(",", ""))
                    summed = sum(int(p.replace(",", "")) for p in parts)
                    if len(parts) >= 2 and summed != total:
                        note = (f"{node.path}：總數{m.group('total')}{m.group('unit')}與括號內各年數字加總"
                                f"{summed:,}{m.group('unit')}不一致。")
                        curated.notes.append(note)
                        # What an answer quoting it says: no computed figure, only that they differ.
                        curated.flagged.append((f"總數{m.group('total')}{m.group('unit')}與括號內各年數字加總不一致，"
                                                "報告原文如此", [m.group(0)]))

    def source_notes(self, notes: list[dict], curated: Curated) -> None:
        path = self.dir / "source_notes.yaml"
        for entry in notes:
            _require(entry, ("id", "note", "quotes"), path, f"source note {entry.get('id')!r}")
            for quote in entry["quotes"]:
                if not self._in_report(quote):
                    raise CuratedError(f"{path}: source note {entry['id']!r} quotes {quote!r}, which is not in the report")
            # Answers quoting the sentence carry the note: its numbers must be the quotes' own.
            quoted = set(re.findall(r"\d+(?:\.\d+)?", squeeze("".join(entry["quotes"]))))
            stray = [n for n in re.findall(r"\d+(?:\.\d+)?", squeeze(entry["note"])) if n not in quoted]
            if stray:
                raise CuratedError(f"{path}: source note {entry['id']!r} states {', '.join(stray)}, which its quotes "
                                   "do not")
            curated.notes.append(entry["note"])
            curated.flagged.append((entry["note"], list(entry["quotes"])))
