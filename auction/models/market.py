"""The outside market keepers resell into, with price impact.

- ``ConstantProductPool``: a Uniswap v2 style x*y=k pool; selling ``dq`` tokens into reserves (x tokens,
  y numeraire) pays ``y*dq/(x+dq)`` (no fee modelled).
- ``make_market("reserves", path)``: the real Uniswap v2 ETH/DAI reserves of the data at each sample,
  re-centred on the market price (arbitrageurs align the pool between samples; depth k = x*y from data).
- ``make_market("depth", path, depth=D, shrink=s)``: a virtual pool holding ``D`` tokens at the market
  price, losing the fraction ``s * drawdown`` of its depth as the price falls from its running peak
  (liquidity leaves in a crash).

Each sale is priced against the pool of its instant; the pool is not depleted across sales, because
arbitrage refills it between blocks (a documented simplification); ``ConstantProductPool.sold`` gives
the pool after a sale for a caller that wants sales within one instant to compound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from auction.errors import ConfigError
from auction.models.prices import PricePath

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ConstantProductPool:
    reserve_num: float
    reserve_col: float

    @property
    def spot(self) -> float:
        return self.reserve_num / self.reserve_col

    def sell(self, qty: float) -> float:
        """Numeraire received for selling ``qty`` tokens."""
        return self.reserve_num * qty / (self.reserve_col + qty) if qty > 0 else 0.0

    def buy(self, qty: float) -> float:
        """Numeraire paid for buying ``qty`` tokens: y*q/(x-q); infinite for the whole side or more."""
        if qty <= 0:
            return 0.0
        return self.reserve_num * qty / (self.reserve_col - qty) if qty < self.reserve_col else math.inf

    def sold(self, qty: float) -> ConstantProductPool:
        """The pool after selling ``qty`` tokens into it (same k), for sales that compound within an instant."""
        return ConstantProductPool(self.reserve_num - self.sell(qty), self.reserve_col + max(qty, 0.0))

    def recentred(self, price: float) -> ConstantProductPool:
        """The pool with the same k at the market price: x = sqrt(k/p), y = sqrt(k*p)."""
        k = self.reserve_num * self.reserve_col
        return ConstantProductPool(math.sqrt(k * price), math.sqrt(k / price))


@dataclass(frozen=True, slots=True)
class PathMarket:
    """Pools along a price path: one collateral depth (tokens) per sample, at that sample's price."""

    path: PricePath
    asset: str
    depth_tokens: F64

    def pool(self, t: float) -> ConstantProductPool:
        i = self.path.at(t)
        price = float(self.path.prices[self.asset][i])
        x = float(self.depth_tokens[i])
        return ConstantProductPool(x * price, x)

    def proceeds(self, qty: float, t: float) -> float:
        return self.pool(t).sell(qty)

    def impact(self, qty: float, t: float) -> float:
        """Fraction below the market price that selling ``qty`` realizes on average."""
        pool = self.pool(t)
        return 1.0 - pool.sell(qty) / (qty * pool.spot) if qty > 0 else 0.0


def depth_market(path: PricePath, depth_tokens: float, shrink: float = 0.0, asset: str | None = None) -> PathMarket:
    """A virtual pool of ``depth_tokens * (1 - shrink * drawdown)`` tokens at the market price."""
    if not (math.isfinite(depth_tokens) and depth_tokens > 0 and 0.0 <= shrink <= 1.0):
        raise ConfigError(f"market depth: need depth > 0 and 0 <= shrink <= 1, got depth={depth_tokens}, "
                          f"shrink={shrink}")
    asset = _asset(path, asset)
    prices = path.prices[asset]
    drawdown = 1.0 - prices / np.maximum.accumulate(prices)  # < 1 for prices > 0: depth stays > 0
    return PathMarket(path, asset, depth_tokens * (1.0 - shrink * drawdown))


def reserves_market(path: PricePath, asset: str | None = None) -> PathMarket:
    """The data's real pool at each sample, re-centred on the market price (same k: x = sqrt(k / p))."""
    if path.reserves is None:
        raise ConfigError("market kind 'reserves' needs price data with Uniswap reserve columns")
    asset = _asset(path, asset)
    num, col = path.reserves
    return PathMarket(path, asset, np.sqrt(num * col / path.prices[asset]))


_PARAMS = ("depth", "shrink", "asset")


def make_market(kind: str, path: PricePath, **params: Any) -> PathMarket:
    """``depth`` (params depth=10000 tokens, shrink=0, asset) or ``reserves`` (asset); asset: the first one.

    ``reserves`` accepts and ignores depth and shrink, so one [market] table serves both kinds.
    """
    if kind not in ("depth", "reserves"):
        raise ConfigError(f"unknown market kind {kind!r}: use depth or reserves")
    for name in params:
        if name not in _PARAMS:
            raise ConfigError(f"market {kind}: unknown parameter {name!r}; parameters: {', '.join(_PARAMS)}")
    asset = params.get("asset")
    if kind == "reserves":
        return reserves_market(path, asset)
    return depth_market(path, float(params.get("depth", 10_000.0)), float(params.get("shrink", 0.0)), asset)


def _asset(path: PricePath, asset: str | None) -> str:
    if asset is None:
        return next(iter(path.prices))
    if asset not in path.prices:
        raise ConfigError(f"market: no prices for asset {asset!r} (have {', '.join(path.prices)})")
    return asset
