"""Keepers that bid as Maker's auction-keeper did: FlipperStrategy.bid's rule, the agent's at-once bids on the
Flipper, pymaker's geometric gas re-pricing and the stuck transactions it leaves."""

from __future__ import annotations

import math

import pytest

from auction.english import EnglishAuction
from broker import messages as m
from keepers import AuctionView, Context, Take
from keepers.loader import load_strategy
from keepers.maker import GasReprice, MakerKeeper
from keepers.strategies import EnglishModel, Universal
from tests.test_keepers_agent import LOT, TAB, USD, agent, english_state


def flip(*, lot: float = 10.0, tab: float = 15_000.0, bid: float = 0.0, guy: str = "", beg: float = 1.03,
         ) -> AuctionView:
    return AuctionView(id=7, design="english", asset="ETH", lot=lot, tab=tab, oracle_price=2000.0,
                       terms={"bid": bid, "guy": guy, "beg": beg})


def ctx(price: float = 2000.0, *, now: float = 0.0, gas: float = 20.0) -> Context:
    return Context.simple(prices={"ETH": price}, now=now, gas_price=gas)


# -- FlipperStrategy.bid (auction_keeper/strategy.py) --------------------------------------------------------


def test_tend_bids_the_model_price_for_the_lot_capped_at_the_tab() -> None:
    # 10 ETH at 2000: 20_000 for the lot, under a 30_000 tab: all of it, at once
    assert EnglishModel().on_auction(flip(tab=30_000.0), ctx()) == Take(2000.0, 10.0, at_once=True)
    # over a 15_000 tab: the tab (1500 per token)
    assert EnglishModel().on_auction(flip(), ctx()) == Take(1500.0, 10.0, at_once=True)
    # margin: model price 1800 -> 18_000
    assert EnglishModel(margin=0.1).on_auction(flip(tab=30_000.0), ctx()) == Take(pytest.approx(1800.0), 10.0,
                                                                                   at_once=True)


def test_tend_needs_the_increment_unless_it_reaches_the_tab() -> None:
    # 19_500 * 1.03 = 20_085 > 20_000: no bid
    assert EnglishModel().on_auction(flip(tab=30_000.0, bid=19_500.0, guy="rival"), ctx()) is None
    # 19_400 * 1.03 = 19_982 <= 20_000: bid
    assert EnglishModel().on_auction(flip(tab=30_000.0, bid=19_400.0, guy="rival"), ctx()) is not None
    # 19_800 * 1.03 > 20_000 = tab, but a bid of the tab is always allowed (flip.sol tend: bid == tab)
    assert EnglishModel().on_auction(flip(tab=20_000.0, bid=19_800.0, guy="rival"), ctx()) == Take(
        2000.0, 10.0, at_once=True)
    assert EnglishModel().on_auction(flip(bid=800.0, guy="test"), ctx()) is None  # its own bid stands


def test_dent_asks_the_lot_its_price_buys_for_the_tab() -> None:
    # tab 15_000 at 2000 per token: 7.5 ETH; 7.5 * 1.03 = 7.725 <= 10
    d = EnglishModel().on_auction(flip(bid=15_000.0, guy="rival"), ctx())
    assert isinstance(d, Take) and d.at_once and d.max_price == 2000.0 and d.max_qty == pytest.approx(7.5)
    # lot 7.7: 7.725 > 7.7, not the minimum decrease: no bid
    assert EnglishModel().on_auction(flip(lot=7.7, bid=15_000.0, guy="rival"), ctx()) is None


def test_universal_bids_as_the_model_and_as_the_textbook_proxy_on_request() -> None:
    assert Universal(margin=0.05).on_auction(flip(tab=30_000.0), ctx()) == Take(pytest.approx(1900.0), 10.0,
                                                                                at_once=True)
    assert Universal(margin=0.05, english="proxy").on_auction(flip(tab=30_000.0), ctx()) == Take(
        pytest.approx(1900.0), 10.0)
    with pytest.raises(ValueError, match="english"):
        Universal(english="eBay")


# -- the agent carries out an at-once Take on the Flipper ------------------------------------------------------


def test_agent_tends_the_whole_model_bid_at_once_and_dents_straight_to_its_lot() -> None:
    a = agent(EnglishModel(margin=0.1))  # 1800 per token: 18_000 for the lot, over the 15_000 tab
    (o,) = a.on_message(english_state(), 0.0)
    assert isinstance(o.action, m.EnglishBid) and (o.action.lot, o.action.bid) == (LOT, TAB)
    b = agent(EnglishModel(margin=0.5))  # 1000 per token: 10_000, under the tab, above 2_000 * 1.05
    (o,) = b.on_message(english_state(bid=2_000 * USD, guy="rival", seq=1, tic_ms=600_000), 10.0)
    assert isinstance(o.action, m.EnglishBid) and o.action.bid == 10_000 * USD
    # dent: 15_000 / 1800 = 8.333 ETH, below 10 / 1.05 = 9.52: that lot, not the minimum decrease
    (o,) = a.on_message(english_state(bid=TAB, guy="rival", seq=2, tic_ms=800_000), 40.0)
    assert isinstance(o.action, m.EnglishBid) and o.action.bid == TAB
    assert o.action.lot == 8_333_333_334  # 15_000 / 1800 ETH in 1e-9 units, rounded up: 1800 * lot covers the tab
    mech = EnglishAuction(lot=LOT, tab=TAB, beg=1.05, ttl=600.0, tau=21_600.0)
    mech.tend("rival", LOT, TAB, 1.0)
    mech.dent("k1", o.action.lot, TAB, 2.0)  # the Flipper accepts it
    assert mech.lot == o.action.lot


# -- gas: pymaker GeometricGasPrice, auction-keeper DynamicGasPrice ---------------------------------------------


def test_geometric_gas_price_on_pymakers_rule() -> None:
    g = GasReprice(reactive=1.125, every_s=42.0, max_gwei=120.0)
    assert [g.offer(100.0, t) for t in (0.0, 41.9, 42.0, 83.9)] == [100.0, 100.0, 112.5, 112.5]
    assert g.offer(100.0, 84.0) == 120.0  # 126.5625, capped at the maximum
    assert GasReprice(initial=0.8).offer(100.0, 1e6) == 80.0  # no re-pricing (March 2020's auction-keeper)
    with pytest.raises(ValueError):
        GasReprice(reactive=0.9)


def test_a_bid_offered_under_the_going_gas_is_stuck_until_its_price_catches_up() -> None:
    k = MakerKeeper(gas_reactive=1.125)
    assert k.on_auction(flip(), ctx(now=0.0, gas=100.0)) is not None  # sent at the going 100 gwei: mined
    view = flip(bid=500.0, guy="rival")  # a new state: a new transaction, first sent at 100 gwei
    assert k.on_auction(view, ctx(now=100.0, gas=100.0)) is not None
    k2 = MakerKeeper(gas_reactive=1.125)
    assert k2.on_auction(flip(), ctx(now=0.0, gas=100.0, price=0.0)) is None  # no price: nothing wanted
    k3 = MakerKeeper(gas_reactive=1.125, gas_initial=0.9)  # starts 10% under the going price
    assert k3.on_auction(flip(), ctx(now=0.0, gas=100.0)) is None  # 90 < 100: stuck
    assert k3.on_auction(flip(), ctx(now=41.0, gas=100.0)) is None
    assert k3.on_auction(flip(), ctx(now=42.0, gas=100.0)) is not None  # 101.25: mined
    assert k3.on_auction(flip(), ctx(now=43.0, gas=102.0)) is None  # the gas went up past it: stuck again


def test_a_result_forgets_the_transactions_of_its_auction_only() -> None:
    from dataclasses import replace

    from keepers.api import ResultView

    k = MakerKeeper(gas_reactive=1.125, gas_initial=0.9)
    other = replace(flip(), id=9)
    assert k.on_auction(flip(), ctx(now=0.0, gas=100.0)) is None  # stuck: first sent at 0
    assert k.on_auction(other, ctx(now=0.0, gas=100.0)) is None
    k.on_result(ResultView(id=7, design="english", asset="ETH", won=False), ctx(now=10.0))
    assert k.on_auction(other, ctx(now=42.0, gas=100.0)) is not None  # still re-priced from its first send
    assert k.on_auction(flip(), ctx(now=42.0, gas=100.0)) is None  # 7 forgotten: a new transaction, stuck again


def test_a_keeper_past_its_gas_ceiling_is_priced_out_until_gas_falls() -> None:
    k = MakerKeeper(max_gwei=50.0)
    assert k.on_auction(flip(), ctx(gas=80.0)) is None
    assert k.on_auction(flip(), ctx(now=600.0, gas=80.0)) is None
    assert k.on_auction(flip(), ctx(now=1200.0, gas=45.0)) is not None  # its offer of 50 is now enough
    dutch = AuctionView(id=8, design="dutch", asset="ETH", lot=10.0, tab=15_000.0, oracle_price=2000.0,
                        terms={"top": 2600.0, "curve": "stairstep", "cut": 0.99, "step": 90.0})
    assert k.on_auction(dutch, ctx(gas=80.0)) is None
    assert k.on_auction(dutch, ctx(gas=40.0)) == Take(pytest.approx(1900.0), 10.0)


def test_maker_is_a_builtin_with_checked_config() -> None:
    k = load_strategy("maker", {"max_gwei": 25.0, "margin": 0.05})
    assert isinstance(k, MakerKeeper) and k.config["max_gwei"] == 25.0 and k.gas.max_gwei == 25.0
    assert math.isinf(MakerKeeper().gas.max_gwei)


def test_an_external_strategy_can_bid_at_once() -> None:
    from keepers.external import _decision

    assert _decision({"take": {"max_price": 1800.0, "max_qty": 10.0, "at_once": True}}, "x") == Take(
        1800.0, 10.0, at_once=True)
    assert _decision({"take": {"max_price": 1800.0, "max_qty": 10.0}}, "x") == Take(1800.0, 10.0)


def test_maker_sits_out_every_design_but_english_above_its_gas_ceiling() -> None:
    k = MakerKeeper(max_gwei=50.0)
    dutch = AuctionView(id=7, design="dutch", asset="ETH", lot=10.0, tab=15_000.0, oracle_price=2000.0,
                        terms={"top": 2600.0, "curve": "stairstep", "cut": 0.99, "step": 90.0, "tail": 8400.0,
                               "cusp": 0.4})
    fixed = AuctionView(id=8, design="fixed", asset="ETH", lot=10.0, tab=15_000.0, oracle_price=1500.0,
                        terms={"bonus": 0.13, "max_repay": 7_500.0})
    for gas in (20.0, 50.0, 50.1, 300.0):
        for v in (dutch, fixed):
            assert k.abstains_from(v.design, ctx(gas=gas)) == (gas > 50.0)
            assert (k.on_auction(v, ctx(gas=gas)) is None) == (gas > 50.0), (v.design, gas)
        # English: the bid may still be wanted (its gas re-pricing starts when it is): never sat out
        assert not k.abstains_from("english", ctx(gas=gas))
    assert k.pending == {}


def test_the_agent_asks_nothing_and_builds_no_view_where_the_keeper_abstains_from_the_design() -> None:
    from tests.test_keepers_agent import dutch_announce

    class Counting(MakerKeeper):
        asked = 0

        def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:  # type: ignore[override]
            self.asked += 1
            return super().on_auction(auction, ctx)

    gas = [80.0]
    k = Counting(max_gwei=50.0)
    a = agent(k, gas=lambda t: gas[0])
    assert a.on_message(dutch_announce(auction=1), 0.0) == [] and k.asked == 0  # priced out: not asked
    assert a.failures.decisions == 1 and a.auctions[1].view is None  # a decision all the same, and no view built
    gas[0] = 20.0
    (order,) = a.on_message(dutch_announce(auction=2), 1.0)
    assert k.asked == 1 and order.action.auction == 2  # type: ignore[union-attr]
