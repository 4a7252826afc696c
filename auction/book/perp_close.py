"""Closing positions of a ``PositionBook``: fills hedged into the outside market, ADL and the loss waterfall.

Each step is a move of the book (quote and size between accounts) or of the ledger (value in or out of the
book's ``perp:margin``), so conservation holds after each (``PositionBook.check``):

- ``keeper_fill``: a keeper takes over ``qty`` of a position at ``price_q`` and hedges it at once into the
  outside market (``sell``/``buy`` with impact): the position ends with the maker, the keeper keeps the
  difference in its escrow. All or nothing: the keeper's escrow is checked before anything moves.
- ``market_fill``: the protocol closes ``qty`` into the outside market itself (dYdX's IOC, Hyperliquid's
  market orders).
- ``adl_rest``: what no one took is closed against the ranked profitable opposite positions at the
  bankruptcy price (``auction.perp.waterfall.adl``, in the order of the book's ranking, ``adl_candidates``).
- ``settle``: the liquidation fee from a surplus to the insurance fund, a deficit from the fund, then
  socialized over the traders in profit (an option), else bad debt (``auction.perp.waterfall.settle``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from auction.book.positions import PositionBook
from auction.errors import Rejected
from auction.perp import adl as ranking
from auction.perp import waterfall
from auction.perp.prices import to_price_q
from auction.units import COL

INSURANCE = waterfall.INSURANCE


def value_of(qty: int, price_q: int, *, up: bool) -> int:
    """``qty * price`` in numeraire base units, rounded up or down."""
    return -(-qty * price_q // COL) if up else qty * price_q // COL


def keeper_fill(book: PositionBook, i: int, k: int, keeper: str, qty: int, price_q: int, t: float) -> int:
    """Keeper ``keeper`` takes ``qty`` of account ``i``'s position in market ``k`` at ``price_q``, hedged.

    A long: the keeper buys at ``price_q`` and sells into the market; a short: the keeper sells to the
    account at ``price_q`` and buys from the market. Returns the keeper's net (proceeds less cost, may be < 0).
    """
    side = 1 if book.size[i, k] > 0 else -1
    name = book.markets[k]
    holder = f"keeper:{keeper}"
    assert book.ledger is not None
    if side > 0:
        value = value_of(qty, price_q, up=False)  # the account receives no more than the price says
        hedge = book.sell(name, qty, t)
        need = value
    else:
        value = value_of(qty, price_q, up=True)
        hedge = book.buy(name, qty, t)
        need = max(hedge - value, 0)
    if book.ledger.escrow(keeper) < need:
        raise Rejected("insufficient-escrow", f"keeper {keeper} cannot pay {need} for this position")
    _slippage(book, k, qty, price_q, side)
    if side > 0:  # keeper pays the price, the market pays the keeper the hedge
        book.pay_in(i, holder, value)
        book.trade(i, book.maker, k, qty, hedge)
        book.pay_out(i, holder, hedge)
        return hedge - value
    book.pay_out(i, holder, value)  # the account pays the keeper the price, the keeper pays the market
    book.trade(book.maker, i, k, qty, hedge)
    book.pay_in(i, holder, hedge)
    return value - hedge


def market_fill(book: PositionBook, i: int, k: int, qty: int, t: float) -> int:
    """The protocol closes ``qty`` of account ``i``'s position into the outside market; the value it got."""
    side = 1 if book.size[i, k] > 0 else -1
    name = book.markets[k]
    value = book.sell(name, qty, t) if side > 0 else book.buy(name, qty, t)
    _slippage(book, k, qty, value * COL // max(qty, 1), side)
    if side > 0:
        book.trade(i, book.maker, k, qty, value)
    else:
        book.trade(book.maker, i, k, qty, value)
    return value


def _slippage(book: PositionBook, k: int, qty: int, price_q: int, side: int) -> None:
    mark = book.marks.mark_q[k]
    book.tally.slippage += side * (mark - price_q) * qty // COL
    book.tally.closed_notional += qty * mark // COL


def adl_rest(book: PositionBook, i: int, k: int) -> int:
    """Close the rest of account ``i``'s position in market ``k`` by ADL at its bankruptcy price; the unfilled."""
    size = int(book.size[i, k])
    if size == 0:
        return 0
    before = book.equity(i)
    book.tally.adl_equity += max(before.numerator // before.denominator, 0)  # what the trader loses at bankruptcy
    bankrupt = book.bankruptcy_q(i, k)
    price_q = max(to_price_q(bankrupt, size), 0) if bankrupt is not None else 0
    queue = adl_candidates(book, i, k, 1 if size > 0 else -1)
    fills = waterfall.adl(str(i), size, price_q, [str(j) for j in queue], [int(book.size[j, k]) for j in queue])
    paid = {(mv.src, mv.dst): mv.amount for mv in fills.moves}
    for close in fills.closes[1::2]:
        j, q = int(close.account), abs(close.size_delta)
        if size > 0:  # the bankrupt long sells to a short buying back
            book.trade(i, j, k, q, paid.get((str(j), str(i)), 0))
        else:
            book.trade(j, i, k, q, paid.get((str(i), str(j)), 0))
        book.tally.adl_count += 1
        book.tally.adl_notional += q * price_q // COL
        book.tally.closed_notional += q * book.marks.mark_q[k] // COL
    return fills.unfilled


def adl_candidates(book: PositionBook, i: int, k: int, side: int) -> np.ndarray:
    """Opposite positions in profit, highest score of the book's ranking first (vectorized over all accounts).

    ``hyperliquid``: ``(mark / entry) * (notional / account value)``. ``pnl-leverage`` (Bybit's, BitMEX-style):
    ``pnl% * effective leverage`` with pnl% = (mark value - entry value) / |entry value| and effective leverage
    |mark value| / (mark value - bankrupt value); the bankrupt value is the position's value at the mark where
    the account's equity is 0, so mark value - bankrupt value is the account's equity (cross margin).
    ``binance`` (LeveragePnL): ``max(0, upnl) / max(1 USD, wallet) * maintenance / (wallet + upnl)`` over the
    account: wallet = quote + cost (deposits, realized PnL and funding), upnl = equity - wallet."""
    mark = float(book.marks.mark_q[k])
    size = book.size[:, k].astype(np.float64)
    cost = book.cost[:, k].astype(np.float64)
    value_at_mark = size * mark / COL
    upnl = value_at_mark - cost
    equity = book.equity_all()
    if book.adl_rank == "pnl-leverage":
        score = ranking.pnl_leverage_score(value_at_mark, cost, value_at_mark - equity)
    elif book.adl_rank == "binance":  # per account (cross margin): its wallet, unrealized PnL and maintenance
        account_upnl = equity - book.quote - book.cost.sum(axis=1)
        score = ranking.binance_score(account_upnl, equity - account_upnl, book.maintenance_all())
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            entry = np.where(size != 0, cost * COL / size, mark)
        score = ranking.hyperliquid_score(np.full(size.shape, mark), entry, value_at_mark, equity)
    ids = np.arange(size.size)
    upnl[i] = 0.0  # never itself
    return ranking.adl_queue(score, book.size[:, k], upnl, ids, side)


def settle(book: PositionBook, i: int, fee_due: int, *, socialize: bool) -> waterfall.Settlement:
    """The loss waterfall on account ``i``'s equity once its sale is over, each move booked."""
    assert book.ledger is not None
    equity = book.equity(i)
    eq = equity.numerator // equity.denominator if isinstance(equity, Fraction) else int(equity)
    payers: list[str] = []
    weights: list[int] = []
    if socialize and eq < 0:
        eq_all = book.equity_all()[: book.n]
        rich = [j for j in np.flatnonzero(eq_all > 0).tolist() if j != i]
        payers, weights = [str(j) for j in rich], [int(eq_all[j]) for j in rich]
    out = waterfall.settle(str(i), eq, max(fee_due, 0), book.ledger.balance(INSURANCE), payers=payers,
                           weights=weights)
    for mv in out.moves:
        if mv.why == "fee":
            book.pay_out(i, INSURANCE, mv.amount)
        elif mv.why == "insurance":
            book.pay_in(i, INSURANCE, mv.amount)
        else:
            book.move_quote(int(mv.src), i, mv.amount)
    t = book.tally
    t.fees += out.fee
    t.insurance_paid += out.insurance_paid
    t.socialized += out.socialized
    t.bad_debt += out.bad_debt
    return out
