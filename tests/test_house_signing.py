"""The house's signatures over what it publishes, and a keeper's trust in one house key (broker.house_signing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction.errors import ConfigError
from broker.house_signing import HouseTrust, parse_house_key, sign_payload, split_signature, verify_payload
from broker.signing import KeyPair

HOUSE, STRANGER = KeyPair.from_seed(b"\x11" * 32), KeyPair.from_seed(b"\x22" * 32)
BLOCK = b'{"type":"block","v":1,"sig":"","height":3,"ts_ms":36000,"gas_gwei_milli":30000}'


def status(key: KeyPair, run: str = "run-1") -> bytes:
    unsigned = (b'{"type":"house-status","v":1,"sig":"","online":true,"pubkey":"%s","run":"%s","ts_ms":0}'
                % (key.pubkey.encode(), run.encode()))
    return sign_payload(key, unsigned, run)


def test_the_signature_covers_the_bytes_as_sent_and_the_run() -> None:
    payload = sign_payload(HOUSE, BLOCK, "run-1")
    assert payload.startswith(b'{"type":"block","v":1,"sig":"') and len(payload) == len(BLOCK) + 128
    assert split_signature(payload) is not None and split_signature(payload)[0] == BLOCK  # type: ignore[index]
    assert verify_payload(payload, HOUSE.pubkey, "run-1")
    assert not verify_payload(payload, HOUSE.pubkey, "run-2")  # recorded in another run: worthless here
    assert not verify_payload(payload, STRANGER.pubkey, "run-1")
    assert not verify_payload(payload.replace(b'"height":3', b'"height":4'), HOUSE.pubkey, "run-1")
    assert not verify_payload(BLOCK, HOUSE.pubkey, "run-1")  # unsigned
    forged = sign_payload(STRANGER, BLOCK, "run-1")
    assert not verify_payload(forged, HOUSE.pubkey, "run-1")
    with pytest.raises(ValueError, match="third key"):
        sign_payload(HOUSE, b'{"type":"block","height":3,"sig":""}', "run-1")


def test_a_pinned_key_accepts_its_house_only(tmp_path: Path) -> None:
    trust = HouseTrust(pinned=HOUSE.pubkey)
    assert not trust.check(sign_payload(HOUSE, BLOCK, "run-1"))  # no run known yet
    assert not trust.status(status(STRANGER), STRANGER.pubkey, "run-1", 1)  # a stranger's own house
    assert trust.status(status(HOUSE), HOUSE.pubkey, "run-1", 1)
    assert trust.check(sign_payload(HOUSE, BLOCK, "run-1"))
    assert not trust.check(sign_payload(STRANGER, BLOCK, "run-1")) and not trust.check(BLOCK)
    assert trust.dropped == 4


def test_trust_on_first_use_is_recorded_and_kept(tmp_path: Path) -> None:
    record = tmp_path / "alice.key.house"
    first = HouseTrust(record=record)
    assert first.status(status(HOUSE), HOUSE.pubkey, "run-1", 1) and first.learnt
    assert record.read_text().strip() == HOUSE.pubkey
    again = HouseTrust(record=record)  # a restarted keeper trusts the same house, and no other
    assert again.key == HOUSE.pubkey and not again.learnt
    assert not again.status(status(STRANGER), STRANGER.pubkey, "run-9", 5)


def test_an_old_run_replayed_never_takes_the_keeper_back() -> None:
    trust = HouseTrust(pinned=HOUSE.pubkey)
    assert trust.status(status(HOUSE, "run-1"), HOUSE.pubkey, "run-1", 100)
    assert trust.status(status(HOUSE, "run-2"), HOUSE.pubkey, "run-2", 200)  # a later house life, a new run
    assert not trust.status(status(HOUSE, "run-1"), HOUSE.pubkey, "run-1", 100)  # replayed from before
    assert trust.run == "run-2"
    assert not trust.check(sign_payload(HOUSE, BLOCK, "run-1")) and trust.check(sign_payload(HOUSE, BLOCK, "run-2"))


def test_a_house_key_is_hex_or_a_file_holding_it(tmp_path: Path) -> None:
    assert parse_house_key(HOUSE.pubkey) == HOUSE.pubkey
    (tmp_path / "house.pub").write_text(f"house {HOUSE.pubkey}\n")
    assert parse_house_key(str(tmp_path / "house.pub")) == HOUSE.pubkey
    with pytest.raises(ConfigError, match="neither 64 hex digits nor a readable file"):
        parse_house_key("nope")
    (tmp_path / "empty").write_text("nothing\n")
    with pytest.raises(ConfigError, match="holds no public key"):
        parse_house_key(str(tmp_path / "empty"))
