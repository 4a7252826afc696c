"""Blocks passed over without a message (``Kernel.pass_blocks``): the same run as applying each one."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from auction.run.kernel import Kernel
from auction.scenario.build import build_world
from auction.scenario.load import load_scenario
from auction.sim import engine
from broker import messages as m


def _state(kernel: Kernel) -> tuple[object, ...]:
    house = kernel.house
    return (house.height, kernel.now, kernel.next_oracle, sorted(house.open), list(house.deadlines),
            {k: list(v) for k, v in kernel.timeline.columns.items()})


def test_a_block_the_kernel_passes_over_is_one_whose_only_output_is_its_block() -> None:
    """Two kernels over the same world: one applies every input, the other passes each block it may over. The
    passed ones are exactly those that yield their Block alone, and both kernels agree after every input."""
    scenario = load_scenario("black-thursday")
    # a world each: the house changes its accounts in place
    applied, passing = (Kernel(build_world(scenario, "dutch", 0, accounts=40), "dutch") for _ in range(2))
    passed = busy = 0
    while (inp := applied.next_input()) is not None:
        assert passing.next_input() == inp
        out = applied.apply(inp)
        idle = inp.kind == "block" and [type(x) for x in out] == [m.Block]
        n = passing.pass_blocks(inp.t, lambda _: False) if inp.kind == "block" else 0
        assert n == (1 if idle else 0), (inp, out)
        if n:
            passed += 1
        else:
            busy += 1
            assert msgspec.json.encode(passing.apply(inp)) == msgspec.json.encode(out)
        assert _state(passing) == _state(applied)
    assert passed > 8000 and busy > 30  # most blocks of the day are idle; the sales' are not


def test_passing_stops_at_a_block_a_keeper_is_shown_and_at_the_caller_s_bound() -> None:
    world = build_world(load_scenario("black-thursday"), "dutch", 0, accounts=2)
    kernel = Kernel(world, "dutch")
    while (inp := kernel.next_input()) is not None and inp.kind != "block":
        kernel.apply(inp)
    assert inp is not None
    t0 = inp.t
    assert kernel.pass_blocks(t0, lambda t: t >= t0) == 0 and kernel.house.height == 0
    assert kernel.pass_blocks(t0 + 3 * kernel.block_time, lambda _: False) == 4
    assert kernel.house.height == 4 and kernel.now == 4 * kernel.block_time


def test_a_perp_book_is_never_passed_over_once_priced() -> None:
    """Marks and funding move at every block of a perp book (``PositionBook.still_at_blocks``)."""
    scenario = load_scenario("perp-black-thursday")
    world = build_world(scenario, "perp-market", 0, accounts=20)
    kernel = Kernel(world, "perp-market")
    while (inp := kernel.next_input()) is not None and not kernel.house.priced:
        kernel.apply(inp)
    assert kernel.pass_blocks(world.end, lambda _: False) == 0


@pytest.mark.parametrize("design", ["dutch", "english", "sealed-first"])
def test_the_simulator_s_result_is_the_same_without_passing(design: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte (pickled), at a seed and size no golden file holds."""
    scenario = load_scenario("black-thursday")
    passing = pickle.dumps(engine.run_one(scenario, design, 3, accounts=60))
    monkeypatch.setattr(Kernel, "pass_blocks", lambda self, until, shown: 0)
    assert pickle.dumps(engine.run_one(scenario, design, 3, accounts=60)) == passing
