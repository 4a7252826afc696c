"""The live view's model and rendering, and the network commands' one-line errors (no broker needed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from auction import units
from auction.cli import main
from auction.designs.dutch import DutchTerms
from auction.net.house_feed import HouseFeed
from auction.net.protocol_examples import house_fields, wire
from auction.net.view import Monitor, plain_line, render
from broker import messages as m
from broker import topics
from broker.house_signing import HouseTrust


def feed(mon: Monitor, topic: str, msg: m.Message | None) -> None:
    mon.feed(topic, m.encode(msg) if msg is not None else b"")


def test_the_view_believes_only_the_house() -> None:
    """liqnet network's view pins the house key as its keepers do: a stranger's price or result changes nothing."""
    mon = Monitor(house=HouseFeed(HouseTrust(pinned=house_fields()["pubkey"])))
    mon.feed(topics.house_status(), wire(m.HouseStatus(online=True, ts_ms=0, **house_fields())))
    mon.feed(topics.oracle("ETH"), wire(m.OraclePrice(asset="ETH", price_q=units.price_q(100.0), ts_ms=60_000)))
    forged = m.OraclePrice(asset="ETH", price_q=units.price_q(1000.0), ts_ms=72_000)
    mon.feed(topics.oracle("ETH"), m.encode(forged))
    result = m.Result(auction=7, design="dutch", fills=[], returned=0, bad_debt=units.num(1e6), revenue=0, ts_ms=1)
    mon.feed(topics.result(7), m.encode(result))
    assert mon.oracle["ETH"] == 100.0 and mon.settled == 0 and mon.bad_debt == 0 and mon.forged == 2
    mon.feed(topics.result(7), wire(result))  # the house's own: believed
    assert mon.settled == 1 and mon.bad_debt == units.num(1e6)


def test_the_monitor_follows_auctions_keepers_and_bad_debt() -> None:
    mon = Monitor(market=lambda asset, t: 95.0)
    feed(mon, topics.clock(), m.Block(height=10, ts_ms=120_000, gas_gwei_milli=45_000))
    feed(mon, topics.oracle("ETH"), m.OraclePrice(asset="ETH", price_q=units.price_q(100.0), ts_ms=120_000))
    feed(mon, topics.house_status(), m.HouseStatus(online=True, ts_ms=0))
    feed(mon, topics.keeper_status("alice"), m.KeeperStatus(keeper="alice", online=True, balance=units.num(5e5),
                                                            pnl=units.num(1234.0), ts_ms=0))
    terms = DutchTerms(top_q=units.price_q(130.0), curve="linear", tau_ms=600_000, tail_ms=10**6, cusp=0.2, chost=0)
    state = m.State(auction=7, seq=0, status="open", design="dutch", asset="ETH", owner="acct:1",
                    lot=units.col(3.0), tab=units.num(250.0), start_ms=120_000, top_q=terms.top_q, terms=terms,
                    ts_ms=120_000)
    feed(mon, topics.announce(7), m.Announce(auction=7, design="dutch", asset="ETH", lot=state.lot, tab=state.tab,
                                             owner="acct:1", start_ms=120_000, oracle_q=units.price_q(100.0),
                                             terms=terms))
    feed(mon, topics.state(7), state)
    feed(mon, topics.actions("alice"), m.Take(auction=7, keeper="alice", amount=units.col(3.0),
                                              max_price_q=units.price_q(90.0), nonce=1, deadline_ms=10**6))
    assert set(mon.open) == {7} and mon.keepers["alice"].actions == 1
    assert "take #7" in mon.keepers["alice"].last
    line = plain_line(mon)
    assert "ETH oracle 100.00 market 95.00" in line and "auctions open 1 settled 0/1" in line

    feed(mon, topics.result(7), m.Result(auction=7, design="dutch", fills=[m.FillMsg(keeper="alice",
                                         qty=units.col(2.0), cost=units.num(200.0))], returned=units.col(1.0),
                                         bad_debt=units.num(50.0), revenue=units.num(200.0), ts_ms=200_000))
    feed(mon, topics.state(7), None)  # the house clears the retained state of a closed auction
    feed(mon, topics.keeper_status("alice"), m.KeeperStatus(keeper="alice", online=False, ts_ms=0))
    assert mon.open == {} and mon.settled == 1 and mon.bad_debt == units.num(50.0)
    assert not mon.keepers["alice"].online and mon.keepers["alice"].won == 1
    mon.feed(topics.clock(), b"{not json")  # garbage is ignored, never raised
    out = io.StringIO()
    Console(file=out, width=140, force_terminal=True).print(render(mon, "test"))
    text = out.getvalue()
    assert "alice" in text and "offline" in text and "bad debt 50 USD" in text


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["house", "--broker", "mqtt://127.0.0.1:1"], "--scenario is required"),
        (["keeper", "--strategy", "universal", "--config", "[1]", "--key", "{tmp}/k.key"], "--config must be"),
        (["keeper", "--strategy", "universal", "--id", "bad/id", "--key", "{tmp}/k.key"], "--id 'bad/id'"),
        (["network", "--keepers", "2", "--keeper", "universal"], "not allowed with argument"),
        (["network", "--scenario", "no-such-scenario"], "no-such-scenario"),
        (["network", "--secure", "--broker", "mqtt://127.0.0.1:1"], "--secure starts its own Mosquitto"),
    ],
)
def test_network_commands_refuse_bad_input_with_one_line(argv: list[str], needle: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    except SystemExit as exc:  # argparse's own errors exit from parsing
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err and len(err.splitlines()) == 1, err
