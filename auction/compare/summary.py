"""What every report shows the same way: metrics per design with intervals, and how numbers are written.

The JSON, Markdown, terminal and HTML reports all read these, so a metric means one thing everywhere.
"""

from __future__ import annotations

from auction.compare.stats import Interval, mean_ci95
from auction.compare.sweep import CompareResult
from auction.compare.theory import theory
from auction.run.result import METRICS, RunResult

# The rows the terminal and Markdown show first; every other metric follows.
HEADLINE = ("bad_debt", "bad_debt_ratio", "borrower_loss", "keeper_profit", "protocol_revenue", "zero_bid_fills",
            "price_discount_mean", "time_to_liquidate_s_median", "auctions", "unsold_lots", "strategy_errors")


def run_metrics(result: RunResult) -> dict[str, float]:
    """A run's metrics with its extras (e.g. revenue_per_lot) folded in."""
    return {**result.metrics, **result.extra}


def metric_names(result: CompareResult) -> list[str]:
    """METRICS in their order, then any other metric or extra any run reported, sorted."""
    seen = {k for run in result.runs for k in run_metrics(run.result)}
    return [m for m in METRICS if m in seen] + sorted(seen - set(METRICS))


def summarize(result: CompareResult) -> dict[str, dict[str, Interval]]:
    """Mean and 95% interval over seeds, per variant and metric."""
    names = metric_names(result)
    out: dict[str, dict[str, Interval]] = {}
    for variant in result.variants:
        rows = [run_metrics(r.result) for r in result.runs_of(variant)]
        out[variant.label] = {m: mean_ci95(row[m] for row in rows if m in row) for m in names}
    return out


def theory_of(result: CompareResult) -> dict[str, dict[str, float]] | None:
    if result.scenario.ipv is None:
        return None
    return theory(result.scenario, result.designs)


def fmt(x: float | None) -> str:
    """A number for people: thousands separators for big ones, 4 significant digits for small ones."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.4g}"


def at_precision_of(x: float, shown: str) -> str:
    """``x`` with as many decimals as ``shown`` (a number as ``fmt`` writes it), so an interval is written no
    finer than its mean: 0.0755 with a half-width of 0.006498 -> ``0.0065``; 3,314,729 with 12,345.6 ->
    ``12,346``; a mean in exponent form keeps two significant digits."""
    if shown == "0":  # an exact zero mean says nothing of the precision
        return fmt(x)
    if "e" in shown:
        return f"{x:.1e}"
    text = f"{x:,.{len(shown.partition('.')[2])}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.000"


def cell(iv: Interval) -> str:
    """``mean [lo, hi]``, the bounds at the mean's precision (Markdown and HTML)."""
    if iv.mean is None or iv.lo is None or iv.hi is None:
        return "-"
    if iv.lo == iv.hi:
        return fmt(iv.mean)
    shown = fmt(iv.mean)
    return f"{shown} [{at_precision_of(iv.lo, shown)}, {at_precision_of(iv.hi, shown)}]"


def short_cell(iv: Interval) -> str:
    """``mean ±half-width`` (the t interval is symmetric), the half-width at the mean's precision: compact
    enough for a terminal."""
    if iv.mean is None or iv.lo is None or iv.hi is None:
        return "-"
    if iv.lo == iv.hi:
        return fmt(iv.mean)
    shown = fmt(iv.mean)
    return f"{shown} ±{at_precision_of((iv.hi - iv.lo) / 2, shown)}"


def ordered_metrics(names: list[str]) -> list[str]:
    return [m for m in HEADLINE if m in names] + [m for m in names if m not in HEADLINE]
