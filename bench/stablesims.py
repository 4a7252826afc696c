"""StableSims benchmark: liqnet's 2021-05-19 Dutch-auction day against the StableSims peer, side by side.

    python -m bench.stablesims [--seeds 32] [--peer PATH [--peer-runs 1] [--harness RUN_SH]]

liqnet runs the ``may-2021`` scenario on the ``dutch`` design for seeds 0..N-1 in this process. With
``--peer PATH`` (a checkout of github.com/BerkeleyBlockchain/stablesims, which is never part of liqnet),
the shared harness (``run.sh``, see its README) then runs StableSims' ``dutch_auctions`` experiment on the
same day, one fresh process per run, and the ratio StableSims / liqnet is printed. Without ``--peer`` the
peer is not run and only liqnet's figure is printed. Both are timed in-process, without interpreter start
or imports: liqnet around the simulator call, the peer by the harness around ``DutchAuctionsExperiment.run``.

What the two simulate (same day, same feeds, same kind of auction; different amounts of work):

* Day and data: both use StableSims' 2021-05-19 feeds, 10-minute ETH closes, gas and Uniswap v2 ETH/DAI
  reserves as market depth. liqnet's oracle is Maker's OSM (one hour behind); StableSims pokes the
  current close.
* Auctions: both are Liquidations 2.0 (Dog.bark -> Clipper.kick, descending price, take / redo). StableSims:
  LinearDecrease over 12 h, buf 1.05, tip 1000 DAI (run.py's sweep point); liqnet: the 2021 ETH-A
  stairstep (buf 1.30, 1% per 90 s), tip 300 DAI. Both chip 0.001, chop 1.13.
* Vaults: liqnet 2,000 accounts; StableSims about 50 (65 vault-owning agents each open one vault, those
  drawing a padding above 1 cannot). Auctions started: liqnet about 900, StableSims about 36 (its ``barks``).
* Keepers: liqnet 6 (2 universal, 3 constrained, 1 zero-bid) plus the house that kicks; StableSims 66
  agents (50 vault owners, 5 barkers, 5 takers, 5 redoers, 1 spotter), most idle after the first step.
* Granularity: liqnet is event-driven on 12 s blocks (3M gas each) over 23 h 50 min of prices plus a 6 h
  drain (8,950 blocks); StableSims takes 144 ten-minute steps with every agent acting once per step.

Normalization: the headline ratio, and the target (liqnet >= 1000x faster), are per simulated day, the
issue's unit: median seconds for one whole day on each side. Because liqnet's day holds about 25x more
auctions, the table also shows seconds per auction started (total wall / total auctions), which is
indicative only and flatters liqnet: neither simulator's cost is linear in auctions, and liqnet's fixed
per-block cost is spread over ~900 auctions (once, by hand, at the peer's size of 50 vaults liqnet took
0.09 s per day for ~21 auctions: ~390x per day, ~240x per auction). About three quarters of the peer's time
is re-parsing its feed JSON files on every price, gas and reserve look-up (cProfile of one run).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from auction.scenario.load import load_scenario
from auction.sim.engine import run_one
from bench.machine import positive_int


class Day(NamedTuple):
    auctions: int  # auctions started during the day
    accounts: int  # vaults in the scenario


def _liqnet_day(seed: int) -> Day:
    """liqnet's single call site: simulate 2021-05-19 (``may-2021``) on ``dutch`` with ``seed``."""
    scenario = load_scenario("may-2021")
    result = run_one(scenario, "dutch", seed)
    return Day(auctions=int(result.metrics["auctions"]), accounts=scenario.accounts.n)


DAY = "05-19-2021"  # the peer's name for the day; liqnet's scenario is may-2021
TARGET_RATIO = 1000.0
DEFAULT_HARNESS = "/work/shared/peers/stablesims/run.sh"
_RUN = re.compile(r"^stablesims (\S+) run=(\d+) wall_s=([\d.]+) steps=(\d+) barks=(\d+) takes=(\d+)$")


@dataclass
class Side:
    """One simulator's days: wall seconds and auctions started for each."""

    name: str
    walls: list[float]
    auctions: list[int]
    vaults: str  # as reported in the table ("2,000", "~50")
    setup: str  # what was run, one line

    @property
    def median_s(self) -> float:
        return statistics.median(self.walls)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.walls)

    @property
    def per_auction_s(self) -> float:
        n = sum(self.auctions)
        return sum(self.walls) / n if n else float("nan")


def measure_liqnet(seeds: int) -> Side:
    """Run liqnet's day for seeds 0..seeds-1 in this process, timing each."""
    walls, auctions, accounts = [], [], 0
    for seed in range(seeds):
        started = time.perf_counter()
        day = _liqnet_day(seed)
        walls.append(time.perf_counter() - started)
        auctions.append(day.auctions)
        accounts = day.accounts
    return Side("liqnet", walls, auctions, f"{accounts:,}",
                f"may-2021 / dutch, seeds 0-{seeds - 1}, all in one process")


def measure_peer(peer: Path, runs: int, harness: Path, timeout_s: float) -> Side:
    """Run StableSims through the shared harness in a subprocess; one fresh peer process per run."""
    env = dict(os.environ)
    env.setdefault("PYTHON", sys.executable)  # the same interpreter as liqnet, in the harness's own venv
    proc = subprocess.run(["bash", str(harness), str(peer), DAY, str(runs)], capture_output=True, text=True,
                          env=env, timeout=timeout_s, check=False)
    rows = [m for m in map(_RUN.match, proc.stdout.splitlines()) if m]
    if proc.returncode != 0 or len(rows) != runs:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise RuntimeError(f"the StableSims harness failed (exit {proc.returncode}):\n{tail}")
    info = next((line[2:] for line in proc.stderr.splitlines() if line.startswith("# stablesims commit=")), "")
    steps = {int(m[4]) for m in rows}
    return Side("StableSims", [float(m[3]) for m in rows], [int(m[5]) for m in rows], "~50",
                f"{info or peer}; {runs} run(s), each a fresh process; {'/'.join(map(str, steps))} steps of 10 min")


def _span(walls: Sequence[float], digits: int) -> str:
    return f"{min(walls):.{digits}f}-{max(walls):.{digits}f}"


def report(liqnet: Side, peer: Side | None) -> list[str]:
    """The result table; ratios are StableSims / liqnet (how many times faster liqnet is)."""
    n = len(liqnet.walls)
    lines = [f"day: 2021-05-19, Dutch auctions (Liquidations 2.0); liqnet: {liqnet.setup}"]
    if peer is None:
        lines += [
            "peer: NOT run (no --peer PATH given): StableSims was not measured, so there is no ratio; "
            "liqnet's figure alone follows",
            f"liqnet: {liqnet.median_s:.3f} s per simulated day (median of {n}; mean {liqnet.mean_s:.3f}, "
            f"min {min(liqnet.walls):.3f}, max {max(liqnet.walls):.3f}); "
            f"{statistics.fmean(liqnet.auctions):,.0f} auctions per day, {liqnet.vaults} vaults",
        ]
        return lines
    lines.append(f"peer: StableSims, {peer.setup}")
    ratio = peer.median_s / liqnet.median_s
    auction_ratio = peer.per_auction_s / liqnet.per_auction_s
    more = statistics.fmean(liqnet.auctions) / max(statistics.fmean(peer.auctions), 1e-9)
    head = f"{'':<28} {'liqnet':>12} {'StableSims':>12} {'StableSims/liqnet':>18}"
    lines += [
        head,
        f"{'days measured':<28} {n:>12} {len(peer.walls):>12}",
        f"{'s per simulated day':<28} {liqnet.median_s:>12.3f} {peer.median_s:>12.2f} {ratio:>17.1f}x",
        f"{'  (mean)':<28} {liqnet.mean_s:>12.3f} {peer.mean_s:>12.2f} {peer.mean_s / liqnet.mean_s:>17.1f}x",
        f"{'  (min-max)':<28} {_span(liqnet.walls, 3):>12} {_span(peer.walls, 1):>12}",
        f"{'vaults':<28} {liqnet.vaults:>12} {peer.vaults:>12}",
        f"{'auctions started per day':<28} {statistics.fmean(liqnet.auctions):>12,.0f} "
        f"{statistics.fmean(peer.auctions):>12,.0f}",
        f"{'ms per auction (indicative)':<28} {liqnet.per_auction_s * 1e3:>12.2f} {peer.per_auction_s * 1e3:>12.0f} "
        f"{auction_ratio:>17.0f}x",
        f"liqnet is {ratio:.1f}x faster per simulated day (medians); target >= {TARGET_RATIO:g}x: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}",
        f"per auction is a normalization only and flatters liqnet (its day holds {more:.0f}x the auctions, on "
        f"{liqnet.vaults} vaults against {peer.vaults}; see bench/stablesims.py); the target is per day",
    ]
    return lines


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.stablesims", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seeds", type=positive_int, default=32, help="liqnet seeds, run in one process (default 32)")
    p.add_argument("--peer", type=Path, default=None, metavar="PATH",
                   help="checked-out StableSims repository (a git checkout); without it the peer is not run")
    p.add_argument("--peer-runs", type=positive_int, default=1,
                   help="StableSims runs, each a fresh process of about 40 s (default 1)")
    p.add_argument("--harness", type=Path, default=Path(os.environ.get("LIQNET_STABLESIMS_HARNESS", DEFAULT_HARNESS)),
                   help="the shared harness run.sh (default $LIQNET_STABLESIMS_HARNESS or %(default)s)")
    p.add_argument("--peer-timeout-s", type=float, default=3600.0, help="give up on the peer after this (default 3600)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.peer is not None:
        for path, what in ((args.peer, "--peer"), (args.harness, "--harness")):
            if not path.exists():
                print(f"error: {what} {path}: no such file or directory", file=sys.stderr)
                return 2
    from auction.log import configure_logging
    from bench.machine import machine_line

    configure_logging("warning")  # the simulator logs every rejected action at debug level
    print(machine_line(), flush=True)
    print(f"running liqnet, {args.seeds} seed(s)", file=sys.stderr, flush=True)
    liqnet = measure_liqnet(args.seeds)
    peer = None
    if args.peer is not None:
        print(f"running StableSims via {args.harness}, {args.peer_runs} run(s)", file=sys.stderr, flush=True)
        try:
            peer = measure_peer(args.peer, args.peer_runs, args.harness, args.peer_timeout_s)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print("\n".join(report(liqnet, peer)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
