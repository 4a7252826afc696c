"""Scenarios: one TOML file describes the market, the accounts, the keepers and every design's parameters.

A scenario is a tree of frozen dataclasses built from TOML (``tomllib``) and checked key by key: every
problem is a ``ConfigError`` of ONE line naming the file, the table, the key and what is wrong (an unknown
key lists the allowed ones). Bundled scenarios live in ``auction/scenario/bundled/NAME.toml`` and their
data in ``auction/data/``; any other file is accepted by path.

Units: money in whole numeraire (USD), collateral in whole tokens, times in seconds, ratios as fractions
(``chop`` and ``buf`` are multipliers, as in MakerDAO: 1.13 is a 13% penalty). ``mu``, ``sigma`` and
``lam`` of the synthetic price sources are annual (365-day year).
"""

from __future__ import annotations

import csv
import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from auction.errors import ConfigError
from auction.params import Designs, DutchParams, EnglishParams, FixedParams, HouseParams, SealedParams
from auction.params import key as _key

SCENARIO_DIR = Path(__file__).with_name("bundled")
DATA_DIR = Path(__file__).parents[1] / "data"

# Every design a comparison can run; sealed-first and sealed-second share [designs.sealed].
DESIGNS: tuple[str, ...] = ("dutch", "sealed-first", "sealed-second", "english", "fixed")
DESIGN_TABLE: dict[str, str] = {
    "dutch": "dutch",
    "sealed-first": "sealed",
    "sealed-second": "sealed",
    "english": "english",
    "fixed": "fixed",
}


# --- tables -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PricesConfig:
    """[prices]: where the market price path comes from."""

    source: str = _key("csv", choices=("csv", "gbm", "jump"))
    file: str = _key("")  # csv: a bundled data file name or a path (relative to the scenario file)
    asset: str = _key("ETH")
    column: str = _key("close")  # csv column holding the price
    s0: float = _key(100.0, gt=0)  # gbm/jump: starting price
    mu: float = _key(0.0)  # annual drift
    sigma: float = _key(0.8, ge=0)  # annual volatility
    dt_s: float = _key(600.0, gt=0)  # seconds between samples
    steps: int = _key(144, ge=1, le=10_000_000)
    lam: float = _key(0.0, ge=0)  # jump: jumps per year (Poisson intensity)
    jump_mean: float = _key(0.0)  # jump: mean of the log jump size
    jump_std: float = _key(0.0, ge=0)  # jump: std of the log jump size
    path: str = _key("", internal=True)  # csv: the resolved file path


_PRICE_KEYS: dict[str, tuple[str, ...]] = {
    "csv": ("source", "file", "asset", "column"),
    "gbm": ("source", "asset", "s0", "mu", "sigma", "dt_s", "steps"),
    "jump": ("source", "asset", "s0", "mu", "sigma", "dt_s", "steps", "lam", "jump_mean", "jump_std"),
}


@dataclass(frozen=True, slots=True)
class OracleConfig:
    """[oracle]: the price the protocol sees (instant, Maker OSM-style delayed, Chainlink-style push)."""

    kind: str = _key("instant", choices=("instant", "delayed", "chainlink"))
    hop_s: float = _key(3600.0, gt=0)  # delayed: OSM hop (Maker osm.sol: hop = 1 hour)
    deviation: float = _key(0.005, gt=0, lt=1)  # chainlink: push when the price moves this fraction
    heartbeat_s: float = _key(3600.0, gt=0)  # chainlink: push at least this often


_ORACLE_KEYS: dict[str, tuple[str, ...]] = {
    "instant": ("kind",),
    "delayed": ("kind", "hop_s"),
    "chainlink": ("kind", "deviation", "heartbeat_s"),
}


@dataclass(frozen=True, slots=True)
class GasConfig:
    """[gas]: gas prices and blocks."""

    source: str = _key("fixed", choices=("data", "model", "fixed"))
    gwei: float = _key(50.0, gt=0)  # fixed: the price; model: the base price
    column: str = _key("gas_avg_gwei")  # data: the csv column with gas prices
    spike: float = _key(0.0, ge=0)  # model: gwei * (1 + spike * drawdown from the running peak)
    block_time_s: float = _key(12.0, gt=0)
    block_gas_limit: int = _key(3_000_000, ge=1)  # gas per block available to liquidation transactions


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """[market]: where keepers resell collateral, with price impact."""

    kind: str = _key("depth", choices=("depth", "reserves"))
    depth: float = _key(10_000.0, gt=0)  # depth: tokens on the collateral side of a virtual x*y=k pool
    shrink: float = _key(0.0, ge=0, lt=1)  # fraction of depth lost at the worst drawdown (stress)
    reserve_num_column: str = _key("univ2_ethdai_reserve_dai")  # reserves: numeraire reserve column
    reserve_col_column: str = _key("univ2_ethdai_reserve_weth")  # reserves: collateral reserve column


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    """[accounts]: the borrower population (drawn from the run's seed)."""

    n: int = _key(1000, ge=1, le=50_000_000)
    debt_mean: float = _key(20_000.0, gt=0)  # mean debt per account (lognormal)
    debt_sigma: float = _key(1.0, ge=0)  # lognormal sigma of debt
    cr_low: float = _key(1.6, gt=0)  # starting collateral ratio, uniform in [cr_low, cr_high]
    cr_high: float = _key(3.0, gt=0)
    liquidation_ratio: float = _key(1.5, gt=1)  # Maker mat; maintenance margin mm = 1 - 1/ratio
    cross_share: float = _key(0.0, ge=0, le=1)  # share of cross-margin accounts
    vol_adjusted: bool = _key(False)  # volatility-adjusted margin mm(t) = max(floor, k*sigma*sqrt(h))
    vol_k: float = _key(3.0, gt=0)
    vol_horizon_s: float = _key(3600.0, gt=0)


@dataclass(frozen=True, slots=True)
class HouseConfig:
    """[house]: liquidation capacity and backstops."""

    max_kicks_per_block: int = _key(20, ge=1)  # liquidation capacity, in the spirit of Maker's Dog.Hole
    insurance_fund: float = _key(0.0, ge=0)  # USD that absorbs bad debt first
    surplus_buffer: float = _key(0.0, ge=0)  # USD the protocol starts with (pays incentives first)
    drain_s: float = _key(21_600.0, ge=0)  # after the price path ends, auctions run this long
    zero_bid_fraction: float = _key(0.01, ge=0, lt=1)  # a fill under this fraction of market is a zero bid


_GAS_POLICY_RE = re.compile(r"^(market|fixed:\d+(\.\d*)?)$")
_SPEC_RE = re.compile(r"^([a-z][a-z0-9-]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*|.+\.py:[A-Za-z_]\w*)$")


@dataclass(frozen=True, slots=True)
class KeeperSpec:
    """One [[keepers]] entry: ``count`` keepers running ``strategy`` (built-in name, module:Class, file.py:Class).

    Only the spec's syntax is checked here; ``keepers.loader.check_keepers`` checks built-in names and config.
    """

    strategy: str = _key()
    count: int = _key(1, ge=1, le=10_000)
    capital: float = _key(1_000_000.0, gt=0)  # USD each
    latency_s: float = _key(1.0, ge=0)  # decision -> transaction sent
    gas_policy: str = _key("market")  # "market": pay the going gas price; "fixed:GWEI": never more (then wait)
    config: dict[str, Any] = field(default_factory=dict, hash=False)  # passed to the strategy as is


@dataclass(frozen=True, slots=True)
class IpvConfig:
    """[ipv]: independent-private-values calibration: ``lots`` single-unit auctions, values U[0, value_scale]."""

    lots: int = _key(4000, ge=1, le=10_000_000)
    bidders: int = _key(4, ge=2, le=1000)
    value_scale: float = _key(100.0, gt=0)
    oracle_price: float | None = _key(None, gt=0)  # what fixed posts from; default value_scale


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    prices: PricesConfig = field(default_factory=PricesConfig)
    oracle: OracleConfig = field(default_factory=OracleConfig)
    gas: GasConfig = field(default_factory=GasConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    house: HouseConfig = field(default_factory=HouseConfig)
    keepers: tuple[KeeperSpec, ...] = ()
    designs: Designs = field(default_factory=Designs)
    ipv: IpvConfig | None = None
    duration_s: float | None = None  # default: the length of the price path
    seed_base: int = 0
    origin: str = ""  # the file it was loaded from; not part of reports

    def design(self, design: str) -> DutchParams | SealedParams | EnglishParams | FixedParams:
        """The parameter table a design runs with (sealed-first and sealed-second share one)."""
        table: DutchParams | SealedParams | EnglishParams | FixedParams = getattr(
            self.designs, DESIGN_TABLE[check_design(design)]
        )
        return table


_TABLES: dict[str, type] = {
    "prices": PricesConfig,
    "oracle": OracleConfig,
    "gas": GasConfig,
    "market": MarketConfig,
    "accounts": AccountsConfig,
    "house": HouseConfig,
    "ipv": IpvConfig,
}
_DESIGN_TABLES: dict[str, type] = {"dutch": DutchParams, "sealed": SealedParams, "english": EnglishParams,
                                   "fixed": FixedParams}
_TOP_SCALARS = {"name": str, "description": str, "duration_s": float, "seed_base": int}
_TOP_KEYS = (*_TOP_SCALARS, *_TABLES, "keepers", "designs")


# --- public API ---------------------------------------------------------------------------------------


def check_design(design: str) -> str:
    if design not in DESIGN_TABLE:
        raise ConfigError(f"unknown design {design!r}: choose from {', '.join(DESIGNS)}")
    return design


def parse_designs(text: str) -> tuple[str, ...]:
    """``"dutch,english"`` -> ("dutch", "english"), each checked, duplicates dropped, order kept."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError(f"--designs: no design given: choose from {', '.join(DESIGNS)}")
    return tuple(dict.fromkeys(check_design(n) for n in names))


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
    return _from_raw(raw, label=str(path), origin=str(path.resolve()), default_name=path.stem)


def scenario_from_toml(text: str, *, label: str = "<string>", base_dir: str | Path = ".") -> Scenario:
    """Build a scenario from TOML text (tests, notebooks); relative data paths resolve from ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: invalid TOML: {exc}") from None
    origin = str(Path(base_dir).resolve() / f"{label}.toml")
    return _from_raw(raw, label=label, origin=origin, default_name=label)


def to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data (the same shape as its TOML), for reports and round trips."""
    out: dict[str, Any] = {"name": scenario.name, "description": scenario.description, "seed_base": scenario.seed_base}
    if scenario.duration_s is not None:
        out["duration_s"] = scenario.duration_s
    for key in ("prices", "oracle", "gas", "market", "accounts", "house"):
        out[key] = _table_dict(getattr(scenario, key))
    # Only the keys the chosen source and oracle kind use, so the dict reads back as a valid file.
    out["prices"] = {k: v for k, v in out["prices"].items() if k in _PRICE_KEYS[scenario.prices.source]}
    out["oracle"] = {k: v for k, v in out["oracle"].items() if k in _ORACLE_KEYS[scenario.oracle.kind]}
    if scenario.ipv is not None:
        out["ipv"] = _table_dict(scenario.ipv)
    out["keepers"] = [_table_dict(k) for k in scenario.keepers]
    out["designs"] = {name: _table_dict(getattr(scenario.designs, name)) for name in _DESIGN_TABLES}
    return out


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
    # A new price source or oracle kind drops the old one's keys (unless they were set here too).
    given = {tuple(p) for p in paths.values()}
    for table, selector, keys in (("prices", "source", _PRICE_KEYS), ("oracle", "kind", _ORACLE_KEYS)):
        chosen = raw[table].get(selector)
        if (table, selector) in given and chosen in keys:
            raw[table] = {k: v for k, v in raw[table].items() if k in keys[chosen] or (table, k) in given}
    text = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return _from_raw(raw, label=f"{scenario.name} with --set {text}", origin=scenario.origin,
                     default_name=scenario.name)


def split_key(key: str) -> list[str]:
    """``dutch.buf`` -> ["designs", "dutch", "buf"]; checks that the key exists in the schema."""
    parts = key.split(".")
    head = parts[0]
    if head in DESIGN_TABLE:
        parts = ["designs", DESIGN_TABLE[head], *parts[1:]]
    elif head in _DESIGN_TABLES:
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
    prices = dataclasses.replace(scenario.prices, source="csv", file=str(csv_path), column="close",
                                 path=str(path.resolve()))
    columns = _csv_columns(path)
    gas, market = scenario.gas, scenario.market
    if gas.source == "data" and columns is not None and gas.column not in columns:
        gas = dataclasses.replace(gas, source="fixed")
    if market.kind == "reserves" and columns is not None and not {
        market.reserve_num_column, market.reserve_col_column
    } <= columns:
        market = dataclasses.replace(market, kind="depth")
    return dataclasses.replace(scenario, prices=prices, gas=gas, market=market)


def house_params(scenario: Scenario) -> HouseParams:
    """``auction.params.HouseParams`` from [house] and the block settings of [gas]."""
    return HouseParams(block_time_s=scenario.gas.block_time_s, block_gas_limit=scenario.gas.block_gas_limit,
                       **_table_dict(scenario.house))


# --- building and checking ----------------------------------------------------------------------------


class _Bad(Exception):
    """A problem at a location inside the file; turned into one ConfigError line with the file's label."""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _from_raw(raw: dict[str, Any], *, label: str, origin: str, default_name: str) -> Scenario:
    try:
        return _build(raw, origin=origin, default_name=default_name)
    except _Bad as exc:
        raise ConfigError(f"{label}: {exc}") from None


def _build(raw: dict[str, Any], *, origin: str, default_name: str) -> Scenario:
    for key in raw:
        if key not in _TOP_KEYS:
            raise _Bad(f"{key}: unknown key; allowed: {', '.join(_TOP_KEYS)}")
    top = {k: _coerce(raw[k], tp, {}, k) for k, tp in _TOP_SCALARS.items() if k in raw}
    if "duration_s" in top and top["duration_s"] <= 0:
        raise _Bad(f"duration_s: must be > 0, got {top['duration_s']!r}")
    if "seed_base" in top and top["seed_base"] < 0:
        raise _Bad(f"seed_base: must be >= 0, got {top['seed_base']!r}")
    tables = {k: _table(cls, raw[k], f"[{k}]") for k, cls in _TABLES.items() if k in raw}
    if "prices" not in raw and "ipv" not in raw:
        raise _Bad("[prices]: missing table: every scenario needs a price source (csv, gbm or jump)")
    if "prices" not in raw:  # an IPV calibration needs no market path: a flat one will do
        tables["prices"] = PricesConfig(source="gbm", sigma=0.0)
    base_dir = Path(origin).parent if origin else Path.cwd()
    tables["prices"] = _check_prices(raw.get("prices", {}), tables["prices"], base_dir)
    _check_oracle(raw.get("oracle", {}), tables.get("oracle", OracleConfig()))
    scenario = Scenario(
        name=top.get("name", default_name),
        description=top.get("description", ""),
        keepers=_keepers(raw.get("keepers", []), base_dir),
        designs=_designs(raw.get("designs", {})),
        duration_s=top.get("duration_s"),
        seed_base=top.get("seed_base", 0),
        origin=origin,
        **tables,
    )
    _check_consistency(scenario)
    return scenario


def _table(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise _Bad(f"{where}: must be a table, got {_kind(raw)}")
    hints = get_type_hints(cls)
    allowed = [f.name for f in fields(cls) if not f.metadata.get("internal")]
    for key in raw:
        if key not in allowed:
            raise _Bad(f"{where} {key}: unknown key; allowed: {', '.join(allowed)}")
    values = {}
    for f in fields(cls):
        if f.name in raw:
            values[f.name] = _coerce(raw[f.name], hints[f.name], f.metadata, f"{where} {f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Bad(f"{where} {f.name}: missing key")
    return cls(**values)


def _coerce(value: Any, tp: Any, meta: Mapping[str, Any], where: str) -> Any:
    """Check one value's type and range; ints are accepted where floats are expected."""
    base = _base_type(tp)
    if base is float and isinstance(value, int | float) and not isinstance(value, bool):
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise _Bad(f"{where}: must be a finite number, got {value!r}")
    elif base is dict:
        if not isinstance(value, dict):
            raise _Bad(f"{where}: must be a table, got {_kind(value)}")
    elif not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise _Bad(f"{where}: must be {_type_name(base)}, got {_kind(value)} {value!r}")
    _check_range(value, meta, where)
    return value


def _check_range(value: Any, meta: Mapping[str, Any], where: str) -> None:
    choices = meta.get("choices")
    if choices and value not in choices:
        raise _Bad(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
    for name, ok, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise _Bad(f"{where}: must be {word} {bound}, got {value!r}")


def _base_type(tp: Any) -> type:
    if getattr(tp, "__origin__", None) is dict:
        return dict
    args = [a for a in getattr(tp, "__args__", ()) if a is not type(None)]
    if args:  # X | None -> X
        return _base_type(args[0])
    return tp


def _type_name(tp: type) -> str:
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string"}.get(tp, tp.__name__)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def _check_prices(raw: Mapping[str, Any], prices: PricesConfig, base_dir: Path) -> PricesConfig:
    allowed = _PRICE_KEYS[prices.source]
    for key in raw:
        if key not in allowed:
            raise _Bad(f"[prices] {key}: not used by source {prices.source!r}; keys for it: {', '.join(allowed)}")
    if prices.source != "csv":
        return prices
    if not prices.file:
        raise _Bad("[prices] file: missing key: source 'csv' needs a file (a bundled data name or a path)")
    path = _resolve_data(prices.file, base_dir)
    if path is None:
        bundled = ", ".join(sorted(p.name for p in DATA_DIR.glob("*.csv"))) or "none"
        raise _Bad(f"[prices] file: {prices.file!r} not found (next to the scenario, or bundled: {bundled})")
    columns = _csv_columns(path)
    if columns is not None and prices.column not in columns:
        raise _Bad(f"[prices] column: {prices.column!r} is not a column of {path.name} ({', '.join(sorted(columns))})")
    return dataclasses.replace(prices, path=str(path))


def _check_oracle(raw: Mapping[str, Any], oracle: OracleConfig) -> None:
    allowed = _ORACLE_KEYS[oracle.kind]
    for key in raw:
        if key not in allowed:
            raise _Bad(f"[oracle] {key}: not used by kind {oracle.kind!r}; keys for it: {', '.join(allowed)}")


def _keepers(raw: Any, base_dir: Path) -> tuple[KeeperSpec, ...]:
    if not isinstance(raw, list):
        raise _Bad(f"keepers: must be an array of tables ([[keepers]]), got {_kind(raw)}")
    out = []
    for i, item in enumerate(raw):
        where = f"[[keepers]] #{i + 1}"
        spec = _table(KeeperSpec, item, where)
        if not _SPEC_RE.match(spec.strategy):
            raise _Bad(f"{where} strategy: {spec.strategy!r} is not a built-in name, module:Class or file.py:Class")
        if ".py:" in spec.strategy:
            spec = dataclasses.replace(spec, strategy=_resolve_strategy_file(spec.strategy, base_dir, where))
        if not _GAS_POLICY_RE.match(spec.gas_policy):
            raise _Bad(f"{where} gas_policy: must be 'market' or 'fixed:GWEI' (e.g. fixed:40), got {spec.gas_policy!r}")
        out.append(spec)
    return tuple(out)


def _resolve_strategy_file(spec: str, base_dir: Path, where: str) -> str:
    file, _, cls = spec.rpartition(":")
    path = Path(file) if Path(file).is_absolute() else base_dir / file
    if not path.is_file():
        if Path(file).is_file():  # relative to the working directory
            return spec
        raise _Bad(f"{where} strategy: file {file!r} not found (next to the scenario or in the working directory)")
    return f"{path.resolve()}:{cls}"


def _designs(raw: Any) -> Designs:
    if not isinstance(raw, dict):
        raise _Bad(f"designs: must be a table, got {_kind(raw)}")
    for key in raw:
        if key not in _DESIGN_TABLES:
            raise _Bad(f"[designs.{key}]: unknown design table; allowed: {', '.join(_DESIGN_TABLES)}")
    tables = {k: _table(cls, raw[k], f"[designs.{k}]") for k, cls in _DESIGN_TABLES.items() if k in raw}
    return Designs(**tables)


def _check_consistency(s: Scenario) -> None:
    a = s.accounts
    if a.cr_low > a.cr_high:
        raise _Bad(f"[accounts] cr_low: must be <= cr_high ({a.cr_high}), got {a.cr_low}")
    if a.cr_low < a.liquidation_ratio:
        raise _Bad(f"[accounts] cr_low: must be >= liquidation_ratio ({a.liquidation_ratio}), got {a.cr_low}:"
                   " accounts would start liquidatable")
    csv_columns = _csv_columns(Path(s.prices.path)) if s.prices.source == "csv" else None
    if s.ipv is not None and s.keepers and sum(k.count for k in s.keepers) != s.ipv.bidders:
        raise _Bad(f"[[keepers]]: an IPV scenario needs exactly [ipv] bidders = {s.ipv.bidders} keepers, "
                   f"got {sum(k.count for k in s.keepers)}")
    if s.gas.source == "data":
        if s.prices.source != "csv":
            raise _Bad(f"[gas] source: 'data' needs csv prices, but [prices] source is {s.prices.source!r}")
        if csv_columns is not None and s.gas.column not in csv_columns:
            raise _Bad(f"[gas] column: {s.gas.column!r} is not a column of {Path(s.prices.path).name}")
    if s.market.kind == "reserves":
        if s.prices.source != "csv":
            raise _Bad(f"[market] kind: 'reserves' needs csv prices, but [prices] source is {s.prices.source!r}")
        for key in ("reserve_num_column", "reserve_col_column"):
            column = getattr(s.market, key)
            if csv_columns is not None and column not in csv_columns:
                raise _Bad(f"[market] {key}: {column!r} is not a column of {Path(s.prices.path).name}")


def _resolve_data(file: str, base_dir: Path) -> Path | None:
    candidates = [Path(file)] if Path(file).is_absolute() else [base_dir / file, DATA_DIR / file,
                                                               DATA_DIR / f"{file}.csv", Path(file)]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    return None


def _csv_columns(path: Path) -> set[str] | None:
    """The header of a CSV file, or None when it cannot be read (load_csv reports that properly)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return {h.strip() for h in header} if header else None


def _table_dict(obj: Any) -> dict[str, Any]:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("internal") or value is None:
            continue
        out[f.name] = dict(value) if isinstance(value, dict) else value
    return out


def _check_key_path(parts: list[str], key: str) -> None:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"--set {key}: {msg}")

    head = parts[0]
    if len(parts) == 1:
        if head not in _TOP_SCALARS:
            raise bad(f"unknown key; use TABLE.KEY (tables: {', '.join(_TABLES)}, designs) or one of "
                      f"{', '.join(_TOP_SCALARS)}")
        return
    if head == "designs":
        if len(parts) != 3 or parts[1] not in _DESIGN_TABLES:
            raise bad(f"use DESIGN.KEY with DESIGN one of {', '.join(_DESIGN_TABLES)}")
        cls: type = _DESIGN_TABLES[parts[1]]
    elif head == "keepers":
        if len(parts) != 3 or not parts[1].isdigit():
            raise bad("use keepers.INDEX.KEY (INDEX from 0)")
        cls = KeeperSpec
    elif head in _TABLES and len(parts) == 2:
        cls = _TABLES[head]
    else:
        raise bad(f"unknown table; tables: {', '.join(_TABLES)}, keepers, {', '.join(_DESIGN_TABLES)}")
    names = [f.name for f in fields(cls) if not f.metadata.get("internal")]
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
