"""Every message on the wire: msgspec Structs, one tagged union, JSON.

Rules that PROTOCOL.md states for other languages:

- Each payload is one JSON object whose ``"type"`` names the message; ``"v"`` is the schema version
  (1; a missing ``v`` means 1, any other value is refused with ``wrong-version``).
- Amounts are integers in base units (``auction.units``): numeraire 1e-6, collateral 1e-9 token,
  ``*_q`` prices = numeraire base units per whole token. Amounts are never negative and fit in a
  signed 64-bit integer. Times are integer milliseconds of scenario time (``*_ms``).
- Unknown fields, wrong types, out-of-range numbers and payloads over ``MAX_PAYLOAD`` bytes are refused.
- A keeper action with a key twice is refused (``malformed``): JSON parsers disagree on which value wins, and
  the house journals an action's raw bytes, so the bytes must mean one thing to every reader.
- Messages a keeper signs (``ACTIONS``) hold only integers and ASCII strings, so their canonical bytes
  (``broker.signing``) are the same in every language.

``decode`` never raises anything but ``auction.errors.Rejected`` (codes ``malformed``,
``wrong-version``, ``oversized``), whatever the bytes.

The Structs live by family: ``broker.wire_types`` (field types, limits, base Structs), ``broker.wire_terms``
(auction terms and their registry), ``broker.house_messages`` (what the house publishes) and
``broker.keeper_messages`` (keepers' statuses and actions). This module holds the unions and the codec, and
re-exports every message and field type: ``broker.messages`` is the one name users import.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Final

import msgspec
from msgspec import Struct

from auction.errors import Rejected
from broker.house_messages import (
    Account,
    Ack,
    Announce,
    Block,
    FillMsg,
    HouseStatus,
    OraclePrice,
    Rejection,
    Result,
    State,
)
from broker.keeper_messages import (
    Commit,
    EnglishBid,
    KeeperStatus,
    Liquidate,
    Redo,
    Register,
    Reveal,
    Take,
)
from broker.wire_terms import Terms, WireTerms, decode_terms, register_terms, unregister_terms
from broker.wire_types import (
    ASSET_RE,
    HEX32_RE,
    KEEPER_RE,
    MAX_FILLS,
    MAX_PAYLOAD,
    VERSION,
    Amount,
    AssetId,
    Code,
    DesignName,
    Digest,
    HolderId,
    KeeperId,
    MaybeDigest,
    MaybeKeeperId,
    Ratio,
    RunId,
    Salt,
    Signature,
    Signed64,
    Status,
    Text,
    Version,
)

__all__ = [
    "ACTIONS", "ASSET_RE", "HEX32_RE", "HOUSE_MESSAGES", "KEEPER_RE", "MAX_FILLS", "MAX_PAYLOAD", "MESSAGES",
    "VERSION", "Account", "Ack", "Action", "Amount", "Announce", "AssetId", "Block", "Code", "Commit", "DesignName",
    "Digest", "EnglishBid", "FillMsg", "HolderId", "HouseStatus", "KeeperId", "KeeperStatus", "Liquidate",
    "MaybeDigest", "MaybeKeeperId", "Message", "OraclePrice", "Ratio", "Redo", "Register", "Rejection", "Result",
    "Reveal", "RunId", "Salt", "Signature", "Signed64", "State", "Status", "Take", "Terms", "Text", "Version",
    "WireTerms", "decode", "duplicate_key", "encode", "register_terms", "tag_of", "unregister_terms",
]


Action = Take | Redo | EnglishBid | Commit | Reveal | Liquidate | Register
Message = (
    Announce
    | State
    | Result
    | OraclePrice
    | Block
    | Rejection
    | Ack
    | Account
    | KeeperStatus
    | HouseStatus
    | Take
    | Redo
    | EnglishBid
    | Commit
    | Reveal
    | Liquidate
    | Register
)
HOUSE_MESSAGES: Final = (Announce, State, Result, OraclePrice, Block, Rejection, Ack, Account, HouseStatus)
"""What the house publishes, each signed by it (``sig``, ``broker.house_signing``)."""
ACTIONS: Final[tuple[type[Action], ...]] = (Take, Redo, EnglishBid, Commit, Reveal, Liquidate, Register)
MESSAGES: Final[tuple[type[Message], ...]] = (
    Announce,
    State,
    Result,
    OraclePrice,
    Block,
    Rejection,
    Ack,
    Account,
    KeeperStatus,
    HouseStatus,
    *ACTIONS,
)


def tag_of(cls: type[Message]) -> str:
    """The ``type`` string of a message class."""
    return str(cls.__struct_config__.tag)


# Built once and reused: msgspec compiles the whole union into one decoder.
_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(Message, dec_hook=decode_terms)


class _Head(Struct):
    """Just enough to tell a wrong version from a malformed message."""

    v: int = VERSION


_head_decoder: Final = msgspec.json.Decoder(_Head)


def encode(msg: Message) -> bytes:
    """JSON bytes of a message. Refuses (``oversized``) what the other side would refuse."""
    data = _encoder.encode(msg)
    if len(data) > MAX_PAYLOAD:
        raise Rejected("oversized", f"{tag_of(type(msg))} encodes to {len(data)} bytes > {MAX_PAYLOAD}")
    return data


def decode(payload: bytes, allowed: Collection[str] | None = None) -> Message:
    """Parse and validate one payload; ``allowed`` restricts the accepted ``type`` tags.

    Raises ``Rejected`` ("oversized", "wrong-version" or "malformed") and nothing else.
    """
    if len(payload) > MAX_PAYLOAD:
        raise Rejected("oversized", f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    try:
        msg = _decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        _raise_version_mismatch(payload)
        raise Rejected("malformed", _short(str(exc))) from None
    except Exception as exc:  # defensive: a decoder bug must not kill a process
        raise Rejected("malformed", _short(f"undecodable payload: {exc}")) from None
    if msg.v != VERSION:
        raise Rejected("wrong-version", f"schema version {msg.v} is not supported (this side speaks {VERSION})")
    if allowed is not None and tag_of(type(msg)) not in allowed:
        raise Rejected("malformed", f"a {tag_of(type(msg))!r} message does not belong on this topic")
    if isinstance(msg, ACTIONS):
        twice = duplicate_key(payload)
        if twice is not None:
            raise Rejected("malformed", f"key {twice[:40]!r} appears twice in a {tag_of(type(msg))!r} action")
    return msg


def duplicate_key(payload: bytes) -> str | None:
    """The first key that appears twice in one JSON object of ``payload`` (None: none does, or not JSON).

    msgspec, like most parsers, keeps the last of two equal keys; RFC 8259 leaves it to each parser. Python's
    ``json`` hands every object's pairs to the hook in order, escapes resolved, so ``"n\\u006fnce"`` is "nonce".
    """
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys) and not found:
            found.append(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    try:
        json.loads(payload, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return found[0] if found else None


def _raise_version_mismatch(payload: bytes) -> None:
    """A payload that fails the v1 schema but says ``v != 1`` is a version problem, not garbage."""
    try:
        head = _head_decoder.decode(payload)
    except Exception:
        return
    if head.v != VERSION:
        raise Rejected("wrong-version", f"schema version {head.v} is not supported (this side speaks {VERSION})")


def _short(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."
