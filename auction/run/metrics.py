"""Metrics of one run, computed from the integer ledger and the house's tally.

Definitions (numeraire in whole USD, collateral in whole tokens, times in seconds):

- ``debt_liquidated``: debt confiscated from accounts into auctions (fixed: debt repaid by liquidators,
  plus debt written off); ``debt_repaid``: the part the proceeds repaid; ``bad_debt``: the rest,
  so ``debt_liquidated == debt_repaid + bad_debt`` exactly; ``bad_debt_ratio = bad_debt / debt_liquidated``.
- ``borrower_loss``: per sale, the market value at kick of the collateral taken from the borrower (seized
  minus returned) minus the debt it cleared; positive when the borrower lost more than a fair close-out.
- ``keeper_profit``: resale proceeds minus what keepers paid, minus gas, plus incentives (kick/redo tips).
- ``protocol_revenue``: penalty collected (proceeds above the debt) plus forfeited sealed deposits;
  ``incentives_paid`` is reported on its own.
- ``collateral_seized == collateral_sold + collateral_returned + collateral_unsold`` exactly.
- ``zero_bid_fills``: fills at a price below ``zero_bid_fraction`` (1%) of the market price.
- ``price_discount_mean``: 1 - (paid / market value), weighted by market value, over all fills.
- ``time_to_liquidate_s_*``: kick to close, per sale (an open sale counts to the end of the run).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auction import units
from auction.book.ledger import Ledger
from auction.designs.base import Sale
from auction.house import AuctionHouse


def compute_metrics(house: AuctionHouse, ledger: Ledger, world: Any) -> tuple[dict[str, float], dict[str, int],
                                                                              dict[str, float]]:
    books = [s.book for s in house.sales.values()]
    exact = {
        "debt_liquidated": sum(b.debt for b in books),
        "debt_repaid": sum(b.repaid for b in books),
        "bad_debt": sum(b.bad_debt for b in books),
        "collateral_seized": sum(b.seized for b in books),
        "collateral_sold": sum(b.sold for b in books),
        "collateral_returned": sum(b.returned for b in books),
        "collateral_unsold": sum(b.unsold for b in books),
        "penalty": sum(b.penalty for b in books),
    }
    num, col = units.num_f, units.col_f
    t = house.tally
    times = np.array([_time_to_liquidate(s, world.end) for s in house.sales.values()] or [0.0])
    debt = num(exact["debt_liquidated"])
    metrics = {
        "debt_liquidated": debt,
        "debt_repaid": num(exact["debt_repaid"]),
        "bad_debt": num(exact["bad_debt"]),
        "bad_debt_ratio": num(exact["bad_debt"]) / debt if debt else 0.0,
        "borrower_loss": sum(_borrower_loss(s) for s in house.sales.values()),
        "keeper_profit": num(t.keeper_resale - t.keeper_cost - ledger.totals.gas + ledger.totals.incentives),
        "protocol_revenue": num(exact["penalty"] + ledger.totals.forfeits),
        "incentives_paid": num(ledger.totals.incentives),
        "gas_spent": num(ledger.totals.gas),
        "collateral_seized": col(exact["collateral_seized"]),
        "collateral_sold": col(exact["collateral_sold"]),
        "collateral_returned": col(exact["collateral_returned"]),
        "collateral_unsold": col(exact["collateral_unsold"]),
        "auctions": float(len(house.sales)),
        "resets": float(sum(s.resets for s in house.sales.values())),
        "zero_bid_fills": float(t.zero_bid_fills),
        "unsold_lots": float(sum(1 for b in books if b.unsold > 0)),
        "price_discount_mean": t.discounts_num / t.discounts_den if t.discounts_den else 0.0,
        "time_to_liquidate_s_median": float(np.median(times)),
        "time_to_liquidate_s_p95": float(np.percentile(times, 95)),
    }
    extra: dict[str, float] = {}
    if getattr(world, "ipv_lots", 0):
        extra["revenue_per_lot"] = sum(num(b.raised) for b in books) / world.ipv_lots
    return {k: _clean(v) for k, v in metrics.items()}, exact, extra


def _borrower_loss(sale: Sale) -> float:
    b = sale.book
    taken = units.col_f(b.seized - b.returned) * sale.market_at_kick
    return taken - units.num_f(b.debt)


def _time_to_liquidate(sale: Sale, end: float) -> float:
    return (sale.closed_at if sale.closed_at is not None else end) - sale.kicked_at


def _clean(x: float) -> float:
    """Round to 9 significant digits so reports are stable across platforms' float formatting."""
    return float(f"{x:.9g}")
