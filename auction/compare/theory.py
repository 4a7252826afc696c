"""Auction theory for the ``textbook-ipv`` calibration scenario.

``n`` bidders with independent private values uniform on [0, V], one unit per lot, no reserve:

- dutch, sealed-first, sealed-second and english all earn the expected second-highest value,
  (n-1)/(n+1) * V (revenue equivalence: Krishna, "Auction Theory", ch. 2-3; Myerson 1981);
- fixed is a posted price p = oracle / (1 + bonus): the lot sells when the highest value reaches p,
  which happens with probability 1 - (p/V)^n, so the expected revenue is p * (1 - (p/V)^n)
  (p is capped at V: above it nobody buys).
"""

from __future__ import annotations

from auction.errors import ConfigError
from auction.scenario.load import Scenario, check_design


def revenue_per_lot(scenario: Scenario, design: str) -> float:
    """Expected revenue of one lot under ``design`` in the scenario's [ipv] setting."""
    ipv = scenario.ipv
    if ipv is None:
        raise ConfigError(f"scenario {scenario.name!r} has no [ipv] table: theory applies to IPV scenarios only")
    n, v = ipv.bidders, ipv.value_scale
    if check_design(design) != "fixed":
        return (n - 1) / (n + 1) * v
    oracle = ipv.oracle_price if ipv.oracle_price is not None else v
    p = oracle / (1 + scenario.designs.fixed.bonus)
    if p >= v:
        return 0.0
    return p * (1 - (p / v) ** n)


def theory(scenario: Scenario, designs: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    """The report's ``theory`` object: ``{"revenue_per_lot": {design: value}}``."""
    return {"revenue_per_lot": {d: revenue_per_lot(scenario, d) for d in designs}}
