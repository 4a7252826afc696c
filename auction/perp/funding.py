"""Funding: premium, clamped rate, premium EMA and mark, and zero-sum integer payments.

Rate (Binance, Hyperliquid: the same published formula, per 8-hour period):

    premium P = [max(0, impact_bid - index) - max(0, index - impact_ask)] / index
    F = P + clamp(I - P, -0.05%, +0.05%),   I = 0.01% per 8 hours

so while the premium sits within 0.05% of the interest rate, F = I. Binance pays F on the mark-price notional
every 8 hours (https://www.binance.com/en/support/faq/introduction-to-binance-futures-funding-rates-360033525031);
Hyperliquid (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding) averages 5-second premium
samples over the hour, pays F / 8 every hour on ``size * oracle_price``, capped at 4% per hour.

dYdX v4 clamps the 8-hour rate (premium + default funding) to ``clamp_factor * (IMF - MMF)`` of the market's
liquidity tier (600% by default) and accrues it into a funding index pro rata per second
(v4-chain ``protocol/x/perpetuals/types/liquidity_tier.go`` GetMaxAbsFundingClampPpm,
``protocol/x/perpetuals/funding/funding.go`` GetFundingIndexDelta).

Mark = index + premium EMA: Hyperliquid's first mark component is the oracle price plus a 150-second EMA of
(mid - oracle), with the update ``num = num * exp(-t / 150 s) + sample * t``, ``den = den * exp(-t / 150 s) + t``
(https://hyperliquid.gitbook.io/hyperliquid-docs/trading/robust-price-indices). Floats, as there.

Payments (``funding_payments``) are liqnet's own exact split, zero-sum in numeraire base units:
each payer pays its due rounded *up*; what they paid is shared among the receivers pro rata to size by
largest remainder (ties to the lower index). Nothing is created or lost; a payer pays at most one base
unit over its due, and the receivers share exactly what was collected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from auction.perp.margin import dydx_base_to_quote, dydx_maintenance_margin_ppm
from auction.units import COL

PPM = 1_000_000
INTEREST_8H = Fraction(1, 10_000)  # 0.01% per 8 hours (Binance, Hyperliquid)
CLAMP = Fraction(5, 10_000)  # the +/-0.05% dampener around the interest rate
HYPERLIQUID_HOURLY_CAP = Fraction(4, 100)
DYDX_FUNDING_CLAMP_FACTOR_PPM = 6_000_000  # DefaultFundingRateClampFactorPpm: 600%
DYDX_FUNDING_PERIOD_S = 8 * 60 * 60
EMA_TAU_S = 150.0


def premium_index(impact_bid_q: int, impact_ask_q: int, index_q: int) -> Fraction:
    """``[max(0, bid - index) - max(0, index - ask)] / index``: zero while the index is inside the impact spread."""
    if index_q <= 0:
        raise ValueError(f"index price must be > 0, got {index_q}")
    return Fraction(max(0, impact_bid_q - index_q) - max(0, index_q - impact_ask_q), index_q)


def average_premium(samples: Sequence[Fraction]) -> Fraction:
    """The plain mean of premium samples over the funding interval (Hyperliquid: 5 s samples, hourly)."""
    if not samples:
        raise ValueError("no premium samples")
    return sum(samples, Fraction(0)) / len(samples)


def funding_rate(
    premium: Fraction, interest: Fraction = INTEREST_8H, clamp: Fraction = CLAMP, cap: Fraction | None = None
) -> Fraction:
    """``P + clamp(I - P, -clamp, clamp)``, then clamped to +/-cap if given; > 0 means longs pay shorts."""
    f = premium + min(max(interest - premium, -clamp), clamp)
    return f if cap is None else min(max(f, -cap), cap)


def hyperliquid_hourly_rate(rate_8h: Fraction) -> Fraction:
    """Hyperliquid pays an eighth of the 8-hour rate every hour, capped at 4% per hour."""
    return min(max(rate_8h / 8, -HYPERLIQUID_HOURLY_CAP), HYPERLIQUID_HOURLY_CAP)


def dydx_max_abs_funding_ppm(clamp_factor_ppm: int, imf_ppm: int, maintenance_fraction_ppm: int) -> int:
    """``clamp_factor * (IMF - MMF)`` in ppm, floored (GetMaxAbsFundingClampPpm)."""
    mmf = dydx_maintenance_margin_ppm(imf_ppm, maintenance_fraction_ppm)
    return clamp_factor_ppm * (imf_ppm - mmf) // PPM


def dydx_funding_rate_ppm(
    premium_ppm: int,
    default_funding_ppm: int,
    imf_ppm: int,
    maintenance_fraction_ppm: int,
    clamp_factor_ppm: int = DYDX_FUNDING_CLAMP_FACTOR_PPM,
) -> int:
    """The 8-hour rate: premium plus default funding, clamped to +/- the tier's bound (funding-tick epoch)."""
    bound = dydx_max_abs_funding_ppm(clamp_factor_ppm, imf_ppm, maintenance_fraction_ppm)
    return min(max(premium_ppm + default_funding_ppm, -bound), bound)


def dydx_funding_index_delta(rate_8h_ppm: int, seconds: int, atomic_resolution: int, price: int, exponent: int) -> int:
    """Funding index change: ``rate * seconds`` as base quantums at the oracle price, / 8 hours, toward zero."""
    quote = dydx_base_to_quote(seconds * rate_8h_ppm, atomic_resolution, price, exponent)
    q = abs(quote) // DYDX_FUNDING_PERIOD_S
    return q if quote >= 0 else -q


@dataclass(frozen=True, slots=True)
class PremiumEma:
    """Time-weighted EMA of (mid - index), Hyperliquid's update; ``value`` is 0 before the first sample."""

    num: float = 0.0
    den: float = 0.0
    tau: float = EMA_TAU_S

    def update(self, sample: float, dt: float) -> PremiumEma:
        """Fold in ``sample`` held for ``dt`` seconds since the last update."""
        if dt < 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        decay = math.exp(-dt / self.tau)
        return PremiumEma(self.num * decay + sample * dt, self.den * decay + dt, self.tau)

    @property
    def value(self) -> float:
        """The current EMA."""
        return self.num / self.den if self.den > 0 else 0.0


def mark_price(index: float, ema: PremiumEma) -> float:
    """Mark = index + premium EMA (Hyperliquid's first mark component)."""
    return index + ema.value


def funding_payments(sizes: Sequence[int] | np.ndarray, price_q: int, rate: Fraction) -> np.ndarray:
    """Per position, numeraire base units paid (> 0) or received (< 0) for one interval; sums to exactly 0.

    Due = |size| * price * |rate|. The paying side (longs when rate > 0) pays its due rounded up; the
    receiving side shares the total paid pro rata to |size| by largest remainder. If either side is empty
    nobody pays: funding is a transfer between sides, never to or from the venue.
    """
    s = [int(x) for x in (sizes.tolist() if isinstance(sizes, np.ndarray) else sizes)]
    out = [0] * len(s)
    sign = (rate > 0) - (rate < 0)
    payers = [i for i, x in enumerate(s) if x * sign > 0]
    receivers = [i for i, x in enumerate(s) if x * sign < 0]
    if not payers or not receivers:
        return np.zeros(len(s), dtype=np.int64)
    r = abs(rate) * price_q
    total = 0
    for i in payers:
        due = abs(s[i]) * r / COL
        out[i] = -(-due.numerator // due.denominator)
        total += out[i]
    weights = [abs(s[j]) for j in receivers]
    for j, share in zip(receivers, split_pro_rata(total, weights), strict=True):
        out[j] = -share
    return np.asarray(out, dtype=np.int64)


def split_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` >= 0 in proportion to ``weights`` >= 0 exactly: floors, then the largest remainders.

    Ties in remainder go to the lower index, so the split is deterministic.
    """
    w = sum(weights)
    if total < 0 or w <= 0 or min(weights, default=0) < 0:
        raise ValueError(f"need total >= 0 and non-negative weights with a positive sum, got {total}, {list(weights)}")
    shares = [total * x // w for x in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda k: (-(total * weights[k] % w), k))
    for k in order[:rest]:
        shares[k] += 1
    return shares


def index_payments(sizes: Sequence[int] | np.ndarray, owed: Sequence[Fraction]) -> np.ndarray:
    """Funding settled from each position's index difference: per position, numeraire base units paid (> 0) or
    received (< 0); sums to exactly 0.

    ``owed[i]`` is the market's cumulative funding per whole token less the index at which position ``i`` last
    settled (dYdX v4 ``GetSettlementPpm``: ``size * (index - position's index)``; Drift
    ``calculate_funding_payment``: ``(amm cumulative rate - position's last rate) * base``). Due = size * owed:
    a position whose due is positive pays it rounded up; the receivers share what was paid pro rata to their
    |due|, by largest remainder, as ``funding_payments`` does. With one owed for every position it is
    ``funding_payments`` exactly. Nobody pays when either side is empty.
    """
    s = [int(x) for x in (sizes.tolist() if isinstance(sizes, np.ndarray) else sizes)]
    # due = size * p / (q * COL) for owed = p / q, in integers: most positions share a few owed objects (all
    # settled at the same index), so each is split into p, q once (found by identity: ``owed`` keeps it alive)
    parts: dict[int, tuple[int, int]] = {}
    num: list[int] = []
    den: list[int] = []
    for x, d in zip(s, owed, strict=True):
        pq = parts.get(id(d))
        if pq is None:
            f = Fraction(d)
            pq = parts[id(d)] = (f.numerator, f.denominator)
        num.append(x * pq[0])
        den.append(pq[1])
    payers = [i for i, v in enumerate(num) if v > 0]
    receivers = [i for i, v in enumerate(num) if v < 0]
    out = [0] * len(s)
    if not payers or not receivers:
        return np.zeros(len(s), dtype=np.int64)
    total = 0
    for i in payers:
        out[i] = -(-num[i] // (den[i] * COL))
        total += out[i]
    # the receivers' |due| over one common denominator: a common factor does not change a pro-rata split
    common = math.lcm(*{den[j] for j in receivers})
    weights = [-num[j] * (common // den[j]) for j in receivers]
    for j, share in zip(receivers, split_pro_rata(total, weights), strict=True):
        out[j] = -share
    return np.asarray(out, dtype=np.int64)
