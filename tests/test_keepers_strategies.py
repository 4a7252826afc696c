"""Built-in strategies: their decisions on hand-made auction views, with the numbers worked out."""

from __future__ import annotations

import math
from typing import Any

import pytest

from keepers import AuctionView, Bid, Context, Strategy, Take
from keepers.strategies import (
    BUILTINS,
    Constrained,
    DutchThreshold,
    EnglishProxy,
    FixedLiquidator,
    SealedShading,
    SealedTruthful,
    Universal,
    ZeroBid,
    equilibrium_shade,
)


def T(price: float, qty: float) -> Any:
    """A Take to compare with, with float tolerance on the price."""
    return Take(pytest.approx(price), qty)  # type: ignore[arg-type]


def B(price: float, qty: float) -> Any:
    return Bid(pytest.approx(price), qty)  # type: ignore[arg-type]


DUTCH_TERMS = {"top": 2600.0, "curve": "stairstep", "cut": 0.99, "step": 90.0, "tail": 8400.0, "cusp": 0.4}


def view(
    design: str, *, lot: float = 10.0, tab: float = 15_000.0, oracle: float = 2000.0, **terms: object
) -> AuctionView:
    base: dict[str, object] = dict(DUTCH_TERMS) if design == "dutch" else {}
    base.update(terms)
    return AuctionView(id=1, design=design, asset="ETH", lot=lot, tab=tab, oracle_price=oracle, start=0.0, terms=base)


def ctx(price: float = 2000.0, **kw: object) -> Context:
    return Context.simple(prices={"ETH": price}, **kw)  # type: ignore[arg-type]


def test_registry_has_every_builtin_and_each_is_a_strategy() -> None:
    assert set(BUILTINS) == {"dutch-threshold", "sealed-truthful", "sealed-shading", "english-proxy",
                             "english-model", "fixed-liquidator", "zero-bid", "constrained", "universal", "perp-taker"}
    for name, cls in BUILTINS.items():
        assert issubclass(cls, Strategy) and cls.name == name and cls.api_version == 1


def test_base_strategy_abstains_and_keeps_config() -> None:
    s = Strategy(alpha=1)
    assert s.on_auction(view("dutch"), ctx()) is None
    assert s.config == {"alpha": 1}


def test_dutch_threshold_takes_at_market_less_margin() -> None:
    d = DutchThreshold(margin=0.05).on_auction(view("dutch"), ctx(2000.0))
    assert d == T(1900.0, 10.0)


def test_dutch_threshold_private_value_shades() -> None:
    assert DutchThreshold(shade=0.8).on_auction(view("dutch"), ctx(100.0)) == T(80.0, 10.0)
    eq = DutchThreshold(shade="equilibrium", n=4).on_auction(view("dutch"), ctx(100.0))
    assert eq == T(75.0, 10.0)


def test_dutch_threshold_ignores_other_designs_and_bad_config() -> None:
    assert DutchThreshold().on_auction(view("english"), ctx()) is None
    with pytest.raises(ValueError):
        DutchThreshold(margin=1.5)
    with pytest.raises(TypeError):
        DutchThreshold(margn=0.1)  # type: ignore[call-arg]


def test_equilibrium_shade_is_n_minus_one_over_n() -> None:
    assert equilibrium_shade(4) == 0.75
    assert equilibrium_shade(2) == 0.5


def test_sealed_shading_first_price_n4_bids_three_quarters_of_value() -> None:
    d = SealedShading(n=4).on_auction(view("sealed-first"), ctx(100.0))
    assert d == B(75.0, 10.0)


def test_sealed_shading_second_price_bids_the_value() -> None:
    assert SealedShading(n=4).on_auction(view("sealed-second"), ctx(100.0)) == B(100.0, 10.0)


def test_sealed_shading_takes_n_from_the_house_else_margin() -> None:
    assert SealedShading().on_auction(view("sealed-first", bidders=5), ctx(100.0)) == B(80.0, 10.0)
    assert SealedShading(margin=0.1).on_auction(view("sealed-first"), ctx(100.0)) == B(90.0, 10.0)


def test_sealed_truthful_bids_value_and_respects_reserve() -> None:
    assert SealedTruthful().on_auction(view("sealed-first"), ctx(100.0)) == Bid(100.0, 10.0)
    assert SealedTruthful().on_auction(view("sealed-first", reserve=120.0), ctx(100.0)) is None


def test_english_proxy_max_is_value_less_margin() -> None:
    assert EnglishProxy(margin=0.1).on_auction(view("english"), ctx(2000.0)) == T(1800.0, 10.0)
    assert EnglishProxy().on_auction(view("dutch"), ctx()) is None


def fixed_view(max_repay: float = 10_000.0, oracle: float = 2000.0) -> AuctionView:
    return view("fixed", lot=20.0, tab=30_000.0, oracle=oracle, bonus=0.05, max_repay=max_repay, health=0.97)


def test_fixed_liquidator_profit_and_gas_war_numbers() -> None:
    # Seizing costs 2000 / 1.05 = 1904.76 per token; 10_000 USD buys 5.25 tokens worth 10_500: profit 500.
    # Base gas: 300k gas * 20 gwei * 1e-9 * 2000 USD/ETH = 12 USD -> 488 expected. One gwei of tip costs
    # 300k * 1e-9 * 2000 = 0.6 USD, so half the profit buys 244 / 0.6 = 406.67 gwei.
    d = FixedLiquidator(gas_share=0.5).on_auction(fixed_view(), ctx(2000.0, gas_price=20.0, native_price=2000.0))
    assert isinstance(d, Take)
    assert d.max_qty == pytest.approx(5.25)
    assert d.priority_fee == pytest.approx(406.6667, rel=1e-4)
    assert d.max_price == pytest.approx(2000.0)


def test_fixed_liquidator_caps_the_tip_and_skips_losses() -> None:
    capped = FixedLiquidator(gas_share=1.0, max_priority_fee=100.0).on_auction(fixed_view(), ctx(2000.0))
    assert isinstance(capped, Take) and capped.priority_fee == 100.0
    # market below the seize price (oracle lags a crash): no liquidation
    assert FixedLiquidator().on_auction(fixed_view(), ctx(1900.0)) is None
    # gas eats the bonus: 300k * 1000 gwei * 2000 = 600 USD > 500 profit
    assert FixedLiquidator().on_auction(fixed_view(), ctx(2000.0, gas_price=1000.0)) is None


def test_fixed_liquidator_limited_by_balance() -> None:
    d = FixedLiquidator().on_auction(fixed_view(), ctx(2000.0, balance=1904.7619047619))
    assert isinstance(d, Take) and d.max_qty == pytest.approx(1.0)


def test_zero_bid_bids_the_minimum_only_when_nobody_bids() -> None:
    z = ZeroBid()
    d = z.on_auction(view("english", bid=0.0, guy=""), ctx())
    assert d == T(1e-7, 10.0)  # 1e-6 USD for the 10-token lot
    assert z.on_auction(view("english", bid=500.0, guy="someone"), ctx()) is None
    assert z.on_auction(view("english", bid=1e-6, guy="test"), ctx()) is not None  # its own bid: keep it


def test_zero_bid_dutch_only_near_zero() -> None:
    assert ZeroBid().on_auction(view("dutch"), ctx(2000.0)) == T(40.0, 10.0)
    assert ZeroBid().on_auction(view("sealed-first", reserve=1500.0), ctx(2000.0)) is None
    assert ZeroBid().on_auction(view("fixed"), ctx()) is None


def test_zero_bid_sits_out_exactly_the_designs_it_never_bids_on() -> None:
    z = ZeroBid()
    views = {"english": view("english"), "dutch": view("dutch"), "sealed-first": view("sealed-first"),
             "sealed-second": view("sealed-second"), "fixed": view("fixed"), "perp-dutch": view("perp-dutch")}
    for design, v in views.items():
        sits_out = z.abstains_from(design, ctx())
        assert sits_out == (design in ("fixed", "perp-dutch")), design
        assert not sits_out or z.on_auction(v, ctx()) is None
    never = Context.simple(prices={})  # no price at all: a design it sits out is not priced, so nothing raises
    assert z.on_auction(view("fixed"), never) is None


def test_universal_dispatches_by_design() -> None:
    u = Universal(margin=0.05, n=4)
    assert u.on_auction(view("dutch"), ctx(2000.0)) == T(1900.0, 10.0)
    assert u.on_auction(view("sealed-first"), ctx(100.0)) == B(71.25, 10.0)  # 95 * 3/4
    assert u.on_auction(view("sealed-second"), ctx(100.0)) == B(95.0, 10.0)
    # english-model: 10 ETH at 1900 is over the 15_000 tab: the tab at once (1500 per token)
    assert u.on_auction(view("english"), ctx(2000.0)) == Take(pytest.approx(1500.0), 10.0, at_once=True)  # type: ignore[arg-type]
    assert isinstance(u.on_auction(fixed_view(), ctx(2000.0)), Take)


def test_constrained_drops_out_on_gas_or_low_balance() -> None:
    c = Constrained(gas_limit=100.0, balance_floor=50_000.0)
    assert c.on_auction(view("dutch"), ctx(2000.0, gas_price=150.0)) is None
    assert c.on_auction(view("dutch"), ctx(2000.0, gas_price=50.0, balance=10_000.0)) is None
    assert c.on_auction(view("dutch"), ctx(2000.0, gas_price=50.0)) == T(1900.0, 10.0)
    assert c.config["gas_limit"] == 100.0


def test_price_at_and_time_at_price_follow_the_curve() -> None:
    v = view("dutch")
    assert v.price_at(0.0) == 2600.0
    assert v.price_at(89.9) == 2600.0  # stairstep: whole steps only
    assert v.price_at(90.0) == pytest.approx(2574.0)
    # 2600 * 0.99^31 = 1904.1 > 1900 >= 2600 * 0.99^32 = 1885.1: 32 steps of 90 s
    assert v.time_at_price(1900.0) == 2880.0
    assert math.isinf(view("dutch", curve="stairstep", cut=1.0).time_at_price(1.0))
    with pytest.raises(ValueError):
        view("english").price_at(0.0)
