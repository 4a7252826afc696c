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
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Annotated, Any, Final, Literal, Protocol, runtime_checkable

import msgspec
from msgspec import Meta, Struct

from auction.errors import Rejected

VERSION: Final = 1
MAX_PAYLOAD: Final = 16 * 1024  # bytes; bigger payloads are refused before parsing
MAX_FILLS: Final = 128  # fills in one Result: keeps a Result under MAX_PAYLOAD

# Field types. Patterns use \A...\Z: Python's `$` would accept a trailing newline.
KEEPER_RE: Final = r"\A[A-Za-z0-9_.-]{1,64}\Z"  # also a topic level and a broker user name
ASSET_RE: Final = r"\A[A-Za-z0-9_.-]{1,32}\Z"  # also a topic level
HEX32_RE: Final = r"\A[0-9a-f]{64}\Z"
Amount = Annotated[int, Meta(ge=0, le=2**63 - 1)]
"""A non-negative integer in base units (or a count, id, nonce, time in ms); fits in int64."""
Signed64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
"""A signed integer (profit and loss)."""
Ratio = Annotated[float, Meta(ge=0.0, le=1e6)]
"""A finite non-negative float (curve factors, bonus, health); NaN and infinity are refused."""
KeeperId = Annotated[str, Meta(pattern=KEEPER_RE)]
"""A keeper id; it is also an MQTT topic level and a broker user name, so no `/`, `+`, `#`."""
MaybeKeeperId = Annotated[str, Meta(pattern=r"\A[A-Za-z0-9_.-]{0,64}\Z")]
"""A keeper id or "" (none)."""
AssetId = Annotated[str, Meta(pattern=ASSET_RE)]
HolderId = Annotated[str, Meta(pattern=r"\A[A-Za-z0-9_.:-]{0,64}\Z")]
"""A ledger holder such as ``acct:17`` (empty when unknown)."""
Digest = Annotated[str, Meta(pattern=HEX32_RE)]
"""32 bytes as 64 lowercase hex digits (sha256 digest, Ed25519 public key)."""
MaybeDigest = Annotated[str, Meta(pattern=r"\A(?:[0-9a-f]{64})?\Z")]
Salt = Annotated[str, Meta(pattern=r"\A(?:[0-9a-f]{2}){16,64}\Z")]
"""16 to 64 random bytes as lowercase hex."""
Signature = Annotated[str, Meta(pattern=r"\A(?:[0-9a-f]{128})?\Z")]
"""An Ed25519 signature, 64 bytes as 128 lowercase hex digits; empty before signing."""
RunId = Annotated[str, Meta(pattern=r"\A[0-9A-Za-z_-]{0,64}\Z")]
"""The id of a house's run ("" in a message from before signing)."""
Code = Annotated[str, Meta(pattern=r"\A[a-z][a-z-]{0,31}\Z")]
Text = Annotated[str, Meta(max_length=512)]
Version = Annotated[int, Meta(ge=0, le=2**31 - 1)]

DesignName = Annotated[str, Meta(pattern=r"\A[a-z][a-z0-9-]{0,31}\Z")]
"""A registered design's name (``auction.designs``), e.g. ``dutch`` or ``sealed-second``."""


Status = Literal["open", "closed"]


class _Wire(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Shared config: immutable, keyword-only, unknown fields refused."""


# --- auction terms: what a keeper needs to act without asking -------------------------------------------
# Each design defines its own terms Struct (``auction.designs``), a subclass of ``WireTerms`` tagged with the
# design's table name, and registers it here: the wire layer knows the shape of terms, never the designs.


class WireTerms(_Wire, tag_field="type", frozen=True, kw_only=True):
    """Base of every design's terms: a JSON object whose ``type`` names the design's table."""


@runtime_checkable
class Terms(Protocol):
    """Any registered ``WireTerms`` subclass (decoded through ``register_terms``' table)."""


_TERMS: dict[str, type[WireTerms]] = {}


def register_terms(cls: type[WireTerms]) -> None:
    """Let decoders accept ``cls`` as the terms of an announce or state (designs call it once each)."""
    tag = str(cls.__struct_config__.tag)
    known = _TERMS.get(tag)
    if known is not None and known is not cls:
        raise ValueError(f"terms type {tag!r} is already registered by {known.__name__}")
    _TERMS[tag] = cls


def unregister_terms(cls: type[WireTerms]) -> None:
    _TERMS.pop(str(cls.__struct_config__.tag), None)


def _decode_terms(tp: type, obj: Any) -> Any:
    """msgspec's hook for ``Terms`` fields: the registered Struct named by the object's ``type``."""
    if tp is not Terms:
        raise NotImplementedError(f"no decoder for {tp!r}")
    if not isinstance(obj, dict):
        raise TypeError("terms must be an object")
    cls = _TERMS.get(obj.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown terms type {obj.get('type')!r}")
    try:
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError as exc:
        raise ValueError(f"terms: {exc}") from None


# --- messages --------------------------------------------------------------------------------------------


class _Msg(_Wire, tag_field="type", frozen=True, kw_only=True):
    v: Version = VERSION


class _HouseMsg(_Msg, frozen=True, kw_only=True):
    """What the house publishes: ``sig``, its third key, is the house's signature over the payload as sent
    (``broker.house_signing``; empty until the house signs the encoded bytes)."""

    sig: Signature = ""


class Announce(_HouseMsg, tag="announce", frozen=True, kw_only=True):
    """A new auction (event, not retained). ``State`` carries the same terms for late joiners."""

    auction: Amount
    design: DesignName
    asset: AssetId
    lot: Amount  # collateral units for sale
    tab: Amount  # numeraire units to raise (debt + penalty)
    owner: HolderId
    start_ms: Amount
    oracle_q: Amount
    terms: Terms


class State(_HouseMsg, tag="state", frozen=True, kw_only=True):
    """Current state of one auction (retained); ``seq`` increases with every change."""

    auction: Amount
    seq: Amount
    status: Status
    design: DesignName
    asset: AssetId
    owner: HolderId
    lot: Amount
    tab: Amount
    start_ms: Amount  # Dutch: start of the current price curve (clip.sol tic), moved by a redo
    top_q: Amount  # Dutch: top of the current curve; 0 for other designs
    bid: Amount = 0  # English: current bid (numeraire units)
    guy: MaybeKeeperId = ""  # English: current high bidder, "" when none
    tic_ms: Amount = 0  # English: current bid expires at tic_ms (0 when no bid)
    phase: Literal["", "commit", "reveal", "closed"] = ""  # sealed designs only
    terms: Terms
    ts_ms: Amount


class FillMsg(_Wire, frozen=True, kw_only=True):
    """One keeper's purchase in a Result."""

    keeper: KeeperId
    qty: Amount  # collateral units received
    cost: Amount  # numeraire units paid


class Result(_HouseMsg, tag="result", frozen=True, kw_only=True):
    """An auction's outcome (event). ``returned`` collateral went back to the owner."""

    auction: Amount
    design: DesignName
    fills: Annotated[list[FillMsg], Meta(max_length=MAX_FILLS)]
    returned: Amount
    bad_debt: Amount
    revenue: Amount  # numeraire units raised in total
    clearing_q: Amount = 0  # sealed: the uniform clearing price; 0 where it does not apply
    forfeited: Annotated[list[KeeperId], Meta(max_length=MAX_FILLS)] = []  # sealed: deposits lost
    ts_ms: Amount


class OraclePrice(_HouseMsg, tag="oracle", frozen=True, kw_only=True):
    """The price the protocol's oracle reports for one asset (retained); it moves top_q and health."""

    asset: AssetId
    price_q: Amount
    ts_ms: Amount


class Block(_HouseMsg, tag="block", frozen=True, kw_only=True):
    """A new block (retained): the house includes waiting actions at each block."""

    height: Amount
    ts_ms: Amount
    gas_gwei_milli: Amount  # base gas price in 1e-3 gwei
    native_q: Amount = 0  # price of the token gas is paid in (house-status ``native``), per whole token


class Rejection(_HouseMsg, tag="rejection", frozen=True, kw_only=True):
    """Sent to the keeper whose action was refused; ``ref`` is that action's nonce."""

    keeper: KeeperId
    ref: Amount
    code: Code  # one of auction.errors.CODES; accept unknown codes as a plain refusal
    text: Text
    ts_ms: Amount


class Ack(_HouseMsg, tag="ack", frozen=True, kw_only=True):
    """Sent to the keeper whose action the house accepted; ``ref`` is that action's nonce."""

    keeper: KeeperId
    ref: Amount
    auction: Amount = 0  # the auction the action applied to; 0 for a register
    height: Amount  # the block that included it (a register: the house's latest block)
    ts_ms: Amount


class Account(_HouseMsg, tag="account", frozen=True, kw_only=True):
    """A keeper's money at the house (retained): published after every batch that changed it."""

    keeper: KeeperId
    funded: Amount  # numeraire units granted at registration
    balance: Amount  # free escrow: what bids, deposits and gas can spend
    held: Amount  # locked behind standing bids, sealed deposits and revealed bids
    gas_paid: Amount  # gas paid so far (accepted and refused actions alike)
    height: Amount  # the house's latest block
    ts_ms: Amount


class KeeperStatus(_Msg, tag="keeper-status", frozen=True, kw_only=True):
    """Retained liveness of a keeper; its Last Will is the same message with ``online`` false."""

    keeper: KeeperId
    online: bool
    pubkey: MaybeDigest = ""
    balance: Amount = 0
    pnl: Signed64 = 0
    ts_ms: Amount


class HouseStatus(_HouseMsg, tag="house-status", frozen=True, kw_only=True):
    """Retained liveness of the auction house and what its run is (its Last Will has ``online`` false)."""

    online: bool
    version: Annotated[str, Meta(max_length=64)] = ""
    design: Annotated[str, Meta(pattern=r"\A(?:[a-z][a-z0-9-]{0,31})?\Z")] = ""  # "" in the Last Will
    block_ms: Amount = 0  # scenario ms between blocks
    end_ms: Amount = 0  # scenario time of the last block: the books close there
    speed: Ratio = 0.0  # scenario seconds per wall second
    lag_ms: Amount = 0  # scenario ms the latest block was applied after its time
    max_lag_ms: Amount = 0  # the largest lag_ms of the run so far
    late_blocks: Amount = 0  # blocks applied more than one block after their time, so far
    held_ms: Amount = 0  # scenario ms the house held its clock back after falling behind (no catch-up burst)
    native: Annotated[str, Meta(pattern=r"\A[A-Za-z0-9_.-]{0,32}\Z")] = ""  # the token gas is paid in
    gas: Annotated[dict[Annotated[str, Meta(pattern=r"\A[a-z][a-z-]{0,31}\Z")], Amount], Meta(max_length=32)] = {}
    pubkey: MaybeDigest = ""  # the house's Ed25519 key: this status, and every house message, is signed by it
    run: RunId = ""  # the run every house message is signed for (broker.house_signing)
    started_ms: Amount = 0  # wall-clock ms (Unix) this house process started: a later life replaces the run
    ts_ms: Amount


# --- keeper actions: signed, integers and ASCII strings only ---------------------------------------------


class Take(_Msg, tag="take", frozen=True, kw_only=True):
    """Dutch: buy up to ``amount`` collateral units at no more than ``max_price_q`` (clip.sol take)."""

    auction: Amount
    keeper: KeeperId
    amount: Amount
    max_price_q: Amount
    nonce: Amount
    deadline_ms: Amount
    priority_fee: Amount = 0  # in 1e-3 gwei, orders actions within a block
    sig: Signature = ""


class Redo(_Msg, tag="redo", frozen=True, kw_only=True):
    """Dutch: reset an auction that needs it (clip.sol redo); pays tip + chip * tab to the keeper."""

    auction: Amount
    keeper: KeeperId
    nonce: Amount
    deadline_ms: Amount
    sig: Signature = ""


class EnglishBid(_Msg, tag="english-bid", frozen=True, kw_only=True):
    """English: a tend (lot == current lot, bid rises) or a dent (bid == tab, lot falls), flip.sol."""

    auction: Amount
    keeper: KeeperId
    lot: Amount
    bid: Amount
    nonce: Amount
    deadline_ms: Amount
    sig: Signature = ""


class Commit(_Msg, tag="commit", frozen=True, kw_only=True):
    """Sealed: the hash of a bid (see ``commit_digest``) and its deposit, during the commit phase."""

    auction: Amount
    keeper: KeeperId
    digest: Digest
    deposit: Amount
    nonce: Amount
    sig: Signature = ""


class Reveal(_Msg, tag="reveal", frozen=True, kw_only=True):
    """Sealed: the bid behind a commit, during the reveal phase."""

    auction: Amount
    keeper: KeeperId
    price_q: Amount
    qty: Amount
    salt: Salt
    nonce: Amount
    sig: Signature = ""


class Liquidate(_Msg, tag="liquidate", frozen=True, kw_only=True):
    """Fixed: repay ``repay`` numeraire units of the debt and seize collateral plus bonus."""

    auction: Amount
    keeper: KeeperId
    repay: Amount
    priority_fee: Amount = 0  # in 1e-3 gwei
    nonce: Amount
    deadline_ms: Amount
    sig: Signature = ""


class Register(_Msg, tag="register", frozen=True, kw_only=True):
    """Binds ``pubkey`` to ``keeper``; signed by that very key (proof of possession)."""

    keeper: KeeperId
    pubkey: Digest
    nonce: Amount
    sig: Signature = ""


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
_decoder: Final = msgspec.json.Decoder(Message, dec_hook=_decode_terms)


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
