"""Everything a run needs, built once from a scenario, a design and a seed.

The run kernel starts from ``auction.scenario.build.build_world`` under both clocks: the same price path,
oracle updates, gas, market depth, accounts and keeper population, so their outcomes can be compared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auction.book.accounts import Accounts
from auction.book.base import MarginBook
from auction.book.vaults import VaultBook
from auction.params import HouseParams
from auction.scenario.tables import KeeperSpec, Scenario


@dataclass(slots=True)
class World:
    scenario: Scenario
    design: str
    seed: int
    asset: str
    accounts: Accounts | None  # vault scenarios; a perp scenario's positions are in ``book``
    designs: Mapping[str, Any]  # design table name -> params (auction.designs.defaults)
    house_params: HouseParams
    oracle_updates: list[tuple[float, dict[str, float]]]
    end: float  # seconds: end of the price path
    market_price: Callable[[str, float], float]
    proceeds: Callable[[str, int, float], int]
    gas_cost: Callable[[int, float, float], int]
    gas_gwei: Callable[[float], float]
    series_times: list[float] = field(default_factory=list)
    series_market: list[float] = field(default_factory=list)
    keeper_specs: list[KeeperSpec] = field(default_factory=list)
    oracle_mm: list[Any] | None = None  # per oracle update: volatility-adjusted maintenance margins, if used
    t0_unix: int | None = None  # unix time of t = 0 when the prices are real data (synthetic paths: None)
    ipv_lots: int = 0
    native: str = "ETH"  # the token gas is paid in: ETH when the price path has it, else the main asset
    native_price: Callable[[float], float] | None = None  # its market price (USD per token) at a time
    gas_units: dict[str, int] | None = None  # action tag -> gas units, overriding the design's defaults
    # textbook-ipv only: a keeper's private value (USD per token) of one lot, shown as its market price.
    private_value: Callable[[str, int], float] | None = None
    book: MarginBook | None = None  # the accounts the house serves: by default a VaultBook of ``accounts``
    # (asset, qty base units, t) -> numeraire base units paid to buy ``qty`` from the outside market (impact)
    buy_cost: Callable[[str, int, float], int] | None = None

    def __post_init__(self) -> None:
        if self.book is None:
            if self.accounts is None:
                raise ValueError("a world needs vault accounts or a book")
            self.book = VaultBook(self.accounts)

    @property
    def margin_book(self) -> MarginBook:
        assert self.book is not None  # set in __post_init__
        return self.book
