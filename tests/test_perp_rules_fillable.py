"""dYdX v4 fillable price, bankruptcy quote and insurance-fund delta on v4-chain's own test cases.

Every case is copied from dydxprotocol/v4-chain protocol/x/clob/keeper/liquidations_test.go
(TestGetFillablePrice, TestGetBankruptcyPriceInQuoteQuantums, TestGetLiquidationInsuranceFundDelta), with
the test constants of protocol/testutil/constants: BTC at $50,000 (price 5e9, exponent -5, atomic resolution
-8), ETH at $3,000 (3e9, -6, -9), both on liquidity tier 3 (20% initial, 50% maintenance fraction), USDC
balances in whole dollars (QuoteBalance_OneDollar = 1e6 quantums).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.perp.fillable import (
    MAX_LIQUIDATION_FEE_PPM,
    adjusted_bankruptcy_rating,
    bankruptcy_quote,
    fillable_price,
    fillable_price_int_q,
    fillable_price_q,
    insurance_fund_delta,
)
from auction.perp.margin import dydx_base_to_quote, dydx_margin_requirements

BTC = (-8, 5_000_000_000, -5)
ETH = (-9, 3_000_000_000, -6)
MARKETS = {"BTC": BTC, "ETH": ETH}
DOLLAR = 1_000_000
U32_MAX = 2**32 - 1
PPM_LOW = 1_000_000  # BA >= 1 (v4 validates the config)


def risk(quantums: int, market: str) -> tuple[int, int]:
    """(net notional, maintenance requirement) of one position, as v4's perplib computes them."""
    nc = dydx_base_to_quote(quantums, *MARKETS[market])
    return nc, dydx_margin_requirements(nc, 200_000, 500_000)[1]


def totals(usdc: int, positions: dict[str, int]) -> tuple[int, int]:
    risks = [risk(q, m) for m, q in positions.items()]
    return usdc * DOLLAR + sum(nc for nc, _ in risks), sum(mm for _, mm in risks)


@pytest.mark.parametrize(
    ("usdc", "positions", "market", "ba", "smmr", "expected"),
    [
        (-4_501, {"BTC": 10_000_000}, "BTC", 1_000_000, 100_000, Fraction(49_999, 100)),
        (-4_501, {"BTC": 10_000_000}, "BTC", 2_000_000, 100_000, Fraction(49_998, 100)),
        (-4_501, {"BTC": 10_000_000}, "BTC", 1_000_000, 200_000, Fraction(49_998, 100)),
        (5_499, {"BTC": -10_000_000}, "BTC", 1_000_000, 100_000, Fraction(50_001, 100)),
        (5_499, {"BTC": -10_000_000}, "BTC", 2_000_000, 100_000, Fraction(50_002, 100)),
        (5_499, {"BTC": -10_000_000}, "BTC", 1_000_000, 200_000, Fraction(50_002, 100)),
        (-5_000, {"BTC": 10_000_000}, "BTC", 1_000_000, 100_000, Fraction(495)),  # at bankruptcy
        (5_000, {"BTC": -10_000_000}, "BTC", 1_000_000, 100_000, Fraction(505)),
        (-5_500, {"BTC": 10_000_000}, "BTC", 1_000_000, 100_000, Fraction(495)),  # below bankruptcy
        (4_500, {"BTC": -10_000_000}, "BTC", 1_000_000, 100_000, Fraction(505)),
        (-490, {"BTC": 400_000, "ETH": 100_000_000}, "ETH", 1_000_000, 100_000, Fraction(372, 125)),
        (-4_501, {"BTC": 10_000_000}, "BTC", U32_MAX, 100_000, Fraction(495)),
        (-4_501, {"BTC": 10_000_000}, "BTC", 1_000_000, 1, Fraction(4_999_999_999, 10_000_000)),
        (-4_501, {"BTC": 10_000_000}, "BTC", 1_000_000, 1_000_000, Fraction(49_990, 100)),
    ],
)
def test_fillable_price_matches_v4(
    usdc: int, positions: dict[str, int], market: str, ba: int, smmr: int, expected: Fraction
) -> None:
    tnc, tmmr = totals(usdc, positions)
    pnnv, pmmr = risk(positions[market], market)
    got = fillable_price(pnnv, pmmr, tnc, tmmr, positions[market], ba_ppm=ba, smmr_ppm=smmr)
    assert got == expected
    for units in (1, 10**8):  # the integer hot path gives the same whole-token price, rounded the same way
        want = fillable_price_q(expected, positions[market], units)
        assert fillable_price_int_q(pnnv, pmmr, tnc, tmmr, positions[market], units, ba_ppm=ba, smmr_ppm=smmr) == want


def test_fillable_price_worked_through() -> None:
    # The first case by hand: 0.1 BTC long ($5,000), USDC -$4,501: TNC = $499, TMMR = PMMR = $500,
    # ABR = 1 - 499/500 = 1/500, SMMR * PMMR = $50, so $5,000 - $0.1 = $4,999.9 for 0.1 BTC: $49,999.
    assert adjusted_bankruptcy_rating(499 * DOLLAR, 500 * DOLLAR) == Fraction(1, 500)
    price = fillable_price(5_000 * DOLLAR, 500 * DOLLAR, 499 * DOLLAR, 500 * DOLLAR, 10_000_000)
    assert fillable_price_q(price, 10_000_000, 10**8) == 49_999 * DOLLAR
    # Above maintenance the rating is 0 (clamped): the fillable price is the oracle price.
    assert adjusted_bankruptcy_rating(600, 500) == 0
    # Rounding to a whole-token price: up when closing a long, down when closing a short.
    assert fillable_price_q(Fraction(1, 3), 5, 10) == 4 and fillable_price_q(Fraction(1, 3), -5, 10) == 3


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 10**12), side=st.sampled_from([1, -1]), mark=st.integers(1, 10**11),
       pmmr=st.integers(1, 10**12), tnc=st.integers(-10**13, 10**13), extra=st.integers(0, 10**12),
       ba=st.integers(PPM_LOW, 4_294_967_295), smmr=st.integers(0, 10**6))
def test_the_integer_fillable_price_is_the_exact_one(size: int, side: int, mark: int, pmmr: int, tnc: int,
                                                    extra: int, ba: int, smmr: int) -> None:
    ps = side * size
    pnnv = ps * mark // 10**6
    tmmr = pmmr + extra
    try:
        want = fillable_price_q(fillable_price(pnnv, pmmr, tnc, tmmr, ps, ba_ppm=ba, smmr_ppm=smmr), ps, 10**9)
    except ValueError:  # a negative price: both refuse it
        with pytest.raises(ValueError):
            fillable_price_int_q(pnnv, pmmr, tnc, tmmr, ps, 10**9, ba_ppm=ba, smmr_ppm=smmr)
        return
    assert fillable_price_int_q(pnnv, pmmr, tnc, tmmr, ps, 10**9, ba_ppm=ba, smmr_ppm=smmr) == want


def test_fillable_price_rejects() -> None:
    with pytest.raises(ValueError):
        fillable_price(1, 1, 0, 1, 0)
    with pytest.raises(ValueError):
        fillable_price(1, 1, 0, 0, 1)
    with pytest.raises(ValueError):
        fillable_price(-100, 1, 0, 1, 1)  # a long with a negative notional
    for args in ((1, 1, 0, 1, 0), (1, 1, 0, 0, 1), (-100, 1, 0, 1, 1)):
        with pytest.raises(ValueError):
            fillable_price_int_q(*args, 10)


@pytest.mark.parametrize(
    ("usdc", "positions", "market", "delta", "expected"),
    [
        (-4_501, {"BTC": 10_000_000}, "BTC", -10_000_000, 4_501_000_000),
        (5_499, {"BTC": -10_000_000}, "BTC", 10_000_000, -5_499_000_000),
        (-5_000, {"BTC": 10_000_000}, "BTC", -10_000_000, 5_000_000_000),
        (-5_000, {"BTC": 10_000_000}, "BTC", -5_000_000, 2_500_000_000),
        (5_000, {"BTC": -10_000_000}, "BTC", 5_000_000, -2_500_000_000),
        (5_000, {"BTC": -10_000_000}, "BTC", 10_000_000, -5_000_000_000),
        (-5_100, {"BTC": 10_000_000}, "BTC", -10_000_000, 5_100_000_000),
        (4_900, {"BTC": -10_000_000}, "BTC", 10_000_000, -4_900_000_000),
        (-490, {"BTC": 400_000, "ETH": 100_000_000}, "ETH", -100_000_000, 294_000_000),
        (510, {"BTC": -400_000, "ETH": -100_000_000}, "ETH", 100_000_000, -306_000_000),
        (110, {"BTC": 400_000, "ETH": -100_000_000}, "ETH", 100_000_000, -306_000_000),
        (-13, {"BTC": 100_000_000}, "BTC", -21_347, 2_776),  # rounded up from 2,775.11
        (13, {"BTC": -100_000_000}, "BTC", 21_347, -2_775),  # rounded up (toward zero) from -2,775.11
        (1, {"BTC": 100_000_000}, "BTC", -100_000_000, -1_000_000),  # cannot lose: negative
    ],
)
def test_bankruptcy_quote_matches_v4(
    usdc: int, positions: dict[str, int], market: str, delta: int, expected: int
) -> None:
    tnc, tmmr = totals(usdc, positions)
    q = positions[market]
    nc_before, mm_before = risk(q, market)
    nc_after, mm_after = risk(q + delta, market)
    assert bankruptcy_quote(nc_before, nc_after, mm_before, mm_after, tnc, tmmr) == expected


def test_bankruptcy_quote_rejects() -> None:
    with pytest.raises(ValueError):
        bankruptcy_quote(0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError):
        bankruptcy_quote(0, 0, 1, 2, 0, 1)


@pytest.mark.parametrize(
    ("usdc", "size", "is_buy", "subticks", "max_fee_ppm", "expected"),
    [  # fill 10,000,000 quantums (0.1 BTC); ClobPair_Btc quantum conversion exponent -8
        (-5_100, 10_000_000, False, 56_100_000_000, 5_000, 28_050_000),
        (-5_100, 10_000_000, False, 56_100_000_000, 25_000, 140_250_000),
        (-5_100, 10_000_000, False, 56_100_000_000, 1_000_000, 510_000_000),
        (4_900, -10_000_000, True, 44_100_000_000, 5_000, 22_050_000),
        (4_900, -10_000_000, True, 44_100_000_000, 25_000, 110_250_000),
        (4_900, -10_000_000, True, 44_100_000_000, 1_000_000, 490_000_000),
        (-5_100, 10_000_000, False, 51_051_000_000, 5_000, 5_100_000),
        (4_900, -10_000_000, True, 48_951_000_000, 5_000, 4_900_000),
        (-5_100, 10_000_000, False, 51_000_000_000, 5_000, 0),
        (4_900, -10_000_000, True, 49_000_000_000, 5_000, 0),
        (-5_100, 10_000_000, False, 50_490_000_000, 5_000, -51_000_000),
        (4_900, -10_000_000, True, 49_490_000_000, 5_000, -49_000_000),
        (4_900, -10_000_000, True, 1, 5_000, 0),  # the fill rounds to 0 quote quantums
    ],
)
def test_insurance_fund_delta_matches_v4(
    usdc: int, size: int, is_buy: bool, subticks: int, max_fee_ppm: int, expected: int
) -> None:
    tnc, tmmr = totals(usdc, {"BTC": size})
    nc, mm = risk(size, "BTC")
    bankruptcy = bankruptcy_quote(nc, 0, mm, 0, tnc, tmmr)
    fill = subticks * 10_000_000 // 10**8  # FillAmountToQuoteQuantums, exponent -8
    assert insurance_fund_delta(-fill if is_buy else fill, bankruptcy, max_fee_ppm) == expected


def test_default_max_fee_is_half_a_percent() -> None:
    assert MAX_LIQUIDATION_FEE_PPM == 5_000
    assert insurance_fund_delta(1_000_000, 0) == 5_000
