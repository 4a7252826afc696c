"""perp-market: dYdX v4's liquidation, the protocol closes the position into the market, block by block.

Source: dydxprotocol/v4-chain ``protocol/x/clob/keeper/liquidations.go`` (``auction.perp.fillable``). Each block
the protocol sends an IOC order for the position into the outside market (with its price impact), filled only
as far as the average price stays within the *fillable price* ``(PNNV - ABR * SMMR * PMMR) / PS``, and at most
``max_notional_per_block`` of notional (v4's per-block subaccount limit). What cannot be
filled waits for the next block while the account is solvent; once it is bankrupt, or after ``max_s``, the rest
goes to deleveraging at the bankruptcy price (``PerpSale.done``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgspec import Struct

from auction import units
from auction.designs.base import Design, Opening, Shown
from auction.designs.perp_base import PerpSale, PerpTerms, perp_fields, perp_view
from auction.params import NonNegative, Positive
from auction.perp import fillable
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked


class MarketParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.perp_market]: IOC closes into the outside market, bounded by dYdX's fillable price."""

    # USD of notional closed per block and account: v4's SubaccountBlockLimits.MaxNotionalLiquidated default,
    # 100_000_000_000_000 quote quantums (protocol/testutil/constants: SubaccountBlockLimits_Default)
    max_notional_per_block: Positive = 100_000_000.0
    smmr: NonNegative = 0.1  # spread to maintenance margin ratio (v4 default 10%)
    step_s: Positive = 12.0  # one order per block
    max_s: NonNegative = 3600.0


class MarketTerms(PerpTerms, tag="perp-market", frozen=True, kw_only=True):
    """The protocol closes the position itself: the fillable price bounds its orders."""

    fillable_q: m.Amount


@dataclass(slots=True, kw_only=True)
class MarketSale(PerpSale):
    params: Any  # MarketParams, or BackstopParams
    steps: int = 0
    bound_q: int = 0  # the fillable price of the last order

    def fillable_q(self) -> int:
        """dYdX's fillable price for the whole position now, per whole token."""
        b, i, k = self.pbook, self.i, self.k
        s = int(b.size[i, k])
        tmmr = b.maintenance(i) if s else 0
        if not tmmr:
            return b.marks.mark_q[k]
        pnnv = s * b.marks.mark_q[k] // units.COL
        tnc = b.equity_scaled(i) // units.COL  # floor(equity)
        pmmr = b.maintenance(i, k) if len(b.markets) > 1 else tmmr
        return fillable.fillable_price_int_q(pnnv, pmmr, tnc, tmmr, s, units.COL,
                                             smmr_ppm=round(self.params.smmr * fillable.PPM))

    def fillable_qty(self, bound_q: int, now: float) -> int:
        """The most the market takes with its average price within ``bound_q``, capped per block."""
        mark = self.pbook.marks.mark_q[self.k]
        cap = min(self.size, units.col(self.params.max_notional_per_block / (mark / units.NUM)))
        return max(min(cap, self.pbook.depth(self.asset, now, bound_q, self.side)), 0)

    def advance(self, now: float, oracle: float) -> bool:
        self.steps += 1
        if not self.size or (self.steps > 1 and self.desk.healthy(self.i) and self.stop_when_healthy()):
            self.done(now)
            return True
        self.bound_q = self.fillable_q()
        qty = self.fillable_qty(self.bound_q, now)
        if qty:
            self.market_close(qty, now)
        bankrupt = not qty and self.pbook.equity_scaled(self.i) <= 0
        if not self.size or now >= self.kicked_at + self.params.max_s or bankrupt:
            self.done(now)
        elif qty:
            self.changed()
        return bool(qty) or self.closed  # nothing filled: no new state to show

    def stop_when_healthy(self) -> bool:
        return False  # dYdX closes the whole position once it is liquidated

    def next_deadline(self) -> float:
        return self.kicked_at + self.steps * self.params.step_s

    def show(self, now: float) -> Shown:
        return Shown(lot=self.size, tab=0, start=self.kicked_at,
                     terms=MarketTerms(**self.common(), fillable_q=self.bound_q if self.size else 0))


def open_sale(o: Opening, p: MarketParams) -> MarketSale:
    return MarketSale(**perp_fields(o), params=p)


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, PerpTerms)
    return {**perp_view(t), "fillable": getattr(t, "fillable_q", 0) / units.NUM}


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """Nothing for a keeper to do: the protocol closes the position itself."""
    return agent.drop(tracked, None)


DESIGN = Design(
    name="perp-market", table="perp_market", params=MarketParams, terms=MarketTerms, open=open_sale, gas={},
    plan=plan, view_terms=view_terms, seizes=False, book="perp", resells=False,
    summary="dYdX v4: IOC closes into the market within the fillable price and per-block caps, then deleveraging",
    source="dydxprotocol/v4-chain protocol/x/clob/keeper/liquidations.go",
)
