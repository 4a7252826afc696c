"""The perp keeper prices a takeover by its hedge into the outside market, impact included, within its limits."""

from __future__ import annotations

import numpy as np
import pytest
import structlog

from keepers.api import AuctionView, Bid, Context, Take
from keepers.strategies import PerpTaker, Universal


def ctx(balance: float, hedge: dict[int, float]) -> Context:
    """Market at $2,000; selling averages ``hedge[1]``, buying ``hedge[-1]`` (the impact of the quantity)."""
    return Context(keeper_id="k", now=0.0, price=lambda a: 2000.0, balance=balance, inventory={}, gas_price=20.0,
                   rng=np.random.default_rng(0), log=structlog.get_logger(), native_price=2000.0,
                   hedge=lambda a, q: hedge[1 if q > 0 else -1])


def view(design: str, side: int, lot: float, **terms: float) -> AuctionView:
    return AuctionView(id=1, design=design, asset="ETH", lot=lot, tab=0.0, oracle_price=2000.0,
                       terms={"side": side, **terms})


def test_a_long_is_bought_under_its_hedge_and_within_capital() -> None:
    decision = PerpTaker(margin=0.02).on_auction(view("perp-dutch", 1, 50.0, max_qty=20.0), ctx(30_000.0, {1: 1900.0}))
    assert isinstance(decision, Take)
    assert decision.max_price == pytest.approx(1900.0 * 0.98)  # the impact-included hedge, less the margin
    assert decision.max_qty == pytest.approx(15.0)  # capital: 30,000 USD at 2,000 (max_qty would allow 20)


def test_a_short_is_taken_above_its_buy_back_and_sealed_bids_are_bids() -> None:
    decision = Universal(margin=0.02).on_auction(view("perp-sealed", -1, 5.0), ctx(1_000.0, {-1: 2100.0}))
    assert isinstance(decision, Bid)
    assert decision.price == pytest.approx(2100.0 * 1.02) and decision.qty == 5.0  # a short needs no capital up front


def test_the_perp_keeper_ignores_vault_auctions() -> None:
    assert PerpTaker().on_auction(view("dutch", 1, 5.0), ctx(1e6, {1: 1.0})) is None
