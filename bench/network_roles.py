"""The child processes of ``bench.network``: raw MQTT publisher and subscriber, the house, the keepers.

Each role runs in its own OS process, prints ``READY`` when it may be measured and one ``RESULT {json}`` line
at the end (stdout); progress goes to stderr. Times are ``time.monotonic`` (shared by every process on the
machine).

- ``raw-pub`` / ``raw-sub``: QoS 1 publish -> receive of a signed Take on an actions topic, between two
  processes: with aiomqtt itself (a window of publish tasks in flight, or one at a time), or with liqnet's
  bus (``MqttBus.publish_many``, its pipelined publisher, and its receive path).
- ``house``: the real network house, ``auction.net.house_proc.HouseProcess`` over ``HouseCore`` (admission,
  journal, kernel, receipts, accounts, pipelined publishing), at speed 1 on a bench world whose oracle falls
  so that auctions are kicked at ``--latency-rate`` per second for ``--seconds`` (latency), then at ``--rate``
  (throughput). It records when it hands each announce, acknowledgement and result to the bus.
- ``keeper``: takes every auction it is assigned (``id % keepers``; all with ``--race``) as soon as it is
  announced: a signed ``Take`` of the whole lot at the top price.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

P0 = 2_000.0  # USD per token before the crash
ASSET = "ETH"
GAP_S = 0.5  # scenario seconds between the two phases
START_S = 0.2  # the first kick


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def quiet() -> None:
    import logging

    import aiomqtt.client

    from auction.log import configure_logging

    configure_logging("warning")
    # aiomqtt warns about every publish beyond 10 in flight (in flight is what a window is for); it sets its
    # logger's level when imported, hence after the import.
    aiomqtt.client.MQTT_LOGGER.setLevel(logging.ERROR)


# --- (a) the ceiling ---------------------------------------------------------------------------------------


def _raw_topic() -> str:
    from broker import topics

    return topics.actions("bench-raw")  # a QoS-1 event topic of the protocol, with a realistic length


def _raw_payload() -> bytes:
    from bench.wire import sample_take
    from broker import messages as m
    from broker.signing import KeyPair

    return m.encode(sample_take(KeyPair.from_seed(bytes(32))))  # a signed Take: 300-odd bytes


def _aiomqtt(host: str, port: int, name: str, inflight: int = 20) -> Any:
    import aiomqtt

    from broker.mqtt_bus import NODELAY

    return aiomqtt.Client(host, port, identifier=name, socket_options=[NODELAY], max_inflight_messages=inflight,
                          timeout=30)


async def raw_sub(args: argparse.Namespace) -> None:
    """Count QoS-1 messages until the end marker; report the receive rate between first and last."""
    topic = _raw_topic()
    got, first, last = 0, 0.0, 0.0

    def count(payload: bytes) -> bool:
        nonlocal got, first, last
        if payload == b"end":
            return False
        now = time.monotonic()
        first = first or now
        last = now
        got += 1
        return True

    async with asyncio.timeout(args.seconds * 4 + 30):
        if args.client == "bus":
            from broker.mqtt_bus import MqttBus

            async with MqttBus(args.host, args.port, "bench-raw-sub", persistent=False, dedupe_window=0) as bus:
                await bus.subscribe(topic)
                print("READY", flush=True)
                async for env in bus.messages():
                    if not count(env.payload):
                        break
        else:
            async with _aiomqtt(args.host, args.port, "bench-raw-sub") as client:
                await client.subscribe(topic, qos=1)
                print("READY", flush=True)
                async for msg in client.messages:
                    if not count(bytes(msg.payload)):  # type: ignore[arg-type]
                        break
    emit({"received": got, "rate": (got - 1) / (last - first) if got > 1 and last > first else 0.0})


async def raw_pub(args: argparse.Namespace) -> None:
    """Publish QoS 1 for ``seconds``: aiomqtt tasks with ``window`` in flight (1: await each PUBACK), or the bus."""
    topic, payload = _raw_topic(), _raw_payload()
    window, sent = args.window, 0
    if args.client == "bus":
        from broker.mqtt_bus import MqttBus

        async with MqttBus(args.host, args.port, "bench-raw-pub", persistent=False, window=window) as bus:
            start = time.monotonic()
            stop = start + args.seconds
            while time.monotonic() < stop:
                await bus.publish_many([(topic, payload, None)] * 64)
                sent += 64
            await bus.flush()
            elapsed = time.monotonic() - start
            await bus.publish(topic, b"end")
        emit({"sent": sent, "rate": sent / elapsed})
        return
    async with _aiomqtt(args.host, args.port, "bench-raw-pub", inflight=max(window, 1)) as client:
        start = time.monotonic()
        stop = start + args.seconds
        if window <= 1:
            while time.monotonic() < stop:
                await client.publish(topic, payload, qos=1)
                sent += 1
        else:
            pending: set[asyncio.Task[None]] = set()
            while time.monotonic() < stop:
                while len(pending) < window:
                    pending.add(asyncio.create_task(client.publish(topic, payload, qos=1)))
                    sent += 1
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            if pending:
                await asyncio.gather(*pending)
        elapsed = time.monotonic() - start
        await client.publish(topic, b"end", qos=1)
    emit({"sent": sent, "rate": sent / elapsed})


# --- (b, c) the house ----------------------------------------------------------------------------------------


@dataclass
class Record:
    """What the bench house saw itself publish, by wall time."""

    announced: dict[int, tuple[float, float]] = field(default_factory=dict)  # auction -> (wall, scenario s)
    first_ack: dict[int, float] = field(default_factory=dict)  # auction -> wall time of its first accepted take
    acks: list[float] = field(default_factory=list)  # wall time of every accepted action (takes)
    settled: list[tuple[float, int]] = field(default_factory=list)  # (wall, auction)
    rejected: int = 0
    published: int = 0


def bench_world(args: argparse.Namespace) -> Any:
    """Accounts, and an oracle that falls once per block so that auctions are kicked at the phases' rates."""
    import numpy as np

    from auction import units
    from auction.book.accounts import generate
    from auction.designs import defaults
    from auction.params import HouseParams
    from auction.scenario.tables import Scenario
    from auction.scenario.world import World

    accounts = generate(args.accounts, (ASSET,), np.array([P0]), seed=1, debt_mean=1_000.0, debt_sigma=0.5,
                        cr_low=1.55, cr_high=3.5, liquidation_ratio=1.5)
    # Liquidation prices, highest first: the oracle set just under the k-th flags exactly k accounts.
    thresholds = np.sort(accounts.liquidation_prices())[::-1]
    block = args.block_ms / 1000
    updates: list[tuple[float, dict[str, float]]] = [(0.0, {ASSET: P0})]
    flagged = 0
    for start, rate in phases(args):
        n = int(args.seconds / block)
        for i in range(1, n + 1):
            want = min(len(thresholds), flagged + round(rate * block * i) - round(rate * block * (i - 1)))
            if want > flagged:
                flagged = want
                updates.append((start + i * block, {ASSET: float(thresholds[want - 1]) * (1 - 1e-9)}))
    end = phases(args)[-1][0] + args.seconds + block
    return World(
        scenario=Scenario(name="bench"), design="dutch", seed=1, asset=ASSET, accounts=accounts, designs=defaults(),
        house_params=HouseParams(max_kicks_per_block=10**6, block_time_s=block, block_gas_limit=10**15, drain_s=1.0),
        oracle_updates=updates, end=end, market_price=lambda a, t: P0,
        proceeds=lambda a, qty, t: units.num(units.col_f(qty) * P0), gas_cost=lambda gas, gwei, t: 0,
        gas_gwei=lambda t: 0.0,
    )


def phases(args: argparse.Namespace) -> list[tuple[float, float]]:
    """(start, kicks per second) of the latency phase, then of the throughput phase, in scenario seconds: latency
    first, while the house is on its clock (after an overload it would still be catching up)."""
    return [(START_S, args.latency_rate), (START_S + args.seconds + GAP_S, args.rate)]


async def house_role(args: argparse.Namespace) -> None:
    from auction.net.funding import Funding
    from auction.net.house_core import HouseCore
    from auction.net.house_proc import HouseOptions, HouseProcess
    from auction.net.journal import Journal
    from auction.net.runspec import RunSpec
    from broker import messages as m
    from broker.mqtt_bus import MqttBus

    record = Record()

    class BenchHouse(HouseProcess):
        """The network house, recording the wall time at which it hands each announce, ack and result over."""

        async def _publish(self, bus: Any, out: Sequence[m.Message]) -> None:
            now = time.monotonic()
            for msg in out:
                if isinstance(msg, m.Announce):
                    record.announced[msg.auction] = (now, msg.start_ms / 1000)
                elif isinstance(msg, m.Ack) and msg.auction:
                    record.acks.append(now)
                    record.first_ack.setdefault(msg.auction, now)
                elif isinstance(msg, m.Result):
                    record.settled.append((now, msg.auction))
                elif isinstance(msg, m.Rejection):
                    record.rejected += 1
            record.published += len(out)
            await super()._publish(bus, out)

        def _report(self) -> list[Path]:
            return []  # a bench world has no scenario to report on

    world = bench_world(args)
    # Keepers make fresh keys: open funding (trust on first use) for as many ids as the bench may start.
    spec = RunSpec("bench", "-", "dutch", 1, None, Funding(open_funding=1e11, open_ids=10_000), run_id="bench")
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "house.journal") if args.journal else None
        core = HouseCore(world, spec, journal)
        options = HouseOptions(f"mqtt://{args.host}:{args.port}", speed=1.0, wait_keepers=args.keepers)
        bus = MqttBus(args.host, args.port, "bench-house", persistent=False, window=args.house_window,
                      will=None)
        house = BenchHouse(core, options, bus=bus)
        print("READY", flush=True)
        cpu0, wall0 = cpu(), time.monotonic()
        if args.house_profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            try:
                code = await house.run()
            finally:
                profiler.disable()
                profiler.dump_stats(args.house_profile)
        else:
            code = await house.run()
        cpu_s, wall_s = cpu() - cpu0, time.monotonic() - wall0
        if journal is not None:
            journal.close()
    emit({"code": code, "phases": [summary(record, phase) for phase in split(record, args)],
          "max_lag_ms": house.timing.max_lag * 1000, "block_ms": args.block_ms, "cpu_share": cpu_s / wall_s,
          "published": record.published, "rejected": record.rejected, "announced": len(record.announced),
          "t_range": [min((t for _, t in record.announced.values()), default=0),
                      max((t for _, t in record.announced.values()), default=0)], "acks": len(record.acks),
          "settled_n": len(record.settled), "wall_s": wall_s})


def split(record: Record, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The auctions of each phase (by the scenario time they were kicked) and the wall window they span."""
    out = []
    for start, rate in phases(args):
        ids = {a for a, (_, t) in record.announced.items() if start <= t < start + args.seconds}
        walls = sorted(record.announced[a][0] for a in ids)
        out.append({"ids": ids, "walls": walls, "rate": rate})
    return out


def summary(record: Record, phase: dict[str, Any]) -> dict[str, Any]:
    """Rates over the steady part of a phase (from WARMUP of its wall span to its last kick), and the latency
    from each auction's announce to its first accepted take, both as the house published them."""
    ids, walls = phase["ids"], phase["walls"]
    if not walls:
        return {"auctions": 0, "settled_per_s": 0.0, "accepted_per_s": 0.0, "p50_ms": 0.0, "p99_ms": 0.0,
                "max_ms": 0.0, "samples": 0, "rate": phase["rate"]}
    lo = walls[0] + 0.25 * (walls[-1] - walls[0]) / 2  # skip the first eighth: the pipeline fills
    hi = walls[-1]
    span = max(hi - lo, 1e-9)
    lat = sorted((record.first_ack[a] - record.announced[a][0]) * 1000 for a in ids if a in record.first_ack)
    return {
        "auctions": len(ids), "rate": phase["rate"], "wall_s": walls[-1] - walls[0],
        "settled": sum(1 for _, a in record.settled if a in ids),
        "settled_per_s": sum(1 for w, a in record.settled if a in ids and lo <= w < hi) / span,
        "accepted_per_s": sum(1 for w in record.acks if lo <= w < hi) / span,
        "p50_ms": quantile(lat, 0.50), "p99_ms": quantile(lat, 0.99), "max_ms": lat[-1] if lat else 0.0,
        "samples": len(lat),
    }


def quantile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted ``xs`` (0 when empty)."""
    if not xs:
        return 0.0
    return xs[min(len(xs) - 1, max(0, int(q * len(xs) + 0.5) - 1))]


# --- keepers ------------------------------------------------------------------------------------------------


async def keeper_role(args: argparse.Namespace) -> None:
    """Take every assigned auction at once: a signed Take of the whole lot at the top price."""
    from auction.designs.dutch import DutchTerms
    from broker import messages as m
    from broker import topics
    from broker.mqtt_bus import MqttBus
    from broker.signing import KeyPair

    me = f"bench-k{args.index}"
    keys = KeyPair.generate()
    nonce = 0
    sent = rejected = acked = results = 0
    online = False
    cpu0 = wall0 = 0.0
    patterns = topics.keeper_subscriptions(me)
    if args.lean_keepers:  # only what this keeper acts on: announces, its receipts, the house's status
        patterns = (topics.POLICY["announce"].pattern, topics.rejections(me), topics.acks(me),
                    topics.POLICY["house-status"].pattern)
    async with MqttBus(args.host, args.port, me, persistent=False) as bus:
        for pattern in patterns:
            await bus.subscribe(pattern)
        async for env in bus.messages():
            parsed = topics.parse(env.topic)
            if parsed is None or not env.payload:
                continue
            if parsed.kind == "announce":
                msg = m.decode(env.payload)
                assert isinstance(msg, m.Announce) and isinstance(msg.terms, DutchTerms)
                if args.race or msg.auction % args.keepers == args.index:
                    nonce += 1
                    take = keys.sign(m.Take(auction=msg.auction, keeper=me, amount=msg.lot,
                                            max_price_q=msg.terms.top_q, nonce=nonce,
                                            deadline_ms=msg.start_ms + 60_000))
                    await bus.publish_many([(topics.actions(me), m.encode(take), None)])
                    sent += 1
            elif parsed.kind == "result":
                results += 1
            elif parsed.kind == "rejections":
                rejected += 1
            elif parsed.kind == "acks":
                acked += 1
            elif parsed.kind == "house-status":
                status = m.decode(env.payload)
                assert isinstance(status, m.HouseStatus)
                if status.online and not online:
                    online = True
                    cpu0, wall0 = cpu(), time.monotonic()
                    nonce += 1
                    await bus.publish_many([(topics.actions(me), m.encode(keys.register(me, nonce)), None)])
                elif online and not status.online:
                    break
        await bus.flush()
    emit({"keeper": me, "takes": sent, "rejections": rejected, "acks": acked, "results": results,
          "cpu_s": cpu() - cpu0, "wall_s": time.monotonic() - wall0})


ROLES = {"raw-sub": raw_sub, "raw-pub": raw_pub, "house": house_role, "keeper": keeper_role}
