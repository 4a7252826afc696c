"""One self-contained HTML page per comparison: inline CSS, plots as base64 PNG, no external resource."""

from __future__ import annotations

import base64
from html import escape

from auction.compare import plots
from auction.compare.summary import cell, fmt, metric_names, ordered_metrics, summarize, theory_of
from auction.compare.sweep import CompareResult

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
.meta { color: #555; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .7em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #888; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def render_html(result: CompareResult) -> str:
    s = result.scenario
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>liqnet compare: {escape(s.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>liqnet compare: {escape(s.name)}</h1>",
        f"<p>{escape(s.description)}</p>",
        f'<p class="meta">mode {escape(result.mode)}; {len(result.seeds)} seeds; designs '
        f"{escape(', '.join(result.designs))}; mean and 95% interval over seeds (Student t). Money in numeraire "
        "units, collateral in tokens, times in seconds.</p>",
        "<h2>Summary</h2>",
        _summary_table(result),
    ]
    for title, plot in plots.ALL:
        png = plot(result)
        if png is None:
            continue
        data = base64.b64encode(png).decode("ascii")
        parts += [f"<h2>{escape(title)}</h2>", f'<img alt="{escape(title)}" src="data:image/png;base64,{data}">']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _summary_table(result: CompareResult) -> str:
    summary = summarize(result)
    head = "".join(f"<th>{escape(v.label)}</th>" for v in result.variants)
    rows = [f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>"]
    for m in ordered_metrics(metric_names(result)):
        cells = "".join(f"<td>{escape(cell(summary[v.label][m]))}</td>" for v in result.variants)
        rows.append(f"<tr><td>{escape(m)}</td>{cells}</tr>")
    th = theory_of(result)
    if th is not None:
        cells = "".join(f"<td>{escape(fmt(th['revenue_per_lot'][v.design]))}</td>" for v in result.variants)
        rows.append(f"<tr><td><em>revenue_per_lot (theory)</em></td>{cells}</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)
