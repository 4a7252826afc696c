"""Whole perp runs, every design: value is conserved through liquidation, the insurance fund and ADL."""

from __future__ import annotations

import pytest

from auction import units
from auction.book.positions import MARGIN, PositionBook
from auction.designs import names
from auction.designs.perp_base import PerpSale
from auction.scenario.load import load_scenario
from auction.sim.engine import simulate


@pytest.mark.parametrize("design", names("perp"))
def test_conservation_through_liquidation_insurance_and_adl(design: str) -> None:
    scenario = load_scenario("perp-squeeze")
    sim = simulate(scenario, design, 1, accounts=80)  # audits the ledger at the end
    book = sim.house.book
    assert isinstance(book, PositionBook)
    book.check()  # sizes net to zero, quotes sum to the ledger's perp:margin
    t, ledger = book.tally, sim.ledger
    assert len(sim.house.sales) > 0 and t.closed_notional > 0  # shorts were liquidated on the way up
    sales = [s for s in sim.house.sales.values() if isinstance(s, PerpSale)]
    assert len(sales) == len(sim.house.sales) and sum(s.side < 0 for s in sales) > len(sales) / 2  # mostly shorts
    # The insurance fund moved only by fees in and draws out, each booked.
    start = units.num(scenario.house.insurance_fund)
    assert ledger.balance("insurance") == start + t.fees - t.insurance_paid
    # Funding is a transfer between positions: over the whole run it nets to zero exactly.
    assert int(book.funded.sum()) == 0 and book.funding_paid > 0
    # Every USD the book holds is in perp:margin; every USD the keepers made is in their escrow.
    assert ledger.balance(MARGIN) == int(book.quote.sum())
    if t.adl_count:
        assert t.adl_notional > 0
