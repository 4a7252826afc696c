"""The auction house as a network process: the simulator's house, driven by (accelerated) wall time.

``liqnet house`` drives the run kernel (``auction.run``) as the simulator does, with the heap replaced by a
clock: scenario time = (wall - wall0) * speed. Oracle updates and blocks fire when the clock passes their scenario
time, one block per loop iteration so that keepers can act between blocks (a house that cannot keep up runs
slower than ``speed``; it never skips). Keeper actions arrive over MQTT whenever they arrive; each is stamped
with the time of the last input the house applied (the block keepers last saw) and waits in the mempool for
the next block, as in the simulator. The house is the only writer of state and never waits on a keeper (the
optional start gate ``wait_keepers`` holds the clock at 0 until the population has registered, then never
again). After a reconnect it publishes its retained state again (a restarted broker may have lost it).

Three modules: ``runspec`` (what the run is, and the journal header), ``house_core`` (synchronous: admission,
journal, kernel, retained state) and this one, ``HouseProcess`` (asyncio: the bus, the clock, the per-keeper
rate limit, publishing, signals) and the ``liqnet house`` command. ``liqnet keeper --capital`` only sets the
keeper's own spending budget: the house funds keepers (``auction.net.runspec``).

Publishing (``broker.topics.publications``): oracle prices, the clock and keepers' accounts are current state
(retained; only the latest clock and oracle of a batch is sent), auction states are retained while open; an
auction closes with its closed state (live, not retained), its result, then an empty retained payload that
clears its state; announces, results, acknowledgements and rejections are events. A batch's outputs are
published after its journal write, pipelined: handed to the client in order without waiting for each
PUBACK (``Bus.publish_many``), so a block's worth of messages costs one round trip, not one per message.
On restart, the house publishes its retained state again and the events of the last journaled batch (they
may not have gone out before the crash; keepers drop what they already had: states by ``seq``, results by
auction id, receipts by nonce).

Clock and lag: the house applies each block when its clock reaches the block's time and reports, in its
retained ``HouseStatus`` (every ``STATUS_EVERY_S`` and at the end), how late the latest block was applied
(``lag_ms``, scenario ms) and the worst so far (``max_lag_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from auction import units
from auction.errors import ConfigError, Rejected
from auction.net import signals
from auction.net.funding import Funding
from auction.net.house_core import BATCHES_IN_FLIGHT, HouseCore, compare_result, rejection
from auction.net.journal import Entry, Journal, Sync
from auction.net.runspec import load_run
from broker import messages as m
from broker import topics
from broker.bus import Bus, BusError
from broker.house_signing import Signer
from broker.signing import KeyPair, load_or_create
from broker.transport import connect

log = structlog.get_logger()

VERSION = "liqnet-house/1"
STOP_GRACE_S = 2.0  # on SIGINT/SIGTERM the iteration under way may finish within this long
STATUS_EVERY_S = 1.0  # wall seconds between house-status updates (lag) while running


# --- the process ----------------------------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; one token per action (wall clock: it guards the process)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class HouseOptions:
    broker: str
    speed: float = 1.0
    rate: float = 500.0  # actions per second per keeper (wall); 0 = no limit
    burst: float = 1000.0
    wait_keepers: int = 0  # hold the clock at its start until this many keepers registered ...
    wait_timeout: float = 60.0  # ... or this many wall seconds passed
    out: str | None = None
    json_path: str | None = None
    client_id: str | None = None


class HouseProcess:
    """Runs a ``HouseCore`` on a bus in wall time; ``run()`` returns the exit code."""

    def __init__(self, core: HouseCore, options: HouseOptions, *, clock: Callable[[], float] = time.monotonic,
                 bus: Bus | None = None, key: KeyPair | None = None) -> None:
        if not options.speed > 0 or not math.isfinite(options.speed):
            raise ConfigError(f"--speed must be a positive number, got {options.speed}")
        self.core, self.opt, self.clock = core, options, clock
        # Everything the house publishes is signed for its run (keepers drop what does not verify); without a
        # key file (tests) the key lives as long as the process.
        self.signer = Signer(key or KeyPair.generate(), core.spec.run_id)
        self.started_ms = time.time_ns() // 1_000_000  # orders this house's lives for keepers (HouseStatus)
        self._bus = bus
        self._inbox: asyncio.Queue[tuple[str | None, bytes]] = asyncio.Queue()  # (keeper of the topic, payload)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._buckets: dict[str, TokenBucket] = {}
        self._wall0 = 0.0
        self._connections = 0  # broker connections seen (MqttBus counts them): more means a reconnect
        self._status_at = -math.inf  # wall time of the last status published
        self._marks: deque[int] = deque()  # the bus's mark after each journaled batch whose outputs are in flight
        self.lag = 0.0  # scenario seconds the latest block was applied after its time
        self.max_lag = 0.0
        self.late_blocks = 0  # blocks applied more than one block after their time
        self.paths: list[Path] = []
        self.problems: list[str] = []  # ledger identities the final report breaks (none expected)

    def scenario_now(self) -> float:
        return (self.clock() - self._wall0) * self.opt.speed

    async def run(self) -> int:
        pending = self.core.replay()
        journal = self.core.journal
        if journal is not None and journal.last_batch:
            journal.mark_published()  # the last batch goes out again below: marked first, as every batch is
        client_id = self.opt.client_id or f"house-{self.core.spec.run_id[:12]}"
        will = (topics.house_status(), self.signer(m.encode(self._house_status(online=False))))
        bus = self._bus or connect(self.opt.broker, client_id, will)
        async with bus:
            for pattern in topics.house_subscriptions():
                await bus.subscribe(pattern)
            reader = asyncio.create_task(self._read(bus), name="house-reader")
            signals.install(self.stop)
            try:
                main = asyncio.create_task(self._main(bus, pending), name="house-main")
                stopper = asyncio.create_task(self._stop.wait())
                await asyncio.wait([main, stopper], return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not main.done():  # stopping: let the iteration under way end, unless the broker holds it
                    try:
                        await asyncio.wait_for(asyncio.shield(main), STOP_GRACE_S)
                    except TimeoutError:
                        main.cancel()  # its batch is journaled: a restart publishes its outcome
                        with contextlib.suppress(asyncio.CancelledError):
                            await main
                main.result()
                if self._stop.is_set() and not self.core.finished:
                    log.warning("house stopped", t=round(self.core.now, 3),
                                resume="run again with the same --journal" if self.core.journal else "no journal")
                    return 130
                self.paths = self._report()
                return 0
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                with contextlib.suppress(Exception):  # a broker that is gone must not hold the exit up
                    await asyncio.wait_for(self._status(bus, online=False), 2.0)
                    await bus.flush(2.0)
                signals.remove()

    async def _main(self, bus: Bus, pending: list[m.Message]) -> None:
        await self._status(bus, online=True)
        await self._republish(bus, pending)
        if not self.core.finished:
            await self._wait_for_keepers(bus)
            await self._loop(bus)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- loop ----------------------------------------------------------------------------------------------
    async def _loop(self, bus: Bus) -> None:
        warm_up()
        # Continue from the last recorded time: the clock does not jump over the time the house was down.
        self._wall0 = self.clock() - self.core.now / self.opt.speed
        log.info("house clock started", t=self.core.now, end=self.core.end, speed=self.opt.speed)
        while not self._stop.is_set():
            now = max(self.scenario_now(), self.core.now)
            scheduled = self.core.due(now, blocks=1)
            batch, rejections = self._merge(scheduled)
            await self._apply(bus, batch, rejections)
            if scheduled:
                self._lagged(scheduled[-1].t)
            await self._after_reconnect(bus)
            if self.core.at_end:
                await bus.flush()
                await self._publish(bus, self.core.finish())
                await self._status(bus, online=True)
                await bus.flush()
                log.info("house finished", t=self.core.end, auctions=len(self.core.house.sales),
                         max_lag_s=round(self.max_lag, 3))
                return
            if self.clock() - self._status_at >= STATUS_EVERY_S:
                await self._status(bus, online=True)
            delay = (self.core.next_time() - self.scenario_now()) / self.opt.speed
            if delay > 0:
                self._wake.clear()
                if self._inbox.empty():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
            else:
                await asyncio.sleep(0)  # let the reader and the bus breathe when behind

    async def _apply(self, bus: Bus, batch: list[Entry], rejections: list[m.Message]) -> None:
        """Journal and apply a batch, then publish its outputs (after ``rejections``, admission's) pipelined.

        At most ``BATCHES_IN_FLIGHT`` batches' outputs are in flight: a restarted house publishes again the
        events of that many last journaled batches, so none older may still be unacknowledged."""
        if not batch:
            await self._publish(bus, rejections)
            return
        while len(self._marks) >= BATCHES_IN_FLIGHT:
            await bus.flush(upto=self._marks.popleft())
        await self._publish(bus, rejections + self.core.apply(batch))
        self._marks.append(bus.mark())

    def _lagged(self, t: float) -> None:
        """The input due at scenario time ``t`` is applied and its outputs handed to the bus: how late?"""
        self.lag = max(0.0, self.scenario_now() - t)
        self.max_lag = max(self.max_lag, self.lag)
        if self.lag > self.core.kernel.block_time:
            self.late_blocks += 1
            log.info("house behind its clock", t=t, lag_s=round(self.lag, 3))

    def _merge(self, scheduled: list[Entry]) -> tuple[list[Entry], list[m.Message]]:
        """The actions that arrived, then the scheduled inputs: one batch.

        The house's clock is the time of the last input it applied (``core.now``), the time its last block
        told every keeper. An action that arrived since then is stamped with that time: it waits in the
        mempool for the next block and meets its deadline by it, exactly as in the simulator, even when the
        house runs behind the wall clock (it then runs slower, never early or late for keepers).
        """
        at = self.core.now
        batch: list[Entry] = []
        rejections: list[m.Message] = []
        while not self._inbox.empty():
            sender, payload = self._inbox.get_nowait()
            entry, refused = self._admit(sender, payload, at)
            rejections += refused
            if entry is not None:
                batch.append(entry)
        return batch + scheduled, rejections

    def _admit(self, sender: str | None, payload: bytes, now: float) -> tuple[Entry | None, list[m.Message]]:
        if sender is not None and self.opt.rate > 0:
            wall = self.clock()
            bucket = self._buckets.setdefault(sender, TokenBucket(self.opt.rate, self.opt.burst, wall))
            if not bucket.take(wall):
                exc = Rejected("rate-limited", f"more than {self.opt.rate:g} actions/s from {sender}")
                return None, rejection(sender, _nonce_of(payload), exc, now)
        return self.core.admit(payload, sender, now)

    async def _wait_for_keepers(self, bus: Bus) -> None:
        """Start gate: registrations are applied at the resume time while the clock waits."""
        want = self.opt.wait_keepers
        if want <= 0 or self.core.now > 0:
            return
        deadline = self.clock() + self.opt.wait_timeout
        while len(self.core.funded) < want and self.clock() < deadline and not self._stop.is_set():
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.05)
            batch, rejections = self._merge([])
            await self._apply(bus, batch, rejections)
        if len(self.core.funded) < want:
            log.warning("starting without every keeper", registered=len(self.core.funded), wanted=want)

    # -- I/O ---------------------------------------------------------------------------------------------------
    async def _read(self, bus: Bus) -> None:
        async for env in bus.messages():
            parsed = topics.parse(env.topic)
            if parsed is None or parsed.kind != "actions":
                continue  # keeper statuses are for watchers; the house needs only actions
            self._inbox.put_nowait((parsed.keeper, env.payload))
            self._wake.set()

    async def _publish(self, bus: Bus, out: Sequence[m.Message]) -> None:
        """Publish in order, pipelined; the clock and oracle are current state, so only the last of each goes out."""
        await bus.publish_many(self.signer.items(sends(out)))

    async def _republish(self, bus: Bus, pending: list[m.Message]) -> None:
        """After a restart: the current state (retained) and the events of the last batch again."""
        await self._retained(bus)
        events = (m.Announce, m.Result, m.Rejection, m.Ack)
        await self._publish(bus, [msg for msg in pending if isinstance(msg, events)])

    async def _after_reconnect(self, bus: Bus) -> None:
        """A broker restarted without persistence has lost every retained message: publish them again."""
        connections = int(getattr(bus, "connections", 0))
        if connections > self._connections:
            if self._connections:
                log.warning("reconnected to the broker; publishing the current state again")
                await self._status(bus, online=True)
                await self._retained(bus)
            self._connections = connections

    async def _retained(self, bus: Bus) -> None:
        """Every retained message of the current state again, signed."""
        await bus.publish_many(self.signer.items((topic, payload, True)
                                                 for topic, payload in list(self.core.retained.items())))

    async def _status(self, bus: Bus, *, online: bool) -> None:
        """The retained house status (pipelined behind whatever went before it)."""
        self._status_at = self.clock()
        status = self.signer(m.encode(self._house_status(online=online)))
        await bus.publish_many([(topics.house_status(), status, True)])

    def _house_status(self, *, online: bool) -> m.HouseStatus:
        core = self.core
        return m.HouseStatus(online=online, version=VERSION, design=core.spec.design,
                             block_ms=units.ms(core.kernel.block_time), end_ms=units.ms(core.end), speed=self.opt.speed,
                             lag_ms=units.ms(self.lag), max_lag_ms=units.ms(self.max_lag),
                             late_blocks=self.late_blocks, native=core.world.native,
                             gas=dict(core.house.gas_units), pubkey=self.signer.pubkey, run=self.signer.run,
                             started_ms=self.started_ms, ts_ms=units.ms(core.now))

    def _report(self) -> list[Path]:
        from auction.compare.files import write_reports
        from auction.compare.report import identity_violations

        result = compare_result(self.core)
        self.problems = identity_violations(result.runs[0].result)
        if not self.opt.out and not self.opt.json_path:
            return []
        return write_reports(result, self.opt.out or ".", self.opt.json_path)



def warm_up() -> None:
    """Load now what the run would load lazily on first use, in the middle of a block: numpy imports ``numpy.ma``
    the first time ``np.unique`` runs (16 ms, the first liquidation), almost a block at 600x."""
    import numpy.ma  # noqa: F401


def sends(out: Sequence[m.Message]) -> list[tuple[str, bytes, bool | None]]:
    """The publishes of a batch of house outputs, in order (``topics.publications``), keeping only the last
    clock and the last price of each asset: they are current state, and an older one is replaced at once."""
    last: dict[str, int] = {}
    for i, msg in enumerate(out):
        if isinstance(msg, m.Block):
            last["clock"] = i
        elif isinstance(msg, m.OraclePrice):
            last[msg.asset] = i
    items: list[tuple[str, bytes, bool | None]] = []
    for i, msg in enumerate(out):
        key = "clock" if isinstance(msg, m.Block) else msg.asset if isinstance(msg, m.OraclePrice) else None
        if key is not None and last[key] != i:
            continue
        items += topics.publications(msg)
    return items


def house_key_path(key: str | None, journal: str | None) -> Path:
    """``--key``, else beside the journal (a resumed run keeps the key its keepers trust), else the house's
    key under ``$LIQNET_HOME/keys``."""
    from auction.net.keeper_command import default_key_file

    path = Path(key) if key else Path(f"{journal}.key") if journal else default_key_file("house")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the key directory {path.parent}: {exc.strerror}") from None
    return path


def _nonce_of(payload: bytes) -> int:
    try:
        msg = m.decode(payload, allowed=topics.ACTION_TAGS)
    except Rejected:
        return 0
    return int(getattr(msg, "nonce", 0))


# --- the command ----------------------------------------------------------------------------------------------


def house_command(
    broker: str,
    scenario: str | None,
    *,
    design: str | None = None,
    seed: int | None = None,
    speed: float = 1.0,
    journal: str | None = None,
    journal_sync: Sync = "normal",
    accounts: int | None = None,
    funding: Funding | None = None,
    wait_keepers: int = 0,
    wait_timeout: float = 60.0,
    rate: float = 500.0,
    out: str | None = "out",
    json_path: str | None = None,
    key: str | None = None,
    print_key: bool = False,
) -> int:
    """``liqnet house``: build the world, replay the journal if any, run to the end, write the report
    (``print_key``: print the public key keepers pin with ``--house-key``, and exit)."""
    from auction.scenario.build import build_world

    pair = load_or_create(house_key_path(key, journal))
    if print_key:
        print(pair.pubkey, flush=True)
        return 0
    jr = Journal(journal, sync=journal_sync, access="write") if journal else None  # a second house: refused
    try:
        spec, loaded = load_run(scenario, design, seed, accounts, funding, jr)
        world = build_world(loaded, spec.design, spec.seed)
        core = HouseCore(world, spec, jr)
        # Burst: two seconds' worth (the default 500/s keeps its 1000), so --rate-limit also bounds a sudden flood.
        options = HouseOptions(broker, speed=speed, rate=rate, burst=max(1.0, 2 * rate), wait_keepers=wait_keepers,
                               wait_timeout=wait_timeout, out=out, json_path=json_path)
        process = HouseProcess(core, options, key=pair)
        log.info("house key", pubkey=pair.pubkey, run=spec.run_id)
        try:
            code = asyncio.run(process.run())
        except BusError as exc:
            resume = f"; run the same command again to resume from {journal}" if journal else ""
            print(f"liqnet: error: {exc}{resume}", file=sys.stderr)
            return 1
    finally:
        if jr is not None:
            jr.close()
    for path in process.paths:
        print(f"wrote {path}", flush=True)
    for problem in process.problems:
        print(f"liqnet: warning: ledger identity broken: {problem}", file=sys.stderr)
    return 1 if code == 0 and process.problems else code
