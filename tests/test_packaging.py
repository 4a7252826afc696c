"""What the wheel ships: the three packages with their data and ``py.typed`` (so a strategy author's mypy
checks against the installed API), never ``bench/`` or the tests; and ``liqnet --version``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from auction import __version__
from auction.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-w", str(out), str(ROOT)], check=True, timeout=300)
    (wheel,) = out.glob("liqnet-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_wheel_ships_the_packages_typed_and_their_data(wheel_names: set[str]) -> None:
    for name in ("auction/py.typed", "keepers/py.typed", "broker/py.typed", "keepers/api.py",
                 "auction/scenario/bundled/black-thursday.toml", "auction/data/ATTRIBUTION.md",
                 "auction/data/eth_usd_10m_stablesims_2020-03-12.csv", "keepers/templates/my_strategy.py"):
        assert name in wheel_names, name


def test_wheel_leaves_out_bench_and_tests(wheel_names: set[str]) -> None:
    tops = {n.split("/", 1)[0] for n in wheel_names if "/" in n and ".dist-info" not in n}
    assert tops == {"auction", "keepers", "broker"}


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"liqnet {__version__}" and __version__[0].isdigit()
