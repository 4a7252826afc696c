"""The comparison's worker processes start with the simulator imported, from a fork server that `liqnet compare`
starts before it builds its parser; other commands (and a compare without workers) start none."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auction.cli.simulate import will_run_workers

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("argv", "expected"), [
    (["compare"], True),
    (["compare", "--scenario", "gbm-calm", "--seeds", "4"], True),
    (["--log-level", "info", "compare", "--workers", "2"], True),
    (["--log-format=json", "compare", "--workers=3"], True),
    (["compare", "--executor", "process"], True),
    (["compare", "--workers", "1"], False),
    (["compare", "--workers=1"], False),
    (["compare", "--executor", "dask"], False),
    (["compare", "--help"], False),
    (["compare", "-h"], False),
    (["--log-level", "compare", "scenarios"], False),  # "compare" there is --log-level's value (a bad one)
    (["scenarios"], False),
    (["network", "--scenario", "compare"], False),
    (["--version"], False),
    ([], False),
])
def test_only_a_compare_with_workers_starts_them_early(argv: list[str], expected: bool) -> None:
    assert will_run_workers(argv, cores=2) is expected


def test_one_core_means_no_workers_unless_asked() -> None:
    assert not will_run_workers(["compare"], cores=1)
    assert will_run_workers(["compare", "--workers", "2"], cores=1)


PROBE = textwrap.dedent("""
    import sys, time
    from concurrent.futures import ProcessPoolExecutor

    def probe(_):
        return "auction.sim.engine" in sys.modules, "matplotlib" in sys.modules, time.process_time()

    if __name__ == "__main__":
        from auction.compare.workers import context, start_early
        start_early()
        with ProcessPoolExecutor(2, mp_context=context()) as pool:
            print(list(pool.map(probe, range(2))))
""")


def test_workers_start_with_the_simulator_imported(tmp_path: Path) -> None:
    """In a fresh interpreter (the fork server is one per process): each worker finds the simulator already
    imported, having spent next to no CPU of its own, and without matplotlib, which only the report needs."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    seen = ast.literal_eval(run.stdout)
    assert [(sim, mpl) for sim, mpl, _ in seen] == [(True, False), (True, False)]
    assert all(cpu < 0.2 for _, _, cpu in seen), seen  # importing the simulator alone takes ~0.4 s
