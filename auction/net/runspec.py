"""What a network house run is (``RunSpec``): scenario, design, seed, funding; the journal header records it,
so a restarted house runs the very same run, and a changed scenario or flag is refused.

Capital: the house funds a keeper's escrow at the keeper's first valid ``Register``, with the capital the house
configuration gives that id (the scenario's population, ``--fund ID=USD``; ``auction.net.funding`` says who may
register and which key binds an id). A keeper never declares its own capital: the protocol has no such field,
and the house would have to trust it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from auction import units
from auction.errors import ConfigError
from auction.net.funding import Funding
from auction.net.journal import Journal

if TYPE_CHECKING:
    from auction.scenario.tables import Scenario

# ``liqnet network``'s speed (scenario seconds per wall second): a 12 s block is 40 ms, a 300 s sealed reveal window
# 1 s, windows a keeper on another machine can meet (PROTOCOL.md section 6, Time). The house keeps within one block
# of its clock there: at 600x (20 ms blocks) a virtual machine's host pausing the process for 15-25 ms now and then
# (seen by an idle probe process at the same moments on this project's 2-core machines) put it a block behind.
DEFAULT_SPEED = 300.0


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything that determines a house run besides its inputs; the journal header records it."""

    scenario: str  # the name or path given to --scenario
    scenario_sha: str  # sha256 of the scenario's canonical JSON: a changed file is refused on restart
    design: str
    seed: int
    accounts: int | None
    funding: Funding = field(default_factory=Funding)  # who is funded with what, bound to which key
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def header(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "scenario_sha": self.scenario_sha, "design": self.design,
                "seed": self.seed, "accounts": self.accounts, **self.funding.header(), "run_id": self.run_id}

    @classmethod
    def from_header(cls, h: Mapping[str, Any]) -> RunSpec:
        return cls(str(h["scenario"]), str(h["scenario_sha"]), str(h["design"]), int(h["seed"]),
                   None if h.get("accounts") is None else int(h["accounts"]), Funding.from_header(h),
                   str(h.get("run_id", uuid.uuid4().hex)))

    @property
    def funds(self) -> dict[str, float]:
        return self.funding.funds

    def capital(self, keeper: str) -> int:
        return units.num(self.funding.capital(keeper))


def scenario_sha(scenario: Scenario) -> str:
    from auction.scenario.load import to_dict

    text = json.dumps(to_dict(scenario), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def population_funds(scenario: Scenario) -> dict[str, float]:
    """Keeper id -> capital (USD) for the scenario's own population, ids as the simulator names them."""
    from auction.scenario.population import keeper_ids, members

    population = members(scenario.keepers)
    return {k: member.capital for k, member in zip(keeper_ids(population), population, strict=True)}


def load_run(
    scenario: str | None,
    design: str | None,
    seed: int | None,
    accounts: int | None,
    funding: Funding | None,
    journal: Journal | None,
) -> tuple[RunSpec, Scenario]:
    """The run to do: from the flags, or from the journal header (flags given must agree with it).

    ``funding``: the operator's funding flags; on a new run the scenario's population is added to its named
    ids (its own ``funds`` win)."""
    from auction.designs import check_book, names
    from auction.designs import get as design_named
    from auction.scenario.load import load_scenario
    from keepers.loader import check_keepers

    header = journal.header() if journal is not None else None
    if journal is not None and header is not None:
        spec, where = RunSpec.from_header(header), journal.path
        given = {"--scenario": (scenario, spec.scenario), "--design": (design, spec.design),
                 "--seed": (seed, spec.seed), "--accounts": (accounts, spec.accounts)}
        for flag, (value, recorded) in given.items():
            if value is not None and value != recorded:
                raise ConfigError(f"{flag} {value} disagrees with journal {where}, which records {recorded}; "
                                  "drop the flag or use a new --journal file")
        _same_funding(funding, spec.funding, where)
        loaded = _scenario_with_accounts(load_scenario(spec.scenario), spec.accounts)
        check_keepers(loaded)
        if scenario_sha(loaded) != spec.scenario_sha:
            raise ConfigError(f"scenario {spec.scenario} changed since journal {where} was written; "
                              "restore it or use a new --journal file")
        return spec, loaded
    if scenario is None:
        raise ConfigError("--scenario is required (unless --journal names an existing journal)")
    if design is not None:
        design_named(design)
    loaded = _scenario_with_accounts(load_scenario(scenario), accounts)
    chosen = check_book(design or names(loaded.book)[0], loaded.book, loaded.name).name
    check_keepers(loaded)
    spec = RunSpec(scenario, scenario_sha(loaded), chosen, loaded.seed_base if seed is None else seed, accounts,
                   named_funding(funding or Funding(), population_funds(loaded)))
    if journal is not None:
        journal.write_header(spec.header())
    return spec, loaded


def named_funding(given: Funding, population: dict[str, float]) -> Funding:
    """The ids a new run funds: those the operator named (``--fund``, each bound to a key unless ``--tofu``) and
    the scenario's population as far as the keyring binds it (all of it with ``--tofu``)."""
    unbound = sorted(k for k in given.funds if k not in given.keys)
    if unbound and not given.tofu:
        raise ConfigError(f"--fund {', '.join(unbound)}: no key for these ids in --keyring; add their '<id> <public "
                          "key>' lines (`liqnet keeper --id ID --print-key`), or bind by first use with --tofu")
    table = {k: usd for k, usd in population.items() if given.tofu or k in given.keys}
    table.update(given.funds)
    if not table and given.open_funding <= 0:
        raise ConfigError("this house would fund no keeper: give --keyring FILE with the keepers' keys (`liqnet "
                          "keeper --id ID --print-key`), --tofu, or --open-funding USD")
    return replace(given, funds=table)


def _same_funding(given: Funding | None, recorded: Funding, where: object) -> None:
    """Funding flags given on a restart must say what the journal recorded (flags left out are fine)."""
    if given is None:
        return
    differs = [flag for flag, same in (
        ("--fund", all(recorded.funds.get(k) == v for k, v in given.funds.items())),
        ("--open-funding", given.open_funding in (0.0, recorded.open_funding)),
        ("--keyring", all(recorded.keys.get(k) == v for k, v in given.keys.items())),
        ("--tofu", not given.tofu or recorded.tofu),
    ) if not same]
    if differs:
        raise ConfigError(f"{', '.join(differs)} disagrees with the funding recorded in journal {where}; drop the flag "
                          "or use a new --journal file")


def _scenario_with_accounts(scenario: Scenario, accounts: int | None) -> Scenario:
    from auction.scenario.load import with_overrides

    return with_overrides(scenario, {"accounts.n": accounts}) if accounts is not None else scenario


