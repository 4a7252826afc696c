"""Settlement ledger: exact conservation, refusals that change nothing, and the debt identity."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction import units
from auction.book.ledger import USD, Ledger
from auction.curves import StairstepExponentialDecrease
from auction.dutch import DutchAuction
from auction.errors import Rejected

ETH, DAI = units.col, units.num


def setup_ledger() -> Ledger:
    led = Ledger()
    led.open_account("acct:1", {"ETH": ETH(40)}, debt=DAI(100))
    for k in ("ali", "bob"):
        led.mint(f"keeper:{k}", USD, DAI(1000))
    led.mint("insurance", USD, DAI(5))
    led.mint("market", USD, DAI(1_000_000))
    return led


def snapshot(led: Ledger) -> tuple[object, ...]:
    return (dict(led.bal), dict(led.supply), dict(led.debt), copy.deepcopy(led.books), copy.copy(led.totals))


def test_auction_repays_debt_then_penalty_and_returns_the_rest() -> None:
    led = setup_ledger()
    led.seize(1, "acct:1", "ETH", ETH(40), debt=DAI(100), tab=DAI(110))
    led.fill(1, "ali", ETH(22), DAI(110))
    led.return_to_owner(1, ETH(18))
    book = led.close(1)
    assert (book.repaid, book.penalty, book.bad_debt) == (DAI(100), DAI(10), 0)
    assert led.balance("acct:1", "ETH") == ETH(18)
    assert led.balance("keeper:ali", "ETH") == ETH(22)
    assert led.escrow("ali") == DAI(890)
    assert led.balance("protocol") == DAI(10)
    assert led.debt["acct:1"] == 0
    led.check()


def test_shortfall_is_bad_debt_drawn_from_insurance() -> None:
    led = setup_ledger()
    led.seize(1, "acct:1", "ETH", ETH(40), debt=DAI(100), tab=DAI(110))
    led.fill(1, "ali", ETH(40), DAI(92))
    book = led.close(1)
    assert (book.repaid, book.penalty, book.bad_debt, book.covered) == (DAI(92), 0, DAI(8), DAI(5))
    assert book.debt == book.repaid + book.bad_debt
    assert led.balance("insurance") == 0
    led.check()


def test_refusals_change_nothing() -> None:
    led = setup_ledger()
    led.seize(1, "acct:1", "ETH", ETH(40), debt=DAI(100), tab=DAI(110))
    before = snapshot(led)
    cases = [
        lambda: led.fill(1, "ali", ETH(41), DAI(1)),  # more than the lot
        lambda: led.fill(1, "ali", ETH(1), DAI(1001)),  # more than the escrow
        lambda: led.fill(1, "ali", ETH(1), -5),  # negative amount
        lambda: led.fill(2, "ali", ETH(1), DAI(1)),  # unknown auction
        lambda: led.hold(1, "bob", DAI(1001)),  # hold more than the escrow
        lambda: led.seize(1, "acct:1", "ETH", ETH(1), debt=DAI(1), tab=DAI(1)),  # account has nothing left
        lambda: led.return_to_owner(1, ETH(41)),
    ]
    for case in cases:
        with pytest.raises(Rejected):
            case()
        assert snapshot(led) == before
    led.close(1)
    with pytest.raises(Rejected) as err:
        led.fill(1, "ali", ETH(1), DAI(1))  # a closed lot is never sold again
    assert err.value.code == "auction-done"


def test_holds_forfeits_incentives_gas_and_trades() -> None:
    led = setup_ledger()
    led.seize(7, "acct:1", "ETH", ETH(40), debt=DAI(100), tab=DAI(110))
    led.hold(7, "ali", DAI(50))
    led.hold(7, "bob", DAI(10))
    led.fill(7, "ali", ETH(10), DAI(40), from_hold=True)
    assert led.release(7, "ali") == DAI(10)
    led.forfeit(7, "bob", DAI(10))
    led.incentive("bob", DAI(25))  # protocol has 10 (forfeit): 15 minted, unbacked
    assert (led.totals.incentives, led.totals.unbacked) == (DAI(25), DAI(15))
    led.pay_gas("ali", DAI(3))
    led.trade("ali", "ETH", ETH(10), DAI(1500))
    assert led.escrow("ali") == DAI(1000 - 40 - 3 + 1500)
    led.check()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ali", "bob"]), st.integers(0, 45), st.integers(0, 400)), max_size=12))
def test_dutch_through_the_ledger_conserves_value(takes: list[tuple[str, int, int]]) -> None:
    """Random takes at random times on a Clipper sale: every invariant holds after every step."""
    led = setup_ledger()
    auction = DutchAuction(
        lot=ETH(40), tab=DAI(110), top=5.0, curve=StairstepExponentialDecrease(0.99, 1),
        tail=3600, cusp=0.1, chost=DAI(22), owner="acct:1",
    )
    led.seize(1, "acct:1", "ETH", auction.lot, debt=DAI(100), tab=auction.tab)
    now = 0.0
    for who, qty, dt in takes:
        now += dt
        before = snapshot(led)
        try:
            fill = auction.take(ETH(qty), units.price_q(5), now, who)
            led.fill(1, fill.who, fill.qty, fill.cost)
        except Rejected:
            assert snapshot(led) == before
        led.check()
        if auction.done:
            break
    if auction.returned:
        led.return_to_owner(1, auction.returned)
    book = led.close(1)
    led.check()
    assert book.debt == book.repaid + book.bad_debt
    assert book.seized == book.sold + book.returned + book.unsold
    assert book.raised <= DAI(110)
