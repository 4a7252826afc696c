"""Floods and stalls against the house's clock: a real network, a stranger flooding it, a broker paused.

Each scenario runs the chaos network at ``FLOOD_SPEED`` (a 12 s block every 20 ms of wall time) and watches the
house's blocks as a subscriber sees them, with wall-clock arrival times:

- ``flood_one_id``: ``RATE`` actions per second from one keeper id for ``FLOOD_S`` seconds, raw QoS 0 publishes
  (what a hostile client sends, no library pacing it);
- ``flood_rotating_ids``: the same with a new keeper id for every message (a per-id limit alone does nothing);
- ``flood_funded_id``: the same from an id the house funds (a compromised keeper): over its rate it is dropped,
  far over it the house stops listening to it for a while;
- ``broker_paused``: the broker stopped (SIGSTOP) for ``seconds``, then let go (SIGCONT).

What each must show: the blocks kept coming during a flood (no stall: at least ``KEPT`` of the blocks the clock
owed), no burst after a flood or a pause (no wall second with more than ``BURST`` times the blocks the speed
asks for), the house still running (and after a long pause, resumed by itself), its memory bounded, at most
one rejection per flooding id per window, and honest keepers' actions still accepted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auction.net.selftest.harness import Cluster
from auction.net.selftest.procs import cpu_wait_s, rss_kib
from broker.child_process import popen_tied
from broker.server import Prefer

FLOOD_SPEED = 600.0  # scenario seconds per wall second: a block every 20 ms
RATE, FLOOD_S = 10_000, 5.0  # actions per second, for this long
KEPT = 0.8  # of the blocks the clock owed during a flood, at least this share must come
BURST = 2.0  # no wall second may bring more than BURST x the blocks the speed asks for
MEMORY_MIB = 64  # the house may grow by at most this much during a flood
RATE_LIMIT = 500.0  # the house's default --rate-limit (actions a wall second per keeper)
HONEST = 0.8  # of the honest keepers' actions sent during and after a flood, at least this share accepted


@dataclass(slots=True)
class FloodReport:
    name: str
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def describe(self) -> str:
        return f"{self.name}: failed={[k for k, v in self.checks.items() if not v]} figures={self.figures}"


def blocks_between(cluster: Cluster, start: float, end: float) -> list[float]:
    return [at for at, _ in cluster.watcher.blocks if start <= at <= end]


def burst(times: list[float], window: float = 1.0) -> int:
    """The most blocks that arrived within any ``window`` wall seconds."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _flood_process(port: int, ids: str, rate: int, seconds: float) -> tuple[int, float, float]:
    """The flood, sent by a process of its own (``flooder``, which says why): how many publishes went out, and
    the wall times of the first and after the last."""
    argv = [sys.executable, "-m", "auction.net.selftest.flooder", str(port), ids, str(rate), str(seconds)]
    proc = popen_tied(argv, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=seconds + 120)
    got = json.loads(out.decode().splitlines()[-1])
    return int(got["sent"]), float(got["start"]), float(got["end"])


async def _flood_run(workdir: Path, name: str, ids: str, prefer: Prefer, *, funded: str | None = None) -> FloodReport:
    t0 = time.time()
    report = FloodReport(name)
    funds = {funded: 100.0} if funded else None
    async with Cluster(workdir, speed=FLOOD_SPEED, prefer=prefer, watch_actions=False, funds=funds) as cluster:
        w = cluster.watcher
        cluster.start_keepers()
        house = cluster.start_house()
        await cluster.until(cluster.started, 60, "the house's clock to start")
        await asyncio.sleep(1.0)  # a second of normal blocks to compare with
        assert cluster.broker is not None and house.proc is not None
        rss0, wait0 = rss_kib(house.proc.pid), cpu_wait_s(house.proc.pid)
        sent, start, end = await asyncio.to_thread(_flood_process, cluster.broker.port, ids, RATE, FLOOD_S)
        rss1, wait1 = rss_kib(house.proc.pid), cpu_wait_s(house.proc.pid)
        await asyncio.sleep(3.0)  # what comes after: a backlog would burst here
        after = time.time()
        alive = house.alive()
        house.signal(signal.SIGTERM)
        await asyncio.to_thread(house.wait, 10)
    honest, accepted = _honest(cluster, start, after)
    before = blocks_between(cluster, start - 1.0, start)
    during = blocks_between(cluster, start, end)
    later = blocks_between(cluster, end, after)
    owed = (end - start) * FLOOD_SPEED / 12.0
    # A block is owed for the time the house could run: the time its main thread waited for a CPU that the
    # machine's other work held (a shared, loaded host) is not. The flood's own cost to the house is its running
    # time, still owed: a house busy with the flood instead of its blocks fails as before.
    off_cpu = min(max(0.0, wait1 - wait0), end - start)
    owed_on_cpu = (end - start - off_cpu) * FLOOD_SPEED / 12.0
    per_second = FLOOD_SPEED / 12.0
    flooded = {r.keeper for _, r in w.rejections if r.keeper not in cluster.keepers}
    rejections = sum(1 for _, r in w.rejections if r.keeper not in cluster.keepers)
    report.figures = {"sent": sent, "seconds": round(end - start, 2), "blocks_owed": round(owed),
                      "blocks_during": len(during), "house_waiting_for_a_cpu_s": round(off_cpu, 2),
                      "blocks_owed_while_it_could_run": round(owed_on_cpu), "blocks_in_the_second_before": len(before),
                      "max_blocks_in_a_second_after": burst(later), "blocks_per_second_asked": per_second,
                      "house_rss_growth_mib": round((rss1 - rss0) / 1024, 1), "rejections_to_flooders": rejections,
                      "flooding_ids_answered": len(flooded), "honest_actions_sent": honest,
                      "honest_actions_accepted": accepted}
    answered: dict[str, list[float]] = {}
    for at, r in w.rejections:
        if r.keeper not in cluster.keepers:
            answered.setdefault(r.keeper, []).append(at)
    most = max((burst(times, 0.9) for times in answered.values()), default=0)
    report.figures["most_rejections_to_one_id_within_0.9_s"] = most
    report.checks = {
        f"blocks kept coming during the flood (at least {KEPT:.0%} of those owed while the house could run)":
            len(during) >= KEPT * owed_on_cpu,
        f"no burst after it (no second above {BURST:g}x the speed's blocks)": burst(later) <= BURST * per_second,
        f"the house's memory grew by less than {MEMORY_MIB} MiB": rss1 - rss0 < MEMORY_MIB * 1024,
        "the house kept running": alive,
        # A stranger is answered once a window; an id the house funds gets an answer for each action its rate
        # admitted (its burst, then RATE_LIMIT a second), and one a window beyond.
        "at most one rejection per flooding id per window" if funded is None else
        "answers to the funded id within what its rate admits": most <= 1 if funded is None else
        rejections <= 2 * RATE_LIMIT + (RATE_LIMIT + 1) * (end - start + 3),
        f"honest keepers' actions accepted (at least {HONEST:.0%} of those sent)": accepted >= HONEST * honest,
    }
    report.seconds = time.time() - t0
    return report


def _honest(cluster: Cluster, start: float, end: float) -> tuple[int, int]:
    """Honest keepers' actions sent during the window (their own "action sent" lines) and, of those, how many
    the house accepted (journaled)."""
    from auction.net.journal import Journal
    from auction.net.selftest.harness import action_pairs, log_time

    with Journal(cluster.journal_path, access="read") as jr:
        accepted = {(a.keeper, a.nonce) for _, a in action_pairs(list(jr.entries()))}
    sent = {(str(ev["keeper"]), int(ev["nonce"])) for child in cluster.keepers.values() for ev in child.events()
            if ev.get("event") == "action sent" and ev.get("type") != "register" and start <= log_time(ev) <= end}
    return len(sent), len(sent & accepted)


async def flood_one_id(workdir: Path, *, prefer: Prefer = "auto") -> FloodReport:
    return await _flood_run(workdir, "flood from one id", "one:mallory", prefer)


async def flood_funded_id(workdir: Path, *, prefer: Prefer = "auto") -> FloodReport:
    """A keeper the house funds (a compromised one) floods: dropped over its rate, then not listened to."""
    return await _flood_run(workdir, "flood from one funded id", "one:mallory", prefer,
                            funded="mallory")


async def flood_rotating_ids(workdir: Path, *, prefer: Prefer = "auto") -> FloodReport:
    return await _flood_run(workdir, "flood from rotating ids", "rotating:r", prefer)


async def broker_paused(workdir: Path, *, seconds: float = 10.0, prefer: Prefer = "auto") -> FloodReport:
    """SIGSTOP the broker for ``seconds``; the house must not burst afterwards, and must resume by itself."""
    t0 = time.time()
    report = FloodReport(f"broker paused {seconds:g} s")
    async with Cluster(workdir, speed=FLOOD_SPEED, prefer=prefer, watch_actions=False) as cluster:
        cluster.start_keepers()
        house = cluster.start_house()
        await cluster.until(cluster.started, 60, "the house's clock to start")
        await asyncio.sleep(1.0)
        broker = cluster.broker
        assert broker is not None and broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)
        paused = time.time()
        await asyncio.sleep(seconds)
        broker.proc.send_signal(signal.SIGCONT)
        resumed = time.time()
        try:
            await cluster.until(lambda: any(at > resumed + 0.5 for at, _ in cluster.watcher.blocks), seconds + 60,
                                "blocks after the pause")
            came_back = True
        except Exception:
            came_back = False
        await asyncio.sleep(3.0)
        after = time.time()
        alive = house.alive()
        code = house.proc.returncode if house.proc is not None else None
        house.signal(signal.SIGTERM)
        await asyncio.to_thread(house.wait, 10)
    later = blocks_between(cluster, resumed, after)
    per_second = FLOOD_SPEED / 12.0
    report.figures = {"paused_s": round(resumed - paused, 1), "max_blocks_in_a_second_after": burst(later),
                      "blocks_per_second_asked": per_second, "house_exit_code_during": code}
    report.checks = {
        f"no burst after the pause (no second above {BURST:g}x the speed's blocks)": burst(later) <= BURST * per_second,
        "the house resumed by itself, still running": came_back and alive,
    }
    report.seconds = time.time() - t0
    return report
