"""The house journal and crash recovery, in process: a house stopped mid-run and rebuilt from its journal
ends with exactly the ledger of an uninterrupted house given the same accepted actions."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from auction import units
from auction.book.accounts import generate
from auction.designs import defaults
from auction.designs.dutch import DutchTerms
from auction.errors import ConfigError
from auction.net.funding import Funding
from auction.net.house_core import HouseCore, JournalError, ledger_snapshot
from auction.net.journal import Entry, Journal
from auction.net.runspec import RunSpec, load_run
from auction.params import HouseParams
from auction.scenario.tables import Scenario
from auction.scenario.world import World
from broker import messages as m
from broker.signing import KeyPair

HOUR = 3600.0


def price_at(t: float) -> float:
    """100 -> 55 over four hours, then a partial recovery: many vaults break, some auctions reset."""
    return 100.0 - 45.0 * min(t, 4 * HOUR) / (4 * HOUR) + 8.0 * max(0.0, t - 4 * HOUR) / (2 * HOUR)


def synthetic_world(seed: int = 3, n: int = 60) -> World:
    """A small, fully deterministic world built by hand (no price files): 6 h path, 1 h drain."""
    accounts = generate(n, ("ETH",), np.array([100.0]), seed=seed, debt_mean=20_000.0, cr_low=1.55, cr_high=2.6)
    updates = [(float(t), {"ETH": price_at(t)}) for t in np.arange(0.0, 6 * HOUR + 1, 600.0)]
    return World(
        scenario=Scenario(name="synthetic"), design="dutch", seed=seed, asset="ETH", accounts=accounts,
        designs=defaults(),
        house_params=HouseParams(max_kicks_per_block=4, drain_s=HOUR),
        oracle_updates=updates, end=6 * HOUR,
        market_price=lambda a, t: price_at(t),
        proceeds=lambda a, qty, t: units.cost(qty, units.price_q(price_at(t) * 0.99)),
        gas_cost=lambda gas, gwei, t: units.num(gas * gwei * 1e-9 * 2000.0),
        gas_gwei=lambda t: 20.0 + 10.0 * math.sin(t / HOUR),
    )


def spec(**kw: object) -> RunSpec:
    funding = Funding({"ali": 400_000.0, "bob": 250_000.0}, open_funding=1_000.0, tofu=True)
    base: dict[str, object] = dict(scenario="synthetic", scenario_sha="0" * 64, design="dutch", seed=3, accounts=None,
                                   funding=funding)
    base.update(kw)
    return RunSpec(**base)  # type: ignore[arg-type]


@dataclass
class Keepers:
    """Two scripted keepers: each announced lot is taken 30 minutes later at up to its top price."""

    keys: dict[str, KeyPair] = field(default_factory=lambda: {k: KeyPair.from_seed(bytes([i + 1]) * 32)
                                                              for i, k in enumerate(("ali", "bob"))})
    nonce: dict[str, int] = field(default_factory=lambda: {"ali": 0, "bob": 0})
    pending: list[tuple[float, str, bytes]] = field(default_factory=list)
    turn: int = 0

    def sign(self, keeper: str, action: m.Action) -> bytes:
        return m.encode(self.keys[keeper].sign(action))

    def next_nonce(self, keeper: str) -> int:
        self.nonce[keeper] += 1
        return self.nonce[keeper]

    def register_all(self, t: float) -> None:
        for k in self.keys:
            self.pending.append((t, k, m.encode(self.keys[k].register(k, self.next_nonce(k)))))

    def react(self, out: list[m.Message], t: float) -> None:
        for msg in out:
            if isinstance(msg, m.Announce) and isinstance(msg.terms, DutchTerms):
                keeper = ("ali", "bob")[self.turn % 2]
                self.turn += 1
                take = m.Take(auction=msg.auction, keeper=keeper, amount=msg.lot, max_price_q=msg.terms.top_q,
                              nonce=self.next_nonce(keeper), deadline_ms=round((t + 2 * HOUR) * 1000))
                self.pending.append((t + 1800.0, keeper, self.sign(keeper, take)))

    def due(self, t: float) -> list[tuple[str, bytes]]:
        ready = [(k, p) for at, k, p in self.pending if at <= t]
        self.pending = [x for x in self.pending if x[0] > t]
        return ready


def drive(core: HouseCore, keepers: Keepers, start: float, stop: float, step: float = 5.0) -> int:
    """Advance ``core`` from ``start`` to ``stop`` as the process loop does; returns accepted actions."""
    accepted = 0
    t = start
    while t < stop and not core.at_end:
        t = min(t + step, stop)
        batch = core.due(t)
        for keeper, payload in keepers.due(t):
            entry, refused = core.admit(payload, keeper, t)
            assert not refused, refused
            if entry is not None:
                batch.append(entry)
                accepted += 1
        if batch:
            keepers.react(core.apply(batch), t)
    return accepted


def run_uninterrupted() -> tuple[HouseCore, Keepers]:
    core, keepers = HouseCore(synthetic_world(), spec()), Keepers()
    keepers.register_all(0.0)
    drive(core, keepers, 0.0, core.end + 1)
    core.finish()
    return core, keepers


def test_journal_is_append_only_wal_and_batches_atomically(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as jr:
        assert jr.header() is None
        jr.write_header({"design": "dutch"})
        assert jr.append([Entry("oracle", 0.0, b'{"ETH": 100.0}'), Entry("block", 12.0, b"1")]) == 1
        assert jr.append([Entry("action", 13.25, b"{}")]) == 2
        assert jr.append([]) == 2
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE inputs SET t = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM inputs")
    db.close()
    with Journal(path) as jr:
        rows = list(jr.entries())
        assert [(e.kind, e.t, e.batch) for e in rows] == [("oracle", 0.0, 1), ("block", 12.0, 1), ("action", 13.25, 2)]
        header = jr.header()
        assert header is not None and len(header.pop("run_id")) == 32  # a run id is always recorded
        assert jr.last_batch == 2 and header == {"format": "liqnet.journal/2", "design": "dutch"}


def test_a_house_rebuilt_from_its_journal_ends_with_the_uninterrupted_ledger(tmp_path: Path) -> None:
    reference, _ = run_uninterrupted()
    assert len(reference.house.sales) >= 10 and reference.results  # the path really liquidates

    path = tmp_path / "house.db"
    keepers = Keepers()
    keepers.register_all(0.0)
    first = HouseCore(synthetic_world(), spec(), Journal(path))
    crash_at = 3.3 * HOUR  # mid-run: auctions open, takes in flight
    drive(first, keepers, 0.0, crash_at)
    open_at_crash = set(first.house.open)
    assert open_at_crash and first.house.sales
    first.journal.close()  # type: ignore[union-attr]  # the process dies: nothing else is written

    second = HouseCore(synthetic_world(), spec(), Journal(path))
    pending = second.replay()
    assert second.now == first.now and second.house.height == first.house.height
    assert set(second.house.open) == open_at_crash
    assert ledger_snapshot(second.ledger) == ledger_snapshot(first.ledger)
    assert pending, "the last batch's outcome is published again"
    drive(second, keepers, second.now, second.end + 1)  # keepers kept their own state across the crash
    second.finish()

    assert ledger_snapshot(second.ledger) == ledger_snapshot(reference.ledger)
    assert set(second.results) == set(second.house.sales) == set(reference.results)  # none lost
    assert all(book.closed for book in second.ledger.books.values())
    second.ledger.check()
    second.journal.close()  # type: ignore[union-attr]

    # A third start on the finished journal replays, checks the recorded final ledger and is done.
    third = HouseCore(synthetic_world(), spec(), Journal(path))
    third.replay()
    assert third.finished and ledger_snapshot(third.ledger) == ledger_snapshot(reference.ledger)


def test_replay_refuses_a_journal_whose_final_ledger_does_not_match(tmp_path: Path) -> None:
    path = tmp_path / "house.db"
    with Journal(path) as jr:
        jr.append([Entry("oracle", 0.0, b'{"ETH": 100.0}')])
        jr.append([Entry("finish", 25200.0, b'{"balances": {}, "books": {}}')])
    core = HouseCore(synthetic_world(), spec(), Journal(path))
    with pytest.raises(JournalError, match="recorded at the end"):
        core.replay()


def test_duplicates_are_ignored_and_bad_actions_rejected_without_journaling(tmp_path: Path) -> None:
    core = HouseCore(synthetic_world(), spec(), Journal(tmp_path / "j.db"))
    keys = Keepers()
    reg = m.encode(keys.keys["ali"].register("ali", 1))
    entry, refused = core.admit(reg, "ali", 0.0)
    assert entry is not None and not refused
    core.apply([entry])
    assert core.ledger.escrow("ali") == units.num(400_000)
    ack = m.Ack(keeper="ali", ref=1, height=0, ts_ms=0)
    assert core.admit(reg, "ali", 1.0) == (None, [ack])  # QoS 1 redelivery: no second effect, its receipt again
    forged = m.encode(keys.keys["bob"].sign(m.Redo(auction=1, keeper="ali", nonce=5, deadline_ms=10**9)))
    entry, refused = core.admit(forged, "ali", 1.0)
    assert entry is None and [(r.code, r.ref) for r in refused] == [("bad-signature", 5)]  # type: ignore[union-attr]
    entry, refused = core.admit(b'{"type": "take"', "ali", 1.0)
    assert entry is None and refused[0].code == "malformed"  # type: ignore[union-attr]
    other = m.encode(keys.keys["ali"].sign(m.Redo(auction=1, keeper="ali", nonce=6, deadline_ms=10**9)))
    entry, refused = core.admit(other, "bob", 1.0)  # ali's action on bob's topic
    assert entry is None and refused[0].code == "wrong-keeper"  # type: ignore[union-attr]
    assert core.journal is not None and core.journal.count() == 1  # only the registration


def test_restart_flags_must_agree_with_the_journal_header(tmp_path: Path) -> None:
    path = tmp_path / "house.db"
    with Journal(path) as jr:
        made, _ = load_run("gbm-calm", "fixed", 7, 30, Funding(tofu=True), jr)
    with Journal(path) as jr:
        again, scenario = load_run(None, None, None, None, None, jr)  # everything from the header
        assert (again.scenario, again.design, again.seed, again.accounts) == ("gbm-calm", "fixed", 7, 30)
        assert again.run_id == made.run_id and scenario.accounts.n == 30
        with pytest.raises(ConfigError, match=r"--design dutch disagrees with journal .* records fixed"):
            load_run("gbm-calm", "dutch", None, None, None, jr)
    with pytest.raises(ConfigError, match="--scenario is required"):
        load_run(None, None, None, None, None, None)
