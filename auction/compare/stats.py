"""Mean and 95% confidence interval over seeds (Student t), with no scipy.

The two-sided 97.5% quantile of Student's t is tabulated for 1..30 degrees of freedom (values from the
standard table, 6 decimals); above 30 it uses the Cornish-Fisher expansion of t around the normal
quantile z = 1.959964 (Abramowitz & Stegun 26.7.5, three correction terms), within 2e-6 of the exact value
from 31 degrees of freedom on (exact 2.0395134 at 31, expansion 2.0395117).

Non-finite values (a metric with nothing to measure in a run, e.g. no fills) are left out; with no
value left the mean and interval are None. One value gives the degenerate interval [x, x].
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_T975: tuple[float, ...] = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)
_Z975 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    mean: float | None
    lo: float | None
    hi: float | None
    n: int


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def mean_ci95(values: Iterable[float]) -> Interval:
    """Mean of the finite values and the 95% interval mean -+ t(n-1) * s / sqrt(n) (s with n-1)."""
    x = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = float(math.fsum(x.tolist()) / n)
    if n == 1:
        return Interval(mean, mean, mean, 1)
    sd = math.sqrt(math.fsum(((x - mean) ** 2).tolist()) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)
