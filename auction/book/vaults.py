"""``VaultBook``: collateralized debt accounts (``Accounts``) behind the house's ``MarginBook`` interface.

Detection is ``auction.book.margin.Detector`` (single-collateral accounts kept ordered by their liquidation
price, cross-margin ones scanned vectorized); the priority is the shortfall (requirement minus equity).
Whole vaults are liquidated (no partial bark): a cross-margin account yields one lot per collateral asset,
the debt split by oracle value (the last asset takes the rounding remainder).
"""

from __future__ import annotations

import math

import numpy as np

from auction.book.accounts import Accounts, check_marks
from auction.book.base import F64, I64, NOTHING, Kind, Lot
from auction.book.ledger import Ledger
from auction.book.margin import Detector
from auction.units import COL, NUM

_SCALE = COL / NUM  # as in auction.book.accounts: value in numeraire units = qty * price / _SCALE


class VaultBook:
    """Vault accounts with their detector; holds the latest oracle prices and margins it was handed."""

    kind: Kind = "vault"
    still_at_blocks = True  # on_block returns NOTHING: a vault changes only with the oracle

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.detector = Detector(accounts)
        self.oracle: F64 = np.full(accounts.k, np.nan)
        self.mm: F64 | None = None
        # per asset, oracle * (1 - mm) / _SCALE, and the (oracle, mm) objects it was computed from
        self._factors: tuple[F64 | None, F64 | None, list[float]] = (None, None, [])

    @property
    def assets(self) -> tuple[str, ...]:
        return self.accounts.assets

    def attach(self, ledger: Ledger) -> None:
        """Nothing up front: a vault's collateral and debt enter the ledger as they are seized."""

    def on_prices(self, oracle: F64, mm: F64 | None) -> tuple[I64, F64]:
        flagged = self.detector.on_prices(oracle, mm)
        # A copy: the prices in force are those handed in here (the caller updates its own array in place), so
        # what ``health`` computes from them once holds until the next prices.
        self.oracle, self.mm = oracle.copy(), mm
        if not len(flagged):
            return NOTHING
        return flagged, self.accounts.shortfall(oracle, mm, idx=flagged)

    def on_block(self, now: float) -> tuple[I64, F64]:
        return NOTHING  # a vault changes only with the oracle

    def health(self, i: int) -> float:
        """``Accounts.health`` of one account, in scalar operations (the house asks it once per kick): the same
        float operations in the same order as ``health_of`` over ``weighted_sum``, so the same result."""
        acc = self.accounts
        oracle, mm, factors = self._factors
        if oracle is not self.oracle or mm is not self.mm:  # new prices: once per price event, not per kick
            weights = check_marks(self.oracle, acc.k) * (1.0 - (acc.mm if self.mm is None else self.mm)) / _SCALE
            factors = weights.tolist()
            self._factors = (self.oracle, self.mm, factors)
        row = acc.qty[i].tolist()
        backing = row[0] * factors[0]
        for a in range(1, acc.k):
            backing += row[a] * factors[a]
        debt = float(acc.debt[i])
        return math.inf if debt == 0 else backing / debt

    def healthy(self, i: int) -> bool:
        return bool(self.accounts.debt[i] == 0 or self.health(i) >= 1.0)

    def reindex(self, i: int) -> None:
        self.detector.reindex([i])

    def lots(self, i: int, *, seize: bool) -> list[Lot]:
        acc = self.accounts
        if seize:
            qty, debt = acc.seize_all(i)
            self.detector.reindex([i])
        else:
            qty, debt = acc.qty[i].copy(), int(acc.debt[i])
        held = [k for k, q in enumerate(qty.tolist()) if q > 0]
        if len(held) == 1:  # one asset takes the whole debt (the split below would give it the remainder: all)
            return [Lot(held[0], int(qty[held[0]]), debt)]
        values = qty * self.oracle / COL
        total = float(values.sum())
        out: list[Lot] = []
        remaining = debt
        for n, k in enumerate(held):
            share = remaining if n == len(held) - 1 else int(debt * float(values[k]) / total)
            remaining -= share
            out.append(Lot(k, int(qty[k]), share))
        return out
