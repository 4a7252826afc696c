"""The keeper population of a simulated run: one ``KeeperAgent`` per ``[[keepers]]`` member.

``make_agents(world, ledger)`` is what ``auction.scenario.world.World.make_agents`` calls; the world then
funds each agent's ``capital`` in the ledger. Keeper ids are stable (``k00-universal``, ``k01-...``)
and every agent's randomness derives from the run seed and its id, so runs are reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from auction import units
from auction.errors import ConfigError
from keepers.agent import KeeperAgent, MarketView, Policy
from keepers.loader import load_strategy

DEFAULT_KEEPERS = 4  # universal keepers when a scenario names none (``liqnet ... --keepers N`` overrides)


@dataclass(frozen=True, slots=True)
class Member:
    """One keeper to create (a scenario's ``[[keepers]]`` entry has the same fields, plus ``count``)."""

    strategy: str = "universal"
    capital: float = 1_000_000.0  # USD
    latency_s: float = 1.0
    gas_policy: str = "market"  # or "fixed:GWEI"
    config: Any = None


class WorldMarket:
    """A keeper's view of the simulated market: the world's price path and resale with price impact."""

    def __init__(self, price: Callable[[str, float], float], proceeds: Callable[[str, int, float], int]) -> None:
        self._price, self._proceeds = price, proceeds

    def price(self, asset: str, t: float) -> float:
        return self._price(asset, t)

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return units.num_f(self._proceeds(asset, units.col(qty), t))


class PrivateValues(WorldMarket):
    """textbook-ipv: while deciding about a lot, the keeper's market price is its private value of that lot."""

    def __init__(self, keeper_id: str, value: Callable[[str, int], float], base: WorldMarket) -> None:
        super().__init__(base._price, base._proceeds)
        self.keeper_id, self._value = keeper_id, value

    def lot_price(self, asset: str, auction: int, t: float) -> float:
        return self._value(self.keeper_id, auction)


def members(specs: Sequence[Any]) -> list[Member]:
    """Expand ``count`` of each spec (any object with the ``KeeperSpec`` fields) into members."""
    if not specs:
        return [Member() for _ in range(DEFAULT_KEEPERS)]
    out: list[Member] = []
    for spec in specs:
        one = Member(spec.strategy, float(spec.capital), float(spec.latency_s), str(spec.gas_policy),
                     dict(spec.config or {}))
        out += [one] * int(getattr(spec, "count", 1))
    return out


def keeper_ids(population: Sequence[Member]) -> list[str]:
    """``k<index>-<strategy slug>``: unique, stable, valid as a wire keeper id and an MQTT topic level."""
    width = max(2, len(str(len(population) - 1)))
    return [f"k{i:0{width}d}-{_slug(m.strategy)}" for i, m in enumerate(population)]


def make_agents(world: Any, ledger: Any = None) -> dict[str, KeeperAgent]:
    """One agent per population member of ``world`` (``auction.scenario.world.World``).

    Optional world attributes: ``private_value(keeper_id, auction_id) -> USD per token`` (textbook-ipv)
    is what ``ctx.market_price`` shows while a keeper decides about that lot; ``gas_gwei(t)`` feeds the
    agents' gas price when blocks are not delivered to them.
    """
    population = members(world.keeper_specs)
    private = getattr(world, "private_value", None)
    agents: dict[str, KeeperAgent] = {}
    for keeper_id, member in zip(keeper_ids(population), population, strict=True):
        base = WorldMarket(world.market_price, world.proceeds)
        market: MarketView = PrivateValues(keeper_id, private, base) if private is not None else base
        agents[keeper_id] = KeeperAgent(
            keeper_id,
            load_strategy(member.strategy, member.config or {}),
            units.num(member.capital),
            seed=int(world.seed),
            market=market,
            policy=Policy(max_gas_gwei=gas_cap(member.gas_policy), native_asset=native_asset(world)),
            latency_s=member.latency_s,
            gas=getattr(world, "gas_gwei", None),
        )
    return agents


def native_asset(world: Any) -> str:
    """The asset gas is priced in: ETH when the price path has it, else the scenario's main asset
    (as ``auction.scenario.inputs`` prices gas), so the agents' gas estimates match what the house charges."""
    try:
        world.market_price("ETH", 0.0)
        return "ETH"
    except Exception:
        return str(getattr(world, "asset", "ETH"))


def gas_cap(policy: str) -> float:
    """``market`` -> no cap; ``fixed:GWEI`` -> GWEI."""
    if policy == "market":
        return float("inf")
    head, _, value = policy.partition(":")
    try:
        if head == "fixed":
            return float(value)
    except ValueError:
        pass
    raise ConfigError(f"gas policy {policy!r}: use 'market' or 'fixed:GWEI' (e.g. fixed:40)")


def _slug(spec: str) -> str:
    name = spec.rpartition(":")[2] if ":" in spec else spec
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower()[:40] or "keeper"
