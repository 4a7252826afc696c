"""A new design is one module and one registration: the test-only posted-price sale (tests/toy_design.py),
registered from here, runs through ``compare`` and ``strategy-test`` with no edit anywhere else."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from auction import designs
from auction.compare.report import report_dict
from auction.compare.strategy_test import strategy_test
from auction.compare.sweep import compare
from auction.scenario.load import scenario_from_toml, to_dict
from tests import toy_design

HERE = Path(__file__).parent

SCENARIO = textwrap.dedent("""
    name = "posted-ipv"
    description = "textbook-ipv lots sold at a posted price"
    [ipv]
    lots = 400
    bidders = {bidders}
    value_scale = 100.0
    [gas]
    source = "fixed"
    gwei = 1.0
    block_gas_limit = 1000000000
    [[keepers]]
    strategy = "tests.toy_design:Truthful"
    count = 4
    [designs.posted]
    discount = 0.4
    expiry_s = 600.0
""")


@pytest.fixture
def posted() -> Iterator[designs.Design]:
    with designs.registered(toy_design.DESIGN) as design:
        yield design
    assert "posted" not in designs.names()


def test_the_toy_design_runs_through_compare(posted: designs.Design) -> None:
    scenario = scenario_from_toml(SCENARIO.format(bidders=4), label="posted-ipv", base_dir=HERE.parent)
    assert scenario.design("posted").discount == 0.4 and to_dict(scenario)["designs"]["posted"]["expiry_s"] == 600
    doc = report_dict(compare(scenario, ("posted", "dutch"), 2, workers=1, progress=False))
    posted_row, dutch_row = doc["summary"]["posted"], doc["summary"]["dutch"]
    assert posted_row["auctions"]["mean"] == 400 and dutch_row["auctions"]["mean"] == 400
    # p = 100 * (1 - 0.4) = 60; sold when the best of 4 values U[0, 100] reaches 60: 60 * (1 - 0.6^4) = 52.2
    theory = doc["theory"]["revenue_per_lot"]["posted"]
    assert theory == pytest.approx(52.224)
    assert posted_row["revenue_per_lot"]["mean"] == pytest.approx(theory, rel=0.05)
    assert posted_row["bad_debt"]["mean"] > 0  # lots nobody values at 60 expire unsold


def test_the_toy_design_runs_through_strategy_test(posted: designs.Design) -> None:
    # A bundled scenario that never heard of the design: its table comes from the registry's defaults.
    report = strategy_test("gbm-calm", "tests.toy_design:Truthful", design="posted", seeds=2, config={},
                           accounts=300)
    you = report["rows"]["you"]
    assert report["design"] == "posted" and you["won"]["mean"] > 0 and you["volume"]["mean"] > 0


def test_an_unregistered_table_is_one_line_naming_the_key(tmp_path: Path) -> None:
    from auction.errors import ConfigError

    unknown = r"posted-ipv: \[designs.posted\]: unknown design table; allowed: dutch"
    with pytest.raises(ConfigError, match=unknown) as err:
        scenario_from_toml(SCENARIO.format(bidders=4), label="posted-ipv", base_dir=HERE.parent)
    assert "\n" not in str(err.value)
