"""The agent's per-auction plan state as columns, so that a re-evaluation of many auctions is vectorized.

Each auction the agent tracks owns one row. Two things of a row are read and written both by the per-auction
code (``Tracked.plan`` and ``Tracked.key`` are views of it) and by a design's batch planner, which handles a
whole re-evaluation with a few numpy operations instead of a Python call per auction:

- ``plan``: bumped whenever the intent about the auction changes; an order of an older plan is dropped;
- the key: what the current plan was made from (the same key again means the orders out still stand).
  A key is ``None``, any hashable object, or a tuple ``(tag, int, ...)`` whose tag is listed in ``PACKED``
  and whose ints fit in int64: those are kept packed in an int64 matrix, so a batch compares them at once.

``version`` counts the changes of the row's message: a batch planner that keeps columns derived from the
messages refreshes only the rows whose version moved since it last looked. A change is noted in a list
(``bump``: a numpy scalar write per message costs more than the message's planning) and added to the column
when it is read (``versions``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

KEY_WIDTH = 7  # ints after the tag in a packed key (dutch: start_ms, top_q, lot, tab, price_q, amount, fee)
PACKED: tuple[str, ...] = ("dutch",)  # tags of keys kept packed; tag code = 2 + index
NONE, OBJECT = 0, 1
_INT64 = (-(2**63), 2**63 - 1)

I64 = NDArray[np.int64]


class Rows:
    """Row storage for the tracked auctions of one agent (rows of untracked auctions are reused)."""

    def __init__(self, capacity: int = 64) -> None:
        self.ids = np.full(capacity, -1, dtype=np.int64)  # auction id of each row, -1 when free
        self.plan = np.zeros(capacity, dtype=np.int64)
        self.tag = np.zeros(capacity, dtype=np.int8)  # NONE, OBJECT or 2 + index in PACKED
        self.keys = np.zeros((capacity, KEY_WIDTH), dtype=np.int64)
        self.version = np.zeros(capacity, dtype=np.int64)
        self.objects: list[Any] = [None] * capacity  # OBJECT keys; also the Tracked of each row, see owner
        self.owner: list[Any] = [None] * capacity
        self._free: list[int] = []
        self._bumped: list[int] = []  # rows whose message changed since ``version`` was last brought up to date
        self.used = 0  # rows [0, used) were handed out at least once

    def add(self, auction: int, owner: Any) -> int:
        """A row for ``auction`` (plan 0, no key), remembered with its ``owner`` (the agent's Tracked)."""
        if self._free:
            row = self._free.pop()
        else:
            if self.used == self.ids.size:
                self._grow()
            row = self.used
            self.used += 1
        self.ids[row] = auction
        self.plan[row] = 0
        self.tag[row] = NONE
        self.bump(row)
        self.owner[row] = owner
        return row

    def bump(self, row: int) -> None:
        """The row's message changed (``versions`` counts it)."""
        bumped = self._bumped
        bumped.append(row)
        if len(bumped) >= 65536:  # bounded, for agents whose versions nobody reads
            self.versions()

    def versions(self) -> I64:
        """``version``, every change noted so far counted."""
        if self._bumped:
            np.add.at(self.version, self._bumped, 1)
            self._bumped.clear()
        return self.version

    def remove(self, row: int) -> None:
        self.ids[row] = -1
        self.tag[row] = NONE
        self.objects[row] = self.owner[row] = None
        self._free.append(row)

    def live(self) -> I64:
        """Rows in use, ordered by auction id."""
        ids = self.ids[: self.used]
        rows = np.flatnonzero(ids >= 0)
        return rows[np.argsort(ids[rows], kind="stable")]

    def current(self, rows: I64, auctions: I64, plans: I64) -> NDArray[np.bool_]:
        """Which (row, auction, plan) triples are still the plan in force (an order of another is dropped)."""
        return (self.ids[rows] == auctions) & (self.plan[rows] == plans)

    # -- keys ----------------------------------------------------------------------------------------
    def key(self, row: int) -> Any:
        tag = self.tag.item(row)
        if tag == NONE:
            return None
        if tag == OBJECT:
            return self.objects[row]
        return (PACKED[tag - 2], *self.keys[row].tolist())

    def set_key(self, row: int, key: Any) -> None:
        if key is None:
            self.tag[row] = NONE
            self.objects[row] = None
            return
        code = packed_code(key)
        if code:
            self.tag[row] = code
            self.keys[row] = key[1:]
            self.objects[row] = None
        else:
            self.tag[row] = OBJECT
            self.objects[row] = key

    def _grow(self) -> None:
        n = self.ids.size
        self.ids = np.concatenate([self.ids, np.full(n, -1, dtype=np.int64)])
        self.plan = np.concatenate([self.plan, np.zeros(n, dtype=np.int64)])
        self.tag = np.concatenate([self.tag, np.zeros(n, dtype=np.int8)])
        self.keys = np.concatenate([self.keys, np.zeros((n, KEY_WIDTH), dtype=np.int64)])
        self.version = np.concatenate([self.version, np.zeros(n, dtype=np.int64)])
        self.objects += [None] * n
        self.owner += [None] * n


def packed_code(key: Any) -> int:
    """The tag code a key is packed under, or 0 when it is kept as an object."""
    if type(key) is not tuple or len(key) != KEY_WIDTH + 1 or key[0] not in PACKED:
        return 0
    lo, hi = _INT64
    for x in key[1:]:
        if type(x) is not int or not lo <= x <= hi:
            return 0
    return 2 + PACKED.index(key[0])
