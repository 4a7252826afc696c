"""Sealed-bid commit-reveal auction: hashes, phases, first- vs second-price clearing on hand-made bids.

Amounts are ints in base units: ETH = 1e9 units, DAI = 1e6 units, prices in DAI units per whole ETH.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction import units
from auction.errors import Rejected
from auction.fills import Fill
from auction.sealed import SealedAuction, commitment

ETH, DAI, P = units.col, units.num, units.price_q
SALT = bytes(range(16))
AID = 7


def auction(second_price: bool = False, **kw: object) -> SealedAuction:
    params: dict[str, object] = dict(
        lot=ETH(10),
        tab=DAI(100_000),
        reserve_q=P(1_000),
        commit_end=60.0,
        reveal_end=120.0,
        deposit=DAI(50),
        second_price=second_price,
        start=0.0,
        owner="acct:1",
        auction_id=AID,
    )
    params.update(kw)
    return SealedAuction(**params)  # type: ignore[arg-type]


def run(a: SealedAuction, bids: Sequence[tuple[str, float, float, float]]) -> list[Fill]:
    """Commit (at the given time), reveal and settle ``(who, price, qty, commit_time)`` bids."""
    for who, price, qty, t in bids:
        a.commit(who, commitment(AID, who, P(price), ETH(qty), SALT), t)
    for who, price, qty, _ in bids:
        assert a.reveal(who, P(price), ETH(qty), SALT, 60.0) == units.cost(ETH(qty), P(price))
    return a.settle(120.0).fills


def code(fn: object, *args: object) -> str:
    with pytest.raises(Rejected) as err:
        fn(*args)  # type: ignore[operator]
    return err.value.code


def test_commitment_bytes() -> None:
    expected = hashlib.sha256(b"liqnet-commit-v1|7|ali|2000000000|1500000000|" + SALT).digest()
    assert commitment(7, "ali", 2_000_000_000, 1_500_000_000, SALT) == expected
    assert (
        expected.hex()
        == hashlib.sha256(
            bytes.fromhex("6c69716e65742d636f6d6d69742d76317c377c616c697c323030303030303030307c313530303030303030307c")
            + SALT
        ).hexdigest()
        and len(expected) == 32
    )
    others = {
        commitment(8, "ali", 2_000_000_000, 1_500_000_000, SALT),
        commitment(7, "bob", 2_000_000_000, 1_500_000_000, SALT),
        commitment(7, "ali", 2_000_000_001, 1_500_000_000, SALT),
        commitment(7, "ali", 2_000_000_000, 1_500_000_001, SALT),
        commitment(7, "ali", 2_000_000_000, 1_500_000_000, SALT + b"\x00"),
    }
    assert expected not in others and len(others) == 5
    with pytest.raises(ValueError):
        commitment(7, "ali", 1, 1, b"short")
    with pytest.raises(ValueError):
        commitment(7, "a|li", 1, 1, SALT)  # '|' would make the bytes ambiguous


def test_phases() -> None:
    a = auction(start=10.0)
    d = commitment(AID, "ali", P(2_000), ETH(1), SALT)
    assert code(a.commit, "ali", d, 9.0) == "early"
    assert a.commit("ali", d, 10.0) == DAI(50)  # the caller holds the deposit
    assert code(a.commit, "bob", commitment(AID, "bob", P(2_000), ETH(1), SALT), 60.0) == "late"
    assert code(a.reveal, "ali", P(2_000), ETH(1), SALT, 59.9) == "early"
    assert code(a.settle, 119.9) == "early"
    assert code(a.reveal, "ali", P(2_000), ETH(1), SALT, 120.0) == "late"
    assert a.phase(0) == "early" and a.phase(10) == "commit" and a.phase(60) == "reveal" and a.phase(120) == "settle"


def test_duplicate_commit_and_bad_digest() -> None:
    a = auction()
    a.commit("ali", commitment(AID, "ali", P(2_000), ETH(1), SALT), 1.0)
    assert code(a.commit, "ali", commitment(AID, "ali", P(2_100), ETH(1), SALT), 2.0) == "duplicate-commit"
    assert code(a.commit, "bob", b"\x00" * 31, 2.0) == "malformed"
    assert code(a.commit, "", b"\x00" * 32, 2.0) == "malformed"
    assert list(a.commits) == ["ali"]


def test_bad_reveal_changes_nothing_then_good_reveal() -> None:
    a = auction()
    a.commit("ali", commitment(AID, "ali", P(2_000), ETH(1), SALT), 1.0)
    before = dataclasses.asdict(a)
    assert code(a.reveal, "ali", P(2_001), ETH(1), SALT, 60.0) == "bad-reveal"  # other price
    assert code(a.reveal, "ali", P(2_000), ETH(2), SALT, 60.0) == "bad-reveal"  # other qty
    assert code(a.reveal, "ali", P(2_000), ETH(1), bytes(16), 60.0) == "bad-reveal"  # other salt
    assert code(a.reveal, "ali", P(2_000), ETH(1), b"short", 60.0) == "bad-reveal"
    assert code(a.reveal, "bob", P(2_000), ETH(1), SALT, 60.0) == "no-commit"
    assert dataclasses.asdict(a) == before
    assert a.reveal("ali", P(2_000), ETH(1), SALT, 60.0) == DAI(2_000)  # hold for the bid
    assert code(a.reveal, "ali", P(2_000), ETH(1), SALT, 61.0) == "bad-reveal"  # once only


def test_reveal_amount_rules() -> None:
    a = auction()
    for who, price, qty in [("low", P(999.999999), ETH(1)), ("big", P(2_000), ETH(10) + 1), ("nil", P(2_000), 0)]:
        a.commit(who, commitment(AID, who, price, qty, SALT), 1.0)
    assert code(a.reveal, "low", P(999.999999), ETH(1), SALT, 60.0) == "below-reserve"
    assert code(a.reveal, "big", P(2_000), ETH(10) + 1, SALT, 60.0) == "bad-amount"
    assert code(a.reveal, "nil", P(2_000), 0, SALT, 60.0) == "bad-amount"
    out = a.settle(120.0)  # none of them revealed: all three lose their deposit
    assert (out.fills, out.forfeited) == ([], ["big", "low", "nil"])
    assert (out.clearing_q, out.leftover_lot, out.leftover_tab) == (None, ETH(10), DAI(100_000))


BIDS_4X4 = [("a", 2_000, 4, 1.0), ("b", 1_900, 4, 2.0), ("c", 1_800, 4, 3.0), ("d", 1_700, 4, 4.0)]


def test_first_price_pays_own_bid() -> None:
    a = auction()
    fills = run(a, BIDS_4X4)
    # 10 ETH: a 4 @ 2000, b 4 @ 1900, c the 2 left @ 1800; d gets nothing
    assert fills == [
        Fill("a", ETH(4), DAI(8_000), 120.0),
        Fill("b", ETH(4), DAI(7_600), 120.0),
        Fill("c", ETH(2), DAI(3_600), 120.0),
    ]
    assert a.outcome is not None
    assert (a.outcome.clearing_q, a.outcome.leftover_lot, a.outcome.leftover_tab) == (None, 0, DAI(100_000 - 19_200))


def test_second_price_pays_highest_losing_bid() -> None:
    a = auction(second_price=True)
    fills = run(a, BIDS_4X4)
    # the (k+1)-th price: d at 1700 is the highest losing bid; every winner pays 1700
    assert fills == [
        Fill("a", ETH(4), DAI(6_800), 120.0),
        Fill("b", ETH(4), DAI(6_800), 120.0),
        Fill("c", ETH(2), DAI(3_400), 120.0),
    ]
    assert a.outcome is not None and a.outcome.clearing_q == P(1_700)


def test_second_price_single_unit_is_vickrey() -> None:
    a = auction(second_price=True, lot=ETH(1))
    fills = run(a, [("a", 2_000, 1, 1.0), ("b", 1_500, 1, 1.0), ("c", 1_200, 1, 1.0)])
    assert fills == [Fill("a", ETH(1), DAI(1_500), 120.0)]


def test_second_price_reserve_when_no_bid_loses() -> None:
    a = auction(second_price=True)
    fills = run(a, [("a", 2_000, 3, 1.0), ("b", 1_200, 2, 1.0)])
    assert fills == [Fill("a", ETH(3), DAI(3_000), 120.0), Fill("b", ETH(2), DAI(2_000), 120.0)]
    assert a.outcome is not None
    assert (a.outcome.clearing_q, a.outcome.leftover_lot) == (P(1_000), ETH(5))


def test_tab_cap_first_price() -> None:
    a = auction(tab=DAI(5_000))
    fills = run(a, [("a", 2_000, 2, 1.0), ("b", 1_900, 3, 1.0)])
    # a: 2 ETH for 4000; b would owe 5700 > the 1000 left: pays exactly 1000 and gets
    # 1000e6 * 1e9 // 1900e6 = 526_315_789 units (0.526315789 ETH, rounded down)
    assert fills == [Fill("a", ETH(2), DAI(4_000), 120.0), Fill("b", 526_315_789, DAI(1_000), 120.0)]
    assert a.outcome is not None
    assert (a.outcome.leftover_lot, a.outcome.leftover_tab) == (ETH(10) - ETH(2) - 526_315_789, 0)


def test_tab_cap_second_price() -> None:
    a = auction(second_price=True, tab=DAI(5_000))
    fills = run(a, [("a", 2_000, 2, 1.0), ("b", 1_900, 3, 1.0), ("c", 1_500, 1, 1.0)])
    # at 1900 a alone pays 3800 and leaves tab for b, so b wins and the price must fall to c's 1500:
    # a 2 ETH for 3000, b pays the 2000 left and gets 2000e6 * 1e9 // 1500e6 = 1_333_333_333 units; c loses
    assert fills == [Fill("a", ETH(2), DAI(3_000), 120.0), Fill("b", 1_333_333_333, DAI(2_000), 120.0)]
    assert a.outcome is not None
    assert (a.outcome.clearing_q, a.outcome.leftover_lot, a.outcome.leftover_tab) == (
        P(1_500),
        ETH(10) - ETH(2) - 1_333_333_333,
        0,
    )


def test_second_price_tab_drops_the_price() -> None:
    a = auction(second_price=True, tab=DAI(5_000))
    fills = run(a, [("a", 2_000, 2, 1.0), ("b", 1_900, 3, 1.0), ("c", 1_000, 1, 1.0)])
    # at 1000, a (2000) + b (3000) cover the tab exactly: c is the highest losing bid
    assert fills == [Fill("a", ETH(2), DAI(2_000), 120.0), Fill("b", ETH(3), DAI(3_000), 120.0)]


def test_tab_dust_is_left_over() -> None:
    a = auction(tab=DAI(2_000) + 1)
    fills = run(a, [("a", 2_000, 1, 1.0), ("b", 1_500, 1, 1.0)])
    # a covers all but 1 base unit (1e-6 DAI) of the tab; that buys 1e9 // 1500e6 = 0 units at b's price
    assert fills == [Fill("a", ETH(1), DAI(2_000), 120.0)]
    assert a.outcome is not None and (a.outcome.leftover_lot, a.outcome.leftover_tab) == (ETH(9), 1)


@pytest.mark.parametrize("second_price", [False, True])
def test_tie_break_commit_time_then_id(second_price: bool) -> None:
    a = auction(second_price=second_price, lot=ETH(2))
    fills = run(a, [("zed", 1_500, 1, 5.0), ("bob", 1_500, 1, 2.0), ("amy", 1_500, 1, 5.0)])
    # same price: bob committed first, then amy and zed at the same time, amy < zed
    assert [(f.who, f.qty, f.cost) for f in fills] == [("bob", ETH(1), DAI(1_500)), ("amy", ETH(1), DAI(1_500))]


def test_forfeits_and_settled_accepts_nothing() -> None:
    a = auction()
    a.commit("late-riser", commitment(AID, "late-riser", P(3_000), ETH(1), SALT), 2.0)
    a.commit("ali", commitment(AID, "ali", P(2_000), ETH(1), SALT), 3.0)
    a.commit("ghost", commitment(AID, "ghost", P(2_500), ETH(1), SALT), 1.0)
    a.reveal("ali", P(2_000), ETH(1), SALT, 60.0)
    out = a.settle(130.0)
    assert out.forfeited == ["ghost", "late-riser"]  # in commit order
    assert out.fills == [Fill("ali", ETH(1), DAI(2_000), 130.0)]
    assert code(a.settle, 131.0) == "auction-done"
    assert code(a.reveal, "ghost", P(2_500), ETH(1), SALT, 100.0) == "auction-done"
    assert code(a.commit, "new", bytes(32), 1.0) == "auction-done"


def test_bad_parameters() -> None:
    with pytest.raises(Rejected):
        auction(lot=0)
    with pytest.raises(Rejected):
        auction(commit_end=130.0)  # after reveal_end


# --- properties over random bids and operation sequences -------------------------------------------

bid_st = st.tuples(st.integers(1, 5_000), st.integers(1, 3 * 10**9), st.sampled_from([0.0, 1.0, 2.0]))


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    st.integers(1, 10 * 10**9),
    st.integers(1, 20_000 * 10**6),
    st.integers(0, 2_000),
    st.booleans(),
    st.lists(bid_st, min_size=0, max_size=7),
)
def test_random_auctions(
    data: st.DataObject,
    lot: int,
    tab: int,
    reserve: int,
    second: bool,
    bids: list[tuple[int, int, float]],
) -> None:
    reserve_q = reserve * 10**6
    a = SealedAuction(lot, tab, reserve_q, 60.0, 120.0, 10**6, second, 0.0, "acct:0", AID)
    keepers = [f"k{i}" for i in range(len(bids))]
    holds: dict[str, int] = {}
    ops: list[tuple[str, int, float]] = []
    for i in range(len(bids)):
        ops += [("commit", i, bids[i][2]), ("reveal", i, 60.0 + bids[i][2])]
    ops += [
        ("junk", i, t)
        for i, t in data.draw(st.lists(st.tuples(st.integers(0, 6), st.sampled_from([1.0, 70.0, 130.0]))))
    ]
    for kind, i, t in sorted(data.draw(st.permutations(ops)), key=lambda op: op[2]):  # in time order
        before = dataclasses.asdict(a)
        try:
            if kind == "commit":
                price_q, qty, _ = bids[i]
                a.commit(keepers[i], commitment(AID, keepers[i], price_q * 10**6, qty, SALT), t)
            elif kind == "reveal":
                price_q, qty, _ = bids[i]
                holds[keepers[i]] = a.reveal(keepers[i], price_q * 10**6, qty, SALT, t)
            else:  # a wrong reveal, a second commit or an early settle
                who = f"k{i}"
                choice = data.draw(st.sampled_from(["reveal", "commit", "settle"]))
                if choice == "reveal":
                    a.reveal(who, 1, 1, SALT, t)
                elif choice == "commit":
                    a.commit(who, commitment(AID, who, 10**6, 1, bytes(16)), t)
                else:
                    a.settle(t)
        except Rejected:
            assert dataclasses.asdict(a) == before  # a refusal changes nothing
    out = a.settle(200.0) if not a.done else a.outcome
    assert out is not None and a.done
    sold = sum(f.qty for f in out.fills)
    paid = sum(f.cost for f in out.fills)
    assert out.leftover_lot == lot - sold >= 0 and out.leftover_tab == tab - paid >= 0
    assert len({f.who for f in out.fills}) == len(out.fills) and set(out.forfeited).isdisjoint(a.bids)
    assert set(out.forfeited) | set(a.bids) == set(a.commits)
    for f in out.fills:
        bid = a.bids[f.who]
        assert 0 < f.qty <= bid.qty and 0 <= f.cost <= holds[f.who]  # never spends more than its hold
        assert f.cost <= units.cost(f.qty + 1, bid.price_q)  # a tab cut pays under one more base unit
    winners = {f.who for f in out.fills}
    losers = sorted(
        (b for w, b in a.bids.items() if w not in winners), key=lambda b: (-b.price_q, b.committed_at, b.who)
    )
    pay_q = out.clearing_q if second and out.clearing_q is not None else (losers[0].price_q if losers else 0)
    # the tab left is dust when it cannot buy one collateral base unit at the first loser's pay price
    dust = bool(losers) and out.leftover_tab > 0 and units.qty_for(out.leftover_tab, pay_q or 1) == 0
    event(f"fills={len(out.fills)} losers={len(losers)} dust={dust} forfeits={len(out.forfeited)}")
    if losers and not dust:
        assert out.leftover_lot == 0 or out.leftover_tab == 0  # a bid only loses when nothing is left
    for f in out.fills[:-1]:  # only the last fill can be cut by the tab
        assert f.cost == units.cost(f.qty, out.clearing_q or 0 if second else a.bids[f.who].price_q)
    if second and out.fills and not dust:
        assert out.clearing_q == (max(b.price_q for b in losers) if losers else reserve_q)
        assert all(out.clearing_q <= a.bids[w].price_q for w in winners)
    if not second:
        assert out.clearing_q is None
    with pytest.raises(Rejected):
        a.settle(300.0)
    with pytest.raises(Rejected):
        a.commit("late", bytes(32), 1.0)
