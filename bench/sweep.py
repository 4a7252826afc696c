"""Sweep benchmark: the black-thursday comparison, 5 designs x N seeds, with 1 and then 2 workers.

    python -m bench.sweep [--seeds 32] [--scenario black-thursday] [--workers 1,2] [--accounts N]

Prints the machine line, each wall time and the speed-up against 1 worker, measured side by side in one run
(these machines are shared and noisy: only the ratio means much), and the target: 2 workers at least 1.8x
one worker at 32 seeds (runs are submitted costliest first, ``auction.compare.sweep.submission_order``, so
that no long run starts last). The progress bar, if any, is on stderr.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from auction.compare.sweep import Runner, compare
from auction.designs import names as design_names
from auction.scenario.load import load_scenario

TARGET_SPEEDUP = 1.8  # 2 workers against 1, at 32 seeds


def measure(
    seeds: int, *, scenario: str = "black-thursday", workers: Sequence[int] = (1, 2),
    designs: Sequence[str] | None = None, runner: Runner | None = None, progress: bool = True,
    accounts: int | None = None,
) -> dict[int, float]:
    """Wall seconds of the whole comparison for each worker count."""
    s = load_scenario(scenario)
    walls: dict[int, float] = {}
    for n in workers:
        started = time.perf_counter()
        compare(s, designs or design_names(), seeds, workers=n, runner=runner, progress=progress, accounts=accounts)
        walls[n] = time.perf_counter() - started
    return walls


def report_lines(walls: dict[int, float], seeds: int, scenario: str, designs: Sequence[str]) -> list[str]:
    runs = seeds * len(designs)
    base = walls[min(walls)]
    lines = [f"sweep: {scenario}, {len(designs)} designs x {seeds} seeds = {runs} runs"]
    for n, wall in walls.items():
        lines.append(f"  {n} worker(s): {wall:8.2f} s  {runs / wall:8.2f} runs/s  speed-up x{base / wall:.2f}")
    if 1 in walls and 2 in walls:
        up = walls[1] / walls[2]
        verdict = ("met" if up >= TARGET_SPEEDUP else "NOT met") if seeds >= 32 else f"not checked at {seeds} seeds"
        lines.append(f"target 2 workers >= {TARGET_SPEEDUP:g}x one worker at 32 seeds: x{up:.2f}, {verdict}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=32, help="seeds per design (default: %(default)s)")
    parser.add_argument("--scenario", default="black-thursday", help="scenario (default: %(default)s)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default: %(default)s)")
    parser.add_argument("--accounts", type=int, default=None, help="override the scenario's accounts")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    args = parser.parse_args(argv)
    from auction.log import configure_logging
    from bench.machine import machine_line

    configure_logging("warning")  # the simulator logs every rejected action at debug level
    workers = [int(w) for w in args.workers.split(",")]
    print(machine_line())
    walls = measure(args.seeds, scenario=args.scenario, workers=workers, progress=args.progress,
                    accounts=args.accounts)
    print("\n".join(report_lines(walls, args.seeds, args.scenario, design_names())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
