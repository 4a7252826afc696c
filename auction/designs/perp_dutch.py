"""perp-dutch: a peer-to-peer Dutch auction of the position, Derive-style: only what restores the margin is sold.

Source: Derive (Lyra v2) ``src/liquidation/DutchAuction.sol`` (``auction.perp.derive``). The price per token
starts at the mark and moves against the holder, reaching the bankruptcy price after ``to_bankruptcy_s`` and
going on past it for ``past_s`` (Derive's insolvent phase, where the security module pays the bidder: here the
insurance fund covers the deficit in the waterfall). A keeper takes over part of the position at the current
price, but only as much as brings the account back to its *buffer margin* (``derive.buffer_margin``: equity at
least ``(1 + buffer) * maintenance``); past bankruptcy the whole rest may go. The sale ends when the account is
back over its buffer, has no position left, or at the end of the schedule (the rest then goes to ADL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from msgspec import Meta, Struct

from auction import units
from auction.designs.base import Design, Desk, Opening, Shown
from auction.designs.perp_base import PerpSale, PerpTerms, cast_terms, exact_rate, limit_ok, perp_fields, perp_view
from auction.errors import Rejected
from auction.fills import Fill
from auction.models.chain import GAS_TAKE
from auction.params import NonNegative, Positive
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked
from keepers.api import Take
from keepers.plan import fit_qty

ROUNDING = 3  # numeraire base units: the fill's value and the maintenance round against the account by less
MIN_SPAN = Fraction(2, 100)  # the schedule moves at least 2% of the mark before bankruptcy (already bankrupt)


class PerpDutchParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.perp_dutch]: from the mark to bankruptcy in ``to_bankruptcy_s``, then ``past_s`` beyond."""

    to_bankruptcy_s: Positive = 900.0  # Derive mainnet: the fast phase lasts 15 minutes
    past_s: NonNegative = 600.0
    buffer: Annotated[float, Meta(ge=0, le=1)] = 0.15  # Derive mainnet buffer_margin_pct = 15%


class PerpDutchTerms(PerpTerms, tag="perp-dutch", frozen=True, kw_only=True):
    """The linear schedule: ``start_q`` at ``start_ms``, ``target_q`` (bankruptcy at kick) ``span_ms`` later."""

    start_q: m.Amount
    target_q: m.Amount
    start_ms: m.Amount
    span_ms: m.Amount
    end_ms: m.Amount
    price_q: m.Amount  # the price now
    max_qty: m.Amount  # what a take at the price now may close (restores the buffer margin)


@dataclass(slots=True, kw_only=True)
class PerpDutchSale(PerpSale):
    params: PerpDutchParams
    start_q: int = 0
    target_q: int = 0

    def price_q(self, now: float) -> int:
        """Linear from ``start_q`` toward ``target_q``, on past it; never below one base unit."""
        x = Fraction(max(now - self.kicked_at, 0.0)).limit_denominator(1000) / Fraction(self.params.to_bankruptcy_s)
        p = self.start_q + (self.target_q - self.start_q) * x
        return max(math.floor(p) if self.side > 0 else math.ceil(p), 1)

    def end_at(self) -> float:
        return self.kicked_at + self.params.to_bankruptcy_s + self.params.past_s

    def restore_qty(self, price_q: int) -> int:
        """The least quantity that, sold at ``price_q``, brings equity to ``(1 + buffer)`` maintenance."""
        b, i, k = self.pbook, self.i, self.k
        mm = b.maintenance(i)
        num, den = exact_rate(self.params.buffer)
        over = 1 + Fraction(num, den)  # the buffer, as the decimal it is written as
        target = over * mm
        eq = b.equity(i)
        if eq >= target:
            return 0
        if (price_q - self.target_q) * self.side <= 0:  # at or past bankruptcy: the whole rest may go
            return self.size
        mark = b.marks.mark_q[k]
        rate = Fraction(mm, max(b.notional(i, k), 1))  # maintenance per unit of notional, now
        per_unit = (over * mark * rate - self.side * (mark - price_q)) / units.COL
        if per_unit <= 0:
            return self.size
        q = (target + ROUNDING - eq) / per_unit
        return min(self.size, -(-q.numerator // q.denominator))

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if not isinstance(action, m.Take):
            return PerpSale.apply(self, action, now, desk)
        price = self.price_q(now)
        if not limit_ok(self.side, price, action.max_price_q):
            raise Rejected("too-expensive", f"price {price} is beyond the take's limit {action.max_price_q}")
        qty = min(action.amount, self.restore_qty(price))
        if qty <= 0:
            raise Rejected("not-liquidatable", f"account {self.i} is back over its buffer margin")
        fill = self.keeper_take(action.keeper, qty, price, now)
        if not self.size or self.restore_qty(self.price_q(now)) == 0:
            self.done(now)
        else:
            self.changed()
        return [fill]

    def advance(self, now: float, oracle: float) -> bool:
        self.done(now)  # the schedule ran out: the rest goes to ADL
        return True

    def next_deadline(self) -> float:
        return self.end_at()

    def show(self, now: float) -> Shown:
        price = self.price_q(now)
        terms = PerpDutchTerms(
            **self.common(), start_q=self.start_q, target_q=self.target_q, start_ms=units.ms(self.kicked_at),
            span_ms=units.ms(self.params.to_bankruptcy_s), end_ms=units.ms(self.end_at()), price_q=price,
            max_qty=self.restore_qty(price) if self.size else 0)
        return Shown(lot=self.size, tab=0, start=self.kicked_at, terms=terms)


def open_sale(o: Opening, p: PerpDutchParams) -> PerpDutchSale:
    sale = PerpDutchSale(**perp_fields(o), params=p)
    b = sale.pbook
    mark = b.marks.mark_q[o.k]
    bankrupt = b.bankruptcy_q(o.i, o.k)
    span = max(abs(Fraction(mark) - bankrupt) if bankrupt is not None else 0, mark * MIN_SPAN)
    if bankrupt is not None and (mark - bankrupt) * o.side < 0:  # already bankrupt: start there
        mark = math.floor(bankrupt) if o.side > 0 else math.ceil(bankrupt)
    sale.start_q = mark
    target = mark - o.side * span
    sale.target_q = max(math.floor(target) if o.side > 0 else math.ceil(target), 1)
    return sale


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, PerpDutchTerms)
    return {**perp_view(t), "start": t.start_q / units.NUM, "target": t.target_q / units.NUM,
            "span": t.span_ms / 1000, "end": t.end_ms / 1000, "price": t.price_q / units.NUM,
            "max_qty": units.col_f(t.max_qty)}


def release_at(t: PerpDutchTerms, limit_q: int, now: float) -> float | None:
    """When the schedule reaches ``limit_q`` (now if it already has), or None if it never does before the end."""
    if limit_ok(t.side, t.price_q, limit_q):
        return now
    if t.target_q == t.start_q:
        return None
    at = t.start_ms / 1000 + (limit_q - t.start_q) / (t.target_q - t.start_q) * t.span_ms / 1000
    return max(at, now) if at < t.end_ms / 1000 else None


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Take`` goes when the price reaches the strategy's limit, for what restores the margin at most."""
    decision = agent.decide(tracked, now)
    msg = tracked.msg
    t = cast_terms(msg, PerpDutchTerms)
    if not isinstance(decision, Take) or not isinstance(t, PerpDutchTerms) or t.size <= 0:
        return agent.drop(tracked, decision)
    limit_q = units.price_q(decision.max_price)
    at = release_at(t, limit_q, now)
    if at is None:
        return agent.drop(tracked, None)
    fee = agent.priority_fee(decision)
    qty = min(units.col(decision.max_qty), t.size)
    qty = fit_qty(qty, limit_q, agent.room(msg.auction, "take", fee, now)) if t.side > 0 else qty
    if qty <= 0:
        return agent.drop(tracked, decision, limited=True)
    key = ("perp-dutch", t.start_ms, t.size, t.price_q if at == now else 0, qty, limit_q, fee)
    action = m.Take(auction=msg.auction, keeper=agent.keeper_id, amount=qty, max_price_q=limit_q, nonce=0,
                    deadline_ms=0, priority_fee=fee)
    return agent.replan(tracked, key, [(at, action)])


DESIGN = Design(
    name="perp-dutch", table="perp_dutch", params=PerpDutchParams, terms=PerpDutchTerms, open=open_sale,
    gas={"take": GAS_TAKE}, plan=plan, view_terms=view_terms, seizes=False, book="perp", resells=False,
    summary="Derive: a Dutch auction of the position from mark past bankruptcy, only what restores the margin",
    source="derivexyz/v2-core src/liquidation/DutchAuction.sol",
)
