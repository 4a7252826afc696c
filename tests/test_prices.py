"""Price sources: every bundled file against MANIFEST.csv, malformed CSVs, GBM and Merton jump-diffusion."""

from __future__ import annotations

import csv
import math
import tomllib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from auction.errors import ConfigError
from auction.models.prices import (
    DATA_DIR,
    YEAR_S,
    PricePath,
    bundled,
    ewma_vol,
    gbm,
    jump_diffusion,
    load_csv,
    merge,
    resolve_data,
)


def manifest() -> list[dict[str, str]]:
    with (DATA_DIR / "MANIFEST.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


MANIFEST = manifest()


def test_manifest_lists_every_bundled_file() -> None:
    bundled = sorted(p.name for p in DATA_DIR.glob("*.csv") if p.name != "MANIFEST.csv")
    assert sorted(r["file"] for r in MANIFEST) == bundled
    assert len(MANIFEST) == 6


@pytest.mark.parametrize("row", MANIFEST, ids=[r["file"] for r in MANIFEST])
def test_load_every_bundled_file_matches_manifest(row: dict[str, str]) -> None:
    path = load_csv(row["file"])
    prices = path.prices["ETH"]
    n = int(row["rows"])
    assert len(path.times) == len(prices) == n
    assert prices[0] == float(row["first_close"]) and prices[-1] == float(row["last_close"])
    assert prices.min() == float(row["min_close"]) and prices.max() == float(row["max_close"])
    first = int(datetime.fromisoformat(row["first_utc"].replace("Z", "+00:00")).timestamp())
    last = int(datetime.fromisoformat(row["last_utc"].replace("Z", "+00:00")).timestamp())
    assert path.t0_unix == first
    assert path.times[0] == 0.0 and path.times[-1] == last - first
    step = 600.0 if "_10m_" in row["file"] else 3600.0
    assert np.all(np.diff(path.times) == step)
    # gas only in the 10-minute StableSims files; Uniswap reserves only in the 2021-05-19 one
    assert (path.gas_gwei is not None) == ("_10m_" in row["file"])
    assert (path.reserves is not None) == (row["file"] == "eth_usd_10m_stablesims_2021-05-19.csv")
    if path.gas_gwei is not None:
        assert len(path.gas_gwei) == n and (path.gas_gwei > 0).all()
    if path.reserves is not None:
        assert [len(a) for a in path.reserves] == [n, n]
    # another column of the same file: the lowest low is the manifest's min_low
    assert load_csv(row["file"], column="low").prices["ETH"].min() == float(row["min_low"])


def test_bundled_file_values_by_row() -> None:
    bt = load_csv("eth_usd_10m_stablesims_2020-03-12.csv", asset="WETH")
    assert list(bt.prices) == ["WETH"]
    assert bt.gas_gwei is not None
    assert (bt.gas_gwei[0], bt.gas_gwei[1], bt.gas_gwei[-1]) == (9.9, 9.965, 112.224)
    may = load_csv("eth_usd_10m_stablesims_2021-05-19.csv")
    assert may.reserves is not None
    num, col = may.reserves
    assert (num[0], col[0]) == (67923883.66, 23221.3464)
    assert (num[-1], col[-1]) == (61614423.8, 23229.7511)
    # another gas column of the file
    p90 = load_csv("eth_usd_10m_stablesims_2020-03-12.csv", gas_column="gas_p90_gwei").gas_gwei
    assert p90 is not None and p90[0] == 30.0


def test_resolve_data_takes_a_path_or_a_bundled_name(tmp_path: Path) -> None:
    name = "eth_usdt_1h_binance_2020-03_black_thursday.csv"
    assert resolve_data(name) == DATA_DIR / name
    assert resolve_data(DATA_DIR / name) == DATA_DIR / name
    own = tmp_path / "own.csv"
    own.write_text("unix_ts,close\n100,1\n160,2\n")
    assert resolve_data(own) == own
    path = load_csv(own)
    assert path.times.tolist() == [0.0, 60.0] and path.t0_unix == 100
    with pytest.raises(ConfigError, match="not found"):
        resolve_data("no_such_file.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unix_ts,open\n0,1\n60,2\n", "missing column 'close'; found unix_ts, open"),
        ("time,close\n0,1\n60,2\n", "missing column 'unix_ts'"),
        ("unix_ts,close\n0,1\n60,abc\n", "row 3: close is not a number: 'abc'"),
        ("unix_ts,close\n0,1\n60,\n", "row 3: close is not a number: ''"),
        ("unix_ts,close\n0,1\n60\n", "row 3: close is not a number: '<missing>'"),
        ("unix_ts,close\nx,1\n60,2\n", "row 2: unix_ts is not a number: 'x'"),
        ("unix_ts,close\n0,1\n60,nan\n", "row 3: close is not finite: 'nan'"),
        ("unix_ts,close\n0,1\n60,inf\n", "row 3: close is not finite: 'inf'"),
        ("unix_ts,close\n0,1\n60,2\n60,3\n", "row 4: unix_ts does not increase (60 then 60)"),
        ("unix_ts,close\n0,1\n120,2\n60,3\n", "row 4: unix_ts does not increase (120 then 60)"),
        ("unix_ts,close\n0,1\n60,0\n", "row 3: close must be > 0, got 0.0"),
        ("unix_ts,close\n0,-5\n60,1\n", "row 2: close must be > 0, got -5.0"),
        ("", "empty file"),
        ("\n\n", "empty file"),
        ("unix_ts,close\n", "needs at least 2 data rows, found 0"),
        ("unix_ts,close\n0,1\n", "needs at least 2 data rows, found 1"),
        ("unix_ts,close,gas_avg_gwei\n0,1,5\n60,2,fast\n", "row 3: gas_avg_gwei is not a number: 'fast'"),
    ],
)
def test_malformed_csv_is_one_line_config_error(tmp_path: Path, text: str, expected: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_csv(bad)
    message = str(err.value)
    assert expected in message
    assert message.startswith(str(bad)) and "\n" not in message


def test_unreadable_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    binary = tmp_path / "prices.csv.gz"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\x80\x81")
    with pytest.raises(ConfigError, match=r"prices\.csv\.gz: cannot read"):
        load_csv(binary)
    missing = tmp_path / "nope.csv"
    with pytest.raises(ConfigError) as err:
        load_csv(missing)
    assert str(err.value) == f"price file {missing}: not found (neither a path nor a bundled data file)"


def test_spreadsheet_exports_load(tmp_path: Path) -> None:
    # "CSV UTF-8" from a spreadsheet: byte-order mark, CRLF line ends, a trailing blank line
    f = tmp_path / "export.csv"
    f.write_bytes(b"\xef\xbb\xbfunix_ts,close\r\n1000,10.5\r\n1600,11\r\n\r\n")
    path = load_csv(f)
    assert path.times.tolist() == [0.0, 600.0]
    assert path.prices["ETH"].tolist() == [10.5, 11.0]
    assert path.t0_unix == 1000


def test_price_path_lookup_is_a_step_function() -> None:
    path = PricePath(times=np.array([0.0, 60.0, 120.0]), prices={"ETH": np.array([10.0, 20.0, 30.0])})
    assert [path.at(t) for t in (-5.0, 0.0, 59.9, 60.0, 119.0, 120.0, 1e9)] == [0, 0, 0, 1, 1, 2, 2]
    assert path.price("ETH", 90.0) == 20.0


# --- GBM and jump-diffusion --------------------------------------------------------------------------


def test_gbm_is_seeded() -> None:
    a = gbm(100.0, 0.1, 0.8, 60.0, 1000, seed=7)
    b = gbm(100.0, 0.1, 0.8, 60.0, 1000, seed=7)
    c = gbm(100.0, 0.1, 0.8, 60.0, 1000, seed=8)
    assert np.array_equal(a.prices["ETH"], b.prices["ETH"]) and np.array_equal(a.times, b.times)
    assert not np.array_equal(a.prices["ETH"], c.prices["ETH"])
    assert a.times.tolist() == [60.0 * i for i in range(1001)]
    assert a.prices["ETH"][0] == 100.0 and len(a.prices["ETH"]) == 1001
    assert (a.prices["ETH"] > 0).all()


def test_jump_diffusion_is_seeded() -> None:
    args = (100.0, 0.0, 0.5, 20.0, -0.1, 0.05, 3600.0, 2000)
    a, b, c = jump_diffusion(*args, seed=1), jump_diffusion(*args, seed=1), jump_diffusion(*args, seed=2)
    assert np.array_equal(a.prices["ETH"], b.prices["ETH"])
    assert not np.array_equal(a.prices["ETH"], c.prices["ETH"])


def test_gbm_mean_log_return_is_ito_drift() -> None:
    # 100,000 steps of 10 days (2740 years): mean log-return per step -> (mu - sigma^2/2) dt.
    mu, sigma, dt, n = 0.3, 0.5, 10 * 86400.0, 100_000
    h = dt / YEAR_S
    lr = np.diff(np.log(gbm(1.0, mu, sigma, dt, n, seed=11).prices["ETH"]))
    se = sigma * math.sqrt(h) / math.sqrt(n)  # standard error of the mean of n iid N(., sigma^2 h)
    expected = (mu - sigma**2 / 2) * h
    assert abs(lr.mean() - expected) < 4 * se, (lr.mean(), expected, se)
    # the Ito term is resolved: the naive mu*dt is more than 10 standard errors away
    assert abs(lr.mean() - mu * h) > 10 * se
    # per-step volatility sigma*sqrt(dt); the sample std has relative standard error 1/sqrt(2n)
    assert abs(lr.std() / (sigma * math.sqrt(h)) - 1) < 4 / math.sqrt(2 * n)


def test_jump_diffusion_mean_log_return_includes_jumps_and_compensator() -> None:
    mu, sigma, lam, jm, js, dt, n = 0.1, 0.5, 2.0, -0.1, 0.05, 10 * 86400.0, 100_000
    h = dt / YEAR_S
    lr = np.diff(np.log(jump_diffusion(1.0, mu, sigma, lam, jm, js, dt, n, seed=5).prices["ETH"]))
    k = math.exp(jm + js**2 / 2) - 1  # Merton's compensator E[e^J] - 1
    expected = (mu - sigma**2 / 2 - lam * k + lam * jm) * h
    se = math.sqrt((sigma**2 + lam * (jm**2 + js**2)) * h / n)  # per-step variance of diffusion + compound Poisson
    assert abs(lr.mean() - expected) < 4 * se, (lr.mean(), expected, se)


def test_jump_diffusion_without_jumps_is_gbm() -> None:
    base = gbm(2000.0, 0.05, 0.9, 600.0, 5000, seed=3).prices["ETH"]
    same = jump_diffusion(2000.0, 0.05, 0.9, 0.0, -0.4, 0.2, 600.0, 5000, seed=3).prices["ETH"]
    assert np.array_equal(base, same)


def test_jump_crash_jumps_have_the_expected_size() -> None:
    # no diffusion: every step is the compensated drift plus a whole number of -30 % log jumps
    mu, lam, jm, dt, n = 0.0, 50.0, -0.3, 3600.0, 100_000
    h = dt / YEAR_S
    lr = np.diff(np.log(jump_diffusion(100.0, mu, 0.0, lam, jm, 0.0, dt, n, seed=9).prices["ETH"]))
    drift = (mu - lam * (math.exp(jm) - 1)) * h  # compensator lifts the drift so E[S] grows at mu
    jumps = (lr - drift) / jm
    assert np.allclose(jumps, np.round(jumps), atol=1e-6) and (np.round(jumps) >= 0).all()
    count = int(np.round(jumps).sum())
    expected = lam * h * n  # 570.8 jumps over 11.4 years
    assert abs(count - expected) < 4 * math.sqrt(expected), (count, expected)
    # with diffusion and spread sizes: below -0.15 (23 hourly sigmas, 3 jump sds) only the crashes, of mean jm
    sigma, js = 0.6, 0.05
    lr2 = np.diff(np.log(jump_diffusion(100.0, mu, sigma, lam, jm, js, dt, n, seed=9).prices["ETH"]))
    crashes = lr2[lr2 < -0.15]
    assert abs(len(crashes) - expected) < 4 * math.sqrt(expected)
    assert abs(crashes.mean() - jm) < 4 * math.hypot(js, sigma * math.sqrt(h)) / math.sqrt(len(crashes))
    # a -0.3 log jump takes 25.9 % off the price in one step
    fall = 1 - np.exp(crashes.mean())
    assert 0.24 < fall < 0.28, fall


def test_bundled_jump_crash_scenario_jumps() -> None:
    # the bundled jump-crash scenario's [prices]: ~3 jumps a day of N(-0.08, 0.05) log size, 10-minute steps
    with (DATA_DIR.parent / "scenario" / "bundled" / "jump-crash.toml").open("rb") as fh:
        p = tomllib.load(fh)["prices"]
    assert (p["lam"], p["jump_mean"], p["jump_std"], p["dt_s"]) == (1095.0, -0.08, 0.05, 600.0)
    n = 100_000  # 694 days: ~2083 jumps
    args = (p["s0"], p["mu"], p["sigma"])
    jd = np.log(jump_diffusion(*args, p["lam"], p["jump_mean"], p["jump_std"], p["dt_s"], n, seed=4).prices["ETH"])
    diffusion = np.log(gbm(*args, p["dt_s"], n, seed=4).prices["ETH"])
    # same seed, same diffusion draws: the difference is the jumps plus the constant compensator -lam*k*dt
    h = p["dt_s"] / YEAR_S
    k = math.exp(p["jump_mean"] + p["jump_std"] ** 2 / 2) - 1
    jumps = np.diff(jd) - np.diff(diffusion) + p["lam"] * k * h
    sizes = jumps[np.abs(jumps) > 1e-9]
    expected = n * (1 - math.exp(-p["lam"] * h))  # steps with at least one jump: 2062
    assert abs(len(sizes) - expected) < 4 * math.sqrt(expected), (len(sizes), expected)
    # ~1 % of those steps hold two jumps (bias ~ -0.0008, a fifth of the tolerance): mean and spread of one
    assert abs(sizes.mean() - p["jump_mean"]) < 4 * p["jump_std"] / math.sqrt(len(sizes)), sizes.mean()
    assert sizes.std() == pytest.approx(p["jump_std"], rel=0.1)
    assert (sizes < 0).mean() > 0.9  # crashes: N(-0.08, 0.05) is below 0 with probability 0.945


@pytest.mark.parametrize(
    "args",
    [
        (0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 60.0, 10),  # s0
        (1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 10),  # dt
        (1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 60.0, 0),  # steps
        (1.0, 0.0, -0.5, 0.0, 0.0, 0.0, 60.0, 10),  # sigma
        (1.0, 0.0, 0.5, -1.0, 0.0, 0.0, 60.0, 10),  # lam
        (1.0, 0.0, 0.5, 1.0, 0.0, -0.1, 60.0, 10),  # jump_std
        (float("nan"), 0.0, 0.5, 0.0, 0.0, 0.0, 60.0, 10),
        (1.0, float("nan"), 0.5, 0.0, 0.0, 0.0, 60.0, 10),  # mu: used to give an all-NaN path
        (1.0, 0.0, 0.5, 1.0, float("-inf"), 0.0, 60.0, 10),  # jump_mean
        (1.0, 1e6, 0.5, 0.0, 0.0, 0.0, 86400.0, 1000),  # exp overflows to inf after ~260 days
        (1.0, -1e6, 0.5, 0.0, 0.0, 0.0, 86400.0, 1000),  # ... or underflows to a price of 0
    ],
)
def test_bad_model_parameters_are_config_errors(args: tuple[float, float, float, float, float, float, float, int]
                                                ) -> None:
    with pytest.raises(ConfigError, match="price model"):
        jump_diffusion(*args, seed=0)


# --- bundled names, path checks, merging ---------------------------------------------------------------


def test_bundled_names_every_manifest_file() -> None:
    for row in MANIFEST:
        assert bundled(row["file"]) == DATA_DIR / row["file"]
    for bad in ("nope.csv", "../prices.py", "MANIFEST", "ATTRIBUTION.md"):
        with pytest.raises(ConfigError) as err:
            bundled(bad)
        assert f"bundled data {bad!r}: no such file; bundled: btc_usdt_1h_binance_2020-03" in str(err.value)


def test_price_path_refuses_inconsistent_series() -> None:
    t = np.array([0.0, 60.0])
    with pytest.raises(ValueError, match="times"):
        PricePath(times=np.array([5.0, 60.0]), prices={"ETH": np.ones(2)})
    with pytest.raises(ValueError, match="as long as times"):
        PricePath(times=t, prices={"ETH": np.ones(3)})
    with pytest.raises(ValueError, match="as long as times"):
        PricePath(times=t, prices={"ETH": np.ones(2)}, gas_gwei=np.ones(1))
    with pytest.raises(ValueError, match="at least one asset"):
        PricePath(times=t, prices={})


def test_merge_keeps_the_common_instants() -> None:
    # 10-minute ETH (12 March) with hourly BTC (9-16 March): the 24 whole hours of the 12th
    eth = load_csv("eth_usd_10m_stablesims_2020-03-12.csv")
    btc = load_csv("btc_usdt_1h_binance_2020-03_black_thursday.csv", asset="BTC")
    both = merge(eth, btc)
    assert list(both.prices) == ["ETH", "BTC"]
    assert both.t0_unix == 1583971200 and both.times.tolist() == [3600.0 * h for h in range(24)]
    assert both.prices["ETH"].tolist() == eth.prices["ETH"][::6].tolist()
    assert both.prices["BTC"].tolist() == btc.prices["BTC"][72:96].tolist()
    assert both.prices["BTC"][:3].tolist() == [7913.42, 7713.27, 7644.97]
    assert both.gas_gwei is not None and both.gas_gwei[:3].tolist() == [9.9, 11.66, 18.31]
    assert both.reserves is None
    with pytest.raises(ConfigError, match="an asset appears twice"):
        merge(eth, load_csv("eth_usdt_1h_binance_2020-03_black_thursday.csv"))
    with pytest.raises(ConfigError, match="fewer than 2 sample instants"):
        merge(eth, load_csv("btc_usdt_1h_binance_2021-05_may19_crash.csv", asset="BTC"))


# --- EWMA realized volatility -----------------------------------------------------------------------------


def ewma_loop(p: np.ndarray, t: np.ndarray, halflife: float, sigma0: float | None = None) -> np.ndarray:
    """The RiskMetrics recursion written out, one sample at a time."""
    x = np.diff(np.log(p)) ** 2 / np.diff(t) * YEAR_S
    var = [x[0] if sigma0 is None else sigma0**2]
    for k in range(len(x)):
        lam = 0.5 ** ((t[k + 1] - t[k]) / halflife)
        var.append(lam * var[-1] + (1 - lam) * x[k])
    return np.sqrt(var)


@pytest.mark.parametrize("halflife", [60.0, 3600.0, 30 * 86400.0])
def test_ewma_vol_is_the_riskmetrics_recursion(halflife: float) -> None:
    rng = np.random.default_rng(1)
    t = np.concatenate([[0.0], np.cumsum(rng.exponential(600.0, 5000))])
    t[2500:] += 50 * 86400.0  # a 50-day gap: longer than a vectorized chunk at every half-life
    p = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(t))))
    assert np.allclose(ewma_vol(p, t, halflife), ewma_loop(p, t, halflife), rtol=1e-10, atol=0)
    assert np.allclose(ewma_vol(p, t, halflife, sigma0=0.5), ewma_loop(p, t, halflife, 0.5), rtol=1e-10, atol=0)


def test_ewma_vol_weight_halves_every_halflife() -> None:
    # flat at 100, one +10 % move at t = 600 s, then flat: the variance halves every hour after it
    t = np.arange(0.0, 4 * 3600.0 + 1, 60.0)
    p = np.where(t >= 600.0, 110.0, 100.0)
    var = ewma_vol(p, t, halflife_s=3600.0, sigma0=0.0) ** 2
    shock = int(np.flatnonzero(t == 600.0)[0])
    x = math.log(1.1) ** 2 / 60.0 * YEAR_S
    assert var[shock] == pytest.approx((1 - 0.5 ** (60 / 3600)) * x, rel=1e-12)
    for hours in (1, 2, 3):
        assert var[shock + 60 * hours] == pytest.approx(var[shock] * 0.5**hours, rel=1e-12)
    assert (var[:shock] == 0).all()


def test_ewma_vol_recovers_gbm_sigma() -> None:
    # 10-minute GBM at 80 % for ~3.8 years, 3-day half-life: the mean EWMA variance is sigma^2
    path = gbm(2000.0, 0.0, 0.8, 600.0, 200_000, seed=3)
    var = ewma_vol(path.prices["ETH"], path.times, 3 * 86400.0) ** 2
    assert abs(var[1000:].mean() / 0.64 - 1) < 0.02, var[1000:].mean()
    # each estimate is one 3-day window: within 25 % of sigma nearly always
    sigma = np.sqrt(var[1000:])
    assert np.mean(np.abs(sigma / 0.8 - 1) < 0.25) > 0.99


def test_ewma_vol_on_black_thursday() -> None:
    path = load_csv("eth_usd_10m_stablesims_2020-03-12.csv")
    vol = ewma_vol(path.prices["ETH"], path.times, halflife_s=3600.0)
    peak = int(np.argmax(vol))
    print(f"\nBlack Thursday EWMA vol (1 h half-life): {vol[0]:.0%} at the open, peak {vol[peak]:.0%} "
          f"at {path.times[peak] / 3600:.0f}:00 UTC")
    # the peak follows the 10:50 crash bar (152.81 -> 133.75) and the 11:00 rebound (-> 143.07)
    assert path.times[peak] == 11 * 3600.0 and vol[peak] == pytest.approx(12.556, abs=1e-3)
    assert vol[0] == pytest.approx(0.696, abs=1e-3)
    # constant prices carry no volatility
    assert ewma_vol(np.full(5, 100.0), np.arange(5.0), 60.0).tolist() == [0.0] * 5


def test_ewma_vol_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="prices > 0"):
        ewma_vol(np.array([1.0, -1.0]), np.array([0.0, 1.0]), 60.0)
    with pytest.raises(ValueError, match="increasing times"):
        ewma_vol(np.array([1.0, 2.0]), np.array([0.0, 0.0]), 60.0)
    with pytest.raises(ValueError, match="halflife_s > 0"):
        ewma_vol(np.array([1.0, 2.0]), np.array([0.0, 1.0]), 0.0)
