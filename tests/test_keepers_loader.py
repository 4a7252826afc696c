"""load_strategy: every spec form, and one clear line for every mistake."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from auction.errors import ConfigError
from keepers import Strategy
from keepers.external import ExternalStrategy
from keepers.loader import load_strategy, strategy_class
from keepers.strategies import DutchThreshold, ZeroBid

TEMPLATES = Path(__file__).resolve().parent.parent / "keepers" / "templates"

GOOD = """
from keepers import Strategy, Take

class Mine(Strategy):
    name = "mine"

    def __init__(self, edge: float = 0.1) -> None:
        super().__init__(edge=edge)
        self.edge = edge

    def on_auction(self, auction, ctx):
        return Take(ctx.market_price(auction.asset) * (1 - self.edge), auction.lot)

class NotOne:
    pass

class Future(Strategy):
    api_version = 2
"""


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(GOOD)
    return path


def error(spec: str, config: dict[str, object] | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_strategy(spec, config)
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_builtin_name_with_config() -> None:
    s = load_strategy("dutch-threshold", {"margin": 0.1})
    assert isinstance(s, DutchThreshold) and s.margin == 0.1 and s.config["margin"] == 0.1


def test_module_colon_class() -> None:
    assert isinstance(load_strategy("keepers.strategies:ZeroBid"), ZeroBid)


def test_file_colon_class(strategy_file: Path) -> None:
    s = load_strategy(f"{strategy_file}:Mine", {"edge": 0.2})
    assert s.label == "mine" and s.config == {"edge": 0.2}
    assert type(s).__module__ in sys.modules  # registered: picklable, dataclasses work
    assert type(load_strategy(f"{strategy_file}:Mine")) is type(s)  # loaded once


def test_template_loads_by_path() -> None:
    s = load_strategy(f"{TEMPLATES / 'my_strategy.py'}:MyStrategy", {"margin": 0.03})
    assert s.label == "my-strategy"


def test_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [EntryPoint(name="my-keeper", value="keepers.strategies:ZeroBid", group="liqnet.strategies"),
           EntryPoint(name="broken", value="no_such_module_xyz:Thing", group="liqnet.strategies")]
    monkeypatch.setattr("keepers.loader.entry_points", lambda group: [e for e in eps if e.group == group])
    assert isinstance(load_strategy("my-keeper"), ZeroBid)
    assert "installed strategy 'broken' failed to import" in error("broken")
    assert "my-keeper" in error("nope")  # listed among the known names


def test_exec_spec_builds_an_external_strategy() -> None:
    s = load_strategy(f"exec:{sys.executable} {TEMPLATES / 'external_keeper.py'}", {"margin": 0.1})
    assert isinstance(s, ExternalStrategy) and s.command[0] == sys.executable and s.config == {"margin": 0.1}


def test_unknown_name() -> None:
    assert "unknown strategy 'dutch-treshold'" in error("dutch-treshold")


def test_missing_file() -> None:
    assert "strategy file 'nowhere/keeper.py' not found" in error("nowhere/keeper.py:Keeper")


def test_missing_class_lists_what_is_there(strategy_file: Path) -> None:
    text = error(f"{strategy_file}:Yours")
    assert "has no class 'Yours'" in text and "Mine" in text


def test_not_a_strategy_subclass(strategy_file: Path) -> None:
    assert "is not a subclass of keepers.Strategy" in error(f"{strategy_file}:NotOne")
    assert "is not a subclass of keepers.Strategy" in error("keepers.api:Take")


def test_api_version_mismatch(strategy_file: Path) -> None:
    assert "API version 2; this liqnet speaks version 1" in error(f"{strategy_file}:Future")


def test_bad_config() -> None:
    assert "bad config" in error("dutch-threshold", {"margn": 0.1})
    assert "margin must be in [0, 1)" in error("dutch-threshold", {"margin": 2.0})


def test_module_that_fails_to_import(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_xyz\n")
    assert "failed to import: ModuleNotFoundError" in error(f"{broken}:X")
    assert "strategy module 'no_such_module_xyz' failed to import" in error("no_such_module_xyz:X")
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def (:\n")
    assert "failed to import: SyntaxError" in error(f"{syntax}:X")


def test_malformed_specs() -> None:
    assert "expected" in error("module:not a name")
    assert "needs a command" in error("exec:")
    assert "not found" in error("exec:/no/such/program --flag")


def test_strategy_class_returns_the_class() -> None:
    assert strategy_class("zero-bid") is ZeroBid
    assert issubclass(strategy_class("keepers.strategies:Universal"), Strategy)
