"""Strategy specs -> Strategy objects.

A spec is one of:

- a built-in name: ``universal``, ``dutch-threshold``, ... (``keepers.strategies.BUILTINS``);
- an installed strategy: a name registered under the entry-point group ``liqnet.strategies`` by any
  package (``[project.entry-points."liqnet.strategies"] my-keeper = "my_pkg.keeper:MyKeeper"``);
- ``module.path:Class`` (importable module);
- ``path/to/file.py:Class`` (a file, relative to the working directory or absolute);
- ``exec:COMMAND ARGS...`` an external process speaking JSON lines (``keepers.external``).

Every mistake is a ``ConfigError`` with one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import shlex
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from auction.errors import ConfigError
from keepers.api import Strategy
from keepers.maker import MakerKeeper
from keepers.strategies import BUILTINS as STRATEGIES

# keepers.strategies' built-ins and keepers.maker's (which builds on them)
BUILTINS: dict[str, type[Strategy]] = {**STRATEGIES, MakerKeeper.name: MakerKeeper}

ENTRY_POINT_GROUP = "liqnet.strategies"
FORMS = "a built-in name, an installed name, module:Class, path/to/file.py:Class or exec:COMMAND"


def load_strategy(spec: str, config: Mapping[str, Any] | None = None) -> Strategy:
    """Build the strategy named by ``spec`` with ``config`` as keyword arguments."""
    spec = spec.strip()
    if spec.startswith("exec:"):
        from keepers.external import ExternalStrategy

        command = shlex.split(spec[len("exec:"):])
        if not command:
            raise ConfigError("strategy 'exec:' needs a command, e.g. exec:python3 my_keeper.py")
        return ExternalStrategy(command, **dict(config or {}))
    cls = strategy_class(spec)
    try:
        return cls(**dict(config or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"strategy {spec!r}: bad config {dict(config or {})}: {exc}") from None


class KeeperSpecLike(Protocol):
    """A scenario's [[keepers]] entry, as far as the loader reads it (``auction.scenario``'s ``KeeperSpec``)."""

    @property
    def strategy(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...


class ScenarioLike(Protocol):
    """What ``check_keepers`` reads of a ``Scenario``: keepers sit below the scenario layer, so no import."""

    @property
    def name(self) -> str: ...

    @property
    def origin(self) -> str: ...

    @property
    def keepers(self) -> Sequence[KeeperSpecLike]: ...


def check_keepers(scenario: ScenarioLike) -> None:
    """Every built-in strategy a scenario's [[keepers]] name exists and accepts its config, before any run.

    The scenario itself checks only a spec's form and that a strategy file exists; module:Class,
    file.py:Class and installed names are checked when they load. One line, naming the scenario file.
    """
    installed: dict[str, Any] | None = None
    for i, spec in enumerate(scenario.keepers):
        if ":" in spec.strategy:
            continue
        where = f"{scenario.origin or scenario.name}: [[keepers]] #{i + 1}"
        cls = BUILTINS.get(spec.strategy)
        if cls is None:
            installed = _entry_points() if installed is None else installed
            if spec.strategy in installed:
                continue
            raise ConfigError(f"{where} strategy: unknown built-in {spec.strategy!r}; built-ins: "
                              f"{', '.join(sorted(BUILTINS))} (or give module:Class or file.py:Class)")
        try:
            cls(**spec.config)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where} config: {spec.strategy}: {exc}") from None


def strategy_class(spec: str) -> type[Strategy]:
    """The Strategy subclass a spec names (checked: a class, a Strategy, the right api_version)."""
    if spec in BUILTINS:
        return BUILTINS[spec]
    installed = _entry_points()
    if spec in installed:
        try:
            obj = installed[spec].load()
        except Exception as exc:
            raise ConfigError(f"installed strategy {spec!r} failed to import: {_one_line(exc)}") from None
        return _checked(obj, spec)
    if ":" not in spec:
        known = ", ".join(sorted([*BUILTINS, *installed]))
        raise ConfigError(f"unknown strategy {spec!r}: use {FORMS} (known names: {known})")
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise ConfigError(f"strategy {spec!r}: expected {FORMS}")
    module = _load_file(where) if where.endswith(".py") or "/" in where or "\\" in where else _import(where)
    obj = getattr(module, name, None)
    if obj is None:
        found = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, Strategy))
        hint = f" (Strategy classes there: {', '.join(found)})" if found else " (it defines no Strategy class)"
        raise ConfigError(f"strategy {spec!r}: {where} has no class {name!r}{hint}")
    return _checked(obj, spec)


def _checked(obj: object, spec: str) -> type[Strategy]:
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise ConfigError(f"strategy {spec!r} is not a subclass of keepers.Strategy (got {obj!r})")
    version = getattr(obj, "api_version", None)
    if version != Strategy.api_version:
        raise ConfigError(
            f"strategy {spec!r} is written for strategy API version {version}; this liqnet speaks "
            f"version {Strategy.api_version}"
        )
    return obj


def _load_file(path: str) -> ModuleType:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"strategy file {path!r} not found (looked in {file.resolve().parent})")
    # A stable, unique module name per file, registered so that pickling and dataclasses work.
    digest = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    name = f"liqnet_user_strategy_{file.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"strategy file {path!r} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"strategy file {path!r} failed to import: {_one_line(exc)}") from None
    return module


def _import(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise ConfigError(f"strategy module {module!r} failed to import: {_one_line(exc)}") from None


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()
    return text[0] if text else type(exc).__name__
