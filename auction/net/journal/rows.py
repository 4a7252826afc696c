"""What the journal holds: rows (``Entry``), published marks (``Mark``) and the hash chain over rows."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Final, Literal

FORMAT: Final = "liqnet.journal/2"
MARKS_FORMAT: Final = "liqnet.published/1"
KINDS: Final = ("oracle", "block", "action", "finish")
Kind = Literal["oracle", "block", "action", "finish"]
Sync = Literal["normal", "full"]
Access = Literal["auto", "write", "read"]

START_OVER: Final = "or start a new run with a new --journal file"


@dataclass(frozen=True, slots=True)
class Entry:
    """One input of the house, as journaled."""

    kind: Kind
    t: float
    payload: bytes
    batch: int = 0
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Mark:
    """A batch published: its number, its last row and the chain hash there."""

    batch: int
    seq: int
    digest: str


def canonical(seq: int, batch: int, kind: str, t: float, payload: bytes) -> bytes:
    """The bytes a row's hash covers: fixed-width numbers, the kind, then the payload (the only open-ended
    field, last, so no two rows encode alike)."""
    return struct.pack(">qq", seq, batch) + kind.encode() + b"\x00" + struct.pack(">d", t) + payload


def chain(prev: bytes, seq: int, batch: int, kind: str, t: float, payload: bytes) -> bytes:
    return hashlib.sha256(prev + canonical(seq, batch, kind, t, payload)).digest()


def genesis(header_text: str | None) -> bytes:
    """The hash before the first row: the format and the header, so that editing the header breaks row 1."""
    return hashlib.sha256(f"{FORMAT}\n{header_text or ''}".encode()).digest()
