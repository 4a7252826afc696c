"""The simulator collects cycles rarely while a run turns, and leaves the process as it found it."""

from __future__ import annotations

import gc

from auction.sim.engine import RUN_GC_THRESHOLDS, sparse_gc


def test_a_run_collects_cycles_sparsely_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with sparse_gc():
        assert gc.get_threshold() == RUN_GC_THRESHOLDS
    assert gc.get_threshold() == before
