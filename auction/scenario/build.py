"""``build_world``: a scenario, a design and a seed -> the ``World`` a run starts from."""

from __future__ import annotations

from auction.scenario.inputs import build
from auction.scenario.ipv import build_ipv
from auction.scenario.tables import Scenario
from auction.scenario.world import World


def build_world(scenario: Scenario, design: str, seed: int, *, accounts: int | None = None) -> World:
    """The textbook-ipv world for an [ipv] scenario, else prices, oracle, gas, market and accounts."""
    if scenario.ipv is not None:
        return build_ipv(scenario, design, seed)
    return build(scenario, design, seed, accounts=accounts)
