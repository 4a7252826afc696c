"""Smoke tests of bench/stablesims.py at a tiny size (the full run and the peer are not in CI).

The peer comparison runs only when ``LIQNET_STABLESIMS`` names a checkout of
github.com/BerkeleyBlockchain/stablesims (an external snapshot, never part of liqnet); it takes about 40 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER = os.environ.get("LIQNET_STABLESIMS")


def _bench(*argv: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.stablesims", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_without_peer_says_so_and_times_liqnet() -> None:
    run = _bench("--seeds", "1")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("machine: ")
    assert "peer: NOT run (no --peer PATH given)" in run.stdout
    assert "StableSims/liqnet" not in run.stdout  # no ratio without the peer
    got = re.search(r"^liqnet: ([\d.]+) s per simulated day \(median of 1;", run.stdout, re.M)
    assert got is not None, run.stdout
    assert float(got[1]) > 0


def test_missing_peer_path_is_an_error(tmp_path: Path) -> None:
    run = _bench("--seeds", "1", "--peer", str(tmp_path / "absent"))
    assert run.returncode == 2 and "--peer" in run.stderr and run.stdout == ""


@pytest.mark.slow
@pytest.mark.skipif(not PEER, reason="LIQNET_STABLESIMS is not set: the StableSims peer is an external snapshot, "
                                     "not in CI (set it to a checkout of BerkeleyBlockchain/stablesims)")
def test_peer_comparison_prints_the_ratio() -> None:
    assert PEER is not None and Path(PEER).is_dir(), f"LIQNET_STABLESIMS={PEER} is not a directory"
    run = _bench("--seeds", "1", "--peer", PEER, timeout=900.0)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("machine: ")
    assert "NOT run" not in run.stdout and "stablesims commit=" in run.stdout
    row = re.search(r"^s per simulated day\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x$", run.stdout, re.M)
    assert row is not None, run.stdout
    liqnet, peer, ratio = map(float, row.groups())
    assert liqnet > 0 and peer > 0 and ratio == pytest.approx(peer / liqnet, rel=0.01)
    assert re.search(r"^liqnet is [\d.]+x faster per simulated day \(medians\); target >= 1000x: (met|NOT met)$",
                     run.stdout, re.M)
