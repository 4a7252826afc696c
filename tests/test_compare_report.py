"""Reports: the JSON contract, byte-identical determinism, Markdown, identities, the HTML page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from auction.compare.files import write_reports
from auction.compare.html import EarlyPlots, render_html
from auction.compare.report import SCHEMA, dumps_json, identity_violations, markdown, report_dict
from auction.compare.sweep import CompareResult, compare
from auction.designs import names as design_names
from auction.run.result import METRICS
from auction.scenario.load import Scenario, scenario_from_toml
from tests.test_compare_sweep import fake_run_one, slow_fake_run_one

GBM = "name = 'calm'\ndescription = 'a calm day'\n[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'universal'\n"
IPV = "name = 'ipv'\n[ipv]\nlots = 10\nbidders = 4\n"


@pytest.fixture
def calm() -> Scenario:
    return scenario_from_toml(GBM, label="calm")


@pytest.fixture
def result(calm: Scenario) -> CompareResult:
    return compare(calm, design_names("vault"), 3, workers=1, runner=fake_run_one, progress=False)


def test_json_shape(result: CompareResult) -> None:
    doc = json.loads(dumps_json(result))
    assert set(doc) == {"schema", "mode", "scenario", "seeds", "designs", "summary", "runs"}
    assert (doc["schema"], doc["mode"], doc["seeds"], doc["designs"]) == (SCHEMA, "sim", 3, list(design_names("vault")))
    assert doc["scenario"]["name"] == "calm" and doc["scenario"]["prices"]["source"] == "gbm"
    assert "origin" not in doc["scenario"] and "path" not in doc["scenario"]["prices"]
    assert set(doc["summary"]) == set(design_names("vault"))
    for design in design_names("vault"):
        assert set(METRICS) <= set(doc["summary"][design])
        for stat in doc["summary"][design].values():
            assert set(stat) == {"mean", "ci95"} and len(stat["ci95"]) == 2
            assert stat["ci95"][0] <= stat["mean"] <= stat["ci95"][1]
    assert len(doc["runs"]) == 15
    assert doc["runs"][0] == {"design": "dutch", "seed": 0, "metrics": doc["runs"][0]["metrics"]}
    assert set(METRICS) <= set(doc["runs"][0]["metrics"])


def test_summary_is_mean_over_seeds(result: CompareResult) -> None:
    doc = report_dict(result)
    bad = [r["metrics"]["bad_debt"] for r in doc["runs"] if r["design"] == "english"]
    assert doc["summary"]["english"]["bad_debt"]["mean"] == pytest.approx(sum(bad) / 3, rel=1e-11)


def test_same_runs_in_any_completion_order_give_identical_bytes(calm: Scenario) -> None:
    # slow_fake finishes early seeds last: with 2 workers the completion order differs from the plan.
    inline = compare(calm, ["dutch", "english"], 4, workers=1, runner=fake_run_one, progress=False)
    pooled = compare(calm, ["dutch", "english"], 4, workers=2, runner=slow_fake_run_one, progress=False)
    assert dumps_json(inline).encode() == dumps_json(pooled).encode()


def test_no_clock_in_json(result: CompareResult) -> None:
    text = dumps_json(result)
    assert not re.search(r"20\d\d-\d\d-\d\dT", text) and "wall" not in text and "elapsed" not in text


def test_non_finite_metrics_become_null(calm: Scenario) -> None:
    result = compare(calm, ["dutch"], 2, workers=1, runner=fake_run_one, progress=False)
    for run in result.runs:
        run.result.metrics["price_discount_mean"] = float("nan")  # no fills in that run
    doc = json.loads(dumps_json(result))
    assert doc["summary"]["dutch"]["price_discount_mean"] == {"mean": None, "ci95": [None, None]}
    assert doc["runs"][0]["metrics"]["price_discount_mean"] is None


def test_floats_are_rounded_to_twelve_digits(calm: Scenario) -> None:
    result = compare(calm, ["dutch"], 1, workers=1, runner=fake_run_one, progress=False)
    result.runs[0].result.metrics["bad_debt"] = 0.1 + 0.2  # 0.30000000000000004
    assert report_dict(result)["runs"][0]["metrics"]["bad_debt"] == 0.3


def test_grid_report(calm: Scenario) -> None:
    result = compare(calm, ["dutch", "fixed"], 2, workers=1, grid={"dutch.buf": [1.1, 1.2]}, runner=fake_run_one,
                     progress=False)
    doc = report_dict(result)
    assert doc["grid"] == {"dutch.buf": [1.1, 1.2]}
    assert doc["variants"] == ["dutch [dutch.buf=1.1]", "dutch [dutch.buf=1.2]", "fixed"]
    assert set(doc["summary"]) == set(doc["variants"])
    assert doc["runs"][0]["params"] == {"dutch.buf": 1.1} and doc["runs"][0]["variant"] == "dutch [dutch.buf=1.1]"
    assert doc["summary"]["dutch [dutch.buf=1.2]"]["dutch_buf"]["mean"] == 1.2  # the runs saw the override


def test_ipv_report_has_theory() -> None:
    s = scenario_from_toml(IPV, label="ipv")
    result = compare(s, design_names("vault"), 2, workers=1, runner=fake_run_one, progress=False)
    doc = report_dict(result)
    assert doc["theory"]["revenue_per_lot"]["dutch"] == 60.0
    assert doc["theory"]["revenue_per_lot"]["fixed"] == pytest.approx(16.8855, abs=1e-4)
    assert "revenue_per_lot" in doc["summary"]["sealed-second"]
    md = markdown(result)
    assert "## Theory (independent private values)" in md and "| dutch |" in md


def test_markdown(result: CompareResult) -> None:
    md = markdown(result)
    assert md.startswith("# liqnet compare: calm\n")
    assert "| metric | dutch | sealed-first | sealed-second | english | fixed |" in md
    assert md.count("| bad_debt |") == 1


def test_identities(result: CompareResult) -> None:
    run = result.runs[0].result
    assert identity_violations(run) == []
    run.exact["bad_debt"] += 1
    assert identity_violations(run) == [
        f"debt_liquidated {run.exact['debt_liquidated']} != debt_repaid + bad_debt "
        f"{run.exact['debt_repaid'] + run.exact['bad_debt']}"
    ]


def test_write_reports(result: CompareResult, tmp_path: Path) -> None:
    paths = write_reports(result, tmp_path / "out", tmp_path / "extra" / "r.json")
    assert sorted(p.name for p in paths) == ["calm.html", "calm.json", "calm.md", "r.json"]
    assert (tmp_path / "out" / "calm.json").read_bytes() == (tmp_path / "extra" / "r.json").read_bytes()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in paths)  # like any file, not mkstemp's 0600


def test_html_is_self_contained_with_plots(result: CompareResult) -> None:
    page = render_html(result)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert [alt for alt, _ in images] == ["Price, oracle and liquidations", "Bad debt over time",
                                          "Bad debt and borrower loss", "Fill discounts", "Time to liquidate"]
    assert all(len(data) > 1000 for _, data in images)
    assert not re.search(r"(?i)(https?:|//[a-z0-9.-]+\.[a-z]{2,}/|<script|<link|@import|url\()", page)
    assert "| bad_debt" not in page and "<td>bad_debt</td>" in page


def test_html_for_ipv_shows_theory_plot() -> None:
    s = scenario_from_toml(IPV, label="ipv")
    page = render_html(compare(s, ["dutch", "fixed"], 2, workers=1, runner=fake_run_one, progress=False))
    assert 'alt="Revenue against theory"' in page and "revenue_per_lot (theory)" in page


def test_first_seed_plots_rendered_early_make_the_same_page(calm: Scenario) -> None:
    """The plots ``EarlyPlots`` renders from the first seed's runs, while the other runs go on, are the ones
    the page would draw from the whole comparison: the page is the same, byte for byte."""
    early = EarlyPlots()
    result = compare(calm, design_names("vault"), 3, workers=1, runner=fake_run_one, progress=False,
                     on_first_seed=early.start)
    rendered = early.rendered()
    assert set(rendered) == {"Price, oracle and liquidations", "Open interest, insurance fund and ADL"}
    assert rendered["Price, oracle and liquidations"] and rendered["Open interest, insurance fund and ADL"] is None
    assert render_html(result, rendered) == render_html(result)




FORK_PROBE = """
import os, pickle
import auction.compare.html as html
from auction.compare.html import render_html
from auction.compare.sweep import compare
from auction.designs import names
from auction.scenario.load import scenario_from_toml
from tests.test_compare_sweep import fake_run_one

GBM = "name = 'calm'\\n[prices]\\nsource = 'gbm'\\n[[keepers]]\\nstrategy = 'universal'\\n"
result = compare(scenario_from_toml(GBM, label="calm"), names("vault"), 3, workers=1, runner=fake_run_one,
                 progress=False)
forks = []
real_fork = os.fork
os.fork = lambda: forks.append(1) or real_fork()
may = html._may_fork()
split = render_html(result)
html._may_fork = lambda: False
serial = render_html(result)
html._may_fork = lambda: True
pickle.dumps = lambda *a, **k: 1 / 0  # the child cannot send: it exits 1, the parent renders its plots
failed = render_html(result)
print(may, forks, split == serial, failed == serial)
"""


def test_plots_rendered_half_in_a_forked_child_make_the_same_page(tmp_path: Path) -> None:
    """The page renders half its plots in a forked copy of the process when no other thread runs; it is the
    page rendered all here, byte for byte. A child that fails leaves its plots to the parent. In a fresh
    interpreter: this one may run other threads, and then ``_may_fork`` rightly refuses."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this system")
    script = tmp_path / "probe.py"
    script.write_text(FORK_PROBE)
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(script)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                         capture_output=True, text=True, timeout=300, check=True)
    assert run.stdout.split() == ["True", "[1,", "1]", "True", "True"], run.stdout + run.stderr
