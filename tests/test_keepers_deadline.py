"""call_with_deadline and DeadlineStrategy: the live keeper's guard against slow or hung strategies."""

from __future__ import annotations

import threading
import time

import pytest

from keepers import AuctionView, Bid, Context, Strategy, Take
from keepers.agent import DeadlineExceeded, DeadlineStrategy, call_with_deadline

VIEW = AuctionView(id=1, design="dutch", asset="ETH", lot=1.0, tab=1.0, oracle_price=1.0)


def test_returns_the_value_in_time() -> None:
    assert call_with_deadline(lambda: 41 + 1, 1.0) == 42


def test_reraises_the_functions_exception() -> None:
    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        call_with_deadline(boom, 1.0)


def test_a_hanging_function_returns_within_the_deadline() -> None:
    never = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(lambda: never.wait(30), 0.2)
    elapsed = time.monotonic() - t0
    never.set()
    assert 0.2 <= elapsed < 1.0


class Slow(Strategy):
    def __init__(self, gate: threading.Event) -> None:
        super().__init__(tag="slow")
        self.gate = gate

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        self.gate.wait(30)
        return Take(1.0, 1.0)


def test_deadline_strategy_abstains_while_the_strategy_is_stuck_then_recovers() -> None:
    gate = threading.Event()
    s = DeadlineStrategy(Slow(gate), timeout_s=0.1)
    assert s.config == {"tag": "slow"} and s.label == "Slow"
    ctx = Context.simple()
    assert s.on_auction(VIEW, ctx) is None  # missed its deadline
    t0 = time.monotonic()
    assert s.on_auction(VIEW, ctx) is None  # still busy: refused at once, not queued
    assert time.monotonic() - t0 < 0.05
    gate.set()
    time.sleep(0.05)
    assert s.on_auction(VIEW, ctx) == Take(1.0, 1.0)  # the old call finished: back in business
    assert s.missed == 2
