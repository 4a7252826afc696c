"""The liquidation queue: flagged accounts, waiting for the house to serve a per-block capacity.

Flagged accounts wait for the house, which serves a per-block capacity: most at risk / largest first, i.e.
shortfall descending, ties by account index. A sorted numpy array rather than a heap: ``heapq`` pushes one
Python tuple per account (a per-account Python loop, 100k of them in one crash event), while a sorted array
takes a batch with one ``searchsorted`` + ``insert`` (O(m + b log m), vectorized) and ``pop(n)`` is a slice.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

I64 = NDArray[np.int64]


class LiquidationQueue:
    """Flagged accounts, served by shortfall descending, ties by account index (deterministic).

    A sorted structured numpy array (see the module docstring for why not a heap). The caller applies
    the per-block capacity: ``pop(capacity)``.
    """

    _DTYPE = np.dtype([("neg", np.float64), ("idx", np.int64)])

    def __init__(self) -> None:
        self._q = np.zeros(0, dtype=self._DTYPE)

    def __len__(self) -> int:
        return int(self._q.size)

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int | np.integer) and bool(np.any(self._q["idx"] == i))

    def push(self, indices: ArrayLike, priorities: ArrayLike) -> None:
        """Queue accounts with their priority (shortfall); an account already queued gets the new one."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        pri = np.asarray(priorities, dtype=np.float64).ravel()
        if idx.shape != pri.shape:
            raise ValueError(f"{idx.size} indices but {pri.size} priorities")
        if not np.all(np.isfinite(pri)):
            raise ValueError("priorities must be finite")
        if np.unique(idx).size != idx.size:
            raise ValueError("an account appears twice in one push")
        if idx.size == 0:
            return
        self.drop(idx)
        batch = np.empty(idx.size, dtype=self._DTYPE)
        batch["neg"] = -pri
        batch["idx"] = idx
        batch.sort()  # structured sort: by -priority, then index
        pos = np.searchsorted(self._q, batch)
        self._q = np.insert(self._q, pos, batch)

    def pop(self, n: int) -> I64:
        """Up to n accounts, most urgent first, removed from the queue."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        head, self._q = self._q[:n], self._q[n:]
        return np.array(head["idx"], dtype=np.int64)

    def peek(self, n: int) -> I64:
        """The next n accounts ``pop`` would return, left in the queue."""
        return np.array(self._q[: max(n, 0)]["idx"], dtype=np.int64)

    def drop(self, indices: int | ArrayLike) -> int:
        """Remove accounts (e.g. healthy again, or closed); returns how many were queued."""
        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if self._q.size == 0 or idx.size == 0:
            return 0
        gone = np.isin(self._q["idx"], idx)
        count = int(np.count_nonzero(gone))
        if count:
            self._q = self._q[~gone]
        return count
