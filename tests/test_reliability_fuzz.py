"""Bad input, fuzzed: the house's admission, its rules on boundary numbers, and a keeper's receive path.

tests/test_broker_messages.py already fuzzes the decoder itself (random bytes, mutated bytes and fields,
non-JSON numbers) and tests/test_invariants.py the pure auction house with everyday numbers. Here, with
hypothesis: signed actions mutated or re-signed never get past ``HouseCore.admit``; validly signed actions
carrying 0, 1 or 2**63 - 1 as amounts, prices or auction ids keep every ledger invariant after every block of
every design; house messages at the edges of their schema never raise in a keeper. Plus the seeded fuzzing
``liqnet selftest`` runs, at its CI size.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auction.designs.dutch import DutchTerms
from auction.errors import Rejected
from auction.net.keeper_command import make_agent
from auction.net.keeper_proc import HouseClock, KeeperOptions, KeeperProcess
from auction.net.selftest.fuzz import (
    HOUSE_AMOUNTS,
    KEEPERS,
    FuzzReport,
    _Driver,
    _Market,
    _NullBus,
    corpus,
    mutate_bytes,
    run_fuzz,
)
from auction.sealed import commitment
from broker import messages as m
from broker.signing import KeyPair

pytestmark = pytest.mark.faults

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACTIONS = [msg for msg in corpus() if isinstance(msg, m.ACTIONS)]


def test_the_selftest_fuzzing_finds_nothing_at_ci_size() -> None:
    report = run_fuzz(seed=0, scale=1)
    assert report.crash_count == 0, report.describe()
    assert report.accepted == {"decoders": 0, "admission": 0, "perp": 0}  # the judging streams ran, took nothing
    assert report.total >= 10_000 and report.tried["house"] >= 500 and report.figures["house_fills"] > 0


# --- admission ---------------------------------------------------------------------------------------------

_admission: dict[str, Any] = {}


def _admission_core() -> tuple[Any, dict[str, KeyPair], list[m.Action]]:
    """One house with the keepers registered and one of every action accepted (built once: admit is cheap)."""
    if not _admission:
        house = _Driver("dutch")
        originals = []
        for who in KEEPERS:
            for template in ACTIONS:
                if isinstance(template, m.Register):
                    continue
                action = msgspec.structs.replace(template, keeper=who, nonce=house.next_nonce(who), sig="")
                if isinstance(action, m.Commit):
                    salt = bytes(range(16))
                    action = msgspec.structs.replace(action, digest=commitment(action.auction, who, 1, 1, salt).hex())
                payload = house.sign(action)
                entry, refused = house.core.admit(payload, who, 0.0)
                assert entry is not None, refused
                originals.append(m.decode(payload))
        _admission.update(core=house.core, keys=house.keys, originals=originals)
    return _admission["core"], _admission["keys"], _admission["originals"]


@FUZZ
@given(st.data())
def test_no_mutated_or_resigned_action_is_ever_accepted(data: st.DataObject) -> None:
    core, keys, originals = _admission_core()
    original = data.draw(st.sampled_from(originals))
    how = data.draw(st.sampled_from(["bytes", "field", "other-key", "other-topic", "stale-nonce"]))
    sender = original.keeper
    if how == "bytes":
        payload = mutate_bytes(np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), m.encode(original))
    elif how == "field":
        obj = msgspec.to_builtins(original)
        key = data.draw(st.sampled_from(sorted(k for k in obj if k != "type")))
        obj[key] = data.draw(st.one_of(st.sampled_from(HOUSE_AMOUNTS), st.integers(), st.text(max_size=70),
                                       st.none(), st.floats(allow_nan=False)))
        assume(obj != msgspec.to_builtins(original))
        payload = msgspec.json.encode(obj)
    elif how == "other-key":
        signer = keys[data.draw(st.sampled_from([k for k in KEEPERS if k != original.keeper]))]
        bump = data.draw(st.integers(0, 10**6))
        payload = m.encode(signer.sign(msgspec.structs.replace(original, nonce=original.nonce + bump)))
    elif how == "other-topic":
        payload = m.encode(original)
        sender = data.draw(st.sampled_from([k for k in KEEPERS if k != original.keeper]))
    else:  # properly signed by its own key, but with a nonce already spent: a replay
        spent = data.draw(st.integers(0, original.nonce))
        changed = msgspec.structs.replace(original, nonce=spent, **_tweak(original))
        payload = m.encode(keys[original.keeper].sign(changed))
    entry, refused = core.admit(payload, sender, 1.0)
    assert entry is None, f"accepted: {payload!r}"
    for msg in refused:  # every refusal carries a reason code, to the keeper of the topic
        assert isinstance(msg, m.Rejection) and msg.code and msg.keeper == sender


def _tweak(action: m.Action) -> dict[str, Any]:
    """A change that makes it a different action than the one accepted with that nonce."""
    return {"deadline_ms": getattr(action, "deadline_ms", 0) + 1} if hasattr(action, "deadline_ms") else \
        {"digest": "ab" * 32} if isinstance(action, m.Commit) else {"salt": "cd" * 16} if isinstance(action, m.Reveal) \
        else {"pubkey": "ef" * 32}


# --- the rules, on boundary numbers ------------------------------------------------------------------------

AMOUNT = st.sampled_from(HOUSE_AMOUNTS)
ACTION = st.tuples(st.sampled_from(KEEPERS), st.sampled_from(["a", "b", "c"]), st.sampled_from([0, 1, 2, 3, 2**63 - 1]),
                   AMOUNT, AMOUNT, st.sampled_from([0, 10**12, 2**63 - 1]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["dutch", "sealed-first", "sealed-second", "english", "fixed"]),
       st.lists(st.lists(ACTION, max_size=4), min_size=1, max_size=30))
def test_boundary_numbers_keep_every_invariant_after_every_block(design: str, blocks: list[list[Any]]) -> None:
    house = _Driver(design)
    house.run_until(3600.0)  # auctions are open by now
    commits: dict[tuple[int, str], tuple[int, int, bytes]] = {}
    for actions in blocks:
        if house.core.at_end:
            break
        t = house.core.next_time()
        batch = []
        for who, kind, auction, x, y, deadline in actions:
            action = _action(design, kind, who, house.next_nonce(who), auction, x, y, deadline, commits)
            entry, refused = house.core.admit(house.sign(action), who, t)
            assert entry is not None or refused  # signed and fresh: taken in, or refused with a reason
            if entry is not None:
                batch.append(entry)
        house.core.apply(batch + house.core.due(t))  # raising here would kill the house process
        house.core.ledger.check()  # exact conservation, nothing negative, books agree with lots
    house.core.finish()
    house.core.ledger.check()
    for book in house.core.ledger.books.values():
        assert book.closed and book.debt == book.repaid + book.bad_debt
        assert book.seized == book.sold + book.returned + book.unsold


def _action(design: str, kind: str, who: str, nonce: int, auction: int, x: int, y: int, deadline: int,
            commits: dict[tuple[int, str], tuple[int, int, bytes]]) -> m.Action:
    if design == "dutch":
        if kind == "a":
            return m.Redo(auction=auction, keeper=who, nonce=nonce, deadline_ms=deadline)
        return m.Take(auction=auction, keeper=who, amount=x, max_price_q=y, nonce=nonce, deadline_ms=deadline)
    if design == "english":
        return m.EnglishBid(auction=auction, keeper=who, lot=x, bid=y, nonce=nonce, deadline_ms=deadline)
    if design == "fixed":
        return m.Liquidate(auction=auction, keeper=who, repay=x, nonce=nonce, deadline_ms=deadline)
    if kind == "c" and (auction, who) in commits:
        price_q, qty, salt = commits[(auction, who)]
        return m.Reveal(auction=auction, keeper=who, price_q=price_q, qty=qty, salt=salt.hex(), nonce=nonce)
    salt = nonce.to_bytes(16, "big")
    commits[(auction, who)] = (x, y, salt)
    return m.Commit(auction=auction, keeper=who, digest=commitment(auction, who, x, y, salt).hex(), deposit=x,
                    nonce=nonce)


# --- a keeper receiving what decodes -------------------------------------------------------------------------

HOUSE_MESSAGES = [msg for msg in corpus() if isinstance(msg, m.Announce | m.State | m.Result | m.OraclePrice | m.Block
                                                           | m.Rejection | m.HouseStatus | m.KeeperStatus)]
EDGE_INTS = st.sampled_from([0, 1, 2, 2**53 + 1, 2**62, 2**63 - 1])
EDGE_FLOATS = st.one_of(st.sampled_from([0.0, 1e-300, 1.0, 1e6]), st.floats(0.0, 1e6, allow_nan=False))


def _keeper(strategy: str) -> KeeperProcess:
    agent = make_agent("alice", strategy, capital=1_000_000.0, market=_Market())
    return KeeperProcess(agent, KeyPair.from_seed(bytes(32)), KeeperOptions("memory://fuzz", "alice"),
                         house_clock=HouseClock(600.0, clock=lambda: 0.0), bus=_NullBus())  # type: ignore[arg-type]


def _receive(proc: KeeperProcess, msg: m.Message, now: float) -> None:
    asyncio.run(proc.receive(_NullBus(), msg))  # type: ignore[arg-type]
    proc.deliver(msg, now)


@FUZZ
@given(st.sampled_from(HOUSE_MESSAGES), st.data(), st.sampled_from(["universal", "dutch-threshold", "sealed-shading",
                                                                      "english-proxy", "fixed-liquidator"]))
def test_a_keeper_takes_any_house_message_that_decodes(base: m.Message, data: st.DataObject, strategy: str) -> None:
    obj = msgspec.to_builtins(base)
    target = obj["terms"] if "terms" in obj and data.draw(st.booleans()) else obj
    key = data.draw(st.sampled_from(sorted(k for k in target if k not in ("type", "v"))))
    value = target[key]
    if isinstance(value, float):
        target[key] = data.draw(EDGE_FLOATS)
    elif isinstance(value, int) and not isinstance(value, bool):
        target[key] = data.draw(EDGE_INTS)
    elif key == "curve":
        target[key] = data.draw(st.sampled_from(["linear", "stairstep", "exponential"]))
    try:
        msg = m.decode(msgspec.json.encode(obj))
    except Rejected:
        return
    proc = _keeper(strategy)
    now = data.draw(st.sampled_from([0.0, 700.0, 1e6, 9.2e15]))
    _receive(proc, msg, now)  # must not raise: an exception here ends the keeper process


@pytest.mark.parametrize("change", [{"cut": 2.0}, {"cut": 0.0}, {"step_ms": 0}])
def test_a_keeper_survives_dutch_terms_its_curve_refuses(change: dict[str, Any]) -> None:
    """Found by the fuzzing: the schema lets these through, the curve refuses them (auction/curves.py), and the
    ValueError used to end the keeper process. Now the keeper skips that message and logs it."""
    announce = next(x for x in HOUSE_MESSAGES if isinstance(x, m.Announce) and x.design == "dutch")
    assert isinstance(announce.terms, DutchTerms)
    bad = msgspec.structs.replace(announce, terms=msgspec.structs.replace(announce.terms, **change))
    assert m.decode(m.encode(bad)) == bad  # the schema lets it through
    _receive(_keeper("universal"), bad, 700.0)


def test_fuzz_report_counts_are_honest() -> None:
    report = FuzzReport()
    report.crash("x", "input", ValueError("boom"))
    assert not report.ok and report.crash_count == 1 and "ValueError: boom" in report.crashes[0]
