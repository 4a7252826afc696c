"""Auction terms on the wire: what a keeper needs to act without asking.

Each design defines its own terms Struct (``auction.designs``), a subclass of ``WireTerms`` tagged with the
design's table name, and registers it here: the wire layer knows the shape of terms, never the designs.
``decode_terms`` is the decoder's hook for ``Terms`` fields (``broker.messages``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec

from broker.wire_types import Wire


class WireTerms(Wire, tag_field="type", frozen=True, kw_only=True):
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


def decode_terms(tp: type, obj: Any) -> Any:
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
