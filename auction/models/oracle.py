"""Oracle models: the price the protocol sees, computed for a whole price path at once.

- ``InstantOracle``: every sample, immediately (an idealized, manipulation-free feed).
- ``DelayedOracle``: MakerDAO's Oracle Security Module (makerdao/osm ``src/osm.sol``). ``poke`` is allowed
  once per ``hop`` (``pass()``: ``era() >= zzz + hop``, ``zzz = prev(era())`` aligned to hop boundaries) and
  does ``cur = nxt; nxt = feed``; ``peek`` returns ``cur``. Poked at every boundary, the price in force
  during hop k is the feed read at the start of hop k-1: one to two hours old with the default hop of
  one hour. This lag is what let Black Thursday's vaults stay "safe" while ETH fell. Hops start at the
  path's first sample (osm.sol aligns them to unix multiples of ``hop``: the same for the bundled files,
  which start at midnight UTC), and a keeper is assumed to poke at every boundary.
- ``ChainlinkOracle`` (Chainlink Data Feeds: deviation threshold + heartbeat triggers): a new round when
  the feed deviates from the last answer by at least ``deviation`` (fraction) or when ``heartbeat_s`` has
  passed since the last round, checked at each sample.

``updates(times, prices) -> (update_times, update_prices)`` is what the house is fed; ``value_at``
looks up the price in force at any time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from auction.errors import ConfigError

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class InstantOracle:
    def updates(self, times: F64, prices: F64) -> tuple[F64, F64]:
        return np.asarray(times, dtype=np.float64), np.asarray(prices, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class DelayedOracle:
    hop_s: float = 3600.0

    def updates(self, times: F64, prices: F64) -> tuple[F64, F64]:
        times, prices = np.asarray(times, dtype=np.float64), np.asarray(prices, dtype=np.float64)
        pokes = np.arange(0.0, times[-1] + 1e-9, self.hop_s)
        feed = prices[np.maximum(np.searchsorted(times, pokes, side="right") - 1, 0)]  # feed read at each poke
        cur = np.concatenate([feed[:1], feed[:-1]])  # osm.sol poke: cur = nxt (the previous read); bootstrapped
        return pokes, cur


@dataclass(frozen=True, slots=True)
class ChainlinkOracle:
    deviation: float = 0.005
    heartbeat_s: float = 3600.0

    def updates(self, times: F64, prices: F64) -> tuple[F64, F64]:
        out_t, out_p = [float(times[0])], [float(prices[0])]
        for t, p in zip(times[1:].tolist(), prices[1:].tolist(), strict=True):  # rounds depend on the last one
            if abs(p - out_p[-1]) >= self.deviation * out_p[-1] or t - out_t[-1] >= self.heartbeat_s:
                out_t.append(t)
                out_p.append(p)
        return np.array(out_t), np.array(out_p)


Oracle = InstantOracle | DelayedOracle | ChainlinkOracle


_KINDS: dict[str, type[Oracle]] = {"instant": InstantOracle, "delayed": DelayedOracle, "chainlink": ChainlinkOracle}


def make_oracle(kind: str, **params: float) -> Oracle:
    """An oracle model by name; unknown kinds, unknown parameters and bad values are ``ConfigError``."""
    cls = _KINDS.get(kind)
    if cls is None:
        raise ConfigError(f"unknown oracle kind {kind!r}: use instant, delayed or chainlink")
    allowed = [f.name for f in fields(cls)]
    for name, value in params.items():
        if name not in allowed:
            raise ConfigError(f"oracle {kind}: unknown parameter {name!r}; parameters: {', '.join(allowed) or 'none'}")
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"oracle {kind}: {name} must be a number > 0, got {value!r}")
    if kind == "chainlink" and params.get("deviation", 0.0) >= 1:
        raise ConfigError(f"oracle chainlink: deviation is a fraction below 1 (0.005 = 0.5 %), "
                          f"got {params['deviation']}")
    return cls(**params)


def value_at(update_times: F64, update_prices: F64, t: float) -> float:
    """The oracle price in force at ``t`` (the first one before any update)."""
    return float(update_prices[max(int(np.searchsorted(update_times, t, side="right")) - 1, 0)])
