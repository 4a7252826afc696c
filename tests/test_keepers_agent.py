"""KeeperAgent: decisions -> wire actions, timing, limits, accounting, robustness.

Actions the agent emits are also fed to the real mechanisms (auction.dutch/english/sealed) to show the
house would accept them at the time the agent sends them.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from auction import units
from auction.curves import StairstepExponentialDecrease
from auction.designs import REGISTRY
from auction.designs.dutch import DutchTerms
from auction.designs.english import EnglishTerms
from auction.designs.fixed import FixedTerms
from auction.designs.sealed import SealedTerms
from auction.dutch import DutchAuction
from auction.english import EnglishAuction
from auction.errors import Rejected
from auction.sealed import SealedAuction, commitment
from broker import messages as m
from keepers import AuctionView, Bid, Context, Lots, Strategy, Take, Takes
from keepers.agent import KeeperAgent, Limits, Order, Policy, Tracked
from keepers.deadline import DeadlineStrategy
from keepers.strategies import Constrained, DutchThreshold, EnglishProxy, SealedShading, Universal

USD = units.NUM
ETH = units.COL
LOT = 10 * ETH
TAB = 15_000 * USD


class Market:
    """Flat market: price per token, resale at 99% of it (1% impact)."""

    def __init__(self, price: float = 2000.0) -> None:
        self.px = price

    def price(self, asset: str, t: float) -> float:
        return self.px

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return qty * self.px * 0.99


def agent(strategy: Strategy, capital_usd: float = 1_000_000.0, **kw: Any) -> KeeperAgent:
    kw.setdefault("market", Market())
    kw.setdefault("policy", Policy(estimate_gas=False))
    return KeeperAgent("k1", strategy, units.num(capital_usd), designs=REGISTRY, **kw)


def dutch_terms() -> DutchTerms:
    return DutchTerms(top_q=2600 * USD, curve="stairstep", cut=0.99, step_ms=90_000, tail_ms=8_400_000, cusp=0.4,
                        chost=0)


def dutch_announce(auction: int = 7, lot: int = LOT, start_ms: int = 0) -> m.Announce:
    return m.Announce(auction=auction, design="dutch", asset="ETH", lot=lot, tab=TAB, owner="acct:1",
                      start_ms=start_ms, oracle_q=2000 * USD, terms=dutch_terms())


def dutch_state(auction: int = 7, seq: int = 0, lot: int = LOT, tab: int = TAB, **kw: Any) -> m.State:
    base: dict[str, Any] = dict(auction=auction, seq=seq, status="open", design="dutch", asset="ETH", owner="acct:1",
                                lot=lot, tab=tab, start_ms=0, top_q=2600 * USD, terms=dutch_terms(), ts_ms=0)
    base.update(kw)
    return m.State(**base)


# -- dutch ------------------------------------------------------------------------------------------------


def test_dutch_take_is_ordered_at_the_curve_crossing() -> None:
    a = agent(DutchThreshold(margin=0.05))  # market 2000 -> take at 1900
    (order,) = a.on_message(dutch_announce(), 0.0)
    # 2600 * 0.99^31 = 1904.1 > 1900 >= 2600 * 0.99^32 = 1885.1: the 32nd step, at 32 * 90 s
    assert order.not_before == 2880.0
    assert isinstance(order.action, m.Take)
    assert order.action.max_price_q == 1900 * USD and order.action.amount == LOT
    sent = a.release(order, 2880.0)
    assert isinstance(sent, m.Take) and sent.nonce == 1 and sent.deadline_ms == (2880 + 120) * 1000
    assert a.wallet.committed[7] == units.cost(LOT, 1900 * USD)


def test_dutch_take_at_crossing_is_accepted_by_the_clipper_and_not_a_step_before() -> None:
    a = agent(DutchThreshold(margin=0.05))
    (order,) = a.on_message(dutch_announce(), 0.0)
    action = a.release(order, order.not_before)
    assert isinstance(action, m.Take)
    mech = DutchAuction(lot=LOT, tab=TAB, top=2600.0, curve=StairstepExponentialDecrease(0.99, 90.0), tail=8400.0,
                        cusp=0.4, chost=0)
    with pytest.raises(Rejected) as early:
        mech.take(action.amount, action.max_price_q, order.not_before - 90.0, "k1")
    assert early.value.code == "too-expensive"
    fill = mech.take(action.amount, action.max_price_q, order.not_before, "k1")
    assert fill.cost <= units.cost(fill.qty, action.max_price_q)
    assert fill.cost == TAB  # 15_000 USD buys 7.957 ETH at 1885.1: the tab is covered
    assert fill.qty == units.qty_for(TAB, units.price_q(2600.0 * 0.99**32))


def test_same_state_twice_gives_no_second_order() -> None:
    a = agent(DutchThreshold())
    assert len(a.on_message(dutch_announce(), 0.0)) == 1
    assert a.on_message(dutch_state(seq=0), 1.0) == []  # the state behind the announce: same plan
    assert a.on_message(dutch_state(seq=0), 2.0) == []  # a QoS 1 redelivery
    assert a.on_message(dutch_state(seq=0), 2.0) == []


def test_a_changed_state_supersedes_the_scheduled_take() -> None:
    a = agent(DutchThreshold())
    (first,) = a.on_message(dutch_announce(), 0.0)
    (second,) = a.on_message(dutch_state(seq=1, lot=LOT // 2, tab=TAB // 2), 100.0)  # someone took half
    assert second.action.amount == LOT // 2  # type: ignore[union-attr]
    assert a.release(first, 2880.0) is None  # the old plan is gone
    assert a.release(second, 2880.0) is not None


def test_no_take_planned_past_the_reset_point() -> None:
    a = agent(DutchThreshold(margin=0.7))  # 600 < cusp 0.4 * 2600 = 1040: a reset comes first
    assert a.on_message(dutch_announce(), 0.0) == []


def test_take_cut_to_the_balance_spends_nothing_more() -> None:
    a = agent(DutchThreshold(margin=0.05), capital_usd=5_000.0)
    (order,) = a.on_message(dutch_announce(), 0.0)
    amount = order.action.amount  # type: ignore[union-attr]
    # 5000 USD less 0.36 USD kept for gas (180k gas * 1 gwei tip * 2000 USD/ETH), at 1900 per token
    assert amount == units.qty_for(5_000 * USD - units.num(0.36), 1900 * USD)
    action = a.release(order, order.not_before)
    assert isinstance(action, m.Take)
    assert units.cost(action.amount, action.max_price_q) <= 5_000 * USD
    assert a.wallet.available >= 0


def test_limits_per_auction_and_total() -> None:
    a = agent(DutchThreshold(), limits=Limits(max_per_auction=1_000.0, max_total=1_500.0))
    (o1,) = a.on_message(dutch_announce(auction=1), 0.0)
    assert units.cost(o1.action.amount, 1900 * USD) <= 1_000 * USD  # type: ignore[union-attr]
    assert a.release(o1, o1.not_before) is not None  # keeps 0.36 USD of gas (180k * 1 gwei tip) out of it
    (o2,) = a.on_message(dutch_announce(auction=2), 0.0)
    assert units.cost(o2.action.amount, 1900 * USD) <= 1_500 * USD - a.wallet.committed[1]  # type: ignore[union-attr]
    assert a.release(o2, o2.not_before) is not None
    assert a.on_message(dutch_announce(auction=3), 0.0) == []  # total exposure used up
    assert a.wallet.total_committed <= 1_500 * USD


def test_release_rechecks_the_balance() -> None:
    a = agent(DutchThreshold(), capital_usd=20_000.0)
    (o1,) = a.on_message(dutch_announce(auction=1), 0.0)
    (o2,) = a.on_message(dutch_announce(auction=2), 0.0)  # both planned against the same 20k
    assert a.release(o1, o1.not_before) is not None  # commits 19_000
    late = a.release(o2, o2.not_before)
    assert isinstance(late, m.Take)
    assert units.cost(late.amount, late.max_price_q) <= 1_000 * USD  # only what is left
    assert a.wallet.total_committed <= 20_000 * USD


class Greedy(Strategy):
    """Asks for far more than it has."""

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        if auction.design.startswith("sealed"):
            return Bid(price=1e9, qty=1e9)
        return Take(max_price=1e9, max_qty=1e9)


def test_greedy_strategy_is_cut_to_lot_and_balance() -> None:
    a = agent(Greedy(), capital_usd=1_000.0)
    (order,) = a.on_message(dutch_announce(), 0.0)
    assert order.not_before == 0.0  # willing to pay anything: take now
    action = a.release(order, 0.0)
    assert isinstance(action, m.Take)
    assert action.amount <= LOT
    assert units.cost(action.amount, action.max_price_q) <= 1_000 * USD


def test_greedy_sealed_bid_beyond_deposit_is_refused_and_spends_nothing() -> None:
    a = agent(Greedy(), capital_usd=50.0)  # the deposit is 100 USD
    assert a.on_message(sealed_announce(), 0.0) == []
    assert a.wallet.cash == 50 * USD and a.wallet.committed == {} and a.nonce == 0


class Exploding(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        self.calls += 1
        if auction.id == 1:
            raise RuntimeError("bug in strategy")
        if auction.id == 2:
            return Take(max_price=math.nan, max_qty=1.0)
        return Take(max_price=1900.0, max_qty=auction.lot)

    def on_result(self, result: Any, ctx: Context) -> None:
        raise ZeroDivisionError


def test_a_raising_or_garbage_strategy_does_not_stop_the_keeper() -> None:
    a = agent(Exploding())
    assert a.on_message(dutch_announce(auction=1), 0.0) == []
    assert a.on_message(dutch_announce(auction=2), 0.0) == []
    assert a.errors == 2
    (order,) = a.on_message(dutch_announce(auction=3), 0.0)  # still deciding
    assert a.release(order, order.not_before) is not None
    a.on_message(m.Result(auction=3, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=1), 5.0)
    assert a.errors == 3 and a.wallet.cash == units.num(1_000_000.0)


def test_a_wrong_decision_type_for_the_design_is_ignored() -> None:
    class SealedOnly(Strategy):
        def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
            return Bid(price=1.0, qty=1.0)

    assert agent(SealedOnly()).on_message(dutch_announce(), 0.0) == []


class Quiet(DutchThreshold):
    """Abstains while ``quiet``; counts the questions it is asked."""

    def __init__(self, quiet: bool | None) -> None:
        super().__init__(margin=0.05)
        self.quiet, self.asked = quiet, 0

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        self.asked += 1
        return None if self.quiet else super().on_auction(auction, ctx)

    def abstains(self, ctx: Context) -> bool:
        if self.quiet is None:
            raise RuntimeError("undecided")
        return self.quiet


def test_a_strategy_that_abstains_is_not_asked_and_its_old_orders_stand_down() -> None:
    s = Quiet(quiet=False)
    a = agent(s)
    (order,) = a.on_message(dutch_announce(), 0.0)
    s.quiet = True
    assert a.on_message(dutch_state(seq=1), 1.0) == [] and s.asked == 1
    assert a.release(order, order.not_before) is None  # the plan it belonged to was dropped
    s.quiet = False
    assert len(a.on_message(dutch_state(seq=2), 2.0)) == 1 and s.asked == 2


def test_abstains_that_raises_counts_an_error_and_the_strategy_is_asked() -> None:
    s = Quiet(quiet=None)
    a = agent(s)
    assert len(a.on_message(dutch_announce(), 0.0)) == 1
    assert s.asked == 1 and a.errors == 1


def test_constrained_abstains_exactly_when_it_returns_none_for_everything() -> None:
    c = Constrained(gas_limit=100.0, balance_floor=50_000.0)
    view = agent(c).view(Tracked(dutch_announce(), 2000 * USD))
    for gas, balance in ((150.0, 1e6), (50.0, 10_000.0), (50.0, 1e6), (100.0, 50_000.0)):
        ctx = Context.simple(prices={"ETH": 2000.0}, gas_price=gas, balance=balance)
        assert c.abstains(ctx) == (c.on_auction(view, ctx) is None)


# -- results and accounting -----------------------------------------------------------------------------


def test_result_books_cost_resale_and_pnl() -> None:
    a = agent(DutchThreshold())
    (order,) = a.on_message(dutch_announce(), 0.0)
    a.release(order, order.not_before)
    qty, cost = 7 * ETH, 13_000 * USD
    fills = [m.FillMsg(keeper="k1", qty=qty, cost=cost), m.FillMsg(keeper="other", qty=ETH, cost=2_000 * USD)]
    result = m.Result(auction=7, design="dutch", fills=fills, returned=0, bad_debt=0, revenue=15_000 * USD, ts_ms=1)
    a.on_message(result, 3000.0)
    a.on_message(result, 3001.0)  # redelivered: booked once
    proceeds = units.num(7 * 2000.0 * 0.99)  # 13_860
    assert a.book.spent == cost and a.book.proceeds == proceeds and a.book.bought == qty and a.book.won == 1
    assert a.pnl == proceeds - cost == 860 * USD
    assert a.wallet.cash == units.num(1_000_000.0) + 860 * USD
    assert a.wallet.committed == {} and a.inventory["ETH"] == 0
    assert a.on_message(dutch_state(seq=5), 3002.0) == []  # a settled auction is not planned again


def test_results_reach_the_strategy() -> None:
    seen: list[Any] = []

    class Recorder(DutchThreshold):
        def on_result(self, result: Any, ctx: Context) -> None:
            seen.append((result.won, result.qty, result.cost, result.price, ctx.balance))

    a = agent(Recorder())
    a.on_message(dutch_announce(), 0.0)
    fills = [m.FillMsg(keeper="k1", qty=5 * ETH, cost=9_500 * USD)]
    a.on_message(m.Result(auction=7, design="dutch", fills=fills, returned=0, bad_debt=0, revenue=1, ts_ms=1), 9.0)
    assert seen == [(True, 5.0, 9_500.0, 1_900.0, pytest.approx(1_000_000 - 9_500 + 9_900))]


def test_keepers_of_one_process_share_a_bystanders_result_view_and_see_what_a_view_of_their_own_shows() -> None:
    from keepers.views import ViewCache, result_view

    fills = [m.FillMsg(keeper="w", qty=5 * ETH, cost=9_500 * USD), m.FillMsg(keeper="w", qty=ETH, cost=1_900 * USD)]
    result = m.Result(auction=7, design="sealed-first", fills=fills, returned=0, bad_debt=0, revenue=1,
                      forfeited=["f"], clearing_q=1_900 * USD, ts_ms=1)
    views = ViewCache()
    got = {k: views.result(result, k, "ETH") for k in ("a", "w", "b", "f")}
    assert got == {k: result_view(result, k, "ETH") for k in got}
    assert got["a"] is got["b"] and got["w"].qty == 6.0 and got["f"].forfeited and not got["a"].won
    later = m.Result(auction=8, design="sealed-first", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=2)
    assert views.result(later, "a", "ETH").id == 8 and views.result(result, "b", "ETH") == got["a"]


def test_a_strategy_hears_its_result_in_the_context_its_decisions_see() -> None:
    seen: list[Context] = []

    class Recorder(DutchThreshold):
        def on_result(self, result: Any, ctx: Context) -> None:
            seen.append(ctx)

    a = agent(Recorder())
    a.on_message(dutch_announce(), 0.0)
    a.on_message(m.Result(auction=7, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=1), 9.0)
    fresh = a.context(9.0, 7)
    assert [(c.now, c.balance, dict(c.inventory), c.gas_price, c.market_price("ETH")) for c in seen] == [
        (fresh.now, fresh.balance, dict(fresh.inventory), fresh.gas_price, fresh.market_price("ETH"))]


def test_rejection_releases_the_commitment() -> None:
    a = agent(DutchThreshold())
    (order,) = a.on_message(dutch_announce(), 0.0)
    action = a.release(order, order.not_before)
    assert action is not None and a.wallet.committed
    a.on_message(m.Rejection(keeper="k1", ref=action.nonce, code="too-expensive", text="no", ts_ms=1), 2881.0)
    assert a.wallet.committed == {}
    a.on_message(m.Rejection(keeper="other", ref=action.nonce, code="late", text="no", ts_ms=1), 2881.0)


def test_what_was_sent_is_forgotten_when_its_auction_settles() -> None:
    """The record of sent actions stays as small as the open auctions, and a late (or replayed) rejection of an
    action in a settled auction releases nothing."""
    a = agent(DutchThreshold())
    orders = [o for n in (7, 8) for o in a.on_message(dutch_announce(auction=n), 0.0)]
    sent = [a.release(o, o.not_before) for o in orders]
    assert all(x is not None for x in sent) and len(a._sent) == 2
    a.on_message(m.Result(auction=7, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=1), 3000.0)
    assert [s.auction for s in a._sent.values()] == [8]
    committed = dict(a.wallet.committed)
    late = sent[0]
    assert late is not None
    a.on_message(m.Rejection(keeper="k1", ref=late.nonce, code="replay", text="old", ts_ms=2), 3001.0)
    assert a.wallet.committed == committed  # auction 8's reservation untouched


def test_gas_is_estimated_per_action_sent() -> None:
    a = agent(DutchThreshold(), policy=Policy(default_priority_fee=2.0), gas=lambda t: 18.0)
    (order,) = a.on_message(dutch_announce(), 0.0)
    a.release(order, order.not_before)
    # 180k gas * (18 + 2) gwei * 1e-9 ETH/gwei * 2000 USD/ETH = 7.2 USD
    assert a.book.gas == units.num(7.2) and a.wallet.cash == units.num(1_000_000 - 7.2)


def test_gas_cap_holds_actions_back_while_gas_is_high() -> None:
    gas = {"now": 300.0}
    a = agent(DutchThreshold(), policy=Policy(max_gas_gwei=100.0), gas=lambda t: gas["now"])
    (order,) = a.on_message(dutch_announce(), 0.0)
    assert a.release(order, order.not_before) is None
    gas["now"] = 50.0
    (again,) = a.on_message(dutch_state(seq=0), 3000.0)  # next evaluation plans it again
    assert a.release(again, 3000.0) is not None


def test_context_seen_by_the_strategy() -> None:
    seen: list[Context] = []

    class Peek(Strategy):
        def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
            seen.append(ctx)
            return None

    a = agent(Peek(), capital_usd=123.0, gas=lambda t: 42.0)
    a.on_message(dutch_announce(), 5.0)
    (c,) = seen
    assert (c.now, c.balance, c.gas_price, c.market_price("ETH"), c.keeper_id) == (5.0, 123.0, 42.0, 2000.0, "k1")
    assert c.native_price == 2000.0 and dict(c.inventory) == {}


def test_rng_is_seeded_from_run_seed_and_keeper_id() -> None:
    def draw(seed: int, keeper: str) -> float:
        return float(KeeperAgent(keeper, Strategy(), 0, designs=REGISTRY, seed=seed).rng.random())

    assert draw(1, "a") == draw(1, "a")
    assert draw(1, "a") != draw(2, "a")
    assert draw(1, "a") != draw(1, "b")


# -- english ---------------------------------------------------------------------------------------------


def english_state(bid: int = 0, guy: str = "", lot: int = LOT, seq: int = 0, tic_ms: int = 0) -> m.State:
    terms = EnglishTerms(beg=1.05, ttl_ms=600_000, tau_ms=21_600_000, end_ms=21_600_000)
    return m.State(auction=9, seq=seq, status="open", design="english", asset="ETH", owner="acct:1", lot=lot, tab=TAB,
                   start_ms=0, top_q=0, bid=bid, guy=guy, tic_ms=tic_ms, terms=terms, ts_ms=0)


def test_english_proxy_opens_raises_by_beg_and_dents() -> None:
    a = agent(EnglishProxy(margin=0.1))  # up to 1800 per token: 18_000 for the lot, capped at the tab
    (o,) = a.on_message(english_state(), 0.0)
    assert (o.action.lot, o.action.bid) == (LOT, 1_500 * USD)  # type: ignore[union-attr]  # 10% of 15_000
    (o,) = a.on_message(english_state(bid=2_000 * USD, guy="rival", seq=1, tic_ms=600_000), 10.0)
    assert o.action.bid == 2_100 * USD  # type: ignore[union-attr]  # 2000 * 1.05
    assert a.on_message(english_state(bid=2_100 * USD, guy="k1", seq=2, tic_ms=610_000), 20.0) == []
    (o,) = a.on_message(english_state(bid=14_500 * USD, guy="rival", seq=3, tic_ms=700_000), 30.0)
    assert o.action.bid == TAB  # type: ignore[union-attr]  # 14_500 * 1.05 > tab: bid the tab
    (o,) = a.on_message(english_state(bid=TAB, guy="rival", seq=4, tic_ms=800_000), 40.0)
    assert o.action.bid == TAB and o.action.lot == LOT * 10**18 // round(1.05 * 10**18)  # type: ignore[union-attr]


def test_english_bids_are_accepted_by_the_flipper() -> None:
    a = agent(EnglishProxy(margin=0.1))
    mech = EnglishAuction(lot=LOT, tab=TAB, beg=1.05, ttl=600.0, tau=21_600.0)
    rival = agent(EnglishProxy(margin=0.2), policy=Policy(estimate_gas=False))
    rival.keeper_id = "rival"
    now, seq, bidders = 0.0, 0, [a, rival]
    for _ in range(200):
        state = english_state(bid=mech.bid, guy=mech.guy, lot=mech.lot, seq=seq, tic_ms=round(mech.tic * 1000))
        moved = False
        for who in bidders:
            for order in who.on_message(state, now):
                action = who.release(order, now)
                assert isinstance(action, m.EnglishBid)
                if mech.phase == "dent":
                    mech.dent(action.keeper, action.lot, action.bid, now)
                else:
                    mech.tend(action.keeper, action.lot, action.bid, now)
                moved, seq = True, seq + 1
                break
            if moved:
                break
        if not moved:
            break
        now += 1.0
    # The rival stops at 1600/token = 16_000 > tab, so both reach the tab; dents go on until one's
    # per-token price limit: the winner is the one willing to pay more per token (k1 at 1800).
    assert mech.bid == TAB and mech.guy == "k1"
    assert TAB / units.col_f(mech.lot) / USD <= 1800.0
    assert TAB / units.col_f(mech.lot) / USD > 1600.0 / 1.05


def test_english_zero_bid_opens_at_one_base_unit() -> None:
    from keepers.strategies import ZeroBid

    a = agent(ZeroBid())
    (o,) = a.on_message(english_state(), 0.0)
    assert o.action.bid == 1  # type: ignore[union-attr]  # 1e-6 USD: Black Thursday's "zero" bid


def test_english_over_budget_bid_is_refused() -> None:
    a = agent(EnglishProxy(), capital_usd=1_000.0)
    assert a.on_message(english_state(bid=2_000 * USD, guy="rival"), 0.0) == []
    assert a.nonce == 0 and a.wallet.committed == {}


# -- sealed ----------------------------------------------------------------------------------------------


def sealed_announce(auction: int = 11, design: Any = "sealed-first") -> m.Announce:
    terms = SealedTerms(commit_end_ms=600_000, reveal_end_ms=900_000, reserve_q=0, deposit=100 * USD,
                          second_price=design == "sealed-second")
    return m.Announce(auction=auction, design=design, asset="ETH", lot=LOT, tab=TAB, owner="acct:1", start_ms=0,
                      oracle_q=2000 * USD, terms=terms)


def test_sealed_bid_commits_now_and_reveals_at_commit_end() -> None:
    a = agent(SealedShading(n=4), market=Market(100.0))
    commit_order, reveal_order = a.on_message(sealed_announce(), 1.0)
    assert commit_order.not_before == 1.0 and reveal_order.not_before == 600.0
    commit, reveal = a.release(commit_order, 1.0), a.release(reveal_order, 600.0)
    assert isinstance(commit, m.Commit) and isinstance(reveal, m.Reveal)
    assert reveal.price_q == 75 * USD and reveal.qty == LOT  # 100 * 3/4
    assert commit.deposit == 100 * USD and (commit.nonce, reveal.nonce) == (1, 2)
    expected = commitment(11, "k1", reveal.price_q, reveal.qty, bytes.fromhex(reveal.salt)).hex()
    assert commit.digest == expected
    assert a.wallet.committed[11] == max(100 * USD, units.cost(LOT, 75 * USD))
    # the real mechanism accepts both
    mech = SealedAuction(lot=LOT, tab=TAB, reserve_q=0, commit_end=600.0, reveal_end=900.0, deposit=100 * USD,
                         second_price=False, auction_id=11)
    mech.commit("k1", bytes.fromhex(commit.digest), 1.0)
    assert mech.reveal("k1", reveal.price_q, reveal.qty, bytes.fromhex(reveal.salt), 600.0) == units.cost(LOT, 75 * USD)


def test_sealed_is_committed_once_per_round() -> None:
    a = agent(SealedShading(n=4), market=Market(100.0))
    assert len(a.on_message(sealed_announce(), 1.0)) == 2
    state = m.State(auction=11, seq=1, status="open", design="sealed-first", asset="ETH", owner="acct:1", lot=LOT,
                    tab=TAB, start_ms=0, top_q=0, phase="commit", terms=sealed_announce().terms, ts_ms=2)
    assert a.on_message(state, 2.0) == []


def test_salts_are_deterministic_per_seed() -> None:
    def salt(seed: int) -> str:
        a = agent(SealedShading(n=4), seed=seed)
        _, reveal = a.on_message(sealed_announce(), 1.0)
        return reveal.action.salt  # type: ignore[union-attr]

    assert salt(3) == salt(3) and salt(3) != salt(4) and len(salt(3)) == 32


def test_a_rejected_commit_cancels_its_reveal() -> None:
    a = agent(SealedShading(n=4), market=Market(100.0))
    commit_order, reveal_order = a.on_message(sealed_announce(), 1.0)
    commit = a.release(commit_order, 1.0)
    assert commit is not None
    a.on_message(m.Rejection(keeper="k1", ref=commit.nonce, code="late", text="phase over", ts_ms=1), 2.0)
    assert a.release(reveal_order, 600.0) is None and a.wallet.committed == {}


def test_forfeited_deposit_is_booked() -> None:
    a = agent(SealedShading(n=4))
    a.on_message(sealed_announce(), 1.0)
    res = m.Result(auction=11, design="sealed-first", fills=[], returned=0, bad_debt=0, revenue=0, forfeited=["k1"],
                   ts_ms=1)
    a.on_message(res, 901.0)
    assert a.book.forfeits == 100 * USD and a.pnl == -100 * USD


# -- fixed -----------------------------------------------------------------------------------------------


def fixed_state(seq: int = 0, max_repay: int = 10_000 * USD) -> m.State:
    terms = FixedTerms(debt=20_000 * USD, collateral=12 * ETH, close_factor=0.5, bonus=0.05, health=0.97,
                         max_repay=max_repay)
    return m.State(auction=21, seq=seq, status="open", design="fixed", asset="ETH", owner="acct:3", lot=12 * ETH,
                   tab=20_000 * USD, start_ms=0, top_q=0, terms=terms, ts_ms=0)


def test_fixed_liquidate_with_the_strategy_priority_fee() -> None:
    a = agent(Universal(), gas=lambda t: 20.0)
    a.on_message(m.OraclePrice(asset="ETH", price_q=2000 * USD, ts_ms=0), 0.0)
    (o,) = a.on_message(fixed_state(), 0.0)
    action = a.release(o, 0.0)
    assert isinstance(action, m.Liquidate)
    assert action.repay == 10_000 * USD  # the close factor's maximum (5.25 ETH at 1904.76)
    assert action.priority_fee == round(406.6667 * 1000)  # gwei * 1000 on the wire
    assert a.on_message(fixed_state(), 1.0) == []  # same state: not twice
    assert a.on_message(fixed_state(max_repay=0), 2.0) == []  # healthy again


def test_fixed_not_sent_when_oracle_above_market() -> None:
    a = agent(Universal(), market=Market(1800.0), gas=lambda t: 20.0)
    a.on_message(m.OraclePrice(asset="ETH", price_q=2000 * USD, ts_ms=0), 0.0)
    assert a.on_message(fixed_state(), 0.0) == []


class SitsOut(Universal):
    """A universal keeper that sits ``design`` out while ``out`` (and says so only if ``tells``)."""

    def __init__(self, *, tells: bool, design: str = "fixed") -> None:
        super().__init__()
        self.tells, self.design, self.out, self.asked = tells, design, False, 0

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        self.asked += 1
        return None if self.out and auction.design == self.design else super().on_auction(auction, ctx)

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        self.asked += len(lots)
        return Takes.none(len(lots)) if self.out and lots.design == self.design else super().on_lots(lots, ctx)

    def abstains_from(self, design: str, ctx: Context) -> bool:
        return self.tells and self.out and design == self.design


def looking(a: KeeperAgent) -> tuple[list[Any], Callable[[], None]]:
    """The steps of a script (an oracle price first) and its look: a Block 60 s after the last one, gas moving,
    then what the agent keeps (decisions counted, each tracked auction's plan and key)."""
    steps: list[Any] = [a.on_message(m.OraclePrice(asset="ETH", price_q=2000 * USD, ts_ms=0), 0.0)]
    looks = iter(range(1, 100))

    def look() -> None:
        t = 60.0 * next(looks)
        steps.append(a.on_message(m.Block(height=int(t), ts_ms=units.ms(t), gas_gwei_milli=int(t) * 100), t))
        steps.append((a.failures.decisions, [a.auctions[x].plan for x in sorted(a.auctions)],
                      [a.auctions[x].key for x in sorted(a.auctions)]))

    return steps, look


def fixed_script(a: KeeperAgent) -> list[Any]:
    """Fixed sales through looks at blocks (60 s apart, gas moving): in, out, in again with a plan out, and a
    sale closed between its State and its Result; what the agent gives back and keeps at each step."""
    s = a.strategy
    assert isinstance(s, SitsOut)
    steps, look = looking(a)

    s.out = True
    steps.append(a.on_message(fixed_state(), 0.0))
    steps.append(a.on_message(m.State(**{**msgspec.structs.asdict(fixed_state(seq=1)), "auction": 22}), 0.0))
    look()
    look()
    s.out = False
    look()  # plans go out
    s.out = True
    look()  # a plan is out: the look is made, and drops them
    look()
    closed = msgspec.structs.replace(fixed_state(seq=2), status="closed")
    steps.append(a.on_message(closed, 330.0))
    look()
    look()
    return steps


def test_a_look_at_fixed_sales_a_strategy_sits_out_asks_nothing_and_changes_nothing_else() -> None:
    told, untold = SitsOut(tells=True), SitsOut(tells=False)
    assert fixed_script(agent(told)) == fixed_script(agent(untold))  # same orders, plans, keys and decisions
    # untold is asked about each open sale at every look; told only at the look where it was in (2 sales): where
    # it abstains from the design, neither a look nor a decision about one sale (decide) asks it
    assert (told.asked, untold.asked) == (2, 2 + 7 * 2 - 2)


def dutch_script(a: KeeperAgent) -> list[Any]:
    """Dutch sales through looks at blocks (60 s apart, gas moving): two sales seen while out (a State of each
    too), takes planned at a look while in, dropped at a look while out again, a sale closed; what the agent
    gives back and keeps at each step."""
    s = a.strategy
    assert isinstance(s, SitsOut)
    steps, look = looking(a)
    s.out = True
    steps.append(a.on_message(dutch_announce(auction=7), 0.0))
    steps.append(a.on_message(dutch_announce(auction=8), 0.0))
    steps.append(a.on_message(dutch_state(auction=8, seq=1, lot=LOT // 2), 10.0))
    look()
    look()
    s.out = False
    look()  # takes planned
    s.out = True
    look()  # a plan is out: the look is made, and drops them
    steps.append(a.on_message(dutch_state(auction=7, seq=2, status="closed"), 250.0))
    look()
    look()
    return steps


def test_a_look_at_dutch_sales_a_strategy_sits_out_asks_nothing_and_changes_nothing_else() -> None:
    told, untold = SitsOut(tells=True, design="dutch"), SitsOut(tells=False, design="dutch")
    steps = dutch_script(agent(told))
    assert steps == dutch_script(agent(untold))  # same orders, plans, keys and decisions
    assert any(isinstance(o, Order) for step in steps if isinstance(step, list) for o in step)  # takes went out
    # told is asked only at the look where it was in (2 sales); untold at the announces and the State (3), at
    # every look (2 sales at 5, then 1 at 2) and at the two looks after the close
    assert (told.asked, untold.asked) == (2, 3 + 4 * 2 + 2 * 1)


def sealed_script(a: KeeperAgent) -> list[Any]:
    """Sealed sales through looks at blocks (60 s apart, gas moving): two sales seen while out, bids committed
    at a look while in, a third sale while out again, the reveal phase, a close; what the agent gives back and
    keeps at each step."""
    s = a.strategy
    assert isinstance(s, SitsOut)
    steps, look = looking(a)

    s.out = True
    steps.append(a.on_message(sealed_announce(auction=11), 0.0))
    steps.append(a.on_message(sealed_announce(auction=12), 0.0))
    look()
    look()
    s.out = False
    look()  # bids committed: their reveals scheduled, never asked again this round
    s.out = True
    steps.append(a.on_message(sealed_announce(auction=13), 200.0))
    look()  # asked about 13 only
    look()
    shown = {k: v for k, v in msgspec.structs.asdict(sealed_announce(auction=12)).items() if k != "oracle_q"}
    reveal = m.State(**shown, seq=1, status="open", phase="reveal", top_q=0, ts_ms=610_000)
    steps.append(a.on_message(reveal, 610.0))
    steps.append(a.on_message(msgspec.structs.replace(reveal, seq=2, status="closed", phase="closed"), 620.0))
    for _ in range(8):
        look()  # 13's commit phase ends at 600 s: nothing is asked after it
    return steps


def test_a_look_at_sealed_sales_a_strategy_sits_out_asks_nothing_and_changes_nothing_else() -> None:
    planned: list[bool] = []
    sealed = REGISTRY["sealed-first"]

    def counted(a: KeeperAgent, t: Tracked, now: float) -> list[Order]:
        planned.append(a.strategy.tells)  # type: ignore[attr-defined]
        return sealed.plan(a, t, now)

    designs = {**REGISTRY, "sealed-first": dataclasses.replace(sealed, plan=counted)}
    told, untold = SitsOut(tells=True, design="sealed-first"), SitsOut(tells=False, design="sealed-first")
    steps = sealed_script(KeeperAgent("k1", told, units.num(1e6), designs=designs, market=Market(),
                                      policy=Policy(estimate_gas=False)))
    assert steps == sealed_script(KeeperAgent("k1", untold, units.num(1e6), designs=designs, market=Market(),
                                              policy=Policy(estimate_gas=False)))  # same orders, plans, keys, decisions
    assert planned.count(True) == 3 + 1 + 2  # the announces, the reveal, the look while in: no look while out
    # untold's every look at every sale not closed up to 540 s (2 at 60, 120, 180 s, 3 at 240, 300, then 11 and 13);
    # from 600 s no plan would ask (every commit phase is over) and no look plans for either
    assert planned.count(False) == 3 + 1 + 3 * 2 + 2 * 3 + 4 * 2
    assert sum(isinstance(o, Order) and isinstance(o.action, m.Commit) for step in steps if isinstance(step, list)
               for o in step) == 2  # the look while in committed 11 and 12
    # told is asked only at the look where it was in (2 sales), untold at each look about each uncommitted sale in
    # its commit phase (2 + 2 before, 1 + 1 after, 13 at 240, 300, ..., 540 s) and at each announce (3)
    assert (told.asked, untold.asked) == (2, 2 + 2 * 2 + 6 + 3)


def test_a_look_is_made_when_the_strategy_tells_nothing_or_raises() -> None:
    class Raises(SitsOut):
        def abstains_from(self, design: str, ctx: Context) -> bool:
            raise RuntimeError("no idea")

    s = Raises(tells=True)
    a = agent(s)
    s.out = True
    a.on_message(fixed_state(), 0.0)
    a.on_message(m.Block(height=5, ts_ms=60_000, gas_gwei_milli=30_000), 60.0)
    assert s.asked == 2 and a.errors == 0  # asked at the look; the shortcut's error is nobody's failure


# -- one strategy object, two runtimes ---------------------------------------------------------------------


def script() -> list[m.Message]:
    return [
        dutch_announce(auction=1),
        sealed_announce(auction=2),
        english_state(bid=3_000 * USD, guy="rival", tic_ms=300_000),
        dutch_state(auction=1, seq=1, lot=LOT // 2, tab=TAB // 2),
        m.Block(height=1, ts_ms=12_000, gas_gwei_milli=25_000),
    ]


def run(a: KeeperAgent) -> list[Any]:
    out = []
    for i, msg in enumerate(script()):
        for order in a.on_message(msg, float(i)):
            out.append((order.not_before, a.release(order, max(order.not_before, float(i)))))
    return out


def test_deadline_wrapper_gives_the_same_actions() -> None:
    """The live keeper wraps the strategy in a deadline; for the same messages the actions are identical."""
    plain = run(agent(Universal(n=4), seed=5))
    wrapped = run(agent(DeadlineStrategy(Universal(n=4), timeout_s=5.0), seed=5))
    assert plain == wrapped and len(plain) == 5


def test_hanging_strategy_behind_a_deadline_does_not_block_the_keeper() -> None:
    release = threading.Event()

    class Hangs(Strategy):
        def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
            release.wait(10)
            return Take(1.0, 1.0)

    a = agent(DeadlineStrategy(Hangs(), timeout_s=0.1))
    assert a.on_message(dutch_announce(), 0.0) == []
    assert a.on_message(dutch_announce(auction=8), 1.0) == []  # still busy: abstains at once
    release.set()
    assert a.wallet.committed == {} and a.nonce == 0


def test_order_is_plain_data() -> None:
    o = Order(1.0, m.Redo(auction=1, keeper="k1", nonce=0, deadline_ms=0))
    assert o.plan == 0 and o.not_before == 1.0


# -- receipts: a hedged perp take frees its money once included ---------------------------------------------


def takeover_announce(auction: int = 9) -> m.Announce:
    from auction.designs.perp_takeover import TakeoverTerms

    terms = TakeoverTerms(side=1, size=LOT, mark_q=2000 * USD, bankrupt_q=1900 * USD, liquidation_q=1950 * USD,
                          health=0.9, price_q=1980 * USD, fee=0.01, max_qty=LOT)
    return m.Announce(auction=auction, design="perp-takeover", asset="ETH", lot=LOT, tab=0, owner="acct:1",
                      start_ms=0, oracle_q=2000 * USD, terms=terms)


def test_an_ack_frees_a_hedged_perp_take_but_not_a_dutch_take() -> None:
    a = agent(Universal(margin=0.05, perp_margin=0.0))
    (perp,) = a.on_message(takeover_announce(), 0.0)
    sent = a.release(perp, 0.0)
    assert isinstance(sent, m.Take) and a.wallet.committed[9] == units.cost(sent.amount, sent.max_price_q)
    (dutch,) = a.on_message(dutch_announce(), 0.0)
    taken = a.release(dutch, dutch.not_before)
    assert isinstance(taken, m.Take) and a.wallet.committed[7] > 0
    for action in (sent, taken):
        a.on_message(m.Ack(keeper="k1", ref=action.nonce, auction=action.auction, height=1, ts_ms=0), 3000.0)
    assert 9 not in a.wallet.committed  # the house paid the hedge back in the same transaction
    assert a.wallet.committed[7] == units.cost(LOT, 1900 * USD)  # a Clipper take holds until the result
    a.on_message(m.Ack(keeper="other", ref=sent.nonce, auction=9, height=1, ts_ms=0), 3000.0)
    assert a.wallet.total_committed == units.cost(LOT, 1900 * USD)  # someone else's receipt changes nothing
