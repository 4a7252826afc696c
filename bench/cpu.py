"""A simulation runner for the benchmarks that also records the CPU seconds the run took in its process.

A sweep's worker processes are children of multiprocessing's fork server, not of the benchmark, so the
benchmark's ``RUSAGE_CHILDREN`` never sees them: each run measures its own ``time.process_time`` and hands
it back in ``RunResult.extra[CPU_KEY]``. Summed over a sweep and divided by its wall time, that is how many
cores the sweep actually had, which on a shared machine is what bounds a speed-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from auction.run.result import RunResult
from auction.scenario.tables import Scenario
from auction.sim.engine import run_one

CPU_KEY = "bench_cpu_s"


def timed_run(scenario: Scenario, design: str, seed: int) -> RunResult:
    """``run_one`` (same result), with its CPU seconds in ``extra[CPU_KEY]``."""
    started = time.process_time()
    result = run_one(scenario, design, seed)
    result.extra[CPU_KEY] = time.process_time() - started
    return result


def cpu_seconds(results: Iterable[RunResult]) -> float:
    """The CPU seconds of runs made by ``timed_run``."""
    return sum(r.extra[CPU_KEY] for r in results)
