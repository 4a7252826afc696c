"""The perp keeper prices a takeover by its hedge into the outside market, impact included, within its limits."""

from __future__ import annotations

import numpy as np
import pytest
import structlog

from auction.designs.perp_takeover import TakeoverParams
from auction.models.chain import GAS_TAKE
from auction.perp import drift
from keepers.api import AuctionView, Bid, Context, Take
from keepers.strategies import PERP_MARGIN, PerpTaker, Universal


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
    gas = GAS_TAKE * 20.0e-9 * 2000.0  # 180k gas at 20 gwei, ETH at $2,000: $7.20 for the transaction
    assert decision.max_price == pytest.approx(1900.0 * 0.98 - gas / 15.0)  # the hedge less the margin and gas
    assert decision.max_qty == pytest.approx(15.0)  # capital: 30,000 USD at 2,000 (max_qty would allow 20)


def test_a_short_is_taken_above_its_buy_back_and_sealed_bids_are_bids() -> None:
    decision = Universal(perp_margin=0.02).on_auction(view("perp-sealed", -1, 5.0), ctx(1_000.0, {-1: 2100.0}))
    assert isinstance(decision, Bid)
    gas = GAS_TAKE * 20.0e-9 * 2000.0 / 5.0
    assert decision.price == pytest.approx(2100.0 * 1.02 + gas) and decision.qty == 5.0  # no capital up front


def test_the_perp_edge_is_under_drifts_fee_and_not_the_vault_margin() -> None:
    assert TakeoverParams().base_fee > PERP_MARGIN  # a hedging liquidator lives on the fee: it must ask less
    keeper = Universal(margin=0.05)  # the vault keepers' resale margin does not reach the perp keeper
    decision = keeper.on_auction(view("perp-takeover", 1, 100.0), ctx(1e9, {1: 2000.0}))
    assert isinstance(decision, Take)
    assert decision.max_price == pytest.approx(2000.0 * (1 - PERP_MARGIN) - GAS_TAKE * 20.0e-9 * 2000.0 / 100.0)
    # Drift's price for a long at a 1% fee off a $2,000 oracle is $1,980: within this keeper's limit
    assert drift.takeover_limit_price(2000 * 10**6, 10_000, True) / 1e6 <= decision.max_price


def test_a_take_too_small_to_pay_its_gas_is_not_made() -> None:
    # 0.001 ETH ($2) cannot pay $7.20 of gas at any price: a long's limit goes below zero
    assert PerpTaker().on_auction(view("perp-takeover", 1, 0.001), ctx(1e6, {1: 2000.0})) is None


def test_the_perp_keeper_ignores_vault_auctions() -> None:
    assert PerpTaker().on_auction(view("dutch", 1, 5.0), ctx(1e6, {1: 1.0})) is None
