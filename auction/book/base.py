"""The one interface the auction house sees of a margin book: vault accounts or perpetual positions.

The house (``auction.house``) never asks which book it serves. It hands the book the protocol's oracle prices
and every block, and gets back the accounts that newly breached their margin with their priority (the
liquidation queue serves the largest first, within the per-block capacity); before opening sales for an
account it asks whether it is still unhealthy, then asks for its lots. The run kernel builds the book the
scenario describes (``auction.scenario``): ``VaultBook`` (``auction.book.vaults``) for Maker/Aave-style vaults,
``PositionBook`` (``auction.book.positions``) for perpetual-futures positions.

Detection is vectorized in both: no Python loop over accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from auction.book.ledger import Ledger

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Kind = Literal["vault", "perp"]
NOTHING: tuple[I64, F64] = (np.zeros(0, dtype=np.int64), np.zeros(0))


@dataclass(frozen=True, slots=True)
class Lot:
    """One sale the house opens for account ``i``: asset (or market) ``k``, ``qty`` base units, ``debt`` numeraire
    units to cover (vaults), ``side`` +1 for a long position, -1 for a short, 0 for vault collateral."""

    k: int
    qty: int
    debt: int = 0
    side: int = 0


class MarginBook(Protocol):
    """What the auction house needs of a book of accounts under margin."""

    @property
    def kind(self) -> Kind:
        """``"vault"`` or ``"perp"``: which designs can liquidate it (``Design.book``)."""
        ...

    @property
    def assets(self) -> tuple[str, ...]:
        """The assets (vault collateral) or markets (perp positions), in oracle order."""
        ...

    @property
    def still_at_blocks(self) -> bool:
        """True when ``on_block`` never changes nor flags anything (the book moves with the oracle only): then the
        house may pass a block over that has nothing else to do (``AuctionHouse.idle_before``)."""
        ...

    def attach(self, ledger: Ledger) -> None:
        """Enter what the book holds into the run's ledger (once, before the first input)."""
        ...

    def on_prices(self, oracle: F64, mm: F64 | None) -> tuple[I64, F64]:
        """The oracle moved (``mm``: volatility-adjusted margins, or None): newly breached accounts and priorities."""
        ...

    def on_block(self, now: float) -> tuple[I64, F64]:
        """A block at ``now`` (perps: the mark moves, funding falls due): newly breached accounts and priorities."""
        ...

    def health(self, i: int) -> float:
        """Account ``i``'s health at the latest prices: < 1 is liquidatable."""
        ...

    def healthy(self, i: int) -> bool:
        """True when account ``i`` is not liquidatable at the latest prices."""
        ...

    def reindex(self, i: int) -> None:
        """Watch account ``i`` again with its current holdings (after a sale changed it, or it recovered)."""
        ...

    def lots(self, i: int, *, seize: bool) -> list[Lot]:
        """The sales to open for account ``i``; with ``seize`` the book hands their contents over now."""
        ...
