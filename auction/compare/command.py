"""What `liqnet compare` and `liqnet scenarios` do, behind the CLI's argument parsing.

Everything the user gave is checked before the first run starts (scenario, designs, --set keys, the price
file), so a mistake costs one line and no half-written output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from auction import designs as registry
from auction.compare.export import check_export
from auction.compare.files import check_outputs, write_reports
from auction.compare.html import EarlyPlots, import_plots_in_background
from auction.compare.report import identity_violations, print_summary, stdout_console
from auction.compare.sweep import CompareResult, Runner, compare, parse_grid, usable_cores
from auction.scenario.custom_prices import with_custom_prices
from auction.scenario.load import Scenario, list_scenarios, load_scenario, with_overrides
from auction.scenario.tables import CsvPrices
from keepers.loader import check_keepers


def compare_command(
    scenario: str,
    *,
    prices: str | None = None,
    designs: str | None = None,
    seeds: int = 8,
    accounts: int | None = None,
    workers: int | None = None,
    out: str = "out",
    json_path: str | None = None,
    sets: Sequence[str] = (),
    executor: str = "process",
    export: str | None = None,
    progress: bool = True,
    log_level: str = "warning",
    console: Console | None = None,
    runner: Runner | None = None,
) -> int:
    """Run the comparison, write JSON/Markdown/HTML, print the summary table; 0 when all went well."""
    console = console or stdout_console()
    s = load_scenario(scenario)
    custom = None
    if prices is not None:
        s, custom = with_custom_prices(s, prices)
        for line in custom.replaced:
            print(f"liqnet: --prices {prices}: {line}", file=sys.stderr)
    chosen = registry.parse_designs(designs or ",".join(registry.names(s.book)))
    grid = parse_grid(sets)
    check_population(s, grid)
    check_outputs(out, json_path)
    check_export(export)
    if runner is None:
        preflight_prices(s)
    n_workers = workers or usable_cores()
    early = EarlyPlots() if n_workers > 1 else None  # the report's work done while the workers run
    if early is not None:
        import_plots_in_background()
    started = time.perf_counter()  # wall time for the terminal only; never in a report
    result = compare(s, chosen, seeds, workers=n_workers, accounts=accounts, grid=grid, executor=executor,
                     progress=progress, runner=runner, log_level=log_level,
                     on_first_seed=early.start if early is not None else None)
    wall = time.perf_counter() - started
    if custom is not None:
        result.prices_file = custom.to_dict()
    paths = write_reports(result, out, json_path, export, early.rendered() if early is not None else None)
    print_summary(result, console)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"{len(result.runs)} runs ({len(result.variants)} designs x {len(result.seeds)} seeds) in "
                  f"{wall:.1f} s with {min(n_workers, len(result.runs))} worker(s) ({executor})", highlight=False)
    report_strategy_errors(result)
    broken = [(run, problem) for run in result.runs for problem in identity_violations(run.result)]
    for run, problem in broken:
        print(f"liqnet: warning: {run.variant.label} seed {run.seed}: ledger identity broken: {problem}",
              file=sys.stderr)
    return 1 if broken else 0


def check_population(scenario: Scenario, grid: Mapping[str, Sequence[Any]]) -> None:
    """The keepers' built-in strategies and configs, in the scenario and at each --set keepers.* value."""
    check_keepers(scenario)
    for key, values in grid.items():
        if key.startswith("keepers."):
            for value in values:
                check_keepers(with_overrides(scenario, {key: value}))


def report_strategy_errors(result: CompareResult) -> None:
    """One warning for the whole comparison: how many strategy calls failed, and the first traceback."""
    failed = [run for run in result.runs if run.result.first_error]
    if not failed:
        return
    total = sum(run.result.metrics.get("strategy_errors", 0) for run in result.runs)
    first = failed[0]
    print(f"liqnet: warning: keeper strategies failed {total:,.0f} times in {len(failed)} of {len(result.runs)} "
          f"runs (strategy_errors in the table); the first, in {first.variant.label} seed {first.seed}, "
          f"{first.result.first_error}", file=sys.stderr)


def preflight_prices(scenario: Scenario) -> None:
    """Read the price file once up front, so a malformed CSV is one error, not one per worker."""
    if not isinstance(scenario.prices, CsvPrices):
        return
    try:
        from auction.models.prices import load_csv
    except ImportError:  # the price module is not there yet: the simulator will read the file
        return
    load_csv(scenario.csv_path, asset=scenario.prices.asset, column=scenario.prices.column,
             gas_column=scenario.gas.column)


def scenarios_command(console: Console | None = None) -> int:
    """Print the bundled scenarios with their descriptions."""
    table = Table("scenario", "description", title="bundled scenarios (liqnet compare --scenario NAME)")
    for name, description in list_scenarios():
        table.add_row(name, description)
    (console or stdout_console()).print(table)
    return 0
