"""The forgery family of the selftest: a stranger on the broker publishes as the house (a result for every auction
saying it settled unsold, a retained oracle price ten times the real one, house statuses naming its own key, the
house's own price tampered and an old one replayed). Keepers believe only what the house signed: each drops every
forgery, keeps buying, and pays nothing above the real price (the red team saw 0 takes and 1.04M USD of bad debt,
and 274k USD overpaid, before the house signed its messages)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from auction import units
from auction.net.selftest.families import forgery_line
from auction.net.selftest.forgery import _overpaid, forged_house
from broker import messages as m
from tests.chaos import explain, failed_claims

pytestmark = [pytest.mark.faults, pytest.mark.broker]


def test_keepers_believe_only_the_house(tmp_path: Path) -> None:
    report = asyncio.run(forged_house(tmp_path))
    assert failed_claims(report) == [], explain(report)
    assert report.audit is not None and report.audit.ok, explain(report)
    f = report.figures
    assert f["forged_sent"] > 100 and len(report.sent) == 7  # every kind of forgery was made, many times
    assert f["auctions_forged_settled"] >= 50 and f["of_which_bought_by_keepers"] >= 0.9 * f["auctions_forged_settled"]
    assert f["usd_paid_above_the_real_oracle"] == 0.0
    assert "0.0 USD paid above the real oracle price; 0 auctions lost, value conserved" in forgery_line(report)


def test_the_overpayment_figure_counts_a_fill_above_the_real_price() -> None:
    """What the 10x price would have cost, had a keeper believed it: a lot bought at 5x the oracle is counted."""
    price = m.OraclePrice(asset="ETH", price_q=units.price_q(2000.0), ts_ms=600_000)
    fill = m.FillMsg(keeper="k", qty=units.col(2.0), cost=units.num(20_000.0))
    result = m.Result(auction=1, design="dutch", fills=[fill], returned=0, bad_debt=0, revenue=fill.cost,
                      ts_ms=700_000)
    watcher = SimpleNamespace(oracle={"ETH": [(0.0, price)]}, result_msgs={1: result})
    assert _overpaid(SimpleNamespace(watcher=watcher)) == pytest.approx(16_000.0)  # type: ignore[arg-type]
    fair = m.FillMsg(keeper="k", qty=units.col(2.0), cost=units.num(3_900.0))
    watcher.result_msgs = {1: m.Result(auction=1, design="dutch", fills=[fair], returned=0, bad_debt=0,
                                       revenue=fair.cost, ts_ms=700_000)}
    assert _overpaid(SimpleNamespace(watcher=watcher)) == 0.0  # type: ignore[arg-type]
