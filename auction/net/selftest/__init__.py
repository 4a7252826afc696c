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
  admission (nothing mutated is accepted) and of its rules on boundary numbers (invariants after every block),
  for the vault designs and for every perp design (``fuzz_perp.py``: the position book's checks too).
- ``journal`` (``journal_faults.py``): a second house on one journal, a WAL deleted or cut, damaged copies:
  each refused in one line with exit 2;
- ``broker`` (``broker_faults.py``): one stranger against the embedded broker's limits, and no orphaned broker;
- ``forgery`` (``forgery.py``): a stranger publishing as the house (results, a 10x oracle price, statuses,
  tampered and replayed prices): every keeper drops every one, keeps buying, and pays nothing above the real
  price.
- ``floods`` (``floods.py``): 10,000 actions a second from one stranger id and from a new id per message, and
  the broker paused (10 s, and 35 s in a full run): the blocks keep coming, never in a burst, the house's memory
  stays flat, one rejection per id per window, honest keepers' actions still accepted, the house resumes itself.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.server import Prefer

FAMILIES = ("faults", "attacks", "access", "inputs", "journal", "broker", "forgery", "floods")
# --quick against a full run: house kills and the multiplier of fuzz inputs (auction.net.selftest.fuzz.run_fuzz).
HOUSE_KILLS = {"quick": 1, "full": 3}
FUZZ_SCALE = {"quick": 1, "full": 5}


def quick_text() -> str:
    """What --quick leaves out, from the figures the suite really uses."""
    fewer = FUZZ_SCALE["full"] // FUZZ_SCALE["quick"]
    return f"one house kill instead of {HOUSE_KILLS['full']}, {fewer}x fewer fuzz inputs, no 35 s broker pause"


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
        family = RUNNERS[name](workdir / name, quick, seed, broker)
        family.seconds = time.time() - started
        say(f"selftest: {name} done in {family.seconds:.0f} s")
        out.append(family)
    return out


from auction.net.selftest.families import RUNNERS, inputs_line  # noqa: E402 - the runners need Family above

__all__ = ["FAMILIES", "RUNNERS", "Family", "inputs_line", "run_suite", "selftest_command", "summary"]


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
