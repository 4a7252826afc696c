"""``liqnet selftest``: inject faults into a real network, attack it, fuzz it, and print one line per family.

Where the suite lives: here, in the installed package, so that ``liqnet selftest`` works from a wheel
(the tests directory is not installed). ``python -m tests.chaos`` runs this same command from a checkout, and
the pytest files ``tests/test_reliability_*.py`` call the same scenario functions and assert on their reports.

Families, each counted for real by the run:

- ``faults`` (``faults.py``): a keeper SIGKILLed and restarted with its key, the broker stopped and killed,
  the house SIGKILLed and restarted on its journal, a silent and a slow keeper; every run audited from the
  house's journal (nothing lost, nothing settled twice, value conserved, final ledger equal to an unfaulted
  house fed the same accepted inputs);
- ``attacks`` (``attacks.py``): ten named attacks against a real house process, each refused with its reason
  code on the sender's rejection topic, logged, and costing the ledger nothing but the attacker's gas;
- ``access control`` (``attacks.py``, needs Mosquitto): the ``--secure`` broker keeps a keeper's forbidden
  publishes away from the house and everyone else; so does compose.yaml's ACL;
- ``bad inputs`` (``fuzz.py``): seeded fuzzing of every decoder, of a keeper's receive path, of the house's
  admission (nothing mutated is accepted) and of its rules on boundary numbers (invariants after every block).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.server import Prefer

FAMILIES = ("faults", "attacks", "access", "inputs")
# --quick against a full run: house kills and the multiplier of fuzz inputs (auction.net.selftest.fuzz.run_fuzz).
HOUSE_KILLS = {"quick": 1, "full": 3}
FUZZ_SCALE = {"quick": 1, "full": 5}


def quick_text() -> str:
    """What --quick leaves out, from the figures the suite really uses."""
    fewer = FUZZ_SCALE["full"] // FUZZ_SCALE["quick"]
    return f"one house kill instead of {HOUSE_KILLS['full']}, {fewer}x fewer fuzz inputs"


@dataclass(slots=True)
class Family:
    """One summary line and whether its claims held."""

    name: str
    line: str
    ok: bool
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # nothing was tried (a missing tool): not failed, and not counted as held either

    @property
    def held(self) -> bool:
        return self.ok and not self.skipped


def run_suite(workdir: Path, *, quick: bool = False, only: Sequence[str] = FAMILIES, seed: int = 0,
              broker: Prefer = "auto", echo: Any = None) -> list[Family]:
    """Run the chosen families in ``workdir`` on ``broker`` ("auto": Mosquitto when installed, else the embedded
    one); ``echo(text)`` hears progress."""
    say = echo or (lambda text: None)
    out: list[Family] = []
    for name in FAMILIES:
        if name not in only:
            continue
        say(f"selftest: {name} ...")
        started = time.time()
        family = _RUNNERS[name](workdir / name, quick, seed, broker)
        family.seconds = time.time() - started
        say(f"selftest: {name} done in {family.seconds:.0f} s")
        out.append(family)
    return out


def _faults(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.faults import (
        FaultReport,
        Scenario,
        broker_restart,
        house_sigkill,
        keeper_sigkill,
        slow_and_silent,
    )

    async def kills(d: Path, *, prefer: Prefer) -> FaultReport:
        return await house_sigkill(d, kills=HOUSE_KILLS["quick" if quick else "full"], prefer=prefer)

    scenarios: list[Scenario] = [keeper_sigkill, broker_restart, kills, slow_and_silent]

    async def run() -> list[FaultReport | Exception]:
        reports: list[FaultReport | Exception] = []
        for index, scenario in enumerate(scenarios):
            try:
                reports.append(await scenario(workdir / f"run-{index}", prefer=broker))
            except Exception as exc:  # a run that could not finish counts as failed, with its reason
                reports.append(exc)
        return reports

    reports = asyncio.run(run())
    done = [r for r in reports if isinstance(r, FaultReport)]
    injected = sum(len(r.injected) for r in done)
    lost = sum(len(r.audit.lost) for r in done)
    double = sum(len(r.audit.double_settled) for r in done)
    conserved = all(r.audit.conserved for r in done) and len(done) == len(reports)
    same = sum(1 for r in done if r.audit.matches_unfaulted)
    auctions = sum(r.audit.auctions for r in done)
    at_end = sum(r.audit.closed_at_end for r in done)
    unaccounted = sum(len(r.audit.unaccounted) for r in done)
    ok = len(done) == len(reports) and all(r.ok for r in done)
    kinds = Counter(_kind(fault) for r in done for fault in r.injected)
    line = (f"faults: {injected} injected ({', '.join(f'{k} {n}' for k, n in kinds.items())}), {lost} auctions lost, "
            f"{double} double-settled, "
            f"value {'conserved' if conserved else 'NOT conserved'}; {same}/{len(reports)} runs end on the ledger "
            f"of an unfaulted run ({auctions} auctions, {at_end} closed at the run's end; {unaccounted} keeper actions "
            f"unaccounted)")
    details = [f"run failed: {r}" if isinstance(r, Exception) else r.describe() for r in reports
               if isinstance(r, Exception) or not r.ok]
    return Family("faults", line, ok, details)


def _kind(fault: str) -> str:
    """'keeper k00-universal SIGKILL' -> 'keeper SIGKILL'; 'house SIGKILL #2' -> 'house SIGKILL'."""
    who = fault.split(" ", 1)[0]
    for what in ("SIGKILL", "SIGTERM", "slow", "silent"):
        if what in fault:
            return f"{who} {what}"
    return fault


def _attacks(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.attacks import named_attacks

    try:
        report = asyncio.run(named_attacks(workdir, prefer=broker))
    except Exception as exc:
        return Family("attacks", f"attacks: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    n = len(report.attacks)
    refused = sum(1 for a in report.attacks if a.refused)
    logged = sum(1 for a in report.attacks if a.logged)
    clean = sum(1 for a in report.attacks if a.ledger_ok)
    forfeits = sum(1 for a in report.attacks if a.expect == "forfeit" and a.ok)
    line = (f"attacks: {n} named, {refused} refused with their reason code to the sender, {logged} logged, "
            f"{clean} cost the ledger only the attacker's gas ({forfeits} deposit forfeited), "
            f"{len(report.crashes)} crashes; flood of {report.figures.get('flood', 0)}: "
            f"{report.figures.get('flood_rate_limited', 0)} rate-limited")
    return Family("attacks", line, report.ok, [] if report.ok else [report.describe()])


def _access(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    if shutil.which("mosquitto") is None or broker == "embedded":
        return Family("access", "access control: skipped (the ACL needs Mosquitto; apt install mosquitto)", True,
                      skipped=True)
    from auction.net.selftest.attacks import forbidden_publishes

    try:
        report = asyncio.run(forbidden_publishes(workdir))
    except Exception as exc:
        return Family("access", f"access control: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    reached = sum(1 for v in report.forbidden.values() if v)
    compose = {k: v for k, v in report.checks.items() if k.startswith("compose")}
    line = (f"access control: {len(report.forbidden)} forbidden publishes by a keeper, {reached} reached the house "
            f"or any subscriber (Mosquitto, `liqnet network --secure` ACL); compose ACL "
            f"{'holds' if compose and all(compose.values()) else 'FAILED' if compose else 'not installed'}")
    return Family("access", line, report.ok, [] if report.ok else [report.describe()])


def _inputs(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.fuzz import run_fuzz

    report = run_fuzz(seed, FUZZ_SCALE["quick" if quick else "full"])
    return Family("inputs", inputs_line(report), report.ok, report.crashes)


def inputs_line(report: Any) -> str:
    """Every input counted; "wrongly accepted" judged on every stream that can judge it (``FuzzReport.accepted``)."""
    judged = {k: report.tried.get(k, 0) for k in report.accepted}
    wrong = sum(report.accepted.values())
    others = {k: v for k, v in report.tried.items() if k not in judged}
    return (f"bad inputs: {report.total} tried, {wrong} of {sum(judged.values())} wrongly accepted "
            f"({', '.join(f'{k} {v}' for k, v in judged.items())}), {report.crash_count} crashes in all "
            f"({', '.join(f'{k} {v}' for k, v in others.items())} judged by crashes and invariants; house fills on "
            f"boundary numbers {report.figures.get('house_fills', 0)}, the ledger checked after every block)")


_RUNNERS = {"faults": _faults, "attacks": _attacks, "access": _access, "inputs": _inputs}


def summary(families: Sequence[Family], seconds: float, kept: Path | None = None) -> str:
    """The last line: families that held (a skipped family is not one of them), failed and skipped, counted."""
    held = sum(1 for f in families if f.held)
    failed = [f.name for f in families if not f.ok]
    skipped = [f.name for f in families if f.skipped]
    parts = [f"selftest: {held}/{len(families)} families held"]
    if failed:
        parts.append(f", {len(failed)} failed ({', '.join(failed)})")
    if skipped:
        parts.append(f", {len(skipped)} skipped ({', '.join(skipped)})")
    parts.append(f" in {seconds:.0f} s")
    if kept is not None:
        parts.append(f"; runs kept in {kept}")
    return "".join(parts)


def selftest_command(*, quick: bool = False, only: Sequence[str] = FAMILIES, keep: str | None = None,
                     seed: int = 0, broker: Prefer = "auto") -> int:
    """``liqnet selftest``: run the suite, print one line per family (and what failed); 0 when all held."""
    import sys

    from auction.errors import ConfigError

    unknown = [name for name in only if name not in FAMILIES]
    if unknown:
        raise ConfigError(f"--only {','.join(unknown)}: choose from {','.join(FAMILIES)}")
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="liqnet-selftest-")
    workdir = Path(keep) if keep else Path(tmp.name)  # type: ignore[union-attr]
    try:
        started = time.time()
        families = run_suite(workdir, quick=quick, only=only, seed=seed, broker=broker,
                             echo=lambda text: print(text, file=sys.stderr, flush=True))
        for family in families:
            print(family.line, flush=True)
        print(summary(families, time.time() - started, workdir if keep else None), flush=True)
        failed = [f for f in families if not f.ok]
        for family in failed:
            print(f"FAILED {family.name}:", file=sys.stderr)
            for detail in family.details[:10]:
                print(f"  {detail}", file=sys.stderr)
        return 1 if failed else 0
    finally:
        if tmp is not None:
            tmp.cleanup()
