"""The outside market keepers resell into, with price impact.

- ``ConstantProductPool``: a Uniswap v2 style x*y=k pool; selling ``dq`` tokens into reserves (x tokens,
  y numeraire) pays ``y*dq/(x+dq)`` (no fee modelled).
- ``make_market("reserves", path)``: the real Uniswap v2 ETH/DAI reserves of the data at each sample,
  re-centred on the market price (arbitrageurs align the pool between samples; depth k = x*y from data).
- ``make_market("depth", path, depth=D, shrink=s)``: a virtual pool holding ``D`` tokens at the market
  price, losing the fraction ``s * drawdown`` of its depth as the price falls from its running peak
  (liquidity leaves in a crash).

Each sale is priced against the pool of its instant; the pool is not depleted across sales, because
arbitrage refills it between blocks (a documented simplification).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from auction.errors import ConfigError
from auction.prices import PricePath

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


def make_market(kind: str, path: PricePath, *, depth: float = 10_000.0, shrink: float = 0.0) -> PathMarket:
    asset = next(iter(path.prices))
    prices = path.prices[asset]
    if kind == "reserves":
        if path.reserves is None:
            raise ConfigError("market kind 'reserves' needs price data with Uniswap reserve columns")
        num, col = path.reserves
        return PathMarket(path, asset, np.sqrt(num * col / prices))  # re-centred: x = sqrt(k / p)
    if kind == "depth":
        drawdown = 1.0 - prices / np.maximum.accumulate(prices)
        return PathMarket(path, asset, depth * (1.0 - shrink * drawdown))
    raise ConfigError(f"unknown market kind {kind!r}: use depth or reserves")
