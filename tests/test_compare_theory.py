"""Auction-theory reference values for the textbook-ipv scenario."""

from __future__ import annotations

import pytest

from auction.compare.theory import revenue_per_lot, theory
from auction.errors import ConfigError
from auction.scenario.load import scenario_from_toml

IPV = """
[ipv]
lots = 100
bidders = 4
value_scale = 100.0
[designs.fixed]
bonus = 0.05
"""


def test_revenue_equivalence_value() -> None:
    s = scenario_from_toml(IPV, label="ipv")
    for design in ("dutch", "sealed-first", "sealed-second", "english"):
        assert revenue_per_lot(s, design) == pytest.approx(60.0)  # (4-1)/(4+1) * 100


def test_fixed_posted_price_hand_computed() -> None:
    s = scenario_from_toml(IPV, label="ipv")
    p = 100 / 1.05  # 95.238...
    expected = p * (1 - (p / 100) ** 4)  # sells when the best of 4 values reaches p
    assert revenue_per_lot(s, "fixed") == pytest.approx(expected)
    assert expected == pytest.approx(16.88, abs=0.01)


def test_fixed_with_lower_oracle() -> None:
    s = scenario_from_toml(IPV.replace("value_scale = 100.0", "value_scale = 100.0\noracle_price = 52.5"),
                           label="ipv")
    assert revenue_per_lot(s, "fixed") == pytest.approx(50 * (1 - 0.5**4))  # p = 52.5 / 1.05 = 50


def test_theory_object() -> None:
    s = scenario_from_toml(IPV, label="ipv")
    th = theory(s, ("dutch", "fixed"))
    assert set(th) == {"revenue_per_lot"}
    assert th["revenue_per_lot"]["dutch"] == pytest.approx(60.0)


def test_theory_needs_ipv() -> None:
    s = scenario_from_toml("[prices]\nsource = 'gbm'\n", label="plain")
    with pytest.raises(ConfigError, match="no \\[ipv\\] table"):
        revenue_per_lot(s, "dutch")
