"""The live keeper runtime over a real broker: the same strategy object decides the same in the simulator and
as a live MQTT keeper, late joiners catch up from retained state, a killed keeper goes offline (Last Will)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from auction import units
from auction.designs import REGISTRY
from auction.designs.dutch import DutchTerms
from auction.designs.sealed import SealedTerms
from auction.net.keeper_proc import HouseClock, KeeperOptions, KeeperProcess
from auction.net.protocol_examples import house_fields, wire
from broker import messages as m
from broker import topics
from broker.bus import Bus
from broker.signing import KeyPair, verify
from broker.transport import connect
from keepers.agent import KeeperAgent
from keepers.api import AuctionView, Bid, Context, Strategy, Take
from keepers.deadline import DeadlineStrategy

pytestmark = pytest.mark.broker

SPEED = 600.0  # scenario seconds per wall second: a 12 s block every 20 ms
LATENCY = 2.0
GAS_MILLI = 20_000  # 20 gwei


class Market:
    """The outside market both runtimes show the keeper: 100 USD per ETH, 1% below that on resale."""

    def price(self, asset: str, t: float) -> float:
        return 100.0

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return qty * 99.0


class Recording(Strategy):
    """Dutch: take at 90% of the market; sealed: bid 80% of it. Records every decision it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, float, Any]] = []

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        value = ctx.market_price(auction.asset)
        decision: Take | Bid | None = None
        if auction.design == "dutch":
            decision = Take(max_price=0.9 * value, max_qty=auction.lot, priority_fee=2.0)
        elif auction.design.startswith("sealed"):
            decision = Bid(price=0.8 * value, qty=auction.lot / 2)
        self.calls.append((auction.id, auction.lot, decision))
        return decision


def dutch(auction: int, t: float) -> tuple[m.Announce, m.State]:
    terms = DutchTerms(top_q=units.price_q(130.0), curve="linear", tau_ms=600_000, tail_ms=3_600_000, cusp=0.2,
                         chost=0)
    common = dict(auction=auction, design="dutch", asset="ETH", lot=units.col(5.0), tab=units.num(450.0),
                  owner=f"acct:{auction}", start_ms=round(t * 1000), terms=terms)
    return (m.Announce(oracle_q=units.price_q(100.0), **common),  # type: ignore[arg-type]
            m.State(seq=0, status="open", top_q=terms.top_q, ts_ms=round(t * 1000), **common))  # type: ignore[arg-type]


def sealed(auction: int, t: float) -> tuple[m.Announce, m.State]:
    terms = SealedTerms(commit_end_ms=round((t + 300) * 1000), reveal_end_ms=round((t + 450) * 1000),
                          reserve_q=0, deposit=units.num(100.0), second_price=False)
    common = dict(auction=auction, design="sealed-first", asset="ETH", lot=units.col(4.0), tab=units.num(400.0),
                  owner=f"acct:{auction}", start_ms=round(t * 1000), terms=terms)
    return (m.Announce(oracle_q=units.price_q(100.0), **common),  # type: ignore[arg-type]
            m.State(seq=0, status="open", top_q=0, phase="commit", ts_ms=round(t * 1000), **common))  # type: ignore[arg-type]


def agent(strategy: Strategy, *, live: bool = False) -> KeeperAgent:
    """The same strategy object behind both agents; the live one wraps it with a decision deadline."""
    inner: Strategy = DeadlineStrategy(strategy, 1.0) if live else strategy
    return KeeperAgent("alice", inner, units.num(50_000.0), designs=REGISTRY, seed=11, market=Market(),
                       latency_s=LATENCY)


def script(start: float, stop: float, events: dict[float, list[m.Message]]) -> list[tuple[float, m.Message]]:
    """What the house publishes: the given messages at their times, then a block, every 12 s."""
    out: list[tuple[float, m.Message]] = []
    height, t = int(start // 12), start
    while t <= stop:
        out += [(t, msg) for msg in events.get(t, [])]
        height += 1
        out.append((t, m.Block(height=height, ts_ms=round(t * 1000), gas_gwei_milli=GAS_MILLI)))
        t += 12.0
    return out


def simulate(strategy: Strategy, msgs: list[tuple[float, m.Message]]) -> list[m.Action]:
    """What ``auction.sim.engine`` does with these messages: deliver after the latency, release each order at
    ``max(not_before, now)``, and the action leaves after the latency again."""
    a = agent(strategy)
    deliver, submit, send = 4, 3, 2  # the engine's event kinds, in its tie order
    queue: list[tuple[float, int, int, Any]] = []
    seq = itertools.count()
    for t, msg in msgs:
        heapq.heappush(queue, (t + LATENCY, deliver, next(seq), msg))
    out: list[m.Action] = []
    while queue:
        t, kind, _, item = heapq.heappop(queue)
        if kind == deliver:
            for order in a.on_message(item, t):
                heapq.heappush(queue, (max(order.not_before, t), submit, next(seq), order))
        elif kind == submit:
            action = a.release(item, t)
            if action is not None:
                heapq.heappush(queue, (t + LATENCY, send, next(seq), action))
        else:
            out.append(item)
    return out


def essence(action: m.Action) -> tuple[Any, ...]:
    """An action without what depends on when and how it was sent (nonce, deadline, signature)."""
    fields = {f: getattr(action, f) for f in action.__struct_fields__ if f not in ("nonce", "deadline_ms", "sig", "v")}
    return (m.tag_of(type(action)), tuple(sorted(fields.items())))


@contextlib.asynccontextmanager
async def fake_house(url: str) -> AsyncIterator[Bus]:
    bus = connect(url, f"fake-house-{uuid.uuid4().hex[:8]}")
    async with bus:
        await bus.publish(topics.house_status(), wire(m.HouseStatus(online=True, ts_ms=0, **house_fields())))
        yield bus
        for auction in range(1, 10):  # leave nothing retained behind for other tests
            await bus.publish(topics.state(auction), b"", retain=True)
        await bus.publish(topics.house_status(), b"", retain=True)
        await bus.publish(topics.clock(), b"", retain=True)


async def publish(bus: Bus, msg: m.Message) -> None:
    if isinstance(msg, m.Announce):
        await bus.publish(topics.announce(msg.auction), wire(msg))
    elif isinstance(msg, m.State):
        await bus.publish(topics.state(msg.auction), wire(msg))
    else:
        assert isinstance(msg, m.Block)
        await bus.publish(topics.clock(), wire(msg))


async def collect(url: str, keeper: str, into: list[m.Action], ready: asyncio.Event) -> None:
    bus = connect(url, f"watch-{uuid.uuid4().hex[:8]}")
    async with bus:
        await bus.subscribe(topics.actions(keeper))
        ready.set()
        async for env in bus.messages():
            msg = m.decode(env.payload)
            assert isinstance(msg, m.ACTIONS)
            into.append(msg)


async def play(bus: Bus, msgs: list[tuple[float, m.Message]]) -> None:
    """Publish a script in (accelerated) time: one block interval of 12 s takes 12 / SPEED wall seconds."""
    last = msgs[0][0]
    for t, msg in msgs:
        if t > last:
            await asyncio.sleep((t - last) / SPEED)
            last = t
        await publish(bus, msg)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait for an event the test can observe (never a fixed sleep for readiness)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def registered(got: list[m.Action]) -> Callable[[], bool]:
    """The keeper is subscribed and heard the house: its Register (sent on seeing the house online) arrived."""
    return lambda: any(isinstance(x, m.Register) for x in got)


async def start_keeper(url: str, strategy: Strategy, key: KeyPair) -> tuple[KeeperProcess, asyncio.Task[int]]:
    clock = HouseClock(SPEED)
    live = agent(strategy, live=True)
    live.nonce = 1000
    proc = KeeperProcess(live, key, KeeperOptions(url, "alice", speed=SPEED, latency=LATENCY,
                                                  client_id=f"alice-{uuid.uuid4().hex[:6]}"), house_clock=clock)
    return proc, asyncio.create_task(proc.run())


async def test_same_strategy_object_same_decisions_in_simulator_and_live_keeper(broker_url: str) -> None:
    strategy = Recording()
    a1, s1 = dutch(1, 60.0)
    a2, s2 = sealed(2, 60.0)
    msgs = script(0.0, 600.0, {60.0: [a1, s1, a2, s2]})
    expected = simulate(strategy, msgs)
    sim_calls = list(strategy.calls)
    assert [m.tag_of(type(x)) for x in expected] == ["commit", "take", "reveal"]  # the take waits for 90 USD
    strategy.calls.clear()

    key = KeyPair.from_seed(b"\x07" * 32)
    got: list[m.Action] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(collect(broker_url, "alice", got, ready))
    await ready.wait()
    async with fake_house(broker_url) as house:
        proc, task = await start_keeper(broker_url, strategy, key)
        await until(registered(got), "the keeper's Register")
        await play(house, msgs)
        await until(lambda: len(got) >= 1 + len(expected), "the keeper's last action")
        proc.stop()
        assert await asyncio.wait_for(task, 5) == 0
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher

    got = list({m.encode(x): x for x in got}.values())  # the Register is sent again as is until acknowledged
    registers = [x for x in got if isinstance(x, m.Register)]
    actions = [x for x in got if not isinstance(x, m.Register)]
    assert len(registers) == 1 and registers[0].pubkey == key.pubkey
    assert [essence(x) for x in actions] == [essence(x) for x in expected]
    assert all(verify(x, key.pubkey) for x in got)  # every action signed by the keeper's key
    nonces = [x.nonce for x in got]
    assert nonces == sorted(nonces) and len(set(nonces)) == len(nonces)
    assert strategy.calls == sim_calls  # the strategy saw the same auctions and decided the same


async def test_a_keeper_registers_again_until_acknowledged_and_uses_the_houses_gas_table(broker_url: str) -> None:
    """PROTOCOL.md section 5: the same Register bytes again until the house's ack; the scenario's gas units come
    with the house status."""
    key = KeyPair.from_seed(b"\x09" * 32)
    got: list[m.Action] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(collect(broker_url, "alice", got, ready))
    await ready.wait()
    async with fake_house(broker_url) as house:
        status = m.HouseStatus(online=True, design="dutch", gas={"take": 1_234_567}, ts_ms=0, **house_fields())
        await house.publish(topics.house_status(), wire(status))
        proc, task = await start_keeper(broker_url, Recording(), key)
        for _ in range(100):  # the first Register, then the same bytes again a second later: no ack yet
            await asyncio.sleep(0.05)
            if len([x for x in got if isinstance(x, m.Register)]) >= 2:
                break
        registers = [x for x in got if isinstance(x, m.Register)]
        assert len(registers) >= 2 and len({m.encode(r) for r in registers}) == 1
        await house.publish(topics.acks("alice"), wire(m.Ack(keeper="alice", ref=registers[0].nonce, height=0,
                                                              ts_ms=0)))
        await asyncio.sleep(1.5)  # acknowledged: no more
        assert len([x for x in got if isinstance(x, m.Register)]) <= len(registers) + 1
        assert proc.agent.gas_units == {"take": 1_234_567}
        proc.stop()
        assert await asyncio.wait_for(task, 5) == 0
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher


async def test_a_late_keeper_catches_up_from_retained_state(broker_url: str) -> None:
    strategy = Recording()
    a3, s3 = dutch(3, 24.0)
    key = KeyPair.from_seed(b"\x08" * 32)
    got: list[m.Action] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(collect(broker_url, "alice", got, ready))
    await ready.wait()
    async with fake_house(broker_url) as house:
        await publish(house, a3)  # announced before the keeper exists: only the retained state remains
        await publish(house, s3)
        proc, task = await start_keeper(broker_url, strategy, key)
        await until(registered(got), "the keeper's Register")
        await play(house, script(36.0, 400.0, {}))
        await until(lambda: any(isinstance(x, m.Take) for x in got), "the keeper's take")
        proc.stop()
        assert await asyncio.wait_for(task, 5) == 0
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    takes = [x for x in got if isinstance(x, m.Take)]
    assert [(t.auction, t.amount, t.max_price_q) for t in takes] == [(3, units.col(5.0), units.price_q(90.0))]
    assert strategy.calls and strategy.calls[0][0] == 3


async def test_a_killed_keeper_process_goes_offline_through_its_last_will(broker_url: str, tmp_path: Path) -> None:
    kid = f"lw-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "LIQNET_BROKER": broker_url}
    proc = subprocess.Popen([sys.executable, "-m", "auction.cli", "keeper", "--strategy", "universal", "--id", kid,
                             "--key", str(tmp_path / "k.key")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    seen: list[m.KeeperStatus] = []
    bus = connect(broker_url, f"watch-{uuid.uuid4().hex[:8]}")
    try:
        async with bus:
            await bus.subscribe(topics.keeper_status(kid))

            async def wait_for(online: bool) -> None:
                async for env_ in bus.messages():
                    if env_.payload:
                        status = m.decode(env_.payload)
                        assert isinstance(status, m.KeeperStatus)
                        seen.append(status)
                        if status.online is online:
                            return

            await asyncio.wait_for(wait_for(True), 20)
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            await asyncio.wait_for(wait_for(False), 20)
            await bus.publish(topics.keeper_status(kid), b"", retain=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen[0].online and not seen[-1].online and seen[-1].keeper == kid
    assert seen[-1].pubkey == seen[0].pubkey == KeyPair.from_seed((tmp_path / "k.key").read_bytes()).pubkey


async def test_keeper_process_stops_cleanly_on_sigterm(broker_url: str, tmp_path: Path) -> None:
    kid = f"term-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "LIQNET_BROKER": broker_url}
    proc = subprocess.Popen([sys.executable, "-m", "auction.cli", "keeper", "--strategy", "universal", "--id", kid,
                             "--key", str(tmp_path / "k.key")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    bus = connect(broker_url, f"watch-{uuid.uuid4().hex[:8]}")
    try:
        async with bus:
            await bus.subscribe(topics.keeper_status(kid))
            statuses: list[bool] = []
            async for env_ in bus.messages():
                if env_.payload:
                    status = m.decode(env_.payload)
                    assert isinstance(status, m.KeeperStatus)
                    statuses.append(status.online)
                    if status.online:
                        proc.send_signal(signal.SIGTERM)
                    else:
                        break
            assert proc.wait(10) == 0
            await bus.publish(topics.keeper_status(kid), b"", retain=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert statuses == [True, False]
