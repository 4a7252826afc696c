"""Borrower accounts as struct-of-arrays on numpy: collateral holdings, numeraire debt, margin maths.

Layout (one row per account, one column per collateral asset; no Python object per account, so one million
accounts with one asset take about 17 MB):

- ``qty: int64[n, k]``  collateral held, in collateral base units (``units.COL`` = 1e-9 token);
- ``debt: int64[n]``    debt, in numeraire base units (``units.NUM`` = 1e-6 USD);
- ``mm: float64[k]``    maintenance margin per asset, a fraction of the collateral's value;
- ``active: bool[n]``   False once the house has closed the account.

Marks (``marks: float64[k]``) are float prices in whole numeraire per whole token, like ``PricePath``.
Every value returned below (``collateral_value``, ``equity``, ``requirement``, ``shortfall``) is a float in
*numeraire base units*, so it compares directly with ``debt``; divide by ``units.NUM`` for whole USD.

Margin rule. An account is liquidatable when equity < requirement, i.e. when its health factor

    health = sum_a(q_a * p_a * (1 - mm_a)) / debt  < 1          (inf when debt == 0)

This is Aave v3's health factor (GenericLogic.calculateUserAccountData: collateral x liquidation threshold /
debt, max when debt is 0) with ``1 - mm`` as the liquidation threshold, and MakerDAO's vault safety test with
``1 - mm = 1 / mat``: dss spot.sol ``poke`` sets ``spot = val / par / mat`` and dss dog.sol ``bark`` liquidates
when ``ink * spot < art * rate``. So a Maker liquidation ratio ``r`` (``mat``, 1.5 for 150 %) maps to
``mm = 1 - 1/r`` (1/3 for 150 %): see ``mm_from_ratio``.

A *single-collateral* account holds at most one asset; it becomes liquidatable when that asset's price falls
below its liquidation price ``debt / (q * (1 - mm))``. Cross-margin accounts (several assets backing one debt)
have no single threshold price. ``auction.book.margin.Detector`` uses both facts.

The house changes an account only through ``seize`` and ``close``; after either it must call
``Detector.reindex`` so that the account's new threshold is watched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from auction import units
from auction.errors import ConfigError, Rejected

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Bool = NDArray[np.bool_]
Index = I64 | Sequence[int] | None

# Collateral base units per numeraire base unit of a price: value_num_units = q_col_units * price / _SCALE.
_SCALE = units.COL / units.NUM
# Largest collateral or debt amount generate() will produce: keeps sums of k assets well inside int64.
_MAX_UNITS = 2**62


def mm_from_ratio(ratio: float | ArrayLike) -> F64:
    """Maker liquidation ratio ``mat`` (1.5 = 150 %) -> maintenance margin ``mm = 1 - 1/r``."""
    r = np.atleast_1d(np.asarray(ratio, dtype=np.float64))
    if not np.all(np.isfinite(r)) or np.any(r < 1.0):
        raise ValueError(f"liquidation ratio must be >= 1, got {ratio!r}")
    return np.asarray(1.0 - 1.0 / r, dtype=np.float64)


class Accounts:
    """All borrower accounts of one market, as parallel numpy arrays (see the module docstring)."""

    def __init__(
        self,
        assets: Sequence[str],
        qty: ArrayLike,
        debt: ArrayLike,
        mm: ArrayLike,
        active: ArrayLike | None = None,
    ) -> None:
        self.assets: tuple[str, ...] = tuple(assets)
        k = len(self.assets)
        if k == 0 or len(set(self.assets)) != k:
            raise ValueError(f"assets must be a non-empty tuple of distinct names, got {self.assets!r}")
        # Used as given when already int64/contiguous (no copy of a million rows); seize() mutates them.
        self.qty: I64 = np.ascontiguousarray(qty, dtype=np.int64)
        self.debt: I64 = np.ascontiguousarray(debt, dtype=np.int64)
        self.mm: F64 = np.ascontiguousarray(np.broadcast_to(np.asarray(mm, dtype=np.float64), (k,)))
        n = self.debt.shape[0] if self.debt.ndim == 1 else -1
        if self.qty.shape != (n, k):
            raise ValueError(f"qty must have shape (n, {k}) matching debt (n,), got {self.qty.shape}")
        self.active: Bool = (
            np.ones(n, dtype=np.bool_) if active is None else np.ascontiguousarray(active, dtype=np.bool_)
        )
        if self.active.shape != (n,):
            raise ValueError(f"active must have shape ({n},), got {self.active.shape}")
        if n and (self.qty.min() < 0 or self.debt.min() < 0):
            raise ValueError("qty and debt must be >= 0")
        self.mm = check_mm(self.mm, k)

    # --- shape -------------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return int(self.debt.shape[0])

    @property
    def k(self) -> int:
        return len(self.assets)

    @property
    def nbytes(self) -> int:
        return int(self.qty.nbytes + self.debt.nbytes + self.mm.nbytes + self.active.nbytes)

    @property
    def is_single(self) -> Bool:
        """True for accounts holding at most one collateral asset (zero collateral counts as single)."""
        if self.k == 1:
            return np.ones(self.n, dtype=np.bool_)
        return np.asarray(np.count_nonzero(self.qty, axis=1) <= 1)

    def single_asset(self, idx: Index = None) -> I64:
        """Column of the one asset each account holds; 0 for no collateral, -1 for cross-margin accounts."""
        q = self.qty if idx is None else self.qty[np.asarray(idx, dtype=np.int64)]
        if self.k == 1:
            return np.zeros(q.shape[0], dtype=np.int64)
        held = q > 0
        col = np.argmax(held, axis=1).astype(np.int64)
        col[np.count_nonzero(held, axis=1) > 1] = -1
        return col

    # --- margin maths (vectorized; ``idx`` restricts to a subset, in the order given) -------------

    def collateral_value(self, marks: ArrayLike, idx: Index = None) -> F64:
        """sum_a q_a * p_a, numeraire base units."""
        p = check_marks(marks, self.k)
        return self._weighted(p / _SCALE, idx)

    def equity(self, marks: ArrayLike, idx: Index = None) -> F64:
        """Collateral value minus debt, numeraire base units."""
        return self.collateral_value(marks, idx) - self._debt(idx)

    def requirement(self, marks: ArrayLike, mm: ArrayLike | None = None, idx: Index = None) -> F64:
        """Maintenance requirement sum_a q_a * p_a * mm_a, numeraire base units."""
        p = check_marks(marks, self.k)
        return self._weighted(p * self._mm(mm) / _SCALE, idx)

    def shortfall(self, marks: ArrayLike, mm: ArrayLike | None = None, idx: Index = None) -> F64:
        """Requirement minus equity, numeraire base units: > 0 exactly when the account is under water.

        Equals ``debt - sum(q*p*(1-mm))``; the liquidation queue serves the largest shortfall first.
        """
        p = check_marks(marks, self.k)
        return self._debt(idx) - self._weighted(p * (1.0 - self._mm(mm)) / _SCALE, idx)

    def health(self, marks: ArrayLike, mm: ArrayLike | None = None, idx: Index = None) -> F64:
        """sum_a(q_a * p_a * (1 - mm_a)) / debt; inf for zero debt. Liquidatable when < 1."""
        p = check_marks(marks, self.k)
        q = self.qty if idx is None else self.qty[np.asarray(idx, dtype=np.int64)]
        return health_of(q, self._debt(idx), p, self._mm(mm))

    def liquidation_prices(self, mm: ArrayLike | None = None) -> F64:
        """Price below which each single-collateral account is liquidatable: debt / (q * (1 - mm)).

        In whole numeraire per token. NaN for cross-margin accounts, inf for debt without collateral,
        0 for an account without debt.
        """
        col = self.single_asset()
        single = col >= 0
        asset = np.where(single, col, 0)
        q = self.qty[np.arange(self.n), asset].astype(np.float64)
        out = debt_per_token(q, self.debt.astype(np.float64)) / (1.0 - self._mm(mm)[asset])
        out[~single] = np.nan
        return out

    def liquidation_price(self, i: int, mm: ArrayLike | None = None) -> float:
        """``liquidation_prices()[i]`` for one account; ValueError for a cross-margin account."""
        col = int(self.single_asset([i])[0])
        if col < 0:
            raise ValueError(f"account {i} is cross-margin: it has no single liquidation price")
        key = debt_per_token(np.array([float(self.qty[i, col])]), np.array([float(self.debt[i])]))[0]
        return float(key / (1.0 - self._mm(mm)[col]))

    # --- changes made by the house ------------------------------------------------------------------

    def seize(self, i: int, qty: ArrayLike, debt: int) -> None:
        """Take ``qty`` (collateral base units per asset) and ``debt`` (numeraire base units) off account i.

        Either everything is taken or, on a ``Rejected``, nothing changes. Call ``Detector.reindex([i])``
        afterwards: the account's threshold has moved.
        """
        i = int(i)
        take = np.asarray(qty)
        if take.shape != (self.k,) or take.dtype.kind not in "iu" or not isinstance(debt, int | np.integer):
            raise Rejected("bad-amount", f"seize needs {self.k} integer quantities and an integer debt")
        take = take.astype(np.int64, copy=False)
        if (take < 0).any() or debt < 0:
            raise Rejected("bad-amount", f"seize amounts must be >= 0, got qty={take.tolist()} debt={debt}")
        if not self.active[i]:
            raise Rejected("insufficient-balance", f"account {i} is closed: nothing left to seize")
        if (take > self.qty[i]).any() or debt > self.debt[i]:
            raise Rejected(
                "insufficient-balance",
                f"account {i} holds qty={self.qty[i].tolist()} debt={int(self.debt[i])}, "
                f"cannot seize qty={take.tolist()} debt={debt}",
            )
        self.qty[i] -= take
        self.debt[i] -= debt

    def seize_all(self, i: int) -> tuple[I64, int]:
        """Take everything account i holds: ``seize`` of its whole row (the house liquidates whole vaults, once
        per kick, so this skips the checks a part would need). Returns what was taken (collateral per asset,
        debt); the account stays active with nothing in it. Call ``Detector.reindex([i])`` afterwards."""
        i = int(i)
        if not self.active[i]:
            raise Rejected("insufficient-balance", f"account {i} is closed: nothing left to seize")
        taken = (self.qty[i].copy(), int(self.debt[i]))
        self.qty[i] = 0
        self.debt[i] = 0
        return taken

    def close(self, i: int) -> tuple[I64, int]:
        """Close account i: returns what was left (collateral per asset, debt) and zeroes it.

        The house books the leftovers: collateral back to the owner, debt not covered as bad debt.
        """
        i = int(i)
        if not self.active[i]:
            raise Rejected("insufficient-balance", f"account {i} is already closed")
        left = (self.qty[i].copy(), int(self.debt[i]))
        self.qty[i] = 0
        self.debt[i] = 0
        self.active[i] = False
        return left

    # --- helpers ------------------------------------------------------------------------------------

    def _mm(self, mm: ArrayLike | None) -> F64:
        return self.mm if mm is None else check_mm(mm, self.k)

    def _debt(self, idx: Index) -> F64:
        d = self.debt if idx is None else self.debt[np.asarray(idx, dtype=np.int64)]
        return d.astype(np.float64)

    def _weighted(self, factors: F64, idx: Index) -> F64:
        q = self.qty if idx is None else self.qty[np.asarray(idx, dtype=np.int64)]
        return weighted_sum(q, factors)


def weighted_sum(q: I64 | F64, factors: F64) -> F64:
    """sum_a q[:, a] * factors[a], summed asset by asset in a fixed order.

    A loop over the k assets, never over accounts. The fixed order (and int64 -> float64 conversion being
    exact-rounded either way) makes an account's result identical whether computed over all accounts, a
    subset, or a float copy of its rows: ``auction.book.margin.Detector`` relies on that to agree exactly with
    the brute-force scan.
    """
    out: F64 = q[:, 0] * factors[0]
    for a in range(1, q.shape[1]):
        out += q[:, a] * factors[a]
    return out


def health_of(q: I64 | F64, debt: F64, marks: F64, mm: F64) -> F64:
    """Health factor of the rows ``q`` (collateral base units) with ``debt`` (numeraire base units, float).

    Inputs already validated; ``Accounts.health`` is this on its own arrays.
    """
    backing = weighted_sum(q, marks * (1.0 - mm) / _SCALE)
    with np.errstate(divide="ignore", invalid="ignore"):
        h: F64 = backing / debt
    h[debt == 0] = np.inf
    return h


def debt_per_token(q: F64, debt: F64) -> F64:
    """debt / q in whole numeraire per whole token: the liquidation price at mm = 0.

    inf for debt without collateral, 0 without debt (never liquidatable).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        key = debt * _SCALE / q
    key[debt == 0] = 0.0
    return key


def check_marks(marks: ArrayLike, k: int) -> F64:
    """Marks as float64[k], finite and >= 0, or ValueError."""
    p = np.asarray(marks, dtype=np.float64)
    if p.shape != (k,):
        raise ValueError(f"marks must have shape ({k},), got {p.shape}")
    if not (np.isfinite(p).all() and (p >= 0).all()):
        raise ValueError(f"marks must be finite and >= 0, got {p.tolist()}")
    return p


def check_mm(mm: ArrayLike, k: int) -> F64:
    """Maintenance margins as float64[k] in [0, 1), or ValueError."""
    m = np.asarray(mm, dtype=np.float64)
    if m.shape != (k,):
        raise ValueError(f"mm must have shape ({k},), got {m.shape}")
    if not (np.isfinite(m).all() and (m >= 0).all() and (m < 1).all()):
        raise ValueError(f"maintenance margins must lie in [0, 1), got {m.tolist()}")
    return m


def generate(
    n: int,
    assets: Sequence[str],
    prices0: ArrayLike,
    *,
    seed: int,
    debt_mean: float = 10_000.0,
    debt_sigma: float = 1.0,
    cr_low: float = 1.6,
    cr_high: float = 3.0,
    liquidation_ratio: float | Sequence[float] = 1.5,
    cross_share: float = 0.0,
) -> Accounts:
    """A seeded random population of ``n`` accounts.

    - debt (whole numeraire) ~ lognormal with mean ``debt_mean``: log-debt ~ N(ln(debt_mean) - s^2/2, s),
      s = ``debt_sigma``;
    - initial collateral ratio (collateral value / debt at ``prices0``) ~ uniform(``cr_low``, ``cr_high``);
      a ``cr_low`` under the liquidation ratio makes some accounts liquidatable from the start;
    - a single-collateral account holds one asset drawn uniformly; a share ``cross_share`` of the accounts
      spreads its collateral value over all assets with Dirichlet(1, ..., 1) weights (cross-margin);
    - ``mm = 1 - 1/liquidation_ratio`` per asset (a scalar applies to every asset).

    Same arguments, same arrays: the draws come from ``numpy.random.default_rng(seed)`` in a fixed order,
    and ``cross_share`` changes only the cross-margin draws, not the debts or ratios.
    """
    k = len(assets)
    p0 = np.asarray(prices0, dtype=np.float64)
    _check_generate(n, k, p0, debt_mean, debt_sigma, cr_low, cr_high, cross_share)
    try:
        mm = np.broadcast_to(mm_from_ratio(liquidation_ratio), (k,)).copy()
    except ValueError as exc:
        raise ConfigError(f"liquidation_ratio: {exc}; use e.g. 1.5 for 150 %") from exc

    rng = np.random.default_rng(seed)
    mu = np.log(debt_mean) - debt_sigma**2 / 2.0
    debt_f = rng.lognormal(mu, debt_sigma, n)
    value = debt_f * rng.uniform(cr_low, cr_high, n)
    asset = rng.integers(0, k, n)
    cross = rng.random(n) < cross_share

    tokens = np.zeros((n, k), dtype=np.float64)
    single = np.flatnonzero(~cross)
    tokens[single, asset[single]] = value[single] / p0[asset[single]]
    rows = np.flatnonzero(cross)
    if rows.size:
        weights = rng.dirichlet(np.ones(k), size=rows.size)
        tokens[rows] = value[rows, None] * weights / p0
    qty_f = np.floor(tokens * units.COL)
    debt_u = np.rint(debt_f * units.NUM)
    if n and (qty_f.max() >= _MAX_UNITS or debt_u.max() >= _MAX_UNITS):
        raise ConfigError("generated amounts overflow int64 base units: lower debt_mean/debt_sigma or cr_high")
    return Accounts(tuple(assets), qty_f.astype(np.int64), debt_u.astype(np.int64), mm)


def _check_generate(
    n: int,
    k: int,
    p0: F64,
    debt_mean: float,
    debt_sigma: float,
    cr_low: float,
    cr_high: float,
    cross_share: float,
) -> None:
    if n < 0:
        raise ConfigError(f"number of accounts must be >= 0, got {n}")
    if k == 0:
        raise ConfigError("at least one collateral asset is needed")
    if p0.shape != (k,) or not np.all(np.isfinite(p0)) or np.any(p0 <= 0):
        raise ConfigError(f"prices0 must give one price > 0 per asset ({k}), got {p0.tolist()}")
    if not (debt_mean > 0 and debt_sigma >= 0):
        raise ConfigError(f"debt_mean must be > 0 and debt_sigma >= 0, got {debt_mean}, {debt_sigma}")
    if not (0 < cr_low <= cr_high):
        raise ConfigError(f"need 0 < cr_low <= cr_high, got cr_low={cr_low} cr_high={cr_high}")
    if not (0.0 <= cross_share <= 1.0):
        raise ConfigError(f"cross_share must lie in [0, 1], got {cross_share}")
    if cross_share > 0 and k < 2:
        raise ConfigError("cross_share > 0 needs at least two collateral assets")
