"""Dutch auction with MakerDAO Liquidations 2.0 (Clipper) semantics.

Reference: makerdao/dss ``src/clip.sol`` (``kick``, ``redo``, ``take``, ``status``). Amounts are ints in
base units (``lot`` collateral, ``tab`` numeraire, see ``auction.units``); ``top`` and the curve are floats,
and each take quantizes the curve price once with ``units.price_q`` (rounded down, a quantum of 1e-6
numeraire per token), so ``owe = cost(slice, price)`` and ``slice = qty_for(owe, price)`` mirror
Clipper's ``owe = slice * price`` and ``slice = owe / price``.
"""

from __future__ import annotations

from dataclasses import dataclass

from auction import units
from auction.curves import Curve
from auction.errors import Rejected
from auction.fills import Fill


@dataclass(slots=True)
class DutchAuction:
    """One Clipper sale: ``lot`` collateral for up to ``tab`` numeraire, price from ``curve`` and ``top``.

    ``tail`` (seconds) and ``cusp`` (fraction of ``top``) decide when a reset is due; ``chost`` (numeraire
    units, Clipper's ``dust * chop``) is the smallest tab a partial take may leave; ``tip`` (numeraire
    units) and ``chip`` (fraction of tab) are the keeper incentive paid on kick and redo.
    """

    lot: int
    tab: int
    top: float
    curve: Curve
    tail: float
    cusp: float
    chost: int
    start: float = 0.0
    owner: str = ""
    tip: int = 0
    chip: float = 0.0
    returned: int = 0  # collateral sent back to the owner once the tab was covered
    done: bool = False
    resets: int = 0

    def __post_init__(self) -> None:
        # clip.sol kick: require(tab > 0), require(lot > 0), require(top > 0).
        if self.tab <= 0 or self.lot <= 0:
            raise Rejected("bad-amount", f"a Dutch auction needs lot > 0 and tab > 0, got {self.lot}, {self.tab}")
        if not self.top > 0:
            raise Rejected("zero-price", f"a Dutch auction needs top > 0, got {self.top}")

    def snapshot(self) -> tuple[int, int, float, float, int, bool, int]:
        """What ``take`` and ``redo`` change, for ``restore`` when a caller refuses the outcome."""
        return (self.lot, self.tab, self.top, self.start, self.returned, self.done, self.resets)

    def restore(self, saved: tuple[int, int, float, float, int, bool, int]) -> None:
        self.lot, self.tab, self.top, self.start, self.returned, self.done, self.resets = saved

    def price(self, now: float) -> float:
        return self.curve.price(self.top, now - self.start)

    def price_q(self, now: float) -> int:
        return units.price_q(self.price(now))

    def needs_redo(self, now: float) -> bool:
        """clip.sol status(): ``done = dur > tail || price / top < cusp``."""
        if self.done:
            return False
        elapsed = now - self.start
        return elapsed > self.tail or self.price(now) / self.top < self.cusp

    def crossing(self, level_q: int) -> float:
        """Absolute time at which the price is first at or below ``level_q`` (inf if never)."""
        return self.start + self.curve.crossing(self.top, level_q / units.NUM)

    def kick_incentive(self) -> int:
        """clip.sol kick: ``coin = tip + wmul(tab, chip)``, paid unconditionally."""
        return self.tip + int(self.tab * self.chip)

    def redo(self, now: float, top: float, feed_price: float | None = None) -> int:
        """Reset the auction at ``now`` with a new ``top``; return the incentive due to the caller.

        clip.sol redo: pays ``tip + wmul(tab, chip)`` only when ``tab >= chost`` and the lot is worth at
        least ``chost`` at the feed price (no reward for resetting dusty auctions).
        """
        self._require_open()
        if not self.needs_redo(now):
            raise Rejected("not-redoable", "this auction does not need a reset yet (Clipper/cannot-reset)")
        if not top > 0:
            raise Rejected("zero-price", "a reset needs a positive top price (Clipper/zero-top-price)")
        feed = top if feed_price is None else feed_price
        self.start, self.top = now, top
        self.resets += 1
        lot_value = units.cost(self.lot, units.price_q(feed))
        if self.tab >= self.chost and lot_value >= self.chost:
            return self.kick_incentive()
        return 0

    def take(self, amount: int, max_price_q: int, now: float, who: str) -> Fill:
        """Buy up to ``amount`` collateral at the current price if it is at most ``max_price_q``."""
        self._require_open()
        if amount <= 0:
            raise Rejected("bad-amount", f"take amount must be > 0, got {amount}")
        if self.needs_redo(now):
            raise Rejected("needs-redo", "the auction must be reset before it can be taken (Clipper/needs-reset)")
        price = self.price_q(now)
        if price <= 0:
            raise Rejected("zero-price", "the price has reached zero: the auction must be reset")
        if max_price_q < price:
            raise Rejected("too-expensive", f"price {price} is above max_price {max_price_q} (Clipper/too-expensive)")
        slice_, owe = self._slice_and_owe(amount, price)
        self.tab -= owe
        self.lot -= slice_
        if self.lot == 0:
            self.done = True  # any tab left is not covered: the house books it as bad debt
        elif self.tab == 0:
            self.returned, self.lot, self.done = self.lot, 0, True  # rest of the lot back to the owner
        return Fill(who=who, qty=slice_, cost=owe, at=now)

    def _slice_and_owe(self, amount: int, price: int) -> tuple[int, int]:
        """clip.sol take: cap at the tab, and never leave 0 < tab < chost after a partial take."""
        slice_ = min(self.lot, amount)
        owe = units.cost(slice_, price)
        if owe > self.tab:
            owe = self.tab
            slice_ = units.qty_for(owe, price)  # <= the slice asked for, as owe shrank
        elif owe < self.tab and slice_ < self.lot and self.tab - owe < self.chost:
            if self.tab <= self.chost:
                raise Rejected(
                    "no-partial-purchase",
                    f"tab {self.tab} is at or below chost {self.chost}: take the whole lot or nothing",
                )
            owe = self.tab - self.chost
            slice_ = units.qty_for(owe, price)
        return slice_, owe

    def _require_open(self) -> None:
        if self.done:
            raise Rejected("auction-done", "this Dutch auction is over (Clipper/not-running-auction)")
