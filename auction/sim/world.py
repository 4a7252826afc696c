"""Everything a run needs, built once from a scenario, a design and a seed.

The simulator and the network house both start from ``build_world``: the same price path, oracle
updates, gas, market depth, accounts and keeper population, so their outcomes can be compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auction.accounts import Accounts
from auction.house import Designs
from auction.ledger import USD, Ledger
from auction.params import DutchParams, EnglishParams, FixedParams, HouseParams, SealedParams


@dataclass(slots=True)
class World:
    scenario: Any
    design: str
    seed: int
    asset: str
    accounts: Accounts
    designs: Designs
    house_params: HouseParams
    oracle_updates: list[tuple[float, dict[str, float]]]
    end: float  # seconds: end of the price path
    market_price: Callable[[str, float], float]
    proceeds: Callable[[str, int, float], int]
    gas_cost: Callable[[int, float, float], int]
    gas_gwei: Callable[[float], float]
    series_times: list[float] = field(default_factory=list)
    series_market: list[float] = field(default_factory=list)
    keeper_specs: list[Any] = field(default_factory=list)
    oracle_mm: list[Any] | None = None  # per oracle update: volatility-adjusted maintenance margins, if used
    ipv_lots: int = 0
    # textbook-ipv only: a keeper's private value (USD per token) of one lot, shown as its market price.
    private_value: Callable[[str, int], float] | None = None

    def make_agents(self, ledger: Ledger) -> dict[str, Any]:
        """One keeper agent per population member, funded in the ledger."""
        from keepers.population import make_agents

        agents = make_agents(self, ledger)
        for keeper_id, agent in agents.items():
            ledger.mint(f"keeper:{keeper_id}", USD, agent.capital)
        return agents


def build_world(scenario: Any, design: str, seed: int, *, accounts: int | None = None) -> World:
    if scenario.ipv is not None:
        from auction.sim.ipv import build_ipv

        return build_ipv(scenario, design, seed)
    from auction.sim.inputs import build

    return build(scenario, design, seed, accounts=accounts)


def designs_of(scenario: Any) -> Designs:
    d = scenario.designs
    return Designs(
        dutch=_as(DutchParams, d.dutch), sealed=_as(SealedParams, d.sealed),
        english=_as(EnglishParams, d.english), fixed=_as(FixedParams, d.fixed),
    )


def house_params(scenario: Any) -> HouseParams:
    h, g = scenario.house, scenario.gas
    return HouseParams(
        max_kicks_per_block=h.max_kicks_per_block, block_time_s=g.block_time_s, block_gas_limit=g.block_gas_limit,
        insurance_fund=h.insurance_fund, surplus_buffer=h.surplus_buffer,
    )


def _as(cls: type, cfg: Any) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in dataclasses.asdict(cfg).items() if k in names})
