"""Settlement invariants across every mechanism, under random keeper behaviour (hypothesis).

Random actions (some valid, most not) from random keepers at random times, against every design:
after every block value is conserved exactly, no balance is negative, no lot is sold twice, nothing
is spent that was not escrowed; at the end every book satisfies the two identities of the reports.
"""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from auction import designs as registry
from auction import units
from auction.book.accounts import Accounts, mm_from_ratio
from auction.book.ledger import USD, Ledger
from auction.designs.english import EnglishParams
from auction.designs.sealed import SealedParams
from auction.house import AuctionHouse
from auction.params import HouseParams
from auction.sealed import commitment
from broker import messages as m

KEEPERS = ("ali", "bob", "cat")
DESIGNS = registry.names("vault")  # vault accounts (the perp designs: tests/test_perp_book.py)


def house_for(design: str) -> AuctionHouse:
    n = 4
    debt = np.array([units.num(600 + 40 * i) for i in range(n)], dtype=np.int64)
    accounts = Accounts(("ETH",), np.full((n, 1), units.col(10), dtype=np.int64), debt, mm_from_ratio(1.5))
    ledger = Ledger()
    ledger.mint("market", USD, units.num(10**8))
    for k in KEEPERS:
        ledger.mint(f"keeper:{k}", USD, units.num(3000))  # small: over-escrow bids do happen
    tables = registry.defaults(sealed=SealedParams(commit_s=60, reveal_s=60, deposit=10.0, rounds=2),
                               english=EnglishParams(beg=1.05, ttl_s=60, tau_s=600))
    chosen = registry.get(design)
    return AuctionHouse(
        chosen, chosen.params_in(tables), accounts, ledger,
        house=HouseParams(max_kicks_per_block=2, insurance_fund=100.0),
        market_price=lambda a, t: 80.0, proceeds=lambda a, q, t: units.cost(q, units.price_q(78.0)),
        gas_cost=lambda g, gwei, t: units.num(0.5),
    )


action = st.tuples(
    st.sampled_from(["take", "redo", "bid", "commit", "reveal", "liquidate"]),
    st.sampled_from(KEEPERS),
    st.integers(1, 4),  # auction id
    st.sampled_from([10, 10, 5, 0, 12, 1]),  # collateral, whole ETH (a lot is 10)
    st.sampled_from([0, 1, 60, 90, 110, 700, 1000, 1200]),  # price or amount, whole USD
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DESIGNS), st.lists(st.lists(action, max_size=4), min_size=1, max_size=25))
def test_random_actions_keep_every_invariant(design: str, blocks: list[list[tuple[str, str, int, int, int]]]) -> None:
    house = house_for(design)
    house.on_oracle(0.0, {"ETH": 80.0})  # every vault under water: 10 * 80 / 1.5 < 600
    nonce = 0
    t = 0.0
    committed: dict[tuple[int, str], tuple[int, int]] = {}
    for actions in blocks:
        t += 12.0
        for kind, who, sid, qty, usd in actions:
            nonce += 1
            if kind == "commit":
                committed[(sid, who)] = (qty, usd)
            elif kind == "reveal" and (sid, who) in committed and usd % 2 == 0:
                qty, usd = committed[(sid, who)]  # most reveals open the keeper's own commit
            house.submit(make(kind, who, sid, qty, usd, nonce), t - 6)
        sold_before = {i: b.sold for i, b in house.ledger.books.items() if b.closed}
        house.on_block(t, 10.0)
        house.ledger.check()  # conservation, no negative balance, books agree with lots
        for i, sold in sold_before.items():
            assert house.ledger.books[i].sold == sold  # a closed lot is never sold again
    house.finish(t + 12)
    house.ledger.check()
    for b in house.ledger.books.values():
        assert b.closed
        assert b.debt == b.repaid + b.bad_debt
        assert b.seized == b.sold + b.returned + b.unsold
    assert all(house.ledger.held(i, k) == 0 for i in house.ledger.books for k in KEEPERS)
    event(f"{design}: {'some' if any(b.sold for b in house.ledger.books.values()) else 'no'} fills")


def make(kind: str, who: str, sid: int, qty: int, usd: int, nonce: int) -> m.Action:
    col, num, pq = units.col(qty), units.num(usd), units.price_q(usd)
    salt = hashlib.sha256(f"{sid}|{who}|{qty}|{usd}".encode()).digest()[:16]  # a reveal can match a commit
    if kind == "take":
        return m.Take(auction=sid, keeper=who, amount=col, max_price_q=pq, nonce=nonce, deadline_ms=0)
    if kind == "redo":
        return m.Redo(auction=sid, keeper=who, nonce=nonce, deadline_ms=0)
    if kind == "bid":
        return m.EnglishBid(auction=sid, keeper=who, lot=col, bid=num, nonce=nonce, deadline_ms=0)
    if kind == "commit":  # the bid behind it is (usd per token, qty): a later reveal of the same opens it
        digest = commitment(sid, who, pq, col, salt).hex()
        return m.Commit(auction=sid, keeper=who, digest=digest, deposit=units.num(10), nonce=nonce)
    if kind == "reveal":
        return m.Reveal(auction=sid, keeper=who, price_q=pq, qty=col, salt=salt.hex(), nonce=nonce)
    return m.Liquidate(auction=sid, keeper=who, repay=num, priority_fee=nonce, nonce=nonce, deadline_ms=0)


bid = st.tuples(st.sampled_from(KEEPERS), st.integers(1, 2), st.sampled_from([10, 5, 2, 0, 11]),
                st.sampled_from([0, 1, 60, 90, 110, 400]), st.booleans())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(("sealed-first", "sealed-second")), st.lists(bid, max_size=8))
def test_sealed_commit_reveal_rounds_keep_every_invariant(
    design: str, bids: list[tuple[str, int, int, int, bool]]
) -> None:
    """Commits in the commit phase, some revealed (some badly), settled over two rounds."""
    house = house_for(design)
    house.on_oracle(0.0, {"ETH": 80.0})
    house.on_block(12.0, 10.0)  # kicks auctions 1 and 2: commit until 72, reveal until 132
    for n, (who, sid, qty, usd, _) in enumerate(bids):
        house.submit(make("commit", who, sid, qty, usd, 100 + n), 20.0)
    house.on_block(24.0, 10.0)
    for n, (who, sid, qty, usd, honest) in enumerate(bids):
        house.submit(make("reveal", who, sid, qty, usd if honest else usd + 1, 200 + n), 80.0)
    t = 84.0
    while t < 400:
        house.on_block(t, 10.0)
        house.ledger.check()
        t += 12.0
    house.finish(t)
    house.ledger.check()
    for b in house.ledger.books.values():
        assert b.debt == b.repaid + b.bad_debt and b.seized == b.sold + b.returned + b.unsold
    assert all(house.ledger.held(i, k) == 0 for i in house.ledger.books for k in KEEPERS)
    event(f"{design}: {'some' if any(b.sold for b in house.ledger.books.values()) else 'no'} fills")
    event(f"forfeits: {'some' if house.ledger.totals.forfeits else 'none'}")
