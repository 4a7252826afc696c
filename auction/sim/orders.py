"""The simulator's keeper order books: take orders from batch re-evaluations, scheduled as columns.

A keeper that looks again at a hundred thousand open auctions makes up to as many take orders at once
(``keepers.plan.TakeOrders``). Pushing each onto the event heap would cost a Python object and a heap entry per
order, and most are superseded by the next look before they are due. A ``Book`` keeps one keeper's orders as
columns sorted by (time, sequence number), and the event heap holds one entry for the book's head only: the
head's own (time, SUBMIT, seq), so the orders run exactly where single events would have run. Orders whose plan
was replaced meanwhile are dropped when the next batch arrives (they would have done nothing when due).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from keepers.plan import Order, TakeOrders, make_take

I64 = NDArray[np.int64]
Current = Callable[[I64, I64, I64], NDArray[np.bool_]]  # (rows, auctions, plans) -> still in force
_FIELDS = ("time", "seq", "row", "auction", "plan", "at", "price_q", "amount", "fee")


class Book:
    """One keeper's pending batch orders, by (time at which they are due, sequence number)."""

    def __init__(self, keeper: str) -> None:
        self.keeper = keeper
        self.time = np.zeros(0)
        self.seq = self.row = self.auction = self.plan = self.price_q = self.amount = self.fee = np.zeros(
            0, dtype=np.int64)
        self.at = np.zeros(0)
        self.pos = 0  # entries before pos were handed out
        self.cursor: tuple[float, int] | None = None  # the head the event heap holds an entry for

    def __len__(self) -> int:
        return int(self.time.size) - self.pos

    def add(self, orders: TakeOrders, now: float, first_seq: int, current: Current) -> None:
        """Orders made at ``now``, numbered from ``first_seq`` in the order they were made."""
        n = len(orders)
        new = {"time": np.maximum(orders.at, now), "seq": first_seq + np.arange(n, dtype=np.int64),
               "row": orders.row, "auction": orders.auction, "plan": orders.plan, "at": orders.at,
               "price_q": orders.price_q, "amount": orders.amount, "fee": orders.fee}
        p = self.pos
        keep = current(self.row[p:], self.auction[p:], self.plan[p:])
        merged = {f: np.concatenate([getattr(self, f)[p:][keep], new[f]]) for f in _FIELDS}
        order = np.lexsort((merged["seq"], merged["time"]))
        for f in _FIELDS:
            setattr(self, f, merged[f][order])
        self.pos = 0

    # ``a.item(i)`` is ``float(a[i])`` / ``int(a[i])`` without boxing a numpy scalar first: the simulator asks a
    # book's head after every event that may move it.
    def head(self) -> tuple[float, int] | None:
        if self.pos >= self.time.size:
            return None
        return self.time.item(self.pos), self.seq.item(self.pos)

    def quiet_run(self, seq_below: int, current: Current) -> int:
        """How many entries from the head on are due at the head's time, numbered below ``seq_below`` (the head
        itself counts regardless), and would do nothing but count as an input when released by a keeper that
        refuses every take for want of budget (``KeeperAgent.takes_refused``): each is stale (its plan was
        replaced meanwhile) or a take of positive amount and price and a fee >= 0. ``KeeperAgent.refuse_takes``
        then stands for their releases in one step, without building an order for each."""
        p = self.pos
        end = p + int(np.searchsorted(self.time[p:], self.time[p], side="right"))  # sorted by (time, seq)
        if end - p > 1:
            end = p + 1 + int(np.searchsorted(self.seq[p + 1:end], seq_below))
        quiet = (self.amount[p:end] > 0) & (self.price_q[p:end] > 0) & (self.fee[p:end] >= 0)
        if not quiet.all():
            quiet |= ~current(self.row[p:end], self.auction[p:end], self.plan[p:end])
        return end - p if quiet.all() else int(np.argmin(quiet))

    def skip(self, n: int) -> tuple[I64, I64, I64]:
        """Hand out the next ``n`` entries without building their orders: their auctions, plans and fees."""
        p = self.pos
        self.pos += n
        return self.auction[p:p + n], self.plan[p:p + n], self.fee[p:p + n]

    def pop(self) -> Order:
        i = self.pos
        self.pos += 1
        return make_take(self.keeper, self.at.item(i), self.auction.item(i), self.amount.item(i),
                         self.price_q.item(i), self.fee.item(i), self.plan.item(i))
