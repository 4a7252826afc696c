"""Funding rate, dYdX clamp and index, premium EMA and the zero-sum integer payment split."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.perp.funding import (
    PremiumEma,
    average_premium,
    dydx_funding_index_delta,
    dydx_funding_rate_ppm,
    dydx_max_abs_funding_ppm,
    funding_payments,
    funding_rate,
    hyperliquid_hourly_rate,
    index_payments,
    mark_price,
    premium_index,
    split_pro_rata,
)
from auction.units import COL, NUM, col

BP = Fraction(1, 10_000)


def test_hyperliquid_funding_example() -> None:
    # Hyperliquid funding docs' example (quoted from them at cortex-vigil.com/wiki/funding-rates): interest
    # 0.01%, impact bid $10,100 over a $10,000 spot: premium 1%, clamp(0.01% - 1%, +/-0.05%) = -0.05%, rate 0.95%.
    p = premium_index(10_100 * NUM, 10_110 * NUM, 10_000 * NUM)
    assert p == Fraction(1, 100)
    rate = funding_rate(p)
    assert rate == Fraction(95, 10_000)
    # Paid hourly at an eighth, on size * oracle price: 10 BTC long pays 10 * 10,000 * 0.95% / 8 = $118.75.
    hourly = hyperliquid_hourly_rate(rate)
    assert funding_payments([col(10), -col(10)], 10_000 * NUM, hourly).tolist() == [118_750_000, -118_750_000]


def test_premium_is_zero_inside_the_impact_spread() -> None:
    assert premium_index(99, 101, 100) == 0
    assert premium_index(95, 98, 100) == Fraction(-2, 100)
    with pytest.raises(ValueError):
        premium_index(1, 1, 0)


@pytest.mark.parametrize(
    ("premium_bp", "rate_bp"),
    [  # Binance: "if (I - P) is within +/-0.05% then F = P + (I - P) = I" (I = 0.01%)
        (Fraction(-3), Fraction(1)),
        (Fraction(6), Fraction(1)),
        (Fraction(-4), Fraction(1)),
        (Fraction(7), Fraction(2)),  # 0.07% - 0.05%
        (Fraction(-10), Fraction(-5)),  # -0.10% + 0.05%
    ],
)
def test_binance_clamp_around_interest(premium_bp: Fraction, rate_bp: Fraction) -> None:
    assert funding_rate(premium_bp * BP) == rate_bp * BP


def test_caps_and_averages() -> None:
    assert funding_rate(Fraction(1), cap=Fraction(3, 1000)) == Fraction(3, 1000)
    assert hyperliquid_hourly_rate(Fraction(1)) == Fraction(4, 100)  # 4% per hour at most
    assert hyperliquid_hourly_rate(Fraction(-1)) == Fraction(-4, 100)
    assert average_premium([BP, 3 * BP]) == 2 * BP
    with pytest.raises(ValueError):
        average_premium([])


@pytest.mark.parametrize(
    ("clamp", "imf", "mf", "expected"),
    [  # v4-chain liquidity_tier_test.go TestLiquidityTierGetMaxAbsFundingClampPpm
        (6_000_000, 150_000, 800_000, 180_000),
        (6_000_000, 450_000, 1_000_000, 0),
        (6_000_000, 0, 1_000_000, 0),
        (3_000_000, 1_000_000, 0, 3_000_000),
        (0, 1_000_000, 1_000_000, 0),
        (2**32 - 1, 1_000_000, 0, 2**32 - 1),
        (423_978_721, 745_345, 564_947, 137_481_459),
    ],
)
def test_dydx_funding_clamp(clamp: int, imf: int, mf: int, expected: int) -> None:
    assert dydx_max_abs_funding_ppm(clamp, imf, mf) == expected


def test_dydx_funding_rate_is_clamped() -> None:
    # Liquidity tier 3 (20% IMF, 50% maintenance fraction): bound 600% * (20% - 10%) = 60% per 8 hours.
    assert dydx_funding_rate_ppm(1_000_000, 100, 200_000, 500_000) == 600_000
    assert dydx_funding_rate_ppm(-1_000_000, 0, 200_000, 500_000) == -600_000
    assert dydx_funding_rate_ppm(1_000, 100, 200_000, 500_000) == 1_100


@pytest.mark.parametrize(
    ("res", "price", "exponent", "rate", "seconds", "expected"),
    [  # v4-chain protocol/x/perpetuals/funding/funding_test.go TestGetFundingIndexDelta
        (-12, 1_000, 0, 1_001_999, 8 * 3600, 1_001),
        (-12, 1_000, 0, -1_001_999, 8 * 3600, -1_001),
        (-4, 1_000, 2, -1_001_999, 8 * 3600 // 2, -5_009_995_000_000),
        (0, 1_000, -6, -1_001_999, 8 * 3600 // 8, -125_249_875),
    ],
)
def test_dydx_funding_index_delta(res: int, price: int, exponent: int, rate: int, seconds: int, expected: int) -> None:
    assert dydx_funding_index_delta(rate, seconds, res, price, exponent) == expected


def test_premium_ema_by_hand() -> None:
    ema = PremiumEma()
    assert ema.value == 0.0
    ema = ema.update(20.0, 3.0)  # the first sample is the EMA
    assert ema.value == 20.0
    ema = ema.update(-10.0, 150.0)
    d = math.exp(-1.0)
    assert ema.value == pytest.approx((20.0 * 3.0 * d - 10.0 * 150.0) / (3.0 * d + 150.0), rel=1e-15)
    assert mark_price(10_000.0, PremiumEma().update(20.0, 3.0)) == 10_020.0
    with pytest.raises(ValueError):
        ema.update(1.0, -1.0)


def test_funding_payments_by_hand() -> None:
    # Longs of 1 and 3 BTC pay 0.01% of $10,000 each per BTC: $1 and $3; two 2-BTC shorts get $2 each.
    pay = funding_payments(np.array([col(1), -col(2), col(3), -col(2)]), 10_000 * NUM, BP)
    assert pay.tolist() == [1 * NUM, -2 * NUM, 3 * NUM, -2 * NUM]
    # A negative rate: shorts pay longs.
    assert funding_payments([col(1), -col(1)], 10_000 * NUM, -BP).tolist() == [-NUM, NUM]
    # Rounding: three 1-unit longs owe 1/3 unit each, pay 1 each; 3 units go to two equal shorts: 2 and 1.
    assert funding_payments([1, 1, 1, -5, -5], NUM, Fraction(COL, 3 * NUM)).tolist() == [1, 1, 1, -2, -1]
    # No counterparty, zero rate: nobody pays.
    assert funding_payments([col(1), col(2)], NUM, BP).tolist() == [0, 0]
    assert funding_payments([col(1), -col(2)], NUM, Fraction(0)).tolist() == [0, 0]


def test_split_pro_rata() -> None:
    assert split_pro_rata(10, [1, 1, 1]) == [4, 3, 3]
    assert split_pro_rata(7, [0, 2, 5]) == [0, 2, 5]
    with pytest.raises(ValueError):
        split_pro_rata(1, [0, 0])


@given(
    st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=30),
    st.integers(1, 10**12),
    st.fractions(Fraction(-1, 10), Fraction(1, 10)),
)
def test_funding_is_zero_sum_and_never_creates_value(sizes: list[int], price: int, rate: Fraction) -> None:
    pay = funding_payments(sizes, price, rate)
    assert int(pay.sum()) == 0
    sign = (rate > 0) - (rate < 0)
    has_both = any(x * sign > 0 for x in sizes) and any(x * sign < 0 for x in sizes)
    total = sum(int(p) for p in pay if p > 0)
    for x, p in zip(sizes, pay.tolist(), strict=True):
        due = abs(x) * abs(rate) * price / COL
        if not has_both or x == 0:
            assert p == 0
        elif x * sign > 0:
            assert due <= p < due + 1  # a payer pays its due, rounded up
        else:
            w = sum(abs(y) for y in sizes if y * sign < 0)
            assert abs(-p - Fraction(total * abs(x), w)) < 1  # a receiver's pro-rata share of what was paid


@given(
    st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=30),
    st.integers(1, 10**12),
    st.fractions(Fraction(-1, 10), Fraction(1, 10)),
)
def test_one_index_difference_is_the_interval_payment(sizes: list[int], price: int, rate: Fraction) -> None:
    # every position settled at the same index: the difference is one interval's rate x price, paid the same way
    owed = [rate * price] * len(sizes)
    assert index_payments(sizes, owed).tolist() == funding_payments(sizes, price, rate).tolist()


def test_a_position_pays_only_the_funding_since_its_own_index() -> None:
    # The market's index went 0 -> $3 -> $5 per BTC. A long of 2 BTC settled at 0 owes $10; a long of 1 BTC that
    # opened when the index was $3 owes $2; the 3-BTC short that settled at 0 receives the $12 they pay.
    index = 5 * NUM
    owed = [index - 0, index - 3 * NUM, index - 0]
    pay = index_payments([col(2), col(1), -col(3)], owed)
    assert pay.tolist() == [10 * NUM, 2 * NUM, -12 * NUM]
    # receivers share pro rata to their own due, not their size: 1 BTC short owing since 0 (-$5) and 1 BTC since
    # $3 (-$2) share the $7 a 1-BTC long at 0 and a 1-BTC long at $3 pay
    assert index_payments([col(1), col(1), -col(1), -col(1)], [index, 2 * NUM, index, 2 * NUM]).tolist() == [
        5 * NUM, 2 * NUM, -5 * NUM, -2 * NUM]
    assert int(index_payments([col(1), -col(1)], [Fraction(1, 3), Fraction(1, 3)]).sum()) == 0


def index_payments_reference(sizes: list[int], owed: list[Fraction]) -> list[int]:
    """The settlement as first written, one Fraction per position: what the integer version must equal."""
    due = [Fraction(x * d) / COL for x, d in zip(sizes, owed, strict=True)]
    payers = [i for i, d in enumerate(due) if d > 0]
    receivers = [i for i, d in enumerate(due) if d < 0]
    out = [0] * len(sizes)
    if not payers or not receivers:
        return out
    for i in payers:
        out[i] = -(-due[i].numerator // due[i].denominator)
    den = math.lcm(*(due[j].denominator for j in receivers))
    weights = [int(-due[j] * den) for j in receivers]
    for j, share in zip(receivers, split_pro_rata(sum(out), weights), strict=True):
        out[j] = -share
    return out


@given(st.lists(st.tuples(st.integers(-(10**15), 10**15), st.integers(0, 3)), min_size=1, max_size=30),
       st.lists(st.fractions(Fraction(-10**6), Fraction(10**6), max_denominator=10**9), min_size=4, max_size=4))
def test_index_payments_equal_the_fraction_settlement(
    positions: list[tuple[int, int]], indexes: list[Fraction]
) -> None:
    # positions settled at one of a few indexes, as in a run: the grouped integer settlement is the exact one
    sizes = [x for x, _ in positions]
    owed = [indexes[j] for _, j in positions]
    assert index_payments(sizes, owed).tolist() == index_payments_reference(sizes, owed)
