"""A test strategy loaded by path (``tests/strategies/greedy.py:Greedy``): takes any Dutch lot at a
fixed discount to the market, half the lot at a time."""

from __future__ import annotations

from keepers import AuctionView, Context, Strategy, Take


class Greedy(Strategy):
    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        if auction.design != "dutch":
            return None
        discount = float(self.config.get("discount", 0.08))
        return Take(max_price=ctx.market_price(auction.asset) * (1 - discount), max_qty=auction.lot / 2)
