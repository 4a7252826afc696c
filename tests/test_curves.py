"""MakerDAO abaci curves on the numbers of dss src/test/abaci.t.sol, plus the crossing inverse."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.curves import ExponentialDecrease, LinearDecrease, StairstepExponentialDecrease, make_curve


def test_linear_decrease_matches_abaci_test() -> None:
    # abaci.t.sol test_linear_decrease: tau = 3600, top = 1000, 1/10 of the way every 360 s, 0 at tau.
    calc = LinearDecrease(3600)
    for k in range(10):
        assert calc.price(1000.0, 360 * k) == 1000.0 - 100.0 * k
    assert calc.price(1000.0, 3600) == 0.0
    assert calc.price(1000.0, 7200) == 0.0


@pytest.mark.parametrize(
    ("top", "decrease", "step"),
    [
        (50_000_000.0, 0.011234567890, 1),
        (50_000_000.0, 0.021234567890, 1),
        (50_000_000.0, 0.011234567890, 5),
        (50_000_000.0, 0.021234567890, 5),
        (50_000_000.0, 0.011234567890, 300),
        (1e-7, 0.011234567890, 1),
        (1e-7, 0.021234567890, 5),
        (1e-7, 0.011234567890, 300),
    ],
)
def test_stairstep_matches_abaci_test(top: float, decrease: float, step: int) -> None:
    # abaci.t.sol test_stairstep_exp_decrease: every second for 10 minutes the price equals the last
    # price times cut when i % step == 0, else the last price (whole steps only).
    cut = 1 - decrease
    calc = StairstepExponentialDecrease(cut, step)
    price = calc.price(top, 0)
    assert price == top
    for i in range(1, 600):
        last, price = price, calc.price(top, i)
        expected = last * cut if i % step == 0 else last
        assert price == pytest.approx(expected, rel=1e-12)


def test_exponential_half_life_matches_abaci_test() -> None:
    # abaci.t.sol test_continuous_exp_decrease: cut ~= e^(ln(1/2)/900): halves every 900 s, within 0.1%.
    calc = ExponentialDecrease(0.999230132966)
    for i in range(5):
        assert calc.price(4000.0, i * 900) == pytest.approx(4000.0 / 2**i, abs=0.001)


curves = st.one_of(
    st.builds(LinearDecrease, st.floats(1, 1e5)),
    st.builds(StairstepExponentialDecrease, st.floats(0.5, 0.9999), st.floats(1, 600)),
    st.builds(ExponentialDecrease, st.floats(0.9, 0.999999)),
)


@given(curves, st.floats(1e-3, 1e6), st.floats(0.001, 0.999))
def test_crossing_is_the_first_time_at_or_below(curve: object, top: float, frac: float) -> None:
    level = top * frac
    t = curve.crossing(top, level)  # type: ignore[attr-defined]
    assert math.isfinite(t)
    assert curve.price(top, t) <= level  # type: ignore[attr-defined]
    # Just before the crossing the price was still above the level.
    before = t - (curve.step if isinstance(curve, StairstepExponentialDecrease) else max(t * 1e-9, 1e-9))
    if before >= 0:
        assert curve.price(top, before) > level  # type: ignore[attr-defined]


def test_crossing_edges() -> None:
    assert LinearDecrease(100).crossing(10.0, 10.0) == 0.0
    assert LinearDecrease(100).crossing(10.0, 0.0) == 100.0
    assert StairstepExponentialDecrease(0.99, 90).crossing(10.0, 0.0) == math.inf
    assert StairstepExponentialDecrease(1.0, 90).crossing(10.0, 5.0) == math.inf
    # 0.99^69 = 0.4998 is the first whole step at or below half of top.
    assert StairstepExponentialDecrease(0.99, 90).crossing(10.0, 5.0) == 69 * 90


def test_make_curve_and_validation() -> None:
    assert make_curve("linear", tau=60) == LinearDecrease(60)
    assert make_curve("stairstep", cut=0.99, step=90) == StairstepExponentialDecrease(0.99, 90)
    assert make_curve("exponential", cut=0.999) == ExponentialDecrease(0.999)
    with pytest.raises(ValueError, match="unknown curve"):
        make_curve("cubic")
    with pytest.raises(ValueError, match="cut must be in"):
        StairstepExponentialDecrease(1.5, 90)
    with pytest.raises(ValueError, match="step must be > 0"):
        StairstepExponentialDecrease(0.99, 0)
