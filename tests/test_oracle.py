"""Oracle models on hand-made paths, and Black Thursday's OSM lag delaying a vault's liquidation."""

from __future__ import annotations

import numpy as np
import pytest

from auction import units
from auction.book.accounts import Accounts, mm_from_ratio
from auction.errors import ConfigError
from auction.models.oracle import ChainlinkOracle, DelayedOracle, InstantOracle, make_oracle, value_at
from auction.models.prices import load_csv

BLACK_THURSDAY = "eth_usd_10m_stablesims_2020-03-12.csv"


def test_instant_passes_every_sample_through() -> None:
    times = np.array([0.0, 12.0, 30.0, 95.0])
    prices = np.array([100.0, 99.5, 101.0, 80.0])
    ut, up = InstantOracle().updates(times, prices)
    assert ut.tolist() == times.tolist() and up.tolist() == prices.tolist()
    assert [value_at(ut, up, t) for t in (-1.0, 0.0, 11.9, 12.0, 94.0, 95.0, 1e6)] == [
        100.0, 100.0, 100.0, 99.5, 101.0, 80.0, 80.0
    ]


def test_osm_price_in_force_is_the_feed_of_the_hop_before() -> None:
    # samples every 10 minutes for 3 hours, feed = 100 + sample index
    times = np.arange(19, dtype=np.float64) * 600.0
    prices = np.arange(19, dtype=np.float64) + 100.0
    ut, up = DelayedOracle(hop_s=3600.0).updates(times, prices)
    # pokes at 0, 1 h, 2 h, 3 h read the feed 100, 106, 112, 118; osm.sol poke: cur = nxt, nxt = feed
    assert ut.tolist() == [0.0, 3600.0, 7200.0, 10800.0]
    assert up.tolist() == [100.0, 100.0, 106.0, 112.0]
    # during hop k (k >= 1) the price in force is the feed read at the start of hop k-1
    for k in range(1, 4):
        for t in (k * 3600.0, k * 3600.0 + 1799.0, k * 3600.0 + 3599.0):
            assert value_at(ut, up, t) == prices[(k - 1) * 6], (k, t)


def test_osm_reads_the_last_sample_before_each_poke() -> None:
    # irregular samples: the poke at 1 h reads the 50-minute sample, the one at 2 h the 1 h 40 sample
    times = np.array([0.0, 3000.0, 4000.0, 6000.0, 7500.0])
    prices = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    ut, up = DelayedOracle(hop_s=3600.0).updates(times, prices)
    assert ut.tolist() == [0.0, 3600.0, 7200.0]
    assert up.tolist() == [10.0, 10.0, 11.0]
    ut, up = DelayedOracle(hop_s=1800.0).updates(times, prices)
    assert ut.tolist() == [0.0, 1800.0, 3600.0, 5400.0, 7200.0]
    assert up.tolist() == [10.0, 10.0, 10.0, 11.0, 12.0]


@pytest.mark.parametrize(("drop_at", "seen_at"), [(1.0, 7200.0), (3599.0, 7200.0), (3600.0, 7200.0),
                                                   (3601.0, 10800.0), (7199.0, 10800.0)])
def test_osm_lag_is_between_one_and_two_hops(drop_at: float, seen_at: float) -> None:
    times = np.array([0.0, drop_at, 14400.0])
    ut, up = DelayedOracle().updates(times, np.array([200.0, 100.0, 100.0]))
    first = float(ut[np.flatnonzero(up == 100.0)[0]])
    assert first == seen_at
    assert 3600.0 <= first - drop_at < 7200.0


def test_chainlink_deviation_and_heartbeat() -> None:
    times = np.arange(19, dtype=np.float64) * 600.0
    prices = np.array([100.0, 100.4, 100.6, 100.2, 100.0, 100.1, 100.2, 100.2, 100.2, 100.2,
                       100.2, 100.2, 100.2, 100.2, 100.2, 100.2, 100.2, 100.2, 100.2])
    ut, up = ChainlinkOracle(deviation=0.005, heartbeat_s=3600.0).updates(times, prices)
    # 100.4 is +0.4 % (no round); 100.6 is +0.6 % (round); 100.2 is -0.40 % of 100.6 (no); 100.0 is -0.60 %
    # (round at 2400 s); then nothing deviates and the heartbeat fires 1 h after each round
    assert list(zip(ut.tolist(), up.tolist(), strict=True)) == [
        (0.0, 100.0), (1200.0, 100.6), (2400.0, 100.0), (6000.0, 100.2), (9600.0, 100.2)
    ]
    assert value_at(ut, up, 5999.0) == 100.0 and value_at(ut, up, 6000.0) == 100.2


def test_chainlink_deviation_is_from_the_last_answer_not_the_last_sample() -> None:
    # a steady climb of 0.2 % a sample: each step is small but every third sample is 0.6 % above the answer
    times = np.arange(10, dtype=np.float64) * 60.0
    prices = np.asarray(100.0 * 1.002 ** np.arange(10), dtype=np.float64)
    ut, up = ChainlinkOracle(deviation=0.005, heartbeat_s=86400.0).updates(times, prices)
    assert ut.tolist() == [0.0, 180.0, 360.0, 540.0]
    assert up.tolist() == prices[[0, 3, 6, 9]].tolist()


def test_chainlink_heartbeat_fires_at_the_first_sample_after_it_is_due() -> None:
    times = np.array([0.0, 2500.0, 5000.0, 7500.0, 10000.0])
    ut, up = ChainlinkOracle(deviation=0.5, heartbeat_s=3600.0).updates(times, np.full(5, 42.0))
    assert ut.tolist() == [0.0, 5000.0, 10000.0] and up.tolist() == [42.0, 42.0, 42.0]


def test_make_oracle() -> None:
    assert make_oracle("instant") == InstantOracle()
    assert make_oracle("delayed") == DelayedOracle(hop_s=3600.0)
    assert make_oracle("delayed", hop_s=600.0) == DelayedOracle(hop_s=600.0)
    assert make_oracle("chainlink", deviation=0.01, heartbeat_s=86400.0) == ChainlinkOracle(0.01, 86400.0)
    with pytest.raises(ConfigError, match="unknown oracle kind 'pyth': use instant, delayed or chainlink"):
        make_oracle("pyth")


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("delayed", {"hop": 3600.0}, "oracle delayed: unknown parameter 'hop'; parameters: hop_s"),
        ("instant", {"hop_s": 60.0}, "oracle instant: unknown parameter 'hop_s'; parameters: none"),
        ("delayed", {"hop_s": 0.0}, "oracle delayed: hop_s must be a number > 0, got 0.0"),
        ("delayed", {"hop_s": float("nan")}, "oracle delayed: hop_s must be a number > 0, got nan"),
        ("chainlink", {"heartbeat_s": -1.0}, "oracle chainlink: heartbeat_s must be a number > 0, got -1.0"),
        ("chainlink", {"deviation": 1.5}, "oracle chainlink: deviation is a fraction below 1"),
    ],
)
def test_make_oracle_refuses_bad_parameters(kind: str, params: dict[str, float], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_oracle(kind, **params)
    assert str(err.value).startswith(expected)


# --- Black Thursday: 12 March 2020, ETH/USD every 10 minutes ---------------------------------------


def first_liquidatable(vault: Accounts, times: np.ndarray, prices: np.ndarray) -> float:
    """The first of ``times`` at which the vault's health at the given price falls below 1."""
    for t, p in zip(times.tolist(), prices.tolist(), strict=True):
        if vault.health([p])[0] < 1.0:
            return float(t)
    raise AssertionError("never liquidatable")


def test_black_thursday_osm_lag_delays_liquidation() -> None:
    path = load_csv(BLACK_THURSDAY)
    market = path.prices["ETH"]
    osm_t, osm_p = DelayedOracle(hop_s=3600.0).updates(path.times, market)

    # At the day's low (close $106.59 at 23:30 UTC) the OSM still shows the 22:00 feed, $132.58.
    low = int(np.argmin(market))
    low_t, low_p = float(path.times[low]), float(market[low])
    osm_at_low = value_at(osm_t, osm_p, low_t)
    print(f"\nBlack Thursday low: market ${low_p:.2f} at {low_t / 3600:.2f} h UTC, OSM ${osm_at_low:.2f} "
          f"(+{osm_at_low / low_p - 1:.1%})")
    assert (low_t, low_p, osm_at_low) == (23.5 * 3600, 106.59, 132.58)
    assert osm_at_low > 1.2 * low_p, f"OSM ${osm_at_low} should be > 20% above market ${low_p} at the low"
    # the widest gap of the day: the 10:50 crash bar, $133.75 against the 09:00 feed $169.94 (+27 %)
    premium = np.array([value_at(osm_t, osm_p, t) for t in path.times]) / market
    worst = int(np.argmax(premium))
    print(f"widest gap: {path.times[worst] / 3600:.2f} h, market ${market[worst]:.2f}, OSM +{premium[worst] - 1:.1%}")
    assert (path.times[worst], market[worst]) == (10 * 3600 + 50 * 60, 133.75) and premium[worst] > 1.27

    # A Maker vault: 10 ETH, 1000 DAI debt, liquidation ratio 150 % -> liquidation price $150.
    vault = Accounts(("ETH",), [[units.col(10)]], [units.num(1000)], mm_from_ratio(1.5))
    assert vault.liquidation_price(0) == pytest.approx(150.0)
    t_market = first_liquidatable(vault, path.times, market)
    t_osm = first_liquidatable(vault, osm_t, osm_p)
    delay = t_osm - t_market
    print(f"vault liquidatable at market price at {t_market / 3600:.2f} h (${path.price('ETH', t_market):.2f}), "
          f"under the OSM at {t_osm / 3600:.2f} h (${value_at(osm_t, osm_p, t_osm):.2f}): "
          f"{delay / 60:.0f} min later")
    assert delay >= 3600.0, (f"OSM liquidation at {t_osm:.0f} s should come >= 1 h after the market one at "
                             f"{t_market:.0f} s; delay {delay:.0f} s")
    # the numbers: market below $150 at 10:50 ($133.75); the OSM shows the 11:00 feed ($143.07) from 12:00
    assert (t_market, t_osm) == (10 * 3600 + 50 * 60, 12 * 3600), (t_market, t_osm)
    # meanwhile the vault was under water at market prices all the while the OSM said it was safe
    gap = (path.times >= t_market) & (path.times < t_osm)
    assert all(vault.health([p])[0] < 1.0 for p in market[gap]), market[gap]
    assert all(vault.health([value_at(osm_t, osm_p, t)])[0] >= 1.0 for t in path.times[gap])


def test_black_thursday_chainlink_sees_the_drop_at_once() -> None:
    # a 0.5 % deviation feed pushes the 10:50 drop (152.81 -> 133.75) in the same sample
    path = load_csv(BLACK_THURSDAY)
    vault = Accounts(("ETH",), [[units.col(10)]], [units.num(1000)], mm_from_ratio(1.5))
    ut, up = ChainlinkOracle(deviation=0.005, heartbeat_s=3600.0).updates(path.times, path.prices["ETH"])
    assert first_liquidatable(vault, ut, up) == first_liquidatable(vault, path.times, path.prices["ETH"])
