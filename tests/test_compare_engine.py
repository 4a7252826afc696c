"""The comparison on the real simulator (auction.sim.engine.run_one): determinism, identities, theory."""

from __future__ import annotations

import pytest

from auction.compare.report import dumps_json, identity_violations, report_dict
from auction.compare.sweep import compare
from auction.designs import names as design_names
from auction.scenario.load import load_scenario


def test_same_seeds_same_bytes_and_identities_hold() -> None:
    s = load_scenario("jump-crash")
    first = compare(s, design_names("vault"), 2, workers=1, accounts=200, progress=False)
    second = compare(s, design_names("vault"), 2, workers=2, accounts=200, progress=False)
    assert dumps_json(first).encode() == dumps_json(second).encode()
    for run in first.runs:
        assert identity_violations(run.result) == [], (run.variant.label, run.seed)
        assert run.result.exact, "the simulator reports its integer ledger figures"


def test_black_thursday_runs_every_design() -> None:
    s = load_scenario("black-thursday")
    doc = report_dict(compare(s, design_names("vault"), 1, workers=1, accounts=300, progress=False))
    assert set(doc["summary"]) == set(design_names("vault"))
    assert all(doc["summary"][d]["auctions"]["mean"] > 0 for d in design_names("vault"))


@pytest.mark.slow
def test_textbook_ipv_matches_revenue_equivalence() -> None:
    s = load_scenario("textbook-ipv")  # 1000 lots of Latin-hypercube values: ~0.5% noise
    doc = report_dict(compare(s, design_names("vault"), 1, workers=2, progress=False))
    for design in design_names("vault"):
        simulated = doc["summary"][design]["revenue_per_lot"]["mean"]
        theory = doc["theory"]["revenue_per_lot"][design]
        assert simulated == pytest.approx(theory, rel=0.02), design
