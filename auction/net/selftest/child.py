"""One OS process of a selftest cluster (a house life or a keeper): started tied to this process, signalled
for faults, stopped in order, and its JSON log read back."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from auction.net.selftest.logs import log_events
from broker.child_process import log_tail, popen_tied

STOP_GRACE_S = 5.0


@dataclass(slots=True)
class Child:
    """One OS process of the cluster, its log file, and how many times it was started."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    lives: int = 0
    _out: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> Child:
        self.close_log()
        self._out = self.log_path.open("ab")
        # Tied to this process: a selftest killed outright leaves no house or keeper behind.
        self.proc = popen_tied(self.argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                               env=self.env)
        self.lives += 1
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGCONT (a stopped process cannot exit), SIGTERM, then SIGKILL after the grace period."""
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            if self.wait(STOP_GRACE_S) is None:
                self.signal(signal.SIGKILL)
                self.wait(STOP_GRACE_S)
        self.close_log()

    def close_log(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def tail(self, lines: int = 5) -> str:
        return log_tail(self.log_path, lines, missing="(no log)", empty="(empty log)")

    def events(self) -> Iterator[dict[str, Any]]:
        """The JSON log lines of every life of this process."""
        yield from log_events(self.log_path)
