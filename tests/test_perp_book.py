"""The position book: funding zero-sum, tiered maintenance, both sides liquidated, ADL ranking, conservation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from auction import designs, units
from auction.book.ledger import USD, Ledger
from auction.book.perp_close import adl_candidates, adl_rest, keeper_fill, settle
from auction.book.perp_marks import Marks
from auction.book.positions import PositionBook
from auction.house import AuctionHouse
from auction.params import HouseParams
from auction.perp.adl import hyperliquid_score
from auction.perp.margin import TierTable
from broker import messages as m

ETH = "ETH"
P0 = 2000.0
ETH_TIERS = TierTable.hyperliquid([0, units.num(100_000_000)], [25, 15])  # Hyperliquid ETH tiers


def pool_sell(a: str, qty: int, t: float) -> int:  # a constant-product pool of 10,000 ETH at $2,000
    x, y = 10_000.0, 10_000.0 * P0
    return units.num(y * units.col_f(qty) / (x + units.col_f(qty)))


def pool_buy(a: str, qty: int, t: float) -> int:
    x, y = 10_000.0, 10_000.0 * P0
    return math.ceil(y * units.col_f(qty) / (x - units.col_f(qty)) * 1e6)


def pool_depth(a: str, t: float, bound_q: int, side: int) -> int:
    x, y = 10_000.0, 10_000.0 * P0
    q = y / (bound_q / 1e6) - x if side > 0 else x - y / (bound_q / 1e6)
    return max(units.col(q) - 1, 0)


def make_book(collateral: list[float], tokens: list[float], price: float = P0, *, perp_price: float | None = None,
              tiers: TierTable = ETH_TIERS, attach: bool = True) -> tuple[PositionBook, Ledger]:
    """Traders with ``collateral`` USD and ``tokens`` (signed) opened at ``price`` against the maker."""
    pq = units.price_q(price)
    size = np.array([units.col(x) for x in tokens], dtype=np.int64)
    cost = np.array([int(s) * pq // units.COL for s in size.tolist()], dtype=np.int64)
    coll = np.array([units.num(c) for c in collateral], dtype=np.int64)
    quote = np.concatenate([coll - cost, [units.num(1e9) + int(cost.sum()), units.num(1e6)]]).astype(np.int64)
    sizes = np.concatenate([size, [-int(size.sum()), 0]]).astype(np.int64)[:, None]
    costs = np.concatenate([cost, [-int(cost.sum()), 0]]).astype(np.int64)[:, None]
    marks = Marks((ETH,), lambda a, t: perp_price if perp_price is not None else price)
    book = PositionBook((ETH,), (tiers,), quote, sizes, costs, marks, sell=pool_sell, buy=pool_buy, depth=pool_depth)
    ledger = Ledger()
    ledger.mint("keeper:k", USD, units.num(10_000_000))
    if attach:  # else the auction house attaches it
        book.attach(ledger)
        ledger.mint("insurance", USD, units.num(10_000))
        book.on_prices(np.array([price]), None)
    return book, ledger


def test_funding_is_zero_sum_and_longs_pay_a_positive_premium() -> None:
    book, ledger = make_book([1000, 2000, 3000], [1.0, -2.5, 0.7], perp_price=P0 * 1.01)
    before = book.quote.copy()
    book.on_block(1800.0)
    book.on_block(3600.0)  # the first funding interval
    paid = before - book.quote
    assert paid.sum() == 0 and book.funded.sum() == 0
    assert paid[0] > 0 and paid[2] > 0 and paid[1] < 0  # a premium: longs pay, the short receives
    assert book.funding_paid > 0
    book.check()
    ledger.check()


def test_each_position_carries_the_funding_index_it_settled_at() -> None:
    book, ledger = make_book([1000, 2000, 3000], [1.0, -2.5, 0.7], perp_price=P0 * 1.01)
    book.on_block(3600.0)
    first = book.marks.funding_index[0]
    assert first > 0 and all(f == first for f in book.findex[:, 0].tolist())  # all settled up to the index
    # the maker opens a 0.5 ETH long for trader 0 mid-interval: funding settles before a change, none is owed
    book.trade(book.maker, 0, 0, units.col(0.5), units.num(1000))
    assert book.findex[0, 0] == first
    before = book.quote.copy()
    book.on_block(7200.0)
    step = book.marks.funding_index[0] - first
    paid = before - book.quote
    assert paid.sum() == 0 and all(f == first + step for f in book.findex[:, 0].tolist())
    due = Fraction(int(book.size[0, 0]), units.COL) * step  # trader 0 pays its size times the index difference
    assert due <= paid[0] < due + 1
    book.check()
    ledger.check()


def test_maintenance_follows_the_tier_table_across_a_floor() -> None:
    # $150M of ETH: 100M at the 25x tier, the rest at 15x, Hyperliquid's maintenance = half the initial margin.
    book, _ = make_book([20_000_000], [75_000.0])
    notional = book.notional(0, 0)
    assert notional == units.num(150_000_000)
    want = ETH_TIERS.maintenance_margin(notional)
    assert want == units.num(150_000_000 / 30 - 100_000_000 * (Fraction(1, 30) - Fraction(1, 50)))
    assert book.maintenance(0) == want
    assert book.maintenance_all()[0] == pytest.approx(want, rel=1e-12)


def test_a_fall_breaches_the_long_and_a_rise_the_short() -> None:
    book, _ = make_book([1000, 1000], [10.0, -10.0])  # 20x each at $2,000: maintenance 2% of notional
    flagged, _ = book.on_prices(np.array([P0 * 0.96]), None)
    assert flagged.tolist() == [0] and not book.healthy(0) and book.healthy(1)
    assert book.liquidation_q(0, 0) == pytest.approx(units.price_q(P0) * (1 - 0.05) / (1 - 0.02), rel=1e-9)
    book.reindex(0)
    flagged, _ = book.on_prices(np.array([P0 * 1.04]), None)
    assert flagged.tolist() == [1] and book.healthy(0) and not book.healthy(1)


def test_adl_ranks_profitable_opposite_positions_by_hyperliquid_score() -> None:
    # A bankrupt long; three shorts: two in profit after the fall, with different leverage, one opened lower.
    book, _ = make_book([500, 1000, 5000, 1000], [10.0, -5.0, -5.0, 0.0])
    book.size[3, 0], book.cost[3, 0] = -units.col(2.0), -units.num(2.0 * 1500)  # a short entered at $1,500
    book.size[book.maker, 0] += units.col(2.0)
    book.on_prices(np.array([1700.0]), None)
    queue = adl_candidates(book, 0, 0, 1).tolist()
    assert 3 not in queue and 0 not in queue  # the short in loss and the bankrupt account itself
    mark = 1700.0
    score = {j: float(hyperliquid_score(np.array([mark]), np.array([P0]), np.array([5 * mark]),
                                        np.array([book.equity_all()[j] / 1e6]))[0] * 1e6) for j in (1, 2)}
    assert score[1] > score[2]  # same profit, less collateral: higher leverage, deleveraged first
    assert queue.index(1) < queue.index(2)


def test_adl_and_waterfall_conserve_value_and_leave_the_account_at_zero() -> None:
    book, ledger = make_book([500, 1000, 5000], [10.0, -5.0, -5.0])
    book.on_prices(np.array([1940.0]), None)  # the long is under water: equity 500 - 600 < 0
    assert book.equity(0) < 0
    unfilled = adl_rest(book, 0, 0)
    assert unfilled == 0 and book.size[0, 0] == 0 and book.tally.adl_count == 2
    out = settle(book, 0, 0, socialize=False)
    assert out.insurance_paid == 0 and book.quote[0] >= 0  # closed at bankruptcy: no deficit left
    book.check()
    ledger.check()


def test_a_hedged_takeover_below_bankruptcy_is_covered_by_the_insurance_fund() -> None:
    book, ledger = make_book([500], [10.0])
    book.on_prices(np.array([1955.0]), None)
    net = keeper_fill(book, 0, 0, "k", units.col(10.0), units.price_q(1900.0), 0.0)
    assert net == pool_sell(ETH, units.col(10.0), 0.0) - units.num(19_000)
    assert book.quote[0] == units.num(500 - 1000)
    out = settle(book, 0, 0, socialize=False)
    assert out.insurance_paid == units.num(500) and book.quote[0] == 0
    assert ledger.balance("insurance") == units.num(9_500)
    book.check()
    ledger.check()


def test_perp_dutch_sells_only_what_restores_the_margin() -> None:
    book, ledger = make_book([1000, 0], [20.0, 0.0], perp_price=1985.0, attach=False)  # 40x
    design = designs.get("perp-dutch")
    house = AuctionHouse(design, design.params(), book, ledger, house=HouseParams(),
                         market_price=lambda a, t: 1985.0, proceeds=lambda a, q, t: 0, gas_cost=lambda g, w, t: 0)
    house.on_oracle(0.0, {ETH: 1985.0})
    house.on_block(12.0, 0.0)
    assert not book.healthy(0) and len(house.open) == 1
    sale = next(iter(house.open.values()))
    take = m.Take(auction=sale.id, keeper="k", amount=units.col(20.0), max_price_q=units.price_q(1985.0), nonce=1,
                  deadline_ms=0)
    house.submit(take, 13.0)
    house.on_block(24.0, 0.0)
    left = int(book.size[0, 0])
    assert 0 < left < units.col(20.0)  # a part of the position went, not all of it
    assert book.healthy(0) and book.equity(0) >= Fraction(115, 100) * book.maintenance(0)
    assert sale.closed
    book.check()
    ledger.check()


def test_a_deficit_beyond_the_insurance_fund_is_socialized_over_traders_in_profit() -> None:
    book, ledger = make_book([1000, 30_000, 10_000], [100.0, -10.0, 0.0])
    book.size[2, 0], book.cost[2, 0] = -units.col(5.0), -units.num(5.0 * P0)  # a second short, less collateral
    book.size[book.maker, 0] += units.col(5.0)
    book.on_prices(np.array([1950.0]), None)
    keeper_fill(book, 0, 0, "k", units.col(100.0), units.price_q(1700.0), 0.0)  # far below bankruptcy ($1,990)
    deficit = -int(book.quote[0])
    assert deficit == units.num(29_000)
    eq = book.equity_all()
    out = settle(book, 0, 0, socialize=True)
    assert out.insurance_paid == units.num(10_000) and ledger.balance("insurance") == 0
    assert out.socialized == deficit - units.num(10_000) and out.bad_debt == 0 and book.quote[0] == 0
    paid = {j: int(eq[j] - book.equity_all()[j]) for j in (1, 2)}
    assert sum(paid.values()) == out.socialized  # exactly, shared pro rata to the payers' equity
    assert paid[1] / paid[2] == pytest.approx(eq[1] / eq[2], rel=1e-6)
    book.check()
    ledger.check()


def two_market_book(isolated: bool) -> tuple[PositionBook, np.ndarray]:
    """One trader, $4,000 of collateral: 10 ETH long at $2,000 and 1 BTC short at $30,000 (25x tiers, 2%
    maintenance), the collateral split $2,000 / $2,000 when isolated; the maker holds the other sides."""
    from auction.book.positions import isolate

    pq = (units.price_q(2000.0), units.price_q(30_000.0))
    size = np.array([[units.col(10.0), -units.col(1.0)], [-units.col(10.0), units.col(1.0)], [0, 0]], dtype=np.int64)
    cost = np.array([[int(size[r, k]) * pq[k] // units.COL for k in range(2)] for r in range(3)], dtype=np.int64)
    quote = np.array([units.num(4000) - int(cost[0].sum()), units.num(1e9) - int(cost[1].sum()), units.num(1e6)],
                     dtype=np.int64)
    owner = np.array([0, -1, -1])
    if isolated:
        alloc = np.array([[units.num(2000), units.num(2000)]], dtype=np.int64)
        quote, size, cost, owner = isolate(quote, size, cost, alloc)
    marks = Marks((ETH, "BTC"), lambda a, t: 2000.0 if a == ETH else 30_000.0)
    book = PositionBook((ETH, "BTC"), (ETH_TIERS, ETH_TIERS), quote, size, cost, marks, sell=pool_sell, buy=pool_buy,
                        depth=pool_depth)
    book.attach(Ledger())
    book.on_prices(np.array([2000.0, 30_000.0]), None)
    return book, owner


def test_isolated_margin_liquidates_a_position_cross_margin_carries() -> None:
    cross, _ = two_market_book(False)
    iso, owner = two_market_book(True)
    assert iso.n == 2 and owner.tolist() == [0, 0, -1, -1]  # one margin account per position
    assert int(iso.quote[: iso.n].sum()) == int(cross.quote[0])  # the same trader, the same money
    # ETH falls to $1,830: the long loses $1,700. Cross: $2,300 of equity against $966 of maintenance. Isolated:
    # the ETH position has $300 against $366 and is liquidated; the BTC position ($2,000, $600) is not.
    breached_cross, _ = cross.on_prices(np.array([1830.0, 30_000.0]), None)
    breached_iso, shortfall = iso.on_prices(np.array([1830.0, 30_000.0]), None)
    assert breached_cross.tolist() == [] and cross.healthy(0)
    assert breached_iso.tolist() == [0] and not iso.healthy(0) and iso.healthy(1)
    assert iso.equity(0) == units.num(300) and iso.maintenance(0) == units.num(366)
    assert shortfall.tolist() == pytest.approx([units.num(66)])
    assert [(lot.k, lot.side) for lot in iso.lots(0, seize=False)] == [(0, 1)]  # only the ETH long is sold
    iso.check()


def test_isolated_allocations_must_match_the_collateral() -> None:
    from auction.book.positions import isolate

    quote = np.array([units.num(100), 0, 0], dtype=np.int64)
    size = np.array([[units.col(1.0), 0], [-units.col(1.0), 0], [0, 0]], dtype=np.int64)
    cost = np.zeros_like(size)
    with pytest.raises(ValueError, match="add up to its collateral"):
        isolate(quote, size, cost, np.array([[units.num(50), 0]], dtype=np.int64))
    with pytest.raises(ValueError, match="only, and not negative, to a held position"):
        isolate(quote, size, cost, np.array([[units.num(50), units.num(50)]], dtype=np.int64))


def shown_q(price: Fraction | None, side: int) -> int:
    """How a sale showed a price before ``price_terms_q``: rounded against the holder, 0 where none or <= 0."""
    from auction.perp.prices import to_price_q

    return 0 if price is None or price <= 0 else to_price_q(price, side)


@pytest.mark.parametrize("mark", [1500.0, 1830.0, 1999.0, 2600.0])
def test_a_sales_integer_price_terms_are_the_exact_prices(mark: float) -> None:
    # longs and shorts, thin and thick margin, one market and two (the cross-margined trader): the integer
    # bankruptcy and liquidation prices and the health a sale shows equal the exact Fractions, rounded
    book, _ = make_book([3000, 500, 2000, 40_000], [10, -3, 1, -25])
    book.on_prices(np.array([mark]), None)
    two, _ = two_market_book(False)
    two.on_prices(np.array([mark, 30_000.0]), None)
    for b, rows, markets in ((book, range(4), (0,)), (two, (0,), (0, 1))):
        for i in rows:
            for k in markets:
                side = 1 if b.size[i, k] > 0 else -1
                want = (shown_q(b.bankruptcy_q(i, k), side), shown_q(b.liquidation_q(i, k), side), b.health(i))
                assert b.price_terms_q(i, k, side) == want


@pytest.mark.parametrize(("rank", "first"), [("hyperliquid", 2), ("pnl-leverage", 1)])
def test_the_adl_ranking_is_the_books_choice(rank: str, first: int) -> None:
    # A bankrupt long at $1,700; two shorts of 5 ETH in profit, each with $1,000 of collateral: one sold at $2,000
    # (+$1,500, equity $2,500), one at $1,750 (+$250, equity $1,250). Hyperliquid's (mark / entry) x (notional /
    # account value): 0.85 x 3.4 = 2.89 against 0.971 x 6.8 = 6.61, the smaller profit first; Bybit's PnL% x
    # effective leverage: 15% x 3.4 = 0.51 against 2.86% x 6.8 = 0.194, the larger profit first.
    book, _ = make_book([500, 1000, 1000], [10.0, -5.0, 0.0])
    book.size[2, 0], book.cost[2, 0] = -units.col(5.0), -units.num(5 * 1750.0)
    book.quote[2] += units.num(5 * 1750.0)
    book.size[book.maker, 0] += units.col(5.0)
    book.on_prices(np.array([1700.0]), None)
    assert book.equity(1) == units.num(2500) and book.equity(2) == units.num(1250)
    book.adl_rank = rank
    assert adl_candidates(book, 0, 0, 1).tolist() == [first, 3 - first]


def test_binances_leverage_pnl_ranks_unlike_the_other_two() -> None:
    # A bankrupt long of 6 ETH at a $1,700 mark; three shorts, each with $3,000 of collateral (its wallet):
    # 1: 1 ETH sold at $1,800 (upnl $100, equity $3,100, maintenance 2% x $1,700 = $34),
    # 2: 1 ETH sold at $3,000 (upnl $1,300, equity $4,300, maintenance $34),
    # 3: 4 ETH sold at $1,800 (upnl $400, equity $3,400, maintenance $136).
    # Binance, upnl / wallet x maintenance / equity: 0.000366, 0.003426, 0.005333 -> 3, 2, 1.
    # Hyperliquid, (mark / entry) x (notional / equity): 0.518, 0.224, 1.889 -> 3, 1, 2.
    # PnL% x effective leverage, (upnl / entry value) x (notional / equity): 0.0305, 0.171, 0.111 -> 2, 3, 1.
    book, _ = make_book([500, 3000, 3000, 3000], [6.0, -1.0, -1.0, -4.0], price=1800.0)
    book.cost[2, 0] = -units.num(3000.0)
    book.quote[2] = units.num(3000.0 + 3000.0)
    book.on_prices(np.array([1700.0]), None)
    assert [book.equity(i) for i in (1, 2, 3)] == [units.num(3100), units.num(4300), units.num(3400)]
    want = {"binance": [3, 2, 1], "hyperliquid": [3, 1, 2], "pnl-leverage": [2, 3, 1]}
    for rank, order in want.items():
        book.adl_rank = rank
        assert adl_candidates(book, 0, 0, 1).tolist() == order, rank
