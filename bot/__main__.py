"""`python -m bot`: the same as the `digibot` command.

This launcher is the one file in bot/ that names handlers/: it is the program's entry point, not
part of the core, and nothing imports it (tests/test_layout.py allows exactly this file).
"""

import sys

from handlers.cli import main

sys.exit(main())
