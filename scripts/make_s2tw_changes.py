"""Writes intents/data/s2tw_changes.txt: every CJK character OpenCC's s2tw conversion changes on its own.

A message holding none of them (or only ones the report itself writes) is read as typed without loading
OpenCC's s2tw dictionaries (~43 MB per process). tests/test_lean.py checks the file against OpenCC.

    .venv/bin/python scripts/make_s2tw_changes.py
"""

from __future__ import annotations

from pathlib import Path

import opencc

CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))  # as intents/normalize._CJK
OUT = Path(__file__).resolve().parent.parent / "intents" / "data" / "s2tw_changes.txt"


def changed_characters() -> str:
    converter = opencc.OpenCC("s2tw")
    return "".join(c for a, b in CJK_RANGES for c in map(chr, range(a, b + 1)) if converter.convert(c) != c)


if __name__ == "__main__":
    chars = changed_characters()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(chars + "\n", encoding="utf-8")
    print(f"{OUT}: {len(chars)} characters")
