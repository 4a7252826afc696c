"""The broker family of the selftest: one stranger against the embedded broker (idle sockets over the cap,
100 MB PUBLISHes, protocol violations, a live client id), and the signals that used to leave orphans
(`liqnet broker` stopped or killed, `liqnet network` killed with SIGKILL): nothing may be left behind."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from auction.net.selftest.broker_faults import CAP, IDLE, VIOLATIONS, broker_family
from auction.net.selftest.families import broker_line
from tests.chaos import explain, failed_claims

pytestmark = [pytest.mark.faults, pytest.mark.broker,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux (/proc, prctl)")]


def test_the_broker_holds_against_one_stranger_and_nothing_is_orphaned(tmp_path: Path) -> None:
    report = asyncio.run(broker_family(tmp_path))
    assert failed_claims(report) == [], explain(report)
    figures = report.figures
    assert figures["idle"]["over_cap_closed_at_once"] == IDLE - CAP
    assert figures["violations"] == {"tried": len(VIOLATIONS), "closed": len(VIOLATIONS)}
    assert figures["liqnet network SIGKILL"]["processes"] >= 5  # broker, house, three keepers
    assert figures["liqnet network SIGKILL"]["left"] == 0
    assert " 0 brokers left; liqnet network SIGKILLed: 0 of " in broker_line(report)
