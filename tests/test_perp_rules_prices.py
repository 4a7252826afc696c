"""Liquidation and bankruptcy prices on Binance's worked example and on Hyperliquid's own liquidation prices."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.perp.margin import TierTable
from auction.perp.prices import (
    bankruptcy_price,
    equity,
    health,
    is_liquidatable,
    liquidation_price,
    liquidation_price_tiered,
    liquidation_prices,
    notional,
    to_price_q,
    upnl,
)
from auction.units import COL, NUM, col, num, price_q


def usd(x: str | int) -> int:
    v = Fraction(x) * NUM
    assert v.denominator == 1
    return int(v)


def whole(p: Fraction | None) -> float:
    assert p is not None
    return float(p / NUM)


# Binance's USDⓈ-M liquidation-price example, cross margin, one-way mode (numbers as recorded in freqtrade
# tests/exchange/test_binance.py test_liquidation_price_binance, "From calc example"): wallet balance
# 1,535,443.01 USDT; BTCUSDT 109.488 long at 32,481.98 (2.5%, cum 16,300); ETHUSDT 3,683.979 long at
# 1,456.84 (10%, cum 135,365). Each position's TMM1/UPNL1 are the other one's.
WB = usd("1535443.01")
BTC = col(109.488), usd("32481.98")
ETH = col(3683.979), usd("1456.84")


def test_binance_cross_example_btc() -> None:
    p = liquidation_price(
        *BTC, WB, Fraction(25, 1000), usd(16_300), other_upnl=usd("-448192.89"), other_mm=usd("356512.508")
    )
    assert round(whole(p), 2) == 26316.89


def test_binance_cross_example_eth() -> None:
    p = liquidation_price(
        *ETH, WB, Fraction(1, 10), usd(135_365), other_upnl=usd("-56354.57"), other_mm=usd("71200.81144")
    )
    assert round(whole(p), 2) == 1153.26


def test_binance_isolated_reduction() -> None:
    # Isolated: TMM1 = UPNL1 = 0 in the same formula (freqtrade's own evaluation of it, same test file).
    assert round(whole(liquidation_price(*ETH, WB, Fraction(1, 10), usd(135_365))), 2) == 1114.78
    assert round(whole(liquidation_price(*BTC, WB, Fraction(25, 1000), usd(16_300))), 2) == 18778.73


def test_binance_tier_is_taken_at_the_liquidation_price() -> None:
    # The BTCUSDT 2021 brackets (see test_perp_rules_margin): both answers land in the 2.5% tier by search.
    floors = [0, 50_000, 250_000, 1_000_000, 10_000_000, 20_000_000, 50_000_000, 100_000_000, 200_000_000]
    rates = ["0.004", "0.005", "0.01", "0.025", "0.05", "0.1", "0.125", "0.15", "0.25"]
    table = TierTable.brackets([usd(f) for f in floors], rates)
    cross = liquidation_price_tiered(*BTC, WB, table, other_upnl=usd("-448192.89"), other_mm=usd("356512.508"))
    assert round(whole(cross), 2) == 26316.89
    assert round(whole(liquidation_price_tiered(*BTC, WB, table)), 2) == 18778.73
    # A small position stays in the first tier; one that can never be liquidated reports a price <= 0.
    small = liquidation_price_tiered(col(0.1), usd(10_000), usd(100), table)
    assert small == liquidation_price(col(0.1), usd(10_000), usd(100), Fraction(4, 1000))
    never = liquidation_price_tiered(col(1), usd(10_000), usd(20_000), table)
    assert never is not None and never <= 0


# Hyperliquid liquidation prices as the venue returned them (ccxt "liquidationPrice"), recorded in freqtrade
# tests/exchange/test_hyperliquid.py test_hyperliquid_dry_run_liquidation_price: (symbol, entry, side,
# contracts, isolated collateral, liquidationPrice). Max leverage there: BTC, ETH 50x; SOL, DOGE 20x.
HL_MAX_LEVERAGE = {"BTC": 50, "ETH": 50, "SOL": 20, "DOGE": 20}
HL_POSITIONS = [
    ("ETH", "2458.5", 1, "0.015", "36.864593", 0.86915825),
    ("BTC", "63287.0", 1, "0.00039", "24.673292", 22.37166537),
    ("SOL", "146.82", 1, "0.16", "23.482979", 0.05269872),
    ("SOL", "145.83", 1, "0.33", "24.045107", 74.83696193),
    ("ETH", "2459.5", 1, "0.0199", "24.454895", 1243.0411908),
    ("BTC", "62739.0", 1, "0.00077", "24.137992", 31708.03843631),
    ("DOGE", "0.11586", 1, "437.0", "25.29769", 0.05945697),
    ("ETH", "2642.8", -1, "0.019", "25.091876", 3924.18322043),
    ("SOL", "155.89", -1, "0.32", "24.924941", 228.07847866),
    ("DOGE", "0.14333", -1, "351.0", "25.136807", 0.20970228),
    ("BTC", "68595.0", -1, "0.00069", "23.64871", 101849.99354283),
    ("BTC", "65536.0", -1, "0.00099", "21.604172", 86493.46174617),
    ("SOL", "173.06", 1, "0.6", "20.735658", 142.05186667),
    ("ETH", "2545.5", 1, "0.0329", "20.909894", 1929.23322895),
    ("BTC", "67400.0", -1, "0.00031", "20.887308", 133443.97317151),
    ("ETH", "2552.0", -1, "0.0327", "20.833393", 3157.53150453),
    ("BTC", "66930.0", 1, "0.0015", "20.043862", 54108.51043771),
    ("BTC", "67033.0", 1, "0.00121", "20.251817", 50804.00091827),
    ("ETH", "2521.9", 1, "0.0237", "19.902091", 1699.14071943),
    ("BTC", "68139.0", -1, "0.00145", "19.72573", 80933.61590987),
    ("SOL", "178.29", -1, "0.11", "19.605036", 347.82205322),
    ("SOL", "176.23", 1, "0.33", "19.364946", 120.56240404),
    ("SOL", "173.08", -1, "0.33", "19.01881", 225.08561715),
    ("BTC", "68240.0", -1, "0.00105", "17.887922", 84431.79820839),
    ("ETH", "2518.4", -1, "0.007", "17.62263", 4986.05799151),
    ("ETH", "2533.2", 1, "0.0347", "17.555195", 2047.7642302),
    ("DOGE", "0.13284", 1, "360.0", "15.943218", 0.09082388),
    ("SOL", "163.11", -1, "0.48", "15.650731", 190.94213618),
    ("BTC", "67141.0", 1, "0.00067", "14.979079", 45236.52992613),
]


@pytest.mark.parametrize(("coin", "entry", "side", "contracts", "margin", "expected"), HL_POSITIONS)
def test_hyperliquid_venue_liquidation_prices(
    coin: str, entry: str, side: int, contracts: str, margin: str, expected: float
) -> None:
    table = TierTable.hyperliquid([0], [HL_MAX_LEVERAGE[coin]])
    size = side * int(Fraction(contracts) * COL)
    p = liquidation_price_tiered(size, usd(entry), usd(margin), table)
    assert whole(p) == pytest.approx(expected, rel=1e-4)  # the venue's own rounding; freqtrade's tolerance


def test_hand_example_long_and_short() -> None:
    # 1 BTC at 10,000 with 1,000 isolated margin and a 0.5% maintenance rate:
    # long: (1,000 - 10,000) / (0.005 - 1) = 9,045.2261...; bankrupt at 9,000.
    # short: (1,000 + 10,000) / (0.005 + 1) = 10,945.2736...; bankrupt at 11,000.
    mmr = Fraction(5, 1000)
    long_liq = liquidation_price(col(1), usd(10_000), usd(1_000), mmr)
    short_liq = liquidation_price(-col(1), usd(10_000), usd(1_000), mmr)
    assert long_liq == usd(9_000) / Fraction(995, 1000)
    assert short_liq == usd(11_000) / Fraction(1005, 1000)
    assert bankruptcy_price(col(1), usd(10_000), usd(1_000)) == usd(9_000)
    assert bankruptcy_price(-col(1), usd(10_000), usd(1_000)) == usd(11_000)
    assert to_price_q(long_liq, 1) == 9_045_226_131  # rounded up for a long
    assert to_price_q(short_liq, -1) == 10_945_273_631  # rounded down for a short
    # At the liquidation price, equity equals maintenance exactly; at bankruptcy, equity is zero.
    for size, liq in ((col(1), long_liq), (-col(1), short_liq)):
        assert liq is not None
        assert equity(usd(1_000), size, usd(10_000), liq) == notional(size, liq) * mmr
    assert liquidation_price(0, usd(1), usd(1), mmr) is None
    assert bankruptcy_price(0, usd(1), usd(1)) is None


def test_dydx_bankruptcy_quote_agrees() -> None:
    # v4-chain x/clob/keeper/liquidations_test.go TestGetBankruptcyPriceInQuoteQuantums: 0.1 BTC long with
    # -$5,100 USDC must sell for $5,100 (quote balance model: entry 0, balance = USDC); short with $4,900: $4,900.
    assert bankruptcy_price(col(0.1), 0, usd(-5_100)) == usd(51_000)
    assert bankruptcy_price(-col(0.1), 0, usd(4_900)) == usd(49_000)


def test_equity_health_and_liquidatable() -> None:
    assert upnl(-col(2), usd(100), usd(90)) == usd(20)
    assert equity(usd(5), col(1), usd(100), usd(90), other_upnl=usd(-1)) == usd(-6)
    assert health(usd(50), usd(100)) == 0.5 and health(usd(1), 0) == float("inf")
    assert is_liquidatable(usd(99), usd(100)) and not is_liquidatable(usd(100), usd(100))
    assert not is_liquidatable(usd(-5), 0)  # no requirement, nothing to liquidate (risk.go)


@given(
    st.integers(1, 10**12) | st.integers(-(10**12), -1),
    st.integers(10**6, 10**11),
    st.integers(0, 10**12),
    st.fractions(Fraction(1, 1000), Fraction(1, 2)),
)
def test_long_liquidates_above_bankruptcy_short_below(size: int, entry: int, balance: int, mmr: Fraction) -> None:
    liq = liquidation_price(size, entry, balance, mmr)
    bk = bankruptcy_price(size, entry, balance)
    assert liq is not None and bk is not None
    if liq > 0:  # a long with liq <= 0 cannot be liquidated at any price: the order means nothing there
        assert (liq >= bk) if size > 0 else (liq <= bk)
    assert equity(balance, size, entry, liq) == notional(size, liq) * mmr


def test_vectorized_matches_exact() -> None:
    sizes = np.array([col(1), -col(1), 0, col(0.25)], dtype=np.int64)
    entries = np.array([usd(10_000), usd(10_000), usd(5), price_q(1999.5)], dtype=np.int64)
    balances = np.array([usd(1_000), usd(1_000), usd(1), num(80)], dtype=np.int64)
    got = liquidation_prices(sizes, entries, balances, 0.005)
    for i in (0, 1, 3):
        exact = liquidation_price(int(sizes[i]), int(entries[i]), int(balances[i]), Fraction(5, 1000))
        assert exact is not None and got[i] == pytest.approx(float(exact), rel=1e-12)
    assert np.isnan(got[2])
