"""What a process starting on a built KB reads instead of working it out: the answering core's start-up state.

Setting up the answering core loads jieba's dictionary, works out the pinyin readings of ~9,000 report terms
and segments and indexes the report's sentences: ~1.2 s at every start. The result (`Understander.state` and
`SentenceIndex.state`) is a function of the vocabulary drawn from the KB, the KB's sentences and outline, the
code in intents/ and knowledge/search.py and the versions of jieba, pypinyin and OpenCC, so it is written
into the KB file once — by `digibot build-kb`, a reload's staging build, or the first start on a KB without
it — under a fingerprint of all of those, and read back (~0.1 s) by every later start. A fingerprint that
does not match (other code, another vocabulary) is not read: that start works the state out again and
writes it.

marshal, not pickle or JSON: the state is plain dicts, lists and strings, marshal reads them fastest and shares
repeated strings, and it cannot run code. The KB file is the project's own (built by `digibot build-kb`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import marshal
import sqlite3
import sys
from importlib import metadata
from pathlib import Path

from intents.pipeline import Vocabulary

log = logging.getLogger(__name__)

NAME = "start-up"  # one row: the understanding pipeline's and the search index's state together
TABLE = "prepared"
INTENTS = Path(__file__).resolve().parents[1] / "intents"
LIBRARIES = ("jieba", "pypinyin", "opencc")


def fingerprint(vocabulary: Vocabulary, *sources: str) -> str:
    """Everything the state depends on: the vocabulary, the code in intents/ (with its data), the libraries and
    Python's version, and `sources` (digests of what else went into it: the search index's KB content and
    code)."""
    digest = hashlib.sha256(f"prepared 1 python {sys.version_info[:2]} marshal {marshal.version}\n".encode()
                            + "\n".join(sources).encode())
    for library in LIBRARIES:
        digest.update(f"{library} {_version(library)}\n".encode())
    for path in sorted(p for p in INTENTS.rglob("*") if p.is_file() and p.suffix in (".py", ".txt")):
        digest.update(path.relative_to(INTENTS).as_posix().encode() + b"\0" + path.read_bytes())
    for field in dataclasses.fields(vocabulary):
        value = getattr(vocabulary, field.name)
        if isinstance(value, (set, frozenset)):
            value = sorted(value)  # a set's order changes from process to process
        digest.update(f"{field.name} {value!r}\n".encode())
    return digest.hexdigest()


def read(path: Path, wanted: str) -> dict | None:
    """The state stored in the KB file at `path` when its fingerprint is `wanted`; None otherwise."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            row = con.execute(f"select fingerprint, value from {TABLE} where name = ?", (NAME,)).fetchone()
    except sqlite3.Error:
        return None  # no such table (a KB built by knowledge/ alone) or no file
    if row is None or row[0] != wanted:
        return None
    try:
        return marshal.loads(row[1])
    except (EOFError, ValueError, TypeError):
        log.warning("the prepared state in %s cannot be read; working it out again", path)
        return None


def write(path: Path, wanted: str, state: dict) -> bool:
    """Store `state` under `wanted` in the KB file; False (and a warning) when the file cannot be written."""
    try:
        with sqlite3.connect(path) as con:
            con.execute(f"create table if not exists {TABLE} (name text primary key, fingerprint text not null, "
                        "value blob not null)")
            con.execute(f"insert or replace into {TABLE} (name, fingerprint, value) values (?, ?, ?)",
                        (NAME, wanted, marshal.dumps(state)))
        return True
    except sqlite3.Error as exc:
        log.warning("could not store the prepared state in %s (%s); the next start works it out again", path, exc)
        return False


def _version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return "?"
