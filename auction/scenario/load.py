"""Scenarios: one TOML file describes the market, the accounts, the keepers and every design's parameters.

A file is read with ``tomllib`` and decoded with msgspec into the Structs of ``auction.scenario.tables``
(``auction.scenario.parse``); every problem is a ``ConfigError`` of ONE line naming the file, the table, the
key and what is wrong (an unknown key lists the allowed ones: ``auction.scenario.errors``). Bundled
scenarios live in ``auction/scenario/bundled/NAME.toml`` and their data in ``auction/data/``; any other file
is accepted by path. This module is the public surface: it re-exports the types and the overrides.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from auction.errors import ConfigError
from auction.params import HouseParams
from auction.scenario.overrides import split_key, with_overrides, with_prices
from auction.scenario.parse import DATA_DIR, from_raw
from auction.scenario.schema import to_dict
from auction.scenario.tables import KeeperSpec, Scenario

__all__ = [
    "DATA_DIR",
    "SCENARIO_DIR",
    "KeeperSpec",
    "Scenario",
    "house_params",
    "list_scenarios",
    "load_scenario",
    "scenario_from_toml",
    "split_key",
    "to_dict",
    "with_overrides",
    "with_prices",
]

SCENARIO_DIR = Path(__file__).with_name("bundled")

def list_scenarios() -> list[tuple[str, str]]:
    """Bundled scenarios as (name, description), sorted by name."""
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        raw = _read_toml(path)
        out.append((path.stem, str(raw.get("description", ""))))
    return out


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name (``black-thursday``) or a TOML file by path."""
    text = str(name_or_path)
    bundled = SCENARIO_DIR / f"{text}.toml"
    if "/" not in text and not text.endswith(".toml") and bundled.is_file():
        path = bundled
    else:
        path = Path(text)
        if not path.is_file():
            names = ", ".join(n for n, _ in list_scenarios())
            raise ConfigError(f"scenario {text!r}: no such bundled scenario ({names}) and no such file")
    raw = _read_toml(path)
    return from_raw(raw, label=str(path), origin=str(path.resolve()), default_name=path.stem)


def scenario_from_toml(text: str, *, label: str = "<string>", base_dir: str | Path = ".") -> Scenario:
    """Build a scenario from TOML text (tests, notebooks); relative data paths resolve from ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: invalid TOML: {exc}") from None
    origin = str(Path(base_dir).resolve() / f"{label}.toml")
    return from_raw(raw, label=label, origin=origin, default_name=label)


def gas_units(scenario: Scenario, design: str) -> dict[str, int]:
    """Gas units per action ``design`` takes: the design's own, each replaced by the scenario's [gas] units."""
    from auction.designs import get

    given = scenario.gas.units.table() if scenario.gas.units is not None else {}
    return {tag: given.get(tag, units) for tag, units in get(design).gas.items()}


def house_params(scenario: Scenario) -> HouseParams:
    """``auction.params.HouseParams`` from [house] and the block settings of [gas]."""
    return HouseParams(block_time_s=scenario.gas.block_time_s, block_gas_limit=scenario.gas.block_gas_limit,
                       **msgspec.structs.asdict(scenario.house))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
