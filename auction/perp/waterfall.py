"""The loss waterfall of a liquidated position, as ledger moves in integer numeraire base units.

Order, as the venues run it (Binance https://www.binance.com/en/support/faq/360033525471, dYdX v4
``x/clob/keeper/liquidations.go`` GetLiquidationInsuranceFundDelta, Hyperliquid auto-deleveraging docs):

1. the position is closed in the market (or by a keeper) as far as it goes: not here, that is the design's;
2. ``adl``: what the market could not take is closed against the ranked profitable opposite positions at
   the bankruptcy price, which leaves the bankrupt account at zero (never below, by rounding);
3. ``settle`` on the account's equity after the close: a surplus pays the liquidation fee to the insurance
   fund (at most the surplus); a deficit is drawn from the insurance fund; what the fund cannot cover is
   socialized pro rata over the given payers (an option), or left as bad debt.

The ledger model is dYdX's: an account holds a quote balance and a signed size, equity = quote + size *
mark. A trade at price p moves p * q of quote from buyer to seller and q of size from seller to buyer, so
every ``Move`` and every ``Close`` pair is a transfer: value is conserved exactly at any mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auction.perp.funding import split_pro_rata
from auction.units import COL

INSURANCE = "insurance"


@dataclass(frozen=True, slots=True)
class Move:
    """``amount`` (> 0) numeraire base units of quote from ``src`` to ``dst``; ``why`` names the step."""

    src: str
    dst: str
    amount: int
    why: str


@dataclass(frozen=True, slots=True)
class Close:
    """A change of ``account``'s signed position size, in collateral base units."""

    account: str
    size_delta: int


@dataclass(frozen=True, slots=True)
class Adl:
    """ADL fills at the bankruptcy price: quote moves, size changes, and the quantity nobody could take."""

    moves: tuple[Move, ...]
    closes: tuple[Close, ...]
    unfilled: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """The value side: fee, insurance draw, socialized loss and the bad debt left, with their moves."""

    moves: tuple[Move, ...]
    fee: int
    insurance_paid: int
    socialized: int
    bad_debt: int


def adl(account: str, size: int, bankruptcy_q: int, queue: Sequence[str], queue_sizes: Sequence[int]) -> Adl:
    """Close ``size`` of ``account`` against ``queue`` (ranked, opposite side) at the bankruptcy price.

    Each counterparty takes up to its whole position, in queue order. Each fill's quote is rounded so the
    bankrupt account never ends below zero: up when it sells (a long), down when it buys back (a short);
    the counterparty absorbs at most one base unit per fill.
    """
    if len(queue) != len(queue_sizes):
        raise ValueError("queue and queue_sizes differ in length")
    side = (size > 0) - (size < 0)
    left = abs(size)
    moves: list[Move] = []
    closes: list[Close] = []
    for who, their in zip(queue, queue_sizes, strict=True):
        if left == 0:
            break
        if their * side >= 0:
            raise ValueError(f"{who} is not on the side opposite {account}")
        q = min(left, abs(their))
        exact = q * bankruptcy_q
        if side > 0:  # the bankrupt long sells q to a short buying back: the short pays, rounded up
            moves.append(Move(who, account, -(-exact // COL), "adl"))
        else:  # the bankrupt short buys q back from a long: it pays, rounded down
            moves.append(Move(account, who, exact // COL, "adl"))
        closes += [Close(account, -side * q), Close(who, side * q)]
        left -= q
    return Adl(tuple(m for m in moves if m.amount > 0), tuple(closes), left)


def settle(
    account: str,
    equity: int,
    fee_due: int,
    insurance: int,
    *,
    payers: Sequence[str] = (),
    weights: Sequence[int] = (),
) -> Settlement:
    """Fee from a surplus to the insurance fund; a deficit from the fund, then socialized, else bad debt.

    ``equity`` is the account's equity once its position is closed; ``insurance`` the fund's balance.
    Socialized loss is split exactly pro rata to ``weights`` (largest remainder); pass no payers to
    leave the rest as bad debt.
    """
    if fee_due < 0 or insurance < 0:
        raise ValueError("fee_due and insurance must be >= 0")
    if equity >= 0:
        fee = min(fee_due, equity)
        moves = (Move(account, INSURANCE, fee, "fee"),) if fee else ()
        return Settlement(moves, fee, 0, 0, 0)
    deficit = -equity
    drawn = min(deficit, insurance)
    out = [Move(INSURANCE, account, drawn, "insurance")] if drawn else []
    rest = deficit - drawn
    socialized = 0
    if rest and payers:
        if len(payers) != len(weights):
            raise ValueError("payers and weights differ in length")
        for who, share in zip(payers, split_pro_rata(rest, weights), strict=True):
            if share:
                out.append(Move(who, account, share, "socialized"))
        socialized = rest
    return Settlement(tuple(out), 0, drawn, socialized, rest - socialized)
