"""--export: every run's auctions, fills and time series as Parquet (or CSV), agreeing with the metrics, named
in the JSON, and loadable with README's pandas one-liner."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest

from auction import cli
from auction.compare import sweep

ROOT = Path(__file__).parents[1]
pd = pytest.importorskip("pandas")


def readme_one_liner() -> str:
    """The python block of README that loads the exported auctions (one line)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (block,) = [b for b in blocks if "auctions.parquet" in b]
    assert block.count("\n") == 1, block
    return block


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pyarrow")
    cwd = tmp_path_factory.mktemp("export")
    argv = ["compare", "--designs", "dutch,english", "--seeds", "2", "--accounts", "300", "--workers", "1",
            "--out", str(cwd / "out"), "--export", "parquet", "--no-progress"]
    assert cli.main(argv) == 0
    return cwd


def test_readme_one_liner_loads_the_exported_auctions(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(exported)
    scope: dict[str, object] = {}
    exec(readme_one_liner(), scope)
    auctions = scope["auctions"]
    doc = json.loads((exported / "out" / "black-thursday.json").read_text())
    assert isinstance(auctions, pd.DataFrame)
    assert len(auctions) == sum(run["metrics"]["auctions"] for run in doc["runs"])
    for column in ("design", "seed", "auction", "account", "kicked_s", "kicked_utc", "tab_usd", "lot", "fills",
                   "closed_s", "bad_debt_usd", "returned"):
        assert column in auctions.columns
    assert str(auctions["kicked_utc"].iloc[0]).startswith("2020-03-12")


def test_exported_tables_agree_with_each_runs_metrics(exported: Path) -> None:
    out = exported / "out"
    doc = json.loads((out / "black-thursday.json").read_text())
    assert doc["exports"] == {t: f"black-thursday.{t}.parquet" for t in ("auctions", "fills", "series")}
    auctions, fills, series = (pd.read_parquet(out / name) for name in doc["exports"].values())
    for run in doc["runs"]:
        key = (run["design"], run["seed"])
        metrics = run["metrics"]
        a = auctions[(auctions.design == key[0]) & (auctions.seed == key[1])]
        f = fills[(fills.design == key[0]) & (fills.seed == key[1])]
        s = series[(series.design == key[0]) & (series.seed == key[1])]
        assert a.bad_debt_usd.sum() == pytest.approx(metrics["bad_debt"], rel=1e-8)
        assert a.returned.sum() == pytest.approx(metrics["collateral_returned"], rel=1e-8, abs=1e-9)
        assert a.fills.sum() == len(f)
        assert f.cost_usd.sum() == pytest.approx((f.qty * f.price).sum(), rel=1e-9)
        assert s.bad_debt_usd.iloc[-1] == pytest.approx(metrics["bad_debt"], rel=1e-8)
        assert s.bad_debt_usd.is_monotonic_increasing and s.time_s.is_monotonic_increasing
        assert s.open_auctions.iloc[-1] == 0 and s.open_auctions.max() > 0
        assert s.open_auctions.dtype.kind == "i"


def test_csv_export_needs_no_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_compare_sweep import fake_run_one

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    monkeypatch.setattr(sweep, "run_task", lambda runner, s, design, seed: _with_records(fake_run_one(s, design, seed)))
    argv = ["compare", "--designs", "dutch", "--seeds", "2", "--workers", "1", "--out", str(tmp_path),
            "--export", "csv", "--no-progress"]
    assert cli.main(argv) == 0
    with (tmp_path / "black-thursday.auctions.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["seed"] for r in rows] == ["0", "0", "1", "1"] and rows[0]["kicked_utc"] == "2020-03-12T01:00:00Z"
    assert list(rows[0]) == ["variant", "design", "seed", "auction", "kicked_s", "bad_debt_usd", "kicked_utc"]


def test_parquet_without_pyarrow_is_one_line_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    def no_run(*args: object) -> None:
        raise AssertionError("a simulation ran")

    monkeypatch.setattr(sweep, "run_task", no_run)
    assert cli.main(["compare", "--seeds", "1", "--out", str(tmp_path / "o"), "--export", "parquet"]) == 2
    err = capsys.readouterr().err
    assert err == "liqnet: error: --export parquet needs pyarrow: pip install 'liqnet[parquet]' (or use --export csv)\n"
    assert not (tmp_path / "o").exists()


def _with_records(result):  # type: ignore[no-untyped-def]
    from auction.run.records import Records

    result.records = Records(
        t0_unix=1583971200,
        auctions={"auction": [1, 2], "kicked_s": [3600.0, 7200.0], "bad_debt_usd": [0.0, 5.0]},
        fills={"auction": [1], "keeper": ["k"], "qty": [1.0], "cost_usd": [2.0], "price": [2.0], "time_s": [3700.0]},
        series={"time_s": [0.0, 3600.0], "open_auctions": [0, 1]},
    )
    return result
