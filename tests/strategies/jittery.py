"""A user strategy that draws from ``ctx.rng`` at every decision: a dutch taker with a random margin."""

from __future__ import annotations

from keepers import AuctionView, Context, Strategy, Take


class Jittery(Strategy):
    name = "jittery"

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        margin = float(ctx.rng.uniform(0.0, 0.1))  # one draw per call: the count of calls shapes the stream
        if auction.design != "dutch" or auction.lot <= 0:
            return None
        return Take(max_price=ctx.market_price(auction.asset) * (1.0 - margin), max_qty=auction.lot)
