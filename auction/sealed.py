"""Sealed-bid auction with commit-reveal over a public bus, first-price or second-price clearing.

Phases, on half-open intervals of scenario time: commit ``[start, commit_end)``, reveal
``[commit_end, reveal_end)``, settle from ``reveal_end``.

- **commit**: a keeper publishes ``commitment(auction_id, who, price_q, qty, salt)``; one per keeper.
  The caller holds ``deposit`` numeraire from the keeper's escrow (``commit`` returns it).
- **reveal**: the keeper publishes ``(price_q, qty, salt)``; it must hash to its commit, ``price_q`` must
  be at least the reserve and ``qty`` in ``1..lot``. ``reveal`` returns what the caller must hold for
  the bid, ``units.cost(qty, price_q)``; no payment ever exceeds it. A refused reveal changes nothing:
  the commit stays unrevealed.
- **settle**: keepers that committed and never (validly) revealed forfeit their deposit; every other
  deposit and the unspent part of each hold go back to the keepers (the caller does that).

Allocation: revealed bids ranked by price (highest first), ties broken by earlier commit time, then
by keeper id (string order): deterministic and known to every keeper in advance. Bids are filled in
rank order at their pay price until the lot is gone or the tab is covered. A bid the remaining tab
cannot pay for in full is cut as Clipper cuts a take (dss ``src/clip.sol``: ``owe = tab; slice = owe /
price``): it pays exactly the remaining tab and gets ``units.qty_for(tab, pay_q)`` (rounded down), so
the tab is covered exactly. A remaining tab worth less than one collateral base unit at the pay price
buys nothing and is left over as dust.

- **first-price**: each winner pays its own price.
- **second-price**: every winner pays one uniform clearing price, the highest *losing* bid's price, or
  the reserve if no bid loses: the (k+1)-th price rule, which is Vickrey's second-price auction for a
  single unit (W. Vickrey, "Counterspeculation, Auctions, and Competitive Sealed Tenders", J. Finance
  1961; V. Krishna, "Auction Theory", 2nd ed. 2010, on multi-unit uniform-price auctions). As the tab
  covers more collateral at a lower price, who loses depends on the price; the clearing price is the
  price of the first bid, in rank order, that gets nothing when the bids ranked above it are filled at
  that very price. Lowering the price only makes the tab harder to cover, so every bid above it wins.
  With a zero reserve and no losing bid, the winners pay nothing: set a reserve.

The leftover lot goes back to the owner when the tab is covered; otherwise the caller may run another
round with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from auction import units
from auction.errors import Rejected
from auction.fills import Fill

COMMIT_DOMAIN = b"liqnet-commit-v1|"
MIN_SALT = 16  # bytes: 128 bits, so a commit cannot be brute-forced over plausible (price, qty)
DIGEST_SIZE = 32  # sha256


def commitment(auction_id: int, who: str, price_q: int, qty: int, salt: bytes) -> bytes:
    """sha256 over ``b"liqnet-commit-v1|" + f"{auction_id}|{who}|{price_q}|{qty}|".encode() + salt``.

    Integers in decimal ASCII without sign or leading zeros, ``who`` in UTF-8 and free of ``|`` so the
    bytes parse one way only; ``salt`` is raw bytes, at least 16 of them, and ends the message.
    """
    if "|" in who or not who:
        raise ValueError(f"a keeper id must be non-empty and free of '|', got {who!r}")
    if min(auction_id, price_q, qty) < 0:
        raise ValueError("auction_id, price_q and qty must be >= 0")
    if len(salt) < MIN_SALT:
        raise ValueError(f"salt must be at least {MIN_SALT} bytes, got {len(salt)}")
    return hashlib.sha256(COMMIT_DOMAIN + f"{auction_id}|{who}|{price_q}|{qty}|".encode() + salt).digest()


@dataclass(frozen=True, slots=True)
class Commit:
    digest: bytes
    at: float


@dataclass(frozen=True, slots=True)
class SealedBid:
    who: str
    price_q: int
    qty: int
    committed_at: float


@dataclass(frozen=True, slots=True)
class SealedOutcome:
    """The settlement: ``fills`` in rank order, ``forfeited`` keepers (commit order), the uniform
    ``clearing_q`` (second-price with a winner; None otherwise), what is left of the lot and the tab."""

    fills: list[Fill]
    forfeited: list[str]
    clearing_q: int | None
    leftover_lot: int
    leftover_tab: int


@dataclass(slots=True)
class SealedAuction:
    """One sealed-bid sale of ``lot`` collateral units for up to ``tab`` numeraire units.

    ``reserve_q`` is the lowest acceptable price (numeraire units per whole token), ``deposit`` the
    numeraire a commit locks (lost without a reveal), ``second_price`` selects uniform (k+1)-th price
    clearing instead of pay-your-bid. ``auction_id`` binds commits to this auction.
    """

    lot: int
    tab: int
    reserve_q: int
    commit_end: float
    reveal_end: float
    deposit: int
    second_price: bool
    start: float = 0.0
    owner: str = ""
    auction_id: int = 0
    commits: dict[str, Commit] = field(default_factory=dict)
    bids: dict[str, SealedBid] = field(default_factory=dict)
    outcome: SealedOutcome | None = None
    done: bool = False

    def __post_init__(self) -> None:
        if self.lot <= 0 or self.tab <= 0:
            raise Rejected("bad-amount", f"a sealed auction needs lot > 0 and tab > 0, got {self.lot}, {self.tab}")
        if self.reserve_q < 0 or self.deposit < 0:
            raise Rejected("bad-amount", "reserve_q and deposit must be >= 0")
        if not self.start <= self.commit_end <= self.reveal_end:
            raise Rejected("bad-amount", "need start <= commit_end <= reveal_end")

    def phase(self, now: float) -> str:
        """The phase at ``now``: "early", "commit", "reveal", "settle" (not settled yet) or "done"."""
        if self.done:
            return "done"
        if now < self.start:
            return "early"
        if now < self.commit_end:
            return "commit"
        return "reveal" if now < self.reveal_end else "settle"

    def commit(self, who: str, digest: bytes, now: float) -> int:
        """Record ``who``'s sealed bid; return the deposit the caller must hold from its escrow."""
        self._require_phase("commit", now)
        if not who or "|" in who:
            raise Rejected("malformed", f"a commit needs a keeper id free of '|', got {who!r}")
        if len(digest) != DIGEST_SIZE:
            raise Rejected("malformed", f"a commit is a {DIGEST_SIZE}-byte sha256 digest, got {len(digest)} bytes")
        if who in self.commits:
            raise Rejected("duplicate-commit", f"keeper {who} has already committed to this auction")
        self.commits[who] = Commit(bytes(digest), now)
        return self.deposit

    def reveal(self, who: str, price_q: int, qty: int, salt: bytes, now: float) -> int:
        """Open ``who``'s commit; return the numeraire the caller must hold for the bid."""
        self._require_phase("reveal", now)
        commit = self.commits.get(who)
        if commit is None:
            raise Rejected("no-commit", f"keeper {who} did not commit to this auction")
        if who in self.bids:
            raise Rejected("bad-reveal", f"keeper {who} has already revealed")
        if price_q < 0 or qty < 0 or len(salt) < MIN_SALT:
            raise Rejected("bad-reveal", "the revealed bid does not hash to the commit")
        if commitment(self.auction_id, who, price_q, qty, salt) != commit.digest:
            raise Rejected("bad-reveal", "the revealed bid does not hash to the commit")
        if price_q <= 0:
            raise Rejected("bad-amount", "a bid price must be > 0")
        if price_q < self.reserve_q:
            raise Rejected("below-reserve", f"price {price_q} is below the reserve {self.reserve_q}")
        if not 0 < qty <= self.lot:
            raise Rejected("bad-amount", f"qty must be in 1..{self.lot}, got {qty}")
        self.bids[who] = SealedBid(who, price_q, qty, commit.at)
        return units.cost(qty, price_q)

    def settle(self, now: float) -> SealedOutcome:
        """Allocate the lot, price the winners and list the forfeits (see the module docstring)."""
        self._require_phase("settle", now)
        ranked = sorted(self.bids.values(), key=lambda b: (-b.price_q, b.committed_at, b.who))
        clearing_q = self._clearing_price(ranked) if self.second_price else None
        fills, lot, tab = self._allocate(ranked, clearing_q, now)
        forfeited = [w for w, c in sorted(self.commits.items(), key=lambda kv: (kv[1].at, kv[0])) if w not in self.bids]
        self.outcome = SealedOutcome(
            fills=fills,
            forfeited=forfeited,
            clearing_q=clearing_q if fills else None,
            leftover_lot=lot,
            leftover_tab=tab,
        )
        self.done = True
        return self.outcome

    def _clearing_price(self, ranked: list[SealedBid]) -> int:
        """Price of the first ranked bid left with nothing when all bids are filled at its price."""
        for j in range(1, len(ranked)):
            fills, _, _ = self._allocate(ranked, ranked[j].price_q, 0.0)
            if len(fills) <= j:
                return ranked[j].price_q
        return self.reserve_q

    def _allocate(self, ranked: list[SealedBid], uniform_q: int | None, now: float) -> tuple[list[Fill], int, int]:
        """Fill ``ranked`` in order at ``uniform_q`` (or each bid's price); return fills, lot and tab left."""
        fills: list[Fill] = []
        lot, tab = self.lot, self.tab
        for b in ranked:
            if lot == 0 or tab == 0:
                break
            pay_q = b.price_q if uniform_q is None else uniform_q
            qty = min(b.qty, lot)
            cost = units.cost(qty, pay_q)
            if cost > tab:  # Clipper's cut: pay exactly the tab, get the collateral it buys, rounded down
                cost, qty = tab, units.qty_for(tab, pay_q)
                if qty == 0:
                    break  # the tab left is dust: worth less than one collateral base unit
            fills.append(Fill(who=b.who, qty=qty, cost=cost, at=now))
            lot, tab = lot - qty, tab - cost
        return fills, lot, tab

    def _require_phase(self, want: str, now: float) -> None:
        got = self.phase(now)
        if got == want:
            return
        if got == "done":
            raise Rejected("auction-done", "this sealed auction is settled")
        order = ["early", "commit", "reveal", "settle"]
        if order.index(got) < order.index(want):
            raise Rejected("early", f"the {want} phase has not started (now {now})")
        raise Rejected("late", f"the {want} phase is over (now {now})")
