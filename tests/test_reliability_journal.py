"""The journal family of the selftest: a second house, a lost and a cut WAL on a real network, and a finished
journal damaged in every way the selftest knows; each refused by `liqnet house` with exit 2 and one line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from auction.net.funding import Funding
from auction.net.house_core import HouseCore
from auction.net.journal import Journal
from auction.net.runspec import load_run
from auction.net.selftest.families import journal_line
from auction.net.selftest.harness import CHAOS_SCENARIO
from auction.net.selftest.journal_faults import CORRUPTIONS, corruptions, journal_guards
from auction.scenario.build import build_world
from broker import messages as m
from broker.signing import KeyPair
from tests.chaos import explain

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whole chaos run journaled in process (one keeper registered, no broker): rows of every kind."""
    where = tmp_path_factory.mktemp("finished")
    (where / "chaos.toml").write_text(CHAOS_SCENARIO)
    path = where / "house.journal"
    with Journal(path, access="write") as jr:
        spec, loaded = load_run(str(where / "chaos.toml"), "dutch", None, None, Funding(tofu=True), jr)
        core = HouseCore(build_world(loaded, spec.design, spec.seed), spec, jr)
        entry, _ = core.admit(m.encode(KeyPair.from_seed(b"\x09" * 32).register("k00-universal", 1)),
                              "k00-universal", 0.0)
        assert entry is not None
        core.apply([entry])
        while not core.at_end:
            core.apply(core.due(core.next_time(), blocks=50))
        core.finish()
    return path


def test_every_damaged_copy_is_refused_in_one_line_with_exit_2(finished: Path, tmp_path: Path) -> None:
    refusals = corruptions(finished, tmp_path)
    assert [r.name for r in refusals] == list(CORRUPTIONS)
    bad = [(r.name, r.code, r.lines) for r in refusals if not r.refused]
    assert bad == []
    assert all(str(tmp_path) in r.lines[0] for r in refusals)  # each line names the damaged journal


def test_an_undamaged_copy_is_not_refused(finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same harness on an intact journal is not a refusal (it replays, then cannot connect)."""
    import auction.net.selftest.journal_faults as jf

    monkeypatch.setattr(jf, "CORRUPTIONS", {"nothing changed": lambda path: None})
    (intact,) = corruptions(finished, tmp_path)
    assert not intact.refused and intact.code == 1 and "could not connect" in intact.lines[0]


@pytest.mark.broker
def test_a_second_house_and_a_lost_or_cut_wal_are_refused_and_the_run_resumes(tmp_path: Path) -> None:
    report = asyncio.run(journal_guards(tmp_path))
    assert [r.name for r in report.refusals] == ["a second house on the journal", "the WAL deleted after a crash",
                                                 "the WAL cut by 64 bytes"]
    assert all(r.refused for r in report.refusals), explain(report)
    second = report.refusals[0].lines[0]
    assert "is in use by pid" in second and "house.journal" in second
    assert "WAL" in report.refusals[1].lines[0] and "was published" in report.refusals[2].lines[0]
    assert report.ok, explain(report)
    assert report.audit.lost == [] and report.audit.conserved and report.audit.matches_unfaulted
    assert journal_line(report).startswith("journal: a second house on the journal: refused, the WAL deleted after "
                                           "a crash: refused, the WAL cut by 64 bytes: refused (exit 2, one line); "
                                           f"{len(CORRUPTIONS)}/{len(CORRUPTIONS)} damaged copies refused")
