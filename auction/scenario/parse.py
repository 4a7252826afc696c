"""TOML data -> ``Scenario``: decode with msgspec, then what a schema cannot say.

After decoding: no inf or nan anywhere, the csv file found (``csv_path``) with the named column, strategy
files found, and the tables consistent with each other (collateral ratios, gas and market data that only a
csv file carries, the IPV bidder count). Every problem is one ``ConfigError`` line prefixed by the label.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from auction.errors import ConfigError
from auction.scenario.errors import Bad, explain, where
from auction.scenario.perp_book import tier_table
from auction.scenario.schema import decode, non_finite
from auction.scenario.tables import TAGGED_TABLES, CsvPrices, KeeperSpec, PerpConfig, PricesConfig, Scenario

DATA_DIR = Path(__file__).parents[1] / "data"


def from_raw(raw: Mapping[str, Any], *, label: str, origin: str, default_name: str) -> Scenario:
    """The scenario a file's TOML data describes; ``origin`` is the file (relative paths start next to it)."""
    try:
        return _build(raw, origin=origin, default_name=default_name)
    except Bad as exc:
        raise ConfigError(f"{label}: {exc}") from None


def _build(raw: Mapping[str, Any], *, origin: str, default_name: str) -> Scenario:
    data = _with_defaults(raw, default_name)
    try:
        tables, designs = decode(data)
    except msgspec.ValidationError as exc:
        raise Bad(explain(exc, data)) from None
    _check_finite({**tables, **{f"designs.{name}": params for name, params in designs.items()}})
    base_dir = Path(origin).parent if origin else Path.cwd()
    csv_path = _csv_path(tables["prices"], base_dir)
    keepers = tuple(_keeper(spec, i, base_dir) for i, spec in enumerate(tables.pop("keepers")))
    scenario = Scenario(**tables, keepers=keepers, designs=designs, origin=origin, csv_path=csv_path)
    _check_consistency(scenario)
    return scenario


def _with_defaults(raw: Mapping[str, Any], default_name: str) -> dict[str, Any]:
    """What a missing name, [prices] table or tag means (a tagged union needs its tag to decode)."""
    if "prices" not in raw and "ipv" not in raw:
        raise Bad("[prices]: missing table: every scenario needs a price source (csv, gbm or jump)")
    data = {"name": default_name, **raw}
    for table, (tag, default) in TAGGED_TABLES.items():
        if isinstance(data.get(table), dict):
            data[table] = {tag: default, **data[table]}
    return data


def _check_finite(tables: Mapping[str, Any]) -> None:
    for name, value in tables.items():
        found = non_finite(value, (name,))
        if found:
            path, number = found
            raise Bad(f"{where(path[:-1], path[-1])}: must be a finite number, got {number!r}")


def _csv_path(prices: PricesConfig, base_dir: Path) -> str:
    if not isinstance(prices, CsvPrices):
        return ""
    path = resolve_data(prices.file, base_dir)
    if path is None:
        bundled = ", ".join(sorted(p.name for p in DATA_DIR.glob("*.csv"))) or "none"
        raise Bad(f"[prices] file: {prices.file!r} not found (next to the scenario, or bundled: {bundled})")
    columns = csv_columns(path)
    if columns is not None and prices.column not in columns:
        raise Bad(f"[prices] column: {prices.column!r} is not a column of {path.name} ({', '.join(sorted(columns))})")
    return str(path)


def _keeper(spec: KeeperSpec, index: int, base_dir: Path) -> KeeperSpec:
    """A ``file.py:Class`` strategy resolved next to the scenario (built-ins: ``keepers.loader.check_keepers``)."""
    if ".py:" not in spec.strategy:
        return spec
    file, _, cls = spec.strategy.rpartition(":")
    path = Path(file) if Path(file).is_absolute() else base_dir / file
    if path.is_file():
        return msgspec.structs.replace(spec, strategy=f"{path.resolve()}:{cls}")
    if Path(file).is_file():  # relative to the working directory
        return spec
    raise Bad(f"{where(('keepers', index), 'strategy')}: file {file!r} not found "
              "(next to the scenario or in the working directory)")


def _check_consistency(s: Scenario) -> None:
    a = s.accounts
    if a.cr_low > a.cr_high:
        raise Bad(f"[accounts] cr_low: must be <= cr_high ({a.cr_high}), got {a.cr_low}")
    if a.cr_low < a.liquidation_ratio:
        raise Bad(f"[accounts] cr_low: must be >= liquidation_ratio ({a.liquidation_ratio}), got {a.cr_low}:"
                  " accounts would start liquidatable")
    if s.ipv is not None and s.keepers and sum(k.count for k in s.keepers) != s.ipv.bidders:
        raise Bad(f"[[keepers]]: an IPV scenario needs exactly [ipv] bidders = {s.ipv.bidders} keepers, "
                  f"got {sum(k.count for k in s.keepers)}")
    _check_csv_data(s)
    if s.perp is not None:
        _check_perp(s.perp)


def _check_perp(p: PerpConfig) -> None:
    """The tier table is valid and no trader starts liquidatable."""
    try:
        table = tier_table(p)
    except ConfigError as exc:
        raise Bad(f"[perp] tiers: {exc}") from None
    if p.leverage_low > p.leverage_high:
        raise Bad(f"[perp] leverage_low: must be <= leverage_high ({p.leverage_high}), got {p.leverage_low}")
    top = float(1 / table.mmr[0])
    if p.leverage_high >= top:
        raise Bad(f"[perp] leverage_high: must be below 1 / mmr of the first tier ({top:g}), got {p.leverage_high}:"
                  " positions would start liquidatable")


def _check_csv_data(s: Scenario) -> None:
    """Gas prices and pool reserves from data need csv prices that carry those columns."""
    columns = csv_columns(Path(s.csv_path)) if s.csv_path else None
    csv_name = Path(s.csv_path).name
    if s.gas.source == "data":
        if not s.csv_path:
            raise Bad(f"[gas] source: 'data' needs csv prices, but [prices] source is {s.prices.source!r}")
        if columns is not None and s.gas.column not in columns:
            raise Bad(f"[gas] column: {s.gas.column!r} is not a column of {csv_name}")
    if s.market.kind == "reserves":
        if not s.csv_path:
            raise Bad(f"[market] kind: 'reserves' needs csv prices, but [prices] source is {s.prices.source!r}")
        for key in ("reserve_num_column", "reserve_col_column"):
            column = getattr(s.market, key)
            if columns is not None and column not in columns:
                raise Bad(f"[market] {key}: {column!r} is not a column of {csv_name}")


def resolve_data(file: str, base_dir: Path) -> Path | None:
    """A data file next to the scenario, bundled (with or without ``.csv``), or from the working directory."""
    candidates = [Path(file)] if Path(file).is_absolute() else [base_dir / file, DATA_DIR / file,
                                                               DATA_DIR / f"{file}.csv", Path(file)]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    return None


def csv_columns(path: Path) -> set[str] | None:
    """The header of a CSV file, or None when it cannot be read (load_csv reports that properly)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return {h.strip() for h in header} if header else None
