"""The simulator: the run kernel (``auction.run``) driven in virtual time, keepers in-process.

Events, in time order: the kernel's scheduled inputs (oracle updates, then blocks) come first at equal
times; then keepers, whose events are kept in a heap ordered by (time, kind, insertion): a keeper decides
(SUBMIT: the agent releases its order), the action travels for the keeper's latency (SEND) and waits in
the mempool for a block; house outputs reach each keeper after its latency (DELIVER). Dutch auctions are
resolved where the curve crosses a keeper's reservation: the keeper agent asks to act at that instant
(``Order.not_before``) and the action lands in the next block, so no fixed-step polling is needed. Nothing
here reads the wall clock; randomness comes from the seed only, so the same scenario and seed give
byte-identical reports.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import math
from collections.abc import Iterator
from typing import Any

from auction.run.kernel import ADDRESSED, AGENT_MESSAGES, Kernel, audience
from auction.run.population import make_agents
from auction.run.result import RunResult
from auction.scenario.build import build_world
from auction.scenario.tables import Scenario
from auction.scenario.world import World
from auction.sim.orders import Book
from broker import messages as m
from keepers.agent import KeeperAgent
from keepers.plan import Order, TakeOrders

# Keeper event kinds, in the order they run at equal times (after the kernel's scheduled inputs).
SEND, SUBMIT, DELIVER = 2, 3, 4

_NO_SEQ = 2**63  # above every sequence number
Event = tuple[float, int, int, Any]  # (time, kind, insertion order, payload): plain tuples heap fastest

# How _broadcast routes a house output, by its type: not to agents, a block, to the one keeper it is for, to all.
_SKIP, _BLOCK, _ADDRESSED, _EVERYONE = range(4)


class Simulation:
    """Owns the keepers' event queue; the kernel decides, the keepers react, the queue orders it all."""

    def __init__(self, world: World, design: str) -> None:
        self.world = world
        self.design = design
        self.kernel = Kernel(world, design)
        # Acks matter to agents only where a take is hedged inside the sale (keepers.agent.KeeperAgent.on_ack);
        # elsewhere they are not delivered, so those runs keep their events exactly.
        self.acks = not self.kernel.design.resells
        self.ledger, self.house = self.kernel.ledger, self.kernel.house
        self.agents = make_agents(world)
        for keeper, agent in self.agents.items():
            self.kernel.fund(keeper, agent.capital)
        groups: dict[float, list[str]] = {}
        for keeper, agent in self.agents.items():  # one delivery event per distinct latency, keepers in id order
            groups.setdefault(agent.latency_s, []).append(keeper)
        self.by_latency = sorted((lat, tuple(ks)) for lat, ks in groups.items())
        # Per latency group (``_block``): its keepers' shortest look period (None: any block may matter to one)
        # and their earliest last look.
        self.period = [_period(self.agents, ks) for _, ks in self.by_latency]
        self.floor = [-math.inf] * len(self.by_latency)
        self.queue: list[Event] = []
        self.until = math.inf  # time of the kernel's next scheduled input: keeper events before it run first
        self._seq = itertools.count()
        self.books: dict[str, Book] = {}  # batch take orders per keeper (auction.sim.orders)
        self.looked = dict.fromkeys(self.agents, -math.inf)  # when each keeper last got a block that mattered
        self.routes: dict[type, int] = {}  # _broadcast's route per message type (_route)
        for agent in self.agents.values():
            agent.bulk = True

    def push(self, time: float, kind: int, payload: Any) -> None:
        heapq.heappush(self.queue, (time, kind, next(self._seq), payload))

    def run(self) -> None:
        with sparse_gc():
            self._run()

    def _run(self) -> None:
        kernel, queue, handle, pop = self.kernel, self.queue, self._handle, heapq.heappop
        for agent in self.agents.values():
            agent.start(0.0)
        while True:
            scheduled = kernel.next_input()  # keeper events never move the schedule: ask once per input
            until = self.until = math.inf if scheduled is None else scheduled.t
            while queue and queue[0][0] < until:
                handle(*pop(queue))
            if scheduled is None:
                break
            # Most blocks of a day reach no keeper (``_block``) and find the house idle: they need no message.
            if scheduled.kind == "block" and kernel.pass_blocks(queue[0][0] if queue else math.inf, self._looks):
                continue
            self._broadcast(kernel.apply(scheduled), scheduled.t)
        self._broadcast(kernel.finish(), kernel.end)
        for agent in self.agents.values():
            agent.stop(kernel.end)

    def _handle(self, time: float, kind: int, seq: int, payload: Any) -> None:
        if kind == SUBMIT:
            keeper, order = payload
            if order is None:  # the head of the keeper's book of batch orders
                book = self.books[keeper]
                if book.head() == (time, seq):  # else a head that has moved since this entry was pushed
                    self._drain(book, time)
                return
            self._release(self.agents[keeper], order, time)
        elif kind == SEND:
            self._broadcast(self.kernel.act(payload, time), time)
        else:
            self._deliver(time, seq, payload)

    def _release(self, agent: KeeperAgent, order: Order, time: float) -> None:
        action = agent.release(order, time)  # None: the plan was replaced meanwhile
        if action is not None:
            self.push(time + agent.latency_s, SEND, action)

    def _drain(self, book: Book, time: float) -> None:
        """Release the book's head, due at ``time``, then each next head while it is also the next event: before
        the heap's first entry and the next scheduled input (``until``). The same order as one heap entry per
        head, without the round trip through the heap: a keeper's orders bunch at the curve's steps, and at
        100k accounts these are most of the run's events."""
        agent, queue = self.agents[book.keeper], self.queue
        while True:
            # A keeper without budget refuses every take (and skips a stale one): release would build each for
            # nothing. Asked first in Python: most drains of a run with money left would pay numpy's fixed cost.
            n = book.quiet_run(self._next_seq(time), agent.rows.current) if agent.takes_refused(time) else 0
            if n:
                agent.refuse_takes(*book.skip(n), time)
            else:
                self._release(agent, book.pop(), time)
            head = book.head()
            if head is None or head[0] >= self.until or (queue and queue[0] < (head[0], SUBMIT, head[1])):
                break
            time = head[0]
        self._cursor(book)

    def _next_seq(self, time: float) -> int:
        """The book entries due at ``time`` that come before the heap's first event are those numbered below
        this (a book's head at ``time`` is the next event when asked)."""
        queue = self.queue
        if not queue or queue[0][0] > time or queue[0][1] > SUBMIT:
            return _NO_SEQ
        return queue[0][2] if queue[0][1] == SUBMIT else -1  # a SEND at ``time`` goes before them all

    def _deliver(self, time: float, seq: int, items: list[tuple[tuple[str, ...], m.Message]]) -> None:
        """One broadcast's messages due at ``time``, each to its keepers, in order. A keeper event due at this
        very time that a message gives rise to (an order to release now) runs before the next message, as it
        would if each message were an event of its own: the rest waits in the heap, in its place (``seq``)."""
        agents, queue, push, last = self.agents, self.queue, self.push, len(items) - 1
        for i, (keepers, msg) in enumerate(items):
            for keeper in keepers:
                out = agents[keeper].on_message(msg, time)
                if type(out) is TakeOrders:
                    self._book(keeper, out, time)
                    continue
                for order in out:
                    push(max(order.not_before, time), SUBMIT, (keeper, order))
            if i < last and queue and queue[0][0] == time and queue[0][1] < DELIVER:
                heapq.heappush(queue, (time, DELIVER, seq, items[i + 1:]))
                return

    def _book(self, keeper: str, orders: TakeOrders, now: float) -> None:
        """File a batch of orders as if each had been pushed in turn: they take the next sequence numbers."""
        n = len(orders)
        if n == 0:
            return
        first = next(self._seq)
        self._seq = itertools.count(first + n)
        book = self.books.get(keeper)
        if book is None:
            book = self.books[keeper] = Book(keeper)
        book.add(orders, now, first, self.agents[keeper].rows.current)
        self._cursor(book)

    def _cursor(self, book: Book) -> None:
        """Give the book's head its place in the event heap (once per head)."""
        head = book.head()
        if head is not None and head != book.cursor:
            book.cursor = head
            heapq.heappush(self.queue, (head[0], SUBMIT, head[1], (book.keeper, None)))

    def _broadcast(self, msgs: list[m.Message], now: float) -> None:
        """House outputs reach each keeper after its latency: one event per arrival time, holding in order what
        arrives then (a rejection only for the keeper it refuses)."""
        due: dict[float, list[tuple[tuple[str, ...], m.Message]]] = {}
        routes = self.routes
        for msg in msgs:
            route = routes.get(type(msg))  # wire messages are final classes: their type says all that follows
            if route is None:
                route = self._route(msg)
            if route == _SKIP:
                continue  # accounts are for outside keepers; agents keep their own books
            if route == _BLOCK:
                self._block(msg, now, due)  # type: ignore[arg-type]
                continue
            keeper = audience(msg) if route == _ADDRESSED else None
            if keeper is not None:
                agent = self.agents.get(keeper)
                if agent is not None:
                    due.setdefault(now + agent.latency_s, []).append(((keeper,), msg))
                continue
            for latency, keepers in self.by_latency:
                due.setdefault(now + latency, []).append((keepers, msg))
        for at, items in due.items():
            self.push(at, DELIVER, items)

    def _route(self, msg: m.Message) -> int:
        """How ``_broadcast`` handles a message of this type (remembered per type in ``routes``)."""
        kind = type(msg)
        if not isinstance(msg, AGENT_MESSAGES) or (kind is m.Ack and not self.acks):
            route = _SKIP
        elif kind is m.Block:
            route = _BLOCK
        else:
            route = _ADDRESSED if kind in ADDRESSED else _EVERYONE
        self.routes[kind] = route
        return route

    def _looks(self, now: float) -> bool:
        """Whether a block at ``now`` would be offered to any latency group's keepers (``_block``'s test)."""
        return not all(self._passed_over(i, now + latency) for i, (latency, _) in enumerate(self.by_latency))

    def _passed_over(self, i: int, at: float) -> bool:
        """Whether latency group ``i``'s keepers would all leave a block delivered at ``at`` alone (``_block``)."""
        period = self.period[i]
        return period is not None and at - self.floor[i] < period

    def _block(self, msg: m.Block, now: float, due: dict[float, list[tuple[tuple[str, ...], m.Message]]]) -> None:
        """A block reaches only the keepers it can change (``KeeperAgent.block_matters``): most blocks change
        nobody, and an idle day is nine thousand of them. ``looked`` follows what each keeper's ``on_block``
        would remember, in delivery order. A group whose keepers all look at most every ``period`` seconds is
        passed over while ``at - floor < period`` (``floor`` its earliest last look): then ``at - looked[k] <
        period`` for each of them, float subtraction being monotone, and no keeper would have wanted it."""
        looked, agents, floor = self.looked, self.agents, self.floor
        for i, (latency, keepers) in enumerate(self.by_latency):
            at = now + latency
            if self._passed_over(i, at):
                continue
            wanted = tuple([k for k in keepers if agents[k].block_matters(at, looked[k])])  # a list: no generator
            if wanted:
                for k in wanted:
                    looked[k] = at
                floor[i] = min([looked[k] for k in keepers])
                due.setdefault(at, []).append((wanted, msg))


def _period(agents: dict[str, KeeperAgent], keepers: tuple[str, ...]) -> float | None:
    """The shortest ``KeeperAgent.look_period`` of ``keepers``; None when a block may matter to any of them."""
    periods = [p for p in (agents[k].look_period for k in keepers) if p is not None]
    return min(periods) if len(periods) == len(keepers) else None


# The cyclic collector's thresholds while a run's loop turns: every object of a run lives until its end
# (sales, records, the event heap) or dies by reference count (events, messages), and the few cycles it makes
# are small. At the default (700, 10, 10) a young collection ran every few events and the full ones scanned
# the growing run again and again: 1.7 of 10.9 CPU s of a 30k-account Black Thursday (gc.callbacks), 0.5 s here.
RUN_GC_THRESHOLDS = (50_000, 20, 100)


@contextlib.contextmanager
def sparse_gc() -> Iterator[None]:
    """Collect cycles rarely while inside (``RUN_GC_THRESHOLDS``); the thresholds before are restored after."""
    before = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def simulate(scenario: Scenario, design: str, seed: int, accounts: int | None = None) -> Simulation:
    """Build the world, run it to the end and audit the ledger; the finished simulation, for any report."""
    sim = Simulation(build_world(scenario, design, seed, accounts=accounts), design)
    sim.run()
    sim.ledger.check()
    return sim


def run_one(scenario: Scenario, design: str, seed: int, accounts: int | None = None) -> RunResult:
    """Simulate ``scenario`` under ``design`` with ``seed``; same inputs, same result."""
    sim = simulate(scenario, design, seed, accounts)
    result = sim.kernel.result()
    # The keepers are the simulator's: what their strategies got wrong is counted here, not in the kernel.
    failed = [(a.failures.first_at, keeper, a.failures) for keeper, a in sim.agents.items() if a.failures.count]
    result.metrics["strategy_errors"] = float(sum(f.count for _, _, f in failed))
    if failed:
        _, keeper, first = min(failed, key=lambda x: x[:2])
        result.first_error = f"keeper {keeper}: {first.first}"
    return result
