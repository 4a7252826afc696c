"""``python -m auction.cli``: the ``liqnet`` command."""

import sys

from auction.cli import main

sys.exit(main())
