"""The building blocks of every wire message: limits, field types (base units, ids, digests, signatures) and
the base Structs. The rules they carry are stated in ``broker.messages`` and PROTOCOL.md.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from msgspec import Meta, Struct

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


class Wire(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Shared config: immutable, keyword-only, unknown fields refused."""


class Msg(Wire, tag_field="type", frozen=True, kw_only=True):
    """Base of every message: a JSON object whose ``type`` names it, with its schema version ``v``."""

    v: Version = VERSION
