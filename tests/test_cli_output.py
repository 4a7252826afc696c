"""What the commands print: wrapped --help with examples kept, tables that keep their width when piped,
intervals at the mean's precision, dask quiet at the default log level, the true --quick factor."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog

from auction import cli
from auction.compare.stats import Interval
from auction.compare.strategy_test import print_table
from auction.compare.summary import cell, short_cell
from auction.scenario.load import list_scenarios

ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


def help_text(command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_is_wrapped_and_keeps_example_lines(command: str, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(command, monkeypatch, capsys)
    long = [line for line in text.splitlines() if len(line) > 80 and not line.startswith("  liqnet ")]
    assert not long, long
    if "examples:" in text:  # each example stays one line, as written
        examples = text.split("examples:", 1)[1].splitlines()[1:]
        assert examples and all(line.startswith("  liqnet ") for line in examples if line.strip()), examples


def test_compare_help_keeps_its_examples_verbatim(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text("compare", monkeypatch, capsys)
    assert "\n  liqnet compare --scenario gbm-calm --set dutch.buf=1.1,1.2,1.3 --designs dutch\n" in text


def test_selftest_quick_help_gives_the_factor_the_suite_uses(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    from auction.net import selftest
    from auction.net.selftest import fuzz

    scales: list[int] = []

    class Report:
        total, accepted, tried, crash_count, figures, ok, crashes = 0, {}, {}, 0, {}, True, []

    def fake_fuzz(seed: int, scale: int) -> Any:
        scales.append(scale)
        return Report()

    monkeypatch.setattr(fuzz, "run_fuzz", fake_fuzz)
    for quick in (True, False):
        selftest.run_suite(tmp_path, quick=quick, only=["inputs"])
    factor = scales[1] // scales[0]
    text = help_text("selftest", monkeypatch, capsys)
    assert f"{factor}x fewer fuzz inputs" in " ".join(text.split())
    readme = (ROOT / "README.md").read_text()
    assert f"liqnet selftest --quick    # CI-sized: one house kill instead of 3, {factor}x fewer fuzz inputs" in readme


@pytest.mark.parametrize(("mean", "half", "short", "long"), [
    (0.07551234, 0.008311, "0.07551 ±0.00831", "0.07551 [0.06720, 0.08382]"),
    (0.238, 0.008311, "0.238 ±0.008", "0.238 [0.230, 0.246]"),
    (3_314_729.4, 12_345.6, "3,314,729 ±12,346", "3,314,729 [3,302,384, 3,327,075]"),
    (161.25, 5.2, "161.25 ±5.20", "161.25 [156.05, 166.45]"),
    (0.0, 0.1, "0 ±0.1", "0 [-0.1, 0.1]"),
])
def test_intervals_are_written_at_the_means_precision(mean: float, half: float, short: str, long: str) -> None:
    iv = Interval(mean, mean - half, mean + half, 8)
    assert short_cell(iv) == short
    assert cell(iv) == long


def test_piped_scenarios_table_keeps_each_row_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, description in list_scenarios():
        assert any(name in line and description in line for line in lines), (name, description)


def test_piped_strategy_test_table_keeps_numbers_whole(capsys: pytest.CaptureFixture[str]) -> None:
    col = {"mean": 1_234_567.0, "ci95": [1_000_000.0, 1_469_134.0]}
    roc = {"mean": 0.0123, "ci95": [0.01, 0.0146]}
    row = {"won": col, "volume": col, "pnl": col, "roc": roc, "errors": col}
    print_table({"strategy": "some/long/path/to/my_strategy.py:MyVeryOwnStrategy", "scenario": "black-thursday",
                 "design": "dutch", "seeds": 8, "rows": {"you": row, "universal": row}})
    lines = capsys.readouterr().out.splitlines()
    you = [line for line in lines if "you" in line]
    assert len(you) == 1 and you[0].count("1,234,567 [1,000,000, 1,469,134]") == 4 and "1.23%" in you[0]


def test_dask_logs_follow_the_log_level(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    scenario = tmp_path / "calm.toml"
    scenario.write_text("[prices]\nsource = 'gbm'\nsteps = 12\n[accounts]\nn = 30\n"
                        "[[keepers]]\nstrategy = 'universal'\n")
    with _port_held(8787):  # dask's default dashboard port, taken by another program (it warned then)
        run = _compare_on_dask(scenario, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr[:2000]  # dask's INFO lines stay under the default warning level
    assert "bad_debt" in run.stdout


@contextmanager
def _port_held(port: int) -> Iterator[None]:
    """Hold ``port`` on 127.0.0.1 while inside (if another program holds it already, so much the better)."""
    with socket.socket() as sock:
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield


def _compare_on_dask(scenario: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auction.cli", "compare", "--scenario", str(scenario), "--designs", "dutch",
         "--seeds", "2", "--executor", "dask", "--workers", "1", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
