"""Per-position equity, liquidation price, bankruptcy price and health; longs breach on falls, shorts on rises.

A position is ``size`` (signed collateral base units, long > 0) opened at ``entry_q``, backed by ``balance``
(numeraire base units: the isolated margin, or the cross wallet balance). With s = size in tokens:

    equity(P)      = balance + other_upnl + s * (P - entry)
    maintenance(P) = |s| * P * mmr - cum + other_mm

The liquidation price solves equity = maintenance; the bankruptcy price solves equity = 0:

    liquidation = (balance + other_upnl - other_mm + cum - s * entry) / (|s| * mmr - s)
    bankruptcy  = entry - (balance + other_upnl) / s

The first is Binance's published formula for USDⓈ-M futures, one-way mode, with side = sign(s):
``LP = (WB - TMM1 + UPNL1 + cumB - side * pos * EP) / (pos * MMR - side * pos)``, TMM1 and UPNL1 being the
maintenance margin and unrealized PnL of the account's *other* positions (zero when isolated)
(https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93). Hyperliquid's
``liq_price = price - side * margin_available / position_size / (1 - l * side)`` with l = 1 / maintenance
leverage and margin_available = margin - maintenance at ``price`` is the same equation with entry = price
and cum = 0 (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations).

Prices come back exact (``Fraction``, numeraire base units per whole token); ``to_price_q`` quantizes
against the position holder: up for a long (liquidated and bankrupt a hair sooner), down for a short.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction

import numpy as np

from auction.perp.margin import TierTable
from auction.units import COL


def notional(size: int, price_q: int | Fraction) -> Fraction:
    """|size| * price in numeraire base units, exact."""
    return abs(size) * Fraction(price_q) / COL


def upnl(size: int, entry_q: int | Fraction, mark_q: int | Fraction) -> Fraction:
    """Unrealized PnL ``size * (mark - entry)``, exact (a short gains when the mark falls)."""
    return size * (Fraction(mark_q) - Fraction(entry_q)) / COL


def equity(balance: int, size: int, entry_q: int | Fraction, mark_q: int | Fraction, other_upnl: int = 0) -> Fraction:
    """Balance plus the account's unrealized PnL at ``mark_q``."""
    return balance + other_upnl + upnl(size, entry_q, mark_q)


def liquidation_price(
    size: int,
    entry_q: int | Fraction,
    balance: int,
    mmr: Fraction,
    cum: Fraction | int = 0,
    *,
    other_upnl: int | Fraction = 0,
    other_mm: int | Fraction = 0,
) -> Fraction | None:
    """The mark at which equity meets maintenance for one tier's (mmr, cum); None for no position.

    A result <= 0 is a long that no price can liquidate (Binance shows "--").
    """
    if size == 0:
        return None
    s = Fraction(size, COL)
    num = balance + Fraction(other_upnl) - Fraction(other_mm) + Fraction(cum) - s * Fraction(entry_q)
    return num / (abs(s) * mmr - s)


def liquidation_price_tiered(
    size: int,
    entry_q: int | Fraction,
    balance: int,
    table: TierTable,
    *,
    other_upnl: int | Fraction = 0,
    other_mm: int | Fraction = 0,
) -> Fraction | None:
    """Liquidation price with the tier taken *at the liquidation price*, as Binance asks.

    equity - maintenance is strictly monotone in the mark (maintenance grows slower than |s| per unit of
    price), so exactly one tier's solution falls inside that tier.
    """
    if size == 0:
        return None
    first: Fraction | None = None
    for k in range(len(table.floors)):
        p = liquidation_price(
            size, entry_q, balance, table.mmr[k], table.cum[k], other_upnl=other_upnl, other_mm=other_mm
        )
        assert p is not None
        first = p if first is None else first
        if p <= 0:
            return first  # a long that cannot be liquidated: report the tier-0 solution, <= 0
        if bisect.bisect_right(table.floors, notional(size, p)) - 1 == k:
            return p
    raise AssertionError("no tier holds its own liquidation price")  # unreachable for a valid table


def bankruptcy_price(
    size: int, entry_q: int | Fraction, balance: int, *, other_upnl: int | Fraction = 0
) -> Fraction | None:
    """The mark at which equity is exactly zero; None for no position."""
    if size == 0:
        return None
    return Fraction(entry_q) - (balance + Fraction(other_upnl)) / Fraction(size, COL)


def to_price_q(price: Fraction, size: int) -> int:
    """Quantize a liquidation or bankruptcy price against the holder: ceiling for a long, floor for a short."""
    return -(-price.numerator // price.denominator) if size > 0 else price.numerator // price.denominator


def is_liquidatable(equity: int | Fraction, maintenance: int | Fraction) -> bool:
    """Liquidatable iff the requirement is positive and above equity (dYdX v4 lib/margin/risk.go IsLiquidatable)."""
    return maintenance > 0 and maintenance > equity


def health(equity: int | Fraction, maintenance: int | Fraction) -> float:
    """equity / maintenance, for ranking and reports; inf when nothing is required."""
    return math.inf if maintenance == 0 else float(Fraction(equity) / Fraction(maintenance))


def liquidation_prices(
    sizes: np.ndarray, entries_q: np.ndarray, balances: np.ndarray, mmr: np.ndarray, cum: np.ndarray | float = 0.0
) -> np.ndarray:
    """Vectorized float ``liquidation_price`` for detection (NaN where size is 0); analytics only."""
    s = np.asarray(sizes, dtype=np.float64) / COL
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.asarray(balances, np.float64) + cum - s * np.asarray(entries_q, np.float64)) / (np.abs(s) * mmr - s)
    return np.where(s == 0, np.nan, out)
