"""Smoke test of bench/sweep.py at a tiny size, so the benchmark never rots (the full run is not in CI)."""

from __future__ import annotations

from pathlib import Path

from auction.scenario.load import load_scenario
from auction.sim.engine import run_one
from bench.cpu import CPU_KEY, timed_run
from bench.sweep import measure, report_lines
from tests.test_compare_sweep import fake_run_one


def test_sweep_bench_smoke(tmp_path: Path) -> None:
    path = tmp_path / "calm.toml"
    path.write_text("[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'universal'\n")
    measured = measure(2, scenario=str(path), workers=(1, 2), designs=("dutch", "fixed"), runner=fake_run_one,
                       progress=False)
    assert set(measured) == {1, 2} and all(w > 0 and cpu is None for w, cpu in measured.values())
    lines = report_lines(measured, 2, "calm", ("dutch", "fixed"))
    assert lines[0] == "sweep: calm, 2 designs x 2 seeds = 4 runs"
    assert "1 worker(s)" in lines[1] and "speed-up x1.00" in lines[1] and "2 worker(s)" in lines[2]
    assert "cores" not in "\n".join(lines)  # a caller's runner measures no CPU: nothing is claimed about cores


def test_sweep_report_splits_the_speedup_into_cores_and_cpu() -> None:
    # 1 worker: 100 s of wall holding 60 CPU seconds (0.6 cores); 2 workers: 50 s holding 66 (1.32 cores)
    lines = report_lines({1: (100.0, 60.0), 2: (50.0, 66.0)}, 32, "bt", ("a", "b"))
    assert "0.60 cores busy of 1" in lines[1] and "1.32 cores busy of 2" in lines[2]
    assert lines[3] == "target 2 workers >= 1.8x one worker at 32 seeds: x2.00, met"
    assert lines[4].startswith("speed-up x2.00 = cores the machine gave, x2.20 (0.60 -> 1.32), / CPU seconds of "
                               "the runs, x1.10")


def test_timed_run_is_run_one_plus_its_cpu_seconds() -> None:
    scenario = load_scenario("gbm-calm")
    timed, plain = timed_run(scenario, "dutch", 1), run_one(scenario, "dutch", 1)
    assert timed.extra.pop(CPU_KEY) > 0
    assert timed.metrics == plain.metrics and timed.extra == plain.extra
