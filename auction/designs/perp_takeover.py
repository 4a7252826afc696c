"""perp-takeover: Drift v2's perp liquidation, a keeper takes the position over at oracle -/+ the liquidator fee.

Source: drift-labs/protocol-v2 ``programs/drift/src/math/liquidation.rs`` (``auction.perp.drift``). The fee is the
base fee through a grace period, then rises per slot up to ``max_fee`` (``liquidation_fee``); only a growing share
of the margin shortage may be freed at once (``max_pct_to_liquidate``: ``initial_pct`` then linear over
``duration_slots``), which bounds how much base one take may close (``base_to_cover_margin_shortage``). Keepers
race: the first take a block includes gets the share, the next ones what is left of it. The sale closes when the
account is healthy again, its position is gone, or after ``max_s`` (the rest then goes to ADL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from msgspec import Meta, Struct

from auction import units
from auction.designs.base import Design, Desk, Opening, Shown
from auction.designs.perp_base import PerpSale, PerpTerms, cast_terms, limit_ok, perp_fields, perp_view
from auction.errors import Rejected
from auction.fills import Fill
from auction.models.chain import GAS_TAKE
from auction.params import NonNegative, Positive
from auction.perp import drift
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked
from keepers.api import Take
from keepers.plan import fit_qty

Rate = Annotated[float, Meta(ge=0, lt=1)]
RESHOW_S = 12.0  # the ramping terms are shown again this often


class TakeoverParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.perp_takeover]: Drift v2 takeover at oracle -/+ fee."""

    base_fee: Rate = 0.01  # liquidator fee during the grace period (Drift market.liquidator_fee)
    max_fee: Rate = 0.05  # the ramp's ceiling
    initial_pct: Annotated[float, Meta(gt=0, le=1)] = 0.1  # share of the shortage freeable at once
    duration_slots: Annotated[int, Meta(ge=0)] = 150  # slots until the whole shortage is freeable
    slot_s: Positive = 0.4  # Solana slot time
    max_s: NonNegative = 3600.0  # after this the sale ends and the rest goes to ADL


class TakeoverTerms(PerpTerms, tag="perp-takeover", frozen=True, kw_only=True):
    """Takeover terms: the price now (oracle -/+ fee) and how much one take may close now."""

    price_q: m.Amount
    fee: m.Ratio
    max_qty: m.Amount


@dataclass(slots=True, kw_only=True)
class TakeoverSale(PerpSale):
    params: TakeoverParams
    freed: int = 0  # margin shortage freed so far (Drift's margin_freed)
    shows: int = 0

    def _slots(self, now: float) -> int:
        return int((now - self.kicked_at) / self.params.slot_s)

    def fee(self, now: float) -> int:
        p = self.params
        return drift.liquidation_fee(round(p.base_fee * 1e6), round(p.max_fee * 1e6), 0, self._slots(now))

    def price_q(self, now: float, desk: Desk) -> int:
        oracle_q = units.price_q(desk.oracle_of(self.asset))
        return drift.takeover_limit_price(oracle_q, self.fee(now), self.side > 0)

    def max_qty(self, now: float) -> int:
        b, p = self.pbook, self.params
        shortage = int(b.maintenance(self.i)) - int(b.equity(self.i))
        if shortage <= 0 or not self.size:
            return 0
        pct = drift.max_pct_to_liquidate(shortage, self._slots(now), round(p.initial_pct * 1e4), p.duration_slots,
                                         self.freed)
        rate = b.tiers[self.k].maintenance_rate(b.notional(self.i, self.k))
        base = drift.base_to_cover_margin_shortage(shortage, round(float(rate) * 1e4), self.fee(now), 0,
                                                   b.marks.mark_q[self.k])
        whole = self.size if base is None else min(self.size, base)
        return max(min(self.size, whole * pct // drift.LIQUIDATION_PCT_PRECISION), 1 if pct else 0)

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if not isinstance(action, m.Take):
            return PerpSale.apply(self, action, now, desk)
        if desk.healthy(self.i):
            raise Rejected("not-liquidatable", f"account {self.i} is healthy")
        price = self.price_q(now, desk)
        if not limit_ok(self.side, price, action.max_price_q):
            raise Rejected("too-expensive", f"price {price} is beyond the take's limit {action.max_price_q}")
        qty = min(action.amount, self.max_qty(now))
        if qty <= 0:
            raise Rejected("bad-amount", "nothing may be taken over now")
        before = int(self.pbook.maintenance(self.i)) - int(self.pbook.equity(self.i))
        fill = self.keeper_take(action.keeper, qty, price, now)
        self.freed += max(before - (int(self.pbook.maintenance(self.i)) - int(self.pbook.equity(self.i))), 0)
        if not self.size or desk.healthy(self.i):
            self.done(now)
        else:
            self.changed()
        return [fill]

    def on_oracle(self, now: float, desk: Desk) -> bool:
        if desk.healthy(self.i):
            self.done(now)
        else:
            self.changed()
        return True

    def advance(self, now: float, oracle: float) -> bool:
        if now >= self.kicked_at + self.params.max_s:
            self.done(now)
            return True
        self.shows += 1
        self.changed()  # the fee and the freeable share ramp: show them again
        return True

    def next_deadline(self) -> float:
        """Every ``RESHOW_S`` while the freeable share ramps, then the end."""
        p = self.params
        ramp = self.kicked_at + p.duration_slots * p.slot_s
        step = self.kicked_at + (self.shows + 1) * RESHOW_S
        end = self.kicked_at + p.max_s
        return min(step, end) if step <= ramp + RESHOW_S else end

    def show(self, now: float) -> Shown:
        terms = TakeoverTerms(**self.common(), price_q=self.price_q(now, self.desk), fee=self.fee(now) / 1e6,
                              max_qty=self.max_qty(now))
        return Shown(lot=self.size, tab=0, start=self.kicked_at, terms=terms)


def open_sale(o: Opening, p: TakeoverParams) -> TakeoverSale:
    return TakeoverSale(**perp_fields(o), params=p)


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, TakeoverTerms)
    return {**perp_view(t), "price": t.price_q / units.NUM, "fee": t.fee, "max_qty": units.col_f(t.max_qty)}


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Take`` is sent at once when the shown price is within the strategy's limit."""
    decision = agent.decide(tracked, now)
    msg = tracked.msg
    t = cast_terms(msg, TakeoverTerms)
    if not isinstance(decision, Take) or not isinstance(t, TakeoverTerms) or t.max_qty <= 0:
        return agent.drop(tracked, decision)
    limit_q = units.price_q(decision.max_price)
    if not limit_ok(t.side, t.price_q, limit_q):
        return agent.drop(tracked, None)
    fee = agent.priority_fee(decision)
    room = agent.room(msg.auction, "take", fee, now)
    qty = min(units.col(decision.max_qty), t.max_qty)
    qty = fit_qty(qty, t.price_q, room) if t.side > 0 else qty
    if qty <= 0:
        return agent.drop(tracked, decision, limited=True)
    key = ("perp-takeover", t.price_q, t.max_qty, msg.lot, qty, limit_q, fee)
    action = m.Take(auction=msg.auction, keeper=agent.keeper_id, amount=qty, max_price_q=limit_q, nonce=0,
                    deadline_ms=0, priority_fee=fee)
    return agent.replan(tracked, key, [(now, action)])


DESIGN = Design(
    name="perp-takeover", table="perp_takeover", params=TakeoverParams, terms=TakeoverTerms, open=open_sale,
    gas={"take": GAS_TAKE}, plan=plan, view_terms=view_terms, seizes=False, watches_oracle=True, book="perp",
    resells=False, summary="Drift v2: a keeper takes the position over at oracle -/+ a ramping fee, racing",
    source="drift-labs/protocol-v2 programs/drift/src/math/liquidation.rs",
)
