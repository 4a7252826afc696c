"""Changing a loaded scenario: ``--set`` keys (``with_overrides``) and a user's price file (``with_prices``).

An override edits the scenario's plain data (``to_dict``) and decodes it again, so it is checked exactly
like a file; its errors name the override.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from auction import designs as registry
from auction.errors import ConfigError
from auction.scenario.parse import csv_columns, from_raw
from auction.scenario.schema import (
    chosen,
    field_type,
    file_info,
    is_array_of_tables,
    is_table,
    item_type,
    keys,
    to_dict,
)
from auction.scenario.tables import TAGGED_TABLES, CsvPrices, Scenario


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """A copy with dotted keys replaced: ``{"dutch.buf": 1.1, "oracle.hop_s": 600, "keepers.0.count": 3}``.

    ``dutch``/``sealed``/``english``/``fixed`` (and ``sealed-first``/``sealed-second``) are short for
    ``designs.X``. The result is checked like a file; errors name the override.
    """
    if not overrides:
        return scenario
    raw = to_dict(scenario)
    paths = {key: split_key(key) for key in overrides}
    for key, value in overrides.items():
        _set_dotted(raw, paths[key], value, key)
    _drop_other_tags_keys(raw, {tuple(p) for p in paths.values()})
    text = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return from_raw(raw, label=f"{scenario.name} with --set {text}", origin=scenario.origin,
                    default_name=scenario.name)


def split_key(key: str) -> list[str]:
    """``dutch.buf`` -> ["designs", "dutch", "buf"]; checks that the key exists in the schema."""
    parts = key.split(".")
    if parts[0] in registry.names():
        parts = ["designs", registry.get(parts[0]).table, *parts[1:]]
    elif parts[0] in keys(field_type(file_info(), "designs") or mi.AnyType()):
        parts = ["designs", *parts]
    _check_key_path(parts, key)
    return parts


def with_prices(scenario: Scenario, csv_path: str | Path) -> Scenario:
    """Replace the price source by a user CSV (``unix_ts``, ``close``); malformed files are refused by
    ``auction.models.prices.load_csv``. Gas data and pool reserves the file does not carry fall back to the
    scenario's fixed gas price and a configured depth."""
    path = Path(csv_path)
    if not path.is_file():
        raise ConfigError(f"--prices {csv_path}: no such file")
    prices = CsvPrices(file=str(csv_path), asset=scenario.prices.asset, column="close")
    columns = csv_columns(path)
    gas, market = scenario.gas, scenario.market
    if gas.source == "data" and columns is not None and gas.column not in columns:
        gas = msgspec.structs.replace(gas, source="fixed")
    if market.kind == "reserves" and columns is not None and not {
        market.reserve_num_column, market.reserve_col_column
    } <= columns:
        market = msgspec.structs.replace(market, kind="depth")
    return msgspec.structs.replace(scenario, prices=prices, gas=gas, market=market, csv_path=str(path.resolve()))


def _drop_other_tags_keys(raw: dict[str, Any], given: set[tuple[str, ...]]) -> None:
    """A new price source or oracle kind drops the old one's keys (unless they were set here too)."""
    for table, (tag, _) in TAGGED_TABLES.items():
        if (table, tag) not in given:
            continue
        member = chosen(field_type(file_info(), table) or mi.AnyType(), raw[table])
        if isinstance(member, mi.StructType):
            allowed = keys(member)
            raw[table] = {k: v for k, v in raw[table].items() if k in allowed or (table, k) in given}


def _check_key_path(parts: list[str], key: str) -> None:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"--set {key}: {msg}")

    top = {f.encode_name: f.type for f in file_info().fields}
    scalars = [name for name, t in top.items() if not is_table(t) and not is_array_of_tables(t)]
    tables = [name for name, t in top.items() if is_table(t) and name != "designs"]
    designs = keys(top["designs"])
    head = parts[0]
    if len(parts) == 1:
        if head not in scalars:
            raise bad(f"unknown key; use TABLE.KEY (tables: {', '.join(tables)}, designs) or one of "
                      f"{', '.join(scalars)}")
        return
    if head == "designs":
        if len(parts) != 3 or parts[1] not in designs:
            raise bad(f"use DESIGN.KEY with DESIGN one of {', '.join(designs)}")
        table = field_type(top["designs"], parts[1])
    elif head == "keepers":
        if len(parts) != 3 or not parts[1].isdigit():
            raise bad("use keepers.INDEX.KEY (INDEX from 0)")
        table = item_type(top["keepers"])
    elif head in tables and len(parts) == 2:
        table = top[head]
    else:
        raise bad(f"unknown table; tables: {', '.join(tables)}, keepers, {', '.join(designs)}")
    names = keys(table or mi.AnyType())
    if parts[-1] not in names:
        raise bad(f"unknown key {parts[-1]!r}; allowed: {', '.join(names)}")


def _set_dotted(raw: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    node: Any = raw
    for part in parts[:-1]:
        if isinstance(node, list):
            index = int(part)
            if index >= len(node):
                raise ConfigError(f"--set {key}: the scenario has {len(node)} keeper entries")
            node = node[index]
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value
