"""What the seeded fuzzers share: the report they fill, the boundary values, the corpus and its mutations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from auction import units
from broker import messages as m

DECODE_CODES = ("malformed", "wrong-version", "oversized")
KEEPERS = ("ali", "bob", "cat")

# Values a field may be set to by an attacker or a bug: boundaries of int64, float extremes, wrong types.
BOUNDARY: list[Any] = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30,
                       1e308, -1e308, 0.5, -0.0, 1e-300, None, True, False, "", "x" * 600, "0", [], {}, [1, 2],
                       {"type": "take"}]
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "01", "1.", ".5", "+1", "0x10"]
# Values within the schema (amounts fit int64, ratios finite in [0, 1e6]): what decodes, for the keeper stream.
VALID_INTS = [0, 1, 2, 10**9, 2**53 + 1, 2**62, 2**63 - 1]
VALID_FLOATS = [0.0, 1e-300, 1e-9, 0.5, 1.0, 1.05, 999_999.0, 1e6]
# Amounts for the house stream: zero, one unit, whole tokens / dollars, and the top of int64.
HOUSE_AMOUNTS = [0, 1, units.col(1), units.col(10), units.num(1), units.num(1_000), units.num(10**6), 2**53 + 1,
                 2**62, 2**63 - 1, units.price_q(60.0), units.price_q(80.0), units.price_q(95.0), units.col(100)]


@dataclass(slots=True)
class FuzzReport:
    """Tries, acceptances (where accepting is a failure) and crashes per stream."""

    tried: dict[str, int] = field(default_factory=dict)
    # Wrongly accepted, for the streams that can judge it: decoders (a payload a strict second parser reads
    # differently, or not at all) and admission (a mutated action taken). Keeper and house streams feed inputs
    # that are valid on purpose: they are judged by crashes and the ledger's invariants.
    accepted: dict[str, int] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)  # mutations that are still a valid message (fine)
    crashes: list[str] = field(default_factory=list)  # "stream: what: exception", first few kept
    crash_count: int = 0
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.tried.values())

    @property
    def ok(self) -> bool:
        return self.crash_count == 0 and not any(self.accepted.values())

    def crash(self, stream: str, what: str, exc: BaseException | str) -> None:
        self.crash_count += 1
        if len(self.crashes) < 20:
            text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
            self.crashes.append(f"{stream}: {what[:160]}: {text[:300]}")

    def describe(self) -> str:
        return (f"fuzz: tried={self.tried} accepted={self.accepted} valid={self.valid} crashes={self.crash_count} "
                f"{self.crashes[:5]} figures={self.figures}")


# --- corpus and mutations ---------------------------------------------------------------------------------


def corpus() -> list[m.Message]:
    """One valid, signed example of every message (the ones PROTOCOL.md shows)."""
    from auction.net.protocol_doc import examples

    return [msg for _, msg in examples()]


def mutate_bytes(rng: np.random.Generator, payload: bytes) -> bytes:
    raw = bytearray(payload)
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(0, 5))
        i = int(rng.integers(0, max(1, len(raw))))
        if op == 0 and raw:
            raw[i] = int(rng.integers(0, 256))
        elif op == 1:
            raw[i:i] = rng.bytes(int(rng.integers(1, 9)))
        elif op == 2 and raw:
            del raw[i]
        elif op == 3:
            del raw[i:]
        else:  # duplicate a slice: repeated keys, nested garbage
            j = int(rng.integers(i, len(raw) + 1))
            raw[j:j] = raw[i:j]
    return bytes(raw)


def mutate_field(rng: np.random.Generator, msg: m.Message, values: list[Any] | None = None) -> bytes:
    """One field (maybe nested, maybe a new one) set to a boundary value; sometimes a raw non-JSON number."""
    obj = msgspec.to_builtins(msg)
    target = obj
    if isinstance(obj.get("terms"), dict) and rng.random() < 0.4:
        target = obj["terms"]
    keys = [*target.keys(), "extra"]
    key = keys[int(rng.integers(0, len(keys)))]
    if values is None and rng.random() < 0.2:
        target[key] = "@@RAW@@"
        raw = RAW_NUMBERS[int(rng.integers(0, len(RAW_NUMBERS)))]
        return json.dumps(obj).replace('"@@RAW@@"', raw).encode()
    pool = BOUNDARY if values is None else values
    target[key] = pool[int(rng.integers(0, len(pool)))]
    return json.dumps(obj, allow_nan=False).encode()
