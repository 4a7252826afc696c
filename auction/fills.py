"""The value every mechanism returns when collateral changes hands."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fill:
    """One sale out of an auction lot: ``qty`` collateral base units to ``who`` for ``cost`` numeraire units."""

    who: str
    qty: int
    cost: int
    at: float

    @property
    def price_q(self) -> int:
        """Average price paid, in numeraire base units per whole token (0 for an empty fill)."""
        from auction.units import COL

        return self.cost * COL // self.qty if self.qty else 0
