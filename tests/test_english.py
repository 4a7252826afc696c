"""Flipper (Liquidations 1.2) rules on the numbers of makerdao/dss src/test/flip.t.sol.

Setup there: the clock starts at 1 hour, lot 100 gems, tab 50 DAI, kick bid 0, beg 1.05, ttl 3 hours,
tau 2 days. Our amounts are ints in base units: ETH = 1e9 units, DAI = 1e6 units.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction import units
from auction.english import EnglishAuction, Outbid
from auction.errors import Rejected
from auction.fills import Fill

ETH, DAI = units.col, units.num
HOUR, DAY = 3600.0, 86400.0
T0 = 1 * HOUR  # flip.t.sol setUp: hevm.warp(1 hours)


def kick(**kw: object) -> EnglishAuction:
    params: dict[str, object] = dict(
        lot=ETH(100), tab=DAI(50), beg=1.05, ttl=3 * HOUR, tau=2 * DAY, start=T0, owner="urn"
    )
    params.update(kw)
    return EnglishAuction(**params)  # type: ignore[arg-type]


def code(fn: object, *args: object) -> str:
    with pytest.raises(Rejected) as err:
        fn(*args)  # type: ignore[operator]
    return err.value.code


def test_kick_state() -> None:
    a = kick()
    assert (a.bid, a.lot, a.guy, a.tic, a.end, a.phase) == (0, ETH(100), "", 0.0, T0 + 2 * DAY, "tend")


def test_tend() -> None:
    a = kick()
    assert a.tend("ali", ETH(100), DAI(1), T0) == Outbid("", 0)  # nothing to refund to the kicker
    assert (a.guy, a.bid, a.tic) == ("ali", DAI(1), T0 + 3 * HOUR)
    assert a.tend("bob", ETH(100), DAI(2), T0) == Outbid("ali", DAI(1))  # ali is refunded her 1 DAI
    assert a.deal(5 * HOUR) == Fill("bob", ETH(100), DAI(2), 5 * HOUR)  # bob gets the 100 gems
    assert a.done


def test_tend_later() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), 5 * HOUR)
    assert (a.guy, a.bid) == ("ali", DAI(1))


def test_dent() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), T0)
    a.tend("bob", ETH(100), DAI(50), T0)  # bid == tab: the tend phase is over
    assert a.phase == "dent"
    assert a.dent("ali", ETH(95), DAI(50), T0) == Outbid("bob", DAI(50))  # bob gets his 50 DAI back
    assert a.returned == ETH(5)  # "plop the gems": 5 back to the urn
    assert (a.guy, a.lot, a.bid) == ("ali", ETH(95), DAI(50))


def test_beg() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), T0)
    assert code(a.tend, "bob", ETH(100), DAI(1.01), T0) == "bid-too-low"
    assert code(a.tend, "ali", ETH(100), DAI(1.01), T0) == "bid-too-low"  # the high bidder too
    a.tend("bob", ETH(100), DAI(1.07), T0)
    # can bid by less than beg at the tab
    a.tend("ali", ETH(100), DAI(49), T0)
    a.tend("bob", ETH(100), DAI(50), T0)  # 50 < 49 * 1.05 = 51.45, but it is the tab
    assert code(a.dent, "ali", ETH(100), DAI(50), T0) == "lot-too-high"  # not lower
    assert code(a.dent, "ali", ETH(99), DAI(50), T0) == "lot-too-high"  # 99 * 1.05 > 100
    a.dent("ali", ETH(95), DAI(50), T0)  # 95 * 1.05 = 99.75 <= 100


def test_dent_exactly_beg_below_the_lot_is_accepted() -> None:
    """flip.sol dent: require(mul(beg, lot) <= mul(bids[id].lot, ONE)): equality passes. 105 / 1.05 = 100 exactly
    in wad arithmetic, so a dent to 100 is allowed and one unit more is not."""
    a = kick(lot=ETH(105))
    a.tend("bob", ETH(105), DAI(50), T0)
    assert code(a.dent, "ali", ETH(100) + 1, DAI(50), T0) == "lot-too-high"
    assert a.dent("ali", ETH(100), DAI(50), T0) == Outbid("bob", DAI(50))
    assert (a.guy, a.lot, a.returned) == ("ali", ETH(100), ETH(5))


def test_beg_is_exact_on_ints() -> None:
    a = kick(beg=1.07)
    a.tend("ali", ETH(100), DAI(15), T0)
    # 1.07 x 15 DAI is 16.05 DAI exactly, but as floats 1.07 * 15_000_000 = 16050000.000000002 > 16_050_000,
    # which would refuse a bid that Flipper's wad arithmetic accepts
    assert 1.07 * DAI(15) > DAI(16.05)
    assert code(a.tend, "bob", ETH(100), DAI(16.05) - 1, T0) == "bid-too-low"
    a.tend("bob", ETH(100), DAI(16.05), T0)
    assert a.bid == 16_050_000


def test_deal() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), T0)
    assert code(a.deal, T0) == "early"  # only after ttl
    assert a.deal(4.1 * HOUR) == Fill("ali", ETH(100), DAI(1), 4.1 * HOUR)

    b = kick(start=4.1 * HOUR)  # or after end
    b.tend("ali", ETH(100), DAI(1), 2 * DAY)
    assert code(b.deal, 2 * DAY) == "early"
    assert b.deal(3 * DAY) == Fill("ali", ETH(100), DAI(1), 3 * DAY)


def test_end_caps_the_bid_lifetime() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), a.end - 60)  # tic = end + 3h - 60 s, but the auction ends first
    assert code(a.tend, "bob", ETH(100), DAI(2), a.end) == "late"  # flip.sol: end > now, strictly
    assert code(a.deal, a.end) == "early"  # flip.sol: end < now, strictly
    assert a.deal(a.end + 1) == Fill("ali", ETH(100), DAI(1), a.end + 1)


def test_ttl_expiry() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), T0)
    a.tend("bob", ETH(100), DAI(2), T0 + HOUR)  # resets tic to T0 + 4h
    assert a.tic == T0 + 4 * HOUR
    assert code(a.tend, "ali", ETH(100), DAI(3), T0 + 4 * HOUR) == "late"  # tic > now, strictly
    assert code(a.deal, T0 + 4 * HOUR) == "early"  # tic < now, strictly
    assert a.deal(T0 + 4 * HOUR + 1) == Fill("bob", ETH(100), DAI(2), T0 + 4 * HOUR + 1)


def test_tick() -> None:
    a = kick()
    assert code(a.tick, T0) == "early"
    two_weeks = 14 * DAY
    assert code(a.tend, "ali", ETH(100), DAI(1), two_weeks) == "late"  # not biddable
    a.tick(two_weeks)
    assert (a.end, a.restarts) == (two_weeks + 2 * DAY, 1)
    a.tend("ali", ETH(100), DAI(1), two_weeks)  # biddable again
    assert code(a.tick, 20 * DAY) == "wrong-phase"  # a bid is placed: deal, not tick


def test_no_deal_after_end() -> None:
    a = kick()
    assert code(a.deal, T0) == "early"
    assert a.deal(14 * DAY) is None  # ended without a bid: nothing to deal, tick it (Flipper reverts)
    a.tick(14 * DAY)
    assert code(a.deal, 14 * DAY) == "early"
    assert not a.done


def test_tab_switch_from_tend_to_dent() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(40), T0)
    assert code(a.dent, "bob", ETH(90), DAI(40), T0) == "wrong-phase"  # tend not finished
    assert code(a.tend, "bob", ETH(100), DAI(51), T0) == "bad-amount"  # above the tab
    assert code(a.tend, "bob", ETH(99), DAI(50), T0) == "bad-amount"  # a tend is for the whole lot
    a.tend("bob", ETH(100), DAI(50), T0)
    assert code(a.tend, "ali", ETH(100), DAI(50), T0) == "wrong-phase"  # tend is over
    assert code(a.dent, "ali", ETH(90), DAI(49), T0) == "bad-amount"  # a dent keeps the tab
    assert code(a.dent, "ali", 0, DAI(50), T0) == "bad-amount"
    a.dent("ali", ETH(90), DAI(50), T0 + 60)
    a.dent("bob", ETH(85), DAI(50), T0 + 120)  # 85 * 1.05 = 89.25 <= 90
    assert code(a.dent, "ali", ETH(81), DAI(50), T0 + 180) == "lot-too-high"  # 81 * 1.05 = 85.05 > 85
    fill = a.deal(T0 + 120 + 3 * HOUR + 1)
    assert fill == Fill("bob", ETH(85), DAI(50), T0 + 120 + 3 * HOUR + 1)
    assert a.returned == ETH(15) and fill.qty + a.returned == ETH(100)


def test_black_thursday_zero_bid_wins_the_lot() -> None:
    # Black-Thursday-like (12 March 2020): a short bid lifetime (10 minutes), a congested chain, one
    # keeper bids "0 DAI" (our 1 base unit), nobody else bids within ttl, and the whole lot goes for it.
    a = EnglishAuction(lot=ETH(50), tab=DAI(7_000), beg=1.03, ttl=600, tau=6 * HOUR, start=0.0, owner="urn")
    a.tend("keeper-0", ETH(50), 1, 30.0)
    assert a.deal(631.0) == Fill("keeper-0", ETH(50), 1, 631.0)
    assert a.returned == 0  # the owner got nothing back; 7,000 DAI minus 1e-6 is left uncovered


def test_done_accepts_nothing() -> None:
    a = kick()
    a.tend("ali", ETH(100), DAI(1), T0)
    a.deal(T0 + 4 * HOUR)
    for op in (
        lambda: a.tend("bob", ETH(100), DAI(2), 10 * DAY),
        lambda: a.deal(10 * DAY),
        lambda: a.tick(10 * DAY),
        lambda: a.dent("bob", ETH(1), DAI(1), 10 * DAY),
    ):
        with pytest.raises(Rejected) as err:
            op()
        assert err.value.code == "auction-done"


def test_bad_parameters() -> None:
    with pytest.raises(Rejected):
        kick(lot=0)
    with pytest.raises(Rejected):
        kick(beg=0.99)
    assert code(kick().tend, "", ETH(100), DAI(1), T0) == "malformed"


# --- properties over random sequences of operations ------------------------------------------------

KEEPERS = ["ali", "bob", "cat"]


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 10**12), st.integers(1, 10**10), st.sampled_from([1.0, 1.03, 1.05, 1.5]))
def test_random_sequences(data: st.DataObject, lot0: int, tab0: int, beg: float) -> None:
    a = EnglishAuction(lot=lot0, tab=tab0, beg=beg, ttl=600.0, tau=3600.0, start=0.0, owner="urn")
    now = 0.0
    fills: list[Fill] = []
    holds: dict[str, int] = {}  # what the caller would hold for each keeper
    for _ in range(data.draw(st.integers(1, 25))):
        now += data.draw(st.sampled_from([0.0, 1.0, 300.0, 599.0, 600.0, 601.0, 3600.0]))
        op = data.draw(st.sampled_from(["tend", "dent", "deal", "tick"]))
        who = data.draw(st.sampled_from(KEEPERS))
        before = dataclasses.asdict(a)
        try:
            if op == "tend":
                bid = data.draw(st.sampled_from([a.bid + 1, int(a.bid * beg) + 1, a.bid * 2, a.tab, a.tab + 1]))
                lot = data.draw(st.sampled_from([a.lot, a.lot - 1]))
                out = a.tend(who, lot, bid, now)
                holds[out.guy] = holds.get(out.guy, 0) - out.bid
                holds[who] = holds.get(who, 0) + bid
            elif op == "dent":
                lot = data.draw(st.sampled_from([a.lot - 1, int(a.lot / beg), a.lot // 2, 0, a.lot]))
                out = a.dent(who, lot, a.bid, now)
                holds[out.guy] = holds.get(out.guy, 0) - out.bid
                holds[who] = holds.get(who, 0) + a.bid
            elif op == "deal":
                fill = a.deal(now)
                if fill is not None:
                    fills.append(fill)
            else:
                a.tick(now)
        except Rejected:
            assert dataclasses.asdict(a) == before  # a refusal changes nothing
            continue
        assert 0 <= a.bid <= a.tab
        assert a.lot + a.returned == lot0 and a.lot > 0
        assert sum(v for k, v in holds.items() if k) == (0 if a.done else a.bid) + sum(f.cost for f in fills)
        assert all(v >= 0 for v in holds.values())
    event(f"dealt={bool(fills)} phase={a.phase} restarts={a.restarts > 0}")
    assert len(fills) <= 1  # never sold twice
    if fills:
        (f,) = fills
        assert a.done and f.qty + a.returned == lot0 and 0 < f.cost <= tab0 and f.who == a.guy
        for op_fn in (lambda: a.deal(now + 1e6), lambda: a.tend("ali", a.lot, a.tab, now), lambda: a.tick(now + 1e6)):
            with pytest.raises(Rejected):
                op_fn()
