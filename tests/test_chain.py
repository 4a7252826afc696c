"""Gas: fixed, from the data's real gas column (a step function), synthetic congestion; fee arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction import units
from auction.errors import ConfigError
from auction.models.chain import GasModel, Mempool, Tx, fee_num, include
from auction.models.prices import PricePath, load_csv

BLACK_THURSDAY = "eth_usd_10m_stablesims_2020-03-12.csv"


def test_fixed_gas_is_the_same_at_every_time() -> None:
    gas = GasModel.fixed(40)
    assert [gas.gwei(t) for t in (-10.0, 0.0, 12.0, 86_400.0, 1e9)] == [40.0] * 5


def test_gas_from_the_data_is_a_step_function_of_the_samples() -> None:
    path = load_csv(BLACK_THURSDAY)
    gas = GasModel.from_path(path)
    assert path.gas_gwei is not None
    assert [gas.gwei(float(t)) for t in path.times] == path.gas_gwei.tolist()
    # 00:00 9.9 gwei, 00:10 9.965; 10:50 (the crash bar) 116.825; 23:50 112.224
    assert gas.gwei(0.0) == 9.9 and gas.gwei(599.9) == 9.9 and gas.gwei(600.0) == 9.965
    assert gas.gwei(10 * 3600 + 50 * 60) == 116.825 and gas.gwei(10 * 3600 + 59 * 60) == 116.825
    assert gas.gwei(-1.0) == 9.9 and gas.gwei(1e7) == 112.224
    # the crash raised gas more than tenfold
    assert path.gas_gwei.max() / path.gas_gwei[0] > 10


def test_gas_from_data_needs_a_gas_column() -> None:
    path = load_csv("eth_usdt_1h_binance_2020-03_black_thursday.csv")
    with pytest.raises(ConfigError, match="gas source 'data' needs a price file with a gas column"):
        GasModel.from_path(path)


def test_synthetic_gas_rises_with_drawdown() -> None:
    path = PricePath(times=np.array([0.0, 600.0, 1200.0, 1800.0]), prices={"ETH": np.array([100.0, 120.0, 60.0, 90.0])})
    gas = GasModel.synthetic(path, base_gwei=20.0, spike=4.0)
    # drawdown from the running peak: 0, 0, 0.5, 0.25 -> 20 * (1 + 4 * dd)
    assert gas.gwei_values.tolist() == [20.0, 20.0, 60.0, 40.0]
    assert gas.gwei(1500.0) == 60.0


def test_synthetic_gas_on_black_thursday() -> None:
    path = load_csv(BLACK_THURSDAY)
    prices = path.prices["ETH"]
    gas = GasModel.synthetic(path, base_gwei=10.0, spike=5.0)
    assert gas.gwei(0.0) == 10.0  # the open is the day's peak: no drawdown
    low = float(path.times[np.argmin(prices)])
    assert gas.gwei(low) == pytest.approx(10.0 * (1 + 5.0 * (1 - 106.59 / 194.52)))  # 31.6 gwei
    assert gas.gwei_values.max() == gas.gwei(low)
    # every new low of the day raises gas
    new_lows = np.flatnonzero(prices < np.minimum.accumulate(np.concatenate([[np.inf], prices[:-1]])))
    assert (np.diff(gas.gwei_values[new_lows]) > 0).all() and len(new_lows) > 20


def test_fee_num_arithmetic() -> None:
    # 200k gas at 100 gwei = 0.02 ETH; at $150 that is $3.00 = 3,000,000 numeraire base units
    assert fee_num(200_000, 100.0, 150.0) == 3 * units.NUM == 3_000_000
    assert fee_num(21_000, 1.0, 2000.0) == 42_000  # a plain transfer at 1 gwei, ETH $2000: $0.042
    # the Black Thursday crash bar: 180k gas (a Clipper take) at 116.825 gwei = 0.0210285 ETH = $2.812561875
    assert fee_num(180_000, 116.825, 133.75) == 2_812_562
    assert fee_num(0, 500.0, 3000.0) == 0
    # Aave liquidationCall (300k) at the 2021-05-19 evening gas (160.642 gwei) with ETH at $2445.07
    assert fee_num(300_000, 160.642, 2445.07) == 117_834_280  # 0.0481926 ETH = $117.8342805


def test_fee_num_refuses_negative_inputs() -> None:
    with pytest.raises(ValueError, match="negative"):
        fee_num(-1, 10.0, 100.0)
    with pytest.raises(ValueError, match="negative"):
        fee_num(100, -10.0, 100.0)


def test_each_design_lists_the_gas_of_the_actions_it_takes() -> None:
    from auction.designs import REGISTRY

    gas = {name: dict(d.gas) for name, d in REGISTRY.items()}
    assert gas == {"dutch": {"take": 180_000, "redo": 120_000}, "sealed-first": {"commit": 60_000, "reveal": 80_000},
                   "sealed-second": {"commit": 60_000, "reveal": 80_000}, "english": {"english-bid": 90_000},
                   "fixed": {"liquidate": 300_000}, "perp-market": {}, "perp-backstop": {},
                   "perp-dutch": {"take": 180_000}, "perp-takeover": {"take": 180_000},
                   "perp-sealed": {"commit": 60_000, "reveal": 80_000}}


def test_synthetic_gas_with_returns_and_seeded_noise() -> None:
    path = PricePath(times=np.array([0.0, 600.0, 1200.0, 1800.0]), prices={"ETH": np.array([100.0, 120.0, 60.0, 90.0])})
    # |log return| 0, log 1.2, log 2, log 1.5 on top of the drawdown 0, 0, 0.5, 0.25
    gas = GasModel.synthetic(path, base_gwei=20.0, spike=4.0, returns=10.0)
    expected = [20.0 * (1 + 4 * dd + 10 * abs(np.log(r))) for dd, r in zip([0, 0, 0.5, 0.25], [1, 1.2, 0.5, 1.5],
                                                                          strict=True)]
    assert gas.gwei_values.tolist() == pytest.approx(expected, rel=1e-12)
    assert gas.gwei_values.tolist() == pytest.approx([20.0, 56.4643, 198.6294, 121.0930], abs=1e-4)
    # noise: same seed, same gas; another seed, other gas; noise 0 is the deterministic model
    long = load_csv(BLACK_THURSDAY)
    a = GasModel.synthetic(long, base_gwei=10.0, spike=11.0, noise=0.3, seed=5).gwei_values
    b = GasModel.synthetic(long, base_gwei=10.0, spike=11.0, noise=0.3, seed=5).gwei_values
    c = GasModel.synthetic(long, base_gwei=10.0, spike=11.0, noise=0.3, seed=6).gwei_values
    plain = GasModel.synthetic(long, base_gwei=10.0, spike=11.0).gwei_values
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (a > 0).all() and len(a) == 144
    # a mean-one wobble: log(a / plain) has mean -noise^2/2 and std noise (144 draws: 4 standard errors)
    lr = np.log(a / plain)
    assert abs(lr.mean() + 0.045) < 4 * 0.3 / 12 and abs(lr.std() / 0.3 - 1) < 4 / np.sqrt(288)
    # spike 11: the day's low (drawdown 45.2 %) costs ~6x the open, as average gas did on the day
    assert plain.max() / plain[0] == pytest.approx(1 + 11 * (1 - 106.59 / 194.52)) == pytest.approx(5.97, abs=0.01)
    with pytest.raises(ConfigError, match="synthetic gas"):
        GasModel.synthetic(long, base_gwei=0.0, spike=1.0)


def test_inclusion_orders_by_priority_fee_then_arrival() -> None:
    txs = [Tx(2.0, 0, 100_000, "a"), Tx(5.0, 1, 100_000, "b"), Tx(2.0, 2, 100_000, "c"), Tx(5.0, 3, 100_000, "d"),
           Tx(0.5, 4, 100_000, "e")]
    included, waiting = include(txs, gas_limit=10_000_000)
    assert [t.ref for t in included] == ["b", "d", "a", "c", "e"] and waiting == []
    # the input order does not matter, only fee and arrival
    assert include(list(reversed(txs)), 10_000_000)[0] == included


def test_inclusion_respects_the_gas_limit() -> None:
    # 1M gas: the three 300k liquidations of the highest bidders (900k); the 180k take no longer fits and
    # waits, the 90k bid behind it still does (greedy packing)
    txs = [Tx(10.0, 0, 300_000, "liq1"), Tx(9.0, 1, 300_000, "liq2"), Tx(8.0, 2, 300_000, "liq3"),
           Tx(7.0, 3, 180_000, "take"), Tx(6.0, 4, 90_000, "bid")]
    included, waiting = include(txs, gas_limit=1_000_000)
    assert [t.ref for t in included] == ["liq1", "liq2", "liq3", "bid"]  # 990k used
    assert [t.ref for t in waiting] == ["take"]
    assert sum(t.gas for t in included) == 990_000
    # what waits goes in the next block, still behind anything that outbids it
    nxt, rest = include([*waiting, Tx(20.0, 5, 900_000, "late-rich")], gas_limit=1_000_000)
    assert [t.ref for t in nxt] == ["late-rich"] and [t.ref for t in rest] == ["take"]
    # exactly full is allowed; a transaction larger than the block never fits
    assert [t.ref for t in include([Tx(1.0, 0, 1_000_000, "x")], 1_000_000)[0]] == ["x"]
    assert include([Tx(99.0, 0, 1_000_001, "huge")], 1_000_000) == ([], [Tx(99.0, 0, 1_000_001, "huge")])


def test_inclusion_leaves_underpriced_transactions_waiting() -> None:
    txs = [Tx(3.0, 0, 100_000, "ok"), Tx(0.9, 1, 100_000, "cheap"), Tx(1.0, 2, 100_000, "at-floor")]
    included, waiting = include(txs, 1_000_000, min_priority_fee=1.0)
    assert [t.ref for t in included] == ["ok", "at-floor"] and [t.ref for t in waiting] == ["cheap"]
    with pytest.raises(ValueError, match="gas must be > 0"):
        include([Tx(1.0, 0, 0)], 1_000_000)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.5]),
                                   st.sampled_from([60_000, 90_000, 120_000, 180_000, 300_000, 1_100_000])),
                         max_size=12), min_size=1, max_size=8),
       st.sampled_from([300_000, 1_000_000, 3_000_000]))
def test_mempool_includes_what_include_would_block_after_block(arrivals: list[list[tuple[float, int]]],
                                                                limit: int) -> None:
    pool, waiting, seq = Mempool(), [], 0
    for block in arrivals:
        for fee, gas in block:
            tx = Tx(fee, seq, gas, seq)
            seq += 1
            pool.add(tx)
            waiting.append(tx)
        expected, waiting = include(waiting, limit)
        assert pool.take(limit) == expected
        assert len(pool) == len(waiting)
    with pytest.raises(ValueError, match="gas must be > 0"):
        pool.add(Tx(1.0, seq, 0))
