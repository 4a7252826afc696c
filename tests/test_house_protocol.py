"""What the house promises on the wire, checked on its outputs in the simulator (every design, no broker):
``seq`` strictly increases up to and including the closed state, every auction closes with its state then its
result, every keeper action gets exactly one receipt (an Ack from the block that included it, or a Rejection),
the sealed reveal phase is shown at the first block at or after ``commit_end``, and the network house core adds
acknowledged registrations, accounts and receipts sent again for a redelivered action."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pytest

from auction import designs as registry
from auction import units
from auction.book.accounts import Accounts, mm_from_ratio
from auction.book.ledger import USD, Ledger
from auction.designs import defaults
from auction.designs.base import Opening, Sale
from auction.designs.dutch import DutchSale
from auction.house import AuctionHouse
from auction.net.house_core import HouseCore
from auction.params import HouseParams
from auction.scenario.build import build_world
from auction.scenario.load import KeeperSpec, load_scenario
from auction.sim.engine import Simulation
from broker import messages as m
from broker.signing import KeyPair
from tests.test_net_journal import spec, synthetic_world

DESIGNS = [n for n in registry.names() if registry.get(n).gas]  # the designs keepers act in


class Recorded(Simulation):
    """The simulator, keeping every output of the house and every action sent to it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.outputs: list[m.Message] = []
        self.actions: list[m.Action] = []

    def _broadcast(self, msgs: list[m.Message], now: float) -> None:
        self.outputs += msgs
        super()._broadcast(msgs, now)

    def _handle(self, time: float, kind: int, _seq: int, payload: Any) -> None:
        if kind == 2:  # SEND: an action reaches the house
            self.actions.append(payload)
        super()._handle(time, kind, _seq, payload)


@pytest.fixture(scope="module", params=DESIGNS)
def run(request: pytest.FixtureRequest) -> Recorded:
    design = registry.get(request.param)
    if design.book == "vault":
        world = synthetic_world(n=40)
    else:  # keepers that take over at any profit (a takeover's fee is their whole margin)
        world = build_world(load_scenario("perp-may-2021"), design.name, 0, accounts=60)
        world.keeper_specs = [KeeperSpec(strategy="perp-taker", count=3, config={"margin": 0.0})]
    sim = Recorded(world, request.param)
    sim.run()
    assert sim.house.sales, f"{request.param}: no auctions in the synthetic world"
    return sim


def test_seq_strictly_increases_through_the_closed_state(run: Recorded) -> None:
    seqs: dict[int, list[int]] = defaultdict(list)
    for msg in run.outputs:
        if isinstance(msg, m.State):
            seqs[msg.auction].append(msg.seq)
    assert set(seqs) == set(run.house.sales)
    for auction, got in seqs.items():
        assert all(b > a for a, b in itertools.pairwise(got)), (auction, got)


def test_each_auction_closes_with_its_closed_state_then_its_result(run: Recorded) -> None:
    last: dict[int, m.Message] = {}
    for msg in run.outputs:
        if isinstance(msg, m.Result):
            before = last.get(msg.auction)
            assert isinstance(before, m.State) and before.status == "closed", msg.auction
        if isinstance(msg, m.State | m.Result):
            assert not isinstance(last.get(msg.auction), m.Result), f"auction {msg.auction} changed after its result"
            last[msg.auction] = msg
    assert {a for a, msg in last.items() if isinstance(msg, m.Result)} == set(run.house.sales)


def test_every_action_gets_exactly_one_receipt_in_the_block_that_includes_it(run: Recorded) -> None:
    receipts: dict[tuple[str, int], list[m.Ack | m.Rejection]] = defaultdict(list)
    height = 0
    for msg in run.outputs:
        if isinstance(msg, m.Block):
            height = msg.height
        elif isinstance(msg, m.Ack):
            assert msg.height == height and msg.ts_ms == units.ms(height * run.kernel.block_time)
            receipts[(msg.keeper, msg.ref)].append(msg)
        elif isinstance(msg, m.Rejection):
            receipts[(msg.keeper, msg.ref)].append(msg)
    sent = [(a.keeper, a.nonce) for a in run.actions]
    assert run.actions, "the keepers sent nothing"
    assert sorted(sent) == sorted(receipts) and all(len(r) == 1 for r in receipts.values())
    assert sum(isinstance(r[0], m.Ack) for r in receipts.values()) == run.house.tally.accepted


def test_the_sealed_reveal_phase_opens_with_a_state_at_the_first_block_after_commit_end() -> None:
    sim = Recorded(synthetic_world(n=40), "sealed-first")
    sim.run()
    block = sim.kernel.block_time * 1000
    opened = 0
    phase: dict[int, str] = {}
    for msg in sim.outputs:
        if isinstance(msg, m.State) and msg.status == "open":
            if msg.phase == "reveal" and phase.get(msg.auction) == "commit":
                commit_end = msg.terms.commit_end_ms  # type: ignore[attr-defined]
                assert commit_end <= msg.ts_ms < commit_end + block
                opened += 1
            phase[msg.auction] = msg.phase
    assert opened >= len(sim.house.sales)  # every round that reached its commit end showed its reveal phase


def test_the_house_refuses_a_design_that_changes_without_a_new_seq() -> None:
    dutch = registry.get("dutch")

    class Careless(DutchSale):
        def changed(self) -> None:  # forgets to bump seq when a take changes it
            pass

    def careless(o: Opening, params: Any) -> Sale:
        sale = dutch.open(o, params)
        return Careless(**{f.name: getattr(sale, f.name) for f in fields(sale)})

    with registry.registered(replace(dutch, name="careless", open=careless)):
        house = _house("careless")
        house.on_oracle(0.0, {"ETH": 85.0})
        (announce,) = [x for x in house.on_block(12.0, 10.0) if isinstance(x, m.Announce)]
        house.submit(m.Take(auction=announce.auction, keeper="ali", amount=units.col(1), max_price_q=units.num(500),
                            nonce=1, deadline_ms=0), 12.0)
        with pytest.raises(RuntimeError, match="without a new seq"):
            house.on_block(24.0, 10.0)


def test_actions_no_block_included_are_refused_late_at_the_end() -> None:
    house = _house("dutch")
    house.submit(m.Redo(auction=1, keeper="ali", nonce=7, deadline_ms=0), 1.0)
    (refusal,) = [x for x in house.finish(12.0) if isinstance(x, m.Rejection)]
    assert (refusal.keeper, refusal.ref, refusal.code) == ("ali", 7, "late")


def test_a_register_is_acknowledged_with_an_account_and_a_redelivery_gets_its_receipt_again() -> None:
    core = HouseCore(synthetic_world(), spec())
    key = KeyPair.from_seed(b"\x07" * 32)
    register = m.encode(key.register("ali", 1))
    entry, refused = core.admit(register, "ali", 0.0)
    assert entry is not None and not refused
    out = core.apply([entry])
    ack = next(x for x in out if isinstance(x, m.Ack))
    account = next(x for x in out if isinstance(x, m.Account))
    assert (ack.keeper, ack.ref, ack.auction) == ("ali", 1, 0)
    assert account.funded == account.balance == units.num(400_000) and account.held == account.gas_paid == 0
    assert core.admit(register, "ali", 1.0) == (None, [ack])  # no second effect; its receipt again
    assert core.apply([]) == []  # nothing moved: no account


def test_a_keeper_redo_wins_the_incentive_only_in_the_block_where_the_reset_falls_due() -> None:
    """PROTOCOL.md section 7, Dutch, Resets: the house resets at the first block at which a reset is due, after
    that block's actions; a keeper's redo included in that block comes first and earns tip + chip x tab."""
    from auction.designs.dutch import DutchParams

    house = _house("dutch", dutch=DutchParams(tail=120.0, tip=100.0, chip=0.0))  # due once 120 s passed: at 144
    house.on_oracle(0.0, {"ETH": 85.0})
    (announce,) = [x for x in house.on_block(12.0, 10.0) if isinstance(x, m.Announce)]
    sale = announce.auction
    for t in range(24, 144, 12):  # too early: refused, the house does not reset either
        house.submit(m.Redo(auction=sale, keeper="ali", nonce=t, deadline_ms=0), t - 1.0)
        out = house.on_block(float(t), 10.0)
        assert [(x.code, x.ref) for x in out if isinstance(x, m.Rejection)] == [("not-redoable", t)]
    before = house.ledger.escrow("ali")
    house.submit(m.Redo(auction=sale, keeper="ali", nonce=200, deadline_ms=0), 143.0)
    out = house.on_block(144.0, 10.0)  # dur 132 > tail 120: due now; ali's redo is included first
    assert [x.ref for x in out if isinstance(x, m.Ack)] == [200]
    assert house.ledger.escrow("ali") == before + units.num(100.0)
    states = [x for x in out if isinstance(x, m.State)]
    assert len(states) == 1 and states[0].start_ms == 144_000  # one reset: ali's, not the house's too
    house.submit(m.Redo(auction=sale, keeper="ali", nonce=201, deadline_ms=0), 144.0)
    assert [x.code for x in house.on_block(156.0, 10.0) if isinstance(x, m.Rejection)] == ["not-redoable"]


def _house(design: str, **tables: Any) -> AuctionHouse:
    debt = np.array([units.num(600)], dtype=np.int64)
    accounts = Accounts(("ETH",), np.full((1, 1), units.col(10), dtype=np.int64), debt, mm_from_ratio(1.5))
    ledger = Ledger()
    ledger.mint("market", USD, units.num(10**9))
    ledger.mint("keeper:ali", USD, units.num(100_000))
    chosen = registry.get(design)
    return AuctionHouse(chosen, chosen.params_in(defaults(**tables)), accounts, ledger, house=HouseParams(),
                        market_price=lambda a, t: 95.0, proceeds=lambda a, q, t: units.cost(q, units.price_q(95.0)),
                        gas_cost=lambda gas, gwei, t: 0)


def test_the_scenario_sets_the_gas_units_the_house_charges_and_the_keepers_estimate() -> None:
    from auction.models.chain import GAS_REDO
    from auction.run.kernel import Kernel
    from auction.run.population import make_agents
    from auction.scenario.build import build_world
    from auction.scenario.load import scenario_from_toml

    scenario = scenario_from_toml('name = "gas"\n[prices]\nsource = "gbm"\n[gas.units]\ntake = 1000\n'
                                  '"english-bid" = 7000\n[[keepers]]\nstrategy = "universal"\n')
    world = build_world(scenario, "dutch", 1, accounts=10)
    assert world.gas_units == {"take": 1000, "redo": GAS_REDO}  # the design's own where the scenario is silent
    assert Kernel(world, "dutch").house.gas_units == world.gas_units
    assert all(agent.gas_units == world.gas_units for agent in make_agents(world).values())
    assert build_world(scenario, "english", 1, accounts=10).gas_units == {"english-bid": 7000}


def test_the_kernel_routes_by_exact_message_type() -> None:
    """``audience`` and the kernel's observer test a message's type exactly (a set look-up; isinstance on a
    msgspec Struct costs several times more per message): sound while the wire's messages have no subclasses."""
    from auction.run.kernel import audience

    for cls in (m.Rejection, m.Ack, m.Account, m.Announce, m.Result, m.State, m.Block, m.OraclePrice):
        assert cls.__subclasses__() == []
    assert audience(m.Ack(keeper="ali", ref=1, auction=2, height=3, ts_ms=4)) == "ali"
    assert audience(m.Rejection(keeper="bob", ref=1, code="late", text="", ts_ms=4)) == "bob"
    assert audience(m.Block(height=1, ts_ms=12_000, gas_gwei_milli=1)) is None
