"""Keeper agents against the real auction house, every design: actions are accepted, auctions settle, and
each agent's own books agree exactly with the ledger (cash = escrow, P&L = escrow - capital).

The loop below is the minimal runtime: deliver every house message to every agent, release each order
at the first block at or after its ``not_before``, submit what ``release`` returns.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import numpy as np
import pytest

from auction import units
from auction.book.accounts import Accounts, mm_from_ratio
from auction.book.ledger import USD, Ledger
from auction.designs import REGISTRY, defaults
from auction.house import AuctionHouse
from auction.params import HouseParams
from auction.run.population import WorldMarket
from broker import messages as m
from keepers.agent import KeeperAgent, Order
from keepers.strategies import Universal

PRICE = 100.0  # the market price of ETH throughout
GWEI = 10.0
CAPITAL = units.num(100_000)


def proceeds(asset: str, qty: int, t: float) -> int:
    return units.cost(qty, units.price_q(PRICE * 0.99))  # 1% price impact


def gas_cost(gas: int, gwei: float, t: float) -> int:
    return units.num(gas * gwei * 1e-9 * PRICE)  # gas paid in ETH at the market price


def make_house(design: str) -> AuctionHouse:
    # 3 vaults of 10 ETH, debts 600/650/700 at a 150% ratio (break below 90, 97.5, 105): two at 95.
    debt = np.array([units.num(600 + 50 * i) for i in range(3)], dtype=np.int64)
    accounts = Accounts(("ETH",), np.full((3, 1), units.col(10), dtype=np.int64), debt, mm_from_ratio(1.5))
    ledger = Ledger()
    ledger.mint("market", USD, units.num(10**9))
    chosen = REGISTRY[design]
    return AuctionHouse(chosen, chosen.params_in(defaults()), accounts, ledger,
                        house=HouseParams(max_kicks_per_block=10), market_price=lambda a, t: PRICE,
                        proceeds=proceeds, gas_cost=gas_cost)


def run(design: str, margins: tuple[float, ...] = (0.05, 0.1), hours: float = 10.0) -> tuple[AuctionHouse, list[Any]]:
    house = make_house(design)
    agents = []
    for i, margin in enumerate(margins):
        agent = KeeperAgent(f"k{i}", Universal(margin=margin), CAPITAL, designs=REGISTRY, seed=1,
                            market=WorldMarket(lambda a, t: PRICE, proceeds))
        house.ledger.mint(f"keeper:{agent.keeper_id}", USD, CAPITAL)
        agent.start(0.0)
        agents.append(agent)
    pending: list[tuple[float, int, KeeperAgent, Order]] = []
    seq = itertools.count()

    def deliver(msgs: list[m.Message], now: float) -> None:
        for msg in msgs:
            for agent in agents:
                if isinstance(msg, m.Rejection) and msg.keeper != agent.keeper_id:
                    continue
                for order in agent.on_message(msg, now):
                    heapq.heappush(pending, (order.not_before, next(seq), agent, order))

    deliver(house.on_oracle(0.0, {"ETH": 110.0}), 0.0)
    deliver(house.on_oracle(30.0, {"ETH": 95.0}), 30.0)
    t = 0.0
    while t < hours * 3600:
        t += 12.0
        while pending and pending[0][0] <= t:
            _, _, agent, order = heapq.heappop(pending)
            action = agent.release(order, t)
            if action is not None:
                house.submit(action, t)
        deliver(house.on_block(t, GWEI), t)
    deliver(house.finish(t), t)
    for agent in agents:
        agent.stop(t)
    house.ledger.check()
    return house, agents


@pytest.mark.parametrize("design", ["dutch", "sealed-first", "sealed-second", "english", "fixed"])
def test_agents_books_match_the_ledger(design: str) -> None:
    house, agents = run(design)
    assert house.open == {}
    assert house.tally.accepted > 0
    bought = sum(a.book.bought for a in agents)
    assert bought > 0, "the keepers bought nothing"
    for agent in agents:
        escrow = house.ledger.escrow(agent.keeper_id)
        assert agent.wallet.cash == escrow, agent.keeper_id
        assert agent.pnl == escrow - CAPITAL
        assert agent.wallet.committed == {} and agent.errors == 0
    assert house.ledger.totals.gas == sum(a.book.gas for a in agents)
    assert sum(a.book.spent for a in agents) == house.tally.keeper_cost
    assert sum(a.book.proceeds for a in agents) == house.tally.keeper_resale


def test_dutch_keeper_with_the_smaller_margin_buys_first() -> None:
    house, (eager, patient) = run("dutch")
    assert len(house.sales) == 2 and eager.book.won == 2 and patient.book.won == 0
    # 95 = market * (1 - 0.05); top = 95 * 1.3 = 123.5 falls 1% per 90 s: 123.5 * 0.99^27 = 94.08 <= 95
    prices = [s.fills[0].price_q for s in house.sales.values()]
    assert all(p == units.price_q(123.5 * 0.99**27) for p in prices)
    assert eager.pnl > 0


def test_english_goes_to_the_keeper_who_values_it_most() -> None:
    house, (eager, patient) = run("english")
    assert len(house.sales) == 2 and eager.book.won == 2 and patient.book.won == 0
    for sale in house.sales.values():
        (fill,) = sale.fills
        per_token = fill.cost / units.col_f(fill.qty) / units.NUM
        assert 90.0 / 1.03 < per_token <= 95.0  # beats the rival's 90 by about one beg, within its own 95
