"""The network house's clock: scenario time from (accelerated) wall time, held back when the house falls behind,
and how late each block was applied (what its ``HouseStatus`` reports as lag).

scenario time = (wall - wall0) * speed. A house that cannot keep up runs slower than ``speed``; it never skips
a block and never replays lost wall time in a burst (``hold``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import structlog

log = structlog.get_logger()

STATUS_EVERY_S = 0.25  # wall seconds between house-status updates (lag; QoS 1: a paused broker shows at once)
HOLD_AFTER_BLOCKS = 1.0  # the clock runs at most this many blocks past the last input applied: no catch-up burst


class HouseClock:
    """Scenario time for a house running at ``speed`` scenario seconds per wall second of ``clock``."""

    def __init__(self, speed: float, clock: Callable[[], float]) -> None:
        self.speed, self.clock = speed, clock
        self.wall0 = 0.0
        self.held = 0.0  # scenario seconds the clock was held back, in total: the house had fallen behind
        self._held_logged = -math.inf
        self.lag = 0.0  # scenario seconds the latest block was applied after its time
        self.max_lag = 0.0
        self.late_blocks = 0  # blocks applied more than one block after their time

    def now(self) -> float:
        return (self.clock() - self.wall0) * self.speed

    def start(self, at: float) -> None:
        """Run on from scenario time ``at``: the clock does not jump over the time the house was down."""
        self.wall0 = self.clock() - at / self.speed

    def hold(self, next_time: float, block: float, t: float) -> None:
        """A house that fell behind (a flood, a paused broker, a stalled machine) does not replay the wall time it
        lost in a burst of blocks: its clock is held back so that the next input (due at ``next_time``) is at most
        ``HOLD_AFTER_BLOCKS`` blocks overdue, and the run goes on at its own pace from there, as a stalled chain
        resumes. How late the input was counts as lag; the scenario time held back is reported (``held_ms`` in
        the status). ``t`` is the house's time, for the log line."""
        overdue = self.now() - next_time
        excess = overdue - HOLD_AFTER_BLOCKS * block
        if excess <= 0 or not math.isfinite(excess):
            return
        self.wall0 += excess / self.speed
        self.held += excess
        self.max_lag = max(self.max_lag, overdue)
        self.late_blocks += int(overdue // block)
        if self.clock() - self._held_logged >= STATUS_EVERY_S * 4:  # one line a second at most
            self._held_logged = self.clock()
            log.warning("house behind its clock: clock held, no catch-up burst", t=t,
                        behind_s=round(overdue, 3), held_s=round(self.held, 3))

    def lagged(self, t: float, block: float) -> None:
        """The input due at scenario time ``t`` is applied and its outputs handed to the bus: how late?"""
        self.lag = max(0.0, self.now() - t)
        self.max_lag = max(self.max_lag, self.lag)
        if self.lag > block:
            self.late_blocks += 1
            log.info("house behind its clock", t=t, lag_s=round(self.lag, 3))
