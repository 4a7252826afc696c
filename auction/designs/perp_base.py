"""What the five perp designs share: the position sale, its terms on the wire, its end through the waterfall.

A perp sale liquidates account ``i``'s position in market ``k`` (``side`` +1 long, -1 short). It never seizes:
the position stays in the ``PositionBook`` and each fill moves part of it (``auction.book.perp_close``). When
the sale ends, what is left of an unhealthy position goes to ADL at the bankruptcy price, then the loss
waterfall runs: the liquidation fee (``fee`` of the closed notional at mark) from a surplus to the insurance
fund, a deficit from the fund, then socialized or bad debt. Every step is booked in the ledger or the book.

A keeper's limit price on the wire (``Take.max_price_q``, a sealed bid's price) is per whole token: for a
long the most it pays to take the position over, for a short the least it must be paid to take it over.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from msgspec import Meta

from auction import units
from auction.book import perp_close
from auction.book.positions import PositionBook
from auction.designs.base import Desk, Opening, Sale, sale_fields
from auction.fills import Fill
from broker import messages as m

Side = Annotated[int, Meta(ge=-1, le=1)]


class PerpTerms(m.WireTerms, frozen=True, kw_only=True):
    """What every position sale shows: the position, its mark and the prices that matter (per whole token)."""

    side: Side  # +1 a long is liquidated (the taker buys it), -1 a short (the taker sells to it)
    size: m.Amount  # base units of the position still open
    mark_q: m.Amount
    bankrupt_q: m.Amount  # the mark at which the account's equity is 0
    liquidation_q: m.Amount  # the mark at which equity meets maintenance
    health: m.Ratio  # equity / maintenance, 0 when bankrupt


def book_of(desk: Desk) -> PositionBook:
    book = desk.book
    if not isinstance(book, PositionBook):
        raise TypeError(f"a perp design needs a position book, not a {book.kind} book")
    return book


@dataclass(slots=True, kw_only=True)
class PerpSale(Sale):
    """One position under liquidation; subclasses decide how it is closed."""

    i: int
    k: int
    side: int
    fee_rate: float
    socialize: bool
    pbook: PositionBook
    desk: Desk
    fee_due: int = 0
    keeper_net: int = 0  # what keepers made on their hedged takeovers (gas apart)
    bad_debt: int = 0
    raised: int = 0

    @property
    def size(self) -> int:
        return abs(int(self.pbook.size[self.i, self.k]))

    def common(self) -> dict[str, Any]:
        """The ``PerpTerms`` fields now."""
        b, k = self.pbook, self.k
        bankrupt_q, liquidation_q, health = b.price_terms_q(self.i, k, self.side)
        return dict(side=self.side, size=self.size, mark_q=b.marks.mark_q[k], bankrupt_q=bankrupt_q,
                    liquidation_q=liquidation_q, health=min(max(health, 0.0), 1e6))

    def keeper_take(self, keeper: str, qty: int, price_q: int, now: float) -> Fill:
        """A keeper takes ``qty`` over at ``price_q``, hedged at once; the fee accrues on the notional at mark."""
        self.keeper_net += perp_close.keeper_fill(self.pbook, self.i, self.k, keeper, qty, price_q, now)
        value = perp_close.value_of(qty, price_q, up=self.side < 0)
        self._accrue(qty)
        self.raised += value
        fill = Fill(keeper, qty, value, now)
        self.fills.append(fill)
        return fill

    def market_close(self, qty: int, now: float) -> int:
        """The protocol closes ``qty`` into the outside market."""
        value = perp_close.market_fill(self.pbook, self.i, self.k, qty, now)
        self._accrue(qty)
        self.raised += value
        return value

    def _accrue(self, qty: int) -> None:
        notional = qty * self.pbook.marks.mark_q[self.k] // units.COL
        num, den = exact_rate(self.fee_rate)
        fee = notional * num
        self.fee_due += fee // den if fee >= 0 else -(-fee // den)  # int(notional * rate): toward zero

    def done(self, now: float) -> None:
        """End the sale: ADL what is left of an unhealthy position, then the loss waterfall; watch it again."""
        b = self.pbook
        if self.size and not b.healthy(self.i):
            perp_close.adl_rest(b, self.i, self.k)
        if not self.size or b.equity(self.i) < 0 or self.fee_due:
            before = b.tally.bad_debt
            perp_close.settle(b, self.i, self.fee_due, socialize=self.socialize)
            self.bad_debt += b.tally.bad_debt - before
        self.fee_due = 0
        b.reindex(self.i)
        self.close(now)

    def end(self, now: float, desk: Desk) -> None:
        self.ledger.release_all(self.id)
        self.done(now)

    def outcome(self) -> tuple[int, int, int]:
        return 0, self.bad_debt, self.raised


def perp_fields(o: Opening) -> dict[str, Any]:
    """The ``PerpSale`` fields of a new sale; opens its (empty) ledger book, as nothing is seized."""
    o.desk.ledger.seize(o.id, o.account, o.asset, 0, 0, 0)
    book = book_of(o.desk)
    return dict(**sale_fields(o), i=o.i, k=o.k, side=o.side, fee_rate=book.fee_rate, socialize=book.socialize,
                pbook=book, desk=o.desk)


def perp_view(t: PerpTerms) -> dict[str, Any]:
    """The keeper's view of the common terms, in whole units."""
    return {"side": t.side, "size": units.col_f(t.size), "mark": t.mark_q / units.NUM,
            "bankruptcy": t.bankrupt_q / units.NUM, "liquidation": t.liquidation_q / units.NUM,
            "health": t.health}


def limit_ok(side: int, price_q: int, limit_q: int) -> bool:
    """A long's taker pays at most its limit; a short's taker is paid at least its limit."""
    return price_q <= limit_q if side > 0 else price_q >= limit_q


@functools.lru_cache(maxsize=64)
def exact_rate(rate: float) -> tuple[int, int]:
    """The decimal a rate is written as (``Fraction(repr(rate))``), as numerator and denominator, once."""
    f = Fraction(repr(rate))
    return f.numerator, f.denominator


def cast_terms(msg: m.Announce | m.State, cls: type[PerpTerms]) -> PerpTerms | None:
    return msg.terms if isinstance(msg.terms, cls) else None
