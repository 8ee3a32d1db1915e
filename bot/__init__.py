"""The answering core: understanding's output → candidates → decision → reply, grounded in the report.

It also keeps what answering needs around it: sessions (follow-up context), the query log, the
reload service, table views and arithmetic, charts and CSV. It never imports telegram, aiohttp or
handlers/ (tests/test_layout.py checks).
"""

import os as _os

# intents/typos.py reads single characters only (their every pinyin reading), and pypinyin reads a single
# character from its character dictionary: its phrase dictionary (~50 MB of the process) is never consulted
# for one, so it is not loaded. Set here, before anything imports pypinyin, rather than in intents/ (whose
# code the ranker's fingerprint covers). tests/test_lean.py checks every CJK character reads the same.
_os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
_os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")  # nothing edits pypinyin's dictionaries
