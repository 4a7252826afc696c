"""Auction theory for the ``textbook-ipv`` calibration scenario: each design's expected revenue per lot.

``n`` bidders with independent private values uniform on [0, V], one unit per lot, no reserve. Each design
states its own line (``Design.theory`` in ``auction.designs``): the four auctions earn the expected
second-highest value (n-1)/(n+1) * V (revenue equivalence: Krishna, "Auction Theory", ch. 2-3; Myerson
1981); fixed-penalty is a posted price.
"""

from __future__ import annotations

from auction import designs
from auction.errors import ConfigError
from auction.scenario.tables import Scenario


def revenue_per_lot(scenario: Scenario, design: str) -> float:
    """Expected revenue of one lot under ``design`` in the scenario's [ipv] setting."""
    ipv = scenario.ipv
    if ipv is None:
        raise ConfigError(f"scenario {scenario.name!r} has no [ipv] table: theory applies to IPV scenarios only")
    d = designs.get(design)
    if d.theory is None:
        raise ConfigError(f"design {design!r} states no theory for independent private values")
    oracle = ipv.oracle_price if ipv.oracle_price is not None else ipv.value_scale
    return d.theory(ipv.bidders, ipv.value_scale, oracle, d.params_in(scenario.designs))


def theory(scenario: Scenario, chosen: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    """The report's ``theory`` object: ``{"revenue_per_lot": {design: value}}`` (designs with a theory)."""
    return {"revenue_per_lot": {d: revenue_per_lot(scenario, d) for d in chosen if designs.get(d).theory}}
