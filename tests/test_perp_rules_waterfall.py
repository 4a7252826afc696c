"""The loss waterfall: fee, insurance fund, ADL at the bankruptcy price, socialized loss; value conserved exactly."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.perp.fillable import insurance_fund_delta
from auction.perp.prices import bankruptcy_price, to_price_q
from auction.perp.waterfall import INSURANCE, Close, Move, adl, settle
from auction.units import COL, NUM, col

USD = NUM


def book(ledger: dict[str, list[int]], moves: tuple[Move, ...], closes: tuple[Close, ...] = ()) -> None:
    for m in moves:
        assert m.amount > 0
        ledger[m.src][0] -= m.amount
        ledger[m.dst][0] += m.amount
    for c in closes:
        ledger[c.account][1] += c.size_delta


def test_adl_by_hand() -> None:
    # A 1 BTC long entered at 10,000 with 900 margin holds quote -9,100: bankrupt at 9,100. The market took
    # nothing; shorts A (0.4) then B (1.0) are deleveraged at 9,100: A pays 3,640, B 5,460 for 0.6.
    ledger: dict[str, list[int]] = {
        "x": [-9_100 * USD, col(1)],
        "A": [4_000 * USD, -col(0.4)],
        "B": [10_000 * USD, -col(1)],
    }
    bk = bankruptcy_price(col(1), 0, -9_100 * USD)
    assert bk == 9_100 * USD
    res = adl("x", col(1), to_price_q(bk, 1), ["A", "B"], [-col(0.4), -col(1)])
    assert res.unfilled == 0
    assert [(m.src, m.dst, m.amount) for m in res.moves] == [("A", "x", 3_640 * USD), ("B", "x", 5_460 * USD)]
    book(ledger, res.moves, res.closes)
    assert ledger == {"x": [0, 0], "A": [360 * USD, 0], "B": [4_540 * USD, -col(0.4)]}


def test_adl_short_and_capacity() -> None:
    # A bankrupt short of 2 buys back from longs at 105; only 1.5 is on offer: 0.5 stays unfilled.
    res = adl("s", -col(2), 105 * USD, ["L1", "L2"], [col(1), col(0.5)])
    assert [(m.src, m.dst, m.amount) for m in res.moves] == [("s", "L1", 105 * USD), ("s", "L2", 52_500_000)]
    assert res.closes == (Close("s", col(1)), Close("L1", -col(1)), Close("s", col(0.5)), Close("L2", -col(0.5)))
    assert res.unfilled == col(0.5)
    with pytest.raises(ValueError):
        adl("s", -col(1), 1, ["S"], [-col(1)])  # same side
    with pytest.raises(ValueError):
        adl("s", -col(1), 1, ["S"], [])


def test_settle_surplus_pays_the_fee() -> None:
    s = settle("x", 50 * USD, 30 * USD, 0)
    assert (s.fee, s.moves) == (30 * USD, (Move("x", INSURANCE, 30 * USD, "fee"),))
    assert settle("x", 10 * USD, 30 * USD, 0).fee == 10 * USD  # never more than the surplus
    assert settle("x", 0, 30 * USD, 0).moves == ()


def test_settle_deficit_insurance_then_socialized_or_bad_debt() -> None:
    s = settle("x", -100 * USD, 0, 60 * USD, payers=["p", "q"], weights=[1, 3])
    assert (s.insurance_paid, s.socialized, s.bad_debt) == (60 * USD, 40 * USD, 0)
    assert [(m.src, m.amount, m.why) for m in s.moves] == [
        (INSURANCE, 60 * USD, "insurance"),
        ("p", 10 * USD, "socialized"),
        ("q", 30 * USD, "socialized"),
    ]
    s = settle("x", -100 * USD, 0, 60 * USD)
    assert (s.insurance_paid, s.socialized, s.bad_debt) == (60 * USD, 0, 40 * USD)
    with pytest.raises(ValueError):
        settle("x", 1, -1, 0)
    with pytest.raises(ValueError):
        settle("x", -10, 0, 0, payers=["p"], weights=[])


@pytest.mark.parametrize(
    ("fill", "bankruptcy", "fee_ppm"),
    [  # v4-chain liquidations_test.go TestGetLiquidationInsuranceFundDelta: fills against a $5,100 bankruptcy
        (5_610_000_000, 5_100_000_000, 5_000),
        (5_610_000_000, 5_100_000_000, 1_000_000),
        (5_105_100_000, 5_100_000_000, 5_000),
        (5_049_000_000, 5_100_000_000, 5_000),
        (-4_410_000_000, -4_900_000_000, 25_000),
        (-4_949_000_000, -4_900_000_000, 5_000),
    ],
)
def test_settle_agrees_with_dydx_insurance_delta(fill: int, bankruptcy: int, fee_ppm: int) -> None:
    s = settle("x", fill - bankruptcy, abs(fill) * fee_ppm // 1_000_000, 10**15)
    assert s.fee - s.insurance_paid == insurance_fund_delta(fill, bankruptcy, fee_ppm)


@given(
    st.sampled_from([1, -1]),
    st.integers(1, 10**10),
    st.integers(-(10**13), 10**13),
    st.lists(st.integers(1, 10**10), min_size=0, max_size=5),
    st.integers(0, 10**10),
    st.integers(1, 10**11),
    st.integers(1, 10**11),
    st.integers(0, 10**12),
    st.integers(0, 10**11),
    st.booleans(),
)
def test_waterfall_conserves_value_exactly(
    side: int,
    qty: int,
    quote: int,
    counter: list[int],
    market_qty: int,
    market_px: int,
    mark: int,
    insurance: int,
    fee: int,
    social: bool,
) -> None:
    ledger: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    ledger["x"] = [quote, side * qty]
    ledger[INSURANCE] = [insurance, 0]
    names = [f"c{i}" for i in range(len(counter))]
    for n, q in zip(names, counter, strict=True):
        ledger[n] = [10**12, -side * q]
    ledger["payer"] = [0, 0]

    def totals() -> tuple[int, int, Fraction]:
        q = sum(v[0] for v in ledger.values())
        s = sum(v[1] for v in ledger.values())
        return q, s, q + Fraction(s * mark, COL)

    before = totals()
    # 1. The market takes what it can at its price (a plain trade with the "market" account).
    f = min(market_qty, qty)
    cash = f * market_px // COL
    trade = (Move("market", "x", cash, "fill") if side > 0 else Move("x", "market", cash, "fill"),)
    book(ledger, tuple(m for m in trade if m.amount), (Close("x", -side * f), Close("market", side * f)))
    # 2. ADL the rest at the bankruptcy price of what is left (quote model: entry 0).
    left = ledger["x"][1]
    if left:
        bk = bankruptcy_price(left, 0, ledger["x"][0])
        assert bk is not None
        res = adl("x", left, max(to_price_q(bk, left), 0), names, [ledger[n][1] for n in names])
        book(ledger, res.moves, res.closes)
        if res.unfilled == 0 and bk >= 0:
            assert ledger["x"][0] >= 0  # a full ADL at the bankruptcy price never leaves the account below 0
    # 3. Settle its equity at the mark.
    eq = ledger["x"][0] + ledger["x"][1] * mark // COL
    s = settle("x", eq, fee, ledger[INSURANCE][0], payers=["payer"] if social else (), weights=[1])
    book(ledger, s.moves)
    assert totals() == before  # quote, size and equity at the mark: all exactly conserved
    assert ledger[INSURANCE][0] >= 0
    assert s.fee <= max(eq, 0) and s.insurance_paid + s.socialized + s.bad_debt == max(-eq, 0)
    assert s.bad_debt == 0 or not social
