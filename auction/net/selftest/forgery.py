"""Forged house messages: a stranger on the broker publishes as if it were the house, keepers must not believe it.

``forged_house`` runs the chaos network (Dutch) with keepers that value collateral at the oracle price (no
``--scenario``: what the forged price aims at) and, from this process, a forger on the same broker that
publishes, all along the run:

- a ``result`` for every auction as soon as it is announced, saying it settled with no fill (unsigned, and
  signed by the forger's own key): believed, it stops keepers from taking (the red team saw 0 takes and 60
  auctions in bad debt);
- a retained ``oracle`` price ten times the real one (unsigned, and signed by the forger's key): believed, it
  makes keepers overpay (the red team saw 274k USD lost);
- a ``house-status`` naming the forger's key and run (the house offline, then a new house online);
- the house's own latest signed price with its digits changed (the signature no longer covers it), and an old
  signed price of the house replayed (signed, but older than what keepers have).

What it must show: every keeper dropped every forgery it received (counted by each keeper, logged when it
stops), keepers still bought the auctions the forger said were settled, no keeper paid above the real oracle
price (the value the forged price would have cost), and the journal's audit holds (nothing lost, value
conserved).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auction import units
from auction.net.selftest.harness import Audit, Cluster, audit
from broker import messages as m
from broker import topics
from broker.bus import Bus
from broker.house_signing import Signer, verify_payload
from broker.server import Prefer
from broker.signing import KeyPair
from broker.transport import connect

FORGE_SPEED = 3600.0  # the chaos run's 8 hours in 8 s of wall time
FACTOR = 10  # the forged oracle price: this many times the real one
PRICE_EVERY_S = 0.25  # wall seconds between rounds of forged prices and statuses
WINDOW_MS = 1_200_000  # a fill is judged against the highest real oracle price of the 20 minutes before it


@dataclass(slots=True)
class ForgeryReport:
    sent: Counter[str] = field(default_factory=Counter)  # forged messages, by kind
    dropped: dict[str, int] = field(default_factory=dict)  # keeper -> house messages it dropped (its own count)
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    audit: Audit | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values()) and self.audit is not None and self.audit.ok

    def describe(self) -> str:
        bad = [k for k, v in self.checks.items() if not v]
        told = self.audit.describe() if self.audit is not None and not self.audit.ok else ""
        return f"forged house messages: failed={bad} sent={dict(self.sent)} figures={self.figures} {told}".strip()


class Forger:
    """A stranger on the broker with a key of its own, publishing on the house's topics."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.signer = Signer(KeyPair.from_seed(secrets.token_bytes(32)), f"forged-{uuid.uuid4().hex[:8]}")
        self.sent: Counter[str] = Counter()
        self.settled: set[int] = set()  # auctions it said were settled

    async def publish(self, kind: str, topic: str, payload: bytes, *, retain: bool = False) -> None:
        await self.bus.publish(topic, payload, retain=retain)
        self.sent[kind] += 1

    async def results(self, announced: set[int]) -> None:
        """A settled-with-no-fill result for each new auction: unsigned, and signed by the forger."""
        for auction in sorted(announced - self.settled):
            self.settled.add(auction)
            forged = m.encode(m.Result(auction=auction, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0,
                                       ts_ms=0))
            await self.publish("result unsigned", topics.result(auction), forged)
            await self.publish("result signed by the forger", topics.result(auction), self.signer(forged))

    async def prices(self, real: m.OraclePrice, real_payload: bytes, first_payload: bytes) -> None:
        """Ten times the real price, retained (unsigned and forger-signed); the real one tampered; an old one."""
        ten = m.encode(m.OraclePrice(asset=real.asset, price_q=real.price_q * FACTOR, ts_ms=real.ts_ms + 1))
        topic = topics.oracle(real.asset)
        await self.publish("oracle x10 unsigned", topic, ten, retain=True)
        await self.publish("oracle x10 signed by the forger", topic, self.signer(ten), retain=True)
        tampered = real_payload.replace(b'"price_q":%d' % real.price_q, b'"price_q":%d' % (real.price_q * FACTOR))
        await self.publish("the house's price tampered", topic, tampered, retain=True)
        if first_payload != real_payload:
            await self.publish("an old price of the house replayed", topic, first_payload, retain=True)

    async def statuses(self) -> None:
        started = time.time_ns() // 1_000_000 + 3_600_000  # "later" than the real house
        for online in (False, True):
            status = m.HouseStatus(online=online, version="liqnet-house/1", design="dutch", pubkey=self.signer.pubkey,
                                   run=self.signer.run, started_ms=started, ts_ms=0)
            await self.publish("house-status of the forger", topics.house_status(), self.signer(m.encode(status)))


async def forged_house(workdir: Path, *, prefer: Prefer = "auto") -> ForgeryReport:
    t0 = time.time()
    report = ForgeryReport()
    cluster = Cluster(workdir, speed=FORGE_SPEED, prefer=prefer, oracle_keepers=True)
    async with cluster:
        cluster.start_keepers()
        house = cluster.start_house()
        await cluster.until(cluster.started, 60, "the house's clock to start")
        async with connect(cluster.url(), f"forger-{uuid.uuid4().hex[:6]}") as bus:
            forger = Forger(bus)
            await _forge_until_done(cluster, forger, house)
        code = house.proc.returncode if house.proc is not None else None
    report.sent = forger.sent
    report.audit = audit(cluster)
    report.dropped = {k: _dropped(child) for k, child in cluster.keepers.items()}
    _judge(cluster, forger, report, code)
    report.seconds = time.time() - t0
    return report


async def _forge_until_done(cluster: Cluster, forger: Forger, house: Any) -> None:
    w = cluster.watcher
    next_prices = 0.0
    while house.alive():
        await forger.results(set(w.announced))
        if time.monotonic() >= next_prices and w.oracle.get("ETH"):
            next_prices = time.monotonic() + PRICE_EVERY_S
            real = w.oracle["ETH"][-1][1]
            payloads = [p for _, t, p in w.raw if t == topics.oracle("ETH") and p and _signed_by_house(cluster, p)]
            if payloads:
                await forger.prices(real, payloads[-1], payloads[0])
            await forger.statuses()
        await asyncio.sleep(0.02)
    await cluster.house_done(30)


def _signed_by_house(cluster: Cluster, payload: bytes) -> bool:
    feed = cluster.watcher.house
    trust = None if feed is None else feed.trust
    return trust is not None and trust.key is not None and trust.run is not None and verify_payload(
        payload, trust.key, trust.run)


def _dropped(child: Any) -> int:
    """The keeper's own count of house messages it dropped, from the line it logs when it stops (-1: none)."""
    counts = [int(e["house_messages_dropped"]) for e in child.events() if e.get("event") == "keeper stopped"]
    return counts[-1] if counts else -1


def _judge(cluster: Cluster, forger: Forger, report: ForgeryReport, code: int | None) -> None:
    w = cluster.watcher
    sent = sum(forger.sent.values())
    bought = {a for a, r in w.result_msgs.items() if any(f.keeper in cluster.keepers for f in r.fills)}
    forged_then_bought = forger.settled & bought
    over = _overpaid(cluster)
    report.figures = {"forged_sent": sent, "dropped_by_each_keeper": report.dropped,
                      "dropped_by_the_watcher": len(w.dropped), "auctions_forged_settled": len(forger.settled),
                      "of_which_bought_by_keepers": len(forged_then_bought), "fills": sum(len(r.fills) for r in
                                                                                         w.result_msgs.values()),
                      "usd_paid_above_the_real_oracle": round(over, 2), "house_exit_code": code}
    report.checks = {
        "every keeper dropped every forgery it received": bool(report.dropped) and all(
            n >= sent for n in report.dropped.values()),
        "keepers still bought auctions the forger said were settled": len(forged_then_bought) > 0,
        "no keeper paid above the real oracle price": over == 0.0,
        "the house finished (exit 0)": code == 0,
    }


def _overpaid(cluster: Cluster) -> float:
    """USD keepers paid above the highest real oracle price of the ``WINDOW_MS`` before each fill."""
    prices = [(p.ts_ms, p.price_q) for _, p in cluster.watcher.oracle.get("ETH", [])]
    total = 0.0
    for result in cluster.watcher.result_msgs.values():
        seen = [q for ts, q in prices if result.ts_ms - WINDOW_MS <= ts <= result.ts_ms]
        if not seen:
            continue
        ceiling = max(seen)
        for fill in result.fills:
            total += max(0.0, units.num_f(fill.cost) - units.col_f(fill.qty) * ceiling / units.NUM)
    return total
