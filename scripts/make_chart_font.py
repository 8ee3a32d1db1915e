"""Regenerate bot/fonts/NotoSansTC-charts.otf: Noto Sans CJK TC cut down to the characters charts can
draw (the report's text, the curated files, the chart code's own labels, printable ASCII).

Charts prefer a system "Noto Sans CJK TC" (Debian: fonts-noto-cjk); this subset lets a fresh install
with no CJK font draw them too, at ~1 MB instead of mplfonts' 100 MB. Needs fonts-noto-cjk and
fontTools (a matplotlib dependency). Run from the repository root:

    .venv/bin/python scripts/make_chart_font.py
"""

from __future__ import annotations

import string
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
TARGET = ROOT / "bot" / "fonts" / "NotoSansTC-charts.otf"


def characters() -> str:
    texts = [(ROOT / "knowledge" / "source").glob("*.txt"), (ROOT / "knowledge" / "curated").glob("*.yaml"),
             [ROOT / "bot" / "charts.py", ROOT / "bot" / "tables.py"]]
    chars = set(string.printable) | set("　，。、；：？！「」『』（）《》〈〉【】—…～·・％＋－×÷＝￥▲▼●○■□※")
    for group in texts:
        for path in group:
            chars |= set(path.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if c.isprintable()))


def main() -> int:
    if not SOURCE.exists():
        print(f"{SOURCE} is missing: apt-get install fonts-noto-cjk", file=sys.stderr)
        return 1
    collection = TTCollection(str(SOURCE))
    font = next(f for f in collection.fonts if f["name"].getDebugName(1) == "Noto Sans CJK TC")
    options = subset.Options()
    options.name_IDs = ["*"]  # keep the family name and the licence notice
    options.layout_features = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(TARGET))
    print(f"{TARGET.relative_to(ROOT)}: {TARGET.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
