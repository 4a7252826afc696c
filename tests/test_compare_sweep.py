"""Sweeps: planning, grids, parallel workers, deterministic order, errors from workers, optional Dask.

The stand-in simulators below (``fake_run_one`` ...) are module level so that worker processes can unpickle
them by reference; the other comparison tests import them from here.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from auction.compare.sweep import compare, parse_grid, plan, seed_list
from auction.designs import names as design_names
from auction.errors import ConfigError
from auction.run.records import Records
from auction.run.result import METRICS, RunResult, Series
from auction.scenario.load import Scenario, scenario_from_toml


def fake_run_one(scenario: Scenario, design: str, seed: int) -> RunResult:
    """A deterministic RunResult from (scenario, design, seed) whose exact figures satisfy the identities."""
    rng = np.random.default_rng([seed, design_names("vault").index(design), scenario.accounts.n])
    repaid = int(rng.integers(1_000_000, 10_000_000)) * 1_000_000
    bad = int(rng.integers(0, 500_000)) * 1_000_000
    sold, returned, unsold = (int(x) for x in rng.integers(0, 10**12, 3))
    exact = {"debt_liquidated": repaid + bad, "debt_repaid": repaid, "bad_debt": bad,
             "collateral_seized": sold + returned + unsold, "collateral_sold": sold,
             "collateral_returned": returned, "collateral_unsold": unsold}
    metrics = {m: float(rng.uniform(0, 100)) for m in METRICS}
    metrics.update({k: v / 1e6 for k, v in exact.items() if k.startswith(("debt", "bad"))})
    metrics.update({k: v / 1e9 for k, v in exact.items() if k.startswith("collateral")})
    metrics["dutch_buf"] = scenario.designs["dutch"].buf
    times = [600.0 * i for i in range(50)]
    series = Series(
        times=times, market=[200.0 - i for i in range(50)],
        oracle_times=times[::6], oracle=[200.0 - i for i in range(0, 50, 6)],
        liquidations=[(t, 150.0) for t in times[30:35]],
        discounts=[float(d) for d in rng.uniform(-0.05, 0.3, 20)],
        times_to_liquidate=[float(t) for t in rng.uniform(60, 7200, 10)],
    )
    extra = {"revenue_per_lot": 60.0 + float(rng.normal(0, 0.3))} if scenario.ipv is not None else {}
    steps = np.cumsum(rng.uniform(0, 1, 10)) * bad / 1e6 / 10
    records = Records(t0_unix=1583971200, series={
        "time_s": [3600.0 * i for i in range(11)], "bad_debt_usd": [0.0, *map(float, steps)],
        "open_auctions": [0, *map(int, rng.integers(0, 30, 9)), 0]})
    return RunResult(scenario=scenario.name, design=design, seed=seed, metrics=metrics, series=series,
                     exact=exact, extra=extra, records=records)


def slow_fake_run_one(scenario: Scenario, design: str, seed: int) -> RunResult:
    """Like fake_run_one, but early seeds finish last, so completion order differs from planned order."""
    import time

    time.sleep(0.05 * (3 - seed % 4))
    return fake_run_one(scenario, design, seed)


def failing_run_one(scenario: Scenario, design: str, seed: int) -> RunResult:
    if design == "english":
        raise ConfigError("prices.csv: line 3: close is not a number")
    return fake_run_one(scenario, design, seed)

GBM = "[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'universal'\n"


@pytest.fixture
def calm() -> Scenario:
    return scenario_from_toml(GBM, label="calm")


def test_seeds_come_from_seed_base() -> None:
    s = scenario_from_toml("seed_base = 100\n" + GBM, label="x")
    assert seed_list(s, 3) == (100, 101, 102)
    assert seed_list(s, [5, 2, 5]) == (5, 2)
    with pytest.raises(ConfigError, match="--seeds: must be >= 1"):
        seed_list(s, 0)


def test_plan_order_and_grid_only_multiplies_its_design(calm: Scenario) -> None:
    tasks = plan(calm, ["english", "dutch"], [0, 1], {"dutch.buf": [1.1, 1.2, 1.3]})
    labels = [(t.variant.label, t.seed) for t in tasks]
    assert labels == [
        ("english", 0), ("english", 1),
        ("dutch [dutch.buf=1.1]", 0), ("dutch [dutch.buf=1.1]", 1),
        ("dutch [dutch.buf=1.2]", 0), ("dutch [dutch.buf=1.2]", 1),
        ("dutch [dutch.buf=1.3]", 0), ("dutch [dutch.buf=1.3]", 1),
    ]
    assert [t.index for t in tasks] == list(range(8))
    assert [t.scenario.designs["dutch"].buf for t in tasks[2::2]] == [1.1, 1.2, 1.3]


def test_shared_grid_key_multiplies_every_design(calm: Scenario) -> None:
    tasks = plan(calm, ["dutch", "fixed"], [0], {"accounts.n": [10, 20]})
    assert [t.variant.label for t in tasks] == ["dutch [accounts.n=10]", "dutch [accounts.n=20]",
                                                 "fixed [accounts.n=10]", "fixed [accounts.n=20]"]


def test_bad_grid_value_fails_before_running(calm: Scenario) -> None:
    with pytest.raises(ConfigError, match=r"\[designs.dutch\] buf: must be > 0"):
        plan(calm, ["dutch"], [0], {"dutch.buf": [1.2, -1.0]})


def test_parse_grid() -> None:
    grid = parse_grid(["dutch.buf=1.1, 1.2,1.1", "dutch.curve=linear,stairstep", "accounts.vol_adjusted=true",
                       "oracle.hop_s=600"])
    assert grid == {"dutch.buf": [1.1, 1.2], "dutch.curve": ["linear", "stairstep"],
                    "accounts.vol_adjusted": [True], "oracle.hop_s": [600]}
    with pytest.raises(ConfigError, match="use KEY=V1,V2"):
        parse_grid(["dutch.buf"])
    with pytest.raises(ConfigError, match=r"--set dutch\.bof: unknown key"):
        parse_grid(["dutch.bof=1"])


def test_inline_run(calm: Scenario) -> None:
    result = compare(calm, ["dutch", "fixed"], 3, workers=1, runner=fake_run_one, progress=False)
    assert [(r.variant.design, r.seed) for r in result.runs] == [("dutch", 0), ("dutch", 1), ("dutch", 2),
                                                                 ("fixed", 0), ("fixed", 1), ("fixed", 2)]
    assert all(r.result.design == r.variant.design and r.result.seed == r.seed for r in result.runs)
    assert result.seeds == (0, 1, 2) and result.designs == ("dutch", "fixed")


def test_accounts_override_reaches_the_runs(calm: Scenario) -> None:
    result = compare(calm, ["dutch"], 1, workers=1, accounts=77, runner=fake_run_one, progress=False)
    assert result.scenario.accounts.n == 77


def test_workers_give_the_same_runs_as_inline(calm: Scenario) -> None:
    inline = compare(calm, design_names("vault"), 2, workers=1, runner=fake_run_one, progress=False)
    pooled = compare(calm, design_names("vault"), 2, workers=2, runner=fake_run_one, progress=False)
    assert [(r.variant, r.seed, r.result.metrics) for r in inline.runs] == [
        (r.variant, r.seed, r.result.metrics) for r in pooled.runs
    ]


def test_worker_error_reaches_the_caller(calm: Scenario) -> None:
    with pytest.raises(ConfigError, match="close is not a number"):
        compare(calm, ["dutch", "english"], 2, workers=2, runner=failing_run_one, progress=False)


def test_unknown_executor(calm: Scenario) -> None:
    with pytest.raises(ConfigError, match="--executor: unknown executor 'ray'"):
        compare(calm, ["dutch"], 1, executor="ray", runner=fake_run_one)


def test_dask_missing_is_a_clear_error(calm: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: importing it raises
    with pytest.raises(ConfigError, match=r"--executor dask needs dask.distributed: pip install 'liqnet\[dask\]'"):
        compare(calm, ["dutch"], 1, executor="dask", runner=fake_run_one, progress=False)


def test_dask_executor_gives_the_same_runs(calm: Scenario) -> None:
    inline = compare(calm, ["dutch", "fixed"], 2, workers=1, runner=fake_run_one, progress=False)
    spread = compare(calm, ["dutch", "fixed"], 2, workers=2, executor="dask", runner=fake_run_one, progress=False)
    assert [(r.variant, r.seed, r.result.metrics) for r in inline.runs] == [
        (r.variant, r.seed, r.result.metrics) for r in spread.runs
    ]
