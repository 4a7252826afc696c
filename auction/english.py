"""English auction with MakerDAO Liquidations 1.2 (Flipper) semantics.

Reference: makerdao/dss ``src/flip.sol`` (``tend``, ``dent``, ``deal``, ``tick``); every check below
keeps Flipper's comparison, including its strict ``<`` / ``>`` on times. Two phases:

- **tend**: bids rise for the whole ``lot``, up to the ``tab``; each bid beats the last by ``beg``
  (``bid * ONE >= beg * last``) unless it is exactly the tab;
- **dent**: once a bid reaches the tab, bids keep the full tab and offer a smaller lot, by ``beg`` too
  (``beg * lot <= last_lot * ONE``); each decrease goes back to the owner (``returned``).

A bid lives ``ttl`` seconds (``tic``); the auction lasts at most ``tau`` seconds (``end``). ``deal``
gives the lot to the high bidder once the last bid expired or the auction ended; an auction that ended
without any bid is restarted by ``tick`` (Flipper never refunds an unbid lot: it ticks forever).

Differences from Flipper, all deliberate:
- ``chop`` is not modelled here: the caller passes ``tab = debt * chop``;
- Flipper's ``kick`` could set an opening bid; liquidations kick at bid 0 (Cat), so we always do.
  The first bid must therefore be ``> 0`` base units: a bid of 1 numeraire base unit (1e-6 DAI) is our
  Black Thursday "zero bid", which won whole lots when nobody else bid before ``ttl`` ran out;
- a ``dent`` to a lot of 0 (allowed by Flipper, the winner would pay the tab for nothing) is refused;
- money moves are left to the caller: ``tend`` and ``dent`` return the outbid ``(guy, bid)`` so its
  hold can be released, and ``deal`` returns the ``Fill``; ``yank`` (shutdown) is not modelled.

``beg`` is a float (1.05 = 5%); it is turned once into Flipper's wad (``round(beg * 1e18)``) and every
comparison is done exactly on ints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from auction.errors import Rejected
from auction.fills import Fill

WAD = 10**18  # flip.sol ONE


class Outbid(NamedTuple):
    """The bidder a tend/dent displaced (``guy`` "" for none) and its bid, for the caller to refund."""

    guy: str
    bid: int


@dataclass(slots=True)
class EnglishAuction:
    """One Flipper sale of ``lot`` collateral units for up to ``tab`` numeraire units.

    ``beg`` is the minimum bid increase (1.05 = 5%), ``ttl`` the bid lifetime and ``tau`` the auction
    length, in seconds; ``start`` is the kick time. State: ``bid`` (numeraire), ``lot``, ``guy`` (high
    bidder, "" for none), ``tic`` (bid expiry, 0.0 for no bid yet), ``end``, ``returned`` (collateral
    given back to the owner by dents), ``restarts`` (ticks), ``done`` (dealt: accepts nothing more).
    """

    lot: int
    tab: int
    beg: float
    ttl: float
    tau: float
    start: float = 0.0
    owner: str = ""
    bid: int = 0
    guy: str = ""
    tic: float = 0.0
    end: float = field(init=False)
    returned: int = 0
    restarts: int = 0
    done: bool = False
    beg_wad: int = field(init=False)

    def __post_init__(self) -> None:
        if self.lot <= 0 or self.tab <= 0:
            raise Rejected("bad-amount", f"an English auction needs lot > 0 and tab > 0, got {self.lot}, {self.tab}")
        if not (self.beg >= 1.0 and self.ttl > 0 and self.tau > 0):
            raise Rejected("bad-amount", f"need beg >= 1, ttl > 0 and tau > 0, got {self.beg}, {self.ttl}, {self.tau}")
        self.beg_wad = round(self.beg * WAD)
        self.end = self.start + self.tau

    @property
    def phase(self) -> str:
        """The phase: "tend" (rising bid for the whole lot) until a bid reaches the tab, then "dent"."""
        return "dent" if self.bid == self.tab else "tend"

    def snapshot(self) -> tuple[int, str, float, int, int]:
        """What ``tend`` and ``dent`` change, for ``restore`` when a caller refuses the outcome."""
        return (self.bid, self.guy, self.tic, self.lot, self.returned)

    def restore(self, saved: tuple[int, str, float, int, int]) -> None:
        self.bid, self.guy, self.tic, self.lot, self.returned = saved

    def bidding_open(self, now: float) -> bool:
        """flip.sol tend/dent time checks: ``(tic > now || tic == 0) && end > now``."""
        return not self.done and (self.tic > now or self.tic == 0) and self.end > now

    def can_deal(self, now: float) -> bool:
        """flip.sol deal: ``tic != 0 && (tic < now || end < now)``."""
        return not self.done and self.tic != 0 and (self.tic < now or self.end < now)

    def tend(self, who: str, lot: int, bid: int, now: float) -> Outbid:
        """Raise the bid for the whole lot (flip.sol tend); return the outbid (guy, bid) to refund."""
        self._require_bidding(who, now)
        if self.phase == "dent":
            raise Rejected("wrong-phase", "the bid already covers the tab: dent a smaller lot instead")
        if lot != self.lot:
            raise Rejected("bad-amount", f"a tend bids for the lot {self.lot}, got {lot} (Flipper/lot-not-matching)")
        if bid > self.tab:
            raise Rejected("bad-amount", f"bid {bid} is above the tab {self.tab} (Flipper/higher-than-tab)")
        if bid <= self.bid:
            raise Rejected("bid-too-low", f"bid {bid} does not beat the bid {self.bid} (Flipper/bid-not-higher)")
        if bid * WAD < self.beg_wad * self.bid and bid != self.tab:
            raise Rejected(
                "bid-too-low",
                f"bid {bid} is less than beg {self.beg} x current bid {self.bid} (Flipper/insufficient-increase)",
            )
        out = Outbid(self.guy, self.bid)
        self.guy, self.bid, self.tic = who, bid, now + self.ttl
        return out

    def dent(self, who: str, lot: int, bid: int, now: float) -> Outbid:
        """Offer a smaller lot for the full tab (flip.sol dent); the lot decrease goes to the owner."""
        self._require_bidding(who, now)
        if bid != self.bid:
            raise Rejected("bad-amount", f"a dent keeps the bid {self.bid}, got {bid} (Flipper/not-matching-bid)")
        if bid != self.tab:
            raise Rejected("wrong-phase", "the bid has not reached the tab yet: tend first (Flipper/tend-not-finished)")
        if lot <= 0:
            raise Rejected("bad-amount", "a dent must leave a lot > 0")
        if lot >= self.lot:
            raise Rejected("lot-too-high", f"lot {lot} is not below the lot {self.lot} (Flipper/lot-not-lower)")
        if self.beg_wad * lot > self.lot * WAD:
            raise Rejected(
                "lot-too-high",
                f"lot {lot} is more than current lot {self.lot} / beg {self.beg} (Flipper/insufficient-decrease)",
            )
        out = Outbid(self.guy, self.bid)
        self.returned += self.lot - lot
        self.guy, self.lot, self.tic = who, lot, now + self.ttl
        return out

    def deal(self, now: float) -> Fill | None:
        """Sell the lot to the high bidder (flip.sol deal).

        Returns None, changing nothing, when the auction ended without any bid: there is nothing to
        deal and the caller should ``tick`` it (Flipper reverts there; a None is easier to act on).
        """
        if self.done:
            raise Rejected("auction-done", "this English auction was already dealt")
        if self.tic == 0 and self.end < now:
            return None
        if not self.can_deal(now):
            raise Rejected("early", "the last bid has not expired and the auction has not ended (Flipper/not-finished)")
        self.done = True
        return Fill(who=self.guy, qty=self.lot, cost=self.bid, at=now)

    def tick(self, now: float) -> None:
        """Restart an auction that ended without a bid: ``end = now + tau`` (flip.sol tick)."""
        if self.done:
            raise Rejected("auction-done", "this English auction was already dealt")
        if not self.end < now:
            raise Rejected("early", f"the auction runs until {self.end} (Flipper/not-finished)")
        if self.tic != 0:
            raise Rejected("wrong-phase", "the auction has a bid: deal it instead (Flipper/bid-already-placed)")
        self.end = now + self.tau
        self.restarts += 1

    def _require_bidding(self, who: str, now: float) -> None:
        if self.done:
            raise Rejected("auction-done", "this English auction was already dealt")
        if not who:
            raise Rejected("malformed", "a bid needs a keeper id")
        if not (self.tic > now or self.tic == 0):
            raise Rejected("late", f"the last bid expired at {self.tic} (Flipper/already-finished-tic)")
        if not self.end > now:
            raise Rejected("late", f"the auction ended at {self.end} (Flipper/already-finished-end)")
