"""The floods family of the selftest (issue 17, findings 6-7): 10,000 actions a second from one stranger id and
from a new id per message, and the broker paused, against a real network at 600x (a block every 20 ms).

Before flood control the house made 6 of 251 owed blocks during a 5 s flood from one id and published a rejection
for each refused action; after a 10 s broker pause it made 449 blocks in one second; after 35 s it exited 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from auction.net.selftest.families import floods_line
from auction.net.selftest.floods import broker_paused, flood_funded_id, flood_one_id, flood_rotating_ids
from tests.chaos import explain, failed_claims

pytestmark = [pytest.mark.faults, pytest.mark.broker]


@pytest.mark.parametrize("flood", [flood_one_id, flood_rotating_ids, flood_funded_id],
                         ids=["one-id", "rotating-ids", "funded-id"])
def test_a_flood_neither_stalls_the_clock_nor_bursts_it(flood: object, tmp_path: Path) -> None:
    report = asyncio.run(flood(tmp_path))  # type: ignore[operator]
    assert failed_claims(report) == [], explain(report)
    f = report.figures
    assert f["sent"] >= 40_000  # the flood really went out
    assert f["honest_actions_sent"] > 0  # and honest keepers acted during it
    if report.name != "flood from one funded id":
        assert f["rejections_to_flooders"] <= 2 * 200 + 200 * (f["seconds"] + 1)  # strangers: one small budget
    assert floods_line([report]).startswith("floods: 1/1 held; ")


@pytest.mark.parametrize("seconds", [10.0, 35.0])
def test_a_paused_broker_brings_no_burst_and_the_house_resumes_by_itself(seconds: float, tmp_path: Path) -> None:
    report = asyncio.run(broker_paused(tmp_path, seconds=seconds))
    assert failed_claims(report) == [], explain(report)
    assert report.figures["house_exit_code_during"] is None  # still running when the pause ended
