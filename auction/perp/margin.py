"""Tiered margin: notional brackets (Binance, Bybit, Hyperliquid) and dYdX v4 liquidity tiers.

Brackets. Every venue below prices maintenance the same way, with the tier picked by the position's
notional (floor inclusive):

    maintenance_margin = notional * mmr(tier) - maintenance_amount(tier)
    maintenance_amount(0) = 0
    maintenance_amount(n) = maintenance_amount(n-1) + floor(n) * (mmr(n) - mmr(n-1))

The amount ("cum" in Binance's API, "maintenance deduction" at Hyperliquid) makes the margin a continuous
function of notional: each tier only charges its own rate on the part above its floor, like a tax bracket.
Sources: Binance "Leverage and Margin of USDⓈ-M Futures" (https://www.binance.com/en/support/articles/360033162192)
and its COIN-M twin (https://www.binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46, which states the
recurrence); Hyperliquid margin tiers (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers),
where ``mmr = 1 / (2 * max_leverage)``: half the initial margin at the tier's maximum leverage.

Rates are exact ``Fraction``s (1/30 for 15x has no finite decimal); a requirement is rounded up to a
numeraire base unit, against the trader.

dYdX v4 (``dydx_*``) has one liquidity tier per market instead of brackets: an initial margin fraction
(IMF, ppm), a maintenance fraction of it (ppm), and an IMF that rises linearly with open interest between
two caps. Source: dydxprotocol/v4-chain ``protocol/x/perpetuals/types/liquidity_tier.go`` and
``protocol/x/perpetuals/lib/lib.go`` (GetMarginRequirementsInQuoteQuantums), rounding as there.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise

from auction.errors import ConfigError
from auction.units import NUM

PPM = 1_000_000
RateLike = Fraction | int | str | float


def rate(x: RateLike) -> Fraction:
    """An exact rate from a Fraction, int, decimal string or float (a float is read as its shortest repr)."""
    if isinstance(x, bool):
        raise TypeError("a rate cannot be a bool")
    if isinstance(x, float):
        return Fraction(repr(x))  # 0.025 -> 1/40, not the binary double next to it
    return Fraction(x)


@dataclass(frozen=True, slots=True)
class TierTable:
    """Notional brackets: floors (numeraire base units, first 0) with their maintenance and initial rates.

    ``imr`` is the initial margin rate at the tier's maximum leverage (1 / max leverage), or None when the
    table only prices maintenance. ``cum`` (the maintenance amounts) is derived, never given.
    """

    floors: tuple[int, ...]
    mmr: tuple[Fraction, ...]
    imr: tuple[Fraction, ...] | None = None
    cum: tuple[Fraction, ...] = field(init=False)

    def __post_init__(self) -> None:
        floors, mmr, imr = self.floors, self.mmr, self.imr
        _check(len(floors) > 0, "a tier table needs at least one tier")
        _check(len(mmr) == len(floors), f"{len(floors)} floors but {len(mmr)} maintenance rates")
        _check(floors[0] == 0, f"the first tier must start at notional 0, not {floors[0]}")
        _check(all(a < b for a, b in pairwise(floors)), f"floors must rise: {floors}")
        _check(all(0 < r < 1 for r in mmr), f"maintenance rates must be in (0, 1): {[str(r) for r in mmr]}")
        _check(all(a <= b for a, b in pairwise(mmr)), "maintenance rates must not fall")
        if imr is not None:
            _check(len(imr) == len(floors), f"{len(floors)} floors but {len(imr)} initial rates")
            _check(all(0 < r <= 1 for r in imr), f"initial rates must be in (0, 1]: {[str(r) for r in imr]}")
            _check(all(a <= b for a, b in pairwise(imr)), "initial rates must not fall")
            _check(all(m < i for m, i in zip(mmr, imr, strict=True)), "maintenance must be below initial margin")
        cum = [Fraction(0)]
        for n in range(1, len(floors)):
            cum.append(cum[-1] + floors[n] * (mmr[n] - mmr[n - 1]))
        object.__setattr__(self, "cum", tuple(cum))

    @classmethod
    def brackets(
        cls, floors: Sequence[int], mmr: Sequence[RateLike], max_leverage: Sequence[RateLike] | None = None
    ) -> TierTable:
        """Binance/Bybit style: floors (numeraire base units) with their own maintenance rates."""
        imr = None if max_leverage is None else tuple(1 / rate(x) for x in max_leverage)
        return cls(tuple(floors), tuple(rate(x) for x in mmr), imr)

    @classmethod
    def hyperliquid(cls, floors: Sequence[int], max_leverage: Sequence[RateLike]) -> TierTable:
        """Hyperliquid style: maintenance is half the initial margin at each tier's max leverage."""
        lev = [rate(x) for x in max_leverage]
        return cls(tuple(floors), tuple(1 / (2 * x) for x in lev), tuple(1 / x for x in lev))

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, object]]) -> TierTable:
        """From scenario rows ``{floor = whole numeraire, mmr = rate}`` and/or ``max_leverage``.

        A row with ``max_leverage`` but no ``mmr`` follows Hyperliquid's rule (mmr = 1 / (2 * leverage)).
        """
        floors: list[int] = []
        mmr: list[Fraction] = []
        imr: list[Fraction] = []
        for i, row in enumerate(rows):
            unknown = set(row) - {"floor", "mmr", "max_leverage"}
            _check(not unknown, f"tier {i}: unknown key(s) {sorted(unknown)}: use floor, mmr, max_leverage")
            _check("floor" in row, f"tier {i}: missing 'floor' (notional where the tier starts, in whole USD)")
            floor = _rate_of(row["floor"], f"tier {i} floor") * NUM
            _check(floor.denominator == 1, f"tier {i}: floor {row['floor']} is finer than a numeraire base unit")
            floors.append(int(floor))
            lev = _rate_of(row["max_leverage"], f"tier {i} max_leverage") if "max_leverage" in row else None
            _check(lev is None or lev >= 1, f"tier {i}: max_leverage must be >= 1, got {lev}")
            if "mmr" in row:
                mmr.append(_rate_of(row["mmr"], f"tier {i} mmr"))
            else:
                _check(lev is not None, f"tier {i}: give mmr, or max_leverage for mmr = 1 / (2 * max_leverage)")
                assert lev is not None
                mmr.append(1 / (2 * lev))
            if lev is not None:
                imr.append(1 / lev)
        _check(len(imr) in (0, len(floors)), "give max_leverage on every tier or on none")
        return cls(tuple(floors), tuple(mmr), tuple(imr) if imr else None)

    def tier(self, notional: int) -> int:
        """Index of the tier holding this notional (a floor belongs to the tier it starts)."""
        _check_notional(notional)
        return bisect.bisect_right(self.floors, notional) - 1

    def maintenance_margin(self, notional: int) -> int:
        """``notional * mmr - maintenance_amount`` of the notional's tier, rounded up."""
        k = self.tier(notional)
        return _ceil(notional * self.mmr[k] - self.cum[k])

    def maintenance_amount(self, notional: int) -> Fraction:
        """The tier's maintenance amount ("cum" / "maintenance deduction"), exact."""
        return self.cum[self.tier(notional)]

    def maintenance_rate(self, notional: int) -> Fraction:
        """The tier's maintenance margin rate."""
        return self.mmr[self.tier(notional)]

    def max_leverage(self, notional: int) -> Fraction | None:
        """The tier's maximum leverage, or None if the table has no initial rates."""
        return None if self.imr is None else 1 / self.imr[self.tier(notional)]


def initial_margin(notional: int, leverage: RateLike) -> int:
    """Initial margin ``notional / leverage``, rounded up."""
    lev = rate(leverage)
    if lev <= 0:
        raise ValueError(f"leverage must be > 0, got {leverage}")
    _check_notional(notional)
    return _ceil(notional / lev)


# dYdX v4 liquidity tiers ------------------------------------------------------------------------------


def dydx_base_to_quote(base_quantums: int, atomic_resolution: int, price: int, exponent: int) -> int:
    """Base quantums -> quote quantums (1e-6 USDC) at ``price * 10**exponent``, truncated toward zero.

    v4-chain ``protocol/lib/quantums.go`` BaseToQuoteQuantums: ``base * price * 10**(exp + res + 6)``.
    liqnet's collateral base unit is 1e-9 token, i.e. atomic resolution -9.
    """
    e = exponent + atomic_resolution + 6  # QuoteCurrencyAtomicResolution = -6
    n = base_quantums * price
    return n * 10**e if e >= 0 else _trunc_div(n, 10**-e)


def dydx_maintenance_margin_ppm(imf_ppm: int, maintenance_fraction_ppm: int) -> int:
    """Maintenance margin fraction = IMF * maintenance fraction, floored (GetMaintenanceMarginPpm)."""
    return imf_ppm * maintenance_fraction_ppm // PPM


def dydx_adjusted_imf_ppm(imf_ppm: int, oi_notional: int, lower_cap: int = 0, upper_cap: int = 0) -> int:
    """Open-interest-scaled IMF: base IMF below the lower cap, rising linearly to 100% at the upper cap.

    GetAdjustedInitialMarginPpm: ``imf + (1 - imf) * (oi - lower) / (upper - lower)``, floored; an upper
    cap of 0 turns the scaling off.
    """
    if upper_cap == 0 or oi_notional <= lower_cap:
        return imf_ppm
    if oi_notional >= upper_cap:
        return PPM
    return imf_ppm + (PPM - imf_ppm) * (oi_notional - lower_cap) // (upper_cap - lower_cap)


def dydx_margin_requirements(
    notional: int,
    imf_ppm: int,
    maintenance_fraction_ppm: int,
    oi_notional: int = 0,
    lower_cap: int = 0,
    upper_cap: int = 0,
) -> tuple[int, int]:
    """(initial, maintenance) requirement in quote quantums for a position of |notional|, as v4 rounds.

    Initial: ceil(notional * OI-adjusted IMF). Maintenance: ceil(ceil(notional * base IMF) * fraction):
    the maintenance margin is taken from the *base* initial margin, never the OI-scaled one.
    """
    notional = abs(notional)
    base_im = -(-notional * imf_ppm // PPM)
    mm = -(-base_im * maintenance_fraction_ppm // PPM)
    im = -(-notional * dydx_adjusted_imf_ppm(imf_ppm, oi_notional, lower_cap, upper_cap) // PPM)
    return im, mm


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounded toward zero (Go's Quo, Solidity's /), for b > 0."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


def _check_notional(notional: int) -> None:
    if notional < 0:
        raise ValueError(f"notional must be >= 0 (use the absolute size), got {notional}")


def _rate_of(x: object, what: str) -> Fraction:
    if not isinstance(x, Fraction | int | str | float) or isinstance(x, bool):
        raise ConfigError(f"{what}: expected a number, got {x!r}")
    try:
        return rate(x)
    except (ValueError, ZeroDivisionError) as e:
        raise ConfigError(f"{what}: {x!r} is not a number") from e


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"tier table: {message}")
