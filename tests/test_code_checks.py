"""The code checks README promises run in CI: the layers (import-linter), ruff and mypy, as configured in
pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # check this checkout, whatever is installed
    return subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]' installs import-linter")
    run = _run(exe, "--no-cache")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_ruff_is_clean() -> None:
    run = _run(sys.executable, "-m", "ruff", "check", ".")
    assert run.returncode == 0, run.stdout[-4000:]


def test_mypy_is_clean() -> None:
    run = _run(sys.executable, "-m", "mypy")
    assert run.returncode == 0, run.stdout[-4000:]
