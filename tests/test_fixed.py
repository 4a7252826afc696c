"""Fixed-penalty liquidation with Aave v3 LiquidationLogic rules, on numbers worked out by hand.

The account: 5 ETH at $2,000 against a 10,000 DAI debt, liquidation threshold 96%, so
health = 5 * 2000 * 0.96 / 10000 = 0.96. Bonus 5% (Aave liquidationBonus 10500).
ETH = 1e9 units, DAI = 1e6 units, price in DAI units per whole ETH.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction import units
from auction.errors import Rejected
from auction.fills import Fill
from auction.fixed import FixedFill, FixedLiquidation, percent_div, percent_mul

ETH, DAI, P = units.col, units.num, units.price_q
LT = 0.96


def health(coll: int, debt: int, price_q: int) -> float:
    return coll * price_q / units.COL * LT / debt


def account(h: float = 0.96, **kw: object) -> FixedLiquidation:
    params: dict[str, object] = dict(debt=DAI(10_000), collateral=ETH(5), oracle_price_q=P(2_000), health=h, bonus=0.05)
    params.update(kw)
    return FixedLiquidation(**params)  # type: ignore[arg-type]


def code(fn: object, *args: object) -> str:
    with pytest.raises(Rejected) as err:
        fn(*args)  # type: ignore[operator]
    return err.value.code


def test_percentage_math_rounds_half_up() -> None:
    assert percent_mul(3, 5000) == 2 and percent_mul(2, 5000) == 1  # (3*5000 + 5000) // 10000
    assert percent_div(2_625_000_000, 10500) == 2_500_000_000
    assert percent_div(10_000_000_000, 10500) == 9_523_809_524  # 9523809523.81 -> half up


def test_close_factor_half_above_095() -> None:
    a = account(0.96)
    assert a.bonus_bps == 10500 and a.liquidatable
    assert a.max_repay() == DAI(5_000)
    fill = a.liquidate("liq", DAI(8_000), now=12.0)  # more than the close factor: capped, as Aave does
    # 5000 DAI / $2000 = 2.5 ETH, plus 5% = 2.625 ETH
    assert fill == FixedFill("liq", ETH(2.625), DAI(5_000), 12.0, protocol_fee_qty=0)
    assert isinstance(fill, Fill) and fill.price_q == 1_904_761_904  # $2000 / 1.05, rounded down
    assert (a.debt, a.collateral, a.repaid, a.seized) == (DAI(5_000), ETH(2.375), DAI(5_000), ETH(2.625))


def test_close_factor_full_below_095() -> None:
    a = account(0.94)
    assert a.max_repay() == DAI(10_000)
    fill = a.liquidate("liq", DAI(10_000), now=12.0)
    # 10000 DAI buys 5 ETH + 5% = 5.25 ETH > the 5 ETH there is: seize all 5 ETH and repay
    # percentDiv(5 ETH * $2000, 10500) = 10000 / 1.05 = 9523.809524 DAI (half up)
    assert (fill.qty, fill.cost) == (ETH(5), 9_523_809_524)
    assert (a.collateral, a.debt, a.done) == (0, DAI(10_000) - 9_523_809_524, True)  # 476.190476 DAI bad debt
    assert code(a.liquidate, "liq", DAI(1), 13.0) == "auction-done"


def test_close_factor_threshold_is_inclusive() -> None:
    # LiquidationLogic._calculateDebt: 50% only while healthFactor > 0.95e18
    assert account(0.95).max_repay() == DAI(10_000)
    assert account(0.9500001).max_repay() == DAI(5_000)


def test_protocol_fee_on_the_bonus_part() -> None:
    a = account(0.96, protocol_fee=0.10)
    fill = a.liquidate("liq", DAI(5_000), now=0.0)
    # seized 2.625 ETH, bonus part 2.625 - 2.625/1.05 = 0.125 ETH, 10% of it = 0.0125 ETH to the protocol
    assert (fill.qty, fill.protocol_fee_qty, fill.cost) == (ETH(2.6125), ETH(0.0125), DAI(5_000))
    assert (a.collateral, a.seized, a.fees) == (ETH(2.375), ETH(2.6125), ETH(0.0125))


def test_repeat_until_collateral_runs_out() -> None:
    a = account(health(ETH(5), DAI(10_000), P(2_000)))
    assert a.health == pytest.approx(0.96)
    a.liquidate("liq", DAI(5_000), now=12.0)
    assert code(a.liquidate, "liq", DAI(1_000), 12.0) == "wrong-phase"  # health is stale
    # 2.375 ETH * $2000 * 0.96 / 5000 DAI = 0.912: a 5% bonus on a 105%-collateralized account lowers health
    a.update(health(a.collateral, a.debt, a.oracle_price_q))
    assert a.health == pytest.approx(0.912) and a.max_repay() == DAI(5_000)
    fill = a.liquidate("liq2", DAI(5_000), now=24.0)
    # 5000 DAI would seize 2.625 ETH > 2.375 ETH: all of it, for percentDiv(4750 DAI, 10500) = 4523.809524 DAI
    assert (fill.qty, fill.cost) == (ETH(2.375), 4_523_809_524)
    assert a.repaid == 9_523_809_524 and a.debt == 476_190_476 and a.done  # same total as one full close


def test_not_liquidatable_and_bad_amounts() -> None:
    assert code(account(1.0).liquidate, "liq", DAI(100), 0.0) == "not-liquidatable"  # health < 1 strictly
    assert not account(1.2).liquidatable
    a = account(0.96)
    before = dataclasses.asdict(a)
    assert code(a.liquidate, "liq", 0, 0.0) == "bad-amount"
    assert code(a.liquidate, "liq", 1, 0.0) == "bad-amount"  # 1e-6 DAI buys 0 units at $2000
    assert dataclasses.asdict(a) == before
    fill = a.liquidate("liq", 2, 0.0)  # 2e-6 DAI: 1 unit, percentMul(1, 10500) = 1
    assert (fill.qty, fill.cost) == (1, 2)


def test_update_price() -> None:
    a = account(0.99)
    a.update(0.90, P(1_800))
    fill = a.liquidate("liq", DAI(1_800), 0.0)  # 1 ETH + 5%
    assert (fill.qty, fill.cost) == (ETH(1.05), DAI(1_800))
    with pytest.raises(Rejected):
        a.update(0.9, 0)


# --- properties over random sequences of liquidations and price moves ------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    st.integers(1, 10**13),
    st.integers(1, 10**12),
    st.integers(1, 10**11),
    st.sampled_from([0.0, 0.05, 0.075, 0.15]),
    st.sampled_from([0.0, 0.1, 0.5]),
    st.sampled_from([0.5, 0.25, 1.0]),
)
def test_random_sequences(
    data: st.DataObject, debt0: int, coll0: int, price_q: int, bonus: float, fee: float, cf: float
) -> None:
    h = data.draw(st.floats(0.5, 1.2))
    a = FixedLiquidation(debt0, coll0, price_q, h, bonus, close_factor=cf, protocol_fee=fee)
    for step in range(data.draw(st.integers(1, 12))):
        if data.draw(st.booleans()):
            a.update(data.draw(st.floats(0.5, 1.2)), data.draw(st.sampled_from([None, max(1, price_q // 2)])))
            continue
        repay = data.draw(st.integers(-1, 2 * max(a.debt, 1)))
        before = dataclasses.asdict(a)
        cap, coll = a.max_repay(), a.collateral
        try:
            fill = a.liquidate(f"k{step}", repay, float(step))
        except Rejected:
            assert dataclasses.asdict(a) == before  # a refusal changes nothing
            continue
        assert before["health"] < 1 and not before["stale"]
        assert 0 <= fill.cost <= min(repay, cap)  # never above the close factor
        taken = fill.qty + fill.protocol_fee_qty
        event("collateral-capped" if taken == coll else "bonus-branch")
        assert 0 < taken <= coll  # never more collateral than the account holds
        if taken < coll:  # Aave's first branch: collateral = debt / price * bonus
            assert fill.cost == min(repay, cap)
            assert taken == percent_mul(units.qty_for(fill.cost, a.oracle_price_q), a.bonus_bps)
        assert fill.protocol_fee_qty <= taken - percent_div(taken, a.bonus_bps)
        assert code(a.liquidate, "again", 10**6, float(step)) in {"wrong-phase", "auction-done"}
    assert a.debt + a.repaid == debt0 and a.collateral + a.seized + a.fees == coll0
    assert a.debt >= 0 and a.collateral >= 0
