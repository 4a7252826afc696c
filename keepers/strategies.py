"""Built-in keeper strategies: the population the comparisons run against, and examples to copy.

Each is a plain ``Strategy`` configured by keyword arguments (an unknown keyword is an error, so a typo
in a scenario file does not pass silently). ``BUILTINS`` maps the registry name to the class.

The value of a lot to a keeper is ``ctx.market_price(asset)`` per token: the outside market it resells
into (which can lead the oracle), or its private value in the textbook-ipv scenario.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auction.models.chain import GAS_TAKE
from keepers.api import AuctionView, Bid, Context, Lots, Strategy, Take, Takes

# Gas one liquidationCall burns on Aave v3 (LiquidationLogic.executeLiquidationCall); mainnet receipts show
# roughly 250k-400k depending on the assets; 300k is what the house charges (auction.house.GAS).
FIXED_GAS_UNITS = 300_000

# What the built-in perp keepers ask over their hedge (0.25%). Why so little: the hedge they compare with is
# already priced with the market's impact for the quantity (ctx.hedge_price), and the house hedges inside the
# sale, so no price risk is left to be paid for; what is left is the transaction and a small safety margin.
# Real takeover liquidators live on the venue's fee: Drift v2 pays 1% at oracle (perp market liquidator_fee,
# programs/drift/src/math/liquidation.rs, our perp-takeover base_fee), and Drift's own liquidator bot
# (drift-labs/keeper-bots-v2 src/config.ts, maxSlippageBps = 50) takes over at that fee and derisks at once with
# a market order accepting up to 0.5% slippage: it needs fee > slippage, not a margin on top. 0.25% over an
# impact-priced hedge stays well under the 1% fee, as a liquidator that hedges must; the vault keepers'
# 2-5% margins are for holding collateral through an auction and its resale, which a hedged takeover avoids.
PERP_MARGIN = 0.0025


def equilibrium_shade(n: int) -> float:
    """Symmetric first-price equilibrium with n bidders and uniform private values: bid v * (n-1)/n."""
    if n < 1:
        raise ValueError(f"the number of bidders must be >= 1, got {n}")
    return (n - 1) / n


def bidders(auction: AuctionView, n: int | None) -> int | None:
    """The number of bidders: configured, else announced by the house in the terms, else unknown."""
    if n is not None:
        return n
    announced = auction.terms.get("bidders")
    return int(announced) if announced else None


class DutchThreshold(Strategy):
    """Dutch: take the lot once the price is at most ``market * (1 - margin)``.

    ``shade`` switches to the private-value rule ``reservation = value * shade``; ``shade="equilibrium"``
    uses (n-1)/n (a Dutch auction is strategically a first-price sealed auction), n as for sealed-shading.
    """

    name = "dutch-threshold"

    def __init__(self, *, margin: float = 0.05, shade: float | str | None = None, n: int | None = None) -> None:
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        if isinstance(shade, str) and shade != "equilibrium":
            raise ValueError(f"shade must be a number or 'equilibrium', got {shade!r}")
        super().__init__(margin=margin, shade=shade, n=n)
        self.margin, self.shade, self.n = margin, shade, n

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.design != "dutch" or auction.lot <= 0:
            return None
        limit = self.reservation(auction, ctx.market_price(auction.asset))
        return Take(max_price=limit, max_qty=auction.lot) if limit > 0 else None

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        if lots.design != "dutch":
            return Takes.none(len(lots))
        if self.shade == "equilibrium" and self.n is None:
            return None  # the number of bidders may differ per auction (its terms): asked one by one
        open_ = lots.lot > 0
        if not open_.any():
            return Takes.none(len(lots))
        limit = self._reservation(ctx.market_price(lots.asset), self.n)
        return takes_at(limit, lots.lot, open_)

    def reservation(self, auction: AuctionView, value: float) -> float:
        return self._reservation(value, bidders(auction, self.n) if self.shade == "equilibrium" else None)

    def _reservation(self, value: float, n: int | None) -> float:
        if self.shade is None:
            return value * (1.0 - self.margin)
        if self.shade == "equilibrium":
            return value * equilibrium_shade(n) if n else value * (1.0 - self.margin)
        return value * float(self.shade)


def takes_at(price: float, lot: np.ndarray, where: np.ndarray) -> Takes:
    """``Take(price, lot[i])`` on the rows ``where`` is true, when ``price`` > 0; abstain elsewhere."""
    if not price > 0:
        return Takes.none(lot.size)
    return Takes(np.where(where, price, np.nan), lot)


class SealedTruthful(Strategy):
    """Sealed: bid the value (less an optional margin) for the whole lot; the dominant strategy in second-price."""

    name = "sealed-truthful"

    def __init__(self, *, margin: float = 0.0) -> None:
        super().__init__(margin=margin)
        self.margin = margin

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if not auction.design.startswith("sealed"):
            return None
        return sealed_bid(auction, ctx.market_price(auction.asset) * (1.0 - self.margin))


class SealedShading(Strategy):
    """Sealed equilibrium bidder: first-price bids ``value * (n-1)/n``; second-price bids the value.

    n comes from the config, else from the house (``terms["bidders"]``); when neither says, it bids
    ``value * (1 - margin)``.
    """

    name = "sealed-shading"

    def __init__(self, *, n: int | None = None, margin: float = 0.0) -> None:
        if n is not None and n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        super().__init__(n=n, margin=margin)
        self.n, self.margin = n, margin

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if not auction.design.startswith("sealed"):
            return None
        value = ctx.market_price(auction.asset) * (1.0 - self.margin)
        n = bidders(auction, self.n)
        if auction.design == "sealed-first" and n:
            value *= equilibrium_shade(n)
        return sealed_bid(auction, value)


def sealed_bid(auction: AuctionView, price: float) -> Bid | None:
    """A bid for the whole lot, or nothing when it would fall under the reserve."""
    reserve = float(auction.terms.get("reserve", 0.0))
    if price <= 0 or price < reserve or auction.lot <= 0:
        return None
    return Bid(price=price, qty=auction.lot)


class EnglishProxy(Strategy):
    """English (Flipper): a proxy bid up to ``value * (1 - margin)`` per token; the framework raises by ``beg``."""

    name = "english-proxy"

    def __init__(self, *, margin: float = 0.0) -> None:
        super().__init__(margin=margin)
        self.margin = margin

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.design != "english" or auction.lot <= 0:
            return None
        limit = ctx.market_price(auction.asset) * (1.0 - self.margin)
        return Take(max_price=limit, max_qty=auction.lot) if limit > 0 else None


class EnglishModel(Strategy):
    """English (Flipper) as Maker's auction-keeper bid (auction_keeper/strategy.py ``FlipperStrategy.bid``):
    its model price ``value * (1 - margin)`` per token, all at once.

    tend: ``our_bid = min(lot * price, tab)``, when ``our_bid >= bid * beg`` or ``our_bid == tab``, and
    ``our_bid > bid``; dent (the bid reached the tab): ``our_lot = tab / price``, when ``our_lot * beg <= lot``
    and ``our_lot < lot``. A lone bidder pays its own price, not a proxy's minimum: the textbook English
    auction is ``english-proxy``.
    """

    name = "english-model"

    def __init__(self, *, margin: float = 0.0) -> None:
        super().__init__(margin=margin)
        self.margin = margin

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.design != "english" or auction.lot <= 0 or auction.terms.get("guy", "") == ctx.keeper_id:
            return None
        price = ctx.market_price(auction.asset) * (1.0 - self.margin)
        bid, beg = float(auction.terms.get("bid", 0.0)), float(auction.terms.get("beg", 1.0))
        if price <= 0:
            return None
        if bid >= auction.tab:  # dent: the full tab for the lot our price buys
            our_lot = auction.tab / price
            if not (our_lot * beg <= auction.lot and our_lot < auction.lot):
                return None
            return Take(max_price=price, max_qty=our_lot, at_once=True)
        our_bid = min(auction.lot * price, auction.tab)
        if not ((our_bid >= bid * beg or our_bid == auction.tab) and our_bid > bid):
            return None
        return Take(max_price=our_bid / auction.lot, max_qty=auction.lot, at_once=True)


class FixedLiquidator(Strategy):
    """Fixed-penalty: liquidate when the bonus, resold at market, beats the gas; bid gas for the race.

    Seizing ``q`` tokens costs ``q * oracle / (1 + bonus)``; resold at ``market`` it earns
    ``q * market - repay``. The gas war: the priority fee offered is up to ``gas_share`` of the expected
    profit net of the base fee, capped at ``max_priority_fee`` gwei.
    """

    name = "fixed-liquidator"

    def __init__(
        self,
        *,
        gas_share: float = 0.5,
        max_priority_fee: float = 500.0,
        min_profit: float = 0.0,
        gas_units: int = FIXED_GAS_UNITS,
    ) -> None:
        if not 0.0 <= gas_share <= 1.0:
            raise ValueError(f"gas_share must be in [0, 1], got {gas_share}")
        super().__init__(gas_share=gas_share, max_priority_fee=max_priority_fee, min_profit=min_profit)
        self.gas_share, self.max_priority_fee, self.min_profit = gas_share, max_priority_fee, min_profit
        self.gas_units = gas_units

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.design != "fixed" or auction.oracle_price <= 0:
            return None
        bonus = float(auction.terms.get("bonus", 0.0))
        unit_cost = auction.oracle_price / (1.0 + bonus)
        repay = min(float(auction.terms.get("max_repay", auction.tab)), ctx.balance)
        qty = min(repay / unit_cost, auction.lot)
        market = ctx.market_price(auction.asset)
        profit = qty * (market - unit_cost) - ctx.gas_usd(self.gas_units)
        if qty <= 0 or profit <= self.min_profit:
            return None
        usd_per_gwei = ctx.gas_usd(self.gas_units, priority_fee=1.0) - ctx.gas_usd(self.gas_units)
        tip = self.gas_share * profit / usd_per_gwei if usd_per_gwei > 0 else 0.0
        return Take(max_price=market, max_qty=qty, priority_fee=min(tip, self.max_priority_fee))


class ZeroBid(Strategy):
    """The Black Thursday winner: bid the minimum on English auctions nobody else bids on.

    English: a proxy of ``bid`` USD for the whole lot, only while there is no standing bid from anyone
    else. Dutch: take only at near-zero prices (``dutch_fraction`` of the market). Sealed: bid the reserve
    when that is as cheap. Fixed: nothing (there is no auction to win for nothing).
    """

    name = "zero-bid"

    def __init__(self, *, bid: float = 1e-6, dutch_fraction: float = 0.02) -> None:
        super().__init__(bid=bid, dutch_fraction=dutch_fraction)
        self.bid, self.dutch_fraction = bid, dutch_fraction

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.lot <= 0 or self.abstains_from(auction.design, ctx):
            return None
        if auction.design == "english":
            standing, guy = float(auction.terms.get("bid", 0.0)), str(auction.terms.get("guy", ""))
            if standing > 0 and guy != ctx.keeper_id:
                return None  # someone else bids: no free lunch here
            return Take(max_price=self.bid / auction.lot, max_qty=auction.lot)
        cheap = ctx.market_price(auction.asset) * self.dutch_fraction
        if auction.design == "dutch":
            return Take(max_price=cheap, max_qty=auction.lot) if cheap > 0 else None
        if auction.design.startswith("sealed"):
            price = max(float(auction.terms.get("reserve", 0.0)), self.bid / auction.lot)
            return Bid(price=price, qty=auction.lot) if price <= cheap else None
        return None

    def abstains_from(self, design: str, ctx: Context) -> bool:
        return design not in ("english", "dutch") and not design.startswith("sealed")  # fixed, perp: nothing

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        if lots.design != "dutch":
            return None  # english and sealed decisions read each auction's terms: asked one by one
        open_ = lots.lot > 0
        if not open_.any():
            return Takes.none(len(lots))
        return takes_at(ctx.market_price(lots.asset) * self.dutch_fraction, lots.lot, open_)


class PerpTaker(Strategy):
    """Perp designs: take a position over when the price beats its hedge into the outside market by ``margin``
    (default ``PERP_MARGIN``, 0.25%: why, above it).

    The hedge is priced with the market's impact for the quantity taken (``ctx.hedge_price``): a long is bought
    at most at ``hedge * (1 - margin)`` and sold on at once, a short taken at least at ``hedge * (1 + margin)``
    and bought back at once (the house hedges inside the sale). The transaction's gas (``gas_units`` at the going
    base fee) comes off the limit per token taken, so a take too small to pay its gas is not sent: the keeper
    waits until the sale lets it take enough (Drift's freeable share ramps up). Capital limit: a long's price is
    paid before the hedge returns it, so at most ``balance / price`` tokens; margin limit: at most
    ``max_notional`` USD per position, and no more than the sale lets one take close (``max_qty``).
    """

    name = "perp-taker"

    def __init__(self, *, margin: float = PERP_MARGIN, max_notional: float = 5_000_000.0,
                 gas_units: int = GAS_TAKE) -> None:
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        super().__init__(margin=margin, max_notional=max_notional, gas_units=gas_units)
        self.margin, self.max_notional, self.gas_units = margin, max_notional, gas_units

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if not auction.design.startswith("perp-") or auction.lot <= 0:
            return None
        side = int(auction.terms.get("side", 1))
        price = ctx.market_price(auction.asset)
        qty = min(auction.lot, float(auction.terms.get("max_qty", auction.lot)) or auction.lot,
                  self.max_notional / price)
        if side > 0:
            qty = min(qty, ctx.balance / price)
        if qty <= 0:
            return None
        value = ctx.hedge_price(auction.asset, side * qty)  # what the hedge of that much really fetches
        gas = ctx.gas_usd(self.gas_units) / qty  # the transaction's cost per token taken
        limit = value * (1.0 - self.margin) - gas if side > 0 else value * (1.0 + self.margin) + gas
        if limit <= 0:
            return None
        if auction.design == "perp-sealed":
            return Bid(price=limit, qty=qty)
        return Take(max_price=limit, max_qty=qty)


class Universal(Strategy):
    """The default population member: a sensible behaviour for every design.

    dutch -> dutch-threshold, sealed -> sealed-shading, english -> english-model (Maker's auction-keeper;
    ``english="proxy"``: english-proxy, the textbook bidder), fixed -> fixed-liquidator,
    perp-dutch, perp-sealed and perp-takeover -> perp-taker with its own ``perp_margin`` (a hedged takeover
    asks far less than a collateral resale: see ``PERP_MARGIN``).
    """

    name = "universal"

    def __init__(
        self,
        *,
        margin: float = 0.05,
        shade: float | str | None = None,
        n: int | None = None,
        gas_share: float = 0.5,
        max_priority_fee: float = 500.0,
        english: str = "model",
        perp_margin: float = PERP_MARGIN,
    ) -> None:
        if english not in ("model", "proxy"):
            raise ValueError(f"english must be 'model' or 'proxy', got {english!r}")
        super().__init__(margin=margin, shade=shade, n=n, gas_share=gas_share, max_priority_fee=max_priority_fee,
                         english=english, perp_margin=perp_margin)
        self.by_design: dict[str, Strategy] = {
            "dutch": DutchThreshold(margin=margin, shade=shade, n=n),
            "sealed-first": SealedShading(n=n, margin=margin),
            "sealed-second": SealedShading(n=n, margin=margin),
            "english": EnglishModel(margin=margin) if english == "model" else EnglishProxy(margin=margin),
            "fixed": FixedLiquidator(gas_share=gas_share, max_priority_fee=max_priority_fee),
        }
        perp = PerpTaker(margin=perp_margin)
        self.by_design.update({name: perp for name in ("perp-dutch", "perp-sealed", "perp-takeover")})

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        inner = self.by_design.get(auction.design)
        return inner.on_auction(auction, ctx) if inner else None

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        inner = self.by_design.get(lots.design)
        return inner.on_lots(lots, ctx) if inner else Takes.none(len(lots))


class Constrained(Universal):
    """A universal keeper that drops out under congestion or when short of capital.

    It abstains while the base fee is above ``gas_limit`` gwei or its balance is under ``balance_floor``
    USD: the keepers that went quiet on Black Thursday as gas spiked.
    """

    name = "constrained"

    def __init__(self, *, gas_limit: float = 100.0, balance_floor: float = 0.0, **universal: Any) -> None:
        super().__init__(**universal)
        self.config.update(gas_limit=gas_limit, balance_floor=balance_floor)
        self.gas_limit, self.balance_floor = gas_limit, balance_floor

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if self.abstains(ctx):
            return None
        return super().on_auction(auction, ctx)

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        if self.abstains(ctx):
            return Takes.none(len(lots))
        return super().on_lots(lots, ctx)

    def abstains(self, ctx: Context) -> bool:
        if ctx.gas_price > self.gas_limit or ctx.balance < self.balance_floor:
            ctx.log.debug("keeper.dropped_out", gas=ctx.gas_price, balance=ctx.balance)
            return True
        return False


BUILTINS: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        DutchThreshold, SealedTruthful, SealedShading, EnglishProxy, EnglishModel, FixedLiquidator, ZeroBid,
        Universal, Constrained, PerpTaker,
    )
}
