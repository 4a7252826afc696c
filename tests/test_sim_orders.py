"""The simulator's keeper order books (``auction.sim.orders``): orders that would do nothing when released (a plan
replaced meanwhile, a take that a keeper without budget refuses) go by in one step, with the same effects as
releasing each (``KeeperAgent.refuse_takes``)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import numpy as np
import pytest
import structlog
from structlog.testing import capture_logs

from auction.sim.orders import Book
from keepers.plan import TakeOrders
from keepers.rows import Rows


def _book(at: list[float], amounts: list[int]) -> tuple[Book, Rows]:
    """A book of one take per auction 10, 11, ... due at ``at``, numbered from 100, every plan current."""
    rows = Rows()
    n = len(at)
    r = np.array([rows.add(10 + i, None) for i in range(n)])
    rows.plan[r] = 1
    z = np.zeros(n, dtype=np.int64)
    orders = TakeOrders("k", r, r + 10, np.array(at), z + 1, z + 5, np.array(amounts), z)
    book = Book("k")
    book.add(orders, 0.0, 100, rows.current)
    return book, rows


def test_a_quiet_run_stops_at_the_next_time_the_next_event_and_the_first_order_that_stands() -> None:
    book, rows = _book([20.0, 20.0, 20.0, 20.0, 30.0], [7, 7, 0, 7, 7])
    assert book.quiet_run(2**63, rows.current) == 2  # the third has no amount: it is released
    assert book.quiet_run(102, rows.current) == 2  # a heap event numbered 102 at 20.0 comes next
    assert book.quiet_run(101, rows.current) == 1  # ... numbered 101: only the head goes
    assert book.quiet_run(-1, rows.current) == 1  # a SEND at 20.0: the head (the next event) only
    rows.plan[rows.ids == 12] = 2  # the order of auction 12 is stale now: it goes too
    assert book.quiet_run(2**63, rows.current) == 4  # to the end of 20.0, not into 30.0
    auctions, plans, fees = book.skip(2)
    assert auctions.tolist() == [10, 11] and plans.tolist() == [1, 1] and fees.tolist() == [0, 0]
    assert book.head() == (20.0, 102)


@pytest.mark.parametrize("seed", [0, 1])
def test_quiet_runs_change_nothing_a_run_shows(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Black Thursday at 3,000 vaults, where the best-funded keeper runs out of budget while its takes are in
    flight: every message and action, every keeper's inputs and every log line (the refusals, at debug level,
    with the budget each was refused for) are the same whether such orders go by in runs or one by one."""
    from auction.scenario.build import build_world
    from auction.scenario.load import load_scenario
    from auction.sim.engine import Simulation

    def trace(quiet: bool) -> tuple[list[Any], list[int], list[dict[str, Any]], int]:
        skipped = [0]
        real = Book.quiet_run

        def quiet_run(book: Book, seq_below: int, current: Any) -> int:
            n = real(book, seq_below, current) if quiet else 0
            skipped[0] += n
            return n

        monkeypatch.setattr(Book, "quiet_run", quiet_run)
        sim = Simulation(build_world(load_scenario("black-thursday"), "dutch", seed, accounts=3000), "dutch")
        seen: list[Any] = []
        broadcast, act = sim._broadcast, sim.kernel.act
        sim._broadcast = lambda msgs, now: (seen.extend((now, msgspec.json.encode(x)) for x in msgs),  # type: ignore[method-assign]
                                            broadcast(msgs, now))[1]
        sim.kernel.act = lambda a, t: (seen.append((t, msgspec.json.encode(a))), act(a, t))[1]  # type: ignore[method-assign]
        with capture_logs() as logs:
            sim.run()
        return seen, [a._inputs for a in sim.agents.values()], logs, skipped[0]

    # Every level (conftest keeps warnings only; the next test starts from that again): the refusals' budgets are
    # worked out only when a debug line is wanted.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    fast, slow = trace(True), trace(False)
    assert fast[3] > 500 and slow[3] == 0  # orders went by in runs, then none did
    assert sum(1 for line in fast[2] if line["event"] == "limit.refused") > 500
    assert fast[:3] == slow[:3]
