"""Liquidation detection without a Python loop over accounts, and volatility margins (the queue the house
serves flagged accounts from is ``auction.book.queue``).

Detection (``Detector``)
------------------------
Liquidatable means ``Accounts.health(marks, mm) < 1`` (see auction/accounts.py). The detector returns, per
price event, the accounts that are liquidatable and not yet flagged; it must agree exactly with that brute
force scan, while touching only the accounts near the moving threshold.

*Single-collateral accounts.* Account i holding q of asset a is liquidatable iff
``p_a * (1 - mm_a) < key_i`` with ``key_i = debt_i / q_i`` (whole numeraire per token). The key does not
depend on the price nor on mm, so each asset keeps its accounts in one array sorted by key, once. A price
event lowers or raises ``x_a = p_a * (1 - mm_a)``; the accounts crossed are the suffix with key > x_a, found by
``np.searchsorted`` in O(log n) and popped by moving an end pointer. With a per-asset mm (static or
volatility-adjusted) the threshold price ``key_i / (1 - mm_a)`` of every account of asset a scales by the same
factor, so the order by key is invariant: a new mm never forces a re-sort.

Floating point: the key test and the health formula round differently, so a key within a relative 1e-9 of
x_a (the "band") is decided by the health formula itself, on those few accounts only. Keys above the band are
liquidatable, keys below are not, by a margin far larger than any rounding error. Band accounts so flagged
stay physically in the array and are skipped later (their ``home`` is no longer MAIN).

*Re-indexing* (after a partial liquidation moved the key, or when the house drops an account that became
healthy again): ``reindex`` invalidates the account's old entry (lazy deletion through ``home``) and puts it
(unless it owes nothing: a vault seized whole is never watched again) in a small unsorted *overlay* that
every event checks with one vectorized health call. When the overlay reaches ``merge_at`` (default n/256, at
least 1024) it is merged into the sorted arrays in O(n) with ``searchsorted`` + ``insert``, which also
compacts stale entries. The overlay scan costs O(merge_at) per event
and a merge O(n) per merge_at re-indexed accounts, a few microseconds each at n = 1e6.

*Cross-margin accounts* have no single threshold price: they are checked by one vectorized health scan of
the cross-margin accounts not yet flagged, every event, over a dense copy of their rows (``_Scanned``).

How the house uses it, per price event and per block::

    new = detector.on_prices(marks, mm)                    # flagged now
    queue.push(new, accounts.shortfall(marks, mm, idx=new))
    for i in queue.pop(capacity):                          # per block
        ...  # healthy again: detector.reindex([i]); else auction it: accounts.seize_all(i), then reindex

Priorities are the shortfalls at detection time; pushing an account again replaces its priority.

Volatility-adjusted maintenance margin
--------------------------------------
``mm_a(t) = max(floor_a, k * sigma_a(t) * sqrt(horizon))`` with sigma per sqrt(second) from
``auction.models.prices.ewma_vol`` (RiskMetrics EWMA of squared log returns); ``horizon`` in seconds is the time the
protocol needs to liquidate. The volatility term is capped below 1 so that collateral always backs something.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from auction import units
from auction.book.accounts import Accounts, check_marks, check_mm, debt_per_token, health_of

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

_EMPTY = np.zeros(0, dtype=np.int64)
_SLACK = 1e-9  # relative width of the band decided by the health formula itself
_SCALE = units.COL / units.NUM  # as in auction.book.accounts

# Where a watched account lives (Detector._home): an entry elsewhere is stale and skipped.
_NONE, _MAIN, _OVERLAY, _CROSS = 0, 1, 2, 3


class Detector:
    """Finds newly liquidatable accounts on each price event (see the module docstring).

    ``on_prices`` flags what it returns; a flagged account is not returned again until ``reindex``.
    The accounts must change only through ``Accounts.seize``/``close`` followed by ``reindex``.
    """

    def __init__(self, accounts: Accounts, *, merge_at: int | None = None) -> None:
        self.accounts = accounts
        n, k = accounts.n, accounts.k
        self.merge_at = merge_at if merge_at is not None else max(1024, n // 256)
        self._flagged = np.zeros(n, dtype=np.bool_)
        self._home = np.zeros(n, dtype=np.int8)
        self._key = np.zeros(n, dtype=np.float64)  # debt / q of single-collateral accounts
        self._asset = np.zeros(n, dtype=np.int32)
        self._main_idx: list[I64] = [_EMPTY] * k  # per asset, sorted by key ascending
        self._main_key: list[F64] = [np.zeros(0)] * k
        self._end = [0] * k  # entries at or after _end[a] have been popped
        self._overlay = _Scanned(k)
        self._cross = _Scanned(k)
        self._build()

    # --- public ---------------------------------------------------------------------------------------

    def on_prices(self, marks: ArrayLike, mm: ArrayLike | None = None) -> I64:
        """Indices (ascending) of accounts liquidatable at ``marks`` and not flagged before; flags them.

        ``mm`` overrides the accounts' maintenance margins for this event (volatility-adjusted margin).
        """
        acc = self.accounts
        p = check_marks(marks, acc.k)
        margin = acc.mm if mm is None else check_mm(mm, acc.k)
        x = p * (1.0 - margin)
        parts = [self._pop_sorted(a, float(x[a]), p, margin) for a in range(acc.k)]  # loop over assets
        new = np.concatenate([*parts, self._overlay.scan(p, margin), self._cross.scan(p, margin)])
        new.sort()
        self._flagged[new] = True
        self._home[new] = _NONE
        return new

    def reindex(self, indices: ArrayLike) -> None:
        """Watch these accounts again with their current holdings: after ``seize``, ``close``, or when the
        house drops them healthy from the queue. Unflags them; closed accounts, and accounts that owe nothing
        (health is infinite until a debt appears, and the accounts' debts only shrink), are no longer watched."""
        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if idx.size == 1:
            self._reindex_one(int(idx[0]))
            return
        idx = np.unique(idx)
        if idx.size == 0:
            return
        if idx[0] < 0 or idx[-1] >= self.accounts.n:
            raise IndexError(f"account index out of range 0..{self.accounts.n - 1}")
        home = self._home[idx]
        if home.max() >= _OVERLAY:  # only accounts still watched by a scan need removing from it
            self._overlay.remove(idx[home == _OVERLAY])
            self._cross.remove(idx[home == _CROSS])
        self._flagged[idx] = False
        self._home[idx] = _NONE  # any entry in the sorted arrays is stale from now on
        acc = self.accounts
        single, cross = self._classify(idx[acc.active[idx] & (acc.debt[idx] != 0)])  # as _reindex_one
        self._home[single] = _OVERLAY
        self._overlay.add(self.accounts, single)
        self._home[cross] = _CROSS
        self._cross.add(self.accounts, cross)
        if len(self._overlay) >= self.merge_at:
            self.merge()

    def _reindex_one(self, i: int) -> None:
        """``reindex([i])`` in scalar operations: the house often touches one account at a time."""
        acc = self.accounts
        if not 0 <= i < acc.n:
            raise IndexError(f"account index out of range 0..{acc.n - 1}")
        home = self._home[i]
        if home == _OVERLAY:
            self._overlay.remove(np.array([i]))
        elif home == _CROSS:
            self._cross.remove(np.array([i]))
        self._flagged[i] = False
        self._home[i] = _NONE
        if not acc.active[i] or acc.debt[i] == 0:
            return  # closed, or owing nothing (a vault seized whole): it can never breach, so it is not watched
        row = acc.qty[i]
        held = np.flatnonzero(row)
        if held.size > 1:
            self._home[i] = _CROSS
            self._cross.add_one(i, row, float(acc.debt[i]))
            return
        a = int(held[0]) if held.size else 0
        q, d = float(row[a]), float(acc.debt[i])
        # Same arithmetic as accounts.debt_per_token (and the band test tolerates any last-bit difference).
        self._key[i] = 0.0 if d == 0 else (math.inf if q == 0 else d * _SCALE / q)
        self._asset[i] = a
        self._home[i] = _OVERLAY
        self._overlay.add_one(i, row, d)
        if len(self._overlay) >= self.merge_at:
            self.merge()

    def merge(self) -> None:
        """Fold the overlay into the sorted per-asset arrays and drop stale entries (O(n))."""
        ov = self._overlay.members()
        for a in range(self.accounts.k):
            end = self._end[a]
            ids, keys = self._main_idx[a][:end], self._main_key[a][:end]
            keep = self._home[ids] == _MAIN
            ids, keys = ids[keep], keys[keep]
            add = ov[self._asset[ov] == a]
            add_keys = self._key[add]
            order = np.argsort(add_keys, kind="stable")
            add, add_keys = add[order], add_keys[order]
            pos = np.searchsorted(keys, add_keys)
            self._main_idx[a] = np.insert(ids, pos, add)
            self._main_key[a] = np.insert(keys, pos, add_keys)
            self._end[a] = self._main_idx[a].size
        self._home[ov] = _MAIN
        self._overlay = _Scanned(self.accounts.k)

    @property
    def flagged(self) -> I64:
        """Accounts returned by ``on_prices`` and not re-indexed since."""
        return np.flatnonzero(self._flagged)

    def is_flagged(self, i: int) -> bool:
        return bool(self._flagged[i])

    @property
    def overlay_size(self) -> int:
        return len(self._overlay)

    @property
    def nbytes(self) -> int:
        arrays = [self._flagged, self._home, self._key, self._asset, *self._main_idx, *self._main_key]
        return sum(int(a.nbytes) for a in arrays) + self._overlay.nbytes + self._cross.nbytes

    # --- internals --------------------------------------------------------------------------------------

    def _build(self) -> None:
        single, cross = self._classify(np.flatnonzero(self.accounts.active))
        self._home[single] = _MAIN
        for a in range(self.accounts.k):
            ids = single[self._asset[single] == a]
            order = np.argsort(self._key[ids], kind="stable")
            self._main_idx[a] = ids[order]
            self._main_key[a] = self._key[self._main_idx[a]]
            self._end[a] = ids.size
        self._home[cross] = _CROSS
        self._cross.add(self.accounts, cross)

    def _classify(self, idx: I64) -> tuple[I64, I64]:
        """Split accounts into single-collateral (their key and asset recorded) and cross-margin."""
        acc = self.accounts
        col = acc.single_asset(idx)
        is_single = col >= 0
        single, asset = idx[is_single], col[is_single]
        q = acc.qty[single, asset].astype(np.float64)
        self._key[single] = debt_per_token(q, acc.debt[single].astype(np.float64))
        self._asset[single] = asset
        return single, idx[~is_single]

    def _pop_sorted(self, a: int, x: float, marks: F64, mm: F64) -> I64:
        """Pop the accounts of asset a whose key exceeds x = p_a * (1 - mm_a)."""
        end = self._end[a]
        keys, ids = self._main_key[a][:end], self._main_idx[a]
        lo = int(keys.searchsorted(x * (1.0 - _SLACK), side="left"))
        hi = int(keys.searchsorted(x * (1.0 + _SLACK), side="right"))
        self._end[a] = hi
        sure = ids[hi:end]
        sure = sure[self._home[sure] == _MAIN]
        if lo == hi:
            return sure
        band = ids[lo:hi]
        band = band[self._home[band] == _MAIN]
        band = band[self.accounts.health(marks, mm, idx=band) < 1.0]
        return np.concatenate([sure, band])


class _Scanned:
    """Accounts checked by one vectorized health pass per event (cross-margin, and the overlay).

    Keeps a dense float copy of their rows: gathering scattered rows out of a million-row array costs a
    cache miss per account per event, a dense copy is one streaming pass. Valid because a watched account
    changes only through seize/close + ``Detector.reindex``, which removes and re-adds it. Rows live in
    buffers that double when full (adding one account is O(1) amortized); an account that is hit or
    removed is marked dead, and dead rows are compacted away once they are a quarter of the rows.
    """

    def __init__(self, k: int) -> None:
        self._n = 0  # rows in use, dead ones included
        self._dead = 0
        self._idx = np.zeros(16, dtype=np.int64)
        self._qty = np.zeros((16, k), dtype=np.float64)
        self._debt = np.zeros(16, dtype=np.float64)
        self._alive = np.zeros(16, dtype=np.bool_)

    def __len__(self) -> int:
        return self._n - self._dead

    @property
    def nbytes(self) -> int:
        return int(self._idx.nbytes + self._qty.nbytes + self._debt.nbytes + self._alive.nbytes)

    def members(self) -> I64:
        return self._idx[: self._n][self._alive[: self._n]]

    def add(self, accounts: Accounts, idx: I64) -> None:
        m = idx.size
        if m == 0:
            return
        if self._n + m > self._idx.size:
            self._resize(max(2 * self._idx.size, self._n + m))
        rows = slice(self._n, self._n + m)
        self._idx[rows] = idx
        self._qty[rows] = accounts.qty[idx]
        self._debt[rows] = accounts.debt[idx]
        self._alive[rows] = True
        self._n += m

    def add_one(self, i: int, row: I64, debt: float) -> None:
        if self._n == self._idx.size:
            self._resize(2 * self._idx.size)
        n = self._n
        self._idx[n], self._qty[n], self._debt[n], self._alive[n] = i, row, debt, True
        self._n = n + 1

    def remove(self, idx: I64) -> None:
        if idx.size:
            self._kill(self._alive[: self._n] & np.isin(self._idx[: self._n], idx))

    def scan(self, marks: F64, mm: F64) -> I64:
        """Members now liquidatable, removed from the set."""
        if len(self) == 0:
            return _EMPTY
        n = self._n
        hit = (health_of(self._qty[:n], self._debt[:n], marks, mm) < 1.0) & self._alive[:n]
        out = self._idx[:n][hit]
        self._kill(hit)
        return out

    def _kill(self, mask: NDArray[np.bool_]) -> None:
        count = int(np.count_nonzero(mask))
        if count == 0:
            return
        self._alive[: mask.size][mask] = False
        self._dead += count
        if self._dead * 4 >= self._n:
            keep = np.flatnonzero(self._alive[: self._n])
            m = keep.size
            self._idx[:m], self._qty[:m], self._debt[:m] = self._idx[keep], self._qty[keep], self._debt[keep]
            self._alive[:m] = True
            self._alive[m:] = False
            self._n, self._dead = m, 0

    def _resize(self, capacity: int) -> None:
        n = self._n
        idx, qty, debt, alive = self._idx, self._qty, self._debt, self._alive
        self._idx = np.zeros(capacity, dtype=np.int64)
        self._qty = np.zeros((capacity, qty.shape[1]), dtype=np.float64)
        self._debt = np.zeros(capacity, dtype=np.float64)
        self._alive = np.zeros(capacity, dtype=np.bool_)
        self._idx[:n], self._qty[:n], self._debt[:n], self._alive[:n] = idx[:n], qty[:n], debt[:n], alive[:n]


# --- volatility-adjusted maintenance margin -------------------------------------------------------------


def vol_adjusted_mm(floor: ArrayLike, sigma: ArrayLike, *, k: float, horizon: float, cap: float = 0.95) -> F64:
    """mm_a = max(floor_a, min(cap, k * sigma_a * sqrt(horizon))); sigma per sqrt(second), horizon in s.

    The cap bounds the volatility term only, so mm stays below 1 (collateral always backs something) and
    never falls under its floor.
    """
    f = np.asarray(floor, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if k < 0 or horizon < 0 or not 0.0 < cap < 1.0:
        raise ValueError(f"need k >= 0, horizon >= 0 and 0 < cap < 1, got {k}, {horizon}, {cap}")
    if np.any(f < 0) or np.any(f >= 1) or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValueError("floors must lie in [0, 1) and sigmas be finite and >= 0")
    return np.asarray(np.maximum(f, np.minimum(cap, k * s * np.sqrt(horizon))), dtype=np.float64)


def _positive(marks: ArrayLike | Sequence[float]) -> F64:
    p = np.asarray(marks, dtype=np.float64)
    if p.ndim != 1 or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"volatility needs finite prices > 0, got {p.tolist()}")
    return p
