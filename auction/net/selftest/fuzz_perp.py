"""Seeded fuzzing of a house running each perp design: hostile actions in, the position book's invariants out.

Each perp design runs on two bundled scenarios, longs liquidated on a fall (``perp-may-2021``) and shorts on a
rise (``perp-squeeze``), 40 accounts each. In every block while a position is on sale, the three keepers send
validly signed actions with boundary numbers (the design's own actions and the ones it must refuse, on open,
closed and unknown auction ids), and mutated or re-signed copies of actions the house took already. Judged:

- wrongly accepted: a mutated copy let past admission, or an action acknowledged that the rules must refuse
  (a design that takes no actions, an auction never announced or already closed);
- invariants after every block: the ledger check (exact conservation, nothing negative) and the position
  book's (sizes net to zero per market, the quotes sum to what the ledger holds); at the end, no trader left
  flat holds a negative balance beyond the bad debt the waterfall booked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from auction import designs, units
from auction.book.positions import PositionBook
from auction.net.funding import Funding
from auction.net.house_core import HouseCore
from auction.net.runspec import RunSpec
from auction.net.selftest.fuzz_house import _boundary_action, _Driver, _refused, hostile_variant
from auction.net.selftest.fuzz_inputs import HOUSE_AMOUNTS, KEEPERS, FuzzReport
from broker import messages as m

SCENARIOS = ("perp-may-2021", "perp-squeeze")  # longs breach on the fall, shorts on the rise
ACCOUNTS = 40
# Boundary amounts, plus position sizes and prices around an ETH perp's marks (so that some takes fill).
PERP_AMOUNTS = [*HOUSE_AMOUNTS, units.col(0.5), units.price_q(1_500.0), units.price_q(2_500.0),
                units.price_q(4_000.0)]


def perp_core(design: str, scenario: str, seed: int = 3) -> HouseCore:
    """A house of ``design`` on a bundled perp scenario; ali can take whole positions, cat hardly pays gas."""
    from auction.scenario.build import build_world
    from auction.scenario.load import load_scenario

    world = build_world(load_scenario(scenario), design, seed, accounts=ACCOUNTS)
    funding = Funding({"ali": 5_000_000.0, "bob": 50_000.0, "cat": 500.0}, tofu=True)
    spec = RunSpec(scenario=scenario, scenario_sha="0" * 64, design=design, seed=seed, accounts=ACCOUNTS,
                   funding=funding)
    return HouseCore(world, spec)


@dataclass(slots=True)
class _Judge:
    """What one house announced and closed, and what its rules took: an ack is legal only on an open sale."""

    takes: frozenset[str]
    announced: set[int] = field(default_factory=set)
    closed: set[int] = field(default_factory=set)
    acked: int = 0
    fills: int = 0

    def wrong_acks(self, out: list[m.Message], sent: dict[tuple[str, int], m.Action]) -> list[str]:
        closed_before = set(self.closed)
        wrong = []
        for msg in out:
            if isinstance(msg, m.Announce):
                self.announced.add(msg.auction)
            elif isinstance(msg, m.Result):
                self.closed.add(msg.auction)
                self.fills += len(msg.fills)
            elif isinstance(msg, m.Ack) and (msg.keeper, msg.ref) in sent:
                self.acked += 1
                action = sent[(msg.keeper, msg.ref)]
                if m.tag_of(type(action)) not in self.takes or msg.auction not in self.announced \
                        or msg.auction in closed_before or msg.auction != getattr(action, "auction", -1):
                    wrong.append(f"acknowledged {action!r} (auction {msg.auction})")
        return wrong


def fuzz_perp(rng: np.random.Generator, n_blocks: int, report: FuzzReport) -> None:
    """Every perp design on both scenarios, ``n_blocks`` blocks with actions in all."""
    tried = wrong = 0
    figures = {"perp_houses": 0, "perp_auctions": 0, "perp_acked": 0, "perp_fills": 0, "perp_adl": 0}
    houses = [(d, s) for d in designs.names("perp") for s in SCENARIOS]
    for design, scenario in houses:
        t, w = _one_house(rng, design, scenario, max(1, n_blocks // len(houses)), report, figures)
        tried += t
        wrong += w
    report.tried["perp"] = tried
    report.accepted["perp"] = wrong
    report.figures.update(figures)


def _one_house(rng: np.random.Generator, design: str, scenario: str, budget: int, report: FuzzReport,
               figures: dict[str, int]) -> tuple[int, int]:
    house = _Driver(design, perp_core(design, scenario))
    core, where = house.core, f"{design} on {scenario}"
    book = core.world.margin_book
    assert isinstance(book, PositionBook)
    judge = _Judge(frozenset(designs.get(design).gas))
    taken: list[tuple[m.Action, bytes]] = []  # actions the house admitted: their hostile copies must not get in
    tried = wrong = acted = 0
    while acted < budget and not core.at_end:
        t = core.next_time()
        batch, sent = [], {}
        if core.house.open:  # act while positions are on sale; the quiet blocks in between run as they are
            acted += 1
            for _ in range(int(rng.integers(1, 6))):
                if taken and rng.random() < 0.4:
                    original, payload = taken[int(rng.integers(0, len(taken)))]
                    variant = hostile_variant(rng, original, payload, house.keys)
                    if variant is not None:
                        tried += 1
                        wrong += _refused(core, *variant, t, "perp", report)
                    continue
                tried += 1
                who = KEEPERS[int(rng.integers(0, len(KEEPERS)))]
                action = _boundary_action(rng, design, who, house.next_nonce(who), core, house.commits, PERP_AMOUNTS)
                payload = house.sign(action)
                try:
                    entry, _ = core.admit(payload, who, t)
                except Exception as exc:
                    report.crash("perp", f"{where}: {action!r}", exc)
                    continue
                if entry is not None:
                    batch.append(entry)
                    sent[(who, action.nonce)] = action
                    taken.append((action, payload))
        try:
            out = core.apply(batch + core.due(t))
            core.ledger.check()
            book.check()
        except Exception as exc:  # an exception here would kill the house process
            report.crash("perp", f"{where}: block at {t}", exc)
            return tried, wrong
        for why in judge.wrong_acks(out, sent):
            wrong += 1
            report.crash("perp", where, why)
    try:
        judge.wrong_acks(core.finish(), {})
        core.ledger.check()
        book.check()
        _flat_accounts_hold(book, where, report)
    except Exception as exc:
        report.crash("perp", f"{where}: finish", exc)
    figures["perp_houses"] += acted > 0  # houses that met hostile actions while positions were on sale
    figures["perp_auctions"] += len(judge.announced)
    figures["perp_acked"] += judge.acked
    figures["perp_fills"] += judge.fills
    figures["perp_adl"] += book.tally.adl_count
    return tried, wrong


def _flat_accounts_hold(book: PositionBook, where: str, report: FuzzReport) -> None:
    """A trader with no position left holds its quote; below zero only by the bad debt the waterfall booked."""
    flat = ~book.size[: book.n].any(axis=1)
    short = -int(np.minimum(book.quote[: book.n][flat], 0).sum())
    if short > book.tally.bad_debt:
        report.crash("perp", where, f"flat traders hold {short} below zero, bad debt booked {book.tally.bad_debt}")
