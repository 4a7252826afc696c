"""Ed25519 signing, canonical bytes, and the house's checks: the named attacks are each refused."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.errors import ConfigError, Rejected
from auction.net.protocol_doc import TEST_SEED
from broker import messages as m
from broker.signing import (
    KeyPair,
    Verifier,
    VerifierState,
    canonical_bytes,
    load_keyring,
    load_or_create,
    verify,
)

ALICE = KeyPair.from_seed(TEST_SEED)
BOB = KeyPair.from_seed(bytes(range(1, 33)))
MALLORY = KeyPair.from_seed(bytes(32))


def take(key: KeyPair, keeper: str, nonce: int, **kw: Any) -> m.Take:
    fields: dict[str, Any] = {"amount": 10**9, "max_price_q": 1_700_000_000, "deadline_ms": 10_000} | kw
    return key.sign(m.Take(auction=7, keeper=keeper, nonce=nonce, **fields))


def registered(*pairs: tuple[str, KeyPair]) -> Verifier:
    v = Verifier()
    for keeper, key in pairs:
        assert v.check(key.register(keeper, nonce=1), 0) is True
    return v


def rejected(v: Verifier, action: m.Action, now_ms: int = 0, sender: str | None = None) -> str:
    before = v.snapshot()
    with pytest.raises(Rejected) as info:
        v.check(action, now_ms, sender=sender)
    assert v.snapshot() == before  # a refusal changes nothing
    return info.value.code


def test_canonical_bytes_and_known_signature() -> None:
    # Pinned vector (also in PROTOCOL.md): Ed25519 is deterministic, so any implementation must match.
    msg = ALICE.sign(
        m.Take(
            auction=7,
            keeper="alice",
            amount=40_000_000_000,
            max_price_q=1_700_000_000,
            nonce=2,
            deadline_ms=1_900_000,
            priority_fee=2_000,
        )
    )
    assert canonical_bytes(msg) == (
        b'{"amount":40000000000,"auction":7,"deadline_ms":1900000,"keeper":"alice",'
        b'"max_price_q":1700000000,"nonce":2,"priority_fee":2000,"type":"take","v":1}'
    )
    assert ALICE.pubkey == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    assert msg.sig == (
        "59d50bf686745cfc06fa710ba79cf20e957986489c4f0a9c05096d533a96f140"
        "da0fb5a501dbee91282a96293d84abdc363d3aa3bbddb783dba687b1a3358903"
    )


def test_canonical_bytes_reproducible_with_stdlib_json() -> None:
    # What a keeper in another language does: parse, drop sig, sort keys, no whitespace, verify.
    for action in (take(ALICE, "alice", 5), ALICE.register("alice", 1)):
        obj = json.loads(m.encode(action))
        sig = bytes.fromhex(obj.pop("sig"))
        data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        assert data == canonical_bytes(action)
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(ALICE.pubkey)).verify(sig, data)


def test_canonical_bytes_include_defaults_left_out_on_the_wire() -> None:
    sent = b'{"type":"redo","auction":7,"keeper":"alice","nonce":3,"deadline_ms":9}'
    msg = m.decode(sent)
    assert isinstance(msg, m.Redo)
    assert canonical_bytes(msg) == b'{"auction":7,"deadline_ms":9,"keeper":"alice","nonce":3,"type":"redo","v":1}'


def test_sign_verify_and_wire_round_trip() -> None:
    msg = take(ALICE, "alice", 2)
    assert verify(msg, ALICE.pubkey)
    assert not verify(msg, BOB.pubkey)
    again = m.decode(m.encode(msg))
    assert isinstance(again, m.Take)
    assert verify(again, ALICE.pubkey)
    assert not verify(msgspec.structs.replace(msg, sig=""), ALICE.pubkey)
    assert not verify(msg, "zz")


def test_accepts_then_detects_redelivery() -> None:
    v = registered(("alice", ALICE))
    msg = take(ALICE, "alice", 2)
    assert v.check(msg, 5_000, sender="alice") is True
    again = m.decode(m.encode(msg))
    assert isinstance(again, m.Take)
    assert v.check(again, 5_000, sender="alice") is False  # QoS 1 redelivery: ignore
    assert v.check(msg, 50_000) is False  # even after the deadline: it was accepted in time
    assert v.check(take(ALICE, "alice", 3), 5_000) is True


def test_forged_signature() -> None:
    v = registered(("alice", ALICE))
    msg = take(ALICE, "alice", 2)
    flipped = msg.sig[:10] + ("0" if msg.sig[10] != "0" else "1") + msg.sig[11:]
    assert rejected(v, msgspec.structs.replace(msg, sig=flipped)) == "bad-signature"
    assert rejected(v, msgspec.structs.replace(msg, max_price_q=msg.max_price_q + 1)) == "bad-signature"
    assert rejected(v, msgspec.structs.replace(msg, sig="")) == "bad-signature"
    assert v.check(msg, 0) is True  # the genuine one still goes through: nothing was spent


def test_replayed_nonce() -> None:
    v = registered(("alice", ALICE))
    assert v.check(take(ALICE, "alice", 5), 0)
    assert rejected(v, take(ALICE, "alice", 5, amount=1)) == "replay"  # same nonce, new content
    assert rejected(v, take(ALICE, "alice", 4)) == "replay"  # going backwards
    assert rejected(v, ALICE.register("alice", 3)) == "replay"  # any action type: one nonce sequence
    assert v.check(ALICE.register("alice", 1), 0) is False  # the very same old Register: a redelivery


def test_unknown_key() -> None:
    v = registered(("alice", ALICE))
    assert rejected(v, take(BOB, "bob", 2)) == "unknown-key"
    keyring = Verifier({"alice": ALICE.pubkey}, tofu=False)
    assert rejected(keyring, BOB.register("bob", 1)) == "unknown-key"
    assert keyring.check(ALICE.register("alice", 1), 0)  # listed key: fine


def test_bid_for_another_keepers_id() -> None:
    v = registered(("alice", ALICE), ("mallory", MALLORY))
    forged = take(MALLORY, "alice", 99)  # Mallory signs a take in Alice's name
    assert rejected(v, forged) == "bad-signature"
    assert rejected(v, forged, sender="mallory") == "wrong-keeper"  # came on Mallory's topic
    assert rejected(v, take(ALICE, "alice", 99), sender="mallory") == "wrong-keeper"  # replayed copy
    assert rejected(v, MALLORY.register("alice", 100)) == "wrong-keeper"  # re-binding Alice's id
    assert v.pubkey("alice") == ALICE.pubkey


def test_register_is_proof_of_possession() -> None:
    v = Verifier()
    claim = m.Register(keeper="alice", pubkey=ALICE.pubkey, nonce=1)
    assert rejected(v, MALLORY.sign(claim)) == "bad-signature"  # Alice's key, Mallory's signature
    assert v.pubkey("alice") is None
    assert v.check(ALICE.sign(claim), 0) and v.pubkey("alice") == ALICE.pubkey
    assert v.check(ALICE.register("alice", 2), 0)  # registering again with the same key is harmless


def test_late() -> None:
    v = registered(("alice", ALICE))
    assert v.check(take(ALICE, "alice", 2, deadline_ms=1_000), 1_000)  # at the deadline: in time
    assert rejected(v, take(ALICE, "alice", 3, deadline_ms=1_000), 1_001) == "late"
    assert rejected(v, ALICE.sign(m.Redo(auction=7, keeper="alice", nonce=3, deadline_ms=0)), 1) == "late"
    commit = ALICE.sign(m.Commit(auction=8, keeper="alice", digest="00" * 32, deposit=1, nonce=4))
    assert v.check(commit, 10**12)  # commits and reveals are bounded by their auction's phases


def test_snapshot_restore_keeps_keys_and_nonces() -> None:
    v = registered(("alice", ALICE))
    assert v.check(take(ALICE, "alice", 7), 0)
    state = msgspec.json.decode(msgspec.json.encode(v.snapshot()), type=VerifierState)
    restored = Verifier.restore(state)
    assert rejected(restored, take(ALICE, "alice", 7, amount=5)) == "replay"
    assert rejected(restored, take(BOB, "bob", 8)) == "unknown-key"
    assert restored.check(take(ALICE, "alice", 8), 0)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_change_after_signing_is_refused(data: st.DataObject) -> None:
    v = registered(("alice", ALICE))
    msg = take(ALICE, "alice", 2, priority_fee=1_000)
    field = data.draw(st.sampled_from(["auction", "amount", "max_price_q", "nonce", "deadline_ms", "priority_fee"]))
    value = data.draw(st.integers(0, 2**63 - 1).filter(lambda x: x != getattr(msg, field)))
    changed = msgspec.structs.replace(msg, **{field: value})
    assert rejected(v, changed, now_ms=0) == "bad-signature"


def test_load_or_create(tmp_path: Path) -> None:
    path = tmp_path / "keeper.key"
    first = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == first.seed() and len(first.seed()) == 32
    assert load_or_create(path).pubkey == first.pubkey  # same key on every later start
    (tmp_path / "bad.key").write_bytes(b"short")
    with pytest.raises(ConfigError, match="32-byte"):
        load_or_create(tmp_path / "bad.key")
    with pytest.raises(ConfigError):
        load_or_create(tmp_path / "missing-dir" / "k.key")


def test_keyring_file(tmp_path: Path) -> None:
    ring = tmp_path / "keyring"
    ring.write_text(f"# keeper  pubkey\nalice {ALICE.pubkey}\n\nbob {BOB.pubkey}  # second\n")
    keys = load_keyring(ring)
    assert keys == {"alice": ALICE.pubkey, "bob": BOB.pubkey}
    v = Verifier(keys, tofu=False)
    assert v.check(take(BOB, "bob", 1), 0)
    for bad in (
        "alice",
        f"alice {ALICE.pubkey.upper()}",
        f"a/b {ALICE.pubkey}",
        f"alice {ALICE.pubkey}\nalice {BOB.pubkey}",
    ):
        ring.write_text(bad + "\n")
        with pytest.raises(ConfigError):
            load_keyring(ring)


def test_generated_keys_differ() -> None:
    a, b = KeyPair.generate(), KeyPair.generate()
    assert a.pubkey != b.pubkey and len(a.pubkey) == 64 and a.seed() != b.seed()


def test_an_old_accepted_action_replayed_is_ignored_however_far_back() -> None:
    """An exact copy of an accepted action is a redelivery at any age: ignored, never refused as a replay (a
    refusal would tell its keeper that an action it made, and reserved money for, did not happen). Another
    action under a spent nonce is still a replay."""
    v = registered(("alice", ALICE))
    first = take(ALICE, "alice", 2)
    assert v.check(first, 0) is True
    for nonce in range(3, 1003):  # a thousand accepted actions later
        assert v.check(take(ALICE, "alice", nonce), 0) is True
    assert v.check(first, 0) is False
    assert rejected(v, take(ALICE, "alice", 2, amount=5)) == "replay"
