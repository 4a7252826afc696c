"""Drift v2 takeover rules and Derive's Dutch auction on the numbers of their own unit tests."""

from __future__ import annotations

import pytest

from auction.perp import derive, drift
from auction.perp.derive import WAD, AuctionParams

Q = drift.QUOTE_PRECISION
P = drift.PRICE_PRECISION
BASE = drift.BASE_PRECISION
FEE = drift.LIQUIDATION_FEE_PRECISION

# Drift: drift-labs/protocol-v2 programs/drift/src/math/liquidation/tests.rs


def test_drift_liquidation_fee_ramp() -> None:
    # mod get_liquidation_fee: base 2%, max 5%; 10 slots (grace) -> 2%; 10,000 slots -> 3%; 100,000 -> 5%.
    base, top = 2 * FEE // 100, 5 * FEE // 100
    assert drift.liquidation_fee(base, top, 0, 100_000) == top
    assert drift.liquidation_fee(base, top, 0, 10) == base
    assert drift.liquidation_fee(base, top, 0, 10_000) == 3 * FEE // 100
    assert drift.liquidation_fee(base, top, 0, 1_499) == base  # the grace period is 1,500 slots
    assert drift.liquidation_fee(base, top, 0, 1_500) == base + 1_500
    with pytest.raises(ValueError):
        drift.liquidation_fee(base, top, 10, 0)


def test_drift_max_pct_to_liquidate() -> None:
    # mod calculate_max_pct_to_liquidate: a $49 shortage may be freed at once.
    assert drift.max_pct_to_liquidate(49 * Q, 1, drift.LIQUIDATION_PCT_PRECISION // 10, 10) == 10_000
    # By hand: $1,000 short, 10% at once plus 30 of 150 slots: 30% of it now.
    assert drift.max_pct_to_liquidate(1_000 * Q, 30, 1_000, 150) == 3_000
    # $200 already freed out of $1,200: 30% of 1,200 = 360, minus 200 -> 160 of the 1,000 left = 16%.
    assert drift.max_pct_to_liquidate(1_000 * Q, 30, 1_000, 150, margin_freed=200 * Q) == 1_600
    assert drift.max_pct_to_liquidate(1_000 * Q, 500, 1_000, 150) == 10_000  # capped at 100%
    assert drift.max_pct_to_liquidate(1_000 * Q, 0, 0, 0) == 10_000  # zero duration: everything
    assert drift.max_pct_to_liquidate(1_000 * Q, 0, 1_000, 150, margin_freed=500 * Q) == 0


@pytest.mark.parametrize(
    ("fee", "if_fee", "quote_price", "expected"),
    [  # mod calculate_base_asset_amount_to_cover_margin_shortage: $10 short, 10x, oracle $100
        (0, 0, P, BASE),  # must lose 1 base
        (0, 0, 99 * 10_000, 1_010_101_010),  # usdc_not_one
        (0, 0, 101 * 10_000, 990_099_009),
        (FEE // 100, 0, P, BASE * 10 // 9),  # 1% liquidation fee: 10/9 base
        (FEE // 100, FEE // 100, P, 1_250_000_000),  # plus a 1% insurance-fund fee
    ],
)
def test_drift_base_to_cover_margin_shortage(fee: int, if_fee: int, quote_price: int, expected: int) -> None:
    assert drift.base_to_cover_margin_shortage(10 * Q, 1_000, fee, if_fee, 100 * P, quote_price) == expected


def test_drift_base_to_cover_edges() -> None:
    assert drift.base_to_cover_margin_shortage(10 * Q, 1_000, 0, 0, 0) is None  # u64::MAX: all of it
    assert drift.base_to_cover_margin_shortage(10 * Q, 1_000, 100_000, 0, 100 * P) is None  # fee >= ratio
    with pytest.raises(ValueError):
        drift.base_to_cover_margin_shortage(10 * Q, 1_000, 0, 100_000, 100 * P)


@pytest.mark.parametrize(
    ("shortage", "liquidator_fee", "oracle", "quote", "base", "expected"),
    [  # mod calculate_perp_if_fee: 10 base at $100, 5% margin ratio, 1% liquidator fee, 5% max IF fee
        (20 * Q, FEE // 100, 100 * P, P, 10 * BASE, 19_000),  # 2% * .95
        (Q, FEE // 100, 100 * P, P, 10 * BASE, 37_050),  # 3.9% * .95
        (1_000 * Q, FEE // 100, 100 * P, P, 10 * BASE, 0),
        (20 * Q, FEE // 10, 100 * P, P, 10 * BASE, 0),
        (20 * Q, FEE // 100, 0, P, 10 * BASE, 0),
        (20 * Q, FEE // 100, 100 * P, 0, 10 * BASE, 0),
        (20 * Q, FEE // 100, 100 * P, P, 0, 0),
    ],
)
def test_drift_perp_if_fee(
    shortage: int, liquidator_fee: int, oracle: int, quote: int, base: int, expected: int
) -> None:
    assert drift.perp_if_fee(shortage, base, 500, liquidator_fee, oracle, quote, FEE // 20) == expected


def test_drift_takeover_limit_price() -> None:
    # get_liquidation_order_params: taking over a long sells at oracle - fee; a short buys at oracle + fee.
    assert drift.takeover_limit_price(100 * P, FEE // 100, liquidating_long=True) == 99 * P
    assert drift.takeover_limit_price(100 * P, FEE // 100, liquidating_long=False) == 101 * P


# Derive: derivexyz/v2-core test/auction/unit-tests, with test/config-test.sol's default parameters:
# 100% -> 80% over 10 minutes, 80% -> 0 over 2 hours, insolvent 10 minutes, buffer 10%.
TEST = AuctionParams(WAD, 8 * WAD // 10, 600, 7_200, 600, 0, WAD // 10)


def test_derive_discount_schedule() -> None:
    # DutchAuctionView.t.sol testGetDiscountPercentage: 90% at 300 s, 80% at 600 s, 76% at 960 s, 0 at the end.
    assert [derive.discount(t, TEST) for t in (300, 600, 960, 8_160)] == [
        9 * WAD // 10,
        8 * WAD // 10,
        76 * WAD // 100,
        0,
    ]
    # testGetDiscountPercentage2: 96% -> 80% over 300 s: 96%, 88% at 150 s, 80% at 300 s, 8% at 90% of slow.
    p2 = AuctionParams(96 * WAD // 100, 8 * WAD // 10, 300, 7_200, 600, 0, WAD // 10)
    assert [derive.discount(t, p2) for t in (0, 150, 300, 300 + 6_480)] == [
        96 * WAD // 100,
        88 * WAD // 100,
        8 * WAD // 10,
        8 * WAD // 100,
    ]
    with pytest.raises(ValueError):
        derive.discount(-1, TEST)


def test_derive_solvent_auction() -> None:
    # SolventAuction.t.sol: MM -100, MtM 300 -> buffer margin -100 - 400 * 10% = -140.
    mm, mtm = -100 * WAD, 300 * WAD
    bm = derive.buffer_margin(mm, mtm, TEST.buffer_margin_pct)
    assert bm == -140 * WAD
    # testStartSolventAuction: bid price 300 (100% of MtM); at most 31.8% of the portfolio.
    assert derive.solvent_bid_price(mtm, 0, derive.discount(0, TEST)) == 300 * WAD
    assert derive.max_proportion(mtm, bm, derive.discount(0, TEST)) // 10**15 == 318
    # testCanBidWithMaxPercentage: half way through the fast phase, 270; 34.1% max; pays 92 for it.
    d = derive.discount(300, TEST)
    price, f = derive.solvent_bid_price(mtm, 0, d), derive.max_proportion(mtm, bm, d)
    assert price == 270 * WAD and f // 10**15 == 341
    assert price * f // WAD // WAD == 92
    # Only enough to restore the buffer: the rest keeps (1 - f) of BM and gains the cash, f * price: BM' = 0.
    assert abs(bm * (WAD - f) // WAD + price * f // WAD) < 10**3
    assert derive.max_proportion(mtm, bm, d, mtm_cutoff=400 * WAD) == WAD  # small accounts go whole
    assert derive.max_proportion(0, 0, 0) == 0
    with pytest.raises(ValueError):
        derive.solvent_bid_price(mtm, 301 * WAD, d)


def test_derive_insolvent_auction() -> None:
    # InsolventAuction.t.sol: MM -300, MtM -100: starts at -100; after 12 s (2%) a 50% bid is paid 52;
    # after 5 minutes (50%) a 100% bid is paid 200.
    mm, mtm = -300 * WAD, -100 * WAD
    assert derive.insolvent_bid_price(mm, mtm, 0, TEST.insolvent_length) == -100 * WAD
    assert -derive.insolvent_bid_price(mm, mtm, 12, TEST.insolvent_length) * (WAD // 2) // WAD == 52 * WAD
    assert -derive.insolvent_bid_price(mm, mtm, 300, TEST.insolvent_length) == 200 * WAD
    assert derive.insolvent_bid_price(mm, mtm, 10_000, TEST.insolvent_length) == mm
    assert derive.insolvent_bid_price(mm, 50 * WAD, 0, 600) == 0  # positive MtM is capped at 0
    assert derive.insolvent_bid_price(10, -5, 0, 600) == 0  # above maintenance: nothing to pay


def test_derive_fee_and_mainnet_params() -> None:
    # By hand, 1% fee on the default auction: 31.8181...% of |300| * 1% = 0.954545... (WAD).
    fee = derive.liquidation_fee(300 * WAD, -140 * WAD, WAD // 100)
    assert round(fee / WAD, 6) == round(140 / 440 * 300 * 0.01, 6)
    assert derive.MAINNET.fast_length == 900 and derive.MAINNET.slow_length == 43_200
    assert derive.discount(900, derive.MAINNET) == 70 * WAD // 100
