"""Mean and 95% interval over seeds, checked against hand computations."""

from __future__ import annotations

import itertools
import math

import pytest

from auction.compare.stats import mean_ci95, t975


def test_two_values_hand_computed() -> None:
    # x = [1, 3]: mean 2, s = sqrt(((1-2)^2 + (3-2)^2) / 1) = sqrt(2), half = 12.706205 * sqrt(2) / sqrt(2)
    iv = mean_ci95([1.0, 3.0])
    assert iv.mean == 2.0
    assert iv.lo == pytest.approx(2.0 - 12.706205)
    assert iv.hi == pytest.approx(2.0 + 12.706205)
    assert iv.n == 2


def test_five_values_hand_computed() -> None:
    # x = [2, 4, 4, 4, 6]: mean 4, s^2 = (4 + 0 + 0 + 0 + 4) / 4 = 2, half = 2.776445 * sqrt(2) / sqrt(5)
    iv = mean_ci95([2, 4, 4, 4, 6])
    half = 2.776445 * math.sqrt(2) / math.sqrt(5)
    assert iv.mean == 4.0
    assert iv.lo == pytest.approx(4.0 - half, abs=1e-12)
    assert iv.hi == pytest.approx(4.0 + half, abs=1e-12)
    assert half == pytest.approx(1.756, abs=1e-3)


def test_eight_seeds() -> None:
    # 8 seeds, the compare default: t(7) = 2.364624; x = 1..8: mean 4.5, s^2 = 42/7 = 6
    iv = mean_ci95(range(1, 9))
    half = 2.364624 * math.sqrt(6) / math.sqrt(8)
    assert (iv.lo, iv.hi) == (pytest.approx(4.5 - half), pytest.approx(4.5 + half))


def test_one_value_is_degenerate_interval() -> None:
    iv = mean_ci95([7.5])
    assert (iv.mean, iv.lo, iv.hi, iv.n) == (7.5, 7.5, 7.5, 1)


def test_identical_values_have_zero_width() -> None:
    iv = mean_ci95([3.0] * 6)
    assert iv.lo == iv.hi == 3.0


def test_non_finite_values_are_left_out() -> None:
    iv = mean_ci95([1.0, float("nan"), 3.0, float("inf")])
    assert iv.n == 2 and iv.mean == 2.0


def test_nothing_to_average() -> None:
    iv = mean_ci95([float("nan")])
    assert (iv.mean, iv.lo, iv.hi, iv.n) == (None, None, None, 0)


@pytest.mark.parametrize(
    ("df", "exact"),
    # exact quantiles from a standard t table (scipy.stats.t.ppf(0.975, df), not a dependency)
    [(1, 12.706205), (7, 2.364624), (30, 2.042272), (31, 2.0395134), (40, 2.0210754), (60, 2.0002978),
     (120, 1.9799304), (1000, 1.9623391)],
)
def test_t_quantile(df: int, exact: float) -> None:
    assert t975(df) == pytest.approx(exact, abs=2e-6)


def test_t_quantile_decreases_to_normal() -> None:
    values = [t975(df) for df in range(1, 200)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert t975(10**6) == pytest.approx(1.959964, abs=1e-5)


def test_bad_degrees_of_freedom() -> None:
    with pytest.raises(ValueError):
        t975(0)
