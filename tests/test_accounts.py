"""Accounts: margin maths on hand-computed accounts, Maker's 150 % vault, seize/close, the generator."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from auction import units
from auction.book.accounts import Accounts, generate, mm_from_ratio
from auction.errors import ConfigError, Rejected

USD = units.NUM  # numeraire base units per whole USD


def maker_vault() -> Accounts:
    """The Maker example: a vault of 10 ETH with 1000 DAI of debt, liquidation ratio 150 %."""
    return Accounts(("ETH",), [[units.col(10)]], [units.num(1000)], mm_from_ratio(1.5))


def test_mm_from_ratio_is_one_minus_inverse_ratio() -> None:
    assert mm_from_ratio(1.5)[0] == pytest.approx(1 / 3)
    assert mm_from_ratio([1.25, 2.0]).tolist() == pytest.approx([0.2, 0.5])
    assert mm_from_ratio(1.0)[0] == 0.0
    with pytest.raises(ValueError):
        mm_from_ratio(0.9)


def test_maker_vault_at_150_is_exactly_at_the_threshold() -> None:
    acc = maker_vault()
    # 10 ETH * $150 = $1500 = 150 % of 1000 DAI: health exactly 1, not liquidatable (dss dog.sol needs <).
    assert acc.health([150.0])[0] == 1.0
    assert acc.liquidation_price(0) == pytest.approx(150.0, rel=1e-12)
    assert acc.shortfall([150.0])[0] == pytest.approx(0.0, abs=1e-6)
    # equity $500, requirement $1500 * 1/3 = $500.
    assert acc.equity([150.0])[0] == pytest.approx(500 * USD)
    assert acc.requirement([150.0])[0] == pytest.approx(500 * USD)
    # one cent lower: liquidatable, short by 10 * 0.01 * 2/3 = $0.0667.
    assert acc.health([149.99])[0] < 1.0
    assert acc.shortfall([149.99])[0] == pytest.approx(0.01 * 10 * 2 / 3 * USD)
    # at $200: health 10 * 200 * 2/3 / 1000.
    assert acc.health([200.0])[0] == pytest.approx(4 / 3)
    assert acc.collateral_value([200.0])[0] == pytest.approx(2000 * USD)
    assert acc.shortfall([200.0])[0] == pytest.approx(-1000 / 3 * USD)


def two_asset_accounts() -> Accounts:
    # ETH at 150 % (mm 1/3), BTC at 125 % (mm 0.2).
    qty = [
        [units.col(2), units.col(0.1)],  # cross-margin: 2 ETH + 0.1 BTC, $300 debt
        [units.col(1), 0],  # single ETH: 1 ETH, $50 debt
        [0, units.col(0.5)],  # single BTC: 0.5 BTC, $1000 debt
        [0, 0],  # no collateral, $10 debt
        [units.col(3), 0],  # no debt
    ]
    debt = [units.num(x) for x in (300, 50, 1000, 10, 0)]
    return Accounts(("ETH", "BTC"), qty, debt, mm_from_ratio([1.5, 1.25]))


def test_cross_margin_numbers_by_hand() -> None:
    acc = two_asset_accounts()
    marks = [100.0, 5000.0]
    # value 2*100 + 0.1*5000 = 700; backing 200*2/3 + 500*0.8 = 533.33; requirement 200/3 + 500*0.2.
    assert acc.collateral_value(marks)[0] == pytest.approx(700 * USD)
    assert acc.equity(marks)[0] == pytest.approx(400 * USD)
    assert acc.requirement(marks)[0] == pytest.approx((200 / 3 + 100) * USD)
    assert acc.health(marks)[0] == pytest.approx((400 / 3 + 400) / 300)
    assert acc.shortfall(marks)[0] == pytest.approx((200 / 3 + 100 - 400) * USD)
    # BTC falls to 1000: backing 133.33 + 80 = 213.33 < 300: liquidatable, short by 86.67.
    crash = [100.0, 1000.0]
    assert acc.health(crash)[0] == pytest.approx((400 / 3 + 80) / 300)
    assert acc.shortfall(crash)[0] == pytest.approx((300 - 400 / 3 - 80) * USD)
    h = acc.health(crash)
    assert h[3] == 0.0 and h[4] == np.inf
    # subset evaluation gives the same numbers, in the order asked
    assert acc.health(crash, idx=[2, 0]).tolist() == [h[2], h[0]]


def test_shortfall_is_requirement_minus_equity() -> None:
    acc = generate(500, ("ETH", "BTC"), [200.0, 8000.0], seed=3, cross_share=0.5)
    marks = np.array([120.0, 6000.0])
    assert np.allclose(acc.shortfall(marks), acc.requirement(marks) - acc.equity(marks), rtol=1e-9, atol=1e-3)
    under = acc.health(marks) < 1
    assert np.array_equal(under, acc.shortfall(marks) > 0)


def test_liquidation_prices_single_and_cross() -> None:
    acc = two_asset_accounts()
    lp = acc.liquidation_prices()
    assert np.isnan(lp[0])  # cross-margin: no single price
    assert lp[1] == pytest.approx(50 / (1 * 2 / 3))  # 75
    assert lp[2] == pytest.approx(1000 / (0.5 * 0.8))  # 2500
    assert lp[3] == np.inf and lp[4] == 0.0
    assert acc.liquidation_price(2) == lp[2]
    with pytest.raises(ValueError, match="cross-margin"):
        acc.liquidation_price(0)
    # at the liquidation price the health is 1; a volatility mm override moves the price up
    assert acc.health([75.0, 2500.0])[1:3] == pytest.approx([1.0, 1.0])
    assert acc.liquidation_price(1, mm=[0.5, 0.2]) == pytest.approx(100.0)


def test_single_asset_classification() -> None:
    acc = two_asset_accounts()
    assert acc.is_single.tolist() == [False, True, True, True, True]
    assert acc.single_asset().tolist() == [-1, 0, 1, 0, 0]
    assert maker_vault().is_single.tolist() == [True]


def test_seize_reduces_holdings_and_debt() -> None:
    acc = two_asset_accounts()
    acc.seize(0, [units.col(1), 0], units.num(100))
    assert acc.qty[0].tolist() == [units.col(1), units.col(0.1)]
    assert acc.debt[0] == units.num(200)


def test_seize_refuses_going_below_zero_and_changes_nothing() -> None:
    acc = two_asset_accounts()
    before = (acc.qty.copy(), acc.debt.copy())
    with pytest.raises(Rejected) as exc:
        acc.seize(1, [units.col(1) + 1, 0], 0)
    assert exc.value.code == "insufficient-balance"
    with pytest.raises(Rejected) as exc:
        acc.seize(1, [0, 0], units.num(50) + 1)
    assert exc.value.code == "insufficient-balance"
    with pytest.raises(Rejected) as exc:
        acc.seize(1, [-1, 0], 0)
    assert exc.value.code == "bad-amount"
    with pytest.raises(Rejected) as exc:
        acc.seize(1, [0.5, 0], 0)
    assert exc.value.code == "bad-amount"
    assert np.array_equal(acc.qty, before[0]) and np.array_equal(acc.debt, before[1])


def test_close_returns_leftovers_and_deactivates() -> None:
    acc = two_asset_accounts()
    qty, debt = acc.close(0)
    assert qty.tolist() == [units.col(2), units.col(0.1)] and debt == units.num(300)
    assert not acc.active[0] and acc.qty[0].tolist() == [0, 0] and acc.debt[0] == 0
    assert acc.health([1.0, 1.0])[0] == np.inf
    with pytest.raises(Rejected):
        acc.close(0)
    with pytest.raises(Rejected):
        acc.seize(0, [0, 0], 0)


def test_constructor_validates_shapes_and_margins() -> None:
    with pytest.raises(ValueError):
        Accounts(("ETH",), [[1, 2]], [1], [0.1])
    with pytest.raises(ValueError):
        Accounts(("ETH",), [[1]], [1], [1.0])
    with pytest.raises(ValueError):
        Accounts(("ETH",), [[-1]], [1], [0.1])
    with pytest.raises(ValueError):
        maker_vault().health([np.nan])


def test_generate_is_deterministic() -> None:
    kw = dict(seed=42, cross_share=0.3)
    a = generate(10_000, ("ETH", "BTC"), [200.0, 8000.0], **kw)  # type: ignore[arg-type]
    b = generate(10_000, ("ETH", "BTC"), [200.0, 8000.0], **kw)  # type: ignore[arg-type]
    assert np.array_equal(a.qty, b.qty) and np.array_equal(a.debt, b.debt) and np.array_equal(a.mm, b.mm)
    c = generate(10_000, ("ETH", "BTC"), [200.0, 8000.0], seed=43, cross_share=0.3)
    assert not np.array_equal(a.debt, c.debt)
    # the cross-margin share changes only the cross-margin draws
    d = generate(10_000, ("ETH", "BTC"), [200.0, 8000.0], seed=42, cross_share=0.0)
    assert np.array_equal(a.debt, d.debt)


def test_generate_distributions() -> None:
    p0 = np.array([200.0, 8000.0])
    acc = generate(
        200_000,
        ("ETH", "BTC"),
        p0,
        seed=7,
        debt_mean=5_000.0,
        debt_sigma=0.8,
        cr_low=1.6,
        cr_high=3.0,
        liquidation_ratio=[1.5, 1.25],
        cross_share=0.25,
    )
    debt = acc.debt / USD
    assert debt.mean() == pytest.approx(5_000.0, rel=0.02)
    assert np.log(debt).std() == pytest.approx(0.8, rel=0.02)
    ratio = acc.collateral_value(p0) / acc.debt
    assert ratio.min() >= 1.6 - 1e-6 and ratio.max() <= 3.0 + 1e-6
    assert ratio.mean() == pytest.approx(2.3, rel=0.01)
    assert (~acc.is_single).mean() == pytest.approx(0.25, abs=0.01)
    assert acc.mm.tolist() == pytest.approx([1 / 3, 0.2])
    assert np.all(acc.health(p0) > 1.0)  # cr_low above both liquidation ratios


def test_generate_rejects_bad_parameters() -> None:
    with pytest.raises(ConfigError):
        generate(10, ("ETH",), [200.0], seed=1, cross_share=0.5)
    with pytest.raises(ConfigError):
        generate(10, ("ETH",), [0.0], seed=1)
    with pytest.raises(ConfigError):
        generate(10, ("ETH",), [200.0], seed=1, cr_low=3.0, cr_high=2.0)
    with pytest.raises(ConfigError):
        generate(10, ("ETH",), [200.0], seed=1, liquidation_ratio=0.5)


def test_one_million_accounts_stay_small() -> None:
    tracemalloc.start()
    try:
        acc = generate(1_000_000, ("ETH",), [200.0], seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert acc.nbytes == 1_000_000 * (8 + 8 + 1) + 8  # qty, debt, active, mm
    assert peak < 200 * 2**20  # generation temporaries included


@pytest.mark.parametrize("assets", [("ETH",), ("ETH", "BTC", "LINK")])
def test_vault_book_health_of_one_account_is_the_vectorized_health(assets: tuple[str, ...]) -> None:
    from auction.book.vaults import VaultBook

    k = len(assets)
    acc = generate(3000, assets, np.full(k, 100.0), seed=3, cross_share=0.5 if k > 1 else 0.0)
    book = VaultBook(acc)
    for trial in range(4):
        book.oracle = np.random.default_rng(trial).uniform(50.0, 150.0, k)
        book.mm = None if trial % 2 else np.full(k, 0.07)
        want = acc.health(book.oracle, book.mm)
        assert [book.health(i) for i in range(acc.n)] == want.tolist()  # bit for bit, inf for no debt


@pytest.mark.parametrize("assets", [("ETH",), ("ETH", "BTC")])
def test_seize_all_is_seize_of_the_whole_row(assets: tuple[str, ...]) -> None:
    a = generate(50, assets, np.full(len(assets), 100.0), seed=5, cross_share=0.5 if len(assets) > 1 else 0.0)
    b = Accounts(a.assets, a.qty.copy(), a.debt.copy(), a.mm)
    for i in (0, 7, 49):
        want = (b.qty[i].copy(), int(b.debt[i]))
        b.seize(i, want[0], want[1])
        qty, debt = a.seize_all(i)
        assert qty.tolist() == want[0].tolist() and debt == want[1]
    assert np.array_equal(a.qty, b.qty) and np.array_equal(a.debt, b.debt) and a.active.all()
    a.close(3)
    with pytest.raises(Rejected, match="closed"):
        a.seize_all(3)


def test_vault_book_lots_split_the_debt_by_value_and_seize_the_account() -> None:
    from auction.book.vaults import VaultBook

    acc = Accounts(("ETH", "BTC"), [[units.col(2), units.col(1)], [units.col(3), 0]], [units.num(900)] * 2,
                   mm_from_ratio(1.5))
    book = VaultBook(acc)
    book.on_prices(np.array([100.0, 400.0]), None)
    cross = book.lots(0, seize=True)  # $200 of ETH and $400 of BTC: a third and two thirds of the debt
    assert [(lot.k, lot.qty, lot.debt) for lot in cross] == [(0, units.col(2), units.num(300)),
                                                             (1, units.col(1), units.num(600))]
    assert acc.qty[0].tolist() == [0, 0] and acc.debt[0] == 0
    single = book.lots(1, seize=False)  # one asset takes the whole debt; nothing seized
    assert [(lot.k, lot.qty, lot.debt) for lot in single] == [(0, units.col(3), units.num(900))]
    assert acc.debt[1] == units.num(900)
