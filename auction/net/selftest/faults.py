"""Fault scenarios: real processes over a real broker, each fault injected mid-auction, each run audited.

Every scenario starts a ``Cluster`` (broker on a free port, the house with a journal, three keepers), injects
its faults at moments chosen from what the watcher sees (auctions settled AND auctions open), lets the run
finish, and returns a ``FaultReport``: the audit (nothing lost, nothing settled twice, value conserved, final
ledger equal to an unfaulted house fed the same accepted inputs) plus the scenario's own named checks.

- ``keeper_sigkill``: a keeper killed with SIGKILL while it holds wins and auctions are open, restarted with
  the same id and key file;
- ``broker_restart``: the broker stopped (SIGTERM) and, later, killed (SIGKILL), each time started again on
  the same port;
- ``house_sigkill``: the house killed with SIGKILL twice and restarted on its journal;
- ``slow_and_silent``: one keeper stopped outright (SIGSTOP) and one slowed down (stopped 3/4 of the time).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auction.book.ledger import USD
from auction.net.house_core import HouseCore
from auction.net.journal import Entry, Journal
from auction.net.selftest.harness import (
    Audit,
    Cluster,
    FaultError,
    action_pairs,
    audit,
    log_time,
    replay_journal,
)
from broker import messages as m
from broker.server import Prefer

START_TIMEOUT_S = 60.0  # keepers register and the house's clock starts (process start-up on a loaded machine)
PATH_S = 28_800.0  # scenario seconds of the chaos price path; liquidations happen all along it


@dataclass(slots=True)
class FaultReport:
    """One scenario's outcome: the faults injected, the audit, and the scenario's named claims."""

    name: str
    injected: list[str]
    audit: Audit
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.audit.ok and all(self.checks.values())

    def failed(self) -> list[str]:
        return [name for name, held in self.checks.items() if not held]

    def describe(self) -> str:
        return (f"{self.name}: injected={self.injected} failed_checks={self.failed()} figures={self.figures}\n"
                f"  audit: {self.audit.describe()}")


Scenario = Callable[..., Awaitable[FaultReport]]  # (workdir, *, prefer=...)


@dataclass(slots=True)
class _Last:
    """The victim's balance after the previous journal input, that input's kind, and whether the victim has an
    action journaled since the kill (which a block may then include)."""

    balance: int | None = None
    kind: str = ""
    pending: bool = False


def _settled_and_open(cluster: Cluster, settled: int = 2, open_: int = 1) -> Callable[[], bool]:
    w = cluster.watcher
    return lambda: len(w.results) >= settled and len(w.open_auctions()) >= open_


def _reached(cluster: Cluster, t: float) -> Callable[[], bool]:
    """The house's clock passed scenario time ``t`` and some auction is open."""
    return lambda: cluster.scenario_time() >= t and bool(cluster.watcher.open_auctions())


async def _start(cluster: Cluster) -> None:
    cluster.start_keepers()
    cluster.start_house()
    await cluster.until(cluster.started, START_TIMEOUT_S, "the house's clock to start")


# --- a keeper killed ----------------------------------------------------------------------------------------


async def keeper_sigkill(workdir: Path, *, prefer: Prefer = "auto") -> FaultReport:
    """SIGKILL a keeper that holds wins while auctions are open; the others finish them; it comes back whole."""
    t0 = time.time()
    async with Cluster(workdir, prefer=prefer) as cluster:
        w = cluster.watcher
        victim = cluster.plans[0]
        vid = victim.keeper_id
        await _start(cluster)
        await cluster.until(lambda: bool(w.wins(vid)) and bool(w.open_auctions()), 60,
                            f"{vid} to win an auction while others are open")
        child = cluster.keepers[vid]
        child.signal(signal.SIGKILL)
        cluster.fault(f"keeper {vid} SIGKILL")
        child.wait(5)
        kill_wall = time.time()
        with Journal(cluster.journal_path, access="read") as jr:
            journal_at_kill = jr.count()
        wins_at_kill = dict(w.wins(vid))
        open_at_kill = w.open_auctions()
        await cluster.until(lambda: any(a in w.result_msgs and w.result_msgs[a].fills
                                        for a, at in w.announced.items() if at > kill_wall), 60,
                            "an auction announced after the kill to settle with the other keepers")
        offline = any(not online for at, online in w.keeper_status.get(vid, []) if at >= kill_wall)
        cluster.start_keeper(victim)  # same id, same key file
        restart_wall = time.time()
        await cluster.until(lambda: any(online for at, online in w.keeper_status.get(vid, []) if at > restart_wall),
                            30, f"{vid} to come back online")
        code = await cluster.house_done()
    report = FaultReport("keeper SIGKILL", list(cluster.faults), Audit())

    # Replay the journal, watching the victim's balance from the kill to its second registration: it may move
    # only when a block includes one of the victim's own actions (sent before it died, or after it came back).
    marks: dict[str, int] = {}
    registrations: list[int] = []
    unexplained: list[int] = []  # seqs of inputs that moved the victim's balance without an action of its own
    last = _Last()
    me = f"keeper:{vid}"

    def hook(core: HouseCore, entry: Entry) -> None:
        balance = core.ledger.balance(me, USD)
        if entry.seq == journal_at_kill + 1:
            marks["at_kill"] = balance
        moved = last.balance is not None and balance != last.balance and len(registrations) < 2
        if moved and not (last.kind == "block" and last.pending):
            unexplained.append(entry.seq - 1)
        if entry.seq > journal_at_kill:
            last.balance, last.kind = balance, entry.kind
        is_mine = entry.kind == "action" and f'"keeper":"{vid}"'.encode() in entry.payload.replace(b" ", b"")
        if is_mine and b'"register"' in entry.payload:
            registrations.append(entry.seq)
            if len(registrations) == 2:
                marks["before_reregister"] = balance
        elif len(registrations) == 2 and "after_reregister" not in marks:
            marks["after_reregister"] = balance
        if is_mine and entry.seq > journal_at_kill:
            last.pending = True

    replay = replay_journal(cluster.journal_path, hook)
    report.audit = audit(cluster, replay)
    core = replay.core
    mine = [(e, a) for e, a in action_pairs(replay.entries) if a.keeper == vid]
    nonces = [a.nonce for _, a in mine]
    rereg = registrations[1] if len(registrations) > 1 else None
    in_flight = [a for e, a in mine if rereg is not None and journal_at_kill < e.seq < rereg]
    born = kill_wall * 1e6  # nonces start at the wall-clock microsecond a keeper process starts
    first_life = [a.nonce for _, a in mine if a.nonce < born]
    second_life = [a.nonce for _, a in mine if a.nonce >= born]
    after = [a for e, a in mine if rereg is not None and e.seq > rereg and not isinstance(a, m.Register)]
    final_wins = {a: sum(f.qty for f in r.fills if f.keeper == vid) for a, r in core.results.items()}
    report.checks = {
        "house finished (exit 0)": code == 0,
        "victim shown offline (Last Will)": offline,
        "auctions open at the kill all settled": open_at_kill <= set(core.results),
        "auctions announced while it was dead settled with the others": any(
            a in core.results and core.results[a].fills and all(f.keeper != vid for f in core.results[a].fills)
            for a, at in w.announced.items() if kill_wall < at < restart_wall),
        "wins held at the kill are intact": all(final_wins.get(a) == q for a, q in wins_at_kill.items()),
        "re-registered with the same key": len(registrations) == 2,
        "not funded twice": marks.get("before_reregister") == marks.get("after_reregister"),
        "escrow intact across the restart (moved only by its own actions)": "at_kill" in marks and not unexplained,
        "nonces keep increasing": nonces == sorted(set(nonces)),
        "the second life's nonces are above the first's": bool(first_life) and bool(second_life)
        and min(second_life) > max(first_life),
        "no action of its refused as a replay": not any(r.code == "replay" for r in w.rejected(vid)),
        "acts again after the restart": bool(after),
    }
    report.figures = {"wins_at_kill": len(wins_at_kill), "open_at_kill": len(open_at_kill),
                      "balance": {k: v / 1e6 for k, v in marks.items()}, "actions_after_restart": len(after),
                      "in_flight_at_kill": len(in_flight),
                      "replay_refusals": sum(1 for r in w.rejected(vid) if r.code == "replay")}
    report.seconds = time.time() - t0
    return report


# --- the broker stopped and killed --------------------------------------------------------------------------


async def broker_restart(workdir: Path, *, outage_s: float = 1.0, prefer: Prefer = "auto") -> FaultReport:
    """Stop the broker (SIGTERM), later kill it (SIGKILL); each time start it again on the same port."""
    t0 = time.time()
    async with Cluster(workdir, prefer=prefer) as cluster:
        w = cluster.watcher
        broker = cluster.broker
        assert broker is not None
        await _start(cluster)
        restarts: list[float] = []
        for how, at in (("stopped (SIGTERM)", 0.15), ("killed (SIGKILL)", 0.35)):  # share of the price path
            await cluster.until(_reached(cluster, at * PATH_S), 60, f"scenario time {at * PATH_S:g} s, auctions open")
            if how.startswith("stopped"):
                await broker.stop()
            else:
                await broker.kill()
            cluster.fault(f"broker {how}")
            await asyncio.sleep(outage_s)
            await asyncio.to_thread(broker.spawn)  # the same port
            restarts.append(time.time())
        code = await cluster.house_done(120)
    report = FaultReport("broker restart", list(cluster.faults), audit(cluster))
    replay = replay_journal(cluster.journal_path)
    last = restarts[-1]
    # A restarted broker (persistence off) has forgotten every session: what a keeper publishes before the
    # house has subscribed again reaches no house. Such actions were never accepted; they are counted apart.
    back = [log_time(ev) for house in cluster.house_lives for ev in house.events()
            if ev.get("event") == "mqtt connected" and int(ev.get("connections", 1)) > 1]
    windows = [(r - 0.05, min((b for b in back if b >= r - outage_s), default=r) + 0.5) for r in restarts]
    audit_ = report.audit
    inside = [k for k in audit_.unaccounted if any(a <= audit_.sent_at[k] <= b for a, b in windows)]
    outside = [k for k in audit_.unaccounted if k not in inside]
    connects = {c.name: sum(1 for ev in c.events() if ev.get("event") == "mqtt connected")
                for c in [*cluster.house_lives, *cluster.keepers.values()]}
    acted_after = {k for at, k, _ in w.actions if at > last}
    report.checks = {
        "house finished (exit 0)": code == 0,
        # MqttBus logs "mqtt connected" once it has subscribed again: a count is a resubscription each.
        "every process reconnected and resubscribed after each restart": all(n >= 1 + len(restarts)
                                                                             for n in connects.values()),
        "the house received actions after the last restart (resubscribed)": _received_after(cluster, replay.entries,
                                                                                             last),
        # Not "every keeper": a strategy may find nothing to its taste in the rest of the run.
        "keepers acted after the last restart": bool(acted_after),
        "the watcher saw blocks after the last restart": any(at > last for at, _ in w.blocks),
        "no auction stuck open": not report.audit.lost and report.audit.settled == report.audit.auctions,
        "every action sent outside a restart window was accepted or refused with a reason": not outside,
    }
    # Wall seconds from each restart to each keeper's first action seen after it: a publish in flight when the
    # broker died can hold a sender for aiomqtt's 10 s timeout (see the report).
    resumed = {k: [round(min((at for at, kk, _ in w.actions if kk == k and at > r), default=math.inf) - r, 2)
                   for r in restarts] for k in cluster.keepers}
    report.figures = {"connections": connects, "unseen_results": len(report.audit.unseen_results),
                      "house_status": [online for _, online in w.house_status], "keeper_resumed_after_s": resumed,
                      "dropped_while_the_house_resubscribed": len(inside)}
    report.seconds = time.time() - t0
    return report


def _received_after(cluster: Cluster, entries: list[Entry], wall: float) -> bool:
    """The house received a keeper action published after ``wall``: journaled it, or refused it in its log."""
    seen_after = {payload for at, _, payload in cluster.watcher.actions if at > wall}
    if any(e.kind == "action" and e.payload in seen_after for e in entries):
        return True
    return any(ev.get("event") == "action rejected" and log_time(ev) > wall
               for house in cluster.house_lives for ev in house.events())


# --- the house killed --------------------------------------------------------------------------------------


async def house_sigkill(workdir: Path, *, kills: int = 2, prefer: Prefer = "auto") -> FaultReport:
    """SIGKILL the house while auctions are settled and open, restart it on its journal; ``kills`` times."""
    t0 = time.time()
    async with Cluster(workdir, prefer=prefer) as cluster:
        w = cluster.watcher
        await _start(cluster)
        open_at_kill: set[int] = set()
        for n in range(kills):
            await cluster.until(_settled_and_open(cluster, settled=len(w.results) + 3), 60,
                                "auctions both settled and open")
            house = cluster.house
            assert house is not None
            house.signal(signal.SIGKILL)
            cluster.fault(f"house SIGKILL #{n + 1}")
            if house.wait(5) != -signal.SIGKILL:
                raise FaultError(f"the house did not die of SIGKILL\n{cluster.tails()}")
            open_at_kill |= w.open_auctions()
            await cluster.until(lambda: w.last_house_online() is False, 10, "the house's Last Will (offline)")
            cluster.start_house(resume=True)
            await cluster.until(lambda: w.last_house_online() is True, 30, "the restarted house to come online")
        code = await cluster.house_done(120)
    report = FaultReport("house SIGKILL", list(cluster.faults), audit(cluster))
    with Journal(cluster.journal_path, access="read") as jr:
        entries = list(jr.entries())
    heights = [int(e.payload) for e in entries if e.kind == "block"]
    report.checks = {
        "house finished (exit 0)": code == 0,
        "auctions open at a kill all settled": open_at_kill <= set(w.results) and not report.audit.lost,
        "every block once, in order, across the lives": heights == list(range(1, len(heights) + 1)),
        "one finish row": sum(1 for e in entries if e.kind == "finish") == 1,
        "one outcome per auction": not report.audit.double_settled,
        "final ledger equals an unfaulted run on the same accepted actions": report.audit.matches_unfaulted,
    }
    report.figures = {"open_at_kills": len(open_at_kill), "lives": len(cluster.house_lives)}
    report.seconds = time.time() - t0
    return report


# --- slow and silent keepers -------------------------------------------------------------------------------


async def slow_and_silent(workdir: Path, *, window_s: float = 2.5, gap_s: float = 0.75,
                          prefer: Prefer = "auto") -> FaultReport:
    """One keeper stopped (SIGSTOP) and one slowed (stopped 3/4 of the time) for ``window_s`` wall seconds.

    The house's clock must not stall (no gap between published blocks over ``gap_s`` wall seconds, i.e.
    ``gap_s * speed`` scenario seconds) and the healthy keeper must go on winning auctions.
    """
    t0 = time.time()
    async with Cluster(workdir, prefer=prefer) as cluster:
        w = cluster.watcher
        healthy, silent, slow = (p.keeper_id for p in cluster.plans[:3])
        await _start(cluster)
        await cluster.until(_settled_and_open(cluster, settled=3), 60, "auctions both settled and open")
        cluster.keepers[silent].signal(signal.SIGSTOP)
        cluster.fault(f"keeper {silent} silent (SIGSTOP)")
        cluster.fault(f"keeper {slow} slow (SIGSTOP 3/4 of the time)")
        start = time.time()
        while time.time() - start < window_s:  # the slow keeper runs 50 ms in every 200 ms
            cluster.keepers[slow].signal(signal.SIGSTOP)
            await asyncio.sleep(0.15)
            cluster.keepers[slow].signal(signal.SIGCONT)
            await asyncio.sleep(0.05)
        end = time.time()
        cluster.keepers[silent].signal(signal.SIGCONT)
        code = await cluster.house_done(120)
    report = FaultReport("slow and silent keepers", list(cluster.faults), audit(cluster))
    during = [at for at, _ in w.blocks if start <= at <= end]
    before = [at for at, _ in w.blocks if start - (end - start) <= at < start]
    gap_during = max((b - a for a, b in itertools.pairwise(during)), default=float("inf"))
    gap_before = max((b - a for a, b in itertools.pairwise(before)), default=0.0)
    healthy_wins = [a for a, at in w.announced.items() if start <= at <= end
                    and any(f.keeper == healthy for f in (w.result_msgs[a].fills if a in w.result_msgs else []))]
    healthy_acted = [at for at, k, _ in w.actions if k == healthy and start <= at <= end]
    report.checks = {
        "house finished (exit 0)": code == 0,
        f"the house's blocks kept coming (no gap over {gap_s:g} s)": gap_during <= gap_s,
        "the healthy keeper acted during the window": bool(healthy_acted),
        "the healthy keeper won auctions announced during the window": bool(healthy_wins),
        "no auction stuck open": not report.audit.lost,
    }
    report.figures = {"max_block_gap_during_s": round(gap_during, 3), "max_block_gap_before_s": round(gap_before, 3),
                      "blocks_during": len(during), "healthy_wins_during": len(healthy_wins)}
    report.seconds = time.time() - t0
    return report


SCENARIOS: dict[str, Scenario] = {
    "keeper-sigkill": keeper_sigkill,
    "broker-restart": broker_restart,
    "house-sigkill": house_sigkill,
    "slow-silent": slow_and_silent,
}
