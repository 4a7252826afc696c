"""Tiered margin on the venues' own numbers: Binance brackets, Hyperliquid tiers, dYdX v4 liquidity tiers."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.errors import ConfigError
from auction.perp.margin import (
    TierTable,
    dydx_adjusted_imf_ppm,
    dydx_base_to_quote,
    dydx_maintenance_margin_ppm,
    dydx_margin_requirements,
    initial_margin,
    rate,
)
from auction.units import NUM, col

USD = NUM


def usd(x: int | str) -> int:
    """Whole USD (int or exact decimal string) -> numeraire base units, exactly."""
    v = Fraction(x) * NUM
    assert v.denominator == 1
    return int(v)


# Binance BTCUSDT brackets as the Binance web app served them in 2021 (floor, mmr %, cum), copied in
# Jay-Pak/BinanceBot Code/temp.py; the calc example below lands in its 2.5% / 16,300 tier.
BTCUSDT_2021 = [
    (0, "0.4", 0),
    (50_000, "0.5", 50),
    (250_000, "1.0", 1_300),
    (1_000_000, "2.5", 16_300),
    (10_000_000, "5.0", 266_300),
    (20_000_000, "10.0", 1_266_300),
    (50_000_000, "12.5", 2_516_300),
    (100_000_000, "15.0", 5_016_300),
    (200_000_000, "25.0", 25_016_300),
    (300_000_000, "50.0", 100_016_300),
]


def btcusdt() -> TierTable:
    return TierTable.brackets([usd(f) for f, _, _ in BTCUSDT_2021], [Fraction(m) / 100 for _, m, _ in BTCUSDT_2021])


def test_binance_cum_is_the_bracket_recurrence() -> None:
    table = btcusdt()
    assert [c / USD for c in table.cum] == [c for _, _, c in BTCUSDT_2021]


@pytest.mark.parametrize(
    ("floors", "mmr", "leverage", "cum"),
    [
        # Binance leverageBracket responses recorded in freqtrade tests/exchange/test_binance.py
        # (test_fill_leverage_tiers_binance): ADA/BUSD and ZEC/USDT, with Binance's own "cum".
        (
            [0, 100_000, 500_000, 1_000_000, 2_000_000, 5_000_000],
            ["0.025", "0.05", "0.1", "0.15", "0.25", "0.5"],
            [20, 10, 5, 3, 2, 1],
            [0, 2_500, 27_500, 77_500, 277_500, 1_527_500],
        ),
        (
            [0, 50_000, 150_000, 250_000, 500_000, 1_000_000, 2_000_000],
            ["0.01", "0.025", "0.05", "0.1", "0.125", "0.25", "0.5"],
            [50, 20, 10, 5, 4, 2, 1],
            [0, 750, 4_500, 17_000, 29_500, 154_500, 654_500],
        ),
    ],
)
def test_binance_api_brackets(floors: list[int], mmr: list[str], leverage: list[int], cum: list[int]) -> None:
    table = TierTable.brackets([usd(f) for f in floors], mmr, leverage)
    assert [c / USD for c in table.cum] == cum
    assert [table.max_leverage(usd(f)) for f in floors] == leverage


def test_binance_calc_example_maintenance_margins() -> None:
    # Binance's USDⓈ-M liquidation-price example (numbers as in freqtrade tests/exchange/test_binance.py,
    # "From calc example"): BTCUSDT 109.488 long marked at 31,967.27 is in the 2.5% / cum 16,300 tier and
    # needs 71,200.81144 USDT; ETHUSDT 3,683.979 at 1,335.18, 10% / cum 135,365, needs 356,512.508.
    btc_notional = col(109.488) * usd("31967.27") // col(1)
    table = btcusdt()
    assert table.maintenance_rate(btc_notional) == Fraction(25, 1000)
    assert table.maintenance_amount(btc_notional) == usd(16_300)
    assert table.maintenance_margin(btc_notional) == usd("71200.811444")  # shown rounded: 71,200.81144
    # The example does not give the whole ETHUSDT table, only its tier (10%, 135,365): the formula alone.
    eth_notional = col(3683.979) * usd("1335.18") // col(1)
    assert eth_notional * Fraction(1, 10) - usd(135_365) == usd("356512.508122")  # shown: 356,512.508


def test_maintenance_is_continuous_across_floors() -> None:
    table = btcusdt()
    for floor in table.floors[1:]:
        below, at = table.maintenance_margin(floor - 1), table.maintenance_margin(floor)
        k = table.tier(floor)
        assert table.tier(floor - 1) == k - 1
        assert at == floor * table.mmr[k - 1] - table.cum[k - 1]  # the lower tier's formula still holds
        assert 0 <= at - below <= 1


def test_hyperliquid_half_of_initial_at_max_leverage() -> None:
    # hyperliquid-docs trading/margin-tiers: "at 20x max leverage, maintenance_margin_rate = 2.5%";
    # trading/liquidations: "between 1% (for 50x max leverage assets) and 16.7% (for 3x)".
    assert TierTable.hyperliquid([0], [20]).mmr == (Fraction(25, 1000),)
    assert TierTable.hyperliquid([0], [50]).mmr == (Fraction(1, 100),)
    assert round(float(TierTable.hyperliquid([0], [3]).mmr[0]), 3) == 0.167


def test_hyperliquid_mainnet_btc_and_eth_tiers() -> None:
    # margin-tiers, mainnet: BTC 0-150M 40x, >150M 20x; ETH 0-100M 25x, >100M 15x. The deductions follow
    # the page's recurrence: 150M * (2.5% - 1.25%) = 1,875,000; 100M * (1/30 - 1/50) = 1,333,333.33...
    btc = TierTable.hyperliquid([0, usd(150_000_000)], [40, 20])
    assert btc.mmr == (Fraction(1, 80), Fraction(1, 40))
    assert btc.cum[1] == usd(1_875_000)
    assert btc.maintenance_margin(usd(200_000_000)) == usd(5_000_000 - 1_875_000)
    eth = TierTable.hyperliquid([0, usd(100_000_000)], [25, 15])
    assert eth.cum[1] == Fraction(usd(4_000_000), 3)
    assert eth.maintenance_margin(usd(130_000_000)) == usd(3_000_000)  # 130M/30 - 4M/3, exact
    assert eth.max_leverage(usd(100_000_000)) == 15


def test_hyperliquid_testnet_btc_table_from_rows() -> None:
    # margin-tiers, testnet BTC: 0-10k 40x, 10-50k 25x, 50-100k 10x, 100k-300k 5x, >300k 3x.
    rows = [
        {"floor": f, "max_leverage": x} for f, x in [(0, 40), (10_000, 25), (50_000, 10), (100_000, 5), (300_000, 3)]
    ]
    table = TierTable.from_rows(rows)
    assert table.mmr == tuple(Fraction(1, 2 * x) for x in (40, 25, 10, 5, 3))
    assert table == TierTable.hyperliquid([usd(r["floor"]) for r in rows], [r["max_leverage"] for r in rows])
    # 10k*(2%-1.25%) = 75; + 50k*(5%-2%) = 1,575; + 100k*(10%-5%) = 6,575; + 300k*(1/6-10%) = 26,575
    assert [c / USD for c in table.cum] == [0, 75, 1_575, 6_575, 26_575]


def test_from_rows_binance_style_and_floats() -> None:
    table = TierTable.from_rows([{"floor": 0, "mmr": 0.004}, {"floor": 50_000.0, "mmr": "0.005"}])
    assert table.mmr == (Fraction(4, 1000), Fraction(5, 1000))
    assert table.cum == (0, usd(50))
    assert table.imr is None and table.max_leverage(usd(1)) is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "at least one tier"),
        ([{"floor": 10, "mmr": 0.01}], "start at notional 0"),
        ([{"floor": 0, "mmr": 0.01}, {"floor": 0, "mmr": 0.02}], "floors must rise"),
        ([{"floor": 0, "mmr": 0.02}, {"floor": 5, "mmr": 0.01}], "must not fall"),
        ([{"floor": 0, "mmr": 1}], "in (0, 1)"),
        ([{"floor": 0, "mmr": 0}], "in (0, 1)"),
        ([{"floor": 0, "mmr": 0.01, "lev": 3}], "unknown key"),
        ([{"mmr": 0.01}], "missing 'floor'"),
        ([{"floor": 0}], "give mmr"),
        ([{"floor": 0, "mmr": "x"}], "not a number"),
        ([{"floor": 0, "max_leverage": 0.5}], ">= 1"),
        ([{"floor": 0, "mmr": 0.6, "max_leverage": 2}], "below initial"),
        ([{"floor": 0, "max_leverage": 20}, {"floor": 10, "mmr": 0.1}], "every tier or on none"),
        ([{"floor": "0.0000001", "mmr": 0.1}], "finer than"),
    ],
)
def test_tier_table_validation(rows: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TierTable.from_rows(rows)


@given(st.integers(0, 10**17), st.integers(0, 10**17))
def test_maintenance_margin_is_monotone(a: int, b: int) -> None:
    table = btcusdt()
    lo, hi = sorted((a, b))
    assert table.maintenance_margin(lo) <= table.maintenance_margin(hi)


def test_initial_margin_and_rates() -> None:
    # Bybit's USDT-perpetual example (as quoted on cryptoarmy.io): 1 BTC at 10,000 on 50x needs
    # 200 USDT initial margin; at 0.5% maintenance, 50 USDT.
    assert initial_margin(usd(10_000), 50) == usd(200)
    assert TierTable.brackets([0], ["0.005"]).maintenance_margin(usd(10_000)) == usd(50)
    assert initial_margin(7, 2) == 4  # rounded up
    assert rate(0.1) == Fraction(1, 10)
    with pytest.raises(ValueError):
        initial_margin(10, 0)
    with pytest.raises(ValueError):
        btcusdt().tier(-1)
    with pytest.raises(TypeError):
        rate(True)


# dYdX v4: numbers from dydxprotocol/v4-chain protocol/x/perpetuals/types/liquidity_tier_test.go


@pytest.mark.parametrize(
    ("imf", "mf", "expected"),
    [  # TestLiquidityTierGetMaintenanceMarginPpm
        (150_000, 800_000, 120_000),
        (450_000, 770_000, 346_500),
        (637_239, 289_284, 184_343),
        (1_000_000, 1_000_000, 1_000_000),
        (0, 1_000_000, 0),
        (1_000_000, 0, 0),
    ],
)
def test_dydx_maintenance_margin_ppm(imf: int, mf: int, expected: int) -> None:
    assert dydx_maintenance_margin_ppm(imf, mf) == expected


@pytest.mark.parametrize(
    ("oi", "lower", "upper", "expected"),
    [  # TestGetAdjustedInitialMarginPpm, base IMF 20%
        (0, 1_000_000, 2_000_000, 200_000),
        (1_500_000, 1_000_000, 2_000_000, 600_000),
        (1_234_567, 1_000_000, 2_000_000, 387_653),
        (1_000_000, 1_000_000, 2_000_000, 200_000),
        (2_000_000, 1_000_000, 2_000_000, 1_000_000),
        (2_500_000, 1_000_000, 2_000_000, 1_000_000),
        (1_500_000, 0, 0, 200_000),
    ],
)
def test_dydx_open_interest_scaled_imf(oi: int, lower: int, upper: int, expected: int) -> None:
    assert dydx_adjusted_imf_ppm(200_000, oi, lower, upper) == expected


@pytest.mark.parametrize(
    ("imf", "notional", "oi", "lower", "upper", "expected"),
    [  # TestGetInitialMarginQuoteQuantums
        (200_000, 500_000, 0, 0, 0, 100_000),
        (500_000, 1_000_000, 0, 0, 0, 500_000),
        (100_000, 1, 0, 0, 0, 1),  # 0.1 rounds up to 1
        (567_243, 123_456, 0, 0, 0, 70_030),
        (200_000, 500_000, 1_500_000_000_000, 0, 0, 100_000),
        (200_000, 500_000, 1_500_000_000_000, 1_000_000_000_000, 2_000_000_000_000, 300_000),
        (200_000, 500_000, 80_000_000_000_000, 25_000_000_000_000, 50_000_000_000_000, 500_000),
        (200_000, 500_000, 25_000_000_000_000, 25_000_000_000_000, 50_000_000_000_000, 100_000),
        (200_000, 500_000, 28_123_456_789_123, 25_000_000_000_000, 60_000_000_000_000, 135_697),
    ],
)
def test_dydx_initial_margin(imf: int, notional: int, oi: int, lower: int, upper: int, expected: int) -> None:
    im, _ = dydx_margin_requirements(notional, imf, 0, oi, lower, upper)
    assert im == expected


def test_dydx_position_requirements_from_test_constants() -> None:
    # testutil/constants: BTC at $50,000 (price 5e9, exponent -5, atomic resolution -8), liquidity tier 3
    # = 20% initial, 50% maintenance fraction; ETH at $3,000 (3e9, -6, -9). PerpetualPosition_OneTenthBTCLong
    # is 10,000,000 quantums "$5,000 notional"; OneTenthEthLong 100,000,000 quantums "$300 notional".
    btc = dydx_base_to_quote(10_000_000, -8, 5_000_000_000, -5)
    assert btc == 5_000 * USD
    assert dydx_base_to_quote(-10_000_000, -8, 5_000_000_000, -5) == -5_000 * USD
    assert dydx_base_to_quote(100_000_000, -9, 3_000_000_000, -6) == 300 * USD
    assert dydx_margin_requirements(btc, 200_000, 500_000) == (1_000 * USD, 500 * USD)
    # Truncation toward zero, both signs (lib.BaseToQuoteQuantums uses Quo).
    assert dydx_base_to_quote(1, -8, 5_000_000_001, -5) == 500  # 500.0000001
    assert dydx_base_to_quote(-1, -8, 5_000_000_001, -5) == -500
    assert dydx_base_to_quote(3, 0, 7, 1) == 210 * USD
    # OI scaling raises initial margin only: maintenance stays on the base IMF.
    assert dydx_margin_requirements(btc, 200_000, 500_000, 15, 10, 20) == (3_000 * USD, 500 * USD)
