"""One live keeper process: the simulator's ``KeeperAgent`` on an MQTT bus, in the house's clock.

``liqnet keeper`` feeds the agent the messages the simulator feeds it (everything the house publishes:
oracle prices, blocks, announces, auction states, results and its own receipts: ``AGENT_MESSAGES``), with
the simulator's timing, so one strategy object decides the same in both runtimes. The gas price comes from
the house's blocks; the outside market from the scenario (``--scenario``: the same price path and resale
depth the house uses) or, without one, from the oracle price.

Time: scenario time comes from the house's clock messages, extrapolated at ``--speed`` between blocks while
the house is online, up to the next block's time (a slow or stalled house slows the keeper's clock too).
Without ``--speed`` the speed is measured from the clock messages. As in ``auction.sim.engine``: a message is
handed to the agent ``latency`` scenario seconds after it arrives (in arrival order), each ``Order`` is
released when the clock reaches ``max(not_before, decision time)``, and the released action, signed with the
keeper's Ed25519 key, leaves ``latency`` seconds later on ``liq/v1/keepers/<id>/actions``.

Only the house is believed: every message on its topics must carry the house's signature (``house_feed``,
``broker.house_signing``), by the key pinned with ``--house-key`` or learnt on first use; the rest is dropped.

Late joiners catch up from retained state: an auction seen first through its retained ``State`` is shown to
the agent as an announce built from that state and the current oracle price, then the state itself.

Registration: whenever the house comes online (retained ``HouseStatus``) the keeper sends a signed
``Register`` binding its key to its id; the house funds its escrow once, from the house configuration. The
house's status also carries the scenario's gas units per action, which the agent then uses for its gas estimates.

Receipts: every action, the Register included, is sent again, byte for byte, every ``RESEND_AFTER_S`` while the
house is online, until its receipt (an ``Ack`` or a ``Rejection`` naming its nonce) arrives, at most
``RESEND_TRIES`` times (PROTOCOL.md section 6, Retries): one published while the house was not subscribed (a
restarted broker forgets its sessions) still reaches it, and gets a receipt (a ``replay`` refusal if a later
nonce went first).
Nonces start at the wall-clock microsecond, so a keeper restarted with the same key never reuses one.
Liveness: a retained ``KeeperStatus`` (balance, P&L) now and then, and a Last Will saying offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from auction import units
from auction.errors import Rejected
from auction.net import signals
from auction.net.house_feed import HouseFeed
from auction.run.kernel import AGENT_MESSAGES
from broker import messages as m
from broker import topics
from broker.bus import Bus
from broker.house_signing import HouseTrust
from broker.signing import KeyPair
from broker.transport import connect
from keepers.agent import KeeperAgent, Order

log = structlog.get_logger()

DEFAULT_CAPITAL = 1_000_000.0  # USD: the keeper's own budget when --capital is not given
# The clock runs at most one block interval past the last block: the house includes an action in its next
# block, so a keeper acting later than that on its own clock would act before the house's time (a Dutch take
# at a price the house has not reached yet).
MAX_AHEAD_BLOCKS = 1.0
WALL_TTL_S = 0.5  # an action's deadline is at least this much wall time after it leaves
STOP_PUBLISH_S = 2.0  # on shutdown, wait this long at most to say offline
SENT_KEPT = 1024  # actions kept in KeeperProcess.sent (each one is logged as it leaves)
RESEND_AFTER_S = 1.0  # wall seconds without a receipt before an action is sent again
RESEND_TRIES = 10  # sends of one action at most
UNANSWERED_KEPT = 4096  # actions awaiting their receipt, at most (the oldest are given up)


class HouseClock:
    """Scenario time as a keeper sees it, anchored on the house's clock messages."""

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._measured: float | None = None
        self.clock = clock
        self.online = False
        self.height = 0
        self._anchor: tuple[float, float] | None = None  # (scenario s, wall s) of the last block
        self._first: tuple[float, float] | None = None  # first anchor since the house came online
        self._interval = 12.0  # scenario seconds between blocks, as observed
        self._last = 0.0

    @property
    def rate(self) -> float | None:
        return self.speed if self.speed is not None else self._measured

    def on_block(self, msg: m.Block) -> None:
        ts, wall = msg.ts_ms / 1000, self.clock()
        if msg.height <= self.height and self._anchor is not None:
            return  # a stale or retained repeat
        if self._anchor is not None and msg.height == self.height + 1 and ts > self._anchor[0]:
            self._interval = ts - self._anchor[0]
        self.height = msg.height
        self._anchor = (ts, wall)
        if self._first is None:
            self._first = (ts, wall)
        elif wall - self._first[1] >= 0.5:
            self._measured = (ts - self._first[0]) / (wall - self._first[1]) or None

    def on_house(self, online: bool) -> None:
        if online:  # follow the clock of this house from its next block (another run may have left one)
            self._anchor = self._first = None
            self.height, self._last = 0, 0.0
        elif self._anchor is not None:  # the house's clock stops with the house: stop extrapolating
            self._anchor = (self.now(), self.clock())
            self._first = None
        self.online = online

    def now(self) -> float:
        if self._anchor is None:
            return self._last
        ts, wall = self._anchor
        rate = self.rate
        t = ts
        if self.online and rate:
            t = min(ts + (self.clock() - wall) * rate, ts + MAX_AHEAD_BLOCKS * self._interval)
        self._last = max(self._last, t)
        return self._last

    def wall_delay(self, t: float) -> float | None:
        """Wall seconds until scenario time ``t`` (None: only the next clock message can tell)."""
        now = self.now()
        if t <= now:
            return 0.0
        rate = self.rate
        if not self.online or not rate or self._anchor is None:
            return None
        reach = self._anchor[0] + MAX_AHEAD_BLOCKS * self._interval
        if now >= reach:
            return None  # extrapolated as far as allowed: wait for the next block
        return (min(t, reach) - now) / rate


class OracleMarket:
    """The outside market when no scenario is given: the latest oracle price, no price impact."""

    def __init__(self) -> None:
        self.prices: dict[str, float] = {}

    def price(self, asset: str, t: float) -> float:
        if asset not in self.prices:
            raise KeyError(f"no oracle price for {asset!r} yet")
        return self.prices[asset]

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return qty * self.price(asset, t)


@dataclass(slots=True)
class KeeperOptions:
    broker: str
    keeper_id: str
    speed: float | None = None
    latency: float = 0.0  # scenario seconds, as the simulator's latency_s
    status_every: float = 1.0  # wall seconds between status updates (when something changed)
    client_id: str | None = None  # MQTT client id; the keeper id by default (the compose ACL relies on it)


@dataclass(order=True, slots=True)
class _Job:
    due: float
    seq: int
    kind: str = field(compare=False)  # "deliver", "order" or "send"
    payload: Any = field(compare=False)
    at: float = field(compare=False, default=0.0)  # decision time (orders)


class KeeperProcess:
    """Drives one ``KeeperAgent`` from the bus; ``run()`` returns the exit code."""

    def __init__(self, agent: KeeperAgent, key: KeyPair, options: KeeperOptions, *,
                 clock: Callable[[], float] = time.monotonic, bus: Bus | None = None,
                 house_clock: HouseClock | None = None, oracle_market: OracleMarket | None = None,
                 trust: HouseTrust | None = None) -> None:
        self.agent, self.key, self.opt = agent, key, options
        self.feed = HouseFeed(trust or HouseTrust())  # only what the trusted house signed reaches the agent
        self.house_clock = house_clock or HouseClock(options.speed, clock)
        self.oracle_market = oracle_market
        self.wall = clock
        self._bus = bus
        self._jobs: list[_Job] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._outbox: asyncio.Queue[m.Action] = asyncio.Queue()
        self._dirty = True
        self._seen: set[int] = set()  # auctions shown to the agent
        self.oracle: dict[str, int] = {}
        self.sent: deque[m.Action] = deque(maxlen=SENT_KEPT)  # the latest actions published, for tests and the log
        self.registered = 0
        self._unanswered: OrderedDict[int, tuple[bytes, float, int]] = OrderedDict()  # nonce -> (payload, sent, tries)

    @property
    def keeper_id(self) -> str:
        return self.agent.keeper_id

    async def run(self) -> int:
        kid = self.keeper_id
        will = (topics.keeper_status(kid), m.encode(self._status(online=False)))
        bus = self._bus or connect(self.opt.broker, self.opt.client_id or kid, will)
        async with bus:
            signals.install(self.stop)
            tasks: list[asyncio.Task[None]] = []
            try:
                await self._publish_status(bus)
                for pattern in topics.keeper_subscriptions(kid):
                    await bus.subscribe(pattern)
                self.agent.start(self.house_clock.now())
                tasks = [asyncio.create_task(self._read(bus), name="keeper-reader"),
                         asyncio.create_task(self._schedule(bus), name="keeper-scheduler"),
                         asyncio.create_task(self._send(bus), name="keeper-sender"),
                         asyncio.create_task(self._heartbeat(bus), name="keeper-status")]
                stopper = asyncio.create_task(self._stop.wait())
                done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                for task in done:
                    failure = None if task is stopper else task.exception()
                    if failure is not None:
                        raise failure
                return 0
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                self.agent.stop(self.house_clock.now())
                log.info("keeper stopped", keeper=kid, house_messages_dropped=self.feed.dropped)
                with contextlib.suppress(Exception):  # a broker that is gone must not hold the exit up
                    offline = bus.publish(topics.keeper_status(kid), m.encode(self._status(online=False)))
                    await asyncio.wait_for(offline, STOP_PUBLISH_S)
                signals.remove()

    def stop(self) -> None:
        self._stop.set()

    # -- receiving -------------------------------------------------------------------------------------------
    async def _read(self, bus: Bus) -> None:
        async for env in bus.messages():
            parsed = topics.parse(env.topic)
            if parsed is None or not env.payload:
                continue  # outside the tree, or a cleared retained state
            try:
                msg = m.decode(env.payload, allowed=parsed.policy.messages)
            except Rejected as exc:
                log.warning("bad message ignored", topic=env.topic, code=exc.code, reason=exc.message)
                continue
            for _, believed in self.feed.admit(env.payload, msg):
                await self.receive(bus, believed)

    async def receive(self, bus: Bus, msg: m.Message) -> None:
        """Handle one decoded message from the house."""
        if isinstance(msg, m.HouseStatus):
            was = self.house_clock.online
            self.house_clock.on_house(msg.online)
            if msg.online and msg.gas:
                self.agent.gas_units = dict(msg.gas)  # the scenario's gas table, as the house charges it
            if msg.online and not was:
                await self._register(bus)
            self._wake.set()
            return
        if isinstance(msg, m.Ack | m.Rejection) and msg.keeper == self.keeper_id:
            self._unanswered.pop(msg.ref, None)  # its receipt: no need to send it again
        if isinstance(msg, m.Block):
            self.house_clock.on_block(msg)
        elif isinstance(msg, m.OraclePrice):
            self.oracle[msg.asset] = msg.price_q
            if self.oracle_market is not None:
                self.oracle_market.prices[msg.asset] = msg.price_q / units.NUM
        not_ours = isinstance(msg, m.Rejection | m.Ack) and msg.keeper != self.keeper_id
        if isinstance(msg, AGENT_MESSAGES) and not not_ours:
            now = self.house_clock.now()
            self._push(now + self.opt.latency, "deliver", msg, now)
        self._wake.set()

    def deliver(self, msg: m.Message, now: float) -> None:
        """Hand one message to the agent at ``now``; schedule the orders it gives.

        A message the agent cannot handle (it decoded, yet e.g. its curve terms cannot make a curve) costs that
        message, logged, never the keeper process: like an undecodable one in ``_read``.
        """
        try:
            if isinstance(msg, m.State) and msg.auction not in self._seen and msg.status != "closed":
                self._catch_up(msg, now)
            if isinstance(msg, m.Announce | m.State):
                self._seen.add(msg.auction)
            for order in self.agent.on_message(msg, now):
                self._push(max(order.not_before, now), "order", order, now)
        except Exception as exc:
            log.warning("message skipped: the agent cannot handle it", type=m.tag_of(type(msg)),
                        error=f"{type(exc).__name__}: {exc}")
        if isinstance(msg, m.Result | m.Rejection):
            self._dirty = True

    def _catch_up(self, state: m.State, now: float) -> None:
        """An auction first seen through its retained state: announce it to the agent from that state."""
        oracle_q = self.oracle.get(state.asset, state.top_q)
        announce = m.Announce(auction=state.auction, design=state.design, asset=state.asset, lot=state.lot,
                              tab=state.tab, owner=state.owner, start_ms=state.start_ms, oracle_q=oracle_q,
                              terms=state.terms)
        for order in self.agent.on_message(announce, now):
            self._push(max(order.not_before, now), "order", order, now)

    # -- acting ------------------------------------------------------------------------------------------------
    def _push(self, due: float, kind: str, payload: Any, at: float) -> None:
        heapq.heappush(self._jobs, _Job(due, next(self._seq), kind, payload, at))
        self._wake.set()

    async def _schedule(self, bus: Bus) -> None:
        while True:
            self._wake.clear()
            now = self.house_clock.now()
            while self._jobs and self._jobs[0].due <= now:
                job = heapq.heappop(self._jobs)
                if job.kind == "deliver":
                    self.deliver(job.payload, job.due)
                elif job.kind == "order":
                    self._release(job.payload, now)
                else:
                    self._outbox.put_nowait(job.payload)
                now = self.house_clock.now()
            delay = self.house_clock.wall_delay(self._jobs[0].due) if self._jobs else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if delay is None else max(delay, 0.0005))

    def _release(self, order: Order, now: float) -> None:
        """The agent's decision at ``now`` (its order's time, or later if the keeper fell behind: the deadline
        then counts from when it really acts); the signed action leaves after the keeper's latency."""
        action = self.agent.release(order, now)
        if action is not None:
            self._push(now + self.opt.latency, "send", self.key.sign(action), now)

    async def _send(self, bus: Bus) -> None:
        """Publish released actions in order, off the scheduler: waiting for the broker's acknowledgement
        never delays a decision."""
        while True:
            signed = await self._outbox.get()
            self.sent.append(signed)
            self._dirty = True
            # Pipelined: the bus keeps the order and sends again what a lost connection left unacknowledged.
            payload = m.encode(signed)
            await bus.publish_many([(topics.actions(self.keeper_id), payload, None)])
            self._unanswered[signed.nonce] = (payload, self.wall(), 1)
            while len(self._unanswered) > UNANSWERED_KEPT:
                self._unanswered.popitem(last=False)
            # One line per action that left: with the house's journal and its rejections this accounts for each.
            log.info("action sent", keeper=self.keeper_id, type=m.tag_of(type(signed)), nonce=signed.nonce)

    async def _register(self, bus: Bus) -> None:
        """Queue a Register behind every action already numbered: the house refuses a nonce that arrives after
        a higher one as a replay, so actions still waiting out their latency leave now, in nonce order, first."""
        waiting = sorted((job for job in self._jobs if job.kind == "send"), key=lambda job: job.payload.nonce)
        if waiting:
            self._jobs = [job for job in self._jobs if job.kind != "send"]
            heapq.heapify(self._jobs)
            for job in waiting:
                self._outbox.put_nowait(job.payload)
        self.agent.nonce += 1
        self._outbox.put_nowait(self.key.register(self.keeper_id, self.agent.nonce))
        self.registered += 1
        log.info("registered", keeper=self.keeper_id, pubkey=self.key.pubkey)

    # -- status ------------------------------------------------------------------------------------------------
    async def _resend(self, bus: Bus) -> None:
        """Actions without a receipt after ``RESEND_AFTER_S``: the same bytes again (a copy has no second effect at
        the house, which answers it with the receipt), while the house is online; given up after RESEND_TRIES."""
        if not self.house_clock.online:
            return
        now = self.wall()
        again = []
        for nonce, (payload, at, tries) in list(self._unanswered.items()):
            if now - at < RESEND_AFTER_S:
                continue
            if tries >= RESEND_TRIES:
                del self._unanswered[nonce]
                log.warning("action given up: no receipt", keeper=self.keeper_id, nonce=nonce, tries=tries)
                continue
            self._unanswered[nonce] = (payload, now, tries + 1)
            again.append((topics.actions(self.keeper_id), payload, None))
        if again:
            log.info("actions sent again: no receipt yet", keeper=self.keeper_id, count=len(again))
            await bus.publish_many(again)

    async def _heartbeat(self, bus: Bus) -> None:
        """Status now and then; again at once after a reconnect (a restarted broker lost the retained one)."""
        connections = int(getattr(bus, "connections", 0))
        while True:
            await asyncio.sleep(self.opt.status_every)
            await self._resend(bus)
            now_connections = int(getattr(bus, "connections", 0))
            if self._dirty or now_connections != connections:
                connections = now_connections
                await self._publish_status(bus)

    async def _publish_status(self, bus: Bus) -> None:
        self._dirty = False
        await bus.publish(topics.keeper_status(self.keeper_id), m.encode(self._status(online=True)))

    def _status(self, *, online: bool) -> m.KeeperStatus:
        pnl = max(-(2**63), min(2**63 - 1, self.agent.pnl))
        return m.KeeperStatus(keeper=self.keeper_id, online=online, pubkey=self.key.pubkey,
                              balance=max(0, self.agent.balance), pnl=pnl, ts_ms=units.ms(self.house_clock.now()))
