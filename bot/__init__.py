"""The answering core: understanding's output → candidates → decision → reply, grounded in the report.

It also keeps what answering needs around it: sessions (follow-up context), the query log, the
reload service, table views and arithmetic, charts and CSV. It never imports telegram, aiohttp or
handlers/ (tests/test_layout.py checks).
"""
