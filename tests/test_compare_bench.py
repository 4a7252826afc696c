"""Smoke test of bench/sweep.py at a tiny size, so the benchmark never rots (the full run is not in CI)."""

from __future__ import annotations

from pathlib import Path

from bench.sweep import measure, report_lines
from tests.test_compare_sweep import fake_run_one


def test_sweep_bench_smoke(tmp_path: Path) -> None:
    path = tmp_path / "calm.toml"
    path.write_text("[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'universal'\n")
    walls = measure(2, scenario=str(path), workers=(1, 2), designs=("dutch", "fixed"), runner=fake_run_one,
                    progress=False)
    assert set(walls) == {1, 2} and all(w > 0 for w in walls.values())
    lines = report_lines(walls, 2, "calm", ("dutch", "fixed"))
    assert lines[0] == "sweep: calm, 2 designs x 2 seeds = 4 runs"
    assert "1 worker(s)" in lines[1] and "speed-up x1.00" in lines[1] and "2 worker(s)" in lines[2]
