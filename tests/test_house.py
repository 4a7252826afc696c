"""The auction house end to end on hand-made accounts: detection, kick, actions, settlement."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from auction import designs as registry
from auction import units
from auction.book.accounts import Accounts, mm_from_ratio
from auction.book.ledger import USD, Ledger
from auction.designs import defaults
from auction.designs.dutch import DutchParams, DutchTerms
from auction.designs.english import EnglishParams, cat_lots
from auction.designs.fixed import FixedParams
from auction.designs.sealed import SealedParams
from auction.house import AuctionHouse
from auction.params import HouseParams
from auction.sealed import commitment
from broker import messages as m

ETH, DAI = units.col, units.num


def make_house(design: str, *, price: float = 100.0, n: int = 3, hole: float = 0.0, **designs: object) -> AuctionHouse:
    # n vaults of 10 ETH; debts 600, 650, 700 DAI: at a 150% ratio they break below 90, 97.5, 105.
    debt = np.array([DAI(600 + 50 * i) for i in range(n)], dtype=np.int64)
    qty = np.full((n, 1), ETH(10), dtype=np.int64)
    accounts = Accounts(("ETH",), qty, debt, mm_from_ratio(1.5))
    ledger = Ledger()
    ledger.mint("market", USD, DAI(10**9))
    for k in ("ali", "bob"):
        ledger.mint(f"keeper:{k}", USD, DAI(100_000))
    chosen = registry.get(design)
    return AuctionHouse(
        chosen, chosen.params_in(defaults(**designs)), accounts, ledger,
        house=HouseParams(max_kicks_per_block=10, insurance_fund=50.0, hole=hole),
        market_price=lambda asset, t: price, proceeds=lambda asset, qty, t: units.cost(qty, units.price_q(price)),
        gas_cost=lambda gas, gwei, t: 0,
    )


def kinds(msgs: list[m.Message]) -> list[str]:
    return [m.tag_of(type(x)) for x in msgs]


def test_dutch_flow_detects_kicks_takes_and_settles() -> None:
    house = make_house("dutch")
    assert kinds(house.on_oracle(0.0, {"ETH": 110.0})) == ["oracle"]
    house.on_block(12.0, 10.0)
    assert house.open == {}  # all healthy at 110
    house.on_oracle(60.0, {"ETH": 95.0})  # vaults 1 and 2 break (thresholds 97.5 and 105)
    out = house.on_block(72.0, 10.0)
    assert kinds(out).count("announce") == 2
    announces = [x for x in out if isinstance(x, m.Announce)]
    # The most at risk first: account 2 (debt 700) is kicked before account 1.
    assert [a.owner for a in announces] == ["acct:2", "acct:1"]
    first = announces[0]
    assert first.tab == DAI(700 * 1.13) and first.lot == ETH(10)
    assert isinstance(first.terms, DutchTerms) and first.terms.top_q == units.price_q(95 * 1.3)
    take = m.Take(auction=first.auction, keeper="ali", amount=ETH(10), max_price_q=units.price_q(200),
                  nonce=1, deadline_ms=0)
    house.submit(take, 80.0)
    out = house.on_block(84.0, 10.0)
    results = [x for x in out if isinstance(x, m.Result)]
    assert len(results) == 1 and results[0].fills[0].keeper == "ali"
    book = house.ledger.books[first.auction]
    assert book.repaid == book.debt == DAI(700) and book.penalty == DAI(91) and book.bad_debt == 0
    assert book.returned > 0 and book.seized == book.sold + book.returned
    house.ledger.check()


def test_rejected_take_changes_nothing_and_tells_the_keeper() -> None:
    house = make_house("dutch")
    house.on_oracle(0.0, {"ETH": 95.0})
    out = house.on_block(12.0, 10.0)
    sid = next(x.auction for x in out if isinstance(x, m.Announce))
    before = dict(house.ledger.bal)
    house.submit(m.Take(auction=sid, keeper="ali", amount=ETH(1), max_price_q=1, nonce=7, deadline_ms=0), 13.0)
    out = house.on_block(24.0, 10.0)
    rej = [x for x in out if isinstance(x, m.Rejection)]
    assert rej and rej[0].code == "too-expensive" and rej[0].ref == 7 and rej[0].keeper == "ali"
    assert dict(house.ledger.bal) == before


def test_priority_fee_orders_a_block() -> None:
    house = make_house("fixed")
    house.on_oracle(0.0, {"ETH": 95.0})
    out = house.on_block(12.0, 10.0)
    sid = next(x.auction for x in out if isinstance(x, m.Announce) and x.owner == "acct:2")
    # Two liquidators race for the same account; the higher priority fee goes first, even if later.
    house.submit(m.Liquidate(auction=sid, keeper="ali", repay=DAI(10_000), priority_fee=1000, nonce=1,
                             deadline_ms=0), 13.0)
    house.submit(m.Liquidate(auction=sid, keeper="bob", repay=DAI(10_000), priority_fee=5000, nonce=1,
                             deadline_ms=0), 14.0)
    house.on_block(24.0, 10.0)
    fills = house.sales[sid].fills
    assert fills[0].who == "bob"
    # Aave v3: health 10 * 95 / 1.5 / 700 = 0.905 < 0.95 -> 100% close factor: bob repays all 700 DAI
    # and seizes 700 / 95 ETH plus the 5% bonus (PercentageMath.percentMul rounds half up).
    assert fills[0].cost == DAI(700)
    assert fills[0].qty == (units.qty_for(DAI(700), units.price_q(95)) * 10500 + 5000) // 10000
    assert len(fills) == 1  # ali's liquidation found the account already closed
    house.ledger.check()


def test_sealed_second_price_flow() -> None:
    house = make_house("sealed-second", sealed=SealedParams(commit_s=60, reveal_s=60, deposit=10.0))
    house.on_oracle(0.0, {"ETH": 95.0})
    out = house.on_block(12.0, 10.0)
    sid = next(x.auction for x in out if isinstance(x, m.Announce) and x.owner == "acct:2")
    bids = {"ali": (units.price_q(90), b"a" * 16), "bob": (units.price_q(85), b"b" * 16)}
    for nonce, (who, (pq, salt)) in enumerate(bids.items(), 1):
        digest = commitment(sid, who, pq, ETH(10), salt).hex()
        house.submit(m.Commit(auction=sid, keeper=who, digest=digest, deposit=DAI(10), nonce=nonce), 20.0)
    house.on_block(24.0, 10.0)
    for nonce, (who, (pq, salt)) in enumerate(bids.items(), 10):
        house.submit(m.Reveal(auction=sid, keeper=who, price_q=pq, qty=ETH(10), salt=salt.hex(), nonce=nonce), 80.0)
    house.on_block(84.0, 10.0)
    out = house.on_block(144.0, 10.0)
    result = next(x for x in out if isinstance(x, m.Result) and x.auction == sid)
    # Ali wins at Bob's price (second price) and pays only the tab it needs: 791 DAI at 85.
    assert result.fills[0].keeper == "ali"
    assert result.fills[0].cost == DAI(791)
    assert house.ledger.held(sid, "ali") == 0 and house.ledger.held(sid, "bob") == 0
    house.ledger.check()


def test_english_flow_and_zero_bid() -> None:
    house = make_house("english", english=EnglishParams(beg=1.03, ttl_s=600, tau_s=3600))
    house.on_oracle(0.0, {"ETH": 95.0})
    out = house.on_block(12.0, 10.0)
    sid = next(x.auction for x in out if isinstance(x, m.Announce) and x.owner == "acct:2")
    house.submit(m.EnglishBid(auction=sid, keeper="ali", lot=ETH(10), bid=1, nonce=1, deadline_ms=0), 13.0)
    house.on_block(24.0, 10.0)
    out = []
    t = 24.0
    while t < 700:
        t += 12
        out += house.on_block(t, 10.0)
    result = next(x for x in out if isinstance(x, m.Result) and x.auction == sid)
    assert result.fills[0].cost == 1 and result.fills[0].qty == ETH(10)  # a Black Thursday zero bid
    assert house.tally.zero_bid_fills == 1
    assert house.ledger.books[sid].bad_debt == DAI(700) - 1
    house.ledger.check()


@pytest.mark.parametrize("design", ["dutch", "english", "sealed-first", "fixed"])
def test_finish_closes_every_book(design: str) -> None:
    house = make_house(design, dutch=DutchParams(), fixed=FixedParams(), price=50.0)
    house.on_oracle(0.0, {"ETH": 50.0})
    house.on_block(12.0, 10.0)
    house.finish(24.0)
    books = list(house.ledger.books.values())
    assert books and all(b.closed for b in books)
    for b in books:
        assert b.debt == b.repaid + b.bad_debt
        assert b.seized == b.sold + b.returned + b.unsold
    house.ledger.check()


def test_digest_helper_is_sha256() -> None:
    d = commitment(1, "ali", 5, 6, b"x" * 16)
    assert d == hashlib.sha256(b"liqnet-commit-v1|1|ali|5|6|" + b"x" * 16).digest()


def test_cat_lump_splits_a_vault_as_cat_bite_does() -> None:
    # cat.sol bite: lot = min(ink, lump), art = min(art, lot * art / ink) rounded down, again until empty
    lots = cat_lots(ETH(120), DAI(10_000), EnglishParams(lump=50.0))
    assert lots == [(ETH(50), 4_166_666_666), (ETH(50), 4_166_666_667), (ETH(20), 1_666_666_667)]
    assert sum(q for q, _ in lots) == ETH(120) and sum(d for _, d in lots) == DAI(10_000)
    assert cat_lots(ETH(120), DAI(10_000), EnglishParams()) == [(ETH(120), DAI(10_000))]  # lump 0: one lot


def test_english_lump_opens_one_sale_per_lot_of_a_vault() -> None:
    house = make_house("english", english=EnglishParams(beg=1.03, ttl_s=600, tau_s=3600, lump=4.0))
    house.on_oracle(0.0, {"ETH": 95.0})
    out = house.on_block(12.0, 10.0)
    mine = [x for x in out if isinstance(x, m.Announce) and x.owner == "acct:2"]
    assert [x.lot for x in mine] == [ETH(4), ETH(4), ETH(2)]  # 10 ETH in lots of at most 4
    assert sum(house.ledger.books[x.auction].debt for x in mine) == DAI(700)
    house.finish(24.0)
    house.ledger.check()


def test_the_hole_holds_kicks_while_open_tabs_reach_it() -> None:
    # dog.sol bark: no kick while Dirt >= hole; clip.sol take digs what it raised (and the rest when it ends)
    house = make_house("dutch", hole=500.0)
    house.on_oracle(0.0, {"ETH": 95.0})  # vaults 1 and 2 break
    out = house.on_block(12.0, 10.0)
    (first,) = [x for x in out if isinstance(x, m.Announce)]  # one kick: its tab 791 passes the hole of 500
    assert first.owner == "acct:2" and house.dirt == DAI(700 * 1.13)
    assert not [x for x in house.on_block(24.0, 10.0) if isinstance(x, m.Announce)]  # held: Dirt >= hole
    house.submit(m.Take(auction=first.auction, keeper="ali", amount=ETH(10), max_price_q=units.price_q(200),
                        nonce=1, deadline_ms=0), 30.0)
    out = house.on_block(36.0, 10.0)  # the take raises the tab and closes the sale: room again, the next kick
    assert [x.owner for x in out if isinstance(x, m.Announce)] == ["acct:1"] and house.dirt == DAI(650 * 1.13)
    free = make_house("dutch")
    free.on_oracle(0.0, {"ETH": 95.0})
    assert len([x for x in free.on_block(12.0, 10.0) if isinstance(x, m.Announce)]) == 2 and free.dirt == 0
    house.ledger.check()


def full_state(house: AuctionHouse, sale_id: int, now: float) -> m.State:
    """The State of a sale with every field spelled out, as the house built it before it left defaults out."""
    sale = house.sales[sale_id]
    s = sale.show(now)
    return m.State(
        auction=sale.id, seq=sale.seq, status="closed" if sale.closed else "open", design=sale.design,
        asset=sale.asset, owner=sale.account, lot=max(0, s.lot), tab=max(0, s.tab), start_ms=units.ms(s.start),
        top_q=s.top_q, bid=s.bid, guy=s.guy, tic_ms=units.ms(s.tic), phase=s.phase,  # type: ignore[arg-type]
        terms=s.terms, ts_ms=units.ms(now))


@pytest.mark.parametrize("design", ["dutch", "english", "sealed-first", "fixed"])
def test_states_equal_the_state_with_every_field(design: str) -> None:
    house = make_house(design)
    house.on_oracle(0.0, {"ETH": 95.0})
    out = house.on_block(12.0, 10.0)
    states = [x for x in out if isinstance(x, m.State)]
    assert states
    for st in states:
        assert st == full_state(house, st.auction, 12.0)
    if design == "english":  # a bid: the English fields are shown
        sale_id = states[0].auction
        house.submit(m.EnglishBid(auction=sale_id, keeper="ali", bid=DAI(100), lot=ETH(10), nonce=1,
                                  deadline_ms=0), 13.0)
        bid = [x for x in house.on_block(24.0, 10.0) if isinstance(x, m.State)]
        assert bid[0].bid == DAI(100) and bid[0].guy == "ali" and bid[0].tic_ms > 0
        assert bid[0] == full_state(house, sale_id, 24.0)


def test_dutch_sales_kicked_together_share_their_terms() -> None:
    house = make_house("dutch")
    house.on_oracle(0.0, {"ETH": 95.0})
    announces = [x for x in house.on_block(12.0, 10.0) if isinstance(x, m.Announce)]
    assert len(announces) == 2 and announces[0].terms is announces[1].terms  # one object, built once
    p = house.design_params
    assert announces[0].terms == DutchTerms(
        top_q=units.price_q(95 * 1.3), curve=p.curve, tau_ms=units.ms(p.tau), cut=p.cut, step_ms=units.ms(p.step),
        tail_ms=units.ms(p.tail), cusp=p.cusp, chost=units.num(p.chost), tip=units.num(p.tip), chip=p.chip)
    house.on_oracle(60.0, {"ETH": 80.0})
    later = [x for x in house.on_block(72.0, 10.0) if isinstance(x, m.Announce)]
    assert later[0].terms.top_q == units.price_q(80 * 1.3) and later[0].terms is not announces[0].terms
