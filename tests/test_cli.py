"""The liqnet command: user mistakes are one line on stderr and exit code 2; compare writes its reports."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from auction import cli
from auction.compare import sweep
from auction.log import bound, configure_logging
from tests.test_compare_sweep import fake_run_one

GBM = "name = 'calm'\ndescription = 'a calm day'\n[prices]\nsource = 'gbm'\nsteps = 12\n" \
      "[[keepers]]\nstrategy = 'universal'\n"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


@pytest.fixture
def calm_file(tmp_path: Path) -> Path:
    path = tmp_path / "calm.toml"
    path.write_text(GBM)
    return path


@pytest.fixture
def fake_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "run_task", lambda runner, s, design, seed: fake_run_one(s, design, seed))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("liqnet: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_unknown_design(calm_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--scenario", str(calm_file), "--designs", "dutch,vickrey"]) == 2
    assert "unknown design 'vickrey': choose from dutch, sealed-first" in one_error_line(capsys)


def test_bad_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[prices]\nsource = 'gbm'\n[oracle]\nkind = 'delayed'\nhop_s = -1\n")
    assert cli.main(["compare", "--scenario", str(bad)]) == 2
    line = one_error_line(capsys)
    assert str(bad) in line and "[oracle] hop_s: must be > 0" in line


def test_missing_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--scenario", "no/such/file.toml"]) == 2
    assert "no such file" in one_error_line(capsys)


def test_malformed_csv(calm_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("auction.models.prices")
    bad = tmp_path / "bad.csv"
    bad.write_text("unix_ts,close\n1583971200,194.5\n1583971800,not-a-price\n")
    assert cli.main(["compare", "--scenario", str(calm_file), "--prices", str(bad), "--seeds", "1"]) == 2
    assert "bad.csv" in one_error_line(capsys)


def test_missing_prices_file(calm_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--scenario", str(calm_file), "--prices", "nope.csv"]) == 2
    assert "--prices nope.csv: no such file" in one_error_line(capsys)


def test_bad_set_key(calm_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--scenario", str(calm_file), "--set", "dutch.bof=1,2"]) == 2
    assert "--set dutch.bof: unknown key 'bof'" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compare", "--seeds", "x"], "argument --seeds: expected a whole number, got 'x'"),
        (["compare", "--seeds", "0"], "argument --seeds: must be >= 1, got 0"),
        (["compare", "--executor", "ray"], "argument --executor: invalid choice: 'ray'"),
        (["compare", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_bad_flags(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert expected in one_error_line(capsys)


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "compare" in capsys.readouterr().err


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--scenario", "--prices", "--designs", "--seeds", "--accounts", "--workers", "--out", "--json",
                 "--set", "--executor", "--no-progress"):
        assert flag in out


def test_commands_registry() -> None:
    assert list(cli.COMMANDS)[:2] == ["compare", "scenarios"]


def test_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ("black-thursday", "may-2021", "gbm-calm", "jump-crash", "textbook-ipv"):
        assert name in out


def test_compare_writes_reports(calm_file: Path, tmp_path: Path, fake_sim: None,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = cli.main(["compare", "--scenario", str(calm_file), "--designs", "dutch,english", "--seeds", "2",
                     "--workers", "1", "--out", str(out), "--json", str(tmp_path / "r.json"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["calm.html", "calm.json", "calm.md"]
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["designs"] == ["dutch", "english"] and doc["seeds"] == 2
    assert "bad_debt" in captured.out and "4 runs (2 designs x 2 seeds)" in captured.out
    assert captured.err == ""  # no progress bar off a terminal, no warnings


def test_compare_twice_gives_identical_json(calm_file: Path, tmp_path: Path, fake_sim: None) -> None:
    for run in ("a", "b"):
        assert cli.main(["compare", "--scenario", str(calm_file), "--seeds", "2", "--workers", "1",
                         "--out", str(tmp_path / run), "--set", "dutch.buf=1.1,1.2"]) == 0
    assert (tmp_path / "a" / "calm.json").read_bytes() == (tmp_path / "b" / "calm.json").read_bytes()


def test_logging_json_lines_with_bound_ids() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)  # not a terminal: JSON lines
    log = structlog.get_logger()
    with bound(auction_id="a-7", keeper_id="k-2"):
        log.info("take", qty=3)
    log.info("after")
    log.debug("hidden")
    logging.getLogger("amqtt").warning("from stdlib %d", 5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["take", "after", "from stdlib 5"]
    assert (lines[0]["auction_id"], lines[0]["keeper_id"], lines[0]["qty"]) == ("a-7", "k-2", 3)
    assert "auction_id" not in lines[1]
    assert lines[2]["logger"] == "amqtt" and lines[2]["level"] == "warning"


def test_logging_console_renderer() -> None:
    stream = io.StringIO()
    configure_logging("debug", json=False, stream=stream)
    structlog.get_logger().debug("hello", x=1)
    assert "hello" in stream.getvalue() and "x=1" in stream.getvalue() and not stream.getvalue().startswith("{")


def test_bad_log_level() -> None:
    from auction.errors import ConfigError

    with pytest.raises(ConfigError, match="--log-level: unknown level 'loud'"):
        configure_logging("loud")


# --- keeper strategies are checked (keepers.loader.check_keepers) before anything runs ---------------------

BAD_BUILTIN = GBM + "[[keepers]]\nstrategy = 'nope'\n"
BAD_CONFIG = "[prices]\nsource = 'gbm'\nsteps = 12\n[[keepers]]\nstrategy = 'universal'\nconfig = { margn = 0.1 }\n"


@pytest.mark.parametrize("argv", [
    ["compare", "--designs", "dutch", "--seeds", "1"],
    ["strategy-test", "--strategy", "universal", "--seeds", "1"],
    ["network", "--broker", "mqtt://127.0.0.1:9"],
    ["house", "--broker", "mqtt://127.0.0.1:9"],
], ids=lambda argv: argv[0])
@pytest.mark.parametrize(("body", "expected"), [
    (BAD_BUILTIN, "[[keepers]] #2 strategy: unknown built-in 'nope'; built-ins: constrained,"),
    (BAD_CONFIG, "[[keepers]] #1 config: universal:"),
], ids=["builtin", "config"])
def test_commands_check_the_keepers_first(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                          body: str, expected: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(body)
    out = ["--out", str(tmp_path / "out")] if argv[0] in ("compare", "network") else []
    assert cli.main([*argv, "--scenario", str(path), *out]) == 2
    assert f"{path.resolve()}: {expected}" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_grid_over_keeper_strategies_is_checked_first(calm_file: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", "--scenario", str(calm_file), "--set", "keepers.0.strategy=universal,nope", "--out",
            str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert "[[keepers]] #1 strategy: unknown built-in 'nope'" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()
