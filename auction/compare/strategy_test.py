"""``liqnet strategy-test``: a strategy against the built-in population, in the simulator, over seeds.

The strategy under test joins the scenario's keeper population as one more keeper (id ``...-you``
in the table) with its own capital; every seed is one full deterministic simulation. Per keeper, from
the ledger after the run (the ledger, not the keeper's own books, is the truth):

- ``won``: auctions in which the keeper bought collateral; ``volume``: numeraire it paid for collateral;
- ``pnl``: final escrowed balance minus the capital it started with (resale proceeds, costs, gas,
  incentives, forfeits: everything); ``roc``: pnl / capital;
- ``errors``: calls of the strategy that raised or returned an invalid decision (the first one's traceback is
  printed once; the command exits 1 when every decision of the strategy under test failed).

Rows are grouped by strategy (the built-ins summed over their members), with a 95% interval over seeds.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from auction import designs as registry
from auction import units
from auction.compare.stats import Interval, mean_ci95
from auction.errors import ConfigError
from auction.scenario.load import KeeperSpec, Scenario, load_scenario
from auction.sim.engine import simulate
from keepers.loader import check_keepers, load_strategy

YOU = "you"
COLUMNS = ("won", "volume", "pnl", "roc", "errors")


@dataclass(frozen=True, slots=True)
class KeeperRun:
    keeper: str
    group: str
    won: int
    volume: float  # USD paid for collateral
    pnl: float  # USD
    capital: float  # USD
    errors: int = 0  # strategy calls that raised or returned an invalid decision
    decisions: int = 0  # on_auction calls
    failed_decisions: int = 0
    first_error: str = field(default="", compare=False, repr=False)  # never in the JSON (it holds paths)

    @property
    def roc(self) -> float:
        return self.pnl / self.capital if self.capital else 0.0


def with_candidate(scenario: Scenario, spec: str, capital: float, config: dict[str, Any]) -> Scenario:
    """The scenario with the strategy under test added as one more keeper."""
    load_strategy(spec, config)  # fail early, with the loader's one-line error
    you = KeeperSpec(strategy=spec, count=1, capital=capital, latency_s=1.0, config=config)
    return msgspec.structs.replace(scenario, keepers=(*scenario.keepers, you))


def run_seed(scenario: Scenario, design: str, seed: int, accounts: int | None = None) -> list[KeeperRun]:
    """One simulation; one row per keeper. The last keeper of the population is the candidate."""
    sim = simulate(scenario, design, seed, accounts)
    won: dict[str, set[int]] = defaultdict(set)
    paid: dict[str, int] = defaultdict(int)
    for sale in sim.house.sales.values():
        for fill in sale.fills:
            won[fill.who].add(sale.id)
            paid[fill.who] += fill.cost
    ids = list(sim.agents)
    rows = []
    for n, (keeper, agent) in enumerate(sim.agents.items()):
        group = YOU if n == len(ids) - 1 else agent.strategy.label
        pnl = sim.ledger.escrow(keeper) - agent.capital
        f = agent.failures
        rows.append(KeeperRun(keeper, group, len(won[keeper]), units.num_f(paid[keeper]), units.num_f(pnl),
                              units.num_f(agent.capital), f.count, f.decisions, f.failed_decisions, f.first))
    return rows


def strategy_test(scenario_name: str, spec: str, *, design: str | None = None, seeds: int = 4,
                  capital: float = 1e6, config: dict[str, Any] | None = None,
                  accounts: int | None = None) -> dict[str, Any]:
    """Run the candidate over ``seeds`` seeds; the report (what ``--json`` writes, less ``first_error``: the
    candidate's first strategy failure with its traceback, "" if none, which holds install paths).

    ``design``: by default the first design for the scenario's accounts that keepers act in (dutch, or perp-dutch
    for positions: perp-market closes positions without keepers).
    """
    if design is not None:
        registry.get(design)
    loaded = load_scenario(scenario_name)
    acted = [n for n in registry.names(loaded.book) if registry.get(n).gas] or list(registry.names(loaded.book))
    design = registry.check_book(design or acted[0], loaded.book, loaded.name).name
    check_keepers(loaded)
    scenario = with_candidate(loaded, spec, capital, dict(config or {}))
    per_seed = [run_seed(scenario, design, scenario.seed_base + s, accounts) for s in range(seeds)]
    yours = [rows[-1] for rows in per_seed]
    return {
        "schema": "liqnet.strategy-test/1",
        "scenario": scenario.name,
        "design": design,
        "strategy": spec,
        "seeds": seeds,
        "rows": summarize(per_seed),
        "runs": [[{k: v for k, v in dataclasses.asdict(r).items() if k != "first_error"} for r in rows]
                 for rows in per_seed],
        "decisions": {"made": sum(r.decisions for r in yours), "failed": sum(r.failed_decisions for r in yours)},
        "first_error": next((r.first_error for r in yours if r.first_error), ""),
    }


def summarize(per_seed: list[list[KeeperRun]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per group and column: mean and 95% interval over seeds (a group's members summed within a seed)."""
    totals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rows in per_seed:
        by_group: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in rows:
            g = by_group[r.group]
            g["won"] += r.won
            g["volume"] += r.volume
            g["pnl"] += r.pnl
            g["capital"] += r.capital
            g["errors"] += r.errors
        for group, g in by_group.items():
            for col in ("won", "volume", "pnl", "errors"):
                totals[group][col].append(g[col])
            totals[group]["roc"].append(g["pnl"] / g["capital"] if g["capital"] else 0.0)
    order = [YOU, *sorted(k for k in totals if k != YOU)]
    return {group: {col: _interval(mean_ci95(totals[group][col])) for col in COLUMNS} for group in order}


def print_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    from auction.compare.report import stdout_console

    table = Table(title=f"{report['strategy']} on {report['scenario']} / {report['design']}, "
                        f"{report['seeds']} seeds (mean [95% interval])")
    table.add_column("keeper")
    for label in ("auctions won", "volume (USD)", "P&L (USD)", "return on capital", "strategy errors"):
        table.add_column(label, justify="right")
    for group, cols in report["rows"].items():
        table.add_row(group, *(_cell(cols[c], pct=c == "roc") for c in COLUMNS))
    stdout_console().print(table)


def strategy_test_command(scenario: str, spec: str, *, design: str | None, seeds: int, capital: float,
                          config: str | None, accounts: int | None, json_path: str | None) -> int:
    try:
        cfg = json.loads(config) if config else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise ConfigError("--config must be a JSON object, e.g. '{\"margin\": 0.05}'")
    report = strategy_test(scenario, spec, design=design, seeds=seeds, capital=capital, config=cfg,
                           accounts=accounts)
    first_error = report.pop("first_error")
    print_table(report)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    made, failed = report["decisions"]["made"], report["decisions"]["failed"]
    if first_error:
        print(f"liqnet: {spec}: {failed:,} of {made:,} decisions failed; the first: {first_error}", file=sys.stderr)
    if made and failed == made:
        print(f"liqnet: error: every decision of {spec} failed ({made:,} of {made:,}): fix the error above",
              file=sys.stderr)
        return 1
    return 0


def _interval(iv: Interval) -> dict[str, Any]:
    return {"mean": iv.mean, "ci95": [iv.lo, iv.hi]}


def _cell(v: dict[str, Any], *, pct: bool) -> str:
    mean, (lo, hi) = v["mean"], v["ci95"]
    if mean is None:
        return "-"
    if pct:
        return f"{mean:.2%} [{lo:.2%}, {hi:.2%}]"
    return f"{mean:,.0f} [{lo:,.0f}, {hi:,.0f}]"
