"""The auction house as a network process: the simulator's house, driven by (accelerated) wall time.

``liqnet house`` drives the run kernel (``auction.run``) as the simulator does, with the heap replaced by a
clock: scenario time = (wall - wall0) * speed. Oracle updates and blocks fire when the clock passes their scenario
time, one block per loop iteration so that keepers can act between blocks (a house that cannot keep up runs
slower than ``speed``; it never skips). Keeper actions arrive over MQTT whenever they arrive; each is stamped
with the time of the last input the house applied (the block keepers last saw) and waits in the mempool for
the next block, as in the simulator. The house is the only writer of state and never waits on a keeper (the
optional start gate ``wait_keepers`` holds the clock at 0 until the population has registered, then never
again). After a reconnect it publishes its retained state again (a restarted broker may have lost it).

Its modules: ``runspec`` (what the run is, and the journal header), ``house_core`` (synchronous: admission,
journal, kernel, retained state), ``house_clock`` (scenario time from wall time, held back, lag),
``house_inbox`` (actions through the flood gate until a block admits them), ``house_publish`` (a batch's
publishes, the house status) and this one, ``HouseProcess`` (asyncio: the bus, the loop, publishing, signals);
``house_command`` is the ``liqnet house`` command. ``liqnet keeper --capital`` only sets the
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
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from auction.errors import ConfigError
from auction.net import signals
from auction.net.flood_gate import FloodGate, StrangerDoor
from auction.net.house_clock import STATUS_EVERY_S, HouseClock
from auction.net.house_core import BATCHES_IN_FLIGHT, HouseCore, compare_result
from auction.net.house_inbox import Inbox
from auction.net.house_publish import house_status, sends
from auction.net.journal import Entry
from broker import messages as m
from broker import topics
from broker.bus import Bus, BusError
from broker.house_signing import Signer
from broker.signing import KeyPair
from broker.transport import connect

log = structlog.get_logger()

STOP_GRACE_S = 2.0  # on SIGINT/SIGTERM the iteration under way may finish within this long
GLOBAL_RATE = 5000.0  # default: actions per wall second admitted from all keepers together
FLUSH_WAIT_S = 10.0  # wall seconds between "still waiting" lines while the broker does not acknowledge
UNACKED_S = 0.25  # a batch's outputs unacknowledged this long (a paused broker): no new batch until they are


# --- the process ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class HouseOptions:
    broker: str
    speed: float = 1.0
    rate: float = 500.0  # actions per second per keeper (wall); 0 = no limit
    burst: float = 1000.0
    global_rate: float = GLOBAL_RATE  # actions per second admitted from everyone together (wall); 0 = no limit
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
        names = core.spec.funding.names()  # ids the configuration names: never strangers, even before a register
        self.gate = FloodGate(options.rate, options.burst, global_rate=options.global_rate, clock=clock,
                              known=lambda keeper: core.verifier.pubkey(keeper) is not None or keeper in names)
        self._dropped_logged = 0
        self.door = StrangerDoor(self.gate, lambda: set(core.verifier.snapshot().keys) | names, clock,
                                 only=core.spec.funding.named())
        self.timing = HouseClock(options.speed, clock)
        self._wake = asyncio.Event()
        self._inbox = Inbox(self.gate, self.door, options.rate, self._wake)
        self._stop = asyncio.Event()
        self._connections = 0  # broker connections seen (MqttBus counts them): more means a reconnect
        self._status_at = -math.inf  # wall time of the last status published
        # (the bus's mark, wall time) after each journaled batch whose outputs are in flight
        self._marks: deque[tuple[int, float]] = deque()
        self.paths: list[Path] = []
        self.problems: list[str] = []  # ledger identities the final report breaks (none expected)

    def scenario_now(self) -> float:
        return self.timing.now()

    async def run(self) -> int:
        pending = self.core.replay()
        journal = self.core.journal
        if journal is not None and journal.last_batch:
            journal.mark_published()  # the last batch goes out again below: marked first, as every batch is
        client_id = self.opt.client_id or f"house-{self.core.spec.run_id[:12]}"
        will = (topics.house_status(), self.signer(m.encode(self._house_status(online=False))))
        bus = self._bus or connect(self.opt.broker, client_id, will)
        async with bus:
            for pattern in self.door.subscriptions():
                await bus.subscribe(pattern)
            reader = asyncio.create_task(self._inbox.read(bus), name="house-reader")
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
        self.timing.start(self.core.now)  # from the last recorded time, not over the time the house was down
        log.info("house clock started", t=self.core.now, end=self.core.end, speed=self.opt.speed)
        while not self._stop.is_set():
            self.timing.hold(self.core.next_time(), self.core.kernel.block_time, self.core.now)
            now = max(self.scenario_now(), self.core.now)
            scheduled = self.core.due(now, blocks=1)
            batch, rejections = self._merge(scheduled)
            await self._apply(bus, batch, rejections)
            if scheduled:
                self.timing.lagged(scheduled[-1].t, self.core.kernel.block_time)
            await self._after_reconnect(bus)
            if self.core.at_end:
                await self._flush(bus)
                await self._publish(bus, self.core.finish())
                await self._status(bus, online=True)
                await self._flush(bus)
                log.info("house finished", t=self.core.end, auctions=len(self.core.house.sales),
                         max_lag_s=round(self.timing.max_lag, 3))
                return
            if self.clock() - self._status_at >= STATUS_EVERY_S:
                await self._status(bus, online=True)
                self._log_drops()
                await self.door.reopen_if_due(bus)
            delay = (self.core.next_time() - self.scenario_now()) / self.opt.speed
            if delay > 0:
                self._wake.clear()
                if not self._inbox:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
            else:
                await asyncio.sleep(0)  # let the reader and the bus breathe when behind

    async def _apply(self, bus: Bus, batch: list[Entry], rejections: list[m.Message]) -> None:
        """Journal and apply a batch, then publish its outputs (after ``rejections``, admission's) pipelined.

        At most ``BATCHES_IN_FLIGHT`` batches' outputs are in flight: a restarted house publishes again the
        events of that many last journaled batches, so none older may still be unacknowledged. Nor any older than
        ``UNACKED_S``: a broker that stops acknowledging (paused) stops the house too, so that the blocks it
        would make meanwhile do not wait in the socket to reach everyone in one burst once the broker resumes."""
        if not batch:
            await self._publish(bus, rejections)
            return
        while self._marks and (len(self._marks) >= BATCHES_IN_FLIGHT or self.clock() - self._marks[0][1] > UNACKED_S):
            await self._flush(bus, upto=self._marks.popleft()[0])
        await self._publish(bus, rejections + self.core.apply(batch))
        self._marks.append((bus.mark(), self.clock()))

    def _log_drops(self) -> None:
        """One line now and then for what the flood gate dropped since (never one line per action)."""
        total = sum(self.gate.dropped.values())
        if total > self._dropped_logged:
            log.warning("actions dropped by flood control", since=total - self._dropped_logged, total=total,
                        by_reason=dict(self.gate.dropped), answered_rate_limited=self.gate.refused,
                        ids_tracked=self.gate.tracked)
            self._dropped_logged = total

    async def _flush(self, bus: Bus, *, upto: int | None = None) -> None:
        """Wait for the broker's acknowledgements however long it takes (a paused or restarting broker): the house
        keeps waiting, says so now and then, and goes on by itself once the broker answers; only a stop ends it."""
        waited = 0.0
        while True:
            try:
                await bus.flush(FLUSH_WAIT_S, upto=upto)
                return
            except BusError as exc:
                if self._stop.is_set():
                    raise
                waited += FLUSH_WAIT_S
                log.warning("broker not acknowledging; still waiting", waited_s=waited, error=str(exc))

    def _merge(self, scheduled: list[Entry]) -> tuple[list[Entry], list[m.Message]]:
        """The actions that arrived, then the scheduled inputs: one batch.

        The house's clock is the time of the last input it applied (``core.now``), the time its last block
        told every keeper. An action that arrived since then is stamped with that time: it waits in the
        mempool for the next block and meets its deadline by it, exactly as in the simulator, even when the
        house runs behind the wall clock (it then runs slower, never early or late for keepers).
        """
        batch, rejections = self._inbox.take(self.core, self.core.now)
        return batch + scheduled, rejections

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
        return house_status(self.core, self.timing, pubkey=self.signer.pubkey, run=self.signer.run,
                            started_ms=self.started_ms, online=online)

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
