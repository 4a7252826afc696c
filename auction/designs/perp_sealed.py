"""perp-sealed: a commit-reveal sealed-bid auction of the whole position, first price.

Keepers commit ``commitment(auction, keeper, price_q, qty, salt)`` (``auction.sealed``, the vault designs'
digest) with a deposit until ``commit_end``, reveal until ``reveal_end``; then the position goes to the best
bids at their own prices: the highest first for a long (the taker buys it), the lowest first for a short (the
taker is paid to take it), ties to the earlier commit, then the keeper id. A long's bid is held in escrow at
reveal. Deposits without a valid reveal are forfeited to the protocol. What no bid takes goes to ADL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msgspec import Struct

from auction import units
from auction.designs.base import Design, Desk, Opening, Shown
from auction.designs.perp_base import PerpSale, PerpTerms, cast_terms, perp_fields, perp_view
from auction.designs.sealed import commit_then_reveal, pair_room
from auction.errors import Rejected
from auction.fills import Fill
from auction.models.chain import GAS_COMMIT, GAS_REVEAL
from auction.params import NonNegative, Positive
from auction.sealed import commitment
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked, fit_qty
from keepers.api import Bid


class PerpSealedParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.perp_sealed]: commit-reveal first-price auction of the position."""

    commit_s: Positive = 300.0
    reveal_s: Positive = 120.0
    deposit: NonNegative = 100.0  # USD held at commit, forfeited without a reveal


class PerpSealedTerms(PerpTerms, tag="perp-sealed", frozen=True, kw_only=True):
    """Commit-reveal terms of a position: commits until ``commit_end_ms``, reveals until ``reveal_end_ms``."""

    commit_end_ms: m.Amount
    reveal_end_ms: m.Amount
    deposit: m.Amount


@dataclass(slots=True, kw_only=True)
class PerpSealedSale(PerpSale):
    params: PerpSealedParams
    commit_end: float = 0.0
    reveal_end: float = 0.0
    commits: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    bids: dict[str, tuple[int, int]] = field(default_factory=dict)  # keeper -> (price_q, qty)
    revealing: bool = False
    forfeited: list[str] = field(default_factory=list)

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if isinstance(action, m.Commit):
            self.commit(action.keeper, bytes.fromhex(action.digest), now)
        elif isinstance(action, m.Reveal):
            self.reveal(action.keeper, action.price_q, action.qty, bytes.fromhex(action.salt), now)
        else:
            return PerpSale.apply(self, action, now, desk)
        return []

    def commit(self, keeper: str, digest: bytes, now: float) -> None:
        if now >= self.commit_end:
            raise Rejected("late", "the commit phase is over")
        if keeper in self.commits:
            raise Rejected("duplicate-commit", f"{keeper} has committed already")
        self.ledger.hold(self.id, keeper, units.num(self.params.deposit))
        self.commits[keeper] = (digest, now)
        self.changed()

    def reveal(self, keeper: str, price_q: int, qty: int, salt: bytes, now: float) -> None:
        if now < self.commit_end:
            raise Rejected("early", "the reveal phase has not opened")
        if now >= self.reveal_end:
            raise Rejected("late", "the reveal phase is over")
        if keeper not in self.commits:
            raise Rejected("no-commit", f"{keeper} has not committed")
        if keeper in self.bids:
            raise Rejected("duplicate-commit", f"{keeper} has revealed already")
        try:
            ok = commitment(self.id, keeper, price_q, qty, salt) == self.commits[keeper][0]
        except ValueError:
            ok = False
        if not ok or price_q <= 0 or qty <= 0:
            raise Rejected("bad-reveal", "the revealed bid does not hash to the commit")
        if self.side > 0:
            need = units.cost(qty, price_q) - self.ledger.held(self.id, keeper)
            self.ledger.hold(self.id, keeper, max(need, 0))
        self.bids[keeper] = (price_q, qty)
        self.changed()

    def advance(self, now: float, oracle: float) -> bool:
        if not self.revealing:
            self.revealing = True
            self.changed()
            return True
        self.settle(now)
        return True

    def settle(self, now: float) -> None:
        for who in self.commits:
            if who not in self.bids:
                self.ledger.forfeit(self.id, who, min(units.num(self.params.deposit), self.ledger.held(self.id, who)))
                self.forfeited.append(who)
        self.ledger.release_all(self.id)
        for who in sorted(self.bids, key=self.rank):
            price_q, qty = self.bids[who]
            take = min(qty, self.size)
            if take <= 0:
                break
            try:
                self.keeper_take(who, take, price_q, now)
            except Rejected:
                continue  # the keeper cannot pay now: the next bid
        self.done(now)

    def rank(self, who: str) -> tuple[int, float, str]:
        price_q, _ = self.bids[who]
        return (-price_q if self.side > 0 else price_q, self.commits[who][1], who)

    def next_deadline(self) -> float:
        return self.reveal_end if self.revealing else self.commit_end

    def show(self, now: float) -> Shown:
        terms = PerpSealedTerms(**self.common(), commit_end_ms=units.ms(self.commit_end),
                                reveal_end_ms=units.ms(self.reveal_end), deposit=units.num(self.params.deposit))
        phase = "closed" if self.closed else ("reveal" if self.revealing else "commit")
        return Shown(lot=self.size, tab=0, start=self.kicked_at, terms=terms, phase=phase)

    def result_extra(self) -> dict[str, Any]:
        return {"forfeited": self.forfeited[-m.MAX_FILLS:]}


def open_sale(o: Opening, p: PerpSealedParams) -> PerpSealedSale:
    return PerpSealedSale(**perp_fields(o), params=p, commit_end=o.now + p.commit_s,
                          reveal_end=o.now + p.commit_s + p.reveal_s)


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, PerpSealedTerms)
    out = {**perp_view(t), "commit_end": t.commit_end_ms / 1000, "reveal_end": t.reveal_end_ms / 1000,
           "deposit": units.num_f(t.deposit)}
    if isinstance(msg, m.State) and msg.phase:
        out["phase"] = msg.phase
    return out


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Bid`` becomes a ``Commit`` now and its ``Reveal`` when the commit phase ends (as ``sealed``)."""
    msg = tracked.msg
    t = cast_terms(msg, PerpSealedTerms)
    if not isinstance(t, PerpSealedTerms) or tracked.sealed is not None:
        return []
    phase = msg.phase if isinstance(msg, m.State) else "commit"
    if phase != "commit" or units.ms(now) >= t.commit_end_ms:
        return []
    decision = agent.decide(tracked, now)
    if not isinstance(decision, Bid):
        return agent.drop(tracked, decision)
    price_q = units.price_q(decision.price)
    qty = min(units.col(decision.qty), t.size)
    budget = pair_room(agent, msg.auction, now)
    if t.side > 0:
        qty = fit_qty(qty, price_q, budget)
    if price_q <= 0 or qty <= 0 or t.deposit > budget:
        return agent.drop(tracked, decision, limited=price_q > 0)
    need = max(t.deposit, units.cost(qty, price_q) if t.side > 0 else 0)
    return commit_then_reveal(agent, tracked, now, ("perp-sealed", t.commit_end_ms), t.commit_end_ms, t.deposit,
                              price_q, qty, need)


DESIGN = Design(
    name="perp-sealed", table="perp_sealed", params=PerpSealedParams, terms=PerpSealedTerms, open=open_sale,
    gas={"commit": GAS_COMMIT, "reveal": GAS_REVEAL}, plan=plan, view_terms=view_terms, seizes=False, book="perp",
    resells=False, summary="commit-reveal sealed bids for the whole position, first price, best bids first",
    source="liqnet's commit-reveal (auction/sealed.py) over positions",
)
