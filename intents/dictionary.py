"""jieba's dictionary, trimmed of its rarest entries, with part-of-speech tags kept.

jieba's bundled dictionary has 349,046 entries; loading it (and, separately, its tags) costs
about 0.7 s at every start. Entries seen fewer than MIN_FREQ times in jieba's corpus add
nothing for questions about this report (its own terms are added by the tokenizer), so a
trimmed copy is written once to the temporary directory, as jieba does with its own cache.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from importlib import resources
from pathlib import Path

MIN_FREQ = 5


def trimmed_dictionary() -> tuple[Path, dict[str, str]]:
    """Path of the trimmed dictionary file (written if missing) and its word → tag table (kept beside it, so
    a start reads the table instead of parsing jieba's 349,046 lines again)."""
    source = resources.files("jieba").joinpath("dict.txt").read_bytes()
    digest = hashlib.sha256(source + f"min_freq={MIN_FREQ}".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"digibot-jieba-{digest}.txt"
    tags_path = path.with_suffix(".tags")
    if path.exists() and tags_path.exists():
        try:
            tags = marshal.loads(tags_path.read_bytes())
            if isinstance(tags, dict):
                return path, tags
        except (ValueError, EOFError, TypeError, OSError):
            pass  # written by another Python, or damaged: made again below
    tags: dict[str, str] = {}
    kept: list[str] = []
    for line in source.decode("utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        word, freq = parts[0], int(parts[1])
        if freq >= MIN_FREQ or len(word) == 1:
            kept.append(line)
            if len(parts) > 2:
                tags[word] = parts[2]
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(kept) + "\n", encoding="utf-8")
        os.replace(tmp, path)  # atomic: concurrent starts never read half a file
    tmp = tags_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(marshal.dumps(tags))
    os.replace(tmp, tags_path)
    return path, tags
