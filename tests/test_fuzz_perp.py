"""The seeded fuzzing of houses running the perp designs (``liqnet selftest``'s bad inputs), at a small size,
and its judge: an acknowledgement the rules must refuse, and a loss the waterfall did not book, are counted."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from auction.book.positions import PositionBook
from auction.designs.perp_market import MarketSale
from auction.net.selftest.fuzz_inputs import FuzzReport
from auction.net.selftest.fuzz_perp import _flat_accounts_hold, _one_house, fuzz_perp, perp_core

pytestmark = pytest.mark.faults


def test_every_perp_design_meets_hostile_actions_and_keeps_its_invariants() -> None:
    report = FuzzReport()
    fuzz_perp(np.random.default_rng(0), 100, report)
    assert report.crash_count == 0, report.describe()
    assert report.accepted == {"perp": 0} and report.tried["perp"] >= 150, report.describe()
    f = report.figures
    assert f["perp_houses"] == 10  # five designs, each on a fall and a rise
    # real work: sales opened, actions the rules took, fills, and the waterfall's ADL reached
    assert f["perp_auctions"] >= 20 and f["perp_acked"] > 0 and f["perp_fills"] > 0 and f["perp_adl"] > 0, f


def test_an_action_acknowledged_by_a_design_that_takes_none_is_wrongly_accepted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def take_anything(self: MarketSale, action: object, now: float, desk: object) -> list[object]:
        self.changed()  # the rule removed: any action is taken (and the sale says it changed)
        return []

    monkeypatch.setattr(MarketSale, "apply", take_anything)
    report = FuzzReport()
    tried, wrong = _one_house(np.random.default_rng(1), "perp-market", "perp-may-2021", 20, report, Counter())
    assert tried > 0 and wrong > 0 and not report.ok
    assert any("acknowledged" in c for c in report.crashes)


def test_a_flat_trader_below_zero_beyond_the_booked_bad_debt_is_a_crash() -> None:
    house = perp_core("perp-dutch", "perp-may-2021")
    while not house.at_end:
        house.apply(house.due(house.next_time()))
    house.finish()
    book = house.world.margin_book
    assert isinstance(book, PositionBook)
    report = FuzzReport()
    _flat_accounts_hold(book, "after the run", report)
    assert report.ok, report.describe()  # as the waterfall left it
    flat = int(np.flatnonzero(~book.size[: book.n].any(axis=1))[0])
    missing = book.tally.bad_debt + 1  # one base unit more than the bad debt booked, moved to the maker
    book.move_quote(flat, book.maker, int(book.quote[flat]) + missing)
    book.check()  # still conserved: only the waterfall's rule is broken
    _flat_accounts_hold(book, "after the run", report)
    assert not report.ok and "below zero" in report.crashes[0]
