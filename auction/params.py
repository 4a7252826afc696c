"""Typed, validated parameters of each auction design and of the house.

Scenario files give them as TOML tables (``[designs.dutch]``, ``[house]`` ...); ``from_mapping`` turns a
table into one of these dataclasses or raises ``ConfigError`` naming the bad key, so there is one place
that knows what each parameter means and what it defaults to.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from auction.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DutchParams:
    """MakerDAO Clipper. Defaults: ETH-A as governed in 2021 (buf 1.3, stairstep 1% per 90 s, tail 140 min,
    cusp 0.4, chip 0.1%, tip 300 DAI; dss-exec-lib spells and makerburn), chop 1.13 (13% penalty)."""

    buf: float = 1.30
    curve: str = "stairstep"
    tau: float = 3600.0  # linear only: seconds to reach zero
    cut: float = 0.99
    step: float = 90.0
    tail: float = 8400.0
    cusp: float = 0.40
    chop: float = 1.13
    tip: float = 300.0  # USD
    chip: float = 0.001
    chost: float = 0.0  # USD: smallest tab a partial take may leave; Maker sets dust * chop (clip.sol upchost)


@dataclass(frozen=True, slots=True)
class SealedParams:
    """Commit-reveal sealed bids; shared by sealed-first and sealed-second."""

    commit_s: float = 600.0
    reveal_s: float = 300.0
    reserve: float = 0.0  # fraction of the oracle price; 0 = no reserve
    deposit: float = 100.0  # USD held at commit, forfeited without a reveal
    chop: float = 1.13
    rounds: int = 3  # a lot not fully sold is offered again, up to this many rounds in all


@dataclass(frozen=True, slots=True)
class EnglishParams:
    """MakerDAO Flipper as on Black Thursday: beg 3%, ttl 10 min, tau 6 h (dss src/flip.sol; MIP/exec spells)."""

    beg: float = 1.03
    ttl_s: float = 600.0
    tau_s: float = 21600.0
    chop: float = 1.13


@dataclass(frozen=True, slots=True)
class FixedParams:
    """Aave v3 liquidation: close factor 50%, 100% below health 0.95; bonus 5% (ETH on Aave v3)."""

    bonus: float = 0.05
    close_factor: float = 0.5
    full_close_health: float = 0.95
    protocol_fee: float = 0.0


@dataclass(frozen=True, slots=True)
class HouseParams:
    """What the auction house does each block."""

    max_kicks_per_block: int = 20  # liquidation capacity, like Maker's Hole/hole in spirit
    block_time_s: float = 12.0
    block_gas_limit: int = 3_000_000  # gas per block available to liquidation transactions
    insurance_fund: float = 0.0  # USD
    surplus_buffer: float = 0.0  # USD the protocol starts with (pays incentives first)
    drain_s: float = 21600.0  # after the price path ends, auctions run this long before the books close
    zero_bid_fraction: float = 0.01  # a fill below this fraction of the market price is a "zero bid"


P = TypeVar("P")


def from_mapping(cls: type[P], table: Mapping[str, Any], where: str) -> P:
    """Build ``cls`` from a TOML table, refusing unknown keys, wrong types and non-finite numbers."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(sorted(fields))}")
        default = fields[key].default
        kwargs[key] = _coerce(value, default, f"{where}.{key}")
    return cls(**kwargs)


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: expected a whole number >= 0, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}: expected a number >= 0, got {value!r}")
        return float(value)
    if not isinstance(value, type(default)):
        raise ConfigError(f"{where}: expected {type(default).__name__}, got {value!r}")
    return value
