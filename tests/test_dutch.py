"""Clipper take / redo rules on the numbers of makerdao/dss src/test/clip.t.sol.

takeSetup there: 40 ETH lot, tab 110 DAI (100 debt * chop 1.1), feed $4, buf 1.25 -> top $5,
StairstepExponentialDecrease(cut 0.99, step 1 s), cusp 0.3, tail 3600 s, chost = dust 20 * chop 1.1 = 22.
"""

from __future__ import annotations

import pytest

from auction import units
from auction.curves import LinearDecrease, StairstepExponentialDecrease
from auction.dutch import DutchAuction
from auction.errors import Rejected

ETH, DAI = units.col, units.num


def take_setup(**kw: object) -> DutchAuction:
    params: dict[str, object] = dict(
        lot=ETH(40), tab=DAI(110), top=5.0, curve=StairstepExponentialDecrease(0.99, 1),
        tail=3600, cusp=0.3, chost=DAI(22), start=0.0, owner="me",
    )
    params.update(kw)
    return DutchAuction(**params)  # type: ignore[arg-type]


def test_take_over_tab() -> None:
    a = take_setup()
    fill = a.take(ETH(25), units.price_q(5), now=0, who="ali")  # owe 125 > tab 110: cut to the tab
    assert (fill.qty, fill.cost) == (ETH(22), DAI(110))
    assert a.returned == ETH(18) and a.done and a.tab == 0 and a.lot == 0


def test_take_at_tab() -> None:
    a = take_setup()
    fill = a.take(ETH(22), units.price_q(5), now=0, who="ali")
    assert (fill.qty, fill.cost, a.returned, a.done) == (ETH(22), DAI(110), ETH(18), True)


def test_take_under_tab() -> None:
    a = take_setup()
    fill = a.take(ETH(11), units.price_q(5), now=0, who="ali")
    assert (fill.qty, fill.cost) == (ETH(11), DAI(55))
    assert (a.tab, a.lot, a.done, a.top, a.start) == (DAI(55), ETH(29), False, 5.0, 0.0)


def test_take_full_lot_partial_tab() -> None:
    a = take_setup()
    price = a.price_q(69)  # 5 * 0.99^69 ~ 2.4994: about half
    fill = a.take(ETH(40), units.price_q(2.5), now=69, who="ali")
    assert fill.qty == ETH(40) and fill.cost == units.cost(ETH(40), price)
    assert abs(fill.cost - DAI(100)) < DAI(0.1)  # "Paid about 100 ether"
    assert a.done and a.lot == 0 and a.returned == 0
    assert a.tab == DAI(110) - fill.cost  # not covered: the house books it as bad debt


def test_take_bid_too_low() -> None:
    a = take_setup()
    with pytest.raises(Rejected) as err:
        a.take(ETH(22), units.price_q(4), now=0, who="ali")
    assert err.value.code == "too-expensive"
    assert (a.lot, a.tab) == (ETH(40), DAI(110))


def test_take_bid_recalculates_due_to_chost_check() -> None:
    a = take_setup()
    a.take(ETH(18), units.price_q(5), now=0, who="ali")  # 90 would leave 20 < chost 22: cut to leave 22
    assert a.tab == a.chost == DAI(22)
    assert a.lot == ETH(40) - units.qty_for(DAI(110) - DAI(22), units.price_q(5)) == ETH(22.4)


def test_take_bid_avoids_recalculate_due_no_more_lot() -> None:
    a = take_setup()
    assert a.price(60) == pytest.approx(2.735783211953807380973706855, rel=1e-12)  # clip.t.sol value
    fill = a.take(ETH(40), units.price_q(2.8), now=60, who="ali")  # 40 * 2.73 = 109.43 < 110, whole lot
    assert fill.cost == DAI(109.431320)
    assert a.lot == 0 and a.done


def test_take_bid_fails_no_partial_allowed() -> None:
    a = take_setup()
    a.take(ETH(17.6), units.price_q(5), now=0, who="me")
    assert (a.tab, a.lot) == (DAI(22), ETH(22.4))
    with pytest.raises(Rejected) as err:
        a.take(ETH(1), units.price_q(5), now=0, who="me")
    assert err.value.code == "no-partial-purchase"
    assert (a.tab, a.lot) == (DAI(22), ETH(22.4))
    fill = a.take(units.qty_for(a.tab, units.price_q(5)), units.price_q(5), now=0, who="me")
    assert (fill.qty, fill.cost, a.returned, a.done) == (ETH(4.4), DAI(22), ETH(18), True)


def test_take_multiple_bids_different_prices() -> None:
    a = take_setup()
    a.take(ETH(10), units.price_q(5), now=0, who="ali")
    assert (a.tab, a.lot) == (DAI(60), ETH(30))
    price = a.price_q(30)  # 5 * 0.99^30 = 3.6985...
    fill = a.take(a.lot, price, now=30, who="bob")
    expected_gem = 60 / (5 * 0.99**30)  # clip.t.sol: RAY * 60 ether / _price
    assert fill.cost == DAI(60)
    assert fill.qty == pytest.approx(ETH(expected_gem), rel=1e-6)  # price quantum 1e-6 USD
    assert a.returned == ETH(30) - fill.qty and a.done


def reset_setup(tau: float) -> DutchAuction:
    # clip.t.sol auctionResetSetup: LinearDecrease(tau), cusp 0.5, tail 3600, top 5.
    return take_setup(curve=LinearDecrease(tau), cusp=0.5, chost=DAI(22))


def test_auction_reset_tail() -> None:
    a = reset_setup(10 * 3600)
    assert not a.needs_redo(3600)
    with pytest.raises(Rejected) as err:
        a.redo(3600, top=3.75)
    assert err.value.code == "not-redoable"
    assert a.needs_redo(3601)
    a.redo(3601, top=3 * 1.25)  # feed now $3, buf 1.25
    assert (a.start, a.top) == (3601, 3.75)
    assert not a.needs_redo(3601)  # test_auction_reset_tail_twice


def test_auction_reset_cusp() -> None:
    a = reset_setup(3600)
    assert not a.needs_redo(1800)  # price / top == 0.5, not below cusp
    assert a.needs_redo(1801)
    a.redo(1801, top=3.75)
    assert (a.start, a.top) == (1801, 3.75)
    with pytest.raises(Rejected):
        a.redo(1801, top=3.75)  # test_auction_reset_cusp_twice


def test_take_refused_when_reset_is_due() -> None:
    a = reset_setup(3600)
    with pytest.raises(Rejected) as err:
        a.take(ETH(1), units.price_q(5), now=1801, who="ali")
    assert err.value.code == "needs-redo"


def test_redo_incentive() -> None:
    # clip.t.sol test_redo_incentive, feed price $4 throughout.
    a = take_setup(tip=DAI(100), chip=0.0)
    assert a.redo(300, top=5.0, feed_price=4.0) == DAI(100)
    a.chip = 0.02
    assert a.redo(600, top=5.0, feed_price=4.0) == DAI(100) + DAI(110 * 0.02)
    a.tip = 0
    assert a.redo(900, top=5.0, feed_price=4.0) == DAI(2.2)
    a.chost = DAI(110) + 1  # tab below chost: no reward for a dusty auction
    assert a.redo(1200, top=5.0, feed_price=4.0) == 0
    a.chost = DAI(22)
    assert a.price(1300) == pytest.approx(1.830161706366147524653080130, rel=1e-12)
    a.take(ETH(38), units.price_q(5), now=1300, who="me")
    assert a.tab == DAI(110) - units.cost(ETH(38), a.price_q(1300)) and a.lot == ETH(2)
    assert a.redo(1600, top=5.0, feed_price=4.0) == 0  # 2 ETH * $4 = 8 < chost 22: dusty lot


def test_kick_incentive_and_validation() -> None:
    a = take_setup(tip=DAI(100), chip=0.02)
    assert a.kick_incentive() == DAI(102.2)
    with pytest.raises(Rejected):
        take_setup(tab=0)
    with pytest.raises(Rejected):
        take_setup(lot=0)


def test_done_auction_accepts_nothing() -> None:
    a = take_setup()
    a.take(ETH(40), units.price_q(5), now=0, who="ali")
    with pytest.raises(Rejected) as err:
        a.take(ETH(1), units.price_q(5), now=0, who="bob")
    assert err.value.code == "auction-done"


def test_crossing_time_matches_price() -> None:
    a = take_setup(curve=StairstepExponentialDecrease(0.99, 90), start=100.0)
    t = a.crossing(units.price_q(2.5))
    assert a.price_q(t) <= units.price_q(2.5) < a.price_q(t - 90)
    assert (t - 100.0) % 90 == 0
