"""ExternalStrategy: JSON lines round trip with the template script; hangs, deaths and garbage give None."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from auction import units
from auction.designs import REGISTRY
from auction.designs.dutch import DutchTerms
from broker import messages as m
from keepers import AuctionView, Bid, Context, ResultView, Take
from keepers.agent import KeeperAgent, Policy
from keepers.external import ExternalStrategy


def T(price: float, qty: float) -> Any:
    """A Take to compare with, with float tolerance on the price."""
    return Take(pytest.approx(price), qty)  # type: ignore[arg-type]


def B(price: float, qty: float) -> Any:
    return Bid(pytest.approx(price), qty)  # type: ignore[arg-type]


TEMPLATE = Path(__file__).resolve().parent.parent / "keepers" / "templates" / "external_keeper.py"
DUTCH = {"top": 2600.0, "curve": "stairstep", "cut": 0.99, "step": 90.0, "tail": 8400.0, "cusp": 0.4}


def view(design: str = "dutch", **terms: object) -> AuctionView:
    t: dict[str, object] = dict(DUTCH) if design == "dutch" else {}
    t.update(terms)
    return AuctionView(id=3, design=design, asset="ETH", lot=10.0, tab=15_000.0, oracle_price=2000.0, terms=t)


def ctx() -> Context:
    return Context.simple(now=100.0, prices={"ETH": 2000.0})


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "keeper.py"
    path.write_text("import json, sys, time\n" + body)
    return [sys.executable, str(path)]


def test_round_trip_with_the_template_keeper() -> None:
    s = ExternalStrategy([sys.executable, str(TEMPLATE)], margin=0.1)
    try:
        s.on_start(ctx())
        assert s.on_auction(view(), ctx()) == T(1800.0, 10.0)
        assert s.on_auction(view("sealed-first", reserve=0.0), ctx()) == B(1800.0, 10.0)
        assert s.on_auction(view("sealed-first", reserve=1900.0), ctx()) is None  # under the reserve: abstain
        s.on_result(ResultView(id=3, design="dutch", asset="ETH", won=True, qty=1.0, cost=1800.0), ctx())
        s.on_stop(ctx())
    finally:
        s.close()
    assert s._proc is None


def test_hanging_external_process_times_out(tmp_path: Path) -> None:
    s = ExternalStrategy(script(tmp_path, "for line in sys.stdin:\n    time.sleep(30)\n"), timeout=0.3)
    try:
        t0 = time.monotonic()
        assert s.on_auction(view(), ctx()) is None
        assert time.monotonic() - t0 < 2.0
    finally:
        s.close()


def test_late_reply_is_not_taken_for_the_next_request(tmp_path: Path) -> None:
    body = (
        "for line in sys.stdin:\n"
        "    req = json.loads(line)\n"
        "    if req['seq'] == 1:\n"
        "        time.sleep(0.6)\n"
        "    price = 1.0 if req['seq'] == 1 else 2.0\n"
        "    print(json.dumps({'seq': req['seq'], 'take': {'max_price': price, 'max_qty': 1}}), flush=True)\n"
    )
    s = ExternalStrategy(script(tmp_path, body), timeout=0.3)
    try:
        assert s.on_auction(view(), ctx()) is None  # seq 1 times out
        time.sleep(0.5)  # its answer arrives late
        assert s.on_auction(view(), ctx()) == Take(2.0, 1.0)  # seq 2 gets its own answer
    finally:
        s.close()


def test_dead_process_gives_none(tmp_path: Path) -> None:
    s = ExternalStrategy(script(tmp_path, "sys.exit(0)\n"), timeout=1.0)
    assert s.on_auction(view(), ctx()) is None
    assert s.on_auction(view(), ctx()) is None  # stays quiet, no exception
    s.on_stop(ctx())


def test_garbage_replies_give_none(tmp_path: Path) -> None:
    body = (
        "replies = ['not json', '[1, 2]', json.dumps({'take': {'max_price': 'x'}}), json.dumps({'bid': {}})]\n"
        "for line, reply in zip(sys.stdin, replies):\n"
        "    print(reply, flush=True)\n"
        "time.sleep(5)\n"
    )
    s = ExternalStrategy(script(tmp_path, body), timeout=0.5)
    try:
        assert [s.on_auction(view(), ctx()) for _ in range(4)] == [None, None, None, None]
    finally:
        s.close()


def test_external_strategy_drives_a_keeper_agent() -> None:
    s = ExternalStrategy([sys.executable, str(TEMPLATE)])
    a = KeeperAgent("ext", s, units.num(1e6), designs=REGISTRY, policy=Policy(estimate_gas=False))
    terms = DutchTerms(top_q=2600 * units.NUM, curve="stairstep", cut=0.99, step_ms=90_000, tail_ms=8_400_000,
                         cusp=0.4, chost=0)
    announce = m.Announce(auction=1, design="dutch", asset="ETH", lot=10 * units.COL, tab=15_000 * units.NUM,
                          owner="acct:1", start_ms=0, oracle_q=2000 * units.NUM, terms=terms)
    try:
        a.start(0.0)
        (order,) = a.on_message(announce, 0.0)  # no market model: the oracle is the keeper's market price
        assert order.not_before == 2880.0 and order.action.max_price_q == 1900 * units.NUM  # type: ignore[union-attr]
        a.stop(1.0)
    finally:
        s.close()
