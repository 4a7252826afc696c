"""--prices: the scenario's gas and market kept where the file allows, one line per replacement, the report
named SCENARIO+STEM, and the file's sha256, time range and replacements in the JSON."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from auction import cli
from auction.compare import sweep
from auction.models.prices import DATA_DIR
from auction.scenario.build import build_world
from auction.scenario.custom_prices import fit_gas, with_custom_prices
from auction.scenario.inputs import price_path
from auction.scenario.load import load_scenario
from tests.test_compare_sweep import fake_run_one

BLACK_THURSDAY = DATA_DIR / "eth_usd_10m_stablesims_2020-03-12.csv"
MAY_2021 = DATA_DIR / "eth_usd_10m_stablesims_2021-05-19.csv"


def columns_of(source: Path, dest: Path, names: tuple[str, ...]) -> Path:
    with source.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with dest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows([row[n] for n in names] for row in rows)
    return dest


@pytest.fixture
def prices_only(tmp_path: Path) -> Path:
    return columns_of(BLACK_THURSDAY, tmp_path / "my.csv", ("unix_ts", "close"))


def test_gas_without_data_becomes_the_scenarios_model_and_keepers_still_meet_high_gas(prices_only: Path) -> None:
    scenario, custom = with_custom_prices(load_scenario("black-thursday"), prices_only)
    assert scenario.name == "black-thursday+my" and scenario.gas.source == "model"
    real = build_world(load_scenario("black-thursday"), "dutch", 0)
    modelled = build_world(scenario, "dutch", 0)
    hours_over_50 = [sum(w.gas_gwei(t) > 50 for t in w.series_times) / 6 for w in (real, modelled)]
    # The real day spent ~14 hours over 50 gwei (the constrained keepers' limit); the fitted model keeps
    # that within 25% (a fixed 50 gwei, as before, spent none).
    assert hours_over_50[0] > 10 and abs(hours_over_50[1] - hours_over_50[0]) < 0.25 * hours_over_50[0]
    assert len(custom.replaced) == 2 and custom.replaced[1].startswith("gas: my.csv has no gas_avg_gwei column")


def test_fit_gas_recovers_a_known_model() -> None:
    path = price_path(load_scenario("black-thursday"), 0)
    prices = path.prices["ETH"]
    drawdown = 1 - prices / np.maximum.accumulate(prices)
    exact = type(path)(times=path.times, prices=path.prices, gas_gwei=12.0 * (1 + 30.0 * drawdown))
    assert fit_gas(exact) == pytest.approx((12.0, 30.0), rel=1e-3)


def test_a_file_with_the_gas_column_keeps_the_real_gas(tmp_path: Path) -> None:
    both = columns_of(BLACK_THURSDAY, tmp_path / "mine.csv", ("unix_ts", "close", "gas_avg_gwei"))
    scenario, custom = with_custom_prices(load_scenario("black-thursday"), both)
    assert scenario.gas.source == "data" and len(custom.replaced) == 1
    assert custom.replaced[0].startswith("prices: black-thursday's eth_usd_10m_stablesims_2020-03-12.csv replaced")


def test_reserves_without_data_become_a_pool_of_the_median_depth(tmp_path: Path) -> None:
    mine = columns_of(MAY_2021, tmp_path / "may.csv", ("unix_ts", "close", "gas_avg_gwei"))
    scenario, custom = with_custom_prices(load_scenario("may-2021"), mine)
    reserves = price_path(load_scenario("may-2021"), 0).reserves
    assert reserves is not None
    assert scenario.market.kind == "depth"
    assert scenario.market.depth == pytest.approx(float(np.median(reserves[1])), abs=1e-3)
    assert [line.split(":")[0] for line in custom.replaced] == ["prices", "market"]


def test_compare_names_the_report_and_records_the_file(prices_only: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sweep, "run_task", lambda runner, s, design, seed: fake_run_one(s, design, seed))
    out = tmp_path / "out"
    out.mkdir()
    (out / "black-thursday.json").write_text("the scenario's own report")
    argv = ["compare", "--prices", str(prices_only), "--designs", "dutch", "--seeds", "1", "--workers", "1",
            "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[2] for line in err] == ["prices", "gas"]
    assert all(line.startswith(f"liqnet: --prices {prices_only}: ") for line in err)
    assert (out / "black-thursday.json").read_text() == "the scenario's own report"  # not overwritten
    doc = json.loads((out / "black-thursday+my.json").read_text())
    record = doc["prices_file"]
    assert record["sha256"] == hashlib.sha256(prices_only.read_bytes()).hexdigest()
    assert (record["start_utc"], record["end_utc"], record["rows"]) == ("2020-03-12T00:00:00Z",
                                                                        "2020-03-12T23:50:00Z", 144)
    assert [r.split(":")[0] for r in record["replaced"]] == ["prices", "gas"]
    assert doc["scenario"]["name"] == "black-thursday+my" and doc["scenario"]["gas"]["source"] == "model"
    assert "prices replaced by my.csv" in doc["scenario"]["description"]
    assert "black-thursday+my" in (out / "black-thursday+my.html").read_text()
