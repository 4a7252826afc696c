"""One self-contained HTML page per comparison: inline CSS, plots as base64 PNG, no external resource.

The plots module (matplotlib) is imported when a page is rendered, not with this module: it costs the
command ~0.3 s, which ``import_plots_in_background`` moves into the time the runs take. ``EarlyPlots``
likewise renders the plots of the first seed (``plots.FIRST_SEED``) while the other runs go on. The
plots left at the end are rendered half here and half in a forked copy of this process (``_render_split``),
where that is safe: on a system with ``fork``, when this process runs no other thread (the workers are
gone by then). The pages are the same either way.
"""

from __future__ import annotations

import base64
import importlib
import os
import pickle
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from auction.compare.stats import Interval
from auction.compare.summary import cell, fmt, metric_names, ordered_metrics, summarize, theory_of
from auction.compare.sweep import CompareResult

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
.meta { color: #555; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; overflow-wrap: anywhere; }
thead th { border-bottom: 2px solid #888; overflow-wrap: anywhere; }
td .ci { display: block; color: #666; font-size: .85em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
"""


PLOTS = "auction.compare.plots"


def import_plots_in_background() -> threading.Thread:
    """Import the plots module (matplotlib) in a thread, while the runs keep the worker processes busy.

    Python's import lock makes ``render_html`` wait for this import if it is still going on, so the thread
    needs no joining; it is a daemon, so a failed comparison never waits for it either.
    """
    thread = threading.Thread(target=importlib.import_module, args=(PLOTS,), name="import-plots", daemon=True)
    thread.start()
    return thread


class EarlyPlots:
    """The first seed's plots, rendered in a thread from the first seed's runs while the other runs go on.

    ``start`` is ``compare``'s ``on_first_seed``; ``rendered`` gives what ``render_html`` need not render
    again (title -> PNG, or None for a plot with nothing to draw). A plot that failed here is simply not
    in it: ``render_html`` then renders it itself, and its error surfaces there.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._pngs: dict[str, bytes | None] = {}

    def start(self, first: CompareResult) -> None:
        self._thread = threading.Thread(target=self._render, args=(first,), name="early-plots", daemon=True)
        self._thread.start()

    def _render(self, first: CompareResult) -> None:
        from auction.compare import plots

        for title, plot in plots.ALL:
            if plot in plots.FIRST_SEED:
                self._pngs[title] = plot(first)

    def rendered(self) -> dict[str, bytes | None]:
        if self._thread is not None:
            self._thread.join()
        return dict(self._pngs)


def render_html(result: CompareResult, rendered: Mapping[str, bytes | None] | None = None) -> str:
    """The page; ``rendered`` holds plots already rendered for this comparison (``EarlyPlots``), by title."""
    from auction.compare import plots  # here, not at the top: see the module docstring

    s = result.scenario
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>liqnet compare: {escape(s.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>liqnet compare: {escape(s.name)}</h1>",
        f"<p>{escape(s.description)}</p>",
        f'<p class="meta">mode {escape(result.mode)}; {len(result.seeds)} seeds; designs '
        f"{escape(', '.join(result.designs))}; mean and, below it, the 95% interval over seeds (Student t). Money "
        f"in USD, collateral in tokens, durations in seconds; {_clock(result)}.</p>",
        "<h2>Summary</h2>",
        _summary_table(result),
    ]
    done = dict(rendered or {})
    pngs = {**done, **_render_split(result, [(title, plot) for title, plot in plots.ALL if title not in done])}
    for title, _ in plots.ALL:
        png = pngs[title]
        if png is None:
            continue
        data = base64.b64encode(png).decode("ascii")
        parts += [f"<h2>{escape(title)}</h2>", f'<img alt="{escape(title)}" src="data:image/png;base64,{data}">']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


Plot = Callable[[CompareResult], "bytes | None"]


def _render_split(result: CompareResult, todo: Sequence[tuple[str, Plot]]) -> dict[str, bytes | None]:
    """Render ``todo`` (title -> PNG): every other plot in a forked child when ``_may_fork``, so that the
    two halves take two cores. A child that fails leaves its plots to this process, where the error shows."""
    if len(todo) < 2 or not _may_fork():
        return {title: plot(result) for title, plot in todo}
    mine, theirs = todo[0::2], todo[1::2]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render, send, and leave without running the parent's exit handlers
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(pickle.dumps({title: plot(result) for title, plot in theirs}))
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        out = {title: plot(result) for title, plot in mine}
    finally:
        with os.fdopen(read_fd, "rb") as pipe:
            sent = pipe.read()
        _, status = os.waitpid(pid, 0)
    got = pickle.loads(sent) if os.waitstatus_to_exitcode(status) == 0 and sent else {}
    return {**out, **{title: got[title] if title in got else plot(result) for title, plot in theirs}}


def _may_fork() -> bool:
    """Fork is safe here only with no other thread running (a thread holding a lock would leave it held)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def _summary_table(result: CompareResult) -> str:
    summary = summarize(result)
    head = "".join(f"<th>{escape(v.label)}</th>" for v in result.variants)
    rows = [f'<div class="wide"><table><thead><tr><th>metric</th>{head}</tr></thead><tbody>']
    for m in ordered_metrics(metric_names(result)):
        cells = "".join(f"<td>{_cell(summary[v.label][m])}</td>" for v in result.variants)
        rows.append(f"<tr><td>{escape(m)}</td>{cells}</tr>")
    th = theory_of(result)
    if th is not None:
        cells = "".join(f"<td>{escape(fmt(th['revenue_per_lot'][v.design]))}</td>" for v in result.variants)
        rows.append(f"<tr><td><em>revenue_per_lot (theory)</em></td>{cells}</tr>")
    rows.append("</tbody></table></div>")
    return "\n".join(rows)


def _cell(iv: Interval) -> str:
    """The mean, and its interval on a line of its own (so five designs fit a 1280 px page)."""
    text = cell(iv)
    mean, sep, bounds = text.partition(" [")
    return escape(mean) + (f'<span class="ci">[{escape(bounds)}</span>' if sep else "")


def _clock(result: CompareResult) -> str:
    t0 = result.runs[0].result.records.t0_unix if result.runs else None
    if t0 is None:
        return "times of day in hours from the start (synthetic prices have no date)"
    return f"times of day in UTC (the price data starts {datetime.fromtimestamp(t0, UTC):%Y-%m-%d %H:%M} UTC)"
