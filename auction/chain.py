"""Gas: the going gas price over time and what an action costs in numeraire.

Gas per action (mainnet orders of magnitude, used for fees and for the block gas limit): a Clipper
``take`` ~180k gas and a ``redo`` ~120k (makerdao/dss clip.sol, typical keeper receipts); a Flipper ``tend``
/``dent`` ~90k; Aave v3 ``liquidationCall`` ~300k; a sealed commit ~60k and reveal ~80k (two storage
writes plus a hash). They live in ``auction.house.GAS``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from auction import units
from auction.errors import ConfigError
from auction.prices import PricePath

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class GasModel:
    """A step function of gwei over time."""

    times: F64
    gwei_values: F64
    _times: list[float] = field(init=False, repr=False, compare=False)  # lists: bisect beats a numpy call
    _values: list[float] = field(init=False, repr=False, compare=False)

    @classmethod
    def fixed(cls, gwei: float) -> GasModel:
        return cls(np.zeros(1), np.array([float(gwei)]))

    @classmethod
    def from_path(cls, path: PricePath) -> GasModel:
        """The data's own gas column (the 10-minute files carry real Ethereum gas prices)."""
        if path.gas_gwei is None:
            raise ConfigError("gas source 'data' needs a price file with a gas column (e.g. gas_avg_gwei)")
        return cls(path.times, path.gas_gwei)

    @classmethod
    def synthetic(cls, path: PricePath, *, base_gwei: float, spike: float) -> GasModel:
        """``base * (1 + spike * drawdown)``: congestion rises as the main asset falls from its running peak."""
        prices = next(iter(path.prices.values()))
        drawdown = 1.0 - prices / np.maximum.accumulate(prices)
        return cls(path.times, base_gwei * (1.0 + spike * drawdown))

    def gwei(self, t: float) -> float:
        i = max(bisect.bisect_right(self._times, t) - 1, 0)
        return self._values[i]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", self.times.tolist())
        object.__setattr__(self, "_values", [float(x) for x in self.gwei_values])


def fee_num(gas_units: int, gwei: float, eth_price: float) -> int:
    """Numeraire base units for ``gas_units`` at ``gwei`` (1 gwei = 1e-9 ETH) when ETH is at ``eth_price``."""
    return units.num(gas_units * gwei * 1e-9 * eth_price)
