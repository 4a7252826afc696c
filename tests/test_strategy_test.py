"""``liqnet strategy-test``: a user's strategy against the built-in population, P&L checked on the ledger."""

from __future__ import annotations

import json
from pathlib import Path

from auction import units
from auction.cli import main
from auction.compare.strategy_test import run_seed, strategy_test, with_candidate
from auction.scenario.load import load_scenario
from auction.sim.engine import simulate

SPEC = str(Path(__file__).with_name("strategies") / "greedy.py") + ":Greedy"


def test_candidate_pnl_matches_the_ledger_and_its_own_books() -> None:
    scenario = with_candidate(load_scenario("black-thursday"), SPEC, 250_000.0, {"discount": 0.02})
    sim = simulate(scenario, "dutch", 3, accounts=300)
    keeper = list(sim.agents)[-1]
    agent = sim.agents[keeper]
    fills = [f for s in sim.house.sales.values() for f in s.fills if f.who == keeper]
    won = {s.id for s in sim.house.sales.values() if any(f.who == keeper for f in s.fills)}
    assert fills, "the candidate should win something on Black Thursday"
    ledger_pnl = sim.ledger.escrow(keeper) - agent.capital
    t = sim.ledger.totals.by_keeper[keeper]
    # Every unit accounted for: resale proceeds - collateral paid - gas + incentives - forfeits.
    assert ledger_pnl == t["proceeds"] - t["paid"] - t["gas"] + t["incentives"] - t["forfeits"]
    assert t["paid"] == sum(f.cost for f in fills)
    # The keeper's own books (its estimates of gas and resale) stay close to the ledger's truth.
    assert abs(agent.pnl - ledger_pnl) <= 0.05 * t["paid"]
    rows = run_seed(scenario, "dutch", 3, accounts=300)
    you = rows[-1]
    assert you.group == "you" and you.won == len(won)
    assert you.pnl == units.num_f(ledger_pnl)
    assert you.volume == units.num_f(sum(f.cost for f in fills))


def test_report_is_deterministic_and_cli_writes_json(tmp_path: Path, capsys: object) -> None:
    a = strategy_test("black-thursday", SPEC, design="dutch", seeds=2, accounts=200)
    b = strategy_test("black-thursday", SPEC, design="dutch", seeds=2, accounts=200)
    assert a == b and a.pop("first_error") == ""
    assert a["decisions"]["made"] > 0 and a["decisions"]["failed"] == 0
    assert next(iter(a["rows"])) == "you"
    out = tmp_path / "st.json"
    code = main(["strategy-test", "--strategy", SPEC, "--seeds", "2", "--accounts", "200", "--json", str(out)])
    assert code == 0
    assert json.loads(out.read_text())["rows"] == a["rows"]


def test_bad_strategy_is_one_line_exit_2(capsys: object) -> None:
    code = main(["strategy-test", "--strategy", "tests/nope.py:Nothing", "--seeds", "1"])
    assert code == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and "liqnet: error:" in err
