"""Typed parameters of each auction design and of the house: one definition, used everywhere.

Scenario files give them as TOML tables (``[designs.dutch]`` ...): ``auction.scenario.load`` builds these
very classes, checking each key against the range its field declares (``key(..., gt=0)``), and the house runs
on them. Money in whole USD, times in seconds, ratios as fractions (``chop`` and ``buf`` are multipliers,
as in MakerDAO: 1.13 is a 13% penalty).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def key(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[str, ...] | None = None,
    internal: bool = False,
) -> Any:
    """A scenario key with its allowed range; ``internal`` keys are derived, never written by users."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "internal": internal}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta, hash=False)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class DutchParams:
    """[designs.dutch]: MakerDAO Liquidations 2.0 Clipper + abaci (dss src/clip.sol, src/abaci.sol)."""

    buf: float = key(1.30, gt=0)  # top = oracle * buf
    curve: str = key("stairstep", choices=("linear", "stairstep", "exponential"))
    tau: float = key(3600.0, gt=0)  # linear: seconds to zero
    cut: float = key(0.99, gt=0, le=1)  # stairstep: per step; exponential: per second
    step: float = key(90.0, gt=0)  # stairstep: seconds per step
    tail: float = key(8400.0, gt=0)  # seconds before a reset is due
    cusp: float = key(0.40, gt=0, lt=1)  # price/top below which a reset is due
    chop: float = key(1.13, ge=1)  # liquidation penalty multiplier on the tab
    tip: float = key(300.0, ge=0)  # flat keeper incentive (USD) on kick and redo
    chip: float = key(0.001, ge=0, lt=1)  # keeper incentive, fraction of the tab
    chost: float = key(0.0, ge=0)  # USD: smallest tab a partial take may leave (dust * chop)


@dataclass(frozen=True, slots=True)
class SealedParams:
    """[designs.sealed]: commit-reveal sealed bids, first-price or second-price (Vickrey) clearing."""

    commit_s: float = key(600.0, gt=0)
    reveal_s: float = key(300.0, gt=0)
    reserve: float = key(0.0, ge=0, le=2)  # reserve price, fraction of the oracle price
    deposit: float = key(100.0, ge=0)  # USD held at commit, forfeited without a reveal
    chop: float = key(1.13, ge=1)
    rounds: int = key(3, ge=1, le=100)  # re-auctions of an unsold lot


@dataclass(frozen=True, slots=True)
class EnglishParams:
    """[designs.english]: MakerDAO Liquidations 1.2 Flipper (dss src/flip.sol): tend then dent."""

    beg: float = key(1.03, ge=1)  # minimum bid increase
    ttl_s: float = key(600.0, gt=0)  # bid lifetime
    tau_s: float = key(21_600.0, gt=0)  # auction length
    chop: float = key(1.13, ge=1)


@dataclass(frozen=True, slots=True)
class FixedParams:
    """[designs.fixed]: fixed-bonus liquidation (Aave v3 LiquidationLogic.sol)."""

    bonus: float = key(0.05, ge=0, lt=1)  # collateral seized at oracle * (1 + bonus)
    close_factor: float = key(0.5, gt=0, le=1)  # DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5e4
    full_close_health: float = key(0.95, gt=0, le=1)  # CLOSE_FACTOR_HF_THRESHOLD = 0.95e18
    protocol_fee: float = key(0.0, ge=0, le=1)  # share of the bonus to the protocol


@dataclass(frozen=True, slots=True)
class Designs:
    """Parameters of every design; a run uses one of them."""

    dutch: DutchParams = field(default_factory=DutchParams)
    sealed: SealedParams = field(default_factory=SealedParams)
    english: EnglishParams = field(default_factory=EnglishParams)
    fixed: FixedParams = field(default_factory=FixedParams)


@dataclass(frozen=True, slots=True)
class HouseParams:
    """What the auction house does each block (from a scenario's [house] table and its [gas] block settings)."""

    max_kicks_per_block: int = 20  # liquidation capacity, like Maker's Hole/hole in spirit
    block_time_s: float = 12.0
    block_gas_limit: int = 3_000_000  # gas per block available to liquidation transactions
    insurance_fund: float = 0.0  # USD
    surplus_buffer: float = 0.0  # USD the protocol starts with (pays incentives first)
    drain_s: float = 21600.0  # after the price path ends, auctions run this long before the books close
    zero_bid_fraction: float = 0.01  # a fill below this fraction of the market price is a "zero bid"
