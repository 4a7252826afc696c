"""``--export parquet|csv``: every run's auctions, fills and time series, as three tables beside the reports.

``OUT/NAME.auctions.EXT``, ``OUT/NAME.fills.EXT`` and ``OUT/NAME.series.EXT`` (columns: ``auction.run.records``).
Each row starts with its run (``variant``, ``design``, ``seed``, and at grid points one column per ``--set`` key),
so one file holds a whole comparison and loads in one line (README). Money in USD, collateral in tokens, gas in
gwei, times in seconds from the start of the price path (``*_s``); when the prices are real data, each time
also as a UTC timestamp (``*_utc``). The JSON report stays the summary truth and names these files
(``exports``).

Parquet needs pyarrow (``pip install 'liqnet[parquet]'``), checked before any run; CSV needs nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from auction.compare.sweep import CompareResult, Run
from auction.errors import ConfigError

FORMATS = ("parquet", "csv")
TABLES = ("auctions", "fills", "series")
TIMES = {"kicked_s": "kicked_utc", "closed_s": "closed_utc", "time_s": "time_utc"}

Columns = dict[str, list[Any]]


def check_export(fmt: str | None) -> None:
    """Refuse an unknown format, or Parquet without pyarrow, before anything runs."""
    if fmt is None:
        return
    if fmt not in FORMATS:
        raise ConfigError(f"--export: unknown format {fmt!r}: choose from {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("--export parquet needs pyarrow: pip install 'liqnet[parquet]' "
                              "(or use --export csv)") from None


def export_names(stem: str, fmt: str) -> dict[str, str]:
    """The file name of each table, as the JSON report names them (relative to the report)."""
    return {table: f"{stem}.{table}.{fmt}" for table in TABLES}


def tables(result: CompareResult) -> dict[str, Columns]:
    """Every run's records, one table each, with the run's identity in front."""
    keys = list(result.grid)
    out: dict[str, Columns] = {}
    for table in TABLES:
        parts = [(run, getattr(run.result.records, table)) for run in result.runs]
        names = next((list(cols) for _, cols in parts if cols), [])
        columns: Columns = {c: [] for c in ("variant", "design", "seed", *keys, *names)}
        for c in names:
            if c in TIMES:
                columns[TIMES[c]] = []
        for run, cols in parts:
            _append(columns, run, keys, cols)
        out[table] = columns
    return out


def export_writers(result: CompareResult, stem: str, fmt: str) -> dict[str, Callable[[Path], None]]:
    """File name -> a function writing that table to a given path (``files.write_reports`` writes each to a
    temporary file and renames it, so a failure leaves nothing half-written)."""
    writer: Callable[[Columns, Path], None] = _write_parquet if fmt == "parquet" else _write_csv
    columns = tables(result)
    return {name: partial(writer, columns[table]) for table, name in export_names(stem, fmt).items()}


def _append(columns: Columns, run: Run, keys: list[str], cols: Columns) -> None:
    n = len(next(iter(cols.values()), []))
    params = dict(run.variant.params)
    for name, value in (("variant", run.variant.label), ("design", run.variant.design), ("seed", run.seed)):
        columns[name] += [value] * n
    for key in keys:
        columns[key] += [params.get(key)] * n
    t0 = run.result.records.t0_unix
    for name, values in cols.items():
        columns[name] += values
        if name in TIMES:
            columns[TIMES[name]] += [None if t0 is None else datetime.fromtimestamp(t0 + t, UTC) for t in values]


def _write_parquet(columns: Columns, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def _write_csv(columns: Columns, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        out.writerows(zip(*(map(_csv_value, values) for values in columns.values()), strict=True))


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    return "" if value is None else value
