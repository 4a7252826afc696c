"""A keeper's money as the keeper itself sees it: cash, what is committed to auctions, limits, P&L.

All amounts are ints in numeraire base units (``auction.units``). ``cash`` mirrors what the ledger keeps
for the keeper (its escrow ``keeper:<id>`` plus its holds ``hold:<auction>:<id>``); ``committed`` is the
worst case each auction can still cost (a standing bid, a sealed deposit or bid, a take in flight),
kept until the auction's result says what was really paid. Every action is checked against
``budget(auction)`` before it leaves, so a strategy bug cannot spend what the keeper does not have or
more than its limits allow; the house checks the same escrow again on its side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auction import units


@dataclass(frozen=True, slots=True)
class Limits:
    """What a keeper may risk, in USD (``inf`` = no limit beyond its balance)."""

    max_per_auction: float = math.inf
    max_total: float = math.inf  # across all auctions at once
    max_priority_fee: float = 1_000.0  # gwei: a cap on what the gas war may offer
    deadline_s: float = 1.0  # live keeper: a strategy call running longer is abandoned (None decision)

    def __post_init__(self) -> None:
        for name in ("max_per_auction", "max_total", "max_priority_fee", "deadline_s"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0:
                raise ValueError(f"limit {name} must be >= 0, got {value}")


@dataclass(slots=True)
class Book:
    """Profit and loss so far (numeraire base units) and activity counts."""

    spent: int = 0  # paid for collateral
    proceeds: int = 0  # from reselling it
    gas: int = 0
    incentives: int = 0  # Clipper tip + chip for redo
    forfeits: int = 0  # sealed deposits lost without a reveal
    won: int = 0  # auctions in which this keeper bought something
    bought: int = 0  # collateral base units bought

    @property
    def realized(self) -> int:
        return self.proceeds + self.incentives - self.spent - self.gas - self.forfeits


@dataclass(slots=True)
class Wallet:
    """Cash, per-auction commitments and the limits that bound them.

    ``committed`` changes only through the methods below, which keep ``total_committed`` as a running sum:
    ``budget`` is asked once per decision, and summing every open commitment each time made it cost
    O(auctions in flight).
    """

    cash: int
    limits: Limits = field(default_factory=Limits)
    committed: dict[int, int] = field(default_factory=dict)
    total_committed: int = 0
    # (limits, cap_total, cap_per_auction): the caps in base units, worked out once per Limits (it is frozen)
    _caps: tuple[Limits | None, int, int] = field(default=(None, 0, 0), init=False, repr=False, compare=False)

    @property
    def available(self) -> int:
        return max(0, self.cash - self.total_committed)

    def __post_init__(self) -> None:
        self.total_committed = sum(self.committed.values())

    @property
    def cap_total(self) -> int:
        """``limits.max_total`` in base units (2**62 when unlimited)."""
        return self._limit_caps()[1]

    @property
    def cap_per_auction(self) -> int:
        return self._limit_caps()[2]

    def _limit_caps(self) -> tuple[Limits | None, int, int]:
        caps = self._caps
        if caps[0] is not self.limits:
            limits = self.limits
            caps = self._caps = (limits, _cap(limits.max_total), _cap(limits.max_per_auction))
        return caps

    def budget(self, auction: int) -> int:
        """The most a new action in ``auction`` may commit: balance, per-auction and total limits."""
        used = self.total_committed
        _, cap_total, cap_per_auction = self._limit_caps()
        room = min(self.cash - used, cap_total - used, cap_per_auction - self.committed.get(auction, 0))
        return room if room > 0 else 0

    def commit(self, auction: int, amount: int) -> None:
        if amount > 0:
            self._set(auction, self.committed.get(auction, 0) + amount)

    def uncommit(self, auction: int, amount: int) -> None:
        self._set(auction, self.committed.get(auction, 0) - amount)

    def set_committed(self, auction: int, amount: int) -> None:
        self._set(auction, amount)

    def settle(self, auction: int) -> None:
        self._set(auction, 0)

    def _set(self, auction: int, amount: int) -> None:
        """The one writer of ``committed`` (a non-positive amount removes the entry)."""
        self.total_committed -= self.committed.pop(auction, 0)
        if amount > 0:
            self.committed[auction] = amount
            self.total_committed += amount


def _cap(limit_usd: float) -> int:
    return units.num(limit_usd) if math.isfinite(limit_usd) else 2**62
