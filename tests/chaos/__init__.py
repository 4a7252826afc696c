"""Fault injection and attacks on real processes: what the ``tests/test_reliability_*.py`` files share.

Where the suite lives (decision): the runnable suite is ``auction/net/selftest/`` (harness, fault scenarios,
named attacks, seeded fuzzing), inside the installed package, so ``liqnet selftest`` works for users who
installed liqnet from a wheel (the tests directory is not installed). This package is the checkout's side:
``python -m tests.chaos [--quick]`` runs that same command (its arguments are parsed in ``auction/cli/``
only), and the pytest files call the same scenario functions and assert on their reports, claim by claim,
so a failing claim names itself.
"""

from __future__ import annotations

import shutil
from typing import Any, Protocol

import pytest

requires_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="the broker ACL (secure mode) needs Mosquitto: apt install mosquitto"
)


class Claims(Protocol):
    checks: dict[str, bool]

    def describe(self) -> str: ...


def failed_claims(report: Claims) -> list[str]:
    """The named checks of a report that did not hold (empty when all did)."""
    return [name for name, held in report.checks.items() if not held]


def explain(report: Any) -> str:
    """A report's full description, for assertion messages: faults, figures, audit, failed claims."""
    return str(report.describe())
