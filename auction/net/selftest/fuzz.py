"""Seeded fuzzing of every decoder and of the house's admission and action handling.

Deterministic from one seed (a ``numpy.random.Generator``), no test framework needed, so ``liqnet selftest``
runs it from an installed wheel; the pytest suite adds hypothesis-driven fuzzing on top
(tests/test_reliability_fuzz.py). Four streams, each counting what it tried and every crash (an exception
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
  design, a block after each batch: the ledger check (exact conservation, nothing negative, books agree)
  holds after every block and nothing raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from auction import designs, units
from auction.errors import Rejected
from auction.net.funding import Funding
from auction.net.house_core import HouseCore
from auction.net.runspec import RunSpec
from auction.sealed import commitment
from broker import messages as m
from broker import topics
from broker.signing import KeyPair

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


def run_fuzz(seed: int = 0, scale: int = 1) -> FuzzReport:
    """All four streams; ``scale`` multiplies the numbers of inputs (1: about 10,000 in all)."""
    report = FuzzReport()
    rng = np.random.default_rng(seed)
    fuzz_decoders(rng, 4000 * scale, report)
    fuzz_keeper(rng, 1200 * scale, report)
    fuzz_admission(rng, 3000 * scale, report)
    fuzz_house(rng, 400 * scale, report)
    return report


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


# --- the house: admission ---------------------------------------------------------------------------------


def synthetic_core(design: str, seed: int = 3, n: int = 24) -> HouseCore:
    """A small hand-built world (no data files): a two-hour crash from 100 to 55, then a partial recovery."""
    from auction.book.accounts import generate
    from auction.designs import defaults
    from auction.designs.english import EnglishParams
    from auction.designs.sealed import SealedParams
    from auction.params import HouseParams
    from auction.scenario.tables import Scenario
    from auction.scenario.world import World

    hour = 3600.0

    def price(t: float) -> float:
        return 100.0 - 45.0 * min(t, 2 * hour) / (2 * hour) + 8.0 * max(0.0, t - 2 * hour) / hour

    accounts = generate(n, ("ETH",), np.array([100.0]), seed=seed, debt_mean=20_000.0, cr_low=1.55, cr_high=2.2)
    updates = [(float(t), {"ETH": price(t)}) for t in np.arange(0.0, 3 * hour + 1, 300.0)]
    world = World(
        scenario=Scenario(name="fuzz"), design=design, seed=seed, asset="ETH", accounts=accounts,
        designs=defaults(sealed=SealedParams(commit_s=120, reveal_s=120, deposit=10.0, rounds=2),
                         english=EnglishParams(beg=1.05, ttl_s=120, tau_s=1200)),
        house_params=HouseParams(max_kicks_per_block=3, drain_s=hour, insurance_fund=1_000.0),
        oracle_updates=updates, end=3 * hour, market_price=lambda a, t: price(t),
        proceeds=lambda a, qty, t: units.cost(qty, units.price_q(price(t) * 0.99)),
        gas_cost=lambda gas, gwei, t: units.num(gas * gwei * 1e-9 * 2000.0), gas_gwei=lambda t: 20.0,
    )
    funding = Funding({"ali": 50_000.0, "bob": 5_000.0, "cat": 500.0}, tofu=True)
    spec = RunSpec(scenario="fuzz", scenario_sha="0" * 64, design=design, seed=seed, accounts=None, funding=funding)
    return HouseCore(world, spec)


def _keys() -> dict[str, KeyPair]:
    return {k: KeyPair.from_seed(bytes([i + 1]) * 32) for i, k in enumerate(KEEPERS)}


def fuzz_admission(rng: np.random.Generator, n: int, report: FuzzReport) -> None:
    """Mutated signed actions never get past admission once the originals are in."""
    core = synthetic_core("dutch")
    keys = _keys()
    originals: list[m.Action] = []
    nonce = 0
    for who, key in keys.items():
        nonce += 1
        originals.append(key.register(who, nonce))
    salt = bytes(range(16))
    for who, key in keys.items():
        for make in (
            lambda w, nn: m.Take(auction=1, keeper=w, amount=units.col(1), max_price_q=units.price_q(90.0), nonce=nn,
                                 deadline_ms=10**12),
            lambda w, nn: m.Redo(auction=1, keeper=w, nonce=nn, deadline_ms=10**12),
            lambda w, nn: m.EnglishBid(auction=1, keeper=w, lot=units.col(1), bid=units.num(50), nonce=nn,
                                       deadline_ms=10**12),
            lambda w, nn: m.Commit(auction=1, keeper=w, digest=commitment(1, w, 10**8, 10**9, salt).hex(),
                                   deposit=units.num(10), nonce=nn),
            lambda w, nn: m.Reveal(auction=1, keeper=w, price_q=10**8, qty=10**9, salt=salt.hex(), nonce=nn),
            lambda w, nn: m.Liquidate(auction=1, keeper=w, repay=units.num(100), nonce=nn, deadline_ms=10**12),
        ):
            nonce += 1
            originals.append(key.sign(make(who, nonce)))
    payloads = [m.encode(a) for a in originals]
    for a, payload in zip(originals, payloads, strict=True):  # the originals: accepted once
        entry, refused = core.admit(payload, a.keeper, 0.0)
        if entry is None:
            report.crash("admission", repr(payload), f"a valid original was refused: {refused}")
    taken = 0
    tried = 0
    others = list(KEEPERS)
    for _ in range(n):
        i = int(rng.integers(0, len(originals)))
        original, payload = originals[i], payloads[i]
        sender = original.keeper
        style = int(rng.integers(0, 5))
        if style == 0:
            bad = mutate_bytes(rng, payload)
        elif style == 1:
            bad = mutate_field(rng, original)
        elif style == 2:  # every field kept, signed by another keeper's key (or a fresh one)
            other = keys[others[int(rng.integers(0, len(others)))]]
            signer = other if rng.random() < 0.7 else KeyPair.from_seed(rng.bytes(32))
            changes = {"nonce": original.nonce + int(rng.integers(1, 10**6))} if rng.random() < 0.5 else {}
            bad = m.encode(signer.sign(msgspec.structs.replace(original, **changes)))
            if signer is keys[sender]:
                continue  # the keeper itself re-signing a fresh nonce is a legitimate new action
        elif style == 3:  # the original on another keeper's topic
            bad = payload
            sender = others[int(rng.integers(0, len(others)))]
            if sender == original.keeper:
                continue
        else:  # a new value in a signed field, the old signature kept
            obj = msgspec.to_builtins(original)
            fields = [k for k in obj if k not in ("type", "sig")]
            key = fields[int(rng.integers(0, len(fields)))]
            obj[key] = HOUSE_AMOUNTS[int(rng.integers(0, len(HOUSE_AMOUNTS)))] if isinstance(obj[key], int) \
                else obj[key] + "0"
            bad = json.dumps(obj).encode()
        tried += 1
        try:
            entry, refused = core.admit(bad, sender, 1.0)
        except Exception as exc:
            report.crash("admission", repr(bad), exc)
            continue
        if entry is not None:
            taken += 1
            report.crash("admission", repr(bad), "a mutated action was ACCEPTED")
        elif refused and not all(isinstance(r, m.Rejection) and r.code for r in refused):
            report.crash("admission", repr(bad), "refused without a reason code")
    report.tried["admission"] = tried
    report.accepted["admission"] = taken


# --- the house: rules on boundary numbers -------------------------------------------------------------------


def fuzz_house(rng: np.random.Generator, n_blocks: int, report: FuzzReport) -> None:
    """Validly signed actions with boundary numbers into a house of each design; invariants after each block.

    Each house first runs an hour without actions, so that auctions are open when the actions start.
    """
    tried = filled = 0
    for design in designs.names():
        house = _Driver(design)
        house.run_until(3600.0)
        for _ in range(max(1, n_blocks // len(designs.names()))):
            if house.core.at_end:
                break
            t = house.core.next_time()
            batch = []
            for _ in range(int(rng.integers(0, 5))):
                who = KEEPERS[int(rng.integers(0, len(KEEPERS)))]
                action = _boundary_action(rng, design, who, house.next_nonce(who), house.core, house.commits)
                tried += 1
                try:
                    entry, _ = house.core.admit(house.sign(action), who, t)
                except Exception as exc:
                    report.crash("house", repr(action), exc)
                    continue
                if entry is not None:
                    batch.append(entry)
            try:
                out = house.core.apply(batch + house.core.due(t))
                house.core.ledger.check()
            except Exception as exc:  # an exception here would kill the house process
                report.crash("house", f"{design} block at {t}", exc)
                break
            filled += sum(len(msg.fills) for msg in out if isinstance(msg, m.Result))
        try:
            house.core.finish()
            house.core.ledger.check()
            for book in house.core.ledger.books.values():
                if book.debt != book.repaid + book.bad_debt or book.seized != book.sold + book.returned + book.unsold:
                    report.crash("house", f"{design} book", f"identities broken: {book}")
        except Exception as exc:
            report.crash("house", f"{design} finish", exc)
    report.tried["house"] = tried
    report.figures["house_fills"] = filled


class _Driver:
    """One house of a design with the three keepers registered, signing and numbering their actions."""

    def __init__(self, design: str) -> None:
        self.core = synthetic_core(design)
        self.keys = _keys()
        self.nonce = dict.fromkeys(KEEPERS, 0)
        self.commits: dict[tuple[int, str], tuple[int, int, bytes]] = {}
        entries = [self.core.admit(self.sign(self.keys[k].register(k, self.next_nonce(k))), k, 0.0)[0]
                   for k in KEEPERS]
        self.core.apply([e for e in entries if e is not None])

    def sign(self, action: m.Action) -> bytes:
        return m.encode(self.keys[action.keeper].sign(action))

    def next_nonce(self, who: str) -> int:
        self.nonce[who] += 1
        return self.nonce[who]

    def run_until(self, t: float) -> None:
        due = self.core.due(t)
        if due:
            self.core.apply(due)


def _boundary_action(rng: np.random.Generator, design: str, who: str, nonce: int, core: HouseCore,
                     commits: dict[tuple[int, str], tuple[int, int, bytes]]) -> m.Action:
    ids = [*core.house.open, 0, 1, 2**63 - 1] if core.house.open else [0, 1, 2, 2**63 - 1]
    auction = int(ids[int(rng.integers(0, len(ids)))])

    def amount() -> int:
        return int(HOUSE_AMOUNTS[int(rng.integers(0, len(HOUSE_AMOUNTS)))])

    deadline = int(rng.choice([0, 1, 10**12, 2**63 - 1]))
    # the actions this design takes (its gas table names them); a design with none is sent takes it must refuse
    takes = sorted(designs.get(design).gas) or ["take"]
    tag = takes[int(rng.integers(0, len(takes)))]
    if tag == "redo":
        return m.Redo(auction=auction, keeper=who, nonce=nonce, deadline_ms=deadline)
    if tag == "take":
        return m.Take(auction=auction, keeper=who, amount=amount(), max_price_q=amount(), nonce=nonce,
                      deadline_ms=deadline, priority_fee=amount() % 10**9)
    if tag == "english-bid":
        return m.EnglishBid(auction=auction, keeper=who, lot=amount(), bid=amount(), nonce=nonce, deadline_ms=deadline)
    if tag == "liquidate":
        return m.Liquidate(auction=auction, keeper=who, repay=amount(), priority_fee=amount() % 10**9, nonce=nonce,
                           deadline_ms=deadline)
    key = (auction, who)
    if tag == "reveal" and key in commits:  # reveal what was committed (or, one time in three, something else)
        price_q, qty, salt = commits[key]
        if rng.random() < 0.33:
            price_q = amount()
        return m.Reveal(auction=auction, keeper=who, price_q=price_q, qty=qty, salt=salt.hex(), nonce=nonce)
    price_q, qty, salt = amount(), amount(), rng.bytes(16)
    commits[key] = (price_q, qty, salt)
    digest = commitment(auction, who, price_q, qty, salt).hex()
    return m.Commit(auction=auction, keeper=who, digest=digest, deposit=amount(), nonce=nonce)
