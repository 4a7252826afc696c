"""Comparison reports: JSON (the machine-readable truth), Markdown, a terminal table, and the files on disk.

The JSON is deterministic: keys sorted, floats rounded to 12 significant digits (so the last bits of a
platform's libm cannot leak in), non-finite values as null, runs in planned order, and nothing that
depends on the clock or on which worker finished first. Same scenario and seeds -> byte-identical JSON.

Shape (``liqnet.compare/1``)::

    {"schema": "liqnet.compare/1", "mode": "sim", "scenario": {...}, "seeds": N, "designs": [...],
     "summary": {VARIANT: {METRIC: {"mean": x, "ci95": [lo, hi]}}},
     "runs": [{"design": D, "seed": S, "metrics": {...}}],
     "theory": {"revenue_per_lot": {DESIGN: x}}          # IPV scenarios only
     "prices_file": {"file", "sha256", "rows", "start_utc", "end_utc", "replaced": [...]}   # --prices only
     "exports": {"auctions": "NAME.auctions.parquet", "fills": ..., "series": ...}       # --export only
     "grid": {KEY: [values]}, "variants": [...]}         # parameter sweeps only; runs then carry
                                                          # "variant" and "params"
A VARIANT is the design name, or ``"dutch [dutch.buf=1.1]"`` at a grid point.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from auction.compare.summary import (
    cell,
    fmt,
    metric_names,
    ordered_metrics,
    run_metrics,
    short_cell,
    summarize,
    theory_of,
)
from auction.compare.sweep import CompareResult
from auction.run.result import RunResult
from auction.scenario import load as scenario_mod

SCHEMA = "liqnet.compare/1"


def report_dict(result: CompareResult) -> dict[str, Any]:
    """The JSON report as plain data (see the module docstring)."""
    gridded = bool(result.grid)
    summary = {
        label: {m: {"mean": _num(iv.mean), "ci95": [_num(iv.lo), _num(iv.hi)]} for m, iv in metrics.items()}
        for label, metrics in summarize(result).items()
    }
    runs = []
    for run in result.runs:
        entry: dict[str, Any] = {
            "design": run.variant.design,
            "seed": run.seed,
            "metrics": {k: _num(v) for k, v in run_metrics(run.result).items()},
        }
        if gridded:
            entry["variant"] = run.variant.label
            entry["params"] = {k: _plain(v) for k, v in run.variant.params}
        runs.append(entry)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": result.mode,
        "scenario": _plain(scenario_mod.to_dict(result.scenario)),
        "seeds": len(result.seeds),
        "designs": list(result.designs),
        "summary": summary,
        "runs": runs,
    }
    if result.prices_file is not None:
        out["prices_file"] = _plain(result.prices_file)
    if result.exports is not None:
        out["exports"] = dict(result.exports)
    if gridded:
        out["grid"] = {k: [_plain(v) for v in vs] for k, vs in result.grid.items()}
        out["variants"] = [v.label for v in result.variants]
    th = theory_of(result)
    if th is not None:
        out["theory"] = {k: {d: _num(x) for d, x in v.items()} for k, v in th.items()}
    return out


def dumps_json(result: CompareResult) -> str:
    return json.dumps(report_dict(result), sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def identity_violations(result: RunResult) -> list[str]:
    """The ledger identities that do not hold exactly in a run's integer figures (empty: all hold)."""
    e = result.exact
    problems = []
    if {"debt_liquidated", "debt_repaid", "bad_debt"} <= e.keys() and (
        e["debt_liquidated"] != e["debt_repaid"] + e["bad_debt"]
    ):
        problems.append(f"debt_liquidated {e['debt_liquidated']} != debt_repaid + bad_debt "
                        f"{e['debt_repaid'] + e['bad_debt']}")
    parts = ("collateral_sold", "collateral_returned", "collateral_unsold")
    if {"collateral_seized", *parts} <= e.keys() and e["collateral_seized"] != sum(e[p] for p in parts):
        problems.append(f"collateral_seized {e['collateral_seized']} != sold + returned + unsold "
                        f"{sum(e[p] for p in parts)}")
    return problems


# --- human-readable -----------------------------------------------------------------------------------


def markdown(result: CompareResult) -> str:
    s = result.scenario
    summary = summarize(result)
    labels = [v.label for v in result.variants]
    lines = [
        f"# liqnet compare: {s.name}",
        "",
        s.description,
        "",
        f"Mode {result.mode}; {len(result.seeds)} seeds ({_seed_text(result.seeds)}); mean and 95% interval "
        f"over seeds (Student t). Money in USD, collateral in tokens, times in seconds.",
        "",
        "| metric | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for m in ordered_metrics(metric_names(result)):
        lines.append(f"| {m} | " + " | ".join(cell(summary[label][m]) for label in labels) + " |")
    th = theory_of(result)
    if th is not None:
        lines += ["", "## Theory (independent private values)", "",
                  "| design | revenue_per_lot simulated | theory | difference |", "|---|---|---|---|"]
        for v in result.variants:
            sim = summary[v.label].get("revenue_per_lot")
            want = th["revenue_per_lot"][v.design]
            diff = "-" if sim is None or sim.mean is None or not want else f"{(sim.mean - want) / want:+.2%}"
            lines.append(f"| {v.label} | {cell(sim) if sim else '-'} | {fmt(want)} | {diff} |")
    return "\n".join(lines) + "\n"


def summary_table(result: CompareResult) -> Table:
    summary = summarize(result)
    table = Table(title=f"{result.scenario.name}: mean ±95% interval over {len(result.seeds)} seeds")
    table.add_column("metric", style="bold", no_wrap=True)
    for v in result.variants:
        table.add_column(v.label, justify="right")
    for m in ordered_metrics(metric_names(result)):
        table.add_row(m, *(short_cell(summary[v.label][m]) for v in result.variants))
    th = theory_of(result)
    if th is not None:
        table.add_row("revenue_per_lot (theory)", *(fmt(th["revenue_per_lot"][v.design]) for v in result.variants),
                      style="italic")
    return table


def print_summary(result: CompareResult, console: Console | None = None) -> None:
    (console or stdout_console()).print(summary_table(result))


PIPED_WIDTH = 10_000  # wider than any table: piped, a table keeps its own width


def stdout_console() -> Console:
    """A rich console on stdout. Piped to a file or a program, rich would cut tables to 80 columns and break
    numbers across lines; there a table keeps its natural width instead, one line per row."""
    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


# --- files --------------------------------------------------------------------------------------------


def _seed_text(seeds: tuple[int, ...]) -> str:
    if seeds == tuple(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _num(x: float | int | None) -> float | int | None:
    """A JSON-safe, platform-stable number: None for NaN/inf, floats to 12 significant digits."""
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, int):
        return x
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.12g}") + 0.0  # + 0.0 turns -0.0 into 0.0


def _plain(value: Any) -> Any:
    """Scenario data for JSON: floats through ``_num``, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return _num(value)
    return value

