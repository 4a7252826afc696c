"""The keeper population of a simulated run: one ``KeeperAgent`` per ``[[keepers]]`` member.

``make_agents(world, ledger)`` is what ``auction.scenario.world.World.make_agents`` calls; the world then
funds each agent's ``capital`` in the ledger. Keeper ids are stable (``k00-universal``, ``k01-...``)
and every agent's randomness derives from the run seed and its id, so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

from auction import units
from auction.designs import REGISTRY
from auction.scenario.population import gas_cap, keeper_ids, members
from auction.scenario.world import World
from keepers.agent import KeeperAgent, MarketView, Policy
from keepers.loader import load_strategy
from keepers.views import ViewCache


class WorldMarket:
    """A keeper's view of the simulated market: the world's price path and resale with price impact."""

    def __init__(self, price: Callable[[str, float], float], proceeds: Callable[[str, int, float], int]) -> None:
        self._price, self._proceeds = price, proceeds
        # ``price(asset, t)`` is the world's own function: keepers ask it at every decision, so no extra frame
        self.price: Callable[[str, float], float] = price

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return units.num_f(self._proceeds(asset, units.col(qty), t))


class PrivateValues(WorldMarket):
    """textbook-ipv: while deciding about a lot, the keeper's market price is its private value of that lot."""

    def __init__(self, keeper_id: str, value: Callable[[str, int], float], base: WorldMarket) -> None:
        super().__init__(base._price, base._proceeds)
        self.keeper_id, self._value = keeper_id, value

    def lot_price(self, asset: str, auction: int, t: float) -> float:
        return self._value(self.keeper_id, auction)


def make_agents(world: World) -> dict[str, KeeperAgent]:
    """One agent per population member of ``world``.

    Optional world attributes: ``private_value(keeper_id, auction_id) -> USD per token`` (textbook-ipv)
    is what ``ctx.market_price`` shows while a keeper decides about that lot; ``gas_gwei(t)`` feeds the
    agents' gas price when blocks are not delivered to them.
    """
    population = members(world.keeper_specs)
    private = getattr(world, "private_value", None)
    views = ViewCache()  # the keepers receive the very same messages: each view is built once
    agents: dict[str, KeeperAgent] = {}
    for keeper_id, member in zip(keeper_ids(population), population, strict=True):
        base = WorldMarket(world.market_price, world.proceeds)
        market: MarketView = PrivateValues(keeper_id, private, base) if private is not None else base
        agents[keeper_id] = KeeperAgent(
            keeper_id,
            load_strategy(member.strategy, member.config or {}),
            units.num(member.capital),
            designs=REGISTRY,
            seed=int(world.seed),
            market=market,
            policy=Policy(max_gas_gwei=gas_cap(member.gas_policy), native_asset=native_asset(world)),
            latency_s=member.latency_s,
            gas=getattr(world, "gas_gwei", None),
            views=views,
            gas_units=getattr(world, "gas_units", None),
        )
    return agents


def native_asset(world: World) -> str:
    """The asset gas is priced in (``World.native``, as ``auction.scenario.inputs`` prices gas), so the agents'
    gas estimates match what the house charges; for a world without one, ETH when the market quotes it, else the
    scenario's main asset."""
    native = getattr(world, "native", None)
    if native is not None:
        return str(native)
    try:
        world.market_price("ETH", 0.0)
        return "ETH"
    except Exception:
        return str(getattr(world, "asset", "ETH"))
