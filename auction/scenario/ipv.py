"""The textbook-ipv world: independent private values, one single-unit lot per account.

Each lot is an account holding 1 token with a debt of 10x the value scale, so every design's tab is far
above any bid and the whole token is sold (or, under fixed, bought at the posted price); the oracle and
the market stand at the value scale. Bidder j's value of lot i is ``U[0, V]``, drawn once from the seed
by Latin hypercube sampling: each bidder's values over the lots fall one in each of ``lots`` equal strata
of [0, V], in random order. Every value is still uniform and bidders stay independent, so the theory holds
unchanged, while the mean revenue per lot has about a quarter of the variance of plain draws;
``private_value(keeper, auction)`` is what that keeper's ``ctx.market_price`` shows while it decides
about that auction (auction.run.population). Theory: each design's ``theory`` (auction.designs).
"""

from __future__ import annotations

import numpy as np

from auction import units
from auction.book.accounts import Accounts, mm_from_ratio
from auction.scenario.load import gas_units, house_params
from auction.scenario.population import keeper_ids, members
from auction.scenario.tables import Scenario
from auction.scenario.world import World


def build_ipv(scenario: Scenario, design: str, seed: int) -> World:
    ipv = scenario.ipv
    assert ipv is not None, "build_world sends only [ipv] scenarios here"
    v, lots, asset = float(ipv.value_scale), int(ipv.lots), scenario.prices.asset
    oracle = float(ipv.oracle_price or v)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1F5]))
    values = np.stack([(rng.permutation(lots) + rng.uniform(size=lots)) / lots * v for _ in range(ipv.bidders)], 1)
    ids = keeper_ids(members(scenario.keepers))
    if len(ids) != ipv.bidders:
        from auction.errors import ConfigError

        raise ConfigError(f"{scenario.name}: [ipv] bidders = {ipv.bidders} but the keepers number {len(ids)}")
    column = {k: j for j, k in enumerate(ids)}
    accounts = Accounts(
        (asset,), np.full((lots, 1), units.col(1.0), dtype=np.int64),
        np.full(lots, units.num(10 * v), dtype=np.int64), mm_from_ratio(scenario.accounts.liquidation_ratio),
    )
    params = house_params(scenario)
    end = lots / params.max_kicks_per_block * params.block_time_s

    def private_value(keeper: str, auction: int) -> float:
        return float(values[(auction - 1) % lots, column[keeper]])

    return World(
        scenario=scenario, design=design, seed=seed, asset=asset, accounts=accounts,
        designs=scenario.designs, house_params=params, oracle_updates=[(0.0, {asset: oracle})], end=end,
        market_price=lambda a, t: v, proceeds=lambda a, qty, t: units.cost(qty, units.price_q(v)),
        gas_cost=lambda gas, gwei, t: 0, gas_gwei=lambda t: 0.0, series_times=[0.0, end], series_market=[v, v],
        keeper_specs=list(scenario.keepers), ipv_lots=lots, private_value=private_value,
        gas_units=gas_units(scenario, design),
    )
