"""Typed parameters: the auction house's, and the constraint shorthands every design's parameters use.

Each design's own parameters live in its module (``auction.designs``); scenario files give them as TOML tables
(``[designs.dutch]`` ...) that msgspec decodes into those Structs, enforcing each field's range
(``Meta(gt=0)``) and choices (``Literal``). Money in whole USD, times in seconds, ratios as fractions
(``chop`` and ``buf`` are multipliers, as in MakerDAO: 1.13 is a 13% penalty).
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from msgspec import Meta, Struct

# Constraint shorthands; msgspec checks them when a file is decoded (never in __init__).
Positive: TypeAlias = Annotated[float, Meta(gt=0)]
NonNegative: TypeAlias = Annotated[float, Meta(ge=0)]
Fraction: TypeAlias = Annotated[float, Meta(ge=0, lt=1)]  # [0, 1)
Share: TypeAlias = Annotated[float, Meta(gt=0, le=1)]  # (0, 1]
Multiplier: TypeAlias = Annotated[float, Meta(ge=1)]  # a penalty or increment factor: 1.13 is +13%


class HouseParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the auction house does each block (from a scenario's [house] table and its [gas] block settings)."""

    max_kicks_per_block: Annotated[int, Meta(ge=1)] = 20  # liquidation capacity, like Maker's Hole/hole in spirit
    block_time_s: Positive = 12.0
    block_gas_limit: Annotated[int, Meta(ge=1)] = 3_000_000  # gas per block available to liquidation transactions
    insurance_fund: NonNegative = 0.0  # USD
    surplus_buffer: NonNegative = 0.0  # USD the protocol starts with (pays incentives first)
    drain_s: NonNegative = 21600.0  # after the price path ends, auctions run this long before the books close
    zero_bid_fraction: Fraction = 0.01  # a fill below this fraction of the market price is a "zero bid"
    # USD: the most tab in auction at once (Maker's Dog hole/Hole, dss dog.sol bark): no kick while the open sales'
    # outstanding tabs reach it; 0: no limit. Seizing designs only (fixed-penalty opens no auction).
    hole: NonNegative = 0.0
