"""What one simulated run (scenario x design x seed) hands to comparisons and reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from auction.run.records import Records

# The metrics every run reports (numeraire in whole units, collateral in whole tokens, times in seconds).
# Identities that hold exactly in every run (checked on the integer ledger before conversion):
#   debt_liquidated == debt_repaid + bad_debt
#   collateral_seized == collateral_sold + collateral_returned + collateral_unsold
METRICS: tuple[str, ...] = (
    "debt_liquidated",
    "debt_repaid",
    "bad_debt",
    "bad_debt_ratio",
    "borrower_loss",
    "keeper_profit",
    "protocol_revenue",
    "incentives_paid",
    "gas_spent",
    "collateral_seized",
    "collateral_sold",
    "collateral_returned",
    "collateral_unsold",
    "auctions",
    "resets",
    "zero_bid_fills",
    "unsold_lots",
    "strategy_errors",
    "price_discount_mean",
    "time_to_liquidate_s_median",
    "time_to_liquidate_s_p95",
)


@dataclass(slots=True)
class Series:
    """Time series for plots; small (one point per price sample or per event)."""

    times: list[float] = field(default_factory=list)  # seconds from scenario start
    market: list[float] = field(default_factory=list)  # market price of the main asset
    oracle_times: list[float] = field(default_factory=list)
    oracle: list[float] = field(default_factory=list)  # oracle updates (step function)
    liquidations: list[tuple[float, float]] = field(default_factory=list)  # (time, market price) at kick
    discounts: list[float] = field(default_factory=list)  # per fill: 1 - fill price / market price
    times_to_liquidate: list[float] = field(default_factory=list)  # per auction: kick -> fully settled


@dataclass(slots=True)
class RunResult:
    scenario: str
    design: str
    seed: int
    metrics: dict[str, float]
    series: Series
    # Integer-ledger figures behind the identities (base units), for tests and audits.
    exact: dict[str, int] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)  # e.g. revenue_per_lot for textbook-ipv
    # The first strategy failure of the run (keeper, hook, file:line, traceback); never in a report file,
    # whose bytes must not depend on where the code is installed.
    first_error: str = ""
    records: Records = field(default_factory=Records)  # every auction, fill and a time series (--export)
