"""make_agents: the simulated keeper population built from a scenario's [[keepers]] entries."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from auction import units
from auction.designs.dutch import DutchTerms
from auction.errors import ConfigError
from auction.run.population import make_agents
from auction.scenario.population import DEFAULT_KEEPERS, gas_cap, keeper_ids, members
from auction.scenario.tables import KeeperSpec
from broker import messages as m
from keepers.strategies import Universal, ZeroBid


def spec(strategy: str, count: int = 1, **kw: Any) -> KeeperSpec:
    base: dict[str, Any] = dict(strategy=strategy, count=count, capital=50_000.0, latency_s=2.0)
    return KeeperSpec(**{**base, **kw})


def world(specs: list[KeeperSpec], **kw: Any) -> SimpleNamespace:
    base = dict(keeper_specs=specs, seed=7, market_price=lambda a, t: 2000.0,
                proceeds=lambda a, q, t: units.num(units.col_f(q) * 1990.0), gas_gwei=lambda t: 30.0)
    base.update(kw)
    return SimpleNamespace(**base)


def test_population_from_specs() -> None:
    specs = [spec("universal", 2, config={"margin": 0.02}), spec("zero-bid", gas_policy="fixed:40")]
    agents = make_agents(world(specs))
    assert list(agents) == ["k00-universal", "k01-universal", "k02-zero-bid"]
    a0, a2 = agents["k00-universal"], agents["k02-zero-bid"]
    assert isinstance(a0.strategy, Universal) and a0.strategy.config["margin"] == 0.02
    assert isinstance(a2.strategy, ZeroBid) and a2.policy.max_gas_gwei == 40.0
    assert a0.capital == 50_000 * units.NUM and a0.latency_s == 2.0 and math.isinf(a0.policy.max_gas_gwei)
    assert a0.context(0.0).gas_price == 30.0 and a0.market is not None
    assert a0.market.proceeds("ETH", 2.0, 0.0) == pytest.approx(3980.0)
    assert a0.rng.random() != agents["k01-universal"].rng.random()  # own stream per keeper id


def test_default_population_is_universal() -> None:
    agents = make_agents(world([]))
    assert len(agents) == DEFAULT_KEEPERS and all(isinstance(a.strategy, Universal) for a in agents.values())


def test_private_values_are_the_market_price_of_each_lot() -> None:
    values = {("k00-dutch-threshold", 1): 80.0, ("k00-dutch-threshold", 2): 30.0}
    agents = make_agents(world([spec("dutch-threshold", config={"shade": 0.75})],
                               private_value=lambda k, auction: values[(k, auction)]))
    a = agents["k00-dutch-threshold"]
    terms = DutchTerms(top_q=100 * units.NUM, curve="linear", tau_ms=100_000, tail_ms=200_000, cusp=0.001, chost=0)
    orders = []
    for auction in (1, 2):
        ann = m.Announce(auction=auction, design="dutch", asset="LOT", lot=units.COL, tab=10**12, owner="acct:0",
                         start_ms=0, oracle_q=100 * units.NUM, terms=terms)
        orders += a.on_message(ann, 0.0)
    # linear from 100 to 0 over 100 s: 0.75 * 80 = 60 is reached at 40 s, 0.75 * 30 = 22.5 at 77.5 s
    assert [o.action.max_price_q for o in orders] == [60 * units.NUM, units.num(22.5)]  # type: ignore[union-attr]
    assert [o.not_before for o in orders] == [pytest.approx(40.0), pytest.approx(77.5)]


def test_keeper_ids_are_valid_wire_ids() -> None:
    ids = keeper_ids(members([spec("/tmp/x/My Keeper.py:Fancy_Thing"), spec("exec:python3 k.py", 10)]))
    assert ids[0] == "k00-fancy_thing" and ids[1] == "k01-python3-k.py" and len(set(ids)) == 11
    for keeper in ids:  # each is accepted by the wire schema
        m.decode(m.encode(m.KeeperStatus(keeper=keeper, online=True, ts_ms=0)))


def test_gas_is_priced_in_eth_or_the_main_asset() -> None:
    def only_wbtc(a: str, t: float) -> float:
        if a != "WBTC":
            raise KeyError(a)
        return 30_000.0

    (a,) = make_agents(world([spec("universal")], asset="WBTC", market_price=only_wbtc)).values()
    assert a.policy.native_asset == "WBTC" and a.context(0.0).native_price == 30_000.0
    (b,) = make_agents(world([spec("universal")], asset="ETH")).values()
    assert b.policy.native_asset == "ETH"


def test_gas_policy() -> None:
    assert math.isinf(gas_cap("market")) and gas_cap("fixed:40") == 40.0
    with pytest.raises(ConfigError):
        gas_cap("cheap")
