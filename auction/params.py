"""Typed parameters of each auction design and of the house: one definition, used everywhere.

Scenario files give them as TOML tables (``[designs.dutch]`` ...): ``auction.scenario.load`` decodes these
very Structs with msgspec, which enforces each field's range (``Meta(gt=0)``) and choices (``Literal``), and
the house runs on them. Money in whole USD, times in seconds, ratios as fractions (``chop`` and ``buf`` are
multipliers, as in MakerDAO: 1.13 is a 13% penalty).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from msgspec import Meta, Struct, field

# Constraint shorthands; msgspec checks them when a file is decoded (never in __init__).
Positive: TypeAlias = Annotated[float, Meta(gt=0)]
NonNegative: TypeAlias = Annotated[float, Meta(ge=0)]
Fraction: TypeAlias = Annotated[float, Meta(ge=0, lt=1)]  # [0, 1)
Share: TypeAlias = Annotated[float, Meta(gt=0, le=1)]  # (0, 1]
Multiplier: TypeAlias = Annotated[float, Meta(ge=1)]  # a penalty or increment factor: 1.13 is +13%


class DutchParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.dutch]: MakerDAO Liquidations 2.0 Clipper + abaci (dss src/clip.sol, src/abaci.sol)."""

    buf: Positive = 1.30  # top = oracle * buf
    curve: Literal["linear", "stairstep", "exponential"] = "stairstep"
    tau: Positive = 3600.0  # linear: seconds to zero
    cut: Share = 0.99  # stairstep: per step; exponential: per second
    step: Positive = 90.0  # stairstep: seconds per step
    tail: Positive = 8400.0  # seconds before a reset is due
    cusp: Annotated[float, Meta(gt=0, lt=1)] = 0.40  # price/top below which a reset is due
    chop: Multiplier = 1.13  # liquidation penalty multiplier on the tab
    tip: NonNegative = 300.0  # flat keeper incentive (USD) on kick and redo
    chip: Fraction = 0.001  # keeper incentive, fraction of the tab
    chost: NonNegative = 0.0  # USD: smallest tab a partial take may leave (dust * chop)


class SealedParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.sealed]: commit-reveal sealed bids, first-price or second-price (Vickrey) clearing."""

    commit_s: Positive = 600.0
    reveal_s: Positive = 300.0
    reserve: Annotated[float, Meta(ge=0, le=2)] = 0.0  # reserve price, fraction of the oracle price
    deposit: NonNegative = 100.0  # USD held at commit, forfeited without a reveal
    chop: Multiplier = 1.13
    rounds: Annotated[int, Meta(ge=1, le=100)] = 3  # re-auctions of an unsold lot


class EnglishParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.english]: MakerDAO Liquidations 1.2 Flipper (dss src/flip.sol): tend then dent."""

    beg: Multiplier = 1.03  # minimum bid increase
    ttl_s: Positive = 600.0  # bid lifetime
    tau_s: Positive = 21_600.0  # auction length
    chop: Multiplier = 1.13


class FixedParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.fixed]: fixed-bonus liquidation (Aave v3 LiquidationLogic.sol)."""

    bonus: Fraction = 0.05  # collateral seized at oracle * (1 + bonus)
    close_factor: Share = 0.5  # DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5e4
    full_close_health: Share = 0.95  # CLOSE_FACTOR_HF_THRESHOLD = 0.95e18
    protocol_fee: Annotated[float, Meta(ge=0, le=1)] = 0.0  # share of the bonus to the protocol


DesignParams: TypeAlias = DutchParams | SealedParams | EnglishParams | FixedParams

# The ONE list of design parameter tables ([designs.NAME] in a scenario file). Everything that needs to
# know which tables exist (decoding, --set keys, reports) reads it; a design registry will replace it.
DESIGN_TABLES: dict[str, type[DesignParams]] = {
    "dutch": DutchParams,
    "sealed": SealedParams,
    "english": EnglishParams,
    "fixed": FixedParams,
}


class Designs(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Parameters of every design; a run uses one of them. Its fields are DESIGN_TABLES (a test holds that)."""

    dutch: DutchParams = field(default_factory=DutchParams)
    sealed: SealedParams = field(default_factory=SealedParams)
    english: EnglishParams = field(default_factory=EnglishParams)
    fixed: FixedParams = field(default_factory=FixedParams)


class HouseParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the auction house does each block (from a scenario's [house] table and its [gas] block settings)."""

    max_kicks_per_block: Annotated[int, Meta(ge=1)] = 20  # liquidation capacity, like Maker's Hole/hole in spirit
    block_time_s: Positive = 12.0
    block_gas_limit: Annotated[int, Meta(ge=1)] = 3_000_000  # gas per block available to liquidation transactions
    insurance_fund: NonNegative = 0.0  # USD
    surplus_buffer: NonNegative = 0.0  # USD the protocol starts with (pays incentives first)
    drain_s: NonNegative = 21600.0  # after the price path ends, auctions run this long before the books close
    zero_bid_fraction: Fraction = 0.01  # a fill below this fraction of the market price is a "zero bid"
