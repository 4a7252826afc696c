"""The typed scenario: msgspec decoding, its one-line errors and the round trip of every bundled scenario."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from auction import designs as registry
from auction.designs.dutch import DutchParams
from auction.errors import ConfigError
from auction.scenario.load import list_scenarios, load_scenario, scenario_from_toml, to_dict, with_overrides
from auction.scenario.parse import from_raw
from auction.scenario.schema import file_schema
from auction.scenario.tables import ChainlinkOracleConfig, GbmPrices, JumpPrices, Scenario
from keepers.loader import check_keepers

GBM = "[prices]\nsource = 'gbm'\n"


def load_one_line(tmp_path: Path, body: str) -> str:
    """Load ``body`` as a file; its error must be one line that starts with the file's path."""
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        check_keepers(load_scenario(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


# Each case: (what, file body, the key the line must name, what it must say).
CASES = [
    ("tagged unknown key", GBM + "[oracle]\nkind = 'instant'\nhop_s = 60",
     "[oracle] hop_s", "not used by kind 'instant'; keys for it: kind"),
    ("other source's key", GBM + "lam = 3", "[prices] lam", "not used by source 'gbm'; keys for it: source, asset,"),
    ("unknown key", GBM + "[gas]\ngweii = 3", "[gas] gweii", "unknown key; allowed: source, gwei, column,"),
    ("keeper unknown key", GBM + "[[keepers]]\nstrategy = 'universal'\n[[keepers]]\nstrategy = 'universal'\nfoo = 1",
     "[[keepers]] #2 foo", "unknown key; allowed: strategy, count,"),
    ("wrong type", GBM + "s0 = '100'", "[prices] s0", "must be a number, got a string '100'"),
    ("float for int", GBM + "steps = 12.5", "[prices] steps", "must be an integer, got a number 12.5"),
    ("bool for number", GBM + "[accounts]\ndebt_mean = true", "[accounts] debt_mean",
     "must be a number, got a boolean True"),
    ("number for bool", GBM + "[accounts]\nvol_adjusted = 1", "[accounts] vol_adjusted", "must be true or false"),
    ("not a table", "oracle = 'instant'\n" + GBM, "[oracle]", "must be a table, got a string"),
    ("out of range", GBM + "[accounts]\ndebt_mean = -1", "[accounts] debt_mean", "must be > 0, got -1.0"),
    ("out of range int", GBM + "[designs.sealed]\nrounds = 0", "[designs.sealed] rounds", "must be >= 1, got 0"),
    ("upper bound", GBM + "[designs.fixed]\nbonus = 1.0", "[designs.fixed] bonus", "must be < 1, got 1.0"),
    ("unknown source", "[prices]\nsource = 'pyth'", "[prices] source", "must be one of csv, gbm, jump, got 'pyth'"),
    ("unknown kind", GBM + "[oracle]\nkind = 'pyth'", "[oracle] kind",
     "must be one of instant, delayed, chainlink, got 'pyth'"),
    ("missing required key", "[prices]\nsource = 'csv'\nasset = 'ETH'", "[prices] file", "missing key"),
    ("keeper missing key", GBM + "[[keepers]]\ncount = 2", "[[keepers]] #1 strategy", "missing key"),
    ("nan", GBM + "mu = nan", "[prices] mu", "must be a finite number, got nan"),
    ("inf in a range", GBM + "[designs.fixed]\nbonus = inf", "[designs.fixed] bonus",
     "must be a finite number, got inf"),
    ("-inf", GBM + "[house]\ninsurance_fund = -inf", "[house] insurance_fund", "must be a finite number, got -inf"),
    ("derived key", "[prices]\nfile = 'x.csv'\npath = '/etc/passwd'", "[prices] path", "unknown key"),
    ("derived top key", "origin = 'x'\n" + GBM, "origin", "unknown key; allowed: name, description,"),
]


@pytest.mark.parametrize(("case", "body", "key", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_file_and_key(tmp_path: Path, case: str, body: str, key: str,
                                                   expected: str) -> None:
    message = load_one_line(tmp_path, body)
    assert f": {key}: {expected}" in message, message


@pytest.mark.parametrize(("override", "expected"), [
    ({"oracle.hopp_s": 1}, "--set oracle.hopp_s: unknown key 'hopp_s'; allowed: kind, hop_s, deviation,"),
    ({"prices.path": "/tmp/x.csv"}, "--set prices.path: unknown key 'path'"),  # derived: not settable
    ({"keepers.0.strategi": "x"}, "--set keepers.0.strategi: unknown key 'strategi'; allowed: strategy,"),
    ({"sealed-first.reservee": 1}, "--set sealed-first.reservee: unknown key 'reservee'; allowed: commit_s,"),
    ({"origin": "x"}, "--set origin: unknown key; use TABLE.KEY"),
])
def test_set_of_an_unknown_key_is_one_line(override: dict[str, object], expected: str) -> None:
    calm = scenario_from_toml(GBM + "[[keepers]]\nstrategy = 'universal'\n", label="calm")
    with pytest.raises(ConfigError) as info:
        with_overrides(calm, override)
    assert str(info.value).startswith(expected) and "\n" not in str(info.value), info.value


def test_set_of_a_bad_value_names_the_scenario_and_key() -> None:
    calm = scenario_from_toml(GBM, label="calm")
    with pytest.raises(ConfigError, match=r"^calm with --set oracle\.hop_s=60: \[oracle\] hop_s: not used by kind "
                                          r"'instant'; keys for it: kind$"):
        with_overrides(calm, {"oracle.hop_s": 60})


# --- decoding ---------------------------------------------------------------------------------------------


def test_tagged_tables_decode_to_their_member() -> None:
    s = scenario_from_toml("[prices]\nsource = 'jump'\nlam = 3\n[oracle]\nkind = 'chainlink'\nheartbeat_s = 60\n")
    assert isinstance(s.prices, JumpPrices) and s.prices.source == "jump" and s.prices.lam == 3.0
    assert isinstance(s.oracle, ChainlinkOracleConfig) and s.oracle.kind == "chainlink"
    assert s.oracle.heartbeat_s == 60.0 and isinstance(s.oracle.heartbeat_s, float)  # ints are taken for floats


def test_an_ipv_scenario_needs_no_prices() -> None:
    s = scenario_from_toml("[ipv]\nlots = 10\n")
    assert s.prices == GbmPrices(sigma=0.0)


def test_derived_fields_stay_out_of_the_file_shape(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("unix_ts,close\n1,100\n2,99\n")
    s = scenario_from_toml("[prices]\nfile = 'p.csv'\n", label="mine", base_dir=tmp_path)
    assert s.csv_path == str((tmp_path / "p.csv").resolve()) and s.origin
    d = to_dict(s)
    assert d["prices"] == {"source": "csv", "file": "p.csv", "asset": "ETH", "column": "close"}
    assert "origin" not in d and "csv_path" not in d
    assert "csv_path" not in file_schema().__struct_fields__ and "origin" not in file_schema().__struct_fields__


def test_the_design_tables_come_from_the_registry() -> None:
    schema_designs = msgspec.inspect.type_info(file_schema()).fields[-1]  # type: ignore[attr-defined]
    assert schema_designs.name == "designs"
    assert [f.name for f in schema_designs.type.fields] == list(registry.tables()) == [
        "dutch", "sealed", "english", "fixed",
        "perp_market", "perp_dutch", "perp_sealed", "perp_takeover", "perp_backstop"]
    assert list(registry.defaults()) == list(registry.tables())


def test_params_decode_with_their_constraints() -> None:
    assert msgspec.convert({"buf": 1, "curve": "linear"}, DutchParams, strict=True) == DutchParams(buf=1.0,
                                                                                                 curve="linear")
    with pytest.raises(msgspec.ValidationError, match="unknown field `bof`"):
        msgspec.convert({"bof": 1}, DutchParams, strict=True)
    with pytest.raises(msgspec.ValidationError, match=r"Expected `float` >= 1"):
        msgspec.convert({"chop": 0.9}, DutchParams, strict=True)


@pytest.mark.parametrize("name", [n for n, _ in list_scenarios()])
def test_round_trip_of_every_bundled_scenario(name: str) -> None:
    """to_dict -> TOML-like data -> decode gives an equal Scenario (reports embed to_dict)."""
    s = load_scenario(name)
    plain = to_dict(s)
    assert from_raw(plain, label=name, origin=s.origin, default_name="unused") == s
    # the same data as a TOML file would give it: every key is a TOML value
    assert tomllib.loads(_toml(plain)) == plain


def _toml(data: dict[str, object], table: str = "") -> str:
    """Just enough TOML for the round trip (scalars, tables, arrays of tables, inline config tables)."""
    def is_table(k: str, v: object) -> bool:
        return isinstance(v, dict) and k != "config"  # a strategy's config is written inline

    scalars = [f"{k} = {_value(v)}" for k, v in data.items() if not is_table(k, v) and not isinstance(v, list)]
    out = ([f"[{table}]"] if table else []) + scalars
    for k, v in data.items():
        name = f"{table}.{k}" if table else k
        if isinstance(v, dict) and is_table(k, v):
            out.append(_toml(v, name))
        elif isinstance(v, list):
            out += [f"[[{name}]]\n" + _toml(item).strip() for item in v]
    return "\n".join(out) + "\n"


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def test_scenario_is_a_frozen_struct() -> None:
    s = Scenario(name="x")
    with pytest.raises(AttributeError):
        s.name = "y"  # type: ignore[misc]
