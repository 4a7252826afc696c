"""Smoke tests: every benchmark under bench/ runs at tiny sizes, so that none of them rots.

To add a benchmark, append one ``Case`` to ``CASES``: the module run as ``python -m <module> <argv...>``,
the lines its stdout must contain, and a timeout. Keep the arguments tiny: the whole file should stay
within a few seconds. Full runs are not part of CI (see README, Performance).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.machine import machine_line

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    module: str
    argv: list[str]
    expect: list[str] = field(default_factory=list)  # substrings that must appear in stdout
    timeout: float = 60.0


CASES: list[Case] = [
    Case(
        "bench.detection",
        ["--sizes", "2000,5000", "--events", "6", "--loop-events", "2", "--loop-cap", "3000"],
        [
            "machine: ",
            "loop/detector",
            "detector/floor",
            "5,000",
            "checked: detector == brute force",
            "note: at 5,000 accounts the loop ran on the first 3,000",
        ],
    ),
    Case("bench.machine", ["--broker", "mosquitto 2.0.18"], ["machine: ", "broker mosquitto 2.0.18"]),
    Case(
        "bench.sim_scale",
        ["--sizes", "200,400", "--set", "duration_s=43200", "--budget-s", "30", "--profile", "200",
         "--profile-top", "5"],
        ["scenario black-thursday, design dutch", "events/s", "growth", "cpu_s", "target growth <= 1.30",
         "(on CPU seconds: worst",
         "not checked at 400", "profile by own time", "engine.py"],
    ),
    Case(
        "bench.network",
        ["--seconds", "0.4", "--keepers", "2", "--rate", "100", "--latency-rate", "20", "--accounts", "3000",
         "--house-windows", "256", "--no-profile"],
        ["broker: ", "(a) ceiling", "settled/s", "accepted/s", "p99_ms", "p99 announce -> take", "max lag"],
        timeout=120.0,
    ),
    Case(
        "bench.compare",
        ["--seeds", "1", "--accounts", "60", "--workers", "1"],
        ["whole command", "runs", "CPU of the whole command, workers included", "target whole command < 5 s",
         "not checked (not the default compare)"],
    ),
    Case(
        "bench.sweep",
        ["--seeds", "1", "--accounts", "60", "--no-progress"],
        ["5 designs x 1 seeds = 5 runs", "1 worker(s)", "2 worker(s)", "speed-up",
         "target 2 workers >= 1.8x one worker at 32 seeds", "not checked at 1 seeds", "cores busy of 2",
         "= cores the machine gave"],
        timeout=120.0,
    ),
    Case(
        "bench.stablesims",
        ["--seeds", "1"],
        ["day: 2021-05-19, Dutch auctions", "may-2021 / dutch, seeds 0-0",
         "peer: NOT run (no --peer PATH given)", "s per simulated day (median of 1"],
    ),
    Case(
        "bench.wire",
        ["--iterations", "40", "--repeats", "1"],
        ["encode+decode+verify", "json/msgspec", "Take payload", "per State"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.module for c in CASES])
def test_benchmark_runs_at_tiny_size(case: Case) -> None:
    run = subprocess.run(
        [sys.executable, "-m", case.module, *case.argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=case.timeout,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("machine: ")  # every benchmark prints the machine line first
    for text in case.expect:
        assert text in run.stdout, f"{text!r} missing from:\n{run.stdout}"


def test_machine_line_names_cpu_cores_python_numpy() -> None:
    import numpy as np

    line = machine_line()
    assert line.startswith("machine: ")
    assert " cores" in line and "Python" in line and f"numpy {np.__version__}" in line and "| load " in line
    assert "broker" not in line
    assert machine_line(broker="amqtt 0.11 (embedded)").endswith("| broker amqtt 0.11 (embedded)")


def test_detection_rejects_bad_flags() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.detection", "--sizes", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "--sizes" in run.stderr


def test_stablesims_refuses_a_missing_peer_before_running() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.stablesims", "--peer", str(ROOT / "no-such-stablesims")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == f"error: --peer {ROOT / 'no-such-stablesims'}: no such file or directory"
