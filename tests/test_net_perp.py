"""A perp network run: position auctions over the signed MQTT protocol, keeper processes, identities held."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from auction.net.network import network_command

pytestmark = pytest.mark.broker


def test_liqnet_network_runs_perp_dutch_on_perp_may_2021(tmp_path: Path) -> None:
    text = io.StringIO()
    code = network_command("perp-may-2021", design="perp-dutch", accounts=40, speed=14_400.0, out=str(tmp_path),
                           live=False, console=Console(file=text, width=200))
    assert code == 0, text.getvalue()  # the house exits 1 when its ledger or position book fails a check
    report = json.loads((tmp_path / "perp-may-2021.json").read_text())
    assert report["mode"] == "network" and report["designs"] == ["perp-dutch"]
    metrics = report["runs"][0]["metrics"]
    assert metrics["auctions"] > 0 and metrics["liquidated_notional"] > 0
    assert metrics["liquidator_profit"] != 0  # keeper processes took positions over (and paid gas)
    assert metrics["bad_debt"] >= 0 and metrics["insurance_drawdown"] >= 0
