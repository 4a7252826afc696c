"""Scenario files: every bundled one loads; every kind of mistake is ONE ConfigError line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction.designs import defaults, parse_designs
from auction.designs import names as design_names
from auction.errors import ConfigError
from auction.scenario.load import (
    Scenario,
    house_params,
    list_scenarios,
    load_scenario,
    scenario_from_toml,
    to_dict,
    with_overrides,
    with_prices,
)
from auction.scenario.tables import (
    ChainlinkOracleConfig,
    CsvPrices,
    DelayedOracleConfig,
    InstantOracleConfig,
    JumpPrices,
)
from keepers.loader import check_keepers

BUNDLED = ("black-thursday", "may-2021", "gbm-calm", "jump-crash", "textbook-ipv")

CSV_HEADER = "unix_ts,iso_utc,open,high,low,close,volume,gas_avg_gwei\n"


@pytest.fixture
def prices_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    rows = [f"{1583971200 + 600 * i},x,1,1,1,{200 - i}.5,1,{10 + i}\n" for i in range(6)]
    path.write_text(CSV_HEADER + "".join(rows))
    return path


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- bundled ------------------------------------------------------------------------------------------


def test_list_scenarios_has_every_bundled_one_with_a_description() -> None:
    listed = dict(list_scenarios())
    assert set(BUNDLED) <= set(listed)
    assert all(listed[name] for name in BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_loads(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name and s.description
    if s.prices.source == "csv":
        assert Path(s.csv_path).is_file()
    assert s.keepers, "every bundled scenario brings a keeper population"
    assert to_dict(s)["name"] == name


def test_black_thursday_is_maker_like() -> None:
    s = load_scenario("black-thursday")
    assert isinstance(s.prices, CsvPrices) and isinstance(s.oracle, DelayedOracleConfig)
    assert s.prices.file == "eth_usd_10m_stablesims_2020-03-12.csv" and s.gas.source == "data"
    assert (s.oracle.kind, s.oracle.hop_s) == ("delayed", 3600.0)
    assert s.accounts.liquidation_ratio == 1.5
    d = s.designs["dutch"]  # ETH-A Clipper: spells-mainnet values
    assert (d.buf, d.curve, d.cut, d.step, d.tail, d.cusp, d.chip, d.tip, d.chop) == (
        1.30, "stairstep", 0.99, 90.0, 8400.0, 0.40, 0.001, 300.0, 1.13)
    e = s.designs["english"]
    # the Flipper in force on 12 March 2020: spells-mainnet archive/2020-03-12-DssSpell ("Existing ttl: 10
    # minutes", "Existing tau: 3 days"), beg and chop from the launch configuration
    assert (e.beg, e.ttl_s, e.tau_s, e.chop) == (1.03, 600.0, 3 * 86_400.0, 1.13)
    assert any(k.strategy == "zero-bid" for k in s.keepers)
    assert any(k.strategy == "maker" and k.config.get("max_gwei") for k in s.keepers)


def test_may_2021_uses_uniswap_reserves() -> None:
    s = load_scenario("may-2021")
    assert s.market.kind == "reserves" and s.gas.source == "data"
    d = s.designs["dutch"]  # ETH-A Clipper on 19 May 2021: spells-mainnet 2021-04-30 (tip 0), dust 5,000 * chop
    assert (d.buf, d.cut, d.step, d.tail, d.cusp, d.chip, d.tip, d.chop, d.chost) == (
        1.30, 0.99, 90.0, 8400.0, 0.40, 0.001, 0.0, 1.13, 5650.0)


def test_textbook_ipv() -> None:
    s = load_scenario("textbook-ipv")
    assert s.ipv is not None and (s.ipv.lots, s.ipv.bidders, s.ipv.value_scale) == (1000, 4, 100.0)
    assert sum(k.count for k in s.keepers) == 4


def test_load_by_path_and_relative_data(tmp_path: Path, prices_csv: Path) -> None:
    path = write(tmp_path, 'description = "mine"\n[prices]\nfile = "prices.csv"\n[gas]\nsource = "data"\n')
    s = load_scenario(str(path))
    assert s.name == "s" and s.description == "mine" and s.origin == str(path.resolve())
    assert s.csv_path == str(prices_csv.resolve())


def test_defaults_fill_missing_tables(tmp_path: Path) -> None:
    s = scenario_from_toml("[prices]\nsource = 'gbm'\n", label="x")
    assert s.oracle == InstantOracleConfig() and s.designs == defaults() and s.keepers == ()


# --- mistakes -----------------------------------------------------------------------------------------

BAD: list[tuple[str, str, str]] = [
    # (case, file body, what the one line must say)
    ("toml", "[prices\nsource = 'gbm'", "invalid TOML"),
    ("unknown top key", "colour = 1\n[prices]\nsource = 'gbm'", "colour: unknown key; allowed: name,"),
    ("unknown table key", "[prices]\nsource = 'gbm'\n[oracle]\nkind = 'delayed'\nhopp_s = 1",
     "[oracle] hopp_s: unknown key; allowed: kind, hop_s"),
    ("key of another kind", "[prices]\nsource = 'gbm'\n[oracle]\nkind = 'instant'\nhop_s = 60",
     "[oracle] hop_s: not used by kind 'instant'"),
    ("price key of another source", "[prices]\nfile = 'prices.csv'\nsigma = 0.5",
     "[prices] sigma: not used by source 'csv'"),
    ("wrong type", "[prices]\nsource = 'gbm'\n[accounts]\nn = 'many'", "[accounts] n: must be an integer"),
    ("bool for number", "[prices]\nsource = 'gbm'\n[designs.dutch]\nbuf = true",
     "[designs.dutch] buf: must be a number"),
    ("not finite", "[prices]\nsource = 'gbm'\n[designs.dutch]\nbuf = nan", "[designs.dutch] buf: must be a finite"),
    ("out of range", "[prices]\nsource = 'gbm'\n[oracle]\nkind = 'delayed'\nhop_s = -5",
     "[oracle] hop_s: must be > 0, got -5.0"),
    ("bad choice", "[prices]\nsource = 'random'", "[prices] source: must be one of csv, gbm, jump"),
    ("bad curve", "[prices]\nsource = 'gbm'\n[designs.dutch]\ncurve = 'cubic'",
     "[designs.dutch] curve: must be one of linear, stairstep, exponential"),
    ("no prices", "[accounts]\nn = 5", "[prices]: missing table"),
    ("no csv file", "[prices]\nsource = 'csv'", "[prices] file: missing key"),
    ("csv not found", "[prices]\nfile = 'nope.csv'", "[prices] file: 'nope.csv' not found"),
    ("csv column", "[prices]\nfile = 'prices.csv'\ncolumn = 'price'", "[prices] column: 'price' is not a column"),
    ("gas data without csv", "[prices]\nsource = 'gbm'\n[gas]\nsource = 'data'", "[gas] source: 'data' needs csv"),
    ("gas column", "[prices]\nfile = 'prices.csv'\n[gas]\nsource = 'data'\ncolumn = 'gas_p99'",
     "[gas] column: 'gas_p99' is not a column"),
    ("reserves without columns", "[prices]\nfile = 'prices.csv'\n[market]\nkind = 'reserves'",
     "[market] reserve_num_column"),
    ("cr order", "[prices]\nsource = 'gbm'\n[accounts]\ncr_low = 3.0\ncr_high = 2.0", "[accounts] cr_low: must be <="),
    ("starts liquidatable", "[prices]\nsource = 'gbm'\n[accounts]\ncr_low = 1.2", "would start liquidatable"),
    ("keepers not array", "keepers = 3\n[prices]\nsource = 'gbm'", "keepers: must be an array of tables"),
    ("keeper missing strategy", "[prices]\nsource = 'gbm'\n[[keepers]]\ncount = 2",
     "[[keepers]] #1 strategy: missing key"),
    ("keeper bad spec", "[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'Bad Name!'",
     "[[keepers]] #1 strategy: must be a built-in name, module:Class or file.py:Class, got 'Bad Name!'"),
    ("keeper unknown builtin", "[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'dutch-threshold'\n"
     "[[keepers]]\nstrategy = 'nope'", "[[keepers]] #2 strategy: unknown built-in 'nope'"),
    ("keeper bad config", "[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'universal'\nconfig = { margn = 0.1 }",
     "[[keepers]] #1 config: universal:"),
    ("keeper missing file", "[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'mine.py:Mine'",
     "[[keepers]] #1 strategy: file 'mine.py' not found"),
    ("gas policy", "[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'universal'\ngas_policy = 'cheap'",
     "[[keepers]] #1 gas_policy: must be 'market' or 'fixed:GWEI'"),
    ("unknown design table", "[prices]\nsource = 'gbm'\n[designs.dutchh]\nbuf = 1.2",
     "[designs.dutchh]: unknown design table; allowed: dutch, sealed, english, fixed"),
    ("ipv bidders", "[ipv]\nbidders = 3\n[[keepers]]\nstrategy = 'universal'\ncount = 4",
     "needs exactly [ipv] bidders = 3 keepers, got 4"),
    ("duration", "duration_s = 0\n[prices]\nsource = 'gbm'", "duration_s: must be > 0"),
]


@pytest.mark.parametrize(("case", "body", "expected"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_scenario_is_one_line(tmp_path: Path, prices_csv: Path, case: str, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        check_keepers(load_scenario(str(path)))  # built-in names and configs: checked by the keepers package
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_the_scenario_alone_leaves_built_in_names_to_the_keepers_package() -> None:
    s = scenario_from_toml("[prices]\nsource = 'gbm'\n[[keepers]]\nstrategy = 'nope'\n", label="x")
    assert s.keepers[0].strategy == "nope"
    with pytest.raises(ConfigError, match=r"x\.toml: \[\[keepers\]\] #1 strategy: unknown built-in 'nope'"):
        check_keepers(s)


def test_missing_scenario() -> None:
    with pytest.raises(ConfigError, match=r"no such bundled scenario .*black-thursday.* and no such file"):
        load_scenario("black-tuesday")


# --- overrides ----------------------------------------------------------------------------------------


@pytest.fixture
def calm() -> Scenario:
    return scenario_from_toml(
        "[prices]\nsource = 'gbm'\n[oracle]\nkind = 'chainlink'\n[[keepers]]\nstrategy = 'universal'\n", label="calm"
    )


def test_overrides(calm: Scenario) -> None:
    s = with_overrides(calm, {"dutch.buf": 1.1, "sealed-second.reserve": 0.5, "oracle.deviation": 0.01,
                              "keepers.0.count": 3, "accounts.n": 50, "seed_base": 7})
    assert s.designs["dutch"].buf == 1.1 and s.designs["sealed"].reserve == 0.5
    assert isinstance(s.oracle, ChainlinkOracleConfig)
    assert s.oracle.deviation == 0.01 and s.keepers[0].count == 3 and s.accounts.n == 50 and s.seed_base == 7
    assert calm.designs["dutch"].buf == 1.30  # the original is untouched (frozen)


def test_override_switching_kind_drops_old_keys(calm: Scenario) -> None:
    s = with_overrides(calm, {"oracle.kind": "delayed", "oracle.hop_s": 600})
    assert isinstance(s.oracle, DelayedOracleConfig) and (s.oracle.kind, s.oracle.hop_s) == ("delayed", 600.0)
    s = with_overrides(calm, {"prices.source": "jump", "prices.lam": 10})
    assert isinstance(s.prices, JumpPrices) and (s.prices.source, s.prices.lam) == ("jump", 10.0)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"dutch.buf": 0.0}, "calm with --set dutch.buf=0.0: [designs.dutch] buf: must be > 0"),
        ({"dutch.bof": 1.0}, "--set dutch.bof: unknown key 'bof'; allowed: buf,"),
        ({"foo.bar": 1}, "--set foo.bar: unknown table"),
        ({"keepers.4.count": 1}, "--set keepers.4.count: the scenario has 1 keeper entries"),
        ({"accounts.n": "x"}, "[accounts] n: must be an integer, got a string 'x'"),
        ({"colour": 1}, "--set colour: unknown key"),
    ],
)
def test_bad_override(calm: Scenario, override: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        with_overrides(calm, override)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_round_trip(calm: Scenario) -> None:
    again = with_overrides(calm, {"seed_base": calm.seed_base})
    assert again == calm


def test_with_prices_falls_back_when_the_file_lacks_gas(tmp_path: Path, prices_csv: Path) -> None:
    s = load_scenario(str(write(tmp_path, "[prices]\nfile = 'prices.csv'\n[gas]\nsource = 'data'\n")))
    plain = tmp_path / "plain.csv"
    plain.write_text("unix_ts,close\n1,100\n2,99\n")
    t = with_prices(s, plain)
    assert isinstance(t.prices, CsvPrices)
    assert (t.prices.file, t.prices.column, t.csv_path) == (str(plain), "close", str(plain.resolve()))
    assert t.gas.source == "fixed"
    assert with_prices(s, prices_csv).gas.source == "data"  # this one has the gas column
    with pytest.raises(ConfigError, match=r"--prices .*nope\.csv: no such file"):
        with_prices(s, tmp_path / "nope.csv")


def test_parse_designs() -> None:
    assert parse_designs("dutch, fixed,dutch") == ("dutch", "fixed")
    assert parse_designs(",".join(design_names())) == design_names()
    with pytest.raises(ConfigError, match="unknown design 'dutchh': choose from dutch, sealed-first"):
        parse_designs("dutch,dutchh")
    with pytest.raises(ConfigError, match="no design given"):
        parse_designs(" , ")


def test_design_of(calm: Scenario) -> None:
    assert calm.design("sealed-first") is calm.designs["sealed"] is calm.design("sealed-second")
    assert calm.design("dutch") is calm.designs["dutch"]


# --- the tables match the house's parameter types -----------------------------------------------------


def test_design_tables_are_the_house_parameters(calm: Scenario) -> None:
    """The scenario's design tables are the designs' own parameter types: what the file says is what runs."""
    from auction.designs.dutch import DutchParams
    from auction.designs.sealed import SealedParams

    s = with_overrides(calm, {"dutch.buf": 1.2, "sealed.reserve": 0.5})
    assert isinstance(s.designs["dutch"], DutchParams) and isinstance(s.designs["sealed"], SealedParams)
    assert (s.designs["dutch"].buf, s.designs["sealed"].reserve) == (1.2, 0.5)
    h = house_params(calm)
    assert (h.block_time_s, h.block_gas_limit, h.max_kicks_per_block) == (12.0, 3_000_000, 20)
