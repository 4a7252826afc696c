"""ADL scores on hand-computed numbers (the venues publish formulas, not worked queues) and the queue order."""

from __future__ import annotations

import numpy as np
import pytest

from auction.perp.adl import adl_queue, binance_score, hyperliquid_score, pnl_leverage_score
from auction.units import NUM


def test_hyperliquid_score_and_queue() -> None:
    # A long went bankrupt: shorts in profit are ranked by (mark / entry) * (notional / account value).
    ids = np.array([7, 3, 5, 9, 2, 4])
    sizes = np.array([-2, -1, -1, -1, 3, -2])
    entry = np.array([110.0, 120.0, 105.0, 90.0, 95.0, 110.0])
    mark = np.full(6, 100.0)
    notional = np.abs(sizes) * mark
    account_value = np.array([50.0, 25.0, 20.0, 10.0, 100.0, 50.0])
    scores = hyperliquid_score(mark, entry, notional, account_value)
    assert scores[:3] == pytest.approx([100 / 110 * 4, 100 / 120 * 4, 100 / 105 * 5])
    upnl = sizes * (mark - entry)  # 20, 20, 5, -10 (loss), 15 (long), 20
    queue = adl_queue(scores, sizes, upnl, ids, bankrupt_size_sign=1)
    # 5 (4.76), then 4 and 7 tie at 3.64 -> lower id first, then 3 (3.33); 9 is losing, 2 is a long.
    assert ids[queue].tolist() == [5, 4, 7, 3]
    assert hyperliquid_score(np.array([1.0]), np.array([1.0]), np.array([5.0]), np.array([0.0]))[0] == np.inf


def test_binance_leverage_pnl() -> None:
    # dev.binance.vision/t/17801 (a user's worked numbers on Binance's formula): unrealized profit 40.2,
    # wallet 4.27, margin ratio 13.42% -> PnL% 9.41 and LeveragePnL 1.26.
    upnl, wallet = 40.2 * NUM, 4.27 * NUM
    mm = 0.1342 * (wallet + upnl)
    (score,) = binance_score(np.array([upnl]), np.array([wallet]), np.array([mm]))
    assert round(upnl / wallet, 2) == 9.41 and round(score, 2) == 1.26
    # Wallet under 1 USD counts as 1 USD; a loss scores 0; so does an account with no equity.
    got = binance_score(
        np.array([2 * NUM, -NUM, 2 * NUM]), np.array([NUM // 2, 5 * NUM, -3 * NUM]), np.full(3, NUM / 4)
    )
    assert got.tolist() == pytest.approx([2 * 0.1, 0.0, 0.0])


def test_pnl_times_effective_leverage() -> None:
    # Long 1 at 100, mark 110, bankrupt at 90: PnL% 10%, leverage 110 / 20 = 5.5 -> 0.55.
    # Short 1 at 100, mark 90, bankrupt at 110: PnL% 10%, leverage 90 / 20 = 4.5 -> 0.45.
    # Losing long at 100, mark 95, bankrupt at 90: -5% / (95 / 5) = -0.0026...
    got = pnl_leverage_score(
        np.array([110.0, -90.0, 95.0]), np.array([100.0, -100.0, 100.0]), np.array([90.0, -110.0, 90.0])
    )
    assert got.tolist() == pytest.approx([0.55, 0.45, -0.05 / 19])


def test_queue_takes_the_opposite_side_only() -> None:
    sizes = np.array([1, -1, 1, -1])
    upnl = np.array([5, 5, 5, 0])
    ids = np.array([0, 1, 2, 3])
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    assert adl_queue(scores, sizes, upnl, ids, -1).tolist() == [2, 0]  # a short went bankrupt: longs
    assert adl_queue(scores, sizes, upnl, ids, 1).tolist() == [1]  # id 3 has no profit
    with pytest.raises(ValueError):
        adl_queue(scores, sizes, upnl, ids, 0)


def test_pnl_times_effective_leverage_on_bybits_example_position() -> None:
    # Bybit's ADL article (help.bybit.com ... 900000031623, "What is Auto-Deleveraging (ADL)"): a long bought at
    # 7,890.08 on 50x goes bankrupt at entry x 50 / 51 = 7,735.372549. Marked at 8,000 it has made
    # (8,000 - 7,890.08) / 7,890.08 = 1.39314% and carries 8,000 / (8,000 - 7,735.372549) = 30.2312x: its
    # ranking is their product, 0.421163. Marked at 7,800 it is losing: -1.14169% / 120.692x = -0.0000946.
    entry, bankrupt = 7890.08, 7890.08 * 50 / 51
    assert round(bankrupt, 6) == 7735.372549
    got = pnl_leverage_score(np.array([8000.0, 7800.0]), np.full(2, entry), np.full(2, bankrupt))
    assert got.tolist() == pytest.approx([0.421163, -0.0000946], rel=1e-4)
