"""The discrete-event simulator: one scenario, one design, one seed, in virtual time.

Events, in time order (ties broken by kind, then by insertion, so runs are deterministic):
oracle updates, blocks (every ``block_time_s``), message deliveries to keepers (after each keeper's
latency) and keeper actions reaching the mempool. Dutch auctions are resolved where the curve crosses a
keeper's reservation: the keeper agent asks to act at that instant (``Order.not_before``) and the action
lands in the next block, so no fixed-step polling is needed. Sealed and English phases end by their
deadlines, which the house keeps in a heap. Nothing here reads the wall clock; randomness comes from the
seed only, so the same scenario and seed give byte-identical reports.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

from auction.book.ledger import USD, Ledger
from auction.house import AuctionHouse
from auction.run.metrics import compute_metrics
from auction.run.result import RunResult, Series
from auction.scenario.world import World, build_world
from broker import messages as m

# Event kinds, in the order they run at equal times: a keeper decides (SUBMIT: the agent releases its
# order), the action travels for the keeper's latency (SEND) and waits in the mempool for a block.
ORACLE, BLOCK, SEND, SUBMIT, DELIVER = 0, 1, 2, 3, 4

KEEPER_FUNDS = 10**18  # numeraire base units the outside market holds to pay keepers reselling


Event = tuple[float, int, int, Any]  # (time, kind, insertion order, payload): plain tuples heap fastest


class Simulation:
    """Owns the event queue; the house decides, the keepers react, the queue orders it all."""

    def __init__(self, world: World, design: str) -> None:
        self.world = world
        self.design = design
        self.ledger = Ledger()
        self.ledger.mint("market", USD, KEEPER_FUNDS)
        self.house = AuctionHouse(
            design, world.accounts, self.ledger, designs=world.designs, house=world.house_params,
            market_price=world.market_price, proceeds=world.proceeds, gas_cost=world.gas_cost,
        )
        self.agents = world.make_agents(self.ledger)
        groups: dict[float, list[str]] = {}
        for keeper, agent in self.agents.items():  # one delivery event per distinct latency, keepers in id order
            groups.setdefault(agent.latency_s, []).append(keeper)
        self.by_latency = sorted((lat, tuple(ks)) for lat, ks in groups.items())
        self.queue: list[Event] = []
        self._seq = itertools.count()
        self.series = Series()

    def push(self, time: float, kind: int, payload: Any) -> None:
        heapq.heappush(self.queue, (time, kind, next(self._seq), payload))

    def run(self) -> None:
        w = self.world
        margins = w.oracle_mm or [None] * len(w.oracle_updates)
        for (t, prices), mm in zip(w.oracle_updates, margins, strict=True):
            self.push(t, ORACLE, (prices, mm))
        block = w.house_params.block_time_s
        n_blocks = int((w.end + w.house_params.drain_s) // block)
        for h in range(1, n_blocks + 1):
            self.push(h * block, BLOCK, None)
        for agent in self.agents.values():
            agent.start(0.0)
        while self.queue:
            self._handle(*heapq.heappop(self.queue))
        end = n_blocks * block
        self._broadcast(self.house.finish(end), end)
        for agent in self.agents.values():
            agent.stop(end)

    def _handle(self, time: float, kind: int, _seq: int, payload: Any) -> None:
        if kind == ORACLE:
            prices, mm = payload
            self._broadcast(self.house.on_oracle(time, prices, mm), time)
            self.series.oracle_times.append(time)
            self.series.oracle.append(float(prices[self.world.asset]))
        elif kind == BLOCK:
            self._broadcast(self.house.on_block(time, self.world.gas_gwei(time)), time)
        elif kind == SUBMIT:
            keeper, order = payload
            action = self.agents[keeper].release(order, time)  # None: the plan was replaced meanwhile
            if action is not None:
                self.push(time + self.agents[keeper].latency_s, SEND, action)
        elif kind == SEND:
            self._broadcast(self.house.submit(payload, time), time)
        else:
            keepers, msg = payload
            for keeper in keepers:
                for order in self.agents[keeper].on_message(msg, time):
                    self.push(max(order.not_before, time), SUBMIT, (keeper, order))

    def _broadcast(self, msgs: list[m.Message], now: float) -> None:
        for msg in msgs:
            if isinstance(msg, m.Announce):
                self.series.liquidations.append((now, self.world.market_price(msg.asset, now)))
            if isinstance(msg, m.Rejection):
                agent = self.agents.get(msg.keeper)
                if agent is not None:
                    self.push(now + agent.latency_s, DELIVER, ((msg.keeper,), msg))
                continue
            for latency, keepers in self.by_latency:
                self.push(now + latency, DELIVER, (keepers, msg))


def simulate(scenario: Any, design: str, seed: int, accounts: int | None = None) -> Simulation:
    """Build the world, run it to the end and audit the ledger; the finished simulation, for any report."""
    sim = Simulation(build_world(scenario, design, seed, accounts=accounts), design)
    sim.run()
    sim.ledger.check()
    return sim


def run_one(scenario: Any, design: str, seed: int, accounts: int | None = None) -> RunResult:
    """Simulate ``scenario`` under ``design`` with ``seed``; same inputs, same result."""
    sim = simulate(scenario, design, seed, accounts)
    world = sim.world
    metrics, exact, extra = compute_metrics(sim.house, sim.ledger, world)
    series = sim.series
    series.times, series.market = world.series_times, world.series_market
    series.discounts = sim.house.tally.discounts[:5000]
    series.times_to_liquidate = [
        (s.closed_at or world.end) - s.kicked_at for s in sorted(sim.house.sales.values(), key=lambda s: s.id)
    ][:5000]
    return RunResult(scenario=scenario.name, design=design, seed=seed, metrics=metrics, series=series,
                     exact=exact, extra=extra)
