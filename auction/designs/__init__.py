"""The registry of liquidation designs: the one place their names are defined.

Every layer that needs a design (the house, the keeper agent, scenarios, the CLI, reports, fuzzers) asks
this registry. Adding a design is one module (a ``Design``, see ``auction.designs.base``) and one line in
``BUILTIN`` below; a test or a plugin may ``register`` one at run time (``registered`` undoes it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from auction.book.base import Kind
from auction.designs import (
    dutch,
    english,
    fixed,
    perp_backstop,
    perp_dutch,
    perp_market,
    perp_sealed,
    perp_takeover,
    sealed,
)
from auction.designs.base import Design
from auction.errors import ConfigError
from broker import messages as m

BUILTIN: tuple[Design[Any], ...] = (
    dutch.DESIGN, sealed.FIRST, sealed.SECOND, english.DESIGN, fixed.DESIGN,
    perp_market.DESIGN, perp_dutch.DESIGN, perp_sealed.DESIGN, perp_takeover.DESIGN, perp_backstop.DESIGN,
)

REGISTRY: dict[str, Design[Any]] = {}


def register(design: Design[Any]) -> Design[Any]:
    """Make ``design`` available by name everywhere (its terms become decodable on the wire)."""
    if design.name in REGISTRY:
        raise ValueError(f"design {design.name!r} is already registered")
    shared = tables().get(design.table)
    if shared is not None and shared is not design.params:
        raise ValueError(f"design {design.name!r}: table [designs.{design.table}] already holds {shared.__name__}")
    m.register_terms(design.terms)
    REGISTRY[design.name] = design
    return design


def unregister(name: str) -> None:
    design = REGISTRY.pop(name)
    if not any(d.terms is design.terms for d in REGISTRY.values()):
        m.unregister_terms(design.terms)


@contextmanager
def registered(design: Design[Any]) -> Iterator[Design[Any]]:
    """``design`` registered for the duration of a ``with`` block (tests)."""
    register(design)
    try:
        yield design
    finally:
        unregister(design.name)


def get(name: str) -> Design[Any]:
    """The design called ``name``; an unknown name is one ``ConfigError`` line listing the known ones."""
    design = REGISTRY.get(name)
    if design is None:
        raise ConfigError(f"unknown design {name!r}: choose from {', '.join(REGISTRY)}")
    return design


def names(book: Kind | None = None) -> tuple[str, ...]:
    """Every registered design (of one kind of book, if given), built-ins first, in registration order."""
    return tuple(name for name, d in REGISTRY.items() if book is None or d.book == book)


def check_book(name: str, book: Kind, scenario: str = "") -> Design[Any]:
    """The design called ``name``, if it liquidates the kind of accounts ``book`` holds; else one line saying so."""
    design = get(name)
    if design.book != book:
        what = {"vault": "vault accounts", "perp": "perpetual positions"}
        where = f"scenario {scenario!r}" if scenario else "this scenario"
        raise ConfigError(f"design {name!r} liquidates {what[design.book]}, but {where} holds {what[book]}: "
                          f"choose from {', '.join(names(book))}")
    return design


def tables() -> Mapping[str, type]:
    """Scenario table name -> its parameter type (``[designs.TABLE]``); shared tables appear once."""
    return {d.table: d.params for d in REGISTRY.values()}


def defaults(**given: Any) -> dict[str, Any]:
    """A parameter table for every registered design: the ones ``given`` (by table name), else defaults."""
    unknown = set(given) - set(tables())
    if unknown:
        raise ConfigError(f"unknown design table(s) {', '.join(sorted(unknown))}: tables are {', '.join(tables())}")
    return {name: given[name] if name in given else cls() for name, cls in tables().items()}


def parse_designs(text: str) -> tuple[str, ...]:
    """``"dutch,english"`` -> ("dutch", "english"), each checked, duplicates dropped, order kept."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if not chosen:
        raise ConfigError(f"--designs: no design given: choose from {', '.join(REGISTRY)}")
    return tuple(dict.fromkeys(get(n).name for n in chosen))


for _design in BUILTIN:
    register(_design)
