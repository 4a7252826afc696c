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
from auction.book.positions import PositionBook
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
    if isinstance(house.book, PositionBook):
        metrics = perp_metrics(house, ledger, house.book, times)
    if getattr(world, "ipv_lots", 0):
        extra["revenue_per_lot"] = sum(num(b.raised) for b in books) / world.ipv_lots
    return {k: _clean(v) for k, v in metrics.items()}, exact, extra


def perp_metrics(house: AuctionHouse, ledger: Ledger, book: PositionBook, times: np.ndarray) -> dict[str, float]:
    """A perp run's metrics (USD unless said), from the book's tally and the sales (``auction.book.perp_close``).

    - ``bad_debt``: deficits neither the insurance fund nor socialization covered;
    - ``insurance_drawdown``: the fund's start less its lowest balance at a block;
    - ``adl_count`` / ``adl_notional``: positions reduced by ADL, and their notional at the bankruptcy price;
    - ``slippage_vs_mark``: what fills cost liquidated traders against the mark, over the notional closed;
    - ``liquidator_profit``: keepers' hedged takeover profit less their gas;
    - ``trader_loss``: what liquidation took from traders beyond a close at the mark: slippage, fees, the
      equity ADL and the backstop vault took;
    - ``time_to_close_s_*``: kick to close per sale.
    """
    num = units.num_f
    t = book.tally
    start = units.num(house.params.insurance_fund)
    keepers = sum(getattr(s, "keeper_net", 0) for s in house.sales.values())
    return {
        "bad_debt": num(t.bad_debt),
        "insurance_drawdown": num(max(start - t.insurance_low, 0) if t.insurance_low >= 0 else 0),
        "insurance_paid": num(t.insurance_paid),
        "fees_to_insurance": num(t.fees),
        "socialized_loss": num(t.socialized),
        "adl_count": float(t.adl_count),
        "adl_notional": num(t.adl_notional),
        "liquidated_notional": num(t.closed_notional),
        "slippage_vs_mark": t.slippage / t.closed_notional if t.closed_notional else 0.0,
        "liquidator_profit": num(keepers - ledger.totals.gas),
        "trader_loss": num(t.slippage + t.fees + t.adl_equity + t.vault_equity),
        "vault_takeovers": float(t.vault_takeovers),
        "funding_paid": num(book.funding_paid),
        "gas_spent": num(ledger.totals.gas),
        "auctions": float(len(house.sales)),
        "time_to_close_s_median": float(np.median(times)),
        "time_to_close_s_p95": float(np.percentile(times, 95)),
    }


def _borrower_loss(sale: Sale) -> float:
    b = sale.book
    taken = units.col_f(b.seized - b.returned) * sale.market_at_kick
    return taken - units.num_f(b.debt)


def _time_to_liquidate(sale: Sale, end: float) -> float:
    return (sale.closed_at if sale.closed_at is not None else end) - sale.kicked_at


def _clean(x: float) -> float:
    """Round to 9 significant digits so reports are stable across platforms' float formatting."""
    return float(f"{x:.9g}")
