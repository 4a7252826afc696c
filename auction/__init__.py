"""liqnet: a liquidation-auction simulator and keeper framework (the protocol side; see DESIGN.md's layout)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liqnet")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
