"""Watching a comparison: the progress bar moves per finished run, Ctrl-C ends the workers at once, and a bad
output place is refused before anything runs."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from auction import cli
from auction.compare import sweep
from auction.run.result import RunResult
from auction.scenario.load import Scenario, scenario_from_toml
from tests.test_compare_sweep import GBM, fake_run_one

ROOT = Path(__file__).parents[1]


def uneven_run_one(scenario: Scenario, design: str, seed: int) -> RunResult:
    """English seed 0 takes 2 s, every other run 0.05 s."""
    time.sleep(2.0 if (design, seed) == ("english", 0) else 0.05)
    return fake_run_one(scenario, design, seed)


def test_progress_advances_as_each_run_finishes() -> None:
    tasks = sweep.plan(scenario_from_toml(GBM, label="calm"), ["english", "dutch"], [0, 1, 2])
    stamps: list[float] = []
    results = sweep._run_pool(tasks, uneven_run_one, 2, lambda i, r: stamps.append(time.monotonic()), "warning")
    assert sorted(results) == list(range(6)) and len(stamps) == 6
    # Five short runs are counted while the long one still runs, not all six at its end.
    assert stamps[-1] - stamps[0] > 1.0


def test_first_seed_then_costliest_runs_go_first_and_the_report_keeps_the_planned_order() -> None:
    tasks = sweep.plan(scenario_from_toml(GBM, label="calm"), ["dutch", "fixed", "english"], [5, 6, 7])
    assert [(t.variant.design, t.seed) for t in sweep.submission_order(tasks)] == [
        ("english", 5), ("dutch", 5), ("fixed", 5),
        ("english", 6), ("english", 7), ("dutch", 6), ("dutch", 7), ("fixed", 6), ("fixed", 7)]
    result = sweep.compare(scenario_from_toml(GBM, label="calm"), ["dutch", "fixed", "english"], 2, workers=2,
                           runner=fake_run_one, progress=False)
    assert [r.variant.design for r in result.runs] == ["dutch", "dutch", "fixed", "fixed", "english", "english"]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_seeds_runs_are_handed_over_once_all_are_in(workers: int) -> None:
    """``on_first_seed`` gets each variant's run at the first seed, in planned order, once, while English at
    the second seed (2 s) is still running when there are workers."""
    handed: list[tuple[float, sweep.CompareResult]] = []
    calm = scenario_from_toml(GBM, label="calm")
    result = sweep.compare(calm, ["dutch", "english"], [1, 0], workers=workers, runner=uneven_run_one,
                           progress=False, on_first_seed=lambda r: handed.append((time.monotonic(), r)))
    finished = time.monotonic()
    assert len(handed) == 1
    at, first = handed[0]
    assert [(r.variant.label, r.seed) for r in first.runs] == [("dutch", 1), ("english", 1)]
    assert [r.result.metrics for r in first.runs] == [r.result.metrics for r in result.runs if r.seed == 1]
    assert (first.scenario, first.seeds, first.variants) == (result.scenario, result.seeds, result.variants)
    if workers == 2:
        assert finished - at > 1.0


def test_progress_bar_counts_runs_and_estimates_the_time_left() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with sweep._progress_bar(4, enabled=True, console=console) as advance:
        advance()
        advance()
    text = buf.getvalue()
    assert "runs" in text and "left" in text
    assert sweep._progress_bar.__doc__ and "time left" in sweep._progress_bar.__doc__


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, CPU ticks) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), fields[0], int(fields[11]) + int(fields[12])


def _descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> depth (1 = child)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None and st[1] != "Z":
            parents[int(entry)] = st[0]
    out: dict[int, int] = {}
    frontier = {root: 0}
    while frontier:
        frontier = {pid: frontier[ppid] + 1 for pid, ppid in parents.items() if ppid in frontier}
        out.update(frontier)
    return out


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] != "Z"


@contextmanager
def _sigint_as_in_a_terminal() -> Iterator[None]:
    """Children started inside get SIGINT at its default, as a terminal's foreground job has it.

    A suite started as a background job of a script (``python3 -m pytest ... &``: the shell, without job
    control, starts it with SIGINT ignored) hands the ignored SIGINT down to the command, which then rightly
    keeps ignoring it (Python leaves an inherited SIG_IGN alone, as ``nohup`` and such jobs expect): the test
    would measure the runs' end, not Ctrl-C's. A handler set here is reset to the default in the child by exec.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize(("signum", "code", "line"), [
    (signal.SIGINT, 130, "liqnet: interrupted"),  # Ctrl-C
    (signal.SIGTERM, 143, "liqnet: terminated"),  # kill, timeout, docker stop
])
def test_ctrl_c_ends_the_workers_within_two_seconds(tmp_path: Path, signum: int, code: int, line: str) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with _sigint_as_in_a_terminal():
        proc = subprocess.Popen(
            [sys.executable, "-m", "auction.cli", "compare", "--designs", "english", "--seeds", "4", "--workers",
             "2", "--accounts", "6000", "--out", str(out), "--no-progress"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Ready when two worker processes (grandchildren: forked by the forkserver) have each run 1 s of CPU.
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "workers never got busy"
            workers = [pid for pid, depth in _descendants(proc.pid).items()
                       if depth == 2 and (st := _stat(pid)) is not None and st[2] >= 100]
            time.sleep(0.02)
        os.kill(proc.pid, signum)
        sent = time.monotonic()
        while any(_alive(pid) for pid in workers) and time.monotonic() - sent < 10:
            time.sleep(0.01)
        stopped = time.monotonic() - sent
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"workers gone {stopped:.3f} s after {signal.Signals(signum).name}")
    assert stopped < 2.0, f"workers still running {stopped:.1f} s after {signal.Signals(signum).name}"
    assert proc.returncode == code
    assert stderr.strip() == line, stderr
    assert not out.exists()  # nothing written, not even the directory


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_compare_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGKILL gives the parent no chance to end its workers: they, the fork server and its helpers go by themselves."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auction.cli", "compare", "--designs", "english", "--seeds", "4", "--workers", "2",
         "--accounts", "6000", "--out", str(tmp_path / "out"), "--no-progress"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        busy: list[int] = []
        while len(busy) < 2:
            assert proc.poll() is None, "compare ended before its workers got busy"
            assert time.monotonic() < deadline, "workers never got busy"
            family = _descendants(proc.pid)
            busy = [pid for pid, depth in family.items()
                    if depth == 2 and (st := _stat(pid)) is not None and st[2] >= 100]
            time.sleep(0.02)
        proc.kill()
        proc.wait(timeout=30)
        killed = time.monotonic()
        while any(_alive(pid) for pid in family) and time.monotonic() - killed < 10:
            time.sleep(0.01)
        left = [pid for pid in family if _alive(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # leave nothing behind either way
    print(f"{len(family)} processes of a killed compare gone {time.monotonic() - killed:.3f} s after")
    assert not left, f"{len(left)} of {len(family)} processes still running 10 s after the compare was killed"


@pytest.mark.parametrize(("flag", "make", "expected"), [
    ("--out", "file", "is a file, not a directory"),
    ("--json", "dir", "is a directory; give a file name"),
    ("--out", "file-parent", "is a file, not a directory"),
])
def test_bad_output_place_is_refused_before_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], flag: str, make: str,
                                                   expected: str) -> None:
    def no_run(*args: object) -> RunResult:
        raise AssertionError("a simulation ran")

    monkeypatch.setattr(sweep, "run_task", no_run)
    target = tmp_path / "x"
    if make == "dir":
        target.mkdir()
    else:
        target.write_text("keep me")
    if make == "file-parent":
        target = target / "reports"
    scenario = tmp_path / "calm.toml"
    scenario.write_text(GBM)
    argv = ["compare", "--scenario", str(scenario), "--seeds", "1", "--workers", "1", "--no-progress", flag,
            str(target)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("liqnet: error: ") and expected in err, err
    assert (tmp_path / "x").is_dir() or (tmp_path / "x").read_text() == "keep me"
