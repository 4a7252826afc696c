"""Seeded fuzzing of every decoder and of the house's admission and action handling.

Deterministic from one seed (a ``numpy.random.Generator``), no test framework needed, so ``liqnet selftest``
runs it from an installed wheel; the pytest suite adds hypothesis-driven fuzzing on top
(tests/test_reliability_fuzz.py). Five streams, each counting what it tried and every crash (an exception
other than ``Rejected`` escaping the code under test, or a broken invariant):

- ``decoders``: random bytes, byte-level mutations of one valid example of every message, and field-level
  mutations with boundary numbers and wrong types (0, -1, 2**63, 2**64, 1e308, NaN/Infinity literals, strings,
  nulls, nested values) through ``broker.messages.decode``: it returns a message that re-encodes to itself and
  that a strict second parser (Python's ``json``: no NaN, for actions no key twice) reads field for field the
  same, or raises ``Rejected`` with malformed / wrong-version / oversized;
- ``keeper``: house messages that still decode after mutation (boundary values within the schema: 0, 2**63-1,
  0.0, 1e6 ...) through a live keeper's receive path (``KeeperProcess.receive`` then ``deliver``, the agent
  and a built-in strategy);
- ``admission``: signed actions, mutated at random or re-signed with another key or sent on another keeper's
  topic, through ``HouseCore.admit`` after the originals were accepted: none may be accepted;
- ``house``: validly signed actions with boundary amounts, prices and auction ids, into a house of every
  vault design, a block after each batch: the ledger check (exact conservation, nothing negative, books agree)
  holds after every block and nothing raises;
- ``perp``: a house of every perp design on a fall (longs liquidated) and a rise (shorts), validly signed
  actions with boundary numbers and mutated copies of those it took, while positions are on sale
  (``fuzz_perp.py``): nothing mutated gets in, nothing the rules must refuse is acknowledged, and the ledger
  and the position book's checks hold after every block.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import numpy as np

from auction.errors import Rejected
from auction.net.selftest.fuzz_house import _Driver, fuzz_admission, fuzz_house, synthetic_core
from auction.net.selftest.fuzz_inputs import (
    BOUNDARY,
    DECODE_CODES,
    HOUSE_AMOUNTS,
    KEEPERS,
    RAW_NUMBERS,
    VALID_FLOATS,
    VALID_INTS,
    FuzzReport,
    corpus,
    mutate_bytes,
    mutate_field,
)
from auction.net.selftest.fuzz_perp import fuzz_perp
from broker import messages as m
from broker import topics
from broker.signing import KeyPair

__all__ = ["BOUNDARY", "DECODE_CODES", "HOUSE_AMOUNTS", "KEEPERS", "RAW_NUMBERS", "VALID_FLOATS", "VALID_INTS",
           "FuzzReport", "_Driver", "corpus", "fuzz_admission", "fuzz_decoders", "fuzz_house", "fuzz_keeper",
           "fuzz_perp", "mutate_bytes", "mutate_field", "run_fuzz", "strict_disagreement", "synthetic_core"]


def run_fuzz(seed: int = 0, scale: int = 1) -> FuzzReport:
    """All five streams; ``scale`` multiplies the numbers of inputs (1: about 11,000 in all)."""
    report = FuzzReport()
    rng = np.random.default_rng(seed)
    fuzz_decoders(rng, 4000 * scale, report)
    fuzz_keeper(rng, 1200 * scale, report)
    fuzz_admission(rng, 3000 * scale, report)
    fuzz_house(rng, 400 * scale, report)
    fuzz_perp(rng, 400 * scale, report)
    return report


# --- decoders ---------------------------------------------------------------------------------------------


def fuzz_decoders(rng: np.random.Generator, n: int, report: FuzzReport) -> None:
    examples = corpus()
    payloads = [m.encode(msg) for msg in examples]
    tried = valid = 0
    report.accepted.setdefault("decoders", 0)
    for i in range(n):
        kind = i % 3
        if kind == 0:
            payload = rng.bytes(int(rng.integers(0, 600)))
        elif kind == 1:
            payload = mutate_bytes(rng, payloads[int(rng.integers(0, len(payloads)))])
        else:
            payload = mutate_field(rng, examples[int(rng.integers(0, len(examples)))])
        tried += 1
        valid += _decodes(payload, report)
        parsed_topic = _random_topic(rng)  # the same payload as a keeper would check it for its topic
        policy = topics.policy_for(parsed_topic)
        if policy is not None:
            tried += 1
            valid += _decodes(payload, report, policy.messages)
    report.tried["decoders"] = tried
    report.valid["decoders"] = valid


def _decodes(payload: bytes, report: FuzzReport, allowed: tuple[str, ...] | None = None) -> int:
    try:
        msg = m.decode(payload, allowed)
    except Rejected as exc:
        if exc.code not in DECODE_CODES:
            report.crash("decoders", repr(payload), f"unexpected code {exc.code}")
        return 0
    except Exception as exc:  # a decoder bug would kill the process that reads the topic
        report.crash("decoders", repr(payload), exc)
        return 0
    try:
        again = m.decode(m.encode(msg))
    except Exception as exc:
        report.crash("decoders", repr(payload), f"accepted but does not re-encode: {exc}")
        return 0
    if again != msg:
        report.crash("decoders", repr(payload), "accepted but changes on re-encoding")
    disagreement = strict_disagreement(payload, msg)
    if disagreement is not None:
        report.accepted["decoders"] = report.accepted.get("decoders", 0) + 1
        report.crash("decoders", repr(payload), f"wrongly accepted: {disagreement}")
    return 1


def strict_disagreement(payload: bytes, msg: m.Message) -> str | None:
    """Why a decoded payload should not have been accepted, judged by a second parser (None: it agrees).

    Python's ``json`` reads the payload strictly (no NaN or Infinity literals, for actions no key twice) and
    every field it sees must hold the value the decoder produced: no coercion, no field read differently.
    """
    action = isinstance(msg, m.ACTIONS)
    twice: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            twice.append(str(keys))
        return dict(items)

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        seen = json.loads(payload, object_pairs_hook=pairs, parse_constant=constant)
    except (ValueError, RecursionError) as exc:
        return f"not strict JSON: {exc}"
    if action and twice:
        return f"an action with a key twice: {twice[0]}"
    return _differs(seen, msgspec.to_builtins(msg))


def _differs(seen: Any, built: Any, where: str = "") -> str | None:
    """Where the strict reading ``seen`` and the decoded message ``built`` disagree (fields ``seen`` has)."""
    if isinstance(seen, dict):
        if not isinstance(built, dict):
            return f"{where or 'message'}: an object read as {type(built).__name__}"
        for key, value in seen.items():
            if key not in built:
                return f"{where}{key}: a field the decoder dropped"
            why = _differs(value, built[key], f"{where}{key}.")
            if why is not None:
                return why
        return None
    if isinstance(seen, list):
        if not isinstance(built, list) or len(seen) != len(built):
            return f"{where}: a list read differently"
        return next((w for w in (_differs(a, b, where) for a, b in zip(seen, built, strict=True)) if w), None)
    if type(seen) is bool or type(built) is bool:
        return None if seen is built else f"{where}: {seen!r} read as {built!r}"
    if isinstance(seen, int | float) and isinstance(built, int | float) and not isinstance(built, bool):
        return None if seen == built else f"{where}: {seen!r} read as {built!r}"
    return None if seen == built else f"{where}: {seen!r} read as {built!r}"


def _random_topic(rng: np.random.Generator) -> str:
    choices = [topics.oracle("ETH"), topics.clock(), topics.announce(1), topics.state(1), topics.result(1),
               topics.actions("alice"), topics.keeper_status("alice"), topics.rejections("alice"),
               topics.house_status()]
    return choices[int(rng.integers(0, len(choices)))]


# --- a keeper receiving what decodes ----------------------------------------------------------------------


class _NullBus:
    client_id = "fuzz"

    async def publish(self, topic: str, payload: bytes, *, retain: bool | None = None) -> None:
        return None


class _Market:
    def price(self, asset: str, t: float) -> float:
        return 100.0

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        return qty * 99.0


def fuzz_keeper(rng: np.random.Generator, n: int, report: FuzzReport) -> None:
    """Valid-but-extreme house messages through a live keeper's receive path; nothing may raise."""
    import asyncio

    from auction.net.keeper_command import make_agent
    from auction.net.keeper_proc import HouseClock, KeeperOptions, KeeperProcess

    house_tags = ("announce", "state", "result", "oracle", "block", "rejection", "house-status", "keeper-status")
    examples = [msg for msg in corpus() if m.tag_of(type(msg)) in house_tags]
    tried = valid = 0

    def make_processes() -> list[KeeperProcess]:
        out = []
        for strategy in ("universal", "dutch-threshold", "sealed-shading", "english-proxy", "fixed-liquidator"):
            agent = make_agent("alice", strategy, capital=1_000_000.0, seed=int(rng.integers(0, 2**31)),
                               market=_Market())
            clock = HouseClock(600.0, clock=lambda: 0.0)
            out.append(KeeperProcess(agent, KeyPair.from_seed(bytes(32)), KeeperOptions("memory://fuzz", "alice"),
                                     house_clock=clock, bus=_NullBus()))  # type: ignore[arg-type]
        return out

    async def run() -> None:
        nonlocal tried, valid
        processes = make_processes()
        bus: Any = _NullBus()
        for i in range(n):
            base = examples[int(rng.integers(0, len(examples)))]
            values = VALID_INTS if rng.random() < 0.6 else VALID_FLOATS
            payload = mutate_field(rng, base, values) if rng.random() < 0.9 else m.encode(base)
            tried += 1
            try:
                msg = m.decode(payload, house_tags)
            except Rejected:
                continue
            valid += 1
            if i % 50 == 0:  # fresh keepers now and then: a settled auction id is ignored for good
                processes = make_processes()
            proc = processes[i % len(processes)]
            now = float(rng.choice([0.0, 1.0, 600.0, 1e6, 9.2e15]))
            try:
                await proc.receive(bus, msg)
                proc.deliver(msg, now)  # what the keeper's scheduler does with it: an exception ends the process
            except Exception as exc:
                report.crash("keeper", payload.decode(errors="replace"), exc)

    asyncio.run(run())
    report.tried["keeper"] = tried
    report.valid["keeper"] = valid


