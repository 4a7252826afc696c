"""perp-backstop: Hyperliquid's liquidation, market orders first, then the backstop vault below 2/3 of maintenance.

Source: Hyperliquid docs, "Liquidations" (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations):
a position under maintenance is closed by market orders into the book; if the account's equity falls below
``backstop_share`` (2/3) of the maintenance margin, the liquidator vault takes over the positions *and* the
remaining collateral, whatever the account's equity. Here the market orders go to the outside market with its
impact, at most ``max_notional_per_block`` per block, until the account is healthy again (a partial close).
The vault is the position book's ``VAULT`` account: its profit or loss is the backstop's.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated

from msgspec import Meta, Struct

from auction import units
from auction.designs.base import Design, Opening
from auction.designs.perp_base import perp_fields
from auction.designs.perp_market import MarketSale, plan, view_terms
from auction.designs.perp_market import MarketTerms as BackstopTerms
from auction.params import NonNegative, Positive


class BackstopParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.perp_backstop]: market orders, then the vault below ``backstop_share`` of maintenance."""

    backstop_share: Annotated[float, Meta(gt=0, le=1)] = 2 / 3
    max_notional_per_block: Positive = 100_000_000.0
    smmr: NonNegative = 0.0  # market orders are not bounded by a fillable price here
    step_s: Positive = 12.0
    max_s: NonNegative = 3600.0


@dataclass(slots=True, kw_only=True)
class BackstopSale(MarketSale):
    def advance(self, now: float, oracle: float) -> bool:
        b, i = self.pbook, self.i
        share = Fraction(repr(self.params.backstop_share))
        if self.size and b.equity(i) < share * b.maintenance(i):
            self.take_over()
            self.done(now)
            return True
        return MarketSale.advance(self, now, oracle)

    def take_over(self) -> None:
        """The vault takes the account's whole position in this market and all its quote."""
        b, i, k = self.pbook, self.i, self.k
        eq = b.equity(i)
        qty = self.size
        if self.side > 0:
            b.trade(i, b.vault, k, qty, 0)
        else:
            b.trade(b.vault, i, k, qty, 0)
        b.move_quote(i, b.vault, int(b.quote[i]))
        b.tally.vault_takeovers += 1
        b.tally.vault_equity += eq.numerator // eq.denominator
        b.tally.closed_notional += qty * b.marks.mark_q[k] // units.COL

    def stop_when_healthy(self) -> bool:
        return True

    def fillable_q(self) -> int:
        """Market orders: no fillable bound, any price the market gives."""
        return 1 if self.side > 0 else 2**62


def open_sale(o: Opening, p: BackstopParams) -> BackstopSale:
    return BackstopSale(**perp_fields(o), params=p)


DESIGN = Design(
    name="perp-backstop", table="perp_backstop", params=BackstopParams, terms=BackstopTerms, open=open_sale, gas={},
    plan=plan, view_terms=view_terms, seizes=False, book="perp", resells=False,
    summary="Hyperliquid: market orders until healthy; below 2/3 of maintenance the backstop vault takes over",
    source="hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations",
)
