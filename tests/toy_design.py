"""A test-only design, registered from the tests: a posted-price sale.

It proves that a new design is one module plus one registration: everything it needs (typed parameters,
terms on the wire, gas, the sale, the keeper planner, the strategy's view, its theory line) is here, and
``compare`` and ``strategy-test`` run it without any edit elsewhere (tests/test_toy_design.py).

Rules: the house posts the whole lot at ``oracle * (1 - discount)``; the first keeper whose ``Take`` in a block
is at or above that price buys what it asks for (up to the lot), paying the posted price, capped at the tab
(what is left of the lot then goes back to the owner); an offer not taken within ``expiry_s`` closes unsold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from auction import units
from auction.designs.base import Design, Desk, Opening, Sale, Shown, sale_fields, seize_lot
from auction.errors import Rejected
from auction.fills import Fill
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked, fit_qty
from keepers.api import AuctionView, Context, Strategy, Take


class PostedParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.posted]: a posted price under the oracle, for a while."""

    discount: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.1
    expiry_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    chop: Annotated[float, msgspec.Meta(ge=1)] = 1.13


class PostedTerms(m.WireTerms, tag="posted", frozen=True, kw_only=True):
    """The posted price and when the offer ends."""

    price_q: m.Amount
    expires_ms: m.Amount


@dataclass(frozen=True, slots=True)
class Offer:
    lot: int
    tab: int
    price_q: int
    start: float
    expires: float


@dataclass(slots=True, kw_only=True)
class PostedSale(Sale):
    offer: Offer

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if not isinstance(action, m.Take):
            return Sale.apply(self, action, now, desk)
        o = self.offer
        if now > o.expires:
            raise Rejected("late", "the offer has expired")
        if action.max_price_q < o.price_q:
            raise Rejected("too-expensive", f"the posted price {o.price_q} is above max_price {action.max_price_q}")
        qty = min(action.amount, o.lot)
        cost = min(units.cost(qty, o.price_q), o.tab)
        if qty <= 0 or cost <= 0:
            raise Rejected("bad-amount", "nothing to buy")
        self.ledger.fill(self.id, action.keeper, qty, cost)
        fill = Fill(action.keeper, qty, cost, now)
        self.fills.append(fill)
        self.offer = dataclasses.replace(o, lot=o.lot - qty, tab=o.tab - cost)
        if self.offer.lot == 0 or self.offer.tab == 0:
            self.finish(now, self.offer.lot)
        else:
            self.changed()
        return [fill]

    def advance(self, now: float, oracle: float) -> bool:
        if now <= self.offer.expires:
            return False
        self.closed_at = now  # unsold: the lot stays with the protocol, the uncovered debt is bad debt
        self.ledger.close(self.id)
        self.seq += 1
        return True

    def next_deadline(self) -> float:
        return self.offer.expires + 1e-6

    def show(self, now: float) -> Shown:
        o = self.offer
        return Shown(lot=o.lot, tab=o.tab, start=o.start,
                     terms=PostedTerms(price_q=o.price_q, expires_ms=units.ms(o.expires)))


def open_sale(o: Opening, p: PostedParams) -> PostedSale:
    tab = seize_lot(o, p.chop)
    offer = Offer(o.qty, tab, units.price_q(o.oracle * (1 - p.discount)), o.now, o.now + p.expiry_s)
    return PostedSale(**sale_fields(o), offer=offer)


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, PostedTerms)
    return {"price": t.price_q / units.NUM, "expires": t.expires_ms / 1000}


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Take`` at or above the posted price buys now, as much as the budget allows."""
    decision = agent.decide(tracked, now)
    msg = tracked.msg
    if not isinstance(decision, Take) or not isinstance(msg.terms, PostedTerms):
        return agent.drop(tracked, decision)
    price_q = msg.terms.price_q
    if units.price_q(decision.max_price) < price_q:
        return agent.drop(tracked, None)
    fee = agent.priority_fee(decision)
    amount = fit_qty(min(units.col(decision.max_qty), msg.lot), price_q, agent.room(msg.auction, "take", fee, now))
    if amount <= 0:
        return agent.drop(tracked, decision, limited=True)
    action = m.Take(auction=msg.auction, keeper=agent.keeper_id, amount=amount, max_price_q=price_q, nonce=0,
                    deadline_ms=0, priority_fee=fee)
    return agent.replan(tracked, ("posted", msg.lot, msg.tab, price_q, amount, fee), [(now, action)])


def posted_price(bidders: int, value: float, oracle: float, params: Any) -> float:
    """The lot sells at p = oracle * (1 - discount) when the highest of n values U[0, V] reaches p."""
    p = oracle * (1 - params.discount)
    return 0.0 if p >= value else p * (1 - (p / value) ** bidders)


DESIGN = Design(
    name="posted", table="posted", params=PostedParams, terms=PostedTerms, open=open_sale, gas={"take": 150_000},
    plan=plan, view_terms=view_terms, theory=posted_price, summary="test only: a posted price under the oracle",
)


class Truthful(Strategy):
    """A bidder that takes any lot at up to its own value (its market price): the posted-price buyer."""

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        return Take(max_price=ctx.market_price(auction.asset), max_qty=auction.lot)
