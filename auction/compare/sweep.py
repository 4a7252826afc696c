"""Sweeps: scenario x design x seed (x parameter grid point), run in parallel worker processes.

Every run is independent and deterministic from its seed, so runs go to a pool (``concurrent.futures``
with a forkserver/spawn context, never fork: the parent may hold threads) and come back in any order; the
result list is put back in the planned order (design order as given, then grid point, then seed), so the
report never depends on which worker finished first. Runs are handed out costliest first (English runs
take several times a Dutch one), so no worker is left with a long run while the others idle; each
variant's run at the first seed goes before all others, so that the plots drawn from the first seed alone
can be rendered while the other runs go on (``on_first_seed``).

The progress bar advances as each run finishes. Ctrl-C, SIGTERM (``kill``, ``timeout``, ``docker stop``) or a
failing run ends the worker processes at once, rather than waiting for the simulations they are running;
nothing is written then.

Grid keys that belong to one design's table (``dutch.buf``) only multiply that design's runs; keys of
shared tables (``oracle.hop_s``) multiply every design.
"""

from __future__ import annotations

import gc
import itertools
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from auction import designs as registry
from auction.compare.workers import context as worker_context
from auction.compare.workers import exit_with_parent, parent_watch, usable_cores
from auction.errors import ConfigError, Terminated
from auction.run.result import RunResult
from auction.scenario.load import Scenario, split_key, with_overrides

Runner = Callable[[Scenario, str, int], RunResult]
Done = Callable[[int, RunResult], None]  # told of each finished run: its planned index and its result
EXECUTORS = ("process", "dask")
WORKER_GC_THRESHOLDS = (10_000, 10, 10)  # gc.set_threshold in each worker (see _init_worker)


@dataclass(frozen=True, slots=True)
class Variant:
    """One column of the comparison: a design, possibly at one grid point."""

    label: str  # the design name, or "dutch [dutch.buf=1.1]" at a grid point
    design: str
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    variant: Variant
    seed: int
    result: RunResult


@dataclass(slots=True)
class CompareResult:
    scenario: Scenario  # the base scenario, before grid points
    designs: tuple[str, ...]
    seeds: tuple[int, ...]
    variants: tuple[Variant, ...]
    runs: list[Run]  # in planned order: variant, then seed
    grid: dict[str, list[Any]] = field(default_factory=dict)
    mode: str = "sim"  # "network" for runs of `liqnet network`
    prices_file: dict[str, Any] | None = None  # --prices: the file's sha256, time range and what it replaced
    exports: dict[str, str] | None = None  # --export: table -> file name, beside the JSON

    def runs_of(self, variant: Variant) -> list[Run]:
        return [r for r in self.runs if r.variant == variant]


@dataclass(frozen=True, slots=True)
class _Task:
    index: int
    variant: Variant
    seed: int
    scenario: Scenario


def seed_list(scenario: Scenario, seeds: int | Sequence[int]) -> tuple[int, ...]:
    """N seeds -> seed_base, seed_base+1, ...; an explicit list is kept as given."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds: must be >= 1, got {seeds}")
        return tuple(scenario.seed_base + i for i in range(seeds))
    out = tuple(dict.fromkeys(seeds))
    if not out:
        raise ConfigError("--seeds: no seed given")
    return out


def plan(
    scenario: Scenario,
    designs: Sequence[str],
    seeds: Sequence[int],
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> list[_Task]:
    """Every run of the comparison, in the order the report lists them; all overrides checked up front."""
    tasks: list[_Task] = []
    for design in designs:
        registry.check_book(design, scenario.book, scenario.name)
        keys = [k for k in (grid or {}) if _applies(k, design)]
        for point in itertools.product(*[list((grid or {})[k]) for k in keys]):
            params = tuple(zip(keys, point, strict=True))
            variant = Variant(_label(design, params), design, params)
            variant_scenario = with_overrides(scenario, dict(params))
            base = len(tasks)
            tasks.extend(_Task(base + i, variant, seed, variant_scenario) for i, seed in enumerate(seeds))
    return tasks


def submission_order(tasks: Sequence[_Task]) -> list[_Task]:
    """Each variant's run at the first seed, then the others; each part costliest first (accounts x the
    design's relative cost), planned order among equals."""
    first_seed = tasks[0].seed if tasks else None

    def cost(t: _Task) -> float:
        return t.scenario.accounts.n * registry.get(t.variant.design).relative_cost

    return sorted(tasks, key=lambda t: (t.seed != first_seed, -cost(t), t.index))


def compare(
    scenario: Scenario,
    designs: Sequence[str],
    seeds: int | Sequence[int],
    *,
    workers: int | None = None,
    accounts: int | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    executor: str = "process",
    progress: bool = True,
    runner: Runner | None = None,
    log_level: str = "warning",
    on_first_seed: Callable[[CompareResult], None] | None = None,
) -> CompareResult:
    """Run ``scenario`` under each design for each seed (and grid point) and collect the results.

    ``workers`` defaults to the usable cores; 1 runs in this process. ``runner`` replaces the simulator
    (a picklable top-level function, for tests); by default ``auction.sim.engine.run_one``. ``executor``
    "dask" uses dask.distributed: the scheduler in ``DASK_SCHEDULER_ADDRESS`` if set, else a local cluster.
    ``on_first_seed`` is called once, in this process, as soon as every variant's run at the first seed is
    in, with a comparison of those runs alone (for the plots drawn from the first seed).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {executor!r}: choose from {', '.join(EXECUTORS)}")
    if accounts is not None:
        scenario = with_overrides(scenario, {"accounts.n": accounts})
    seed_tuple = seed_list(scenario, seeds)
    grid_dict = {k: list(v) for k, v in (grid or {}).items()}
    tasks = plan(scenario, designs, seed_tuple, grid_dict)
    n_workers = min(max(1, workers or usable_cores()), len(tasks))
    variants = tuple(dict.fromkeys(t.variant for t in tasks))

    def partial(chosen: Sequence[_Task], results: Mapping[int, RunResult]) -> CompareResult:
        runs = [Run(t.variant, t.seed, results[t.index]) for t in chosen]
        return CompareResult(scenario, tuple(designs), seed_tuple, variants, runs, grid_dict)

    first = [t for t in tasks if t.seed == seed_tuple[0]]
    with _progress_bar(len(tasks), enabled=progress) as advance:
        done = _watch(first, partial, advance, on_first_seed)
        if executor == "dask":
            results = _run_dask(tasks, runner, n_workers, done)
        elif n_workers == 1:
            results = _run_inline(tasks, runner, done)
        else:
            results = _run_pool(tasks, runner, n_workers, done, log_level)
    return partial(tasks, results)


def _watch(
    first: Sequence[_Task], partial: Callable[[Sequence[_Task], Mapping[int, RunResult]], CompareResult],
    advance: Callable[[], None], on_first_seed: Callable[[CompareResult], None] | None,
) -> Done:
    """What to do as each run finishes: advance the progress bar and, once the first seed's runs are all in,
    hand them to ``on_first_seed``."""
    waiting = {t.index for t in first}
    seen: dict[int, RunResult] = {}

    def done(index: int, result: RunResult) -> None:
        advance()
        if on_first_seed is None or index not in waiting:
            return
        waiting.discard(index)
        seen[index] = result
        if not waiting:
            on_first_seed(partial(first, seen))

    return done


# --- executors ----------------------------------------------------------------------------------------


def run_task(runner: Runner | None, scenario: Scenario, design: str, seed: int) -> RunResult:
    """What a worker runs: one simulation (module level, so every start method can pickle it)."""
    if runner is None:
        from auction.sim.engine import run_one  # the simulator; imported in the worker

        return run_one(scenario, design, seed)
    return runner(scenario, design, seed)


def _init_worker(log_level: str, watch: Connection) -> None:
    # A terminal's Ctrl-C reaches the whole process group: the parent alone decides, and ends the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(watch)  # and a parent that died without deciding (SIGKILL) takes them with it
    # The garbage collector: what the worker starts with (the simulator's modules) is frozen out of every
    # collection, and a collection waits for 10,000 new containers rather than 700. Collections took ~5% of
    # a Black Thursday run's CPU (0.10 s of 2.1 s for four runs), 1% after. Nothing a run computes depends on
    # when garbage is collected.
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    # A fresh interpreter has structlog's defaults (everything to stdout): configure it like the parent.
    from auction.log import configure_logging

    configure_logging(log_level)


def _run_inline(tasks: list[_Task], runner: Runner | None, done: Done) -> dict[int, RunResult]:
    results = {}
    for t in tasks:
        results[t.index] = run_task(runner, t.scenario, t.variant.design, t.seed)
        done(t.index, results[t.index])
    return results


def _run_pool(
    tasks: list[_Task], runner: Runner | None, workers: int, done: Done, log_level: str
) -> dict[int, RunResult]:
    results: dict[int, RunResult] = {}
    ctx = worker_context()
    watch, keep = parent_watch(ctx)
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(log_level, watch))
    try:
        with _sigterm_unwinds():
            pending: dict[Future[RunResult], int] = {
                pool.submit(run_task, runner, t.scenario, t.variant.design, t.seed): t.index
                for t in submission_order(tasks)
            }
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)  # each run as it finishes
                for future in finished:
                    index = pending.pop(future)
                    results[index] = future.result()  # re-raises a worker's exception here
                    done(index, results[index])
            pool.shutdown(wait=True)
    except BaseException:
        _terminate(pool)
        raise
    finally:
        keep.close()  # after the workers: closed, it tells any worker still running that its parent is gone
        watch.close()
    return results


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While the pool runs, SIGTERM raises ``Terminated`` as Ctrl-C raises KeyboardInterrupt, so that the workers
    are ended too (by default SIGTERM kills this process alone, and each worker would finish its run first).
    Only the main thread may set a handler; elsewhere the default stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """End the workers now. ``shutdown(cancel_futures=True)`` cancels only runs not yet started and still
    waits for the running ones; Python 3.14 has ``terminate_workers()`` for this, earlier versions keep the
    worker processes in ``_processes`` (which ``shutdown`` clears, so they are taken first)."""
    stop = getattr(pool, "terminate_workers", None)
    if stop is not None:
        stop()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=1.0)


def _run_dask(
    tasks: list[_Task], runner: Runner | None, workers: int, done: Done
) -> dict[int, RunResult]:
    try:
        import dask
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("--executor dask needs dask.distributed: pip install 'liqnet[dask]'") from None
    address = dask.config.get("scheduler-address", None)
    # The dashboard on a free port: dask's default, 8787, warns on stderr when another program holds it.
    cluster = None if address else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                dashboard_address=":0")
    client = Client(address) if address else Client(cluster)
    try:
        futures = [
            client.submit(run_task, runner, t.scenario, t.variant.design, t.seed, pure=False,
                          key=f"liqnet-run-{t.index}")
            for t in submission_order(tasks)
        ]
        index = {f.key: t.index for f, t in zip(futures, submission_order(tasks), strict=True)}
        results: dict[int, RunResult] = {}
        for future in as_completed(futures):
            results[index[future.key]] = future.result()
            done(index[future.key], results[index[future.key]])
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def _progress_bar(total: int, *, enabled: bool, console: Any = None) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr, one step per finished run, with elapsed time and an estimate of the
    time left; silent when disabled or when stderr is not a terminal (``console`` replaces stderr in tests)."""
    if not enabled or (console is None and not sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as bar:
        task = bar.add_task("runs", total=total)
        yield lambda: bar.advance(task)


# --- helpers ------------------------------------------------------------------------------------------


def _applies(key: str, design: str) -> bool:
    parts = split_key(key)
    return parts[0] != "designs" or parts[1] == registry.get(design).table


def _label(design: str, params: tuple[tuple[str, Any], ...]) -> str:
    if not params:
        return design
    return f"{design} [" + ", ".join(f"{k}={v}" for k, v in params) + "]"


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["dutch.buf=1.1,1.2", "oracle.kind=instant"]`` -> {"dutch.buf": [1.1, 1.2], "oracle.kind": ["instant"]}.

    Each value is read as a TOML value (numbers, true/false, quoted strings), else kept as a bare string.
    """
    import tomllib

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"--set {item!r}: use KEY=V1,V2,... (e.g. dutch.buf=1.1,1.2,1.3)")
        split_key(key)  # unknown keys fail here, before anything runs
        parsed = []
        for text in values.split(","):
            text = text.strip()
            try:
                parsed.append(tomllib.loads(f"v = {text}")["v"])
            except tomllib.TOMLDecodeError:
                parsed.append(text)
        grid[key] = [v for i, v in enumerate(parsed) if not any(_same(v, w) for w in parsed[:i])]
    return grid


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b
