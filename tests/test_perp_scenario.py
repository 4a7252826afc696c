"""A [perp] scenario: bad input is one line naming the key; a perp scenario runs only perp designs."""

from __future__ import annotations

import pytest

from auction.designs import check_book, names
from auction.errors import ConfigError
from auction.scenario.load import SCENARIO_DIR, load_scenario, scenario_from_toml

BASE = (SCENARIO_DIR / "perp-squeeze.toml").read_text()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("leverage_high = 20.0\n", "leverage_high = 60.0\n", "x: [perp] leverage_high: must be below 1 / mmr of the first"),
    ("leverage_low = 3.0\n", "leverage_low = 30.0\n", "x: [perp] leverage_low: must be <= leverage_high (20.0)"),
    ("[perp]\n", "[perp]\ntiers = [{floor = 0, mmr = 0.01}, {floor = 0, mmr = 0.02}]\n",
     "x: [perp] tiers: tier table: floors must rise"),
    ("[perp]\n", "[perp]\nbogus = 1\n", "x: [perp] bogus: unknown key"),
])
def test_bad_perp_tables_are_one_line(old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        scenario_from_toml(BASE.replace(old, new), label="x")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_perp_scenarios_hold_positions_and_take_only_perp_designs() -> None:
    for name in ("perp-may-2021", "perp-squeeze", "perp-black-thursday"):
        assert load_scenario(name).book == "perp"
    assert names("perp") == ("perp-market", "perp-dutch", "perp-sealed", "perp-takeover", "perp-backstop")
    with pytest.raises(ConfigError, match="liquidates vault accounts, but scenario 'perp-squeeze' holds perpetual"):
        check_book("dutch", "perp", "perp-squeeze")


def test_strategy_test_defaults_to_a_perp_design_keepers_act_in() -> None:
    from auction.compare.strategy_test import strategy_test

    report = strategy_test("perp-squeeze", "perp-taker", seeds=1, accounts=40)
    assert report["design"] == "perp-dutch"


def test_isolated_margin_is_a_perp_key_and_one_position_per_trader_gives_the_same_book() -> None:
    import numpy as np

    from auction.scenario.build import build_world

    iso = scenario_from_toml(BASE.replace("[perp]\n", '[perp]\nmargin = "isolated"\n'), label="x")
    cross = scenario_from_toml(BASE, label="x")
    assert iso.perp is not None and iso.perp.margin == "isolated" and cross.perp is not None
    a, b = (build_world(s, "perp-dutch", 0, accounts=30).margin_book for s in (cross, iso))
    for field in ("quote", "size", "cost"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    with pytest.raises(ConfigError) as err:
        scenario_from_toml(BASE.replace("[perp]\n", '[perp]\nmargin = "portfolio"\n'), label="x")
    assert str(err.value).startswith("x: [perp] margin:") and "\n" not in str(err.value)


def test_the_adl_ranking_is_a_perp_key_and_reaches_the_book() -> None:
    from auction.scenario.build import build_world

    chosen = scenario_from_toml(BASE.replace("[perp]\n", '[perp]\nadl = "pnl-leverage"\n'), label="x")
    default = scenario_from_toml(BASE, label="x")
    assert chosen.perp is not None and default.perp is not None and default.perp.adl == "hyperliquid"
    book = build_world(chosen, "perp-dutch", 0, accounts=30).margin_book
    assert getattr(book, "adl_rank", None) == "pnl-leverage"
    with pytest.raises(ConfigError) as err:
        scenario_from_toml(BASE.replace("[perp]\n", '[perp]\nadl = "bitmex"\n'), label="x")
    assert str(err.value).startswith("x: [perp] adl:") and "\n" not in str(err.value)
    assert "hyperliquid, pnl-leverage, binance" in str(err.value)  # the choices are named
