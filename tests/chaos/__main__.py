"""``python -m tests.chaos [--quick] [--only F1,F2] [--keep DIR]``: the fault and attack suite, one line per family.

The same as ``liqnet selftest``; the arguments are parsed by ``auction/cli/`` (the one place that parses).
"""

from __future__ import annotations

import sys

from auction.cli import main

if __name__ == "__main__":
    sys.exit(main(["selftest", *sys.argv[1:]]))
