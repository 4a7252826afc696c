"""The evidence can fail: the ledger's checker, the two book identities and the rule tests each catch a bug.

Two kinds of proof. The checker is fed ledgers that are broken on purpose (a balance created from nothing, a
negative balance, a sale or a repayment not counted, debt created from nothing): ``Ledger.check`` must refuse
each. Then source mutations, the bugs a reviewer planted by hand (``book.sold += qty`` removed, the English
``dent`` beg comparison ``>`` made ``>=``, the checker's own comparisons disabled ...), are applied in memory to
one function for one test: the named tests of the suite that should catch each must fail under it (and pass
without it, as the rest of the suite shows).
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

import auction.book.ledger as ledger_module
import auction.english as english_module
from auction import units
from auction.book.ledger import USD, WRITTEN_OFF, Ledger, lot_of
from tests import test_english, test_house, test_ledger

ETH, DAI = units.col, units.num


# --- the checker on broken ledgers ---------------------------------------------------------------------------


def settled() -> Ledger:
    """An auction sold in part, the rest returned, closed with bad debt: a ledger every check passes."""
    led = test_ledger.setup_ledger()
    led.seize(1, "acct:1", "ETH", ETH(40), debt=DAI(100), tab=DAI(110))
    led.fill(1, "ali", ETH(20), DAI(60))
    led.return_to_owner(1, ETH(5))
    led.close(1)  # 15 ETH unsold, 40 DAI bad debt
    led.seize(2, "acct:1", "ETH", 0, debt=0, tab=0)  # an open book too
    led.check()
    return led


def refused(led: Ledger) -> str:
    with pytest.raises(AssertionError) as err:
        led.check()
    return str(err.value)


def test_check_passes_the_unbroken_ledger_and_reads_each_side_on_its_own() -> None:
    led = settled()
    book = led.books[1]
    assert (book.seized, book.sold, book.returned, book.unsold) == (ETH(40), ETH(20), ETH(5), ETH(15))
    assert book.unsold == led.balance(lot_of(1), "ETH")  # read from the lot, not computed from the tallies
    assert (book.debt, book.repaid, book.bad_debt) == (DAI(100), DAI(60), DAI(40))
    assert led.debt[WRITTEN_OFF] == DAI(40) and led.debt_supply == DAI(40)


def test_check_refuses_value_created_from_nothing() -> None:
    led = settled()
    led.bal[("keeper:ali", USD)] += 1
    assert "USD not conserved" in refused(led)


def test_check_refuses_a_negative_balance() -> None:
    led = settled()
    led.bal[("keeper:ali", USD)] -= DAI(2000)
    led.bal[("keeper:bob", USD)] += DAI(2000)  # conserved, but ali is below zero
    assert "negative balance keeper:ali/USD" in refused(led)


def test_check_refuses_a_sale_that_was_not_counted() -> None:
    led = settled()
    led.books[1].sold -= ETH(1)
    assert "seized" in refused(led)


def test_check_refuses_collateral_that_left_a_closed_lot() -> None:
    led = settled()
    led.bal[(lot_of(1), "ETH")] -= ETH(1)
    led.bal[("acct:1", "ETH")] += ETH(1)
    assert "auction 1: closed with" in refused(led)


def test_check_refuses_a_repayment_that_was_not_counted() -> None:
    led = settled()
    led.books[1].repaid -= DAI(1)
    led.books[1].penalty += DAI(1)  # the proceeds still add up: only the debt identity can see it
    assert "debt" in refused(led) and "repaid" in refused(led)


def test_check_refuses_debt_created_from_nothing() -> None:
    led = settled()
    led.debt["acct:1"] += 1
    assert "debt not conserved" in refused(led)


def test_check_refuses_an_open_book_whose_lot_disagrees() -> None:
    led = test_ledger.setup_ledger()
    led.seize(1, "acct:1", "ETH", ETH(40), debt=DAI(100), tab=DAI(110))
    led.fill(1, "ali", ETH(10), DAI(30))
    led.check()
    led.books[1].sold += 1
    assert "auction 1: seized" in refused(led)


# --- mutations: bugs planted in the source, caught by named tests ----------------------------------------------


@dataclass(frozen=True)
class Mutation:
    module: ModuleType
    owner: str  # the class holding the function
    function: str
    old: str  # text replaced (must occur exactly once in the function)
    new: str
    killers: tuple[Callable[[], Any], ...]  # tests of the suite that must fail under the mutation

    @property
    def name(self) -> str:
        return f"{self.owner}.{self.function}: {self.old.strip()} -> {self.new.strip()}"


def _checker(name: str) -> Callable[[], Any]:
    return globals()[name]  # type: ignore[no-any-return]


MUTATIONS = [
    Mutation(ledger_module, "Ledger", "fill", "book.sold += qty", "pass",
             (test_ledger.test_auction_repays_debt_then_penalty_and_returns_the_rest,
              test_house.test_dutch_flow_detects_kicks_takes_and_settles)),
    Mutation(ledger_module, "Ledger", "fill", "book.repaid += repay", "pass",
             (test_ledger.test_shortfall_is_bad_debt_drawn_from_insurance,
              test_ledger.test_auction_repays_debt_then_penalty_and_returns_the_rest)),
    Mutation(ledger_module, "Ledger", "return_to_owner", "book.returned += qty", "pass",
             (test_ledger.test_auction_repays_debt_then_penalty_and_returns_the_rest,)),
    Mutation(ledger_module, "Ledger", "close", "self.debt[lot] = 0", "pass",
             (test_ledger.test_shortfall_is_bad_debt_drawn_from_insurance,)),
    Mutation(ledger_module, "Ledger", "check", "if sums[asset] != self.supply[asset]:", "if False:",
             (_checker("test_check_refuses_value_created_from_nothing"),)),
    Mutation(ledger_module, "Ledger", "check", "if amount < 0:", "if False:",
             (_checker("test_check_refuses_a_negative_balance"),)),
    Mutation(ledger_module, "Ledger", "check", "if owed_total != self.debt_supply:", "if False:",
             (_checker("test_check_refuses_debt_created_from_nothing"),)),
    Mutation(ledger_module, "Ledger", "_check_book", "if book.seized != book.sold + book.returned + unsold:",
             "if False:", (_checker("test_check_refuses_a_sale_that_was_not_counted"),)),
    Mutation(ledger_module, "Ledger", "_check_book", "if book.debt != book.repaid + bad:", "if False:",
             (_checker("test_check_refuses_a_repayment_that_was_not_counted"),)),
    Mutation(english_module, "EnglishAuction", "dent", "if self.beg_wad * lot > self.lot * WAD:",
             "if self.beg_wad * lot >= self.lot * WAD:",
             (test_english.test_dent_exactly_beg_below_the_lot_is_accepted,)),
]


def mutant(mutation: Mutation) -> Callable[..., Any]:
    """The function with the mutation applied, compiled in its own module's namespace."""
    original = getattr(getattr(mutation.module, mutation.owner), mutation.function)
    source = textwrap.dedent(inspect.getsource(original))
    assert source.count(mutation.old) == 1, f"{mutation.name}: the text to mutate must occur once"
    namespace = dict(vars(mutation.module))
    exec(compile(source.replace(mutation.old, mutation.new), f"<mutant {mutation.name}>", "exec"), namespace)
    return namespace[mutation.function]  # type: ignore[no-any-return]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda mu: mu.name)
def test_each_planted_bug_is_caught_by_its_tests(mutation: Mutation, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = getattr(mutation.module, mutation.owner)
    monkeypatch.setattr(owner, mutation.function, mutant(mutation))
    survivors = [killer.__name__ for killer in mutation.killers if not fails(killer)]
    assert survivors == [], f"{mutation.name}: these tests pass with the bug in place"


def fails(test: Callable[[], Any]) -> bool:
    """Whether a test function fails when called (an assertion, pytest.raises not raising, any error)."""
    try:
        test()
    except (Exception, pytest.fail.Exception):
        return True
    return False


# --- the selftest's figures can come out wrong ------------------------------------------------------------------


def test_a_skipped_family_is_not_counted_as_held() -> None:
    from auction.net.selftest import Family, summary

    families = [Family("faults", "", True), Family("access", "", True, skipped=True), Family("inputs", "", False)]
    assert summary(families, 12.0) == "selftest: 1/3 families held, 1 failed (inputs), 1 skipped (access) in 12 s"


def test_wrongly_accepted_inputs_are_counted_on_every_judging_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder that lets an action carry a key twice is caught by the strict second parser, and the line says so."""
    from auction.net.selftest import inputs_line
    from auction.net.selftest.fuzz import FuzzReport, _decodes
    from broker import messages as m
    from broker.signing import KeyPair

    take = KeyPair.from_seed(bytes(32)).sign(m.Take(auction=1, keeper="ali", amount=5, max_price_q=7, nonce=3,
                                                    deadline_ms=9))
    twice = m.encode(take).replace(b'"amount":5', b'"amount":500,"amount":5')
    report = FuzzReport(tried={"decoders": 2, "admission": 10, "keeper": 4}, accepted={"decoders": 0, "admission": 0})
    assert _decodes(twice, report) == 0 and report.accepted["decoders"] == 0  # refused: malformed
    monkeypatch.setattr(m, "duplicate_key", lambda payload: None)  # the guard removed
    assert _decodes(twice, report) == 1 and report.accepted["decoders"] == 1
    line = inputs_line(report)
    assert line.startswith("bad inputs: 16 tried, 1 of 12 wrongly accepted (decoders 2, admission 10), 1 crashes")
    assert not report.ok


def test_the_audit_counts_a_broken_ledger_as_not_conserved() -> None:
    from auction.net.selftest.fuzz import synthetic_core
    from auction.net.selftest.harness import conserved

    core = synthetic_core("dutch")
    assert conserved(core, problems := [])
    core.ledger.bal[("market", USD)] += 1
    assert not conserved(core, problems) and problems[0].startswith("ledger check: USD not conserved")


def test_an_auction_the_house_never_closed_is_counted_lost(tmp_path: Any) -> None:
    """The audit reads what the faulted house closed from its own final record, not from its replay's finish()
    (which closes everything): a record that leaves an auction open makes it lost."""
    import json

    from auction.net.funding import Funding
    from auction.net.house_core import HouseCore, ledger_snapshot
    from auction.net.journal import Entry, Journal
    from auction.net.runspec import load_run
    from auction.net.selftest.harness import CHAOS_SCENARIO, lost, replay_journal
    from auction.scenario.build import build_world

    scenario = tmp_path / "chaos.toml"
    scenario.write_text(CHAOS_SCENARIO)
    path = tmp_path / "house.journal"
    with Journal(path, access="write") as jr:
        spec, loaded = load_run(str(scenario), "dutch", None, None, Funding(tofu=True), jr)
        core = HouseCore(build_world(loaded, spec.design, spec.seed), spec, jr)
        core.apply(core.due(6 * 3600.0))
        open_ = sorted(a for a, book in core.ledger.books.items() if not book.closed)
        assert open_, "the run must have an auction open at six hours"
        core.kernel.finish()
        record = ledger_snapshot(core.ledger)
        record["books"][str(open_[0])][-1] = 0  # this house lost track of it: never closed in its own record
        jr.append([Entry("finish", core.end, json.dumps(record).encode())])
    replay = replay_journal(path)
    assert open_[0] not in replay.closed_by_house and replay.closed_at_end == len(open_) - 1
    assert lost(set(replay.opened), replay.closed_by_house) == [open_[0]]
