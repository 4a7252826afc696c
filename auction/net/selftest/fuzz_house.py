"""Seeded fuzzing of the house: mutated actions at admission (none may get in), and validly signed actions
with boundary numbers through the rules of every design (the ledger checked after every block)."""

from __future__ import annotations

import json

import msgspec
import numpy as np

from auction import designs, units
from auction.net.funding import Funding
from auction.net.house_core import HouseCore
from auction.net.runspec import RunSpec
from auction.net.selftest.fuzz_inputs import HOUSE_AMOUNTS, KEEPERS, FuzzReport, mutate_bytes, mutate_field
from auction.sealed import commitment
from broker import messages as m
from broker.signing import KeyPair

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
    for _ in range(n):
        i = int(rng.integers(0, len(originals)))
        variant = hostile_variant(rng, originals[i], payloads[i], keys)
        if variant is None:
            continue
        bad, sender = variant
        tried += 1
        taken += _refused(core, bad, sender, 1.0, "admission", report)
    report.tried["admission"] = tried
    report.accepted["admission"] = taken


def hostile_variant(rng: np.random.Generator, original: m.Action, payload: bytes,
                    keys: dict[str, KeyPair]) -> tuple[bytes, str] | None:
    """An admitted action made hostile, with the topic it comes on; None when the draw is a legitimate action.

    Mutated bytes or fields, every field kept but signed by another key, sent on another keeper's topic, or a
    signed field changed under the old signature: the house has taken ``original`` already, so none may get in.
    """
    others = list(KEEPERS)
    sender = original.keeper
    style = int(rng.integers(0, 5))
    if style == 0:
        return mutate_bytes(rng, payload), sender
    if style == 1:
        return mutate_field(rng, original), sender
    if style == 2:  # every field kept, signed by another keeper's key (or a fresh one)
        other = keys[others[int(rng.integers(0, len(others)))]]
        signer = other if rng.random() < 0.7 else KeyPair.from_seed(rng.bytes(32))
        changes = {"nonce": original.nonce + int(rng.integers(1, 10**6))} if rng.random() < 0.5 else {}
        bad = m.encode(signer.sign(msgspec.structs.replace(original, **changes)))
        return None if signer is keys[sender] else (bad, sender)  # its own key on a fresh nonce: a new action
    if style == 3:  # the original on another keeper's topic
        sender = others[int(rng.integers(0, len(others)))]
        return None if sender == original.keeper else (payload, sender)
    obj = msgspec.to_builtins(original)  # a new value in a signed field, the old signature kept
    fields = [k for k in obj if k not in ("type", "sig")]
    key = fields[int(rng.integers(0, len(fields)))]
    obj[key] = HOUSE_AMOUNTS[int(rng.integers(0, len(HOUSE_AMOUNTS)))] if isinstance(obj[key], int) \
        else obj[key] + "0"
    return json.dumps(obj).encode(), sender


def _refused(core: HouseCore, bad: bytes, sender: str, now: float, stream: str, report: FuzzReport) -> int:
    """1 if ``core`` wrongly took a hostile action in (a crash is counted too), else 0."""
    try:
        entry, refused = core.admit(bad, sender, now)
    except Exception as exc:
        report.crash(stream, repr(bad), exc)
        return 0
    if entry is not None:
        report.crash(stream, repr(bad), "a mutated action was ACCEPTED")
        return 1
    if refused and not all(isinstance(r, m.Rejection) and r.code for r in refused):
        report.crash(stream, repr(bad), "refused without a reason code")
    return 0


# --- the house: rules on boundary numbers -------------------------------------------------------------------


def fuzz_house(rng: np.random.Generator, n_blocks: int, report: FuzzReport) -> None:
    """Validly signed actions with boundary numbers into a house of each design; invariants after each block.

    Each house first runs an hour without actions, so that auctions are open when the actions start.
    """
    tried = filled = 0
    vault_designs = designs.names("vault")  # the fuzz world holds vault accounts (perp designs need positions)
    for design in vault_designs:
        house = _Driver(design)
        house.run_until(3600.0)
        for _ in range(max(1, n_blocks // len(vault_designs))):
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

    def __init__(self, design: str, core: HouseCore | None = None) -> None:
        self.core = synthetic_core(design) if core is None else core
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
                     commits: dict[tuple[int, str], tuple[int, int, bytes]],
                     amounts: list[int] | None = None) -> m.Action:
    ids = [*core.house.open, 0, 1, 2**63 - 1] if core.house.open else [0, 1, 2, 2**63 - 1]
    auction = int(ids[int(rng.integers(0, len(ids)))])

    pool = HOUSE_AMOUNTS if amounts is None else amounts

    def amount() -> int:
        return int(pool[int(rng.integers(0, len(pool)))])

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
