"""Dutch-auction price curves: MakerDAO Liquidations 2.0 abacus contracts.

Reference: makerdao/dss ``src/abaci.sol``. Each curve maps the starting price ``top`` and the
seconds elapsed since the auction (re)started to the current price, exactly as the contracts do in
meaning (they use ray fixed point; we use floats and quantize once, in ``auction.units``):

- ``LinearDecrease(tau)``: ``top * (tau - dur) / tau``, and 0 from ``dur >= tau``;
- ``StairstepExponentialDecrease(cut, step)``: ``top * cut ** (dur // step)`` (whole steps only);
- ``ExponentialDecrease(cut)``: ``top * cut ** dur`` (per-second factor).

``crossing(top, level)`` is the inverse the simulator needs: the first elapsed time at which the
price is at or below ``level`` (``math.inf`` if it never gets there), so Dutch auctions are resolved
at the moment a keeper's reservation is reached instead of by polling.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Protocol


class Curve(Protocol):
    """A price curve; implementations are frozen dataclasses, so they hash and compare by value."""

    def __hash__(self) -> int: ...

    def price(self, top: float, elapsed: float) -> float: ...

    def crossing(self, top: float, level: float) -> float: ...


@dataclass(frozen=True, slots=True)
class LinearDecrease:
    """Price falls linearly from ``top`` to 0 over ``tau`` seconds (abaci.sol LinearDecrease)."""

    tau: float

    def __post_init__(self) -> None:
        _require(self.tau > 0, f"LinearDecrease: tau must be > 0 seconds, got {self.tau}")

    def price(self, top: float, elapsed: float) -> float:
        if elapsed >= self.tau:  # abaci.sol: `if (dur >= tau) return 0;`
            return 0.0
        return top * (self.tau - elapsed) / self.tau

    def crossing(self, top: float, level: float) -> float:
        if level >= top:
            return 0.0
        if level <= 0:
            return self.tau
        return _first_at_or_below(self, top, level, self.tau * (top - level) / top)


@dataclass(frozen=True, slots=True)
class StairstepExponentialDecrease:
    """Price multiplied by ``cut`` every ``step`` seconds (abaci.sol StairstepExponentialDecrease)."""

    cut: float
    step: float

    def __post_init__(self) -> None:
        _require(0 < self.cut <= 1, f"StairstepExponentialDecrease: cut must be in (0, 1], got {self.cut}")
        _require(self.step > 0, f"StairstepExponentialDecrease: step must be > 0 seconds, got {self.step}")

    def price(self, top: float, elapsed: float) -> float:
        # abaci.sol: rmul(top, rpow(cut, dur / step, RAY)) -- integer division: whole steps.
        return top * self.cut ** (elapsed // self.step)

    def crossing(self, top: float, level: float) -> float:
        if level >= top:
            return 0.0
        if level <= 0 or self.cut == 1:
            return math.inf
        steps = math.ceil(math.log(level / top) / math.log(self.cut))
        # Float logs can land one step off either way; settle on the first whole step at or below.
        while steps > 0 and top * self.cut ** (steps - 1) <= level:
            steps -= 1
        while top * self.cut**steps > level:
            steps += 1
        t = steps * self.step
        while t // self.step < steps:  # float product can fall a hair short of the step boundary
            t = math.nextafter(t, math.inf)
        return t


@dataclass(frozen=True, slots=True)
class ExponentialDecrease:
    """Price multiplied by ``cut`` every second, continuously (abaci.sol ExponentialDecrease)."""

    cut: float

    def __post_init__(self) -> None:
        _require(0 < self.cut <= 1, f"ExponentialDecrease: cut must be in (0, 1], got {self.cut}")

    def price(self, top: float, elapsed: float) -> float:
        return top * self.cut**elapsed

    def crossing(self, top: float, level: float) -> float:
        if level >= top:
            return 0.0
        if level <= 0 or self.cut == 1:
            return math.inf
        return _first_at_or_below(self, top, level, math.log(level / top) / math.log(self.cut))


def make_curve(kind: str, *, tau: float = 0.0, cut: float = 0.0, step: float = 0.0) -> Curve:
    """Build a curve by name: "linear" (tau), "stairstep" (cut, step) or "exponential" (cut)."""
    if kind == "linear":
        return LinearDecrease(tau)
    if kind == "stairstep":
        return StairstepExponentialDecrease(cut, step)
    if kind == "exponential":
        return ExponentialDecrease(cut)
    raise ValueError(f"unknown curve {kind!r}: use linear, stairstep or exponential")


@functools.lru_cache(maxsize=256)
def shared_curve(kind: str, tau: float = 0.0, cut: float = 0.0, step: float = 0.0) -> Curve:
    """``make_curve``, built once per distinct shape: curves are immutable, so one object serves every sale
    and keeper view with the same terms."""
    return make_curve(kind, tau=tau, cut=cut, step=step)


@functools.lru_cache(maxsize=8192)
def crossing(curve: Curve, top: float, level: float) -> float:
    """``curve.crossing(top, level)``, remembered: a run asks it again and again for the few distinct tops (the
    oracle at kick times ``buf``) and reservation levels (market prices) it has."""
    return curve.crossing(top, level)


def _first_at_or_below(curve: Curve, top: float, level: float, guess: float) -> float:
    """Nudge an analytic crossing time up by ulps until the curve is really at or below ``level``."""
    t = max(guess, 0.0)
    while curve.price(top, t) > level:
        t = math.nextafter(t, math.inf)
    return t


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
