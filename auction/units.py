"""Fixed base units for every amount the ledger and the wire carry.

Ledger and wire amounts are Python ints in base units, so conservation checks are exact:

- numeraire (USD/DAI): 1 unit = 1e-6 (``NUM``), like USDC;
- collateral (any asset): 1 unit = 1e-9 of a token (``COL``): 1e9 ETH still fits an int64 array;
- price: numeraire base units per *whole* collateral token (an int, ``price_q``).

Floats appear only inside vectorized analytics and price curves; they are quantized here, once,
with the rounding always in the protocol's favour (a buyer pays the ceiling, receives the floor).
"""

from __future__ import annotations

import math

NUM_DECIMALS = 6
COL_DECIMALS = 9
NUM = 10**NUM_DECIMALS
COL = 10**COL_DECIMALS


def num(amount: float) -> int:
    """Whole numeraire (e.g. 110.5 USD) -> numeraire base units, rounded to nearest."""
    x = amount * NUM
    if not -math.inf < x < math.inf:  # inline, no helper call: keepers convert millions of amounts a run
        raise ValueError(f"amount must be finite, got {x!r}")
    return round(x)


def col(amount: float) -> int:
    """Whole collateral tokens (e.g. 40.0 ETH) -> collateral base units, rounded to nearest."""
    x = amount * COL
    if not -math.inf < x < math.inf:
        raise ValueError(f"amount must be finite, got {x!r}")
    return round(x)


def price_q(price: float) -> int:
    """A float price (numeraire per token) -> numeraire base units per whole token, rounded down.

    Rounding down never lets a curve price rise above the curve.
    """
    if not 0 <= price < math.inf:  # finite and >= 0 (nan fails every comparison)
        raise ValueError(f"price must be a finite number >= 0, got {price!r}")
    return math.floor(price * NUM)


def cost(qty: int, pq: int) -> int:
    """Numeraire base units to pay for ``qty`` collateral base units at ``pq``: rounded up."""
    return -(-qty * pq // COL)


def qty_for(cost_units: int, pq: int) -> int:
    """Collateral base units that ``cost_units`` buys at ``pq``: rounded down."""
    if pq <= 0:
        raise ValueError("price must be > 0 to convert an amount into a quantity")
    return cost_units * COL // pq


def num_f(units: int) -> float:
    """Numeraire base units -> float numeraire, for reports."""
    return units / NUM


def col_f(units: int) -> float:
    """Collateral base units -> float tokens, for reports."""
    return units / COL


def ms(t: float) -> int:
    """Seconds of scenario time -> the wire's integer milliseconds (never negative)."""
    r = round(t * 1000)
    return r if r > 0 else 0

