"""The HTML report as a designer sees it, in headless Chromium at 1280 px: the whole summary table on the
page (no horizontal overflow, nothing scrolled inside), every plot loaded; and what the page says: UTC and
USD, one panel of liquidations per design, bad debt over time, durations in the table's seconds."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auction.compare import plots
from auction.compare.html import render_html
from auction.compare.sweep import compare
from auction.designs import names as design_names
from auction.scenario.load import load_scenario, scenario_from_toml
from tests.test_compare_sweep import GBM, fake_run_one

WIDTH = 1280
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync")
PROBE = """<script>
window.addEventListener("load", () => {
  const wide = document.querySelector(".wide");
  document.body.setAttribute("data-check", JSON.stringify({
    page: document.documentElement.scrollWidth,
    table: wide.scrollWidth - wide.clientWidth,
    images: [...document.images].map(i => i.complete ? i.naturalWidth : 0),
  }));
});
</script></body>"""


def measure(page: str, tmp_path: Path) -> dict[str, Any]:
    """Load ``page`` (plus a probe script) at 1280 px wide; what the probe measured."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", PROBE))
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},900",
         "--virtual-time-budget=10000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'data-check="([^"]*)"', dom)
    assert found, dom[:500]
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def test_five_designs_fit_1280_px_and_every_plot_loads(tmp_path: Path) -> None:
    result = compare(load_scenario("black-thursday"), design_names("vault"), 3, workers=1, runner=fake_run_one,
                     progress=False)
    seen = measure(render_html(result), tmp_path)
    assert seen["page"] <= WIDTH and seen["table"] <= 0, seen
    assert len(seen["images"]) == 5 and all(w > 0 for w in seen["images"]), seen


def test_a_grid_of_long_labels_still_fits(tmp_path: Path) -> None:
    grid = {"dutch.buf": [1.1, 1.2, 1.3], "dutch.step": [30, 90]}
    result = compare(scenario_from_toml(GBM, label="calm"), ["dutch", "fixed"], 2, workers=1, grid=grid,
                     runner=fake_run_one, progress=False)
    assert len(result.variants) == 7
    seen = measure(render_html(result), tmp_path)
    assert seen["page"] <= WIDTH and seen["table"] <= 0, seen


def test_the_page_speaks_utc_usd_and_seconds() -> None:
    result = compare(load_scenario("black-thursday"), ["dutch", "english"], 2, workers=1, runner=fake_run_one,
                     progress=False)
    page = render_html(result)
    assert "numeraire" not in page and "Money in USD" in page and "durations in seconds" in page
    assert "times of day in UTC (the price data starts 2020-03-12 00:00 UTC)" in page
    assert 'alt="Bad debt over time"' in page
    synthetic = compare(scenario_from_toml(GBM, label="calm"), ["dutch"], 1, workers=1, runner=_undated,
                        progress=False)
    assert "hours from the start (synthetic prices have no date)" in render_html(synthetic)


def test_liquidations_are_one_panel_per_design_and_durations_in_seconds() -> None:
    result = compare(load_scenario("black-thursday"), ["dutch", "english", "fixed"], 2, workers=1,
                     runner=fake_run_one, progress=False)
    captured: dict[str, Any] = {}
    real_png = plots._png

    def keep(fig: Any) -> bytes:
        captured["fig"] = fig
        return real_png(fig)

    plots._png = keep  # type: ignore[assignment]
    try:
        plots.price_oracle(result)
        panels = captured["fig"].axes
        assert [ax.get_title(loc="left").split(":")[0] for ax in panels] == ["dutch", "english", "fixed"]
        assert panels[-1].get_xlabel() == "time (UTC)"
        plots.time_to_liquidate(result)
        (ax, *_) = captured["fig"].axes
        assert ax.get_ylabel() == "seconds from kick to close"
        data = sorted(t for r in result.runs for t in r.result.series.times_to_liquidate)
        assert max(max(line.get_ydata(), default=0) for line in ax.lines) == pytest.approx(data[-1])
        plots.bad_debt_over_time(result)
        (ax,) = [a for a in captured["fig"].axes if a.get_ylabel()]
        assert ax.get_ylabel() == "cumulative bad debt (USD)" and ax.get_xlabel() == "time (UTC)"
    finally:
        plots._png = real_png  # type: ignore[assignment]


def _undated(scenario: Any, design: str, seed: int) -> Any:
    result = fake_run_one(scenario, design, seed)
    result.records.t0_unix = None
    return result
