"""The State a house sends with each Announce is not planned a second time when it shows the same auction
(``keepers.agent.twin``), and that changes no result: a run that plans it anyway comes out identical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

import keepers.agent as agent_mod
from auction.compare.strategy_test import with_candidate
from auction.designs import REGISTRY
from auction.scenario.load import load_scenario
from auction.sim.engine import simulate
from broker import messages as m
from keepers import AuctionView, Context, Strategy, Take
from keepers.agent import KeeperAgent, twin
from keepers.strategies import DutchThreshold
from tests.test_keepers_agent import Market, agent, dutch_announce, dutch_state

JITTERY = str(Path(__file__).with_name("strategies") / "jittery.py") + ":Jittery"


class Counting(Strategy):
    """DutchThreshold that counts the decisions it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.inner, self.calls = DutchThreshold(margin=0.05), 0

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | None:
        self.calls += 1
        return self.inner.on_auction(auction, ctx)  # type: ignore[return-value]


def test_the_state_sent_with_its_announce_is_not_planned_again() -> None:
    s = Counting()
    a = agent(s)
    (order,) = a.on_message(dutch_announce(), 0.0)
    state = dutch_state(seq=1)
    assert a.on_message(state, 0.0) == [] and s.calls == 1
    assert a.auctions[7].msg is state  # the agent still holds the latest state
    assert a.release(order, order.not_before) is not None  # the Announce's order stands


@pytest.mark.parametrize("between", ["oracle", "release", "later"])
def test_a_state_after_anything_else_reached_the_agent_is_planned_again(between: str) -> None:
    s = Counting()
    a = agent(s)
    (order,) = a.on_message(dutch_announce(), 0.0)
    now = 0.0
    if between == "oracle":
        a.on_message(m.OraclePrice(asset="ETH", price_q=2000 * 10**6, ts_ms=0), 0.0)
    elif between == "release":
        a.release(order, 0.0)
    else:
        now = 1.0
    a.on_message(dutch_state(seq=1), now)
    assert s.calls == 2


def test_a_state_that_shows_something_new_is_planned() -> None:
    s = Counting()
    a = agent(s)
    (first,) = a.on_message(dutch_announce(), 0.0)
    (second,) = a.on_message(dutch_state(seq=1, lot=dutch_announce().lot // 2), 0.0)
    assert s.calls == 2 and second.action.amount == first.action.amount // 2  # type: ignore[union-attr]


@pytest.mark.parametrize("change", [dict(lot=1), dict(tab=1), dict(start_ms=5), dict(top_q=1), dict(bid=1),
                                    dict(guy="k2"), dict(tic_ms=1), dict(phase="commit"), dict(status="closed"),
                                    dict(owner="acct:2")])
def test_twin_needs_the_very_same_auction(change: dict[str, Any]) -> None:
    announce, state = dutch_announce(), dutch_state(seq=3)
    assert twin(announce, state)
    assert not twin(announce, msgspec.structs.replace(state, **change))
    assert not twin(state, state) and not twin(announce, announce)


def outcome(scenario: Any, design: str, seed: int) -> tuple[list[tuple[int, str, int, int, float]], bytes]:
    """Every fill of a run, and its metrics as bytes."""
    sim = simulate(scenario, design, seed, accounts=400)
    fills = [(s.id, f.who, f.qty, f.cost, f.at) for s in sim.house.sales.values() for f in s.fills]
    return fills, msgspec.json.encode(sim.kernel.result().metrics)


@pytest.mark.parametrize("design", ["dutch", "english", "fixed", "sealed-first"])
def test_planning_the_twin_state_anyway_gives_the_same_run(design: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario("black-thursday")
    skipped = outcome(scenario, design, 5)
    monkeypatch.setattr(agent_mod, "twin", lambda announced, msg: False)
    assert outcome(scenario, design, 5) == skipped
    assert skipped[0], "the run should have fills to compare"


def test_a_strategy_drawing_from_ctx_rng_is_deterministic() -> None:
    scenario = with_candidate(load_scenario("black-thursday"), JITTERY, 250_000.0, {})

    def fills(seed: int) -> list[tuple[int, str, int, int]]:
        sim = simulate(scenario, "dutch", seed, accounts=300)
        return [(s.id, f.who, f.qty, f.cost) for s in sim.house.sales.values() for f in s.fills]

    once = fills(2)
    assert once == fills(2)
    assert any(who == list(simulate(scenario, "dutch", 2, accounts=50).agents)[-1] for _, who, _, _ in once)


def test_a_strategy_that_hears_results_still_hears_them() -> None:
    heard: list[int] = []

    class Listener(DutchThreshold):
        def on_result(self, result: Any, ctx: Context) -> None:
            heard.append(result.id)

    a = KeeperAgent("k1", Listener(), 10**12, designs=REGISTRY, market=Market())
    a.on_message(dutch_announce(), 0.0)
    a.on_message(m.Result(auction=7, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=0), 1.0)
    assert heard == [7]
