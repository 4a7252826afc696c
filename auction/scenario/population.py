"""The keeper population a scenario names: one ``Member`` per keeper, with stable ids.

Keeper ids are ``k<index>-<strategy slug>`` (``k00-universal``, ``k01-...``): unique, stable, valid as a wire
keeper id and an MQTT topic level. The simulator and the network house name the same population the same
way, so a network run funds each keeper process with the capital its id has in the simulator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auction.errors import ConfigError
from auction.scenario.tables import KeeperSpec

DEFAULT_KEEPERS = 4  # universal keepers when a scenario names none (``liqnet ... --keepers N`` overrides)


@dataclass(frozen=True, slots=True)
class Member:
    """One keeper to create (a scenario's ``[[keepers]]`` entry has the same fields, plus ``count``)."""

    strategy: str = "universal"
    capital: float = 1_000_000.0  # USD
    latency_s: float = 1.0
    gas_policy: str = "market"  # or "fixed:GWEI"
    config: Any = None


def members(specs: Sequence[KeeperSpec]) -> list[Member]:
    """Expand ``count`` of each [[keepers]] spec into members."""
    if not specs:
        return [Member() for _ in range(DEFAULT_KEEPERS)]
    out: list[Member] = []
    for spec in specs:
        one = Member(spec.strategy, float(spec.capital), float(spec.latency_s), str(spec.gas_policy),
                     dict(spec.config or {}))
        out += [one] * spec.count
    return out


def keeper_ids(population: Sequence[Member]) -> list[str]:
    """``k<index>-<strategy slug>``: unique, stable, valid as a wire keeper id and an MQTT topic level."""
    width = max(2, len(str(len(population) - 1)))
    return [f"k{i:0{width}d}-{slug(m.strategy)}" for i, m in enumerate(population)]


def gas_cap(policy: str) -> float:
    """``market`` -> no cap; ``fixed:GWEI`` -> GWEI."""
    if policy == "market":
        return float("inf")
    head, _, value = policy.partition(":")
    try:
        if head == "fixed":
            return float(value)
    except ValueError:
        pass
    raise ConfigError(f"gas policy {policy!r}: use 'market' or 'fixed:GWEI' (e.g. fixed:40)")


def slug(spec: str) -> str:
    """A strategy spec as a short id part: ``my_keeper.py:MyKeeper`` -> ``mykeeper``."""
    name = spec.rpartition(":")[2] if ":" in spec else spec
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower()[:40] or "keeper"
