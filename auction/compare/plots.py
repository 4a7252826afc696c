"""The report's plots, as PNG bytes (matplotlib's Agg canvas through ``Figure``: no pyplot, no global state).

Each function returns None when the comparison has nothing to draw for it (e.g. no fills).
"""

from __future__ import annotations

import io
import math

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


def price_oracle(result: CompareResult) -> bytes | None:
    """Market price and oracle (step) over time, with each design's liquidation kicks, first seed."""
    runs = _first_runs(result)
    if not runs or not runs[0].result.series.times:
        return None
    s = runs[0].result.series
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([t / 3600 for t in s.times], s.market, color="black", lw=1.3, label="market")
    if s.oracle_times:
        ax.step([t / 3600 for t in s.oracle_times], s.oracle, where="post", color="#888", lw=1.3, ls="--",
                label="oracle")
    for i, run in enumerate(runs):
        kicks = run.result.series.liquidations
        if kicks:
            ax.scatter([t / 3600 for t, _ in kicks], [p for _, p in kicks], s=14, alpha=0.7,
                       color=_COLORS[i % len(_COLORS)], marker=_MARKERS[i % len(_MARKERS)],
                       label=f"{run.variant.label} kicks ({len(kicks)})")
    ax.set_xlabel("hours from start")
    ax.set_ylabel("price (numeraire per token)")
    ax.set_title(f"{result.scenario.name}: price, oracle and liquidations (seed {result.seeds[0]})")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return _png(fig)


def losses(result: CompareResult) -> bytes | None:
    """Bad debt and borrower loss per design: mean with 95% interval over seeds."""
    summary = summarize(result)
    labels = [v.label for v in result.variants]
    metrics = [m for m in ("bad_debt", "borrower_loss") if any(m in summary[label] for label in labels)]
    if not metrics:
        return None
    fig = Figure(figsize=(9, 4.2), layout="constrained")
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
    ax.set_ylabel("numeraire")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
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
    fig = Figure(figsize=(9, 4.2), layout="constrained")
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
    """Time from kick to fully settled, per design, pooled over seeds (box plot, minutes)."""
    data = [(v.label, [t / 60 for r in result.runs_of(v) for t in r.result.series.times_to_liquidate
                       if math.isfinite(t)]) for v in result.variants]
    data = [(label, values) for label, values in data if values]
    if not data:
        return None
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.boxplot([values for _, values in data], tick_labels=[label for label, _ in data], showfliers=True)
    ax.set_ylabel("minutes from kick to settled")
    ax.set_title("time to liquidate, all seeds")
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
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for i, v in enumerate(result.variants):
        iv = summary[v.label].get("revenue_per_lot")
        if iv is not None and iv.mean is not None and iv.lo is not None and iv.hi is not None:
            ax.bar(i, iv.mean, 0.6, yerr=[[iv.mean - iv.lo], [iv.hi - iv.mean]], capsize=4, color=_COLORS[0],
                   label="simulated" if i == 0 else None)
        ax.hlines(th["revenue_per_lot"][v.design], i - 0.4, i + 0.4, colors="black", lw=2,
                  label="theory" if i == 0 else "_nolegend_")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("revenue per lot")
    ax.set_title("independent private values: simulated vs theory")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


ALL = (
    ("Price, oracle and liquidations", price_oracle),
    ("Bad debt and borrower loss", losses),
    ("Fill discounts", discounts),
    ("Time to liquidate", time_to_liquidate),
    ("Revenue against theory", ipv_revenue),
)
