"""Network benchmark: broker ceiling, auction-house throughput and announce -> take latency, in one run.

    python -m bench.network [--seconds 4] [--keepers 4] [--broker auto|mosquitto|embedded]
                            [--inflight 256] [--latency-rate 100] [--block-ms 5] [--race]

Everything runs on loopback, each part in its own OS process, on a broker started for this run on a free
port (Mosquitto when installed, else the embedded amqtt broker; the machine line names it and its version):

(a) ceiling: raw aiomqtt QoS-1 publish -> receive between two processes (one publisher, one subscriber),
    with a window of publishes in flight, and one at a time (awaiting each PUBACK, as the house publishes);
(b) throughput: an auction house process and ``--keepers`` keeper processes over ``broker.mqtt_bus.MqttBus``.
    The house is the run kernel, ``auction.run.Kernel`` (detection, Dutch kicks, per-block inclusion, settlement in
    the ledger) fed by a crash: each block it lowers the oracle just enough that ``--inflight`` auctions are
    open (closed loop). Keepers take every auction they are assigned (``id % keepers``; all of them with
    ``--race``) as soon as it is announced: a signed ``Take`` of the whole lot at the top price. The house
    decodes each action and checks signature, nonce and deadline (``broker.signing.Verifier``) before the
    mempool, includes actions every block (``--block-ms``) and publishes every output as the network
    house does (announce, retained state, closed state and its cleared retained copy, result, rejections,
    oracle, clock). Reported: settled auctions/s and accepted actions/s over the steady part of the
    phase, and the house's action throughput as a fraction of (a);
(c) latency: the same processes at a moderate open-loop rate (``--latency-rate`` auctions/s): from the
    house publishing an auction's announce to the house accepting its first take (in the block that
    includes it, so up to one block period of waiting is part of it), p50 and p99.

Times are wall-clock (``time.monotonic``, shared by all processes on the machine). Results go to stdout,
progress to stderr. This is not the ``liqnet house`` process (auction/net): it is a lean driver of the same
house, verifier and bus, so that it measures them and not a scenario's pace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGET_SETTLED = 500.0  # auctions/s
TARGET_SHARE = 0.30  # house action throughput / raw ceiling
TARGET_P99_MS = 20.0
WARMUP_S = 0.5  # the first half second of a phase is not counted in its rates
P0 = 2_000.0  # USD per token before the crash
ASSET = "ETH"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _emit(result: dict[str, Any]) -> None:
    """A child's one result line on stdout."""
    print("RESULT " + json.dumps(result), flush=True)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _quiet() -> None:
    import logging

    import aiomqtt.client

    from auction.log import configure_logging

    configure_logging("warning")
    # aiomqtt warns about every publish beyond 10 in flight (in flight is what a window is for); it sets its
    # logger's level when imported, hence after the import.
    aiomqtt.client.MQTT_LOGGER.setLevel(logging.ERROR)


# --- (a) the ceiling: raw aiomqtt --------------------------------------------------------------------------


def _client(host: str, port: int, name: str, inflight: int = 20) -> Any:
    import aiomqtt

    from broker.mqtt_bus import NODELAY

    return aiomqtt.Client(host, port, identifier=name, socket_options=[NODELAY], max_inflight_messages=inflight,
                          timeout=30)


def _raw_topic() -> str:
    from broker import topics

    return topics.actions("bench-raw")  # a QoS-1 event topic of the protocol, with a realistic length


def _raw_payload() -> bytes:
    from bench.wire import sample_take
    from broker import messages as m
    from broker.signing import KeyPair

    return m.encode(sample_take(KeyPair.from_seed(bytes(32))))  # a signed Take: 300-odd bytes


async def raw_sub(args: argparse.Namespace) -> None:
    """Count QoS-1 messages until the end marker; report the receive rate between first and last."""
    topic = _raw_topic()
    got, first, last = 0, 0.0, 0.0
    async with _client(args.host, args.port, "bench-raw-sub") as client:
        await client.subscribe(topic, qos=1)
        print("READY", flush=True)
        async with asyncio.timeout(args.seconds * 4 + 30):
            async for msg in client.messages:
                if msg.payload == b"end":
                    break
                now = time.monotonic()
                first = first or now
                last = now
                got += 1
    _emit({"received": got, "rate": (got - 1) / (last - first) if got > 1 and last > first else 0.0})


async def raw_pub(args: argparse.Namespace) -> None:
    """Publish QoS 1 for ``seconds`` with ``window`` publishes in flight (1: await each PUBACK)."""
    topic, payload = _raw_topic(), _raw_payload()
    window = args.window
    sent = 0
    async with _client(args.host, args.port, "bench-raw-pub", inflight=max(window, 1)) as client:
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
    _emit({"sent": sent, "rate": sent / elapsed})


# --- (b, c) the auction house ---------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float
    inflight: int = 0  # closed loop: keep this many auctions open
    rate: float = 0.0  # open loop: kick this many auctions per second
    kicked_at: dict[int, float] = field(default_factory=dict)  # auction -> wall time its announce went out
    latencies: list[float] = field(default_factory=list)  # seconds, announce -> first accepted take
    settled: list[float] = field(default_factory=list)  # wall time of each settlement
    accepted: list[float] = field(default_factory=list)  # wall time of each accepted action (per block)
    handled: int = 0  # actions decoded and verified (accepted into the mempool or refused)
    refused: int = 0
    blocks: int = 0
    published: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    start: float = 0.0  # wall time the phase began
    flag0: int = 0  # accounts flagged before it


class BenchHouse:
    """The auction house over MQTT: admission (decode + Verifier), blocks, a crash that keeps auctions coming."""

    def __init__(self, args: argparse.Namespace) -> None:
        import numpy as np

        from auction import units
        from auction.book.accounts import generate
        from auction.designs import defaults
        from auction.params import HouseParams
        from auction.run.kernel import Kernel
        from auction.scenario.tables import Scenario
        from auction.scenario.world import World
        from broker.signing import Verifier

        self.args = args
        accounts = generate(args.accounts, (ASSET,), np.array([P0]), seed=1, debt_mean=1_000.0, debt_sigma=0.5,
                            cr_low=1.55, cr_high=3.5, liquidation_ratio=1.5)
        # Liquidation prices, highest first: the oracle set just under the k-th flags exactly k accounts.
        self.thresholds = np.sort(accounts.liquidation_prices())[::-1]
        self.flagged = 0
        self.price = P0
        world = World(  # no schedule: this driver moves the oracle itself and makes its own blocks
            scenario=Scenario(name="bench"), design="dutch", seed=1, asset=ASSET, accounts=accounts, designs=defaults(),
            house_params=HouseParams(max_kicks_per_block=10**6, block_time_s=args.block_ms / 1000,
                                     block_gas_limit=10**15),
            oracle_updates=[], end=0.0, market_price=lambda a, t: self.price,
            proceeds=lambda a, qty, t: units.num(units.col_f(qty) * self.price), gas_cost=lambda gas, gwei, t: 0,
            gas_gwei=lambda t: 0.0,
        )
        self.kernel = Kernel(world, "dutch", capital=lambda keeper: 10**17)
        self.house = self.kernel.house
        self.kernel.oracle(0.0, {ASSET: P0})
        self.verifier = Verifier()
        self.inbox: list[tuple[str | None, bytes]] = []
        self.wake = asyncio.Event()
        self.t0 = time.monotonic()

    @property
    def funded(self) -> dict[str, int]:
        return self.kernel.funded

    def now(self) -> float:
        """Scenario seconds = wall seconds since the house started (speed 1)."""
        return time.monotonic() - self.t0

    # -- admission -----------------------------------------------------------------------------------------
    def admit(self, phase: Phase | None, now: float) -> list[Any]:
        from auction.errors import Rejected
        from broker import messages as m
        from broker import topics

        out: list[Any] = []
        batch, self.inbox = self.inbox, []
        for sender, payload in batch:
            try:
                action = m.decode(payload, allowed=topics.ACTION_TAGS)
                assert isinstance(action, m.ACTIONS)
                if not self.verifier.check(action, round(now * 1000), sender=sender):
                    continue  # a QoS-1 redelivery
            except Rejected as exc:
                if phase is not None:
                    phase.handled += 1
                    phase.refused += 1
                if sender is not None:
                    out.append(m.Rejection(keeper=sender, ref=0, code=exc.code, text=exc.message[:500],
                                           ts_ms=round(now * 1000)))
                continue
            if phase is not None and not isinstance(action, m.Register):
                phase.handled += 1
            self.kernel.act(action, now)
        return out

    # -- the crash -----------------------------------------------------------------------------------------
    def lower_oracle(self, phase: Phase, start: float, now: float) -> list[Any]:
        """Move the oracle so that the phase's auctions keep coming (closed or open loop)."""
        if phase.inflight:
            want = self.flagged + max(0, phase.inflight - len(self.house.open) - len(self.house.queue))
        else:
            want = phase.flag0 + int((now - start) * phase.rate)
        want = min(want, len(self.thresholds))
        if want <= self.flagged:
            return []
        self.flagged = want
        self.price = float(self.thresholds[want - 1]) * (1 - 1e-9)
        return self.kernel.oracle(self.now(), {ASSET: self.price})

    # -- the loop ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        from broker import messages as m
        from broker import topics
        from broker.mqtt_bus import MqttBus

        will = (topics.house_status(), m.encode(m.HouseStatus(online=False, version="bench", ts_ms=0)))
        async with MqttBus(self.args.host, self.args.port, "bench-house", will=will, persistent=False) as bus:
            for pattern in topics.house_subscriptions():
                await bus.subscribe(pattern)
            reader = asyncio.create_task(self._read(bus))
            await bus.publish(topics.house_status(), m.encode(m.HouseStatus(online=True, version="bench", ts_ms=0)))
            print("READY", flush=True)
            await self._await_keepers(bus)
            phases = [Phase("throughput", self.args.seconds, inflight=self.args.inflight),
                      Phase("latency", self.args.seconds, rate=self.args.latency_rate)]
            for phase in phases:
                _say(f"  house: {phase.name} phase, {phase.seconds:g} s")
                await self._phase(bus, phase)
            await bus.publish(topics.house_status(), m.encode(m.HouseStatus(online=False, version="bench", ts_ms=0)))
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        _emit({"phases": [self._summary(p) for p in phases], "accounts": len(self.thresholds),
               "flagged": self.flagged})

    async def _read(self, bus: Any) -> None:
        from broker import topics

        async for env in bus.messages():
            parsed = topics.parse(env.topic)
            if parsed is not None and parsed.kind == "actions":
                self.inbox.append((parsed.keeper, env.payload))
                self.wake.set()

    async def _await_keepers(self, bus: Any) -> None:
        deadline = time.monotonic() + 60
        while len(self.funded) < self.args.keepers:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.funded)} of {self.args.keepers} keepers registered in 60 s")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.05)
            await self._publish(bus, self.admit(None, self.now()), None)

    async def _phase(self, bus: Any, phase: Phase) -> None:
        """Blocks every ``block_ms`` (back to back when behind) until the phase ends and its auctions settle."""
        from broker import messages as m

        block_s = self.args.block_ms / 1000
        start = phase.start = time.monotonic()
        phase.flag0 = self.flagged
        cpu0 = _cpu()
        stop_kicks = start + phase.seconds
        hard_stop = stop_kicks + 5.0  # settle what is open, but never wait long
        next_block = start
        while True:
            wall = time.monotonic()
            if wall < next_block:
                await asyncio.sleep(next_block - wall)
                wall = time.monotonic()
            next_block = max(next_block + block_s, wall)
            now = self.now()
            out = self.admit(phase, now)
            if wall < stop_kicks:
                out += self.lower_oracle(phase, start - self.t0, now)
            accepted0 = self.house.tally.accepted
            out += self.kernel.block(now)
            done = time.monotonic()
            phase.blocks += 1
            phase.accepted += [done] * (self.house.tally.accepted - accepted0)
            for msg in out:
                if isinstance(msg, m.Result):
                    phase.settled.append(done)
                    kicked = phase.kicked_at.get(msg.auction)
                    if kicked is not None:
                        phase.latencies.append(done - kicked)
            await self._publish(bus, out, phase)
            if wall >= stop_kicks and (not self.house.open or wall >= hard_stop):
                break
        phase.wall_s = time.monotonic() - start
        phase.cpu_s = _cpu() - cpu0

    async def _publish(self, bus: Any, out: list[Any], phase: Phase | None) -> None:
        """As the network house publishes: in order, one at a time; only the last clock/oracle of a batch."""
        from broker import messages as m
        from broker import topics

        last: dict[type, int] = {}
        for i, msg in enumerate(out):
            if isinstance(msg, m.Block | m.OraclePrice):
                last[type(msg)] = i
        window = self.args.house_window
        pending: list[Any] = []
        for i, msg in enumerate(out):
            if isinstance(msg, m.Block | m.OraclePrice) and last[type(msg)] != i:
                continue
            if isinstance(msg, m.Announce) and phase is not None:
                phase.kicked_at[msg.auction] = time.monotonic()
            for topic, payload, retain in topics.publications(msg):
                pending.append(bus.publish(topic, payload, retain=retain))
                if phase is not None:
                    phase.published += 1
                if len(pending) >= window:
                    await asyncio.gather(*pending)
                    pending = []
        if pending:
            await asyncio.gather(*pending)

    def _summary(self, p: Phase) -> dict[str, Any]:
        """Rates over the steady part: from WARMUP_S after the phase began to the last kick."""
        lat = sorted(p.latencies)
        lo, hi = p.start + min(WARMUP_S, p.seconds / 4), p.start + p.seconds
        span = max(hi - lo, 1e-9)
        return {
            "name": p.name, "seconds": p.seconds, "inflight": p.inflight, "rate": p.rate,
            "auctions": len(p.kicked_at), "settled": len(p.settled), "accepted": len(p.accepted),
            "handled": p.handled, "refused": p.refused, "blocks": p.blocks, "published": p.published,
            "settled_per_s": sum(lo <= t < hi for t in p.settled) / span,
            "accepted_per_s": sum(lo <= t < hi for t in p.accepted) / span,
            "handled_per_s": p.handled / p.wall_s if p.wall_s else 0.0,
            "published_per_s": p.published / p.wall_s if p.wall_s else 0.0,
            "cpu_share": p.cpu_s / p.wall_s if p.wall_s else 0.0,
            "p50_ms": _quantile(lat, 0.50) * 1000, "p99_ms": _quantile(lat, 0.99) * 1000,
            "max_ms": (lat[-1] * 1000) if lat else 0.0, "samples": len(lat),
        }


def _quantile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted ``xs`` (0 when empty)."""
    if not xs:
        return 0.0
    return xs[min(len(xs) - 1, max(0, int(q * len(xs) + 0.5) - 1))]


async def house_role(args: argparse.Namespace) -> None:
    if not args.house_profile:
        await BenchHouse(args).run()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await BenchHouse(args).run()
    finally:
        profiler.disable()
        profiler.dump_stats(args.house_profile)


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
    sent = rejected = results = 0
    online = False
    cpu0 = wall0 = 0.0
    tasks: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(64)  # publishes in flight

    async def send(msg: Any) -> None:
        async with gate:
            await bus.publish(topics.actions(me), m.encode(msg))

    def spawn(msg: Any) -> None:
        task = asyncio.create_task(send(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    patterns = topics.keeper_subscriptions(me)
    if args.lean_keepers:  # only what this keeper acts on: announces, its rejections, the house's status
        patterns = (topics.POLICY["announce"].pattern, topics.rejections(me), topics.POLICY["house-status"].pattern)
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
                    spawn(keys.sign(m.Take(auction=msg.auction, keeper=me, amount=msg.lot,
                                           max_price_q=msg.terms.top_q, nonce=nonce,
                                           deadline_ms=msg.start_ms + 60_000)))
                    sent += 1
            elif parsed.kind == "result":
                results += 1
            elif parsed.kind == "rejections":
                rejected += 1
            elif parsed.kind == "house-status":
                status = m.decode(env.payload)
                assert isinstance(status, m.HouseStatus)
                if status.online and not online:
                    online = True
                    cpu0, wall0 = _cpu(), time.monotonic()
                    nonce += 1
                    spawn(keys.register(me, nonce))
                elif online and not status.online:
                    break
        if tasks:
            await asyncio.gather(*tasks)
    _emit({"keeper": me, "takes": sent, "rejections": rejected, "results": results, "cpu_s": _cpu() - cpu0,
           "wall_s": time.monotonic() - wall0})


# --- the parent: broker, children, report ---------------------------------------------------------------------


class Child:
    """A child process of this module, its stdout read by a thread; peak RSS and CPU from ``os.wait4``."""

    def __init__(self, role: str, args: argparse.Namespace, extra: Sequence[str] = ()) -> None:
        argv = [sys.executable, "-m", "bench.network", "--role", role, "--host", args.host, "--port", str(args.port),
                "--seconds", str(args.seconds), "--keepers", str(args.keepers), "--inflight", str(args.inflight),
                "--latency-rate", str(args.latency_rate), "--block-ms", str(args.block_ms),
                "--accounts", str(args.accounts), *extra]
        if args.house_profile and role == "house":
            argv += ["--house-profile", args.house_profile]
        if args.race:
            argv.append("--race")
        if args.lean_keepers:
            argv.append("--lean-keepers")
        self.role = role
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.cpu_s = 0.0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{self.role}: no {prefix!r} line within {timeout:g} s") from None
            if line is None:
                raise RuntimeError(f"{self.role} exited (code {self.proc.wait()}) before {prefix!r}; see stderr")
            if line.startswith(prefix):
                return line

    def result(self, timeout: float) -> dict[str, Any]:
        got: dict[str, Any] = json.loads(self.expect("RESULT ", timeout)[len("RESULT "):])
        self.reap(timeout)
        return got

    def reap(self, timeout: float) -> None:
        """Wait for the exit (killing it after ``timeout``) and collect its CPU time with ``os.wait4``."""
        if self.proc.returncode is not None:
            return
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.cpu_s = usage.ru_utime + usage.ru_stime
                return
            if time.monotonic() > deadline:
                self.proc.kill()
                deadline = math.inf
            time.sleep(0.01)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.reap(5)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ceiling(args: argparse.Namespace, window: int) -> tuple[float, float]:
    """(received/s at the subscriber, sent/s at the publisher) for one publish window."""
    sub = Child("raw-sub", args)
    pub: Child | None = None
    try:
        sub.expect("READY", 30)
        pub = Child("raw-pub", args, ["--window", str(window)])
        sent = pub.result(args.seconds + 60)
        got = sub.result(args.seconds + 60)
    finally:
        for child in (sub, pub):
            if child is not None:
                child.kill()
    return float(got["rate"]), float(sent["rate"])


@dataclass
class HouseRun:
    window: int  # house publishes in flight
    throughput: dict[str, Any]
    latency: dict[str, Any]
    keepers: list[dict[str, Any]]
    keeper_share: float  # CPU seconds per wall second of all keepers together, while the house was online
    broker_share: float  # the same for the broker process


def house_run(args: argparse.Namespace, window: int) -> HouseRun:
    """The house and its keepers, both phases; the house publishes ``window`` messages at a time."""
    house = Child("house", args, ["--house-window", str(window)])
    keepers: list[Child] = []
    try:
        house.expect("READY", 60)
        broker0, wall0 = proc_cpu(args.broker_pid), time.monotonic()
        keepers = [Child("keeper", args, ["--index", str(i)]) for i in range(args.keepers)]
        result = house.result(2 * (args.seconds + 5) + 120)
        broker_share = (proc_cpu(args.broker_pid) - broker0) / (time.monotonic() - wall0)
        kept = [k.result(30) for k in keepers]
    finally:
        for child in (house, *keepers):
            child.kill()
    tp, lat = result["phases"]
    keeper_share = sum(k["cpu_s"] / max(k["wall_s"], 1e-9) for k in kept)
    return HouseRun(window, tp, lat, kept, keeper_share, broker_share)


def _publishes(window: int) -> str:
    return "1 at a time" if window == 1 else f"{window} in flight"


def report(args: argparse.Namespace, raw: dict[int, tuple[float, float]], runs: Sequence[HouseRun]) -> list[str]:
    top = max(r for r, _ in raw.values())
    mode = "every keeper takes every auction" if args.race else f"auction id % {args.keepers} picks the keeper"
    if args.lean_keepers:
        mode += "; keepers subscribe to announces only"
    lines = [f"(a) ceiling: raw aiomqtt QoS 1, one publisher process -> one subscriber process, {args.seconds:g} s"]
    lines.append(f"    {'publishes':<14} {'received/s':>11} {'sent/s':>9} {'of ceiling':>11}")
    for window, (got, sent) in raw.items():
        lines.append(f"    {_publishes(window):<14} {got:>11,.0f} {sent:>9,.0f} {got / top:>11.2f}")
    lines.append(f"(b) house throughput: {args.keepers} keeper processes ({mode}), {args.inflight} auctions kept open, "
                 f"blocks every {args.block_ms:g} ms (back to back when behind), {args.seconds:g} s, "
                 f"rates after the first {min(WARMUP_S, args.seconds / 4):g} s")
    lines.append(f"    {'house publishes':<16} {'settled/s':>9} {'vs 500/s':>8} {'accepted/s':>10} {'of ceiling':>10} "
                 f"{'handled/s':>9} {'published/s':>11} {'msgs/auction':>12} {'house CPU':>9}")
    for r in runs:
        t = r.throughput
        lines.append(
            f"    {_publishes(r.window):<16} {t['settled_per_s']:>9,.0f} {t['settled_per_s'] / TARGET_SETTLED:>7.2f}x "
            f"{t['accepted_per_s']:>10,.0f} {t['accepted_per_s'] / top:>10.3f} {t['handled_per_s']:>9,.0f} "
            f"{t['published_per_s']:>11,.0f} {t['published'] / max(t['settled'], 1):>12.1f} {t['cpu_share']:>9.2f}"
        )
    lines.append(f"(c) latency at {args.latency_rate:g} auctions/s: announce published -> first take accepted by the "
                 f"house (includes waiting for the next block, <= {args.block_ms:g} ms)")
    lines.append(f"    {'house publishes':<16} {'auctions':>8} {'p50_ms':>7} {'p99_ms':>7} {'max_ms':>7} "
                 f"{'p99 vs 20 ms':>12} {'house CPU':>9}")
    for r in runs:
        c = r.latency
        lines.append(f"    {_publishes(r.window):<16} {c['samples']:>8,} {c['p50_ms']:>7.2f} {c['p99_ms']:>7.2f} "
                     f"{c['max_ms']:>7.2f} {c['p99_ms'] / TARGET_P99_MS:>11.2f}x {c['cpu_share']:>9.2f}")
    for r in runs:
        takes = sum(k["takes"] for k in r.keepers)
        refused = sum(k["rejections"] for k in r.keepers)
        lines.append(f"    ({_publishes(r.window)}: keepers sent {takes:,} takes, {refused:,} refused; CPU over the "
                     f"run, in cores: {args.keepers} keepers {r.keeper_share:.2f}, broker {r.broker_share:.2f})")
    judged = runs[0]
    t, c = judged.throughput, judged.latency
    share = t["accepted_per_s"] / top
    lines += [
        f"targets, judged on the house publishing {_publishes(judged.window)}:",
        f"  settled >= {TARGET_SETTLED:g}/s: {t['settled_per_s']:,.0f}/s, "
        f"{'met' if t['settled_per_s'] >= TARGET_SETTLED else 'NOT met'}",
        f"  house accepted actions >= {TARGET_SHARE:.0%} of the ceiling: {share:.1%}, "
        f"{'met' if share >= TARGET_SHARE else 'NOT met'}",
        f"  p99 announce -> take < {TARGET_P99_MS:g} ms: {c['p99_ms']:.2f} ms, "
        f"{'met' if c['p99_ms'] < TARGET_P99_MS else 'NOT met'}",
    ]
    return lines


# --- flags and main ------------------------------------------------------------------------------------------------


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
        return value

    return parse


def _windows(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1, got {text!r}")
    return values


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.network", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=_positive(float), default=4.0, help="length of each measured phase (default 4)")
    p.add_argument("--keepers", type=_positive(int), default=4, help="keeper processes (default 4)")
    p.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default="auto",
                   help="auto: Mosquitto when installed, else the embedded amqtt broker")
    p.add_argument("--window", type=_positive(int), default=64, help="raw publishes in flight for the ceiling")
    p.add_argument("--inflight", type=_positive(int), default=256, help="auctions kept open in (b) (default 256)")
    p.add_argument("--latency-rate", type=_positive(float), default=100.0,
                   help="auctions per second in (c) (default 100)")
    p.add_argument("--block-ms", type=_positive(float), default=5.0, help="house block period, ms (default 5)")
    p.add_argument("--house-windows", type=_windows, default=[1, 64],
                   help="house publishes in flight, one house run each; the first is judged against the targets "
                        "(default 1,64: one at a time as auction/net's house publishes, then pipelined)")
    p.add_argument("--accounts", type=_positive(int), default=200_000, help="accounts the crash can liquidate")
    p.add_argument("--race", action="store_true", help="every keeper takes every auction")
    p.add_argument("--lean-keepers", action="store_true",
                   help="keepers subscribe to announces only (not states and results), to show what fan-out costs")
    p.add_argument("--house-profile", default=None, metavar="FILE",
                   help="run the house under cProfile and write its stats here (pstats format)")
    p.add_argument("--role", choices=("raw-sub", "raw-pub", "house", "keeper"), help=argparse.SUPPRESS)
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--broker-pid", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--house-window", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


ROLES = {"raw-sub": raw_sub, "raw-pub": raw_pub, "house": house_role, "keeper": keeper_role}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    _quiet()
    if args.role:
        asyncio.run(ROLES[args.role](args))
        return 0
    from bench.machine import machine_line
    from broker.server import launch_broker

    load = os.getloadavg()[0]
    broker = launch_broker("127.0.0.1", 0, prefer=args.broker)
    try:
        args.host, args.port = "127.0.0.1", broker.port
        args.broker_pid = broker.proc.pid if broker.proc is not None else 0
        print(machine_line(broker=broker.version))
        print(f"broker: {broker.kind} ({broker.version}) on {broker.url}, loopback, started for this run; "
              f"load average {load:.2f} at start")
        raw: dict[int, tuple[float, float]] = {}
        for window in dict.fromkeys([args.window, 1]):
            _say(f"(a) raw aiomqtt, {_publishes(window)}")
            raw[window] = ceiling(args, window)
        runs = []
        for window in args.house_windows:
            _say(f"(b, c) house publishing {_publishes(window)}, {args.keepers} keepers")
            runs.append(house_run(args, window))
    finally:
        broker.close()
    print("\n".join(report(args, raw, runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
