"""``PositionBook``: perpetual-futures accounts behind the house's ``MarginBook`` interface.

Each account holds a numeraire ``quote`` balance and a signed ``size`` per market (long > 0), dYdX v4's model
(``auction.perp.waterfall``): equity = quote + sum(size * mark). Deposited collateral is the quote plus the cost
basis ``cost`` (size * entry), kept per position with the funding it paid. The book's own accounts: the outside
market ``MAKER`` (the counterparty of the traders' opening trades and of every hedge, at the market's prices
with impact) and the backstop vault ``VAULT``; neither is ever liquidated.

Conservation, exact in integers and checked after every block (``check``): per market the sizes sum to 0
(every trade has two sides), and the quotes sum to what the ledger's ``perp:margin`` holds (value enters or
leaves the book only through a ledger move: keepers paying, the insurance fund). Funding and ADL move quote
between accounts only.

Margin is cross by default: equity and maintenance sum over markets. The tier tables are
``auction.perp.margin.TierTable`` (per market); a volatility-adjusted rate, when the run hands one in, raises a
market's maintenance rate to at least it. Detection is vectorized in float64 (ranking and flagging); whether an
account is liquidatable is then decided exactly (``healthy``) in integers and fractions.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from auction.book.base import F64, I64, NOTHING, Kind, Lot
from auction.book.ledger import USD, Ledger
from auction.book.perp_marks import Marks
from auction.perp.margin import TierTable
from auction.units import COL

MARGIN = "perp:margin"  # the ledger holder of everything the position book holds
MAKER, VAULT = "maker", "vault"
Trade = Callable[[str, int, float], int]  # (market, base units, t) -> numeraire base units (impact included)
# (market, t, average price bound per whole token in numeraire base units, side) -> the most base units a close of
# that side can trade in the outside market with its average price within the bound (+1 sells, -1 buys)
Depth = Callable[[str, float, int, int], int]


@dataclass(slots=True)
class PerpTally:
    """What the reports count of liquidations, numeraire base units unless said (``auction.book.perp_close``)."""

    fees: int = 0  # liquidation fees paid to the insurance fund
    insurance_paid: int = 0  # drawn from the insurance fund to cover bankrupt accounts
    socialized: int = 0
    bad_debt: int = 0  # deficits nothing covered
    adl_count: int = 0  # counterparty positions reduced by ADL
    adl_notional: int = 0  # at the bankruptcy price
    closed_notional: int = 0  # liquidated notional at mark (ADL included)
    slippage: int = 0  # what fills cost the liquidated account against the mark (> 0: below mark for a long)
    vault_takeovers: int = 0
    vault_equity: int = 0  # margin the backstop vault took over with the positions
    adl_equity: int = 0  # equity liquidated accounts still had when ADL closed them at bankruptcy
    insurance_low: int = -1  # the insurance fund's lowest balance seen at a block (-1: not yet)


class PositionBook:
    """Signed positions with quote balances; ``n`` traders, then the maker and the backstop vault."""

    kind: Kind = "perp"
    still_at_blocks = False  # marks and funding move at every block

    def __init__(self, markets: Sequence[str], tiers: Sequence[TierTable], quote: I64, size: I64, cost: I64,
                 marks: Marks, *, sell: Trade, buy: Trade, depth: Depth) -> None:
        if size.shape != cost.shape or size.shape[0] != quote.shape[0] or size.shape[1] != len(markets):
            raise ValueError("quote, size and cost disagree in shape")
        self.markets = tuple(markets)
        self.tiers = tuple(tiers)
        self.quote, self.size, self.cost = quote, size, cost
        self.funded = np.zeros_like(size)  # funding paid (> 0) or received per position, numeraire base units
        # per position, the market's funding index at which it last settled (Fraction, numeraire base units per
        # whole token): funding due is size * (market index - this), settled every interval and on every change
        self.findex = np.full(size.shape, Fraction(0), dtype=object)
        self.marks = marks
        self.sell, self.buy, self.depth = sell, buy, depth  # the outside market: hedges and protocol closes
        self.n = quote.shape[0] - 2
        self.maker, self.vault = self.n, self.n + 1
        self.watched = np.ones(quote.shape[0], dtype=bool)
        self.watched[self.n:] = False  # the book's own accounts are never liquidated
        self.vol_mm: F64 | None = None
        self.floors = [np.array(t.floors, dtype=np.float64) for t in tiers]
        self.mmr = [np.array([float(r) for r in t.mmr]) for t in tiers]
        self.cum = [np.array([float(c) for c in t.cum]) for t in tiers]
        self.ledger: Ledger | None = None
        # each tier's mmr and cum over one common denominator, so maintenance is integer arithmetic (exact)
        self._tier_ints = [_tier_ints(t) for t in tiers]
        self.funding_paid = 0  # total paid by the paying side over the run
        self.tally = PerpTally()
        self.fee_rate = 0.0  # liquidation fee, share of the closed notional at mark, to the insurance fund
        self.socialize = False  # a deficit the fund cannot cover is socialized over the traders in profit
        self.adl_rank = "hyperliquid"  # the ADL ranking (auction.book.perp_close.adl_candidates)
        self.history: list[tuple[float, float, float, int]] = []  # (t, open interest, insurance USD, ADL count)

    # -- MarginBook --------------------------------------------------------------------------------------
    @property
    def assets(self) -> tuple[str, ...]:
        return self.markets

    def attach(self, ledger: Ledger) -> None:
        """The traders' deposits, the maker's and the vault's enter the ledger as ``perp:margin``."""
        if self.ledger is not None:
            raise ValueError("the position book is attached to a ledger already")
        self.ledger = ledger
        ledger.mint(MARGIN, USD, int(self.quote.sum()))

    def on_prices(self, oracle: F64, mm: F64 | None) -> tuple[I64, F64]:
        self.vol_mm = mm
        self.marks.on_index(oracle)
        return self._detect()

    def on_block(self, now: float) -> tuple[I64, F64]:
        self.check()  # what the last block left: conservation holds after every block
        self._sample(now)
        self.marks.on_block(now)
        if self.marks.funding_due(now):
            pay = self.marks.pay_funding(self.size, self.findex, now)
            self.quote -= pay.sum(axis=1)
            self.funded += pay
            self.funding_paid += int(pay[pay > 0].sum())
            for k, index in enumerate(self.marks.funding_index):
                self.findex[:, k] = index  # every position settled up to the index (an empty side's is waived)
        return self._detect() if self.marks.priced else NOTHING

    def health(self, i: int) -> float:
        mm = self.maintenance(i)
        return math.inf if mm == 0 else self.equity_scaled(i) / (mm * COL)

    def healthy(self, i: int) -> bool:
        """Not liquidatable (dYdX v4 lib/margin/risk.go IsLiquidatable: maintenance > 0 and above equity)."""
        mm = self.maintenance(i)
        return not (mm > 0 and mm * COL > self.equity_scaled(i))

    def reindex(self, i: int) -> None:
        if i < self.n:
            self.watched[i] = True

    def lots(self, i: int, *, seize: bool) -> list[Lot]:
        """One sale per market the account holds a position in; nothing is seized (the position stays put)."""
        row = self.size[i]
        return [Lot(k, abs(int(row[k])), side=1 if row[k] > 0 else -1) for k in range(len(self.markets)) if row[k]]

    # -- detection ---------------------------------------------------------------------------------------
    def _detect(self) -> tuple[I64, F64]:
        eq, mm = self.equity_all(), self.maintenance_all()
        breached = self.watched & (mm > 0) & (eq < mm)
        idx = np.flatnonzero(breached)
        if not idx.size:
            return NOTHING
        self.watched[idx] = False  # served once; a sale's end (or a recovery) watches it again
        return idx.astype(np.int64), (mm - eq)[idx]

    def equity_all(self) -> F64:
        """Every account's equity at the mark, float64 numeraire base units (vectorized)."""
        mark = np.array(self.marks.mark_q, dtype=np.float64)
        return self.quote.astype(np.float64) + (self.size.astype(np.float64) * mark).sum(axis=1) / COL

    def maintenance_all(self) -> F64:
        """Every account's maintenance requirement, float64: per market ``notional * mmr - cum`` of its tier."""
        out = np.zeros(self.quote.shape[0])
        for k in range(len(self.markets)):
            notional = np.abs(self.size[:, k].astype(np.float64)) * self.marks.mark_q[k] / COL
            tier = np.searchsorted(self.floors[k], notional, side="right") - 1
            rate = self.mmr[k][tier]
            if self.vol_mm is not None:
                rate = np.maximum(rate, float(self.vol_mm[k]))
            out += np.where(notional > 0, notional * rate - self.cum[k][tier], 0.0)
        return out

    # -- exact, per account --------------------------------------------------------------------------------
    def equity(self, i: int) -> Fraction:
        """quote + sum(size * mark), exact."""
        return Fraction(self.equity_scaled(i), COL)

    def equity_scaled(self, i: int) -> int:
        """``equity * COL``: integers only (the hot path of every health question)."""
        return int(self.quote[i]) * COL + sum(int(self.size[i, k]) * self.marks.mark_q[k]
                                              for k in range(len(self.markets)))

    def notional(self, i: int, k: int) -> int:
        return abs(int(self.size[i, k])) * self.marks.mark_q[k] // COL

    def maintenance(self, i: int, k: int | None = None) -> int:
        """The tiered maintenance requirement (``TierTable.maintenance_margin``), of market ``k`` or of all."""
        ks = range(len(self.markets)) if k is None else (k,)
        total = 0
        for j in ks:
            n = self.notional(i, j)
            if n:
                mm = self._maintenance_margin(j, n)
                if self.vol_mm is not None:
                    num, den = _vol_rate(float(self.vol_mm[j]))
                    mm = max(mm, -(-n * num // den))  # ceil(n * rate)
                total += mm
        return total

    def _maintenance_margin(self, k: int, notional: int) -> int:
        """``TierTable.maintenance_margin`` in integers: ceil((notional * a - c) / d) of the notional's tier."""
        floors, a, c, d = self._tier_ints[k]
        t = bisect.bisect_right(floors, notional) - 1
        return -((c[t] - notional * a[t]) // d)

    def entry_q(self, i: int, k: int) -> Fraction:
        """Average entry price (numeraire base units per token): the cost basis over the size."""
        s = int(self.size[i, k])
        return Fraction(int(self.cost[i, k]) * COL, s) if s else Fraction(0)

    def bankruptcy_q(self, i: int, k: int) -> Fraction | None:
        """The mark of market ``k`` at which the account's equity is 0, other markets at their marks
        (``auction.perp.prices.bankruptcy_price`` with entry 0 and the quote as balance), in integers."""
        s = int(self.size[i, k])
        if s == 0:
            return None
        rest = self.equity_scaled(i) - s * self.marks.mark_q[k]  # (quote + other markets' value) * COL
        return Fraction(-rest, s)

    def price_terms_q(self, i: int, k: int, side: int) -> tuple[int, int, float]:
        """(bankruptcy price, liquidation price, health) as a position sale shows them: the prices per whole
        token rounded against the holder (``auction.perp.prices.to_price_q`` by ``side``), 0 where
        there is none or it is not above 0. The same values as from ``bankruptcy_q``/``liquidation_q``, in
        integers, each input computed once (asked whenever a sale's state is shown)."""
        s = int(self.size[i, k])
        if s == 0:
            return 0, 0, self.health(i)
        mm = self.maintenance(i)
        mm_k = self.maintenance(i, k) if len(self.markets) > 1 else mm
        rest = self.equity_scaled(i) - s * self.marks.mark_q[k]
        floors, a, c, d = self._tier_ints[k]
        t = bisect.bisect_right(floors, self.notional(i, k)) - 1
        liq = _side_q(rest * d - (mm - mm_k) * COL * d + c[t] * COL, abs(s) * a[t] - s * d, side)
        health = math.inf if mm == 0 else (rest + s * self.marks.mark_q[k]) / (mm * COL)
        return _side_q(-rest, s, side), liq, health

    def liquidation_q(self, i: int, k: int) -> Fraction | None:
        """The mark at which equity meets maintenance, at the tier of the notional now: Binance's
        ``(WB - TMM1 + UPNL1 + cum - side * |s| * EP) / (|s| * MMR - s)`` (``auction.perp.prices``), entry 0."""
        s = int(self.size[i, k])
        if s == 0:
            return None
        floors, a, c, d = self._tier_ints[k]
        t = bisect.bisect_right(floors, self.notional(i, k)) - 1
        other_mm = self.maintenance(i) - self.maintenance(i, k)
        rest = self.equity_scaled(i) - s * self.marks.mark_q[k]
        num = rest * d - other_mm * COL * d + c[t] * COL  # all over COL * d
        den = abs(s) * a[t] - s * d  # (|s| * mmr - s) * d
        return Fraction(num, den) if den else None

    # -- moves ---------------------------------------------------------------------------------------------
    def trade(self, seller: int, buyer: int, k: int, qty: int, value: int) -> None:
        """``seller`` sells ``qty`` of market ``k`` to ``buyer`` for ``value`` numeraire: a transfer both ways."""
        if qty < 0 or value < 0:
            raise ValueError(f"a trade needs qty >= 0 and value >= 0, got {qty}, {value}")
        self._rebase(seller, k, -qty, value)
        self._rebase(buyer, k, qty, value)
        self.size[seller, k] -= qty
        self.size[buyer, k] += qty
        self.quote[seller] += value
        self.quote[buyer] -= value

    def pay_in(self, i: int, src: str, amount: int) -> None:
        """``amount`` from ledger holder ``src`` into account ``i``'s quote."""
        assert self.ledger is not None
        self.ledger.transfer(src, MARGIN, amount)
        self.quote[i] += amount

    def pay_out(self, i: int, dst: str, amount: int) -> None:
        """``amount`` out of account ``i``'s quote to ledger holder ``dst``."""
        assert self.ledger is not None
        self.ledger.transfer(MARGIN, dst, amount)
        self.quote[i] -= amount

    def move_quote(self, src: int, dst: int, amount: int) -> None:
        self.quote[src] -= amount
        self.quote[dst] += amount

    def _rebase(self, i: int, k: int, delta: int, value: int) -> None:
        """Cost basis after a size change of ``delta`` worth ``value``: an increase adds its value, a decrease
        releases the basis pro rata (rounded toward zero), a flip starts the new side at the trade's price."""
        s, c = int(self.size[i, k]), int(self.cost[i, k])
        # Funding settles at every interval for every position, so between intervals none is owed: a changed
        # position starts from the market's index now (as dYdX and Drift settle funding before a size change).
        self.findex[i, k] = self.marks.funding_index[k]
        new = s + delta
        signed_value = value if delta > 0 else -value
        if s == 0 or (s > 0) == (delta > 0):
            self.cost[i, k] = c + signed_value
        elif (new > 0) == (s > 0) and new != 0:
            kept = abs(c) * abs(new) // abs(s)
            self.cost[i, k] = kept if c >= 0 else -kept
        else:
            self.cost[i, k] = 0 if new == 0 else signed_value * new // delta

    # -- audit ---------------------------------------------------------------------------------------------
    def check(self) -> None:
        """Sizes sum to 0 per market; quotes sum to the ledger's ``perp:margin``."""
        sums = self.size.sum(axis=0)
        if np.any(sums != 0):
            raise AssertionError(f"position sizes do not net to zero: {sums.tolist()}")
        if self.ledger is not None:
            held = self.ledger.balance(MARGIN)
            total = int(self.quote.sum())
            if held != total:
                raise AssertionError(f"perp quote not conserved: accounts hold {total}, the ledger {held}")

    def _sample(self, now: float) -> None:
        assert self.ledger is not None
        fund = self.ledger.balance("insurance")
        t = self.tally
        t.insurance_low = fund if t.insurance_low < 0 else min(t.insurance_low, fund)
        if not self.history or now - self.history[-1][0] >= 600.0 or self.history[-1][3] != t.adl_count:
            self.history.append((now, self.open_interest(), fund / 1e6, t.adl_count))

    def open_interest(self) -> float:
        """Long open interest of the traders (tokens, market 0), for reports."""
        s = self.size[: self.n, 0]
        return float(s[s > 0].sum()) / COL

    def holder(self, i: int) -> str:
        return f"acct:{i}" if i < self.n else (MAKER if i == self.maker else VAULT)


def isolate(quote: I64, size: I64, cost: I64, alloc: I64) -> tuple[I64, I64, I64, I64]:
    """Isolated margin: every position of a trader becomes a margin account of its own, holding only the
    collateral allocated to it (Hyperliquid isolated positions, Drift isolated perp positions), so one
    position's loss cannot draw on the margin of another and each is liquidated on its own health.

    ``quote``, ``size``, ``cost`` are a book's rows (traders, then the maker and the vault); ``alloc[i, k]`` the
    collateral trader ``i`` puts behind its position in market ``k`` (numeraire base units). A trader's
    allocations must add up to its collateral (quote + cost basis) exactly and sit only on positions it holds.
    Returns the rows of the isolated book (one per held position, in trader then market order, then the maker
    and the vault) and ``owner``, the trader row each came from (-1 for the book's own two accounts).
    """
    n = quote.shape[0] - 2
    if alloc.shape != (n, size.shape[1]):
        raise ValueError(f"alloc must be traders x markets {(n, size.shape[1])}, got {alloc.shape}")
    held = size[:n] != 0
    if np.any(alloc[~held] != 0) or np.any(alloc < 0):
        raise ValueError("isolated margin: collateral can be allocated only, and not negative, to a held position")
    collateral = quote[:n] + cost[:n].sum(axis=1)
    if np.any(alloc.sum(axis=1) != collateral):
        raise ValueError("isolated margin: each trader's allocations must add up to its collateral exactly")
    rows, cols = np.nonzero(held)
    k = size.shape[1]
    iso_size = np.zeros((rows.size + 2, k), dtype=np.int64)
    iso_cost = np.zeros_like(iso_size)
    iso_size[np.arange(rows.size), cols] = size[rows, cols]
    iso_cost[np.arange(rows.size), cols] = cost[rows, cols]
    iso_size[-2:], iso_cost[-2:] = size[n:], cost[n:]
    iso_quote = np.concatenate([alloc[rows, cols] - cost[rows, cols], quote[n:]]).astype(np.int64)
    owner = np.concatenate([rows, [-1, -1]]).astype(np.int64)
    return iso_quote, iso_size, iso_cost, owner


@functools.lru_cache(maxsize=1024)
def _vol_rate(rate: float) -> tuple[int, int]:
    """A volatility-adjusted maintenance rate as the exact fraction the book uses (asked per account and block,
    the same few rates each block: made once)."""
    f = Fraction(repr(rate)).limit_denominator(10**9)
    return f.numerator, f.denominator


def _side_q(num: int, den: int, side: int) -> int:
    """``to_price_q(Fraction(num, den), side)`` where that is > 0, else 0 (also when ``den`` is 0)."""
    if den < 0:
        num, den = -num, -den
    if den == 0 or num <= 0:
        return 0
    return -(-num // den) if side > 0 else num // den


def _tier_ints(table: TierTable) -> tuple[tuple[int, ...], list[int], list[int], int]:
    """(floors, mmr numerators, cum numerators, common denominator) of a tier table."""
    d = math.lcm(*(r.denominator for r in (*table.mmr, *table.cum)))
    a = [int(r * d) for r in table.mmr]
    c = [int(r * d) for r in table.cum]
    return table.floors, a, c, d
