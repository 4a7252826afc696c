"""A keeper strategy to start from: copy this file, rename the class, change `on_auction`.

Try it in the simulator against the built-in keepers, then run the very same class live:

    liqnet strategy-test --strategy my_strategy.py:MyStrategy --config '{"margin": 0.03}'
    liqnet keeper --broker mqtt://127.0.0.1:1883 --strategy my_strategy.py:MyStrategy

Everything is in whole units: tokens, USD, seconds.
"""

from keepers import AuctionView, Bid, Context, ResultView, Strategy, Take


class MyStrategy(Strategy):
    name = "my-strategy"

    def __init__(self, margin: float = 0.05) -> None:
        # Config arrives as keyword arguments (--config JSON, or a scenario's keeper table).
        super().__init__(margin=margin)
        self.margin = margin
        self.wins = 0

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        # Called when an auction opens or changes, possibly more than once with the same state:
        # return the same answer for the same inputs and let the framework avoid acting twice.
        value = ctx.market_price(auction.asset)  # what the lot resells for, per token
        limit = value * (1 - self.margin)
        if auction.design == "dutch":
            # The framework takes at the moment the falling price reaches `limit` (price_at(t) shows the curve).
            return Take(max_price=limit, max_qty=auction.lot)
        if auction.design.startswith("sealed"):
            # The framework commits now and reveals in the reveal phase.
            return Bid(price=limit, qty=auction.lot)
        if auction.design in ("english", "fixed"):
            # English: a proxy bid up to `limit` per token. Fixed: liquidate if it costs at most `limit`.
            return Take(max_price=limit, max_qty=auction.lot)
        return None  # abstain

    def on_result(self, result: ResultView, ctx: Context) -> None:
        if result.won:
            self.wins += 1
            ctx.log.info("won", auction=result.id, qty=result.qty, price=result.price)
