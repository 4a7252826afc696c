"""Base-unit conversions: the checks they make inline (no helper call per conversion) still refuse what they must."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auction import units


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_amounts_must_be_finite(bad: float) -> None:
    for convert in (units.num, units.col):
        with pytest.raises(ValueError, match="finite"):
            convert(bad)
    with pytest.raises(ValueError, match="finite"):
        units.price_q(bad)


def test_conversions_round_as_documented() -> None:
    assert units.num(110.5) == 110_500_000 and units.num(-2.5) == -2_500_000 and units.num(3) == 3_000_000
    assert units.col(40.0) == 40 * units.COL and units.col(np.float64(1e-9)) == 1
    assert units.price_q(0.0) == 0 and units.price_q(1.0000009) == 1_000_000  # rounded down
    with pytest.raises(ValueError):
        units.price_q(-0.01)
    assert units.ms(1.2344) == 1234 and units.ms(-5.0) == 0 and units.ms(0.0) == 0
    assert type(units.ms(2.0)) is int and type(units.num(np.float64(2.0))) is int
