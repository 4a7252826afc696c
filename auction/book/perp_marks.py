"""Index, mark and funding of the perp markets: what moves a position book between liquidations.

- The index is the protocol's oracle price (``on_index``).
- The mark is the index plus a premium EMA: Hyperliquid's first mark component, the oracle plus a 150 s EMA of
  (perp price - oracle) (``auction.perp.funding.PremiumEma``, ``mark_price``). The perp's own price is the
  outside market's (the price path), so the mark leads a lagging oracle.
- Funding falls due every ``interval_s``: the 8-hour rate ``P + clamp(I - P, +/-0.05%)`` from the premium
  (Binance/Hyperliquid, ``funding_rate``), paid as Hyperliquid pays it (an eighth per hour, capped at 4% per
  hour, ``hyperliquid_hourly_rate``) pro rata to the interval, on the index notional. Each market keeps its
  cumulative funding per whole token (``funding_index``, exact); each position is settled from the difference to
  the index it last settled at (``index_payments``): exact and zero-sum between longs and shorts, nothing to or
  from the venue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from auction import units
from auction.perp.funding import PremiumEma, funding_rate, hyperliquid_hourly_rate, index_payments, mark_price

HOUR_S = 3600.0


@dataclass(slots=True)
class Marks:
    """Per market: index, premium EMA and mark (numeraire base units per whole token, ``mark_q`` exact ints)."""

    markets: tuple[str, ...]
    perp_price: Callable[[str, float], float]  # (market, t) -> the perp's own traded price, USD per token
    interval_s: float = HOUR_S
    tau_s: float = 150.0
    index: list[float] = field(default_factory=list)
    emas: list[PremiumEma] = field(default_factory=list)
    mark_q: list[int] = field(default_factory=list)
    last_t: float = 0.0
    next_funding: float = 0.0
    # cumulative funding a long paid per whole token, numeraire base units, exact (dYdX's funding index)
    funding_index: list[Fraction] = field(default_factory=list)
    rates: list[tuple[float, float]] = field(default_factory=list)  # (t, rate of market 0 for the interval)

    def __post_init__(self) -> None:
        k = len(self.markets)
        self.index = [float("nan")] * k
        self.emas = [PremiumEma(tau=self.tau_s) for _ in range(k)]
        self.mark_q = [0] * k
        self.funding_index = [Fraction(0)] * k
        self.next_funding = self.interval_s

    @property
    def priced(self) -> bool:
        return all(q > 0 for q in self.mark_q)

    def on_index(self, oracle: np.ndarray) -> None:
        """The oracle published: the index moves, the mark with it (same premium)."""
        for k in range(len(self.markets)):
            self.index[k] = float(oracle[k])
            self._remark(k)

    def on_block(self, now: float) -> None:
        """Fold the perp's premium over the time since the last block into each EMA, then re-mark."""
        dt = max(now - self.last_t, 0.0)
        self.last_t = now
        for k, name in enumerate(self.markets):
            if self.index[k] == self.index[k]:  # not NaN: the oracle has priced it
                sample = self.perp_price(name, now) - self.index[k]
                self.emas[k] = self.emas[k].update(sample, dt)
                self._remark(k)

    def funding_due(self, now: float) -> bool:
        return self.priced and now >= self.next_funding

    def pay_funding(self, size: np.ndarray, settled: np.ndarray, now: float) -> np.ndarray:
        """The interval's funding joins each market's index; per position, numeraire base units paid (> 0) or
        received (< 0), from the index difference to ``settled`` (each position's index, an object array of
        Fractions); each market's column sums to 0. The caller moves ``settled`` to the new index."""
        self.next_funding += self.interval_s
        out = np.zeros(size.shape, dtype=np.int64)
        for k in range(len(self.markets)):
            rate = self.rate(k)
            if k == 0:
                self.rates.append((now, float(rate)))
            self.funding_index[k] += rate * units.price_q(self.index[k])
            index = self.funding_index[k]
            # positions share a few settled index objects (each interval sets one for all): subtract each once,
            # found by identity (they stay alive in ``settled``; a Fraction's hash costs more than the subtraction)
            owed_at: dict[int, Fraction] = {}
            owed = [owed_at.get(id(f)) or owed_at.setdefault(id(f), index - f) for f in settled[:, k].tolist()]
            if any(owed):
                out[:, k] = index_payments(size[:, k], owed)
        return out

    def rate(self, k: int) -> Fraction:
        """The interval's rate: the premium EMA over the index, clamped as Binance/Hyperliquid clamp it."""
        premium = Fraction(self.emas[k].value / self.index[k]).limit_denominator(10**12)
        hourly = hyperliquid_hourly_rate(funding_rate(premium))
        return hourly * Fraction(self.interval_s).limit_denominator(1000) / Fraction(int(HOUR_S))

    def _remark(self, k: int) -> None:
        self.mark_q[k] = units.price_q(mark_price(self.index[k], self.emas[k]))
