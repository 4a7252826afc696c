"""Sweep benchmark: the black-thursday comparison, its designs x N seeds, with 1 and then 2 workers.

    python -m bench.sweep [--seeds 32] [--scenario black-thursday] [--workers 1,2] [--accounts N]

Prints the machine line, each wall time and the speed-up against 1 worker, measured side by side in one run
(these machines are shared and noisy: only the ratio means much), and the target: 2 workers at least 1.8x one
worker at 32 seeds (after each design's run at the first seed, runs are submitted costliest first,
``auction.compare.sweep.submission_order``, so that no long run starts last). Each run also measures its own CPU
seconds (``bench.cpu``): CPU / wall is how many cores the sweep had. When 2 workers had far less than 2 cores (a
shared machine), the speed-up is bounded by the machine, not by the sweep; the CPU seconds also show whether the
work itself grew with the workers. The progress bar, if any, is on stderr.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from auction.compare.sweep import Runner, compare
from auction.designs import names as design_names
from auction.scenario.load import load_scenario
from bench.cpu import cpu_seconds, timed_run

TARGET_SPEEDUP = 1.8  # 2 workers against 1, at 32 seeds


def measure(
    seeds: int, *, scenario: str = "black-thursday", workers: Sequence[int] = (1, 2),
    designs: Sequence[str] | None = None, runner: Runner | None = None, progress: bool = True,
    accounts: int | None = None,
) -> dict[int, tuple[float, float | None]]:
    """(wall seconds, CPU seconds of the runs) of the whole comparison for each worker count; the CPU seconds
    are None with a ``runner`` of the caller's (only ``bench.cpu.timed_run`` measures them)."""
    s = load_scenario(scenario)
    out: dict[int, tuple[float, float | None]] = {}
    for n in workers:
        started = time.perf_counter()
        result = compare(s, designs or design_names(s.book), seeds, workers=n, runner=runner or timed_run,
                         progress=progress, accounts=accounts)
        wall = time.perf_counter() - started
        out[n] = (wall, None if runner else cpu_seconds(r.result for r in result.runs))
    return out


def report_lines(
    measured: dict[int, tuple[float, float | None]], seeds: int, scenario: str, designs: Sequence[str]
) -> list[str]:
    runs = seeds * len(designs)
    base = measured[min(measured)][0]
    lines = [f"sweep: {scenario}, {len(designs)} designs x {seeds} seeds = {runs} runs"]
    for n, (wall, cpu) in measured.items():
        cores = "" if cpu is None else f"  runs' CPU {cpu:8.2f} s = {cpu / wall:.2f} cores busy of {n}"
        lines.append(f"  {n} worker(s): {wall:8.2f} s  {runs / wall:8.2f} runs/s  speed-up x{base / wall:.2f}{cores}")
    if 1 in measured and 2 in measured:
        up = measured[1][0] / measured[2][0]
        verdict = ("met" if up >= TARGET_SPEEDUP else "NOT met") if seeds >= 32 else f"not checked at {seeds} seeds"
        lines.append(f"target 2 workers >= {TARGET_SPEEDUP:g}x one worker at 32 seeds: x{up:.2f}, {verdict}")
        (w1, c1), (w2, c2) = measured[1], measured[2]
        if c1 is not None and c2 is not None:
            # speed-up = w1 / w2 = (cores busy with 2 / cores busy with 1) / (CPU with 2 / CPU with 1), exactly
            lines.append(f"speed-up x{up:.2f} = cores the machine gave, x{(c2 / w2) / (c1 / w1):.2f} "
                         f"({c1 / w1:.2f} -> {c2 / w2:.2f}), / CPU seconds of the runs, x{c2 / c1:.2f} "
                         "(above 1: the same runs cost more CPU two at a time)")
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
    measured = measure(args.seeds, scenario=args.scenario, workers=workers, progress=args.progress,
                       accounts=args.accounts)
    designs = design_names(load_scenario(args.scenario).book)  # the designs for the scenario's kind of book
    print("\n".join(report_lines(measured, args.seeds, args.scenario, designs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
