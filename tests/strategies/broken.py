"""Test strategies that fail (``tests/strategies/broken.py:Raising`` ...): every decision raises, or only
the decisions about odd auction ids do."""

from __future__ import annotations

from keepers import AuctionView, Context, Strategy, Take


class Raising(Strategy):
    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        return Take(max_price=ctx.market_price(auction.asset) / 0, max_qty=auction.lot)  # ZeroDivisionError


class OddRaising(Strategy):
    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        if auction.id % 2:
            raise ValueError(f"odd auction {auction.id}")
        return None
