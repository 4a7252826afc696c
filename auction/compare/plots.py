"""The report's plots, as PNG bytes (matplotlib's Agg canvas through ``Figure``: no pyplot, no global state).

Each function returns None when the comparison has nothing to draw for it (e.g. no fills). Money is in USD;
times over the day are UTC when the prices are real data (the price file's first ``unix_ts`` is t = 0) and
hours from the start for synthetic prices, which have no date; durations are in seconds, as in the table.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from auction.compare.summary import summarize, theory_of
from auction.compare.sweep import CompareResult, Run

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
_MARKERS = ("v", "o", "s", "D", "^", "P", "X", "*", "<")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    return buf.getvalue()


def _first_runs(result: CompareResult) -> list[Run]:
    """Each variant's run at the first seed: one market path, each design's liquidations on it."""
    seed = result.seeds[0]
    return [r for r in result.runs if r.seed == seed]


def _t0(result: CompareResult) -> int | None:
    """Unix time of t = 0 when the prices are dated (real data), else None."""
    return result.runs[0].result.records.t0_unix if result.runs else None


def _times(t0: int | None, seconds: Sequence[float]) -> list[Any]:
    """Seconds from the start as what the x axis shows: UTC datetimes, or hours for synthetic prices."""
    if t0 is None:
        return [t / 3600 for t in seconds]
    return [datetime.fromtimestamp(t0 + t, UTC) for t in seconds]


def _time_axis(ax: Axes, t0: int | None, *, label: bool = True) -> None:
    if t0 is None:
        if label:
            ax.set_xlabel("hours from the start (synthetic prices have no date)")
        return
    ax.xaxis.set_major_locator(AutoDateLocator(tz=UTC, maxticks=10))
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M", tz=UTC))
    if label:
        ax.set_xlabel("time (UTC)")


def _to_hours(seconds: Any) -> Any:
    return seconds / 3600


def _to_seconds(hours: Any) -> Any:
    return hours * 3600


def _usd(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def price_oracle(result: CompareResult) -> bytes | None:
    """Market price and oracle (step) over time with each design's liquidation kicks, first seed: one panel per
    design (small multiples), so no design's markers hide another's."""
    runs = _first_runs(result)
    if not runs or not runs[0].result.series.times:
        return None
    s, t0 = runs[0].result.series, _t0(result)
    fig = Figure(figsize=(11, 0.6 + 1.7 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, run) in enumerate(zip(axes, runs, strict=True)):
        ax.plot(_times(t0, s.times), s.market, color="black", lw=1.1, label="market")
        if s.oracle_times:
            ax.step(_times(t0, s.oracle_times), s.oracle, where="post", color="#888", lw=1.1, ls="--", label="oracle")
        kicks = run.result.series.liquidations
        if kicks:
            ax.scatter(_times(t0, [t for t, _ in kicks]), [p for _, p in kicks], s=12, alpha=0.6, zorder=3,
                       color=_COLORS[i % len(_COLORS)], marker=_MARKERS[i % len(_MARKERS)], label="liquidation kicks")
        ax.set_title(f"{run.variant.label}: {len(kicks):,} liquidations", fontsize=9, loc="left")
        ax.set_ylabel("USD per token", fontsize=8)
        ax.grid(alpha=0.3)
        _time_axis(ax, t0, label=ax is axes[-1])
    axes[0].legend(fontsize=8, loc="upper right", ncols=3)
    fig.suptitle(f"{result.scenario.name}: market price, oracle and liquidations (seed {result.seeds[0]})",
                 fontsize=10)
    return _png(fig)


def bad_debt_over_time(result: CompareResult) -> bytes | None:
    """Cumulative bad debt over time per design: every seed (thin), the first seed (thick)."""
    series = [(i, r) for i, v in enumerate(result.variants) for r in result.runs_of(v)
              if r.result.records.series.get("bad_debt_usd")]
    if not series:
        return None
    t0 = _t0(result)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for i, run in series:
        cols = run.result.records.series
        first = run.seed == result.seeds[0]
        ax.step(_times(t0, cols["time_s"]), cols["bad_debt_usd"], where="post", color=_COLORS[i % len(_COLORS)],
                lw=2.0 if first else 0.8, alpha=1.0 if first else 0.35,
                label=f"{run.variant.label} (final {cols['bad_debt_usd'][-1]:,.0f})" if first else None)
    _time_axis(ax, t0)
    ax.set_ylabel("cumulative bad debt (USD)")
    _usd(ax)
    ax.set_title(f"bad debt over time per design (thick: seed {result.seeds[0]}; thin: the other seeds)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def losses(result: CompareResult) -> bytes | None:
    """Bad debt and borrower loss per design: mean with 95% interval over seeds."""
    summary = summarize(result)
    labels = [v.label for v in result.variants]
    metrics = [m for m in ("bad_debt", "borrower_loss") if any(m in summary[label] for label in labels)]
    if not metrics:
        return None
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(metrics)
    for j, m in enumerate(metrics):
        means: list[float] = []
        errs: list[list[float]] = [[], []]
        for label in labels:
            iv = summary[label].get(m)
            mean = iv.mean if iv is not None and iv.mean is not None else 0.0
            means.append(mean)
            errs[0].append(mean - (iv.lo if iv is not None and iv.lo is not None else mean))
            errs[1].append((iv.hi if iv is not None and iv.hi is not None else mean) - mean)
        xs = [i + (j - (len(metrics) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, means, width, yerr=errs, capsize=4, color=_COLORS[j], label=m)
    ax.set_xticks(range(len(labels)), labels, rotation=15 if len(labels) > 5 else 0, fontsize=8)
    ax.set_ylabel("USD")
    _usd(ax)
    ax.set_title("bad debt and borrower loss per design (mean, 95% interval over seeds)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def discounts(result: CompareResult) -> bytes | None:
    """Distribution of fill discounts (1 - fill price / market price), pooled over seeds."""
    pooled = {v.label: [d for r in result.runs_of(v) for d in r.result.series.discounts if math.isfinite(d)]
              for v in result.variants}
    pooled = {k: v for k, v in pooled.items() if v}
    if not pooled:
        return None
    lo = min(min(v) for v in pooled.values())
    hi = max(max(v) for v in pooled.values())
    bins = 40 if hi > lo else 1
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, values) in enumerate(pooled.items()):
        ax.hist([100 * d for d in values], bins=bins, range=(100 * lo, 100 * hi if hi > lo else 100 * lo + 1),
                histtype="step", lw=1.6, color=_COLORS[i % len(_COLORS)], label=f"{label} ({len(values)} fills)")
    ax.set_xlabel("discount to market at the fill (%)")
    ax.set_ylabel("fills")
    ax.set_title("fill discounts, all seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def time_to_liquidate(result: CompareResult) -> bytes | None:
    """Time from kick to close, per design, pooled over seeds (box plot, seconds as in the table's
    time_to_liquidate_s_*; hours on the right axis)."""
    data = [(v.label, [t for r in result.runs_of(v) for t in r.result.series.times_to_liquidate
                       if math.isfinite(t)]) for v in result.variants]
    data = [(label, values) for label, values in data if values]
    if not data:
        return None
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.boxplot([values for _, values in data], tick_labels=[label for label, _ in data], showfliers=True)
    ax.set_ylabel("seconds from kick to close")
    _usd(ax)  # thousands separators, like the table
    right = ax.secondary_yaxis("right", functions=(_to_hours, _to_seconds))
    right.set_ylabel("hours")
    ax.set_title("time to liquidate (the table's time_to_liquidate_s_median and _p95), all seeds")
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def ipv_revenue(result: CompareResult) -> bytes | None:
    """Simulated revenue per lot (95% interval) next to the theoretical value, per design."""
    th = theory_of(result)
    if th is None:
        return None
    summary = summarize(result)
    labels = [v.label for v in result.variants]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for i, v in enumerate(result.variants):
        iv = summary[v.label].get("revenue_per_lot")
        if iv is not None and iv.mean is not None and iv.lo is not None and iv.hi is not None:
            ax.bar(i, iv.mean, 0.6, yerr=[[iv.mean - iv.lo], [iv.hi - iv.mean]], capsize=4, color=_COLORS[0],
                   label="simulated" if i == 0 else None)
        ax.hlines(th["revenue_per_lot"][v.design], i - 0.4, i + 0.4, colors="black", lw=2,
                  label="theory" if i == 0 else "_nolegend_")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("revenue per lot (USD)")
    ax.set_title("independent private values: simulated vs theory")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def perp_over_time(result: CompareResult) -> bytes | None:
    """Perp runs: open interest, the insurance fund and cumulative ADL over time per design, first seed."""
    runs = [r for r in _first_runs(result) if r.result.records.perp]
    if not runs:
        return None
    t0 = _t0(result)
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    panels = (("open_interest", "open interest (tokens long)"), ("insurance_usd", "insurance fund (USD)"),
              ("adl_count", "ADL fills (cumulative)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        for i, run in enumerate(runs):
            cols = run.result.records.perp
            ax.step(_times(t0, cols["time_s"]), cols[column], where="post", color=_COLORS[i % len(_COLORS)],
                    lw=1.4, label=run.variant.label)
        ax.set_ylabel(label, fontsize=8)
        _usd(ax)
        ax.grid(alpha=0.3)
        _time_axis(ax, t0, label=ax is axes[-1])
    axes[0].legend(fontsize=8, loc="upper right", ncols=3)
    fig.suptitle(f"{result.scenario.name}: open interest, insurance fund and ADL (seed {result.seeds[0]})",
                 fontsize=10)
    return _png(fig)


ALL = (
    ("Price, oracle and liquidations", price_oracle),
    ("Bad debt over time", bad_debt_over_time),
    ("Bad debt and borrower loss", losses),
    ("Fill discounts", discounts),
    ("Time to liquidate", time_to_liquidate),
    ("Revenue against theory", ipv_revenue),
    ("Open interest, insurance fund and ADL", perp_over_time),
)

# The plots drawn from the runs at the first seed alone (and the comparison's name and seeds): given a
# comparison of just those runs, they draw the same figure as from the whole comparison.
FIRST_SEED = (price_oracle, perp_over_time)
