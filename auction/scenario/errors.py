"""msgspec's validation errors as liqnet's one line: where in the file, which key, what is wrong.

msgspec says ``Expected `float` > 0.0 - at `$.oracle.hop_s``` or ``Object contains unknown field `foo` -
at `$.keepers[1]```. Users read ``[oracle] hop_s: must be > 0, got -5.0`` and ``[[keepers]] #2 foo: unknown
key; allowed: strategy, count, ...``: the schema (``auction.scenario.schema``) gives the allowed keys,
choices and descriptions, the file's own value completes the sentence. The caller prefixes the file.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import msgspec.inspect as mi

from auction.scenario.schema import (
    KeyPath,
    chosen,
    field_type,
    file_info,
    is_array_of_tables,
    is_table,
    item_type,
    keys,
    unwrap,
    variants,
)


class Bad(Exception):
    """A problem at a place in a scenario; the loader prefixes the file's label to make the one line."""


def where(table: KeyPath, key: str | int | None = None) -> str:
    """``("accounts",), "n"`` -> ``[accounts] n``; ``("keepers", 1)`` -> ``[[keepers]] #2``; ``(), "seed_base"``."""
    label = ""
    if table and isinstance(table[-1], int):
        label = f"[[{'.'.join(map(str, table[:-1]))}]] #{table[-1] + 1}"
    elif table:
        label = f"[{'.'.join(map(str, table))}]"
    return " ".join(str(part) for part in (label, key) if part not in ("", None))


def explain(exc: msgspec.ValidationError, raw: Mapping[str, Any]) -> str:
    """The one line (without the file) for a decoding error of the file whose TOML data is ``raw``."""
    what, path = _split(str(exc))
    for pattern, handler in _HANDLERS:
        match = pattern.fullmatch(what)
        if match:
            return handler(match, path, raw)
    info, _ = locate(path, raw)
    return f"{_place(path, info) or 'file'}: {what}"


def locate(path: KeyPath, raw: Mapping[str, Any]) -> tuple[mi.Type, Any]:
    """The schema type and the file's value at ``path`` (None where the file has nothing)."""
    info: mi.Type = file_info()
    value: Any = raw
    for part in path:
        if isinstance(part, int):
            info = item_type(info)
            value = value[part] if isinstance(value, list) and part < len(value) else None
        else:
            info = field_type(chosen(info, value), part) or mi.AnyType()
            value = value.get(part) if isinstance(value, dict) else None
    return info, value


# --- one handler per kind of msgspec message ---------------------------------------------------------


def _unknown(m: re.Match[str], path: KeyPath, raw: Mapping[str, Any]) -> str:
    key = m["key"]
    info, value = locate(path, raw)
    member = chosen(info, value)
    allowed = ", ".join(keys(member))
    fields = [f for struct in variants(member) for f in struct.fields]
    if path and fields and all(is_table(f.type) for f in fields):  # a table of tables: [designs]
        return f"{where((*path, key))}: unknown {str(path[-1]).removesuffix('s')} table; allowed: {allowed}"
    if isinstance(member, mi.StructType) and member.tag_field and key in keys(info):
        return f"{where(path, key)}: not used by {member.tag_field} {member.tag!r}; keys for it: {allowed}"
    return f"{where(path, key)}: unknown key; allowed: {allowed}"


def _missing(m: re.Match[str], path: KeyPath, raw: Mapping[str, Any]) -> str:
    info, _ = locate((*path, m["key"]), raw)
    hint = _description(info)
    return f"{where(path, m['key'])}: missing key" + (f" ({hint})" if hint else "")


def _wrong_type(m: re.Match[str], path: KeyPath, raw: Mapping[str, Any]) -> str:
    info, value = locate(path, raw)
    want = " or ".join(_TYPE_WORDS.get(t, t) for t in m["want"].split(" | ") if t != "null")
    if m["want"] == "array" and is_array_of_tables(info):
        want = f"an array of tables ([[{path[-1]}]])"
    got = _kind(value) if m["want"] in ("object", "array") else f"{_kind(value)} {value!r}"
    return f"{_place(path, info)}: must be {want}, got {got}"


def _out_of_range(m: re.Match[str], path: KeyPath, raw: Mapping[str, Any]) -> str:
    info, value = locate(path, raw)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{_place(path, info)}: must be a finite number, got {value!r}"
    if m["want"] == "float" and isinstance(value, int):
        value = float(value)  # as the key holds it
    return f"{_place(path, info)}: must be {m['op']} {_number(m['bound'])}, got {value!r}"


def _no_match(m: re.Match[str], path: KeyPath, raw: Mapping[str, Any]) -> str:
    info, value = locate(path, raw)
    return f"{_place(path, info)}: must be {_description(info) or 'of the form ' + m['regex']}, got {value!r}"


def _not_a_choice(m: re.Match[str], path: KeyPath, raw: Mapping[str, Any]) -> str:
    info, value = locate(path, raw)
    choices = unwrap(info)
    if not isinstance(choices, mi.LiteralType):
        return f"{_place(path, info)}: invalid value {value!r}"
    return f"{_place(path, info)}: must be one of {', '.join(map(str, choices.values))}, got {value!r}"


_Handler = Callable[[re.Match[str], KeyPath, Mapping[str, Any]], str]
_HANDLERS: list[tuple[re.Pattern[str], _Handler]] = [
    (re.compile(r"Object contains unknown field `(?P<key>.+)`"), _unknown),
    (re.compile(r"Object missing required field `(?P<key>.+)`"), _missing),
    (re.compile(r"Expected `(?P<want>[^`]+)`, got `[^`]+`"), _wrong_type),
    (re.compile(r"Expected `(?P<want>int|float)` (?P<op>[<>]=?) (?P<bound>\S+)"), _out_of_range),
    (re.compile(r"Expected `str` matching regex (?P<regex>.+)"), _no_match),
    (re.compile(r"Invalid (?:enum )?value .+"), _not_a_choice),
]

_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
               "object": "a table", "array": "an array"}


def _split(text: str) -> tuple[str, KeyPath]:
    """``"what - at `$.keepers[1].count`"`` -> ("what", ("keepers", 1, "count")); no location: the top."""
    what, sep, at = text.partition(" - at `$")
    if not sep:
        return text, ()
    parts = re.findall(r"\.([^.\[`]+)|\[(\d+)\]", at.rstrip("`"))
    return what, tuple(int(index) if index else name for name, index in parts)


def _place(path: KeyPath, info: mi.Type) -> str:
    """Where a value is: a whole table (``[prices]``) or a key in one (``[prices] s0``)."""
    if not path or is_table(info):
        return where(path)
    return where(path[:-1], path[-1])


def _description(info: mi.Type) -> str:
    while isinstance(info, mi.Metadata):
        described = (info.extra_json_schema or {}).get("description")
        if described:
            return str(described)
        info = info.type
    return ""


def _kind(value: Any) -> str:
    """A TOML value's kind in words (TOML dates and times arrive as datetime objects)."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table", dt.datetime: "a date-time", dt.date: "a date", dt.time: "a time"}.get(
        type(value), type(value).__name__)


def _number(text: str) -> str:
    """A bound as the schema wrote it: ``0.0`` -> ``0``, ``0.005`` stays."""
    x = float(text)
    return str(int(x)) if x.is_integer() else text
