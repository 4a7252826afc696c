"""Resale market: constant-product pool maths, depth shrinking in a crash, real Uniswap reserves."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.errors import ConfigError
from auction.models.market import ConstantProductPool, depth_market, make_market, reserves_market
from auction.models.prices import PricePath, load_csv, merge

MAY_19 = "eth_usd_10m_stablesims_2021-05-19.csv"
BLACK_THURSDAY = "eth_usd_10m_stablesims_2020-03-12.csv"


def test_sell_pays_y_dq_over_x_plus_dq() -> None:
    pool = ConstantProductPool(reserve_num=2_000_000.0, reserve_col=1_000.0)  # 1000 ETH at $2000
    assert pool.spot == 2000.0
    assert pool.sell(10.0) == pytest.approx(2_000_000 * 10 / 1010)  # $19,801.98: 1 % below spot
    assert pool.sell(1000.0) == 1_000_000.0  # doubling x halves y: half the numeraire for the whole side
    assert pool.sell(0.0) == 0.0 and pool.sell(-3.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(1.0, 1e7),
    y=st.floats(1.0, 1e10),
    frac=st.floats(1e-9, 100.0),
)
def test_x_times_y_is_constant_across_a_sale(x: float, y: float, frac: float) -> None:
    # lots up to 100x the pool: beyond that y - out cancels to float noise in this check, not in sell()
    pool = ConstantProductPool(reserve_num=y, reserve_col=x)
    dq = frac * x
    out = pool.sell(dq)
    assert (x + dq) * (y - out) == pytest.approx(x * y, rel=1e-9)
    assert 0 < out < y
    assert out <= dq * pool.spot * (1 + 1e-12)  # never better than the spot price


def test_recentred_keeps_k_and_hits_the_price() -> None:
    pool = ConstantProductPool(reserve_num=67_923_883.66, reserve_col=23_221.3464)  # 2021-05-19 00:00
    k = pool.reserve_num * pool.reserve_col
    moved = pool.recentred(3423.99)
    assert moved.spot == pytest.approx(3423.99, rel=1e-12)
    assert moved.reserve_num * moved.reserve_col == pytest.approx(k, rel=1e-12)
    assert moved.reserve_col == pytest.approx(math.sqrt(k / 3423.99), rel=1e-12)
    assert moved.reserve_col == pytest.approx(21_462.915, rel=1e-7)


def test_impact_grows_with_size() -> None:
    path = PricePath(times=np.array([0.0, 600.0]), prices={"ETH": np.array([2000.0, 2000.0])})
    market = make_market("depth", path, depth=1000.0)
    sizes = [0.0, 1.0, 10.0, 100.0, 1000.0, 10_000.0]
    impacts = [market.impact(q, 0.0) for q in sizes]
    # selling q into x tokens realizes x/(x+q) of spot on average: impact q/(x+q)
    assert impacts == pytest.approx([0.0, 1 / 1001, 10 / 1010, 100 / 1100, 0.5, 10_000 / 11_000])
    assert all(a < b for a, b in itertools.pairwise(impacts))
    assert market.proceeds(100.0, 0.0) == pytest.approx(100 * 2000 * 1000 / 1100)


def test_depth_market_shrinks_with_drawdown() -> None:
    times = np.array([0.0, 600.0, 1200.0, 1800.0])
    path = PricePath(times=times, prices={"ETH": np.array([100.0, 120.0, 60.0, 90.0])})
    # running peak 100, 120, 120, 120 -> drawdown 0, 0, 0.5, 0.25; half of that fraction leaves
    market = make_market("depth", path, depth=1000.0, shrink=0.5)
    assert market.depth_tokens.tolist() == [1000.0, 1000.0, 750.0, 875.0]
    pool = market.pool(1300.0)
    assert (pool.reserve_col, pool.reserve_num, pool.spot) == (750.0, 45_000.0, 60.0)
    assert market.impact(250.0, 1200.0) == pytest.approx(0.25) and market.impact(250.0, 0.0) == pytest.approx(0.2)
    assert make_market("depth", path, depth=1000.0).depth_tokens.tolist() == [1000.0] * 4


def test_depth_market_on_black_thursday() -> None:
    path = load_csv(BLACK_THURSDAY)
    market = make_market("depth", path, depth=5000.0, shrink=0.6)
    low = int(np.argmin(path.prices["ETH"]))  # $106.59 against the day's peak $194.52 (the open)
    assert market.depth_tokens[low] == pytest.approx(5000.0 * (1 - 0.6 * (1 - 106.59 / 194.52)))
    assert market.depth_tokens.min() == market.depth_tokens[low] == pytest.approx(3643.9, abs=0.05)
    t = float(path.times[low])
    assert market.impact(100.0, t) > market.impact(100.0, 0.0)


def test_reserves_market_uses_real_pool_depth_per_sample() -> None:
    path = load_csv(MAY_19)
    assert path.reserves is not None
    num, col = path.reserves
    prices = path.prices["ETH"]
    market = make_market("reserves", path)
    assert np.allclose(market.depth_tokens, np.sqrt(num * col / prices), rtol=1e-12)
    for i in (0, 1, 78, 143):  # 78: the day's low, $1944.91 at 13:00
        pool = market.pool(float(path.times[i]))
        assert pool.spot == pytest.approx(prices[i], rel=1e-12)
        assert pool.reserve_num * pool.reserve_col == pytest.approx(num[i] * col[i], rel=1e-12)
        real = ConstantProductPool(float(num[i]), float(col[i])).recentred(float(prices[i]))
        assert (pool.reserve_num, pool.reserve_col) == pytest.approx((real.reserve_num, real.reserve_col), rel=1e-12)
    # 00:00: k = 67,923,883.66 * 23,221.3464, re-centred on $3423.99 -> 21,462.9 ETH of depth
    assert market.depth_tokens[0] == pytest.approx(21_462.915, rel=1e-7)
    x = market.depth_tokens[0]
    assert market.proceeds(500.0, 0.0) == pytest.approx(3423.99 * x * 500 / (x + 500), rel=1e-12)
    assert market.impact(500.0, 0.0) == pytest.approx(500 / (x + 500), rel=1e-12)  # 2.28 %
    # 599 s in: still the 00:00 pool (the market is a step function of the samples)
    assert market.proceeds(500.0, 599.0) == market.proceeds(500.0, 0.0)


def test_market_config_errors() -> None:
    path = load_csv(BLACK_THURSDAY)
    with pytest.raises(ConfigError, match="'reserves' needs price data with Uniswap reserve columns"):
        make_market("reserves", path)
    with pytest.raises(ConfigError, match="unknown market kind 'orderbook': use depth or reserves"):
        make_market("orderbook", path)


def test_buy_pays_y_dq_over_x_minus_dq() -> None:
    pool = ConstantProductPool(reserve_num=2_000_000.0, reserve_col=1_000.0)
    assert pool.buy(10.0) == pytest.approx(2_000_000 * 10 / 990)  # $20,202.02: 1 % above spot
    assert pool.buy(500.0) == 2_000_000.0  # half the tokens cost the whole numeraire side again
    assert pool.buy(1000.0) == math.inf and pool.buy(2000.0) == math.inf
    assert pool.buy(0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(x=st.floats(1.0, 1e7), y=st.floats(1.0, 1e10), a=st.floats(1e-6, 10.0), b=st.floats(1e-6, 10.0))
def test_sales_compound_on_the_sold_pool(x: float, y: float, a: float, b: float) -> None:
    # selling a then b on the pool left by the first sale pays what selling a + b at once pays (x*y=k)
    pool = ConstantProductPool(reserve_num=y, reserve_col=x)
    after = pool.sold(a * x)
    assert after.reserve_num * after.reserve_col == pytest.approx(x * y, rel=1e-9)
    assert pool.sell(a * x) + after.sell(b * x) == pytest.approx(pool.sell((a + b) * x), rel=1e-9)
    # buying back what was sold, on the moved pool, costs what the sale paid
    assert after.buy(a * x) == pytest.approx(pool.sell(a * x), rel=1e-9)


def test_market_picks_the_asset_of_a_merged_path() -> None:
    both = merge(load_csv(BLACK_THURSDAY), load_csv("btc_usdt_1h_binance_2020-03_black_thursday.csv", asset="BTC"))
    btc = make_market("depth", both, depth=100.0, asset="BTC")
    assert btc.pool(0.0).spot == 7913.42 and btc.pool(3600.0).spot == 7713.27
    assert make_market("depth", both, depth=100.0).pool(0.0).spot == 194.52  # the first asset
    assert depth_market(both, 100.0, 0.5, "BTC").depth_tokens.tolist() == make_market(
        "depth", both, depth=100.0, shrink=0.5, asset="BTC").depth_tokens.tolist()
    with pytest.raises(ConfigError, match=r"market: no prices for asset 'SOL' \(have ETH, BTC\)"):
        make_market("depth", both, asset="SOL")
    may = load_csv(MAY_19)
    assert reserves_market(may).depth_tokens.tolist() == make_market("reserves", may).depth_tokens.tolist()
    # one [market] table for both kinds: reserves ignores depth and shrink
    assert make_market("reserves", may, depth=5.0, shrink=0.9).depth_tokens.tolist() == (
        reserves_market(may).depth_tokens.tolist())


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("depth", {"depth": 0.0}, "market depth: need depth > 0 and 0 <= shrink <= 1, got depth=0.0, shrink=0.0"),
        ("depth", {"depth": 10.0, "shrink": 1.5}, "market depth: need depth > 0 and 0 <= shrink <= 1"),
        ("depth", {"depth": float("nan")}, "market depth: need depth > 0"),
        ("depth", {"depht": 10.0}, "market depth: unknown parameter 'depht'; parameters: depth, shrink, asset"),
        ("reserves", {"pool": "univ2"}, "market reserves: unknown parameter 'pool'; parameters: depth, shrink, asset"),
    ],
)
def test_market_parameters_are_checked(kind: str, params: dict[str, float], expected: str) -> None:
    path = load_csv(MAY_19)
    with pytest.raises(ConfigError) as err:
        make_market(kind, path, **params)
    assert str(err.value).startswith(expected)
