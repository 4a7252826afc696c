"""The JSON log lines of the processes a selftest run starts (``--log-format json``), read back."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any


def log_time(event: dict[str, Any]) -> float:
    """The ``timestamp`` of a JSON log line (ISO 8601, UTC) as ``time.time`` seconds; 0 when absent."""
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        return 0.0
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


def log_events(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    yield event
