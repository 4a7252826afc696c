"""The position book a [perp] scenario describes: traders, the maker and the backstop vault, from the seed.

Every trader deposits collateral and opens one position at the first price of the path against the outside
market (the maker), so the sizes net to zero from the start and entry = the first price. Leverage is drawn
below the tier's maximum (``TierTable.max_leverage``), so nobody starts liquidatable.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from auction import units
from auction.book.perp_marks import Marks
from auction.book.positions import PositionBook, isolate
from auction.errors import Rejected
from auction.models.market import ConstantProductPool, PathMarket
from auction.perp.margin import TierTable
from auction.scenario.tables import PerpConfig


def tier_table(cfg: PerpConfig) -> TierTable:
    rows = [{k: v for k, v in (("floor", r.floor), ("mmr", r.mmr), ("max_leverage", r.max_leverage))
             if v is not None} for r in cfg.tiers]
    return TierTable.from_rows(rows)


def perp_book(cfg: PerpConfig, n: int, asset: str, p0: float, market: PathMarket, seed: int,
              perp_price: Callable[[str, float], float]) -> PositionBook:
    """``n`` traders with one position each, then the maker and the vault (``PositionBook`` layout)."""
    table = tier_table(cfg)  # checked with the leverage when the scenario was loaded (auction.scenario.parse)
    rng = np.random.default_rng([seed, 0x9E12])
    collateral = rng.lognormal(np.log(cfg.collateral_mean) - cfg.collateral_sigma**2 / 2, cfg.collateral_sigma, n)
    leverage = rng.uniform(cfg.leverage_low, cfg.leverage_high, n)
    side = np.where(rng.random(n) < cfg.long_share, 1, -1)
    price_q = units.price_q(p0)
    coll = np.array([units.num(float(c)) for c in collateral], dtype=np.int64)
    size_t = np.array([units.col(float(c * lev / p0)) for c, lev in zip(collateral, leverage, strict=True)],
                      dtype=np.int64) * side
    cost = np.array([(int(s) * price_q) // units.COL for s in size_t.tolist()], dtype=np.int64)
    quote = np.concatenate([coll - cost, [units.num(cfg.maker_capital) + int(cost.sum()),
                                          units.num(cfg.vault_capital)]]).astype(np.int64)
    size = np.concatenate([size_t, [-int(size_t.sum()), 0]]).astype(np.int64)[:, None]
    costs = np.concatenate([cost, [-int(cost.sum()), 0]]).astype(np.int64)[:, None]
    if cfg.margin == "isolated":  # every trader's collateral behind its one position
        quote, size, costs, _ = isolate(quote, size, costs, coll[:, None])
    marks = Marks((asset,), perp_price, interval_s=cfg.funding_interval_s, tau_s=cfg.ema_tau_s)
    pools: dict[float, ConstantProductPool] = {}

    def pool(t: float) -> ConstantProductPool:
        """The market's pool at ``t``, built once per instant (a block's closes ask its depth, then sell into it)."""
        if t not in pools:
            pools.clear()
            pools[t] = market.pool(t)
        return pools[t]

    def sell(a: str, qty: int, t: float) -> int:
        return units.num(pool(t).sell(units.col_f(qty)))

    def buy(a: str, qty: int, t: float) -> int:
        paid = pool(t).buy(units.col_f(qty))
        if not math.isfinite(paid):
            raise Rejected("insufficient-balance", f"the market cannot sell {units.col_f(qty)} {a}")
        return math.ceil(paid * units.NUM)

    def depth(a: str, t: float, bound_q: int, side: int) -> int:
        """Constant product: selling q averages y / (x + q), buying q averages y / (x - q)."""
        at = pool(t)
        bound = bound_q / units.NUM
        if bound <= 0:
            return 0
        q = at.reserve_num / bound - at.reserve_col if side > 0 else at.reserve_col - at.reserve_num / bound
        return max(units.col(q) - 1, 0) if math.isfinite(q) else 2**62

    book = PositionBook((asset,), (table,), quote, size, costs, marks, sell=sell, buy=buy, depth=depth)
    book.fee_rate, book.socialize, book.adl_rank = cfg.liquidation_fee, cfg.socialize, cfg.adl
    return book
