"""Gas: fixed, from the data's real gas column (a step function), synthetic congestion; fee arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from auction import units
from auction.chain import GasModel, fee_num
from auction.errors import ConfigError
from auction.prices import PricePath, load_csv

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
