"""The chain: gas prices over time, what an action costs, blocks, and which transactions a block includes.

- ``GasModel``: gwei as a step function of time, from the data's gas column, a synthetic congestion model
  or a fixed price. ``fee_num`` turns gas units at a gwei price into numeraire base units.
- ``BlockSchedule``: blocks at multiples of ``block_time`` (12 s, post-merge Ethereum slots).
- ``include``: one block's inclusion rule: highest priority fee first, then arrival, within the gas limit;
  the rest wait for a later block. This is what gives fixed-penalty liquidation its gas wars.

Gas per action (each design lists the ones it takes, ``auction.designs``; the house charges them). Rough
orders of magnitude, estimated from the storage writes and external calls of each call at EIP-2929 /
EIP-2200 prices (21k per transaction, ~20k per fresh storage slot, ~5k per update, ~2.6k per cold
account): NOT measured from mainnet receipts, so a scenario that cares should calibrate them.
- Clipper ``take`` ~180k (dss clip.sol: sale update, vat.flux/vat.move, dog.digs; no callee swap) and
  ``redo`` ~120k (new top from the spotter/OSM, incentive vat.suck); ``kick`` ~350k (dss dog.sol bark:
  vat.grab, vow.fess, then clip.kick writing a new sale and the active list);
- Flipper ``tend``/``dent`` ~90k (dss flip.sol: bid, lot, guy, tic and a vat.move) and ``deal`` ~70k;
- Aave v3 ``liquidationCall`` ~300k (aave-v3-core LiquidationLogic.sol: reserve cache and state update,
  debt token burn, collateral transfer, price-oracle reads for two assets);
- sealed-bid ``commit`` ~60k (one fresh slot for the digest) and ``reveal`` ~80k (hash check, bid storage).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from auction import units
from auction.errors import ConfigError
from auction.models.prices import PricePath

F64 = NDArray[np.float64]

GAS_TAKE = 180_000  # Clipper take (Liquidations 2.0)
GAS_REDO = 120_000  # Clipper redo
GAS_KICK = 350_000  # Dog bark + Clipper kick
GAS_TEND = 90_000  # Flipper tend (and dent: the same writes)
GAS_DENT = 90_000
GAS_DEAL = 70_000  # Flipper deal
GAS_LIQUIDATION_CALL = 300_000  # Aave v3 liquidationCall
GAS_COMMIT = 60_000  # sealed-bid commit
GAS_REVEAL = 80_000  # sealed-bid reveal
DEFAULT_GAS = 100_000  # an action a design does not list (it is refused, but still pays gas, as a revert does)

_GAS_STREAM = 0x6A5  # spawn key: the gas noise never reuses the price path's random stream of the same seed


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
        """The data's own gas column (the 10-minute files carry real Ethereum gas prices).

        Which column (average, p60, p90) is chosen when the file is read: ``load_csv(..., gas_column=...)``.
        """
        if path.gas_gwei is None:
            raise ConfigError("gas source 'data' needs a price file with a gas column (e.g. gas_avg_gwei)")
        return cls(path.times, path.gas_gwei)

    @classmethod
    def synthetic(cls, path: PricePath, *, base_gwei: float, spike: float, returns: float = 0.0,
                  noise: float = 0.0, seed: int = 0) -> GasModel:
        """Congestion that grows with market stress, at the path's samples:

        ``base * (1 + spike * drawdown + returns * |r|) * exp(noise * Z - noise^2 / 2)``, with the drawdown
        of the main (first) asset from its running peak, |r| the absolute log return of the sample, and Z
        standard normal from ``seed`` (a mean-one log-normal wobble; none when ``noise`` is 0). On Black
        Thursday average gas rose ~6x while ETH fell 45 % from its peak: ``spike`` = 11 gives that from the
        drawdown alone.
        """
        if not (base_gwei > 0 and spike >= 0 and returns >= 0 and noise >= 0):
            raise ConfigError("synthetic gas: need base_gwei > 0 and spike, returns, noise >= 0")
        prices = next(iter(path.prices.values()))
        drawdown = 1.0 - prices / np.maximum.accumulate(prices)
        abs_ret = np.abs(np.diff(np.log(prices), prepend=math.log(prices[0])))
        gwei = base_gwei * (1.0 + spike * drawdown + returns * abs_ret)
        if noise > 0:
            z = np.random.default_rng([seed, _GAS_STREAM]).standard_normal(len(prices))
            gwei = gwei * np.exp(noise * z - noise**2 / 2)
        return cls(path.times, gwei)

    def gwei(self, t: float) -> float:
        i = max(bisect.bisect_right(self._times, t) - 1, 0)
        return self._values[i]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", self.times.tolist())
        object.__setattr__(self, "_values", [float(x) for x in self.gwei_values])


def fee_num(gas_units: int, gwei: float, eth_price: float) -> int:
    """Numeraire base units for ``gas_units`` at ``gwei`` (1 gwei = 1e-9 ETH) when ETH is at ``eth_price``."""
    if gas_units < 0 or gwei < 0 or eth_price < 0:
        raise ValueError(f"fee of negative gas, gwei or price: {gas_units}, {gwei}, {eth_price}")
    return units.num(gas_units * gwei * 1e-9 * eth_price)


@dataclass(slots=True)  # not frozen: one per keeper action, and a frozen dataclass sets each field the slow way
class Tx:
    """A transaction waiting for a block: its priority fee (gwei), arrival order, gas, and what it carries."""

    priority_fee: float
    arrival_seq: int
    gas: int
    ref: object = None


def include(txs: Iterable[Tx], gas_limit: int, *, min_priority_fee: float = -math.inf) -> tuple[list[Tx], list[Tx]]:
    """One block: (included in execution order, waiting) under ``gas_limit``.

    Order: priority fee descending, then arrival. Greedy packing: a transaction that no longer fits waits
    and a later, smaller one may still fill the block (as block builders do). Transactions bidding under
    ``min_priority_fee`` wait whatever the room. A transaction larger than the whole limit waits forever.
    """
    included: list[Tx] = []
    waiting: list[Tx] = []
    room = gas_limit
    for tx in sorted(txs, key=lambda x: (-x.priority_fee, x.arrival_seq)):
        if tx.gas <= 0:
            raise ValueError(f"transaction with gas {tx.gas}: gas must be > 0")
        if tx.priority_fee < min_priority_fee or tx.gas > room:
            waiting.append(tx)
            continue
        room -= tx.gas
        included.append(tx)
    return included, waiting


class Mempool:
    """Transactions waiting for a block, kept in inclusion order (priority fee descending, then arrival) in a
    heap: a block costs O(looked at * log n), not a sort of everything waiting. ``take`` includes exactly what
    ``include`` would, in the same order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Tx]] = []
        self._gas: dict[int, int] = {}  # transactions waiting per gas size: a block stops looking when none fits

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, tx: Tx) -> None:
        if tx.gas <= 0:
            raise ValueError(f"transaction with gas {tx.gas}: gas must be > 0")
        heapq.heappush(self._heap, (-tx.priority_fee, tx.arrival_seq, tx))
        self._gas[tx.gas] = self._gas.get(tx.gas, 0) + 1

    def take(self, gas_limit: int) -> list[Tx]:
        """The transactions one block includes, in execution order, removed from the pool."""
        heap, sizes = self._heap, self._gas
        included: list[Tx] = []
        passed: list[tuple[float, int, Tx]] = []
        room = gas_limit
        while heap and room >= min(sizes):  # once nothing waiting fits, the rest of the order is moot
            entry = heapq.heappop(heap)
            tx = entry[2]
            left = sizes[tx.gas] - 1
            if left:
                sizes[tx.gas] = left
            else:
                del sizes[tx.gas]
            if tx.gas > room:
                passed.append(entry)
                continue
            room -= tx.gas
            included.append(tx)
        for entry in passed:
            heapq.heappush(heap, entry)
            sizes[entry[2].gas] = sizes.get(entry[2].gas, 0) + 1
        return included

    def drain(self) -> list[Tx]:
        """Everything still waiting, in arrival order, removed from the pool (no block will include it)."""
        waiting = sorted((entry[2] for entry in self._heap), key=lambda tx: tx.arrival_seq)
        self._heap, self._gas = [], {}
        return waiting
