"""Turn a scenario, a design and a seed into a ``World``: prices, oracle, gas, market, accounts.

Same seed, same world: the price path (synthetic sources), the accounts and the keepers' random
streams all derive from it, and every design of a comparison sees the very same world.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auction import units
from auction.book import accounts as acc
from auction.book.margin import vol_adjusted_mm
from auction.models.chain import GasModel, fee_num
from auction.models.market import make_market
from auction.models.oracle import make_oracle
from auction.models.prices import YEAR_S, PricePath, ewma_vol, gbm, jump_diffusion, load_csv
from auction.scenario.load import gas_units, house_params
from auction.scenario.perp_book import perp_book
from auction.scenario.tables import (
    AccountsConfig,
    ChainlinkOracleConfig,
    CsvPrices,
    DelayedOracleConfig,
    GasConfig,
    JumpPrices,
    MarketConfig,
    OracleConfig,
    Scenario,
)
from auction.scenario.world import World


def build(scenario: Scenario, design: str, seed: int, *, accounts: int | None = None) -> World:
    path = price_path(scenario, seed)
    asset = scenario.prices.asset
    prices = path.prices[asset]
    end = float(scenario.duration_s or path.times[-1])
    oracle = make_oracle(scenario.oracle.kind, **_oracle_params(scenario.oracle))
    ut, up = oracle.updates(path.times, prices)
    updates = [(float(t), {asset: float(p)}) for t, p in zip(ut, up, strict=True) if t <= end]
    n = accounts if accounts is not None else scenario.accounts.n
    gas = _gas_model(scenario.gas, path, seed)
    market = make_market(scenario.market.kind, path, **_market_params(scenario.market))
    native = "ETH" if "ETH" in path.prices else asset
    times = path.times

    market_price = path.price

    if scenario.perp is not None:
        population, margins = None, None
        book = perp_book(scenario.perp, n, asset, float(prices[0]), market, seed, market_price)
    else:
        population = _accounts(scenario.accounts, n, asset, float(prices[0]), seed)
        margins = _vol_margins(scenario.accounts, population, ut[: len(updates)], up[: len(updates)])
        book = None

    def proceeds(a: str, qty: int, t: float) -> int:
        return units.num(market.proceeds(units.col_f(qty), t))

    def native_price(t: float) -> float:
        return market_price(native, t)

    def gas_cost(gas_units: int, gwei: float, t: float) -> int:
        return fee_num(gas_units, gwei, native_price(t))

    return World(
        scenario=scenario, design=design, seed=seed, asset=asset, accounts=population, oracle_mm=margins,
        designs=scenario.designs, house_params=house_params(scenario),
        oracle_updates=updates, end=end, market_price=market_price, proceeds=proceeds, gas_cost=gas_cost,
        gas_gwei=gas.gwei, series_times=[float(x) for x in times if x <= end],
        series_market=[float(p) for x, p in zip(times, prices, strict=True) if x <= end],
        keeper_specs=list(scenario.keepers), t0_unix=path.t0_unix if isinstance(scenario.prices, CsvPrices) else None,
        native=native, native_price=native_price, gas_units=gas_units(scenario, design), book=book,
    )


def price_path(scenario: Scenario, seed: int) -> PricePath:
    p = scenario.prices
    if isinstance(p, CsvPrices):
        return load_csv(scenario.csv_path or p.file, asset=p.asset, column=p.column, gas_column=scenario.gas.column,
                        reserve_columns=(scenario.market.reserve_num_column, scenario.market.reserve_col_column))
    if not isinstance(p, JumpPrices):
        return gbm(p.s0, p.mu, p.sigma, p.dt_s, p.steps, seed, asset=p.asset)
    return jump_diffusion(p.s0, p.mu, p.sigma, p.lam, p.jump_mean, p.jump_std, p.dt_s, p.steps, seed, asset=p.asset)


def _accounts(cfg: AccountsConfig, n: int, asset: str, p0: float, seed: int) -> acc.Accounts:
    return acc.generate(
        n, (asset,), np.array([p0]), seed=seed, debt_mean=cfg.debt_mean, debt_sigma=cfg.debt_sigma,
        cr_low=cfg.cr_low, cr_high=cfg.cr_high, liquidation_ratio=cfg.liquidation_ratio, cross_share=cfg.cross_share,
    )


def _vol_margins(
    cfg: AccountsConfig, population: acc.Accounts, times: np.ndarray, prices: np.ndarray
) -> list[Any] | None:
    """Volatility-adjusted maintenance margin at each oracle update, when the scenario asks for it.

    sigma from the EWMA of the oracle's own prices (what the protocol sees), with a half-life of the
    liquidation horizon; mm(t) = max(mm_floor, k * sigma(t) * sqrt(horizon)) (auction.book.margin).
    """
    if not cfg.vol_adjusted or len(times) < 2:
        return None
    sigma = ewma_vol(prices, times, cfg.vol_horizon_s) / np.sqrt(YEAR_S)  # annualized -> per sqrt(second)
    return [vol_adjusted_mm(population.mm, np.array([s]), k=cfg.vol_k, horizon=cfg.vol_horizon_s) for s in sigma]


def _oracle_params(cfg: OracleConfig) -> dict[str, float]:
    if isinstance(cfg, DelayedOracleConfig):
        return {"hop_s": cfg.hop_s}
    if isinstance(cfg, ChainlinkOracleConfig):
        return {"deviation": cfg.deviation, "heartbeat_s": cfg.heartbeat_s}
    return {}


def _market_params(cfg: MarketConfig) -> dict[str, float]:
    return {"depth": cfg.depth, "shrink": cfg.shrink}


def _gas_model(cfg: GasConfig, path: PricePath, seed: int) -> GasModel:
    if cfg.source == "data":
        return GasModel.from_path(path)
    if cfg.source == "model":
        return GasModel.synthetic(path, base_gwei=cfg.gwei, spike=cfg.spike)
    return GasModel.fixed(cfg.gwei)
