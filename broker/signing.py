"""Ed25519 keys, canonical bytes and the checks the house applies to every keeper action.

Canonical bytes of an action: the message as a JSON object with every field (the ``type`` tag and ``v``
included) except ``sig``, keys sorted, no whitespace (``msgspec.to_builtins`` then
``msgspec.json.encode(..., order="sorted")``). Actions hold only integers and ASCII strings, so any
language reproduces these bytes exactly. The signature (RFC 8032 Ed25519, deterministic) is sent as
128 lowercase hex digits in ``sig``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from array import array
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import msgspec
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auction.errors import ConfigError, Rejected
from broker.messages import HEX32_RE, KEEPER_RE, Action, Commit, Register, Reveal

A = TypeVar("A", bound=Action)

KEY_BYTES: Final = 32
_KEEPER: Final = re.compile(KEEPER_RE)
_PUBKEY: Final = re.compile(HEX32_RE)
log = structlog.get_logger()


def canonical_bytes(msg: Action) -> bytes:
    """The bytes a keeper signs: sorted-key compact JSON of every field but ``sig``."""
    data = msgspec.to_builtins(msg)
    data.pop("sig", None)
    return msgspec.json.encode(data, order="sorted")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A keeper's Ed25519 key. ``pubkey`` is the raw 32-byte public key in lowercase hex."""

    private: Ed25519PrivateKey
    pubkey: str

    @classmethod
    def generate(cls) -> KeyPair:
        return cls._of(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """From the raw 32-byte private key (RFC 8032 seed)."""
        if len(seed) != KEY_BYTES:
            raise ValueError(f"an Ed25519 private key is {KEY_BYTES} bytes, got {len(seed)}")
        return cls._of(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def _of(cls, private: Ed25519PrivateKey) -> KeyPair:
        return cls(private, private.public_key().public_bytes_raw().hex())

    def seed(self) -> bytes:
        return self.private.private_bytes_raw()

    def sign(self, msg: A) -> A:
        """A copy of ``msg`` carrying its signature."""
        sig = self.private.sign(canonical_bytes(msg)).hex()
        return msgspec.structs.replace(msg, sig=sig)

    def register(self, keeper: str, nonce: int) -> Register:
        """The signed Register message binding this key to ``keeper``."""
        return self.sign(Register(keeper=keeper, pubkey=self.pubkey, nonce=nonce))


def load_or_create(path: str | os.PathLike[str]) -> KeyPair:
    """The key stored at ``path`` (raw 32 bytes), created with mode 0600 on first use."""
    file = Path(path)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(file)
    except OSError as exc:
        raise ConfigError(f"cannot create key file {file}: {exc.strerror}; check the directory") from None
    pair = KeyPair.generate()
    with os.fdopen(fd, "wb") as out:
        out.write(pair.seed())
    log.info("key created", path=str(file), pubkey=pair.pubkey)
    return pair


def _read_key(file: Path) -> KeyPair:
    try:
        raw = file.read_bytes()
        mode = file.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read key file {file}: {exc.strerror}") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            f"key file {file} holds {len(raw)} bytes, expected a raw {KEY_BYTES}-byte Ed25519 key; "
            "move it away to create a new one"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("key file readable by others; run chmod 600", path=str(file))
    return KeyPair.from_seed(raw)


def load_keyring(path: str | os.PathLike[str]) -> dict[str, str]:
    """A keyring file: one ``<keeper id> <public key hex>`` per line; ``#`` starts a comment."""
    file = Path(path)
    try:
        lines = file.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read keyring {file}: {exc.strerror}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2 or not _KEEPER.match(fields[0]) or not _PUBKEY.match(fields[1]):
            raise ConfigError(f"{file}:{number}: expected '<keeper id> <64 lowercase hex digits>', got {line!r}")
        if keys.setdefault(fields[0], fields[1]) != fields[1]:
            raise ConfigError(f"{file}:{number}: keeper {fields[0]!r} is listed twice with different keys")
    return keys


def verify(msg: Action, pubkey: str) -> bool:
    """Whether ``msg.sig`` is a valid signature of ``msg`` by ``pubkey`` (hex)."""
    return _verify(canonical_bytes(msg), msg.sig, pubkey)


def _verify(data: bytes, sig: str, pubkey: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(pubkey)).verify(bytes.fromhex(sig), data)
    except (InvalidSignature, ValueError):
        return False
    return True


class VerifierState(msgspec.Struct, frozen=True):
    """What a Verifier must remember across a restart (the house journals it)."""

    keys: dict[str, str]
    nonces: dict[str, int]


class Accepted:
    """Every nonce a keeper had accepted, with an 8-byte digest of the action: 16 bytes each, in arrays.

    Nonces are accepted in increasing order, so the array stays sorted and a lookup is a bisection. Kept for
    the whole run (the journal holds the same actions on disk): an exact copy of an accepted action, however
    old, is then recognised as a redelivery and ignored, never refused as a replay, which would tell its keeper
    that an action it made, and reserved money for, did not happen.
    """

    __slots__ = ("digests", "nonces")

    def __init__(self) -> None:
        self.nonces, self.digests = array("q"), array("Q")

    def add(self, nonce: int, digest: bytes) -> None:
        self.nonces.append(nonce)
        self.digests.append(int.from_bytes(digest[:8], "big"))

    def digest_of(self, nonce: int) -> int | None:
        i = bisect_left(self.nonces, nonce)
        return self.digests[i] if i < len(self.nonces) and self.nonces[i] == nonce else None


class Verifier:
    """Signature, key, keeper-id, nonce and deadline checks for keeper actions.

    Keys are preloaded (a keyring) or bound by the first valid Register of a keeper id
    (trust on first use; with the broker ACL only that keeper's credentials can publish it).
    A keeper's nonces strictly increase across all its actions. A nonce is spent once these checks
    pass, even if a rule of the auction then refuses the action.
    """

    def __init__(
        self,
        keys: Mapping[str, str] | None = None,
        *,
        nonces: Mapping[str, int] | None = None,
        tofu: bool = True,
    ) -> None:
        self._keys = dict(keys or {})
        self._nonces = dict(nonces or {})
        self._tofu = tofu
        self._accepted: dict[str, Accepted] = {}  # keeper -> every nonce accepted, with its action's digest

    @classmethod
    def restore(cls, state: VerifierState, *, tofu: bool = True) -> Verifier:
        return cls(state.keys, nonces=state.nonces, tofu=tofu)

    def snapshot(self) -> VerifierState:
        return VerifierState(dict(self._keys), dict(self._nonces))

    def pubkey(self, keeper: str) -> str | None:
        return self._keys.get(keeper)

    def check(self, action: Action, now_ms: int, *, sender: str | None = None) -> bool:
        """True: a new valid action, apply it. False: an exact redelivery of an accepted one, ignore it.

        ``sender`` is the keeper id of the topic the action came on (``topics.parse(...).keeper``).
        Raises ``Rejected`` ("wrong-keeper", "unknown-key", "bad-signature", "replay", "late") and
        then remembers nothing.
        """
        keeper = action.keeper
        if sender is not None and sender != keeper:
            raise Rejected("wrong-keeper", f"an action for keeper {keeper!r} sent on {sender!r}'s topic")
        data = canonical_bytes(action)
        digest = hashlib.sha256(data + action.sig.encode()).digest()
        accepted = self._accepted.get(keeper)
        if accepted is not None and accepted.digest_of(action.nonce) == int.from_bytes(digest[:8], "big"):
            return False
        key = self._key_for(action)
        if not _verify(data, action.sig, key):
            raise Rejected("bad-signature", f"signature of {keeper!r}'s {type(action).__name__} does not verify")
        last = self._nonces.get(keeper)
        if last is not None and action.nonce <= last:
            raise Rejected("replay", f"nonce {action.nonce} of {keeper!r} is not above its last nonce {last}")
        deadline = _deadline(action)
        if deadline is not None and now_ms > deadline:
            raise Rejected("late", f"deadline {deadline} ms passed (now {now_ms} ms)")
        self._accept(action, key, digest)
        return True

    def _key_for(self, action: Action) -> str:
        bound = self._keys.get(action.keeper)
        if isinstance(action, Register):
            if bound is not None and bound != action.pubkey:
                raise Rejected("wrong-keeper", f"keeper {action.keeper!r} is bound to another key")
            if bound is None and not self._tofu:
                raise Rejected("unknown-key", f"key {action.pubkey[:16]}... is not in the keyring")
            return action.pubkey  # proof of possession: signed by the key it registers
        if bound is None:
            raise Rejected("unknown-key", f"no key registered for keeper {action.keeper!r}")
        return bound

    def _accept(self, action: Action, key: str, digest: bytes) -> None:
        self._keys[action.keeper] = key
        self._nonces[action.keeper] = action.nonce
        self._accepted.setdefault(action.keeper, Accepted()).add(action.nonce, digest)


def _deadline(action: Action) -> int | None:
    # Commit and Reveal are bounded by their auction's phases; Register has no deadline.
    if isinstance(action, Commit | Reveal | Register):
        return None
    return action.deadline_ms
