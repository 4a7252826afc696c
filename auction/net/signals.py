"""Clean shutdown of a process runtime on SIGINT / SIGTERM (shared by the house and keeper processes)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGINT or SIGTERM while the running loop lives (no-op where unsupported)."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)


def remove() -> None:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)
