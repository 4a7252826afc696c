"""Whole-simulation benchmark: one scenario, one design, one seed, at growing account counts.

    python -m bench.sim_scale [--sizes 10000,100000,1000000] [--scenario black-thursday] [--design dutch]
                              [--seed 0] [--budget-s 900] [--set KEY=VALUE ...] [--profile N [--profile-top 25]]

Each size runs in a fresh child process (so peak memory is that run's alone, read with ``os.wait4``), which
times the world build (prices, oracle, accounts) and the event loop separately and counts the events it
handled. Results are printed against the smallest size measured in the same run: events/s relative to it and
the cost growth ratio, (wall / accounts) / (wall_smallest / accounts_smallest): <= 1 is linear or better.
The child also reports its CPU seconds (build + loop, ``time.process_time``): on a shared machine a process
gets a fraction of a core, and CPU seconds are what the run would take on a core of its own (the targets are
judged on wall time; the CPU figures are printed beside them).

A size that exceeds ``--budget-s`` seconds of event loop is stopped there and reported as a lower bound,
with how far into the scenario's day it got. ``--set`` applies scenario overrides (as ``liqnet compare
--set``), e.g. ``--set gas.block_gas_limit=30000000`` for a chain that never congests. ``--profile N`` runs
size N once more under cProfile (not part of the timings) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from bench.machine import sizes

if TYPE_CHECKING:  # the parent process stays light: the child imports the simulator
    from auction.scenario.tables import Scenario

TARGET_N = 1_000_000
TARGET_S = 30.0
TARGET_RSS_MB = 2048.0
TARGET_GROWTH = 1.3  # time per account at the largest size, against the smallest: within 1.3x of linear
PROGRESS_S = 15.0  # seconds between progress lines on stderr


@dataclass
class Row:
    n: int
    setup_s: float
    run_s: float
    cpu_s: float  # CPU seconds of build + loop in the child (its wall on a core of its own)
    events: int
    auctions: int
    reached: float  # fraction of the scenario's virtual time handled (1.0 = finished)
    rss_mb: float
    finished: bool

    @property
    def wall_s(self) -> float:
        return self.setup_s + self.run_s

    @property
    def events_per_s(self) -> float:
        return self.events / self.run_s if self.run_s > 0 else 0.0


class OverBudget(BaseException):
    """Raised inside the event loop by the timer once the run exceeds its budget. A BaseException, as
    KeyboardInterrupt is: the agent counts a strategy's ``Exception`` as its error and goes on, and would
    swallow a stop that lands inside a strategy call."""


# --- the child: one size, one process ------------------------------------------------------------------


def _scenario(name: str, overrides: Sequence[str]) -> Scenario:
    from auction.compare.sweep import parse_grid
    from auction.errors import ConfigError
    from auction.scenario.load import load_scenario, with_overrides

    scenario = load_scenario(name)
    grid = parse_grid(list(overrides))
    many = [k for k, vs in grid.items() if len(vs) != 1]
    if many:
        raise ConfigError(f"--set {many[0]}: give one value, not a list")
    return with_overrides(scenario, {k: vs[0] for k, vs in grid.items()})


def run_child(args: argparse.Namespace) -> int:
    """Run one size and print one JSON line with its numbers (progress on stderr)."""
    from auction.log import configure_logging

    configure_logging("warning")  # the simulator logs at info/debug: keep it out of the timings
    from auction.scenario.build import build_world
    from auction.sim.engine import Simulation

    n = args.child
    started, cpu_started = time.perf_counter(), time.process_time()
    world = build_world(_scenario(args.scenario, args.set), args.design, args.seed, accounts=n)
    sim = Simulation(world, args.design)
    setup_s = time.perf_counter() - started
    end = max(world.end + world.house_params.drain_s, 1e-9)
    loop_start = time.perf_counter()

    def tick(_sig: int, _frame: FrameType | None) -> None:
        elapsed = time.perf_counter() - loop_start
        print(f"  {n:,} accounts: {elapsed:.0f} s, {sim.kernel.now / end:.0%} of the scenario", file=sys.stderr,
              flush=True)
        if elapsed >= args.budget_s:
            raise OverBudget

    signal.signal(signal.SIGALRM, tick)
    period = min(PROGRESS_S, args.budget_s)
    signal.setitimer(signal.ITIMER_REAL, period, period)
    profiler = cProfile.Profile() if args.profile_out else None
    finished = True
    try:
        if profiler is not None:
            profiler.enable()
        sim.run()
    except OverBudget:
        finished = False
    finally:
        if profiler is not None:
            profiler.disable()
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    run_s = time.perf_counter() - loop_start
    cpu_s = time.process_time() - cpu_started
    if profiler is not None:
        profiler.dump_stats(args.profile_out)
    # Every event pushed was popped unless the run stopped early; _seq counts pushes.
    events = next(sim._seq) - len(sim.queue)
    reached = 1.0 if finished else sim.kernel.now / end
    print(json.dumps({"n": n, "setup_s": setup_s, "run_s": run_s, "cpu_s": cpu_s, "events": events,
                      "auctions": len(sim.house.sales), "reached": reached, "finished": finished}), flush=True)
    return 0


# --- the parent: one child per size ----------------------------------------------------------------------


def measure(n: int, args: argparse.Namespace, profile_out: str | None = None) -> Row:
    """Run size ``n`` in a fresh interpreter; its peak RSS comes from the kernel's rusage of that child."""
    argv = [sys.executable, "-m", "bench.sim_scale", "--child", str(n), "--scenario", args.scenario,
            "--design", args.design, "--seed", str(args.seed), "--budget-s", str(args.budget_s)]
    for item in args.set:
        argv += ["--set", item]
    if profile_out:
        argv += ["--profile-out", profile_out]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(args.budget_s * 3 + 300, proc.kill)  # a child stuck outside the event loop
    watchdog.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        watchdog.cancel()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the {n:,}-account run failed (exit {proc.returncode}); see stderr above")
    got = json.loads(lines[-1])
    return Row(n=n, setup_s=got["setup_s"], run_s=got["run_s"], cpu_s=got["cpu_s"], events=got["events"],
               auctions=got["auctions"], reached=got["reached"], rss_mb=usage.ru_maxrss / 1024,
               finished=got["finished"])


def report(rows: Sequence[Row], budget_s: float) -> list[str]:
    base = rows[0]
    lines = [
        f"{'accounts':>10} {'setup_s':>8} {'loop_s':>9} {'wall_s':>9} {'events':>10} {'events/s':>9} "
        f"{'ev/s vs base':>12} {'auctions':>9} {'peak_MB':>8} {'us/account':>11} {'growth':>8} {'cpu_s':>9} "
        f"{'cpu growth':>10}  done"
    ]
    for r in rows:
        bound = "" if r.finished else ">"
        growth = (r.wall_s / r.n) / (base.wall_s / base.n)
        cpu_growth = (r.cpu_s / r.n) / (base.cpu_s / base.n)
        lines.append(
            f"{r.n:>10,} {r.setup_s:>8.2f} {bound:>1}{r.run_s:>8.1f} {bound:>1}{r.wall_s:>8.1f} {r.events:>10,} "
            f"{r.events_per_s:>9,.0f} {r.events_per_s / base.events_per_s:>11.2f}x {r.auctions:>9,} "
            f"{r.rss_mb:>8.0f} {bound:>1}{r.wall_s / r.n * 1e6:>10.1f} {bound:>1}{growth:>7.2f} "
            f"{bound:>1}{r.cpu_s:>8.1f} {bound:>1}{cpu_growth:>9.2f}  "
            f"{'yes' if r.finished else f'stopped at {budget_s:g} s, {r.reached:.0%} of the day'}"
        )
    lines.append(f"growth = (wall/accounts) / (wall/accounts at {base.n:,}): <= 1.00 is linear or better; "
                 "'>' marks a lower bound (run stopped at the budget); cpu_s: the child's CPU seconds (build + "
                 "loop), what the run takes on a core of its own, and cpu growth the same ratio on them")
    lines += targets(rows)
    return lines


def targets(rows: Sequence[Row]) -> list[str]:
    base, big = rows[0], rows[-1]
    out = []
    if big.n < TARGET_N:
        out.append(f"targets (wall < {TARGET_S:g} s, peak RSS < {TARGET_RSS_MB:g} MB) are for {TARGET_N:,} accounts: "
                   f"not checked at {big.n:,}")
    else:
        bound = "" if big.finished else ">"
        ok = big.finished and big.wall_s < TARGET_S
        out.append(f"target wall < {TARGET_S:g} s at {big.n:,} accounts: {bound}{big.wall_s:.1f} s = "
                   f"{bound}{big.wall_s / TARGET_S:.2f}x the target, {'met' if ok else 'NOT met'} "
                   f"(CPU {bound}{big.cpu_s:.1f} s = {bound}{big.cpu_s / TARGET_S:.2f}x)")
        early = "" if big.finished else " (so far: the run stopped at the budget)"
        out.append(f"target peak RSS < {TARGET_RSS_MB:g} MB at {big.n:,} accounts: {big.rss_mb:.0f} MB = "
                   f"{big.rss_mb / TARGET_RSS_MB:.2f}x the target, "
                   f"{'met' if big.rss_mb < TARGET_RSS_MB else 'NOT met'}{early}")
    if len(rows) > 1:
        worst = max(rows[1:], key=lambda r: r.wall_s / r.n)
        growth = (worst.wall_s / worst.n) / (base.wall_s / base.n)
        bound = "" if worst.finished else ">"
        cpu_worst = max((r.cpu_s / r.n) / (base.cpu_s / base.n) for r in rows[1:])
        out.append(f"target growth <= {TARGET_GROWTH:.2f} (within {TARGET_GROWTH:g}x of linear): worst "
                   f"{bound}{growth:.2f} at {worst.n:,}, {'met' if growth <= TARGET_GROWTH else 'NOT met'} "
                   f"(on CPU seconds: worst {cpu_worst:.2f})")
    return out


def profile_lines(path: str, top: int) -> list[str]:
    """The heaviest functions by own time and by cumulative time, in compact form."""
    lines = []
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buf = io.StringIO()
        stats = pstats.Stats(path, stream=buf)
        stats.sort_stats(key).print_stats(top)
        total = stats.total_tt  # type: ignore[attr-defined]
        lines.append(f"profile by {title} (total {total:.1f} s under cProfile):")
        body = buf.getvalue().splitlines()
        start = next((i for i, line in enumerate(body) if line.lstrip().startswith("ncalls")), len(body))
        lines += ["  " + line.replace(os.getcwd() + os.sep, "") for line in body[start:] if line.strip()]
    return lines


# --- flags ---------------------------------------------------------------------------------------------------



def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.sim_scale", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sizes", type=sizes, default=[10_000, 100_000, 1_000_000],
                   help="account counts, comma-separated (default 10000,100000,1000000)")
    p.add_argument("--scenario", default="black-thursday", help="bundled scenario or file (default black-thursday)")
    p.add_argument("--design", default="dutch", help="auction design (default dutch)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--budget-s", type=_seconds, default=900.0,
                   help="stop a size's event loop after this many seconds, reported as a lower bound (default 900)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="scenario override, as in liqnet compare (repeatable)")
    p.add_argument("--profile", type=int, default=None, metavar="N",
                   help="also run N accounts under cProfile and print where the time goes")
    p.add_argument("--profile-top", type=int, default=25, help="functions listed per profile table (default 25)")
    p.add_argument("--profile-file", default=None, help="keep the cProfile stats in this file (pstats format)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _check(args: argparse.Namespace) -> str | None:
    """One line naming a bad flag, or None; checked in the parent before any child starts."""
    from auction.designs import get as design_named
    from auction.errors import ConfigError

    try:
        design_named(args.design)
        _scenario(args.scenario, args.set)
    except ConfigError as exc:
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.child is not None:
        return run_child(args)
    problem = _check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from bench.machine import machine_line

    print(machine_line())
    sets = f", --set {' '.join(args.set)}" if args.set else ""
    print(f"scenario {args.scenario}, design {args.design}, seed {args.seed}{sets}; each size in a fresh process; "
          f"event-loop budget {args.budget_s:g} s per size")
    rows = []
    for n in args.sizes:
        print(f"running {n:,} accounts", file=sys.stderr, flush=True)
        rows.append(measure(n, args))
    print("\n".join(report(rows, args.budget_s)))
    if args.profile:
        path = args.profile_file or f"/tmp/sim_scale_{args.profile}_{os.getpid()}.pstats"
        print(f"profiling {args.profile:,} accounts", file=sys.stderr, flush=True)
        row = measure(args.profile, args, profile_out=path)
        state = "finished" if row.finished else f"stopped at the budget, {row.reached:.0%} of the day"
        print(f"profile of {row.n:,} accounts (cProfile, not part of the timings above; {state}; "
              f"{row.events:,} events):")
        print("\n".join(profile_lines(path, args.profile_top)))
        if not args.profile_file:
            os.unlink(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
