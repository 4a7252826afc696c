"""One running liquidation per design: a mechanism bound to the ledger.

A sale turns a keeper's action into a mechanism operation and the ledger moves it implies, all or
nothing: the mechanism works on a copy that replaces the original only once the ledger has accepted
its moves, so a refused action (``Rejected``) leaves both untouched. ``advance`` applies deadlines
(Dutch resets, sealed settlement, English deal/restart) and ``finish`` closes the books.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from auction import units
from auction.book.ledger import Book, Ledger
from auction.curves import make_curve
from auction.dutch import DutchAuction
from auction.english import EnglishAuction
from auction.fills import Fill
from auction.fixed import FixedLiquidation
from auction.params import DutchParams, EnglishParams, FixedParams, SealedParams
from auction.sealed import SealedAuction

KICKER = "kicker"  # the keeper bot that barks and resets (its incentives count as keeper income)


@dataclass(slots=True)
class Sale:
    """What every design shares: identity, the ledger book, fills and timing."""

    id: int
    design: str
    asset: str
    account: str
    kicked_at: float
    market_at_kick: float  # market price when kicked, for borrower loss and discounts
    ledger: Ledger
    fills: list[Fill] = field(default_factory=list)
    closed_at: float | None = None
    resets: int = 0
    seq: int = 0  # bumped on every change, so keepers can tell new states from redeliveries

    @property
    def book(self) -> Book:
        return self.ledger.books[self.id]

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def finish(self, now: float, returned: int = 0) -> None:
        """Return what the owner is due, close the book (uncovered debt becomes bad debt)."""
        if returned:
            self.ledger.return_to_owner(self.id, returned)
        self.ledger.close(self.id)
        self.closed_at = now
        self.seq += 1

    def state(self, now: float) -> dict[str, Any]:
        raise NotImplementedError

    def advance(self, now: float, oracle: float) -> bool:
        """Apply deadlines at ``now``; return True if the sale changed."""
        raise NotImplementedError

    def _changed(self) -> None:
        self.seq += 1


@dataclass(slots=True)
class DutchSale(Sale):
    mech: DutchAuction = field(default=None)  # type: ignore[assignment]
    params: DutchParams = field(default_factory=DutchParams)

    def take(self, keeper: str, amount: int, max_price_q: int, now: float) -> Fill:
        mech = copy.copy(self.mech)
        fill = mech.take(amount, max_price_q, now, keeper)
        self.ledger.fill(self.id, keeper, fill.qty, fill.cost)
        self.mech = mech
        self.fills.append(fill)
        if mech.done:
            self.finish(now, mech.returned)
        else:
            self._changed()
        return fill

    def redo(self, keeper: str, now: float, oracle: float) -> int:
        mech = copy.copy(self.mech)
        coin = mech.redo(now, quantized(oracle * self.params.buf), feed_price=oracle)
        self.mech = mech
        self.resets += 1
        self.ledger.incentive(keeper, coin)
        self._changed()
        return coin

    def advance(self, now: float, oracle: float) -> bool:
        if self.mech.needs_redo(now):  # a keeper bot resets it at the first block it can (clip.sol redo)
            self.redo(KICKER, now, oracle)
            return True
        return False

    def state(self, now: float) -> dict[str, Any]:
        m, p = self.mech, self.params
        return {
            "lot": m.lot, "tab": m.tab, "start": m.start, "top_q": units.price_q(m.top),
            "needs_redo": m.needs_redo(now), "curve": p.curve, "tau": p.tau, "cut": p.cut, "step": p.step,
            "tail": m.tail, "cusp": m.cusp, "chost": m.chost,
        }


@dataclass(slots=True)
class SealedSale(Sale):
    mech: SealedAuction = field(default=None)  # type: ignore[assignment]
    params: SealedParams = field(default_factory=SealedParams)
    rounds: int = 1
    forfeited: list[str] = field(default_factory=list)  # keepers that lost a deposit, over all rounds

    def commit(self, keeper: str, digest: bytes, now: float) -> None:
        mech = copy.deepcopy(self.mech)
        deposit = mech.commit(keeper, digest, now)
        self.ledger.hold(self.id, keeper, deposit)
        self.mech = mech
        self._changed()

    def reveal(self, keeper: str, price_q: int, qty: int, salt: bytes, now: float) -> None:
        mech = copy.deepcopy(self.mech)
        need = mech.reveal(keeper, price_q, qty, salt, now)
        self.ledger.hold(self.id, keeper, max(0, need - self.ledger.held(self.id, keeper)))
        self.mech = mech
        self._changed()

    def advance(self, now: float, oracle: float) -> bool:
        if self.mech.phase(now) != "settle":
            return False
        out = self.mech.settle(now)
        for fill in out.fills:
            self.ledger.fill(self.id, fill.who, fill.qty, fill.cost, from_hold=True)
            self.fills.append(fill)
        for who in out.forfeited:
            self.ledger.forfeit(self.id, who, min(self.mech.deposit, self.ledger.held(self.id, who)))
            self.forfeited.append(who)
        for who in self.mech.commits:
            self.ledger.release(self.id, who)
        if out.leftover_tab == 0 or out.leftover_lot == 0:
            self.finish(now, out.leftover_lot if out.leftover_tab == 0 else 0)
        elif self.rounds < self.params.rounds:
            self.rounds += 1
            self.resets += 1
            self.mech = new_sealed(self.id, out.leftover_lot, out.leftover_tab, oracle, now, self.params,
                                   self.mech.second_price, self.account)
            self._changed()
        else:
            self.closed_at = now  # unsold: the lot stays with the protocol, the debt is uncovered
            self.ledger.close(self.id)
            self.seq += 1
        return True

    def state(self, now: float) -> dict[str, Any]:
        m = self.mech
        return {
            "lot": m.lot, "tab": m.tab, "start": m.start, "phase": m.phase(now), "commit_end": m.commit_end,
            "reveal_end": m.reveal_end, "reserve_q": m.reserve_q, "deposit": m.deposit,
            "second_price": m.second_price, "bidders": len(m.commits),
        }


@dataclass(slots=True)
class EnglishSale(Sale):
    mech: EnglishAuction = field(default=None)  # type: ignore[assignment]
    params: EnglishParams = field(default_factory=EnglishParams)

    def bid(self, keeper: str, lot: int, bid: int, now: float) -> None:
        """Flipper tend while the bid is below the tab, dent once it reached it."""
        mech = copy.copy(self.mech)
        lot_before = mech.lot
        out = mech.dent(keeper, lot, bid, now) if mech.phase == "dent" else mech.tend(keeper, lot, bid, now)
        same = out.guy == keeper
        self.ledger.hold(self.id, keeper, bid - out.bid if same else bid)
        if out.guy and not same:
            self.ledger.release(self.id, out.guy)
        if mech.lot < lot_before:
            self.ledger.return_to_owner(self.id, lot_before - mech.lot)
        self.mech = mech
        self._changed()

    def advance(self, now: float, oracle: float) -> bool:
        m = self.mech
        if m.can_deal(now):
            fill = m.deal(now)
            assert fill is not None
            self.ledger.fill(self.id, fill.who, fill.qty, fill.cost, from_hold=True)
            self.ledger.release(self.id, fill.who)
            self.fills.append(fill)
            self.finish(now)
            return True
        if m.tic == 0 and m.end < now:  # no bid before the end: flip.sol tick restarts it
            m.tick(now)
            self.resets += 1
            self._changed()
            return True
        return False

    def state(self, now: float) -> dict[str, Any]:
        m = self.mech
        return {
            "lot": m.lot, "tab": m.tab, "start": m.start, "bid": m.bid, "guy": m.guy, "tic": m.tic, "end": m.end,
            "beg": m.beg, "ttl": m.ttl, "phase": m.phase,
        }


@dataclass(slots=True)
class FixedSale(Sale):
    """An open fixed-penalty liquidation opportunity on one account (Aave v3 liquidationCall).

    The house rebuilds ``mech`` from the account's current position before each liquidation, since the
    same account's debt and health move with every liquidation and every oracle update.
    """

    mech: FixedLiquidation = field(default=None)  # type: ignore[assignment]
    params: FixedParams = field(default_factory=FixedParams)

    def advance(self, now: float, oracle: float) -> bool:
        return False  # the house re-checks the account's health on every oracle update

    def state(self, now: float) -> dict[str, Any]:
        m = self.mech
        return {
            "lot": m.collateral, "tab": m.debt, "start": self.kicked_at, "debt": m.debt, "collateral": m.collateral,
            "bonus": self.params.bonus, "close_factor": self.params.close_factor, "health": m.health,
            "max_repay": m.max_repay() if m.liquidatable else 0,
        }


def new_sealed(
    sale_id: int, lot: int, tab: int, oracle: float, now: float, p: SealedParams, second: bool, owner: str
) -> SealedAuction:
    return SealedAuction(
        lot=lot, tab=tab, reserve_q=units.price_q(oracle * p.reserve), commit_end=now + p.commit_s,
        reveal_end=now + p.commit_s + p.reveal_s, deposit=units.num(p.deposit), second_price=second,
        start=now, owner=owner, auction_id=sale_id,
    )


def new_dutch(lot: int, tab: int, oracle: float, now: float, p: DutchParams, owner: str) -> DutchAuction:
    return DutchAuction(
        lot=lot, tab=tab, top=quantized(oracle * p.buf), curve=make_curve(p.curve, tau=p.tau, cut=p.cut, step=p.step),
        tail=p.tail, cusp=p.cusp, chost=units.num(p.chost), start=now, owner=owner,
        tip=units.num(p.tip), chip=p.chip,
    )


def quantized(price: float) -> float:
    """A top price the wire carries exactly (``top_q``), so keepers compute the very same curve."""
    return units.price_q(price) / units.NUM
