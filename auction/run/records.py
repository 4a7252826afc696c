"""What a run keeps for analysis beside its metrics: every auction, every fill, and a time series.

Columns of whole units (USD, tokens, gwei) and times in seconds from the start of the price path
(``t0_unix`` gives the start's unix time when the path is real data; synthetic paths have no date):

- ``auctions``: one row per sale: id, owner account, asset, kick and close time, debt, tab, lot (collateral
  seized), sold / returned / unsold collateral, raised, repaid, bad debt, number of fills, resets, the
  market price at the kick;
- ``fills``: one row per fill: auction, keeper, quantity, cost, price, time;
- ``series``: oracle price, market price, gas, open auctions, cumulative bad debt and the insurance fund,
  sampled at every oracle update and at every input that changes the number of open auctions (at most one
  row per input): a Black Thursday run keeps 100 to 130 rows where one per block would be 9,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auction import units
from auction.designs.base import Sale

SERIES_COLUMNS = ("time_s", "oracle", "market", "gas_gwei", "open_auctions", "bad_debt_usd", "insurance_usd")


@dataclass(slots=True)
class Timeline:
    """The time series a kernel samples while it runs (``SERIES_COLUMNS``)."""

    columns: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in SERIES_COLUMNS})  # open: ints
    open_auctions: int = -1  # at the last row
    bad_debt: int = 0  # numeraire base units written off so far

    def sample(self, t: float, row: tuple[float, float, float, int, float, float]) -> None:
        """Add a row at ``t`` (replacing a row already taken at the same time: one row per instant)."""
        cols = self.columns
        if cols["time_s"] and cols["time_s"][-1] == t:
            for values in cols.values():
                values.pop()
        for name, value in zip(SERIES_COLUMNS, (t, *row), strict=True):
            cols[name].append(value)
        self.open_auctions = row[3]


@dataclass(slots=True)
class Records:
    """A run's tables, column name -> values (see the module docstring)."""

    t0_unix: int | None = None  # unix time of t = 0, when the prices are dated
    auctions: dict[str, list[Any]] = field(default_factory=dict)
    fills: dict[str, list[Any]] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    # perp runs: time_s, open_interest (tokens long), insurance_usd, adl_count (cumulative), per block sampled
    perp: dict[str, list[float]] = field(default_factory=dict)


def sale_tables(sales: list[Sale], end: float) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The ``auctions`` and ``fills`` tables of closed (or, at ``end``, still open) sales, by id."""
    num, col = units.num_f, units.col_f
    auctions: dict[str, list[Any]] = {c: [] for c in (
        "auction", "account", "asset", "kicked_s", "closed_s", "debt_usd", "tab_usd", "lot", "sold", "returned",
        "unsold", "raised_usd", "repaid_usd", "bad_debt_usd", "fills", "resets", "market_at_kick")}
    fills: dict[str, list[Any]] = {c: [] for c in ("auction", "keeper", "qty", "cost_usd", "price", "time_s")}
    for s in sorted(sales, key=lambda s: s.id):
        b = s.book
        row = (s.id, s.account, s.asset, s.kicked_at, s.closed_at if s.closed_at is not None else end, num(b.debt),
               num(b.tab), col(b.seized), col(b.sold), col(b.returned), col(b.unsold), num(b.raised), num(b.repaid),
               num(b.bad_debt), len(s.fills), s.resets, s.market_at_kick)
        for name, value in zip(auctions, row, strict=True):
            auctions[name].append(value)
        for f in s.fills:
            qty, cost = col(f.qty), num(f.cost)
            for name, value in zip(fills, (s.id, f.who, qty, cost, cost / qty if qty else 0.0, f.at), strict=True):
                fills[name].append(value)
    return auctions, fills
