"""The batch dutch planner (``auction.designs.dutch_batch``) against ``dutch.plan`` auction by auction.

Two agents with the same strategy, capital and limits receive the same messages; at a re-evaluation one plans
every auction in one batch, the other one by one. The orders, the plans and the keys must be the same, for any
mix of lots, tabs, tops, starts, prices, gas, budgets and takes already in flight.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction import units
from auction.designs import REGISTRY, dutch_batch
from auction.designs.dutch import DutchTerms
from auction.sim.orders import Book
from broker import messages as m
from keepers.agent import KeeperAgent, Limits, Order, Policy
from keepers.api import AuctionView, Context, Lots, Strategy, Take, Takes
from keepers.plan import TakeOrders
from keepers.rows import Rows
from keepers.strategies import Constrained, DutchThreshold, Universal, ZeroBid

USD = units.NUM


class Moving:
    """A market whose price steps every 600 s (so each look sees a new price) and follows ``prices``."""

    def __init__(self, prices: list[float]) -> None:
        self.prices = prices

    def price(self, asset: str, t: float) -> float:
        return self.prices[int(t // 600) % len(self.prices)]

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return qty * self.price(asset, t)


class NoBatch(DutchThreshold):
    """The same decisions without on_lots: the agent must plan one by one."""

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        return None


def terms(top_q: int, curve: str, cusp: float) -> DutchTerms:
    return DutchTerms(top_q=top_q, curve=curve, tau_ms=7_200_000, cut=0.99, step_ms=90_000, tail_ms=8_400_000,
                      cusp=cusp, chost=0)


auctions = st.lists(
    st.tuples(st.integers(1, 10**13), st.integers(1, 10**12), st.integers(0, 400) .map(lambda k: k * 12_000),
              st.integers(10**6, 5 * 10**9)),
    min_size=1, max_size=25, unique_by=lambda a: a[3])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(auctions=auctions,
       curve=st.sampled_from(["stairstep", "linear", "exponential"]),
       cusp=st.sampled_from([0.0, 0.4, 0.9]),
       prices=st.lists(st.floats(1.0, 6000.0), min_size=2, max_size=4, unique=True),
       strategy=st.sampled_from(["threshold", "zero-bid", "constrained", "universal", "shade"]),
       capital=st.sampled_from([1e3, 5e4, 1e7]),
       per_auction=st.sampled_from([math.inf, 2e4]),
       gas=st.sampled_from([5.0, 80.0, 400.0]),
       released=st.integers(0, 5),
       changed=st.integers(0, 5),
       small=st.booleans())
def test_batch_plans_exactly_as_one_by_one(auctions: list[tuple[int, int, int, int]], curve: str, cusp: float,
                                           prices: list[float], strategy: str, capital: float,
                                           per_auction: float, gas: float, released: int, changed: int,
                                           small: bool) -> None:
    # Both ways of finding distinct crossings and powers (a dict below dutch_batch.SMALL rows, numpy above).
    with mock.patch.object(dutch_batch, "SMALL", dutch_batch.SMALL if small else 0):
        batch_plans_as_one_by_one(auctions, curve, cusp, prices, strategy, capital, per_auction, gas, released,
                                  changed)


def batch_plans_as_one_by_one(auctions: list[tuple[int, int, int, int]], curve: str, cusp: float,
                              prices: list[float], strategy: str, capital: float, per_auction: float, gas: float,
                              released: int, changed: int) -> None:
    make = {"threshold": lambda: DutchThreshold(margin=0.05), "zero-bid": lambda: ZeroBid(dutch_fraction=0.6),
            "constrained": lambda: Constrained(gas_limit=50.0), "universal": lambda: Universal(margin=0.1),
            "shade": lambda: DutchThreshold(shade=0.8)}[strategy]
    agents = [KeeperAgent("k", make(), units.num(capital), designs=REGISTRY, market=Moving(prices),
                          limits=Limits(max_per_auction=per_auction), policy=Policy(reevaluate_s=60.0),
                          gas=lambda t: gas) for _ in range(2)]
    batch, single = agents
    single._plan_batch = lambda now: None  # type: ignore[method-assign]
    planned = []
    plan_batch = batch._plan_batch
    batch._plan_batch = lambda now: planned.append(plan_batch(now)) or planned[-1]  # type: ignore[method-assign]
    idle = []  # the looks where the strategy sits out dutch: no planner is asked (KeeperAgent._idle_look)
    idle_look = batch._idle_look
    batch._idle_look = lambda now: idle.append(idle_look(now)) or idle[-1]  # type: ignore[method-assign]
    outs: list[list[Any]] = [[], []]
    for i, (lot, tab, start_ms, top_q) in enumerate(auctions):
        msg = m.Announce(auction=i + 1, design="dutch", asset="ETH", lot=lot, tab=tab, owner="acct:1",
                         start_ms=start_ms, oracle_q=top_q, terms=terms(top_q, curve, cusp))
        for k, a in enumerate(agents):
            outs[k].append(a.on_message(msg, start_ms / 1000))
    assert outs[0] == outs[1]
    for orders in outs[0][:released]:  # some takes go out: the wallet commits to them
        for o in orders:
            for a in agents:
                a.release(o, o.not_before)
    now = 5000.0
    for i, (lot, tab, start_ms, top_q) in enumerate(auctions[:changed]):  # new states: a partial take, a redo
        msg = m.State(auction=i + 1, seq=1, status="open", design="dutch", asset="ETH", owner="acct:1", lot=lot // 2,
                      tab=tab // 3, start_ms=start_ms + 12_000, top_q=top_q * 2, terms=terms(top_q, curve, cusp),
                      ts_ms=4_000_000)
        assert batch.on_message(msg, 4000.0) == single.on_message(msg, 4000.0)
    for t in (now, now + 600.0, now + 1200.0):
        block = m.Block(height=int(t), ts_ms=units.ms(t), gas_gwei_milli=round(gas * 1000))
        got, want = batch.on_message(block, t), single.on_message(block, t)
        assert got == want
        for a in agents:
            assert a.errors == 0
        for auction in batch.auctions:
            assert batch.auctions[auction].key == single.auctions[auction].key
            assert batch.auctions[auction].plan == single.auctions[auction].plan
    # Every look that was not idle went through the batch planner.
    assert len(planned) == 3 - sum(idle) and None not in planned


def test_a_batch_comes_back_as_take_orders_in_bulk_mode() -> None:
    a = KeeperAgent("k", DutchThreshold(margin=0.05), units.num(1e6), designs=REGISTRY, market=Moving([2000.0, 1900.0]),
                    gas=lambda t: 10.0)
    for i in range(3):
        a.on_message(m.Announce(auction=i + 1, design="dutch", asset="ETH", lot=10**10, tab=10**10, owner="acct:1",
                                start_ms=0, oracle_q=2000 * USD, terms=terms(2600 * USD, "stairstep", 0.4)), 0.0)
    a.bulk = True
    out = a.on_message(m.Block(height=1, ts_ms=600_000, gas_gwei_milli=10_000), 600.0)
    assert isinstance(out, TakeOrders) and len(out) == 3
    assert [o.action.auction for o in out.orders()] == [1, 2, 3]  # type: ignore[union-attr]
    assert all(a.release(o, o.not_before) is not None for o in out.orders())


def test_a_strategy_without_on_lots_is_asked_one_by_one_and_decides_the_same() -> None:
    agents = [KeeperAgent("k", s, units.num(1e6), designs=REGISTRY, market=Moving([2000.0, 1900.0]), gas=lambda t: 10.0)
              for s in (NoBatch(margin=0.05), DutchThreshold(margin=0.05))]
    for a in agents:
        for i in range(4):
            a.on_message(m.Announce(auction=i + 1, design="dutch", asset="ETH", lot=10**10, tab=10**10,
                                    owner="acct:1", start_ms=0, oracle_q=2000 * USD,
                                    terms=terms(2600 * USD, "stairstep", 0.4)), 0.0)
    block = m.Block(height=1, ts_ms=600_000, gas_gwei_milli=10_000)
    assert agents[0]._plan_batch(600.0) is None
    one_by_one, batch = (a.on_message(block, 600.0) for a in agents)
    assert len(one_by_one) == 4 and one_by_one == batch


class Odd(Strategy):
    """A batch method that breaks its contract: one bad row, counted as an error like a bad decision."""

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        return Take(max_price=float("inf"), max_qty=1.0) if auction.id == 2 else Take(1500.0, auction.lot)

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        price = np.where(lots.ids == 2, np.inf, 1500.0)
        return Takes(price, np.where(lots.ids == 2, 1.0, lots.lot))


def test_an_invalid_batch_decision_counts_an_error_and_is_no_take() -> None:
    agents = [KeeperAgent("k", Odd(), units.num(1e6), designs=REGISTRY, market=Moving([2000.0, 1900.0]),
                          gas=lambda t: 10.0) for _ in range(2)]
    agents[1]._plan_batch = lambda now: None  # type: ignore[method-assign]
    for a in agents:
        for i in range(3):
            a.on_message(m.Announce(auction=i + 1, design="dutch", asset="ETH", lot=10**10, tab=10**10,
                                    owner="acct:1", start_ms=0, oracle_q=2000 * USD,
                                    terms=terms(2600 * USD, "stairstep", 0.4)), 0.0)
    block = m.Block(height=1, ts_ms=600_000, gas_gwei_milli=10_000)
    assert agents[0].on_message(block, 600.0) == agents[1].on_message(block, 600.0)
    assert agents[0].errors == agents[1].errors == 2  # at the announce and at the look


def test_book_runs_orders_by_time_then_sequence_and_drops_replaced_plans() -> None:
    rows = Rows()
    r = [rows.add(a, None) for a in (10, 11, 12)]
    book = Book("k")

    def orders(at: list[float], plans: list[int]) -> TakeOrders:
        z = np.zeros(3, dtype=np.int64)
        return TakeOrders("k", np.array(r), np.array([10, 11, 12]), np.array(at), np.array(plans), z + 5, z + 7, z)

    rows.plan[:3] = 1
    book.add(orders([50.0, 20.0, 20.0], [1, 1, 1]), 10.0, 100, rows.current)
    assert book.head() == (20.0, 101)
    rows.plan[1] = 2  # auction 11 planned again: its order is dropped at the next batch
    book.add(orders([5.0, 30.0, 20.0], [1, 2, 2]), 15.0, 200, rows.current)
    got = []
    while book.head() is not None:
        head = book.head()
        o = book.pop()
        got.append((head, o.action.auction, o.plan))  # type: ignore[union-attr]
    # 11's first order (plan 1) went when its row moved to plan 2; the others stand until their rows move (the
    # agent drops them when due); a new order is due no earlier than the batch (max(5, 15) = 15); ties at 20 by seq
    assert got == [((15.0, 200), 10, 1), ((20.0, 102), 12, 1), ((20.0, 202), 12, 2), ((30.0, 201), 11, 2),
                   ((50.0, 100), 10, 1)]
    assert len(book) == 0


def test_rows_pack_dutch_keys_and_keep_others_as_objects() -> None:
    rows = Rows(1)
    a, b = rows.add(1, None), rows.add(2, None)
    rows.set_key(a, ("dutch", 1, 2, 3, 4, 5, 6, 7))
    rows.set_key(b, ("dutch", 1, 2, 3, 4, 5, 6, 2**70))  # too large to pack
    assert rows.tag[a] >= 2 and rows.tag[b] == 1
    assert rows.key(a) == ("dutch", 1, 2, 3, 4, 5, 6, 7) and rows.key(b) == ("dutch", 1, 2, 3, 4, 5, 6, 2**70)
    rows.set_key(a, ("english", 0, "", 1))
    assert rows.key(a) == ("english", 0, "", 1)
    rows.remove(a)
    assert rows.add(3, None) == a and rows.key(a) is None and rows.plan[a] == 0
    assert list(rows.live()) == [b, a]  # by auction id: 2, then 3


def test_orders_of_a_batch_are_the_orders_one_by_one() -> None:
    o = TakeOrders("k", np.array([0]), np.array([9]), np.array([12.5]), np.array([3]), np.array([7]),
                   np.array([11]), np.array([1000]))
    assert o.orders() == [Order(12.5, m.Take(auction=9, keeper="k", amount=11, max_price_q=7, nonce=0,
                                             deadline_ms=0, priority_fee=1000), 3)]


def test_the_simulator_decides_the_same_with_batches_as_one_by_one() -> None:
    """Black Thursday at 3,000 vaults (hundreds of open auctions per look): every message the house sends and
    every action it receives are the same whether keepers plan in batches or auction by auction."""
    from auction.scenario.build import build_world
    from auction.scenario.load import load_scenario
    from auction.sim.engine import Simulation

    def trace(batches: bool) -> list[tuple[float, bytes]]:
        import msgspec

        sim = Simulation(build_world(load_scenario("black-thursday"), "dutch", 1, accounts=3000), "dutch")
        if not batches:
            for a in sim.agents.values():
                a.bulk = False
                a._plan_batch = lambda now: None  # type: ignore[method-assign]
        seen: list[tuple[float, bytes]] = []
        broadcast, act = sim._broadcast, sim.kernel.act
        sim._broadcast = lambda msgs, now: (seen.extend((now, msgspec.json.encode(x)) for x in msgs),  # type: ignore[method-assign]
                                            broadcast(msgs, now))[1]
        sim.kernel.act = lambda a, t: (seen.append((t, msgspec.json.encode(a))), act(a, t))[1]  # type: ignore[method-assign]
        sim.run()
        return seen

    fast, slow = trace(True), trace(False)
    assert len(fast) > 10_000 and fast == slow


def test_an_order_due_now_runs_before_the_next_message_of_the_same_delivery() -> None:
    """Two auctions announced in one block reach a keeper together; the first is already below its price, so its
    take goes at once and commits most of the keeper's money: the second is planned with what is left, as it
    would be if each message were an event of its own."""
    import heapq
    import itertools

    from auction.sim.engine import DELIVER, SEND, SUBMIT, Simulation

    class Kernel:
        def act(self, action: m.Action, t: float) -> list[m.Message]:
            return []

    agent = KeeperAgent("k", DutchThreshold(margin=0.05), units.num(2500.0), designs=REGISTRY,
                        market=Moving([2000.0]), gas=lambda t: 10.0, policy=Policy(estimate_gas=False))
    sim = Simulation.__new__(Simulation)
    sim.agents, sim.queue, sim._seq, sim.books, sim.routes = {"k": agent}, [], itertools.count(), {}, {}
    sim.by_latency, sim.kernel = [(0.0, ("k",))], Kernel()  # type: ignore[assignment]
    lot = units.COL  # 1 ETH each, priced at 1000 (under the keeper's 1900): both takes are due at once
    sim._broadcast([m.Announce(auction=a, design="dutch", asset="ETH", lot=lot, tab=10**12, owner="acct:1",
                               start_ms=0, oracle_q=1000 * USD, terms=terms(1000 * USD, "stairstep", 0.4))
                    for a in (1, 2)], 0.0)
    kinds, amounts = [], {}
    while sim.queue:
        event = sim.queue[0]
        kinds.append(event[1])
        if event[1] == SUBMIT:
            amounts[event[3][1].action.auction] = event[3][1].action.amount
        sim._handle(*heapq.heappop(sim.queue))
    assert kinds == [DELIVER, SUBMIT, SEND, DELIVER, SUBMIT, SEND]
    left = units.num(600.0) - agent.gas_units_cost("dutch", "take", 1000, 0.0)  # less the gas of the take
    assert amounts[1] == lot and amounts[2] == units.qty_for(left, 1900 * USD)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**14), st.integers(1, 10**12), st.integers(-10**6, 10**14)),
                min_size=1, max_size=8))
def test_batch_fit_is_fit_qty_row_by_row(rows: list[tuple[int, int, int]]) -> None:
    from auction.designs.dutch_batch import _fit
    from keepers.plan import fit_qty

    qty, price, budget = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    assert _fit(qty, price, budget).tolist() == [fit_qty(q, p, b) for q, p, b in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-(2**62), 2**62), st.integers(0, 5)), max_size=40))
def test_unique_rows_is_numpy_unique_by_rows(rows: list[tuple[int, int, int]]) -> None:
    from auction.designs.dutch_batch import _unique_rows

    cols = [np.array(col, dtype=np.int64) for col in zip(*rows, strict=True)] if rows else [
        np.zeros(0, dtype=np.int64)] * 3
    uniq, inverse = _unique_rows(*cols)
    want, where = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
    assert uniq.tolist() == want.tolist() and inverse.tolist() == where.ravel().tolist()


def test_row_versions_count_every_change_of_a_row() -> None:
    rows = Rows(1)
    a = rows.add(1, None)
    for _ in range(3):
        rows.bump(a)
    b = rows.add(2, None)  # grows the columns while a's bumps wait
    assert rows.versions()[[a, b]].tolist() == [4, 1]
    for _ in range(70_000):  # past the bound: counted on the way, none lost
        rows.bump(b)
    assert rows.versions()[b] == 70_001 and rows.versions()[a] == 4
