"""Keepers that bid as MakerDAO's own ``auction-keeper`` did (makerdao/auction-keeper), with its gas pricing.

**Bidding** (``auction_keeper/strategy.py``, ``FlipperStrategy.bid``): the keeper's model gives one price per
token (here ``market * (1 - margin)``) and the keeper bids it at once, not as a proxy:

- tend phase: ``our_bid = min(lot * price, tab)``, sent when ``our_bid >= bid * beg`` or ``our_bid == tab``,
  and ``our_bid > bid``;
- dent phase (the bid reached the tab): ``our_lot = tab / price``, sent when ``our_lot * beg <= lot`` and
  ``our_lot < lot``.

On a Clipper (dutch) it takes when the price reaches its model price, as ``dutch-threshold`` does.

**Gas** (``auction_keeper/gas.py`` ``DynamicGasPrice`` over pymaker's ``GeometricGasPrice``, ``pymaker/gas.py``):
a transaction starts at ``initial`` times the going gas price and is re-priced by ``reactive`` every
``every_s`` seconds (42 in auction-keeper), never above ``max_gwei``. A transaction offered below the going
price is not mined: it is stuck, and the keeper's bid does not land, until its offer catches up or gas falls.
In March 2020 auction-keeper did not re-price at all (``UpdatableGasPrice``: the model's or the node's price,
kept until the model said otherwise): that is ``reactive = 1``, and a keeper whose ``max_gwei`` the spike
passed was priced out, as most were on Black Thursday (Whiterabbit's post-mortem: the keepers ran
"scripts that are not programmed for adjusting high gas prices").

The re-pricing clock starts when a bid is first wanted, which is when auction-keeper sends a Flipper bid. On
the other designs a take is sent later (a Dutch take waits for the price to fall to it), so there the keeper
only stays out while the going gas price is above ``max_gwei``.
"""

from __future__ import annotations

import math
from typing import Any

from keepers.api import AuctionView, Bid, Context, Lots, ResultView, Take, Takes
from keepers.strategies import Universal

EVERY_S = 42.0  # auction_keeper/gas.py DynamicGasPrice.every_secs


class GasReprice:
    """pymaker ``GeometricGasPrice``: ``min(first * initial * reactive ** k, max)`` gwei after ``k`` whole
    periods of ``every_s`` seconds since the transaction was first sent at going price ``first``."""

    def __init__(self, *, initial: float = 1.0, reactive: float = 1.0, every_s: float = EVERY_S,
                 max_gwei: float = math.inf) -> None:
        if not (initial > 0 and reactive >= 1 and every_s > 0 and max_gwei > 0):
            raise ValueError(f"gas: need initial > 0, reactive >= 1, every_s > 0, max_gwei > 0, got "
                             f"{initial}, {reactive}, {every_s}, {max_gwei}")
        self.initial, self.reactive, self.every_s, self.max_gwei = initial, reactive, every_s, max_gwei

    def offer(self, first: float, elapsed: float) -> float:
        """The gas price offered ``elapsed`` seconds after the first send at going price ``first``."""
        k = math.floor(max(elapsed, 0.0) / self.every_s)
        return min(first * self.initial * self.reactive ** k, self.max_gwei)


class MakerKeeper(Universal):
    """auction-keeper's bidding (``universal`` with english-model) and its gas pricing (module docstring).

    Config: ``max_gwei`` (the operator's gas ceiling, auction-keeper's --gas-maximum), ``gas_initial`` and
    ``gas_reactive`` (--gas-initial-multiplier, --gas-reactive-multiplier), ``every_s`` (re-pricing period),
    plus ``universal``'s keywords (``margin``: model price = market * (1 - margin)).
    """

    name = "maker"

    def __init__(self, *, max_gwei: float = math.inf, gas_initial: float = 1.0, gas_reactive: float = 1.0,
                 every_s: float = EVERY_S, **universal: Any) -> None:
        super().__init__(**universal)
        self.gas = GasReprice(initial=gas_initial, reactive=gas_reactive, every_s=every_s, max_gwei=max_gwei)
        self.config.update(max_gwei=max_gwei, gas_initial=gas_initial, gas_reactive=gas_reactive, every_s=every_s)
        # By auction: a wanted action -> (first sent, gwei then); a result forgets its auction's at once.
        self.pending: dict[int, dict[tuple[Any, ...], tuple[float, float]]] = {}

    def offer(self, key: tuple[Any, ...], ctx: Context) -> float | None:
        """The gas offered now for the transaction ``key`` (its auction first); None while it is stuck (offer
        under the going price)."""
        first_at, first_gwei = self.pending.setdefault(key[0], {}).setdefault(key, (ctx.now, ctx.gas_price))
        offered = self.gas.offer(first_gwei, ctx.now - first_at)
        if offered < ctx.gas_price:
            ctx.log.debug("keeper.tx_stuck", offered=offered, gas=ctx.gas_price)
            return None
        return offered

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.design != "english":
            return None if ctx.gas_price > self.gas.max_gwei else super().on_auction(auction, ctx)
        decision = super().on_auction(auction, ctx)
        if decision is None:
            return None
        # A bid is sent when decided: one transaction per auction state (a new standing bid or lot is a new one).
        key = (auction.id, auction.lot, auction.terms.get("bid"))
        return decision if self.offer(key, ctx) is not None else None

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        return Takes.none(len(lots)) if ctx.gas_price > self.gas.max_gwei else super().on_lots(lots, ctx)

    def abstains_from(self, design: str, ctx: Context) -> bool:
        # on_auction's first test outside English (an English bid is priced against the gas it re-prices to)
        return design != "english" and ctx.gas_price > self.gas.max_gwei

    def on_result(self, result: ResultView, ctx: Context) -> None:
        self.pending.pop(result.id, None)
