"""The shape of a scenario file as a whole: what it decodes into, and the scenario as plain data again.

``file_schema()`` is ``ScenarioFile`` plus a [designs] table with one sub-table per design table the registry
knows (``auction.designs.tables``), so a registered design's table is a valid key without any edit here.
``to_dict`` is the inverse of decoding: the file-shaped dict (what reports embed), without the derived fields;
its [designs] holds the tables of the designs that can run the scenario (vault or perp), not the others.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any, Literal, cast, get_args, get_origin, get_type_hints

import msgspec
import msgspec.inspect as mi

from auction import designs as registry
from auction.scenario.tables import Scenario, ScenarioFile

KeyPath = tuple[str | int, ...]  # a location in the file: ("keepers", 0, "count")


def file_schema() -> type[msgspec.Struct]:
    """The whole file's type for the designs registered now."""
    return _schema(tuple(registry.tables().items()))


def file_info() -> mi.StructType:
    """``file_schema()`` as msgspec's type information (for key checks and error messages)."""
    return _info(file_schema())


@functools.cache
def _schema(tables: tuple[tuple[str, type], ...]) -> type[msgspec.Struct]:
    designs = msgspec.defstruct(
        "DesignsFile", [(name, cls, msgspec.field(default_factory=cls)) for name, cls in tables],
        frozen=True, kw_only=True, forbid_unknown_fields=True, module=__name__,
    )
    return msgspec.defstruct(
        "ScenarioSchema", [("designs", designs, msgspec.field(default_factory=designs))],
        bases=(ScenarioFile,), frozen=True, kw_only=True, forbid_unknown_fields=True, module=__name__,
    )


@functools.cache
def _info(schema: type[msgspec.Struct]) -> mi.StructType:
    return cast(mi.StructType, mi.type_info(schema))


def decode(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode (raises ``msgspec.ValidationError``): the ``ScenarioFile`` fields and the design tables."""
    tables = msgspec.structs.asdict(msgspec.convert(raw, file_schema(), strict=True))
    return tables, msgspec.structs.asdict(tables.pop("designs"))


def to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data (the same shape as its TOML), for reports and round trips."""
    out = {name: _plain(getattr(scenario, name)) for name in ScenarioFile.__struct_fields__}
    out = {k: v for k, v in out.items() if v is not None}
    tables = {d.table for d in registry.REGISTRY.values() if d.book == scenario.book}
    out["designs"] = {name: _plain(params) for name, params in scenario.designs.items() if name in tables}
    return out


def _plain(value: Any) -> Any:
    """Structs as dicts (tag first, None fields left out, as TOML has no null), tuples as lists."""
    if isinstance(value, msgspec.Struct):
        config = type(value).__struct_config__
        out: dict[str, Any] = {config.tag_field: config.tag} if config.tag_field else {}
        for name, key in zip(value.__struct_fields__, value.__struct_encode_fields__, strict=True):
            item = getattr(value, name)
            if item is not None:
                out[key] = _plain(item)  # the key as the file writes it (english-bid)
        return out
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return dict(value)  # a strategy's config: passed on as is
    return value


def non_finite(value: Any, path: KeyPath = ()) -> tuple[KeyPath, float] | None:
    """The first inf or nan among the numbers of decoded tables (TOML allows them; no key does)."""
    for where, item in _numbers(value, path):
        if not math.isfinite(item):
            return where, item
    return None


def _numbers(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, float]]:
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _numbers(getattr(value, name), (*path, name))
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _numbers(item, (*path, i))


# --- keys of the schema --------------------------------------------------------------------------------


def unwrap(info: mi.Type) -> mi.Type:
    """Without ``Meta`` wrappers and without ``None`` (TOML has no null: an optional key is just left out)."""
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        kinds = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(kinds) == 1:
            return unwrap(kinds[0])
    return info


def variants(info: mi.Type) -> list[mi.StructType]:
    """The tables a table type can be: one, or each member of a tagged union."""
    info = unwrap(info)
    if isinstance(info, mi.StructType):
        return [info]
    if isinstance(info, mi.UnionType):
        return [t for t in info.types if isinstance(t, mi.StructType)]
    return []


def keys(info: mi.Type) -> list[str]:
    """Every key a table may hold, in declaration order (a tagged union: its tag, then each member's keys)."""
    out: dict[str, None] = {}
    for struct in variants(info):
        if struct.tag_field:
            out[struct.tag_field] = None
        out.update(dict.fromkeys(f.encode_name for f in struct.fields))
    return list(out)


def field_type(info: mi.Type, key: str) -> mi.Type | None:
    """The type of ``key`` in a table (in any member of a tagged union); None if no member has it."""
    for struct in variants(info):
        if key == struct.tag_field:
            return mi.LiteralType(values=tuple(str(s.tag) for s in variants(info)))
        for f in struct.fields:
            if f.encode_name == key:
                return _declared_order(struct, f)
    return None


def _declared_order(struct: mi.StructType, f: mi.Field) -> mi.Type:
    """msgspec sorts a Literal's values; the declaration's order reads better (linear, stairstep, ...)."""
    if not isinstance(f.type, mi.LiteralType):
        return f.type
    hint = get_type_hints(struct.cls)[f.name]
    return mi.LiteralType(values=get_args(hint)) if get_origin(hint) is Literal else f.type


def chosen(info: mi.Type, value: Any) -> mi.Type:
    """A tagged union narrowed to the member the file's tag names (the union itself when none matches)."""
    members = variants(info)
    if len(members) > 1 and isinstance(value, dict):
        for member in members:
            if member.tag_field and value.get(member.tag_field) == member.tag:
                return member
    return info


def item_type(info: mi.Type) -> mi.Type:
    """The type of an array's items (``Any`` when ``info`` is no array)."""
    info = unwrap(info)
    return info.item_type if isinstance(info, mi.VarTupleType | mi.ListType) else mi.AnyType()


def is_table(info: mi.Type) -> bool:
    return bool(variants(info))


def is_array_of_tables(info: mi.Type) -> bool:
    return is_table(item_type(info))
