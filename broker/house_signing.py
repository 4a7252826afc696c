"""The house signs what it publishes; keepers believe only what verifies with the house's key.

Rule (PROTOCOL.md states it for other languages): a house message's third key, right after ``"type"`` and
``"v"``, is ``"sig"``. The house encodes the message with ``"sig":""``, signs (Ed25519) the bytes
``liqnet-house-v1|<run>\\n`` followed by that encoding, and puts the 128 lowercase hex digits of the signature
between the quotes. To verify, remove those 128 digits from the payload as received and check the signature
over the same prefix and those bytes. No canonical form is needed (terms hold floats, whose spelling varies
between languages): the signature covers the bytes exactly as sent.

``run`` binds a message to one run of the house: a message recorded in an earlier run (an old oracle price, an
old result) does not verify in a later one, even under the same key. The house's ``house-status`` names its
run and its public key; keepers learn the run there (a status signed by the key they trust).

``HouseTrust`` is the keeper's side: the key pinned with ``--house-key`` or learnt on first use (recorded in a
file beside the keeper's own key, with a warning), the current run, and the check every message passes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final, TypeVar

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auction.errors import ConfigError
from broker.signing import KeyPair

log = structlog.get_logger()

DOMAIN: Final = b"liqnet-house-v1|"
_EMPTY: Final = b'"sig":""'
_SIGNED: Final = re.compile(rb'\A\{"type":"[a-z][a-z-]{0,31}","v":[0-9]{1,10},"sig":"([0-9a-f]{128})"')
_HEX32: Final = re.compile(r"\A[0-9a-f]{64}\Z")
_RUN: Final = re.compile(r"\A[0-9A-Za-z_-]{1,64}\Z")
R = TypeVar("R")


def signed_bytes(unsigned: bytes, run: str) -> bytes:
    """What the house's signature covers: the domain, the run, and the message encoded with an empty sig."""
    return DOMAIN + run.encode() + b"\n" + unsigned


def sign_payload(key: KeyPair, unsigned: bytes, run: str) -> bytes:
    """``unsigned``: a house message encoded with ``sig=""`` as its third key; returns the payload to publish."""
    at = unsigned.find(_EMPTY)
    if at < 0 or _SIGNED.match(unsigned[:at] + b'"sig":"' + b"0" * 128 + b'"') is None:
        raise ValueError("a house message must be encoded with an empty sig as its third key")
    sig = key.private.sign(signed_bytes(unsigned, run)).hex().encode()
    return unsigned[:at + 7] + sig + unsigned[at + 7:]


class Signer:
    """The house's side: signs every payload it publishes for its run (an empty payload, which clears a
    retained topic, carries nothing to sign and goes out as it is)."""

    def __init__(self, key: KeyPair, run: str) -> None:
        if not _RUN.match(run):
            raise ValueError(f"a run id is 1-64 letters, digits, '_' or '-', got {run!r}")
        self.key, self.run = key, run

    @property
    def pubkey(self) -> str:
        return self.key.pubkey

    def __call__(self, payload: bytes) -> bytes:
        return sign_payload(self.key, payload, self.run) if payload else payload

    def items(self, items: Iterable[tuple[str, bytes, R]]) -> list[tuple[str, bytes, R]]:
        """``(topic, payload, retain)`` publishes, each payload signed."""
        return [(topic, self(payload), retain) for topic, payload, retain in items]


def split_signature(payload: bytes) -> tuple[bytes, bytes] | None:
    """(the payload with its signature removed, the signature) or None when it carries none in its place."""
    found = _SIGNED.match(payload)
    if found is None:
        return None
    start, end = found.span(1)
    return payload[:start] + payload[end:], bytes.fromhex(found.group(1).decode())


def verify_payload(payload: bytes, pubkey: str, run: str) -> bool:
    """Whether ``payload`` carries a valid signature by ``pubkey`` (hex) for ``run``."""
    parts = split_signature(payload)
    if parts is None:
        return False
    unsigned, sig = parts
    try:
        _public_key(pubkey).verify(sig, signed_bytes(unsigned, run))
    except (InvalidSignature, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=64)
def _public_key(pubkey: str) -> Ed25519PublicKey:
    """The key object, made once per key (a keeper checks every house message with the same one)."""
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(pubkey))


def parse_house_key(text: str) -> str:
    """``--house-key``: 64 hex digits, or a file holding them (a ``liqnet house --print-key`` line works too)."""
    candidate = text.strip()
    if not _HEX32.match(candidate):
        path = Path(candidate)
        try:
            words = path.read_text().split()
        except OSError:
            raise ConfigError(f"--house-key {text!r}: neither 64 hex digits nor a readable file") from None
        candidate = next((w for w in words if _HEX32.match(w)), "")
        if not candidate:
            raise ConfigError(f"--house-key {path}: the file holds no public key (64 lowercase hex digits)")
    return candidate


class HouseTrust:
    """A keeper's trust in one house key: pinned (``--house-key``) or learnt on first use and recorded.

    ``record``: the file a key learnt on first use is written to (and read back from on the next start, so a
    restarted keeper keeps trusting the same house and no other). A key that differs from the pinned one is
    refused and said loudly: the keeper never switches houses by itself.
    """

    def __init__(self, pinned: str | None = None, record: Path | None = None) -> None:
        self.record = record
        self.key = pinned
        self.learnt = False
        if self.key is None and record is not None and record.exists():
            self.key = parse_house_key(str(record))
        self.run: str | None = None
        self._run_started = -1  # the house life the run came from: a later one may change the run
        self.dropped = 0  # messages that did not verify

    def learn(self, pubkey: str) -> bool:
        """Trust on first use: take ``pubkey`` when no key is trusted yet; True when it is (now) the trusted one."""
        if self.key is not None:
            if pubkey != self.key:
                log.warning("house key differs from the trusted one: its messages are dropped", got=pubkey[:16],
                            trusted=self.key[:16], fix="pass --house-key with the house's key (liqnet house "
                            "--print-key)" + (f", or delete {self.record} to trust a new house" if self.record else ""))
            return pubkey == self.key
        self.key, self.learnt = pubkey, True
        log.warning("trusting the house key on first use; pin it with --house-key to be sure", pubkey=pubkey,
                    recorded=str(self.record) if self.record else None)
        if self.record is not None:
            self.record.parent.mkdir(parents=True, exist_ok=True)
            self.record.write_text(pubkey + "\n")
        return True

    def status(self, payload: bytes, pubkey: str, run: str, started_ms: int) -> bool:
        """A house-status: signed by the key it names, that key trusted (or learnt now), for the run it names.

        Its run becomes the current one when it comes from the same house life or a later one (an old status
        replayed from an earlier run never takes the keeper back)."""
        if not _RUN.match(run) or not _HEX32.match(pubkey) or not verify_payload(payload, pubkey, run):
            self.dropped += 1
            return False
        if (self.key is None and not self.learn(pubkey)) or pubkey != self.key:
            self.dropped += 1
            return False
        if started_ms >= self._run_started:
            self.run, self._run_started = run, started_ms
            return True
        self.dropped += 1
        return False

    def check(self, payload: bytes) -> bool:
        """Any other house message: signed by the trusted key for the current run."""
        ok = self.key is not None and self.run is not None and verify_payload(payload, self.key, self.run)
        if not ok:
            self.dropped += 1
        return ok
