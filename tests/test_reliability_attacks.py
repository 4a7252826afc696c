"""Named attacks against a real house process over a real broker, and the broker's access control.

One sealed-bid network (house, three keepers) is attacked once from this process (module fixture); each named
attack then has its own test: refused with its reason code on the sender's rejection topic, logged by the
house, and costing the ledger nothing but the attacker's gas (measured against the same journal replayed
without the attack). tests/test_broker_signing.py shows the Verifier's refusals in isolation and
tests/test_broker_mqtt.py the ACL at bus level; these go through the house process end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import pytest

from auction.designs.dutch import DutchTerms
from auction.net.flood_gate import ID_FLOOD
from auction.net.protocol_examples import house_fields, wire
from auction.net.selftest.access import forbidden_publishes
from auction.net.selftest.attacks import AttackReport, named_attacks
from auction.net.selftest.fuzz import corpus
from broker import messages as m
from broker import topics
from broker.server import BrokerHandle
from broker.transport import connect
from tests.chaos import explain, failed_claims, requires_mosquitto
from tests.test_broker_mqtt import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.broker]

ATTACKS = ("forged signature", "replayed nonce", "unknown key", "bid as another keeper", "bid over escrow",
           "bid after deadline", "oversized payload", "reveal not matching its commit", "commit without reveal",
           "register a reserved id (kicker)", "a farm of 200 fresh ids asking for capital",
           "squat a funded id before its owner", "an action with a key twice", "an old accepted action replayed",
           "flood from one keeper")


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> AttackReport:
    return asyncio.run(named_attacks(tmp_path_factory.mktemp("attacks")))


def test_every_named_attack_was_made(attacked: AttackReport) -> None:
    assert [a.name for a in attacked.attacks] == list(ATTACKS)


@pytest.mark.parametrize("name", ATTACKS)
def test_each_attack_is_refused_with_its_code_logged_and_costs_only_gas(attacked: AttackReport, name: str) -> None:
    attack = next(a for a in attacked.attacks if a.name == name)
    assert attack.refused, f"{name}: expected {attack.expect}, the sender got {attack.got}\n{explain(attacked)}"
    assert attack.logged, f"{name}: no '{attack.expect}' line in the house's log"
    assert attack.ledger_ok, f"{name}: ledger effect {attack.ledger}"


def test_what_each_attack_cost_the_ledger(attacked: AttackReport) -> None:
    effect = {a.name: a.ledger.split(" ")[0] for a in attacked.attacks}
    # Refused at admission: never journaled, so the ledger never saw them.
    # (An id the house does not name never reaches it: never journaled either.)
    for name in ("forged signature", "replayed nonce", "unknown key", "bid as another keeper", "bid after deadline",
                 "oversized payload", "flood from one keeper", "register a reserved id (kicker)",
                 "a farm of 200 fresh ids asking for capital", "squat a funded id before its owner",
                 "an action with a key twice"):
        assert effect[name] == "unchanged", (name, effect[name])
    assert effect["an old accepted action replayed"] == "applied"  # "applied 1 time(s)": once, as first sent
    # Refused by the auction's rules inside a block: the reverted transaction's gas, nothing else.
    for name in ("bid over escrow", "reveal not matching its commit"):
        assert effect[name] == "gas", (name, effect[name])
    forfeit = next(a for a in attacked.attacks if a.name == "commit without reveal")
    assert "deposit 100.00 USD" in forfeit.ledger  # the deposit to the protocol, and its gas: nothing else


def test_identities_cannot_be_forged_or_farmed(attacked: AttackReport) -> None:
    figures = attacked.figures
    assert figures["farm"] == 200 and figures["farm_refused"] == figures["farm_heard"] == 0  # never listened to
    assert figures["minted_for_strangers_usd"] == 0
    assert figures["late_escrow_usd"] == 777.0  # the owner was funded once, with the key the house was given
    old = next(a for a in attacked.attacks if a.name == "an old accepted action replayed")
    assert old.got == [] and old.logged and old.ledger == "applied 1 time(s)"


def test_no_process_crashed_and_the_house_went_on(attacked: AttackReport) -> None:
    assert attacked.crashes == []
    assert failed_claims(attacked) == [], explain(attacked)  # incl. stopped cleanly, conserved, flood refused
    assert attacked.figures["flood_rate_limited"] > 0
    f = attacked.figures  # answered once a second over its rate, the rest dropped before decoding (counted)
    heard = f["flood_rate_limited"] + f["flood_malformed"] + f["flood_dropped"]  # then muted: the rest unheard
    assert heard >= f["flood"] or (f["flood_muted"] and heard >= ID_FLOOD)
    assert f["flood_rate_limited"] <= 2 + int(f["flood_seconds"])


@requires_mosquitto
async def test_a_keepers_forbidden_publishes_never_reach_the_house(tmp_path: Path) -> None:
    """`liqnet network --secure`'s configuration: forged oracle price, block, state, result, house status, and
    another keeper's actions and status never reach the house process nor any subscriber; compose.yaml's ACL
    (keepers share one user, confined by client id) holds too."""
    report = await forbidden_publishes(tmp_path)
    assert report.control, "mallory's own-topic action must reach the house (positive control)"
    assert report.forbidden and not any(report.forbidden.values()), report.describe()
    assert failed_claims(report) == [], report.describe()


async def test_a_keeper_survives_an_announce_its_curve_cannot_take(own_broker: BrokerHandle, tmp_path: Path) -> None:
    """A house (here one the keeper trusts on first use: it signs with the test house key) can publish an
    announce the keeper cannot price (a curve cut of 2.0: the schema allows it, auction/curves.py does not) must
    cost it that auction, not its life. Before the fix in KeeperProcess.deliver the keeper exited with code 1."""
    keeper = subprocess.Popen(
        [sys.executable, "-m", "auction.cli", "--log-format", "json", "keeper", "--strategy", "universal", "--id",
         "victim", "--key", str(tmp_path / "victim.key"), "--speed", "600"],
        env={**os.environ, "LIQNET_BROKER": own_broker.url, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "victim.log").open("wb"))
    try:
        announce = next(x for x in corpus() if isinstance(x, m.Announce) and x.design == "dutch")
        assert isinstance(announce.terms, DutchTerms)
        bad = msgspec.structs.replace(announce, terms=msgspec.structs.replace(announce.terms, cut=2.0))
        async with connect(own_broker.url, f"forger-{uuid.uuid4().hex[:6]}") as bus:
            await bus.subscribe(topics.actions("victim"))
            await bus.publish(topics.house_status(), wire(m.HouseStatus(online=True, ts_ms=0, **house_fields())))
            # The keeper registers when it hears the house online: then it is up and subscribed.
            await wait_for(bus, lambda env: env.topic == topics.actions("victim"), timeout=30)
            await bus.publish(topics.clock(), wire(m.Block(height=1, ts_ms=600_000, gas_gwei_milli=20_000)))
            price = m.OraclePrice(asset=bad.asset, price_q=bad.oracle_q, ts_ms=600_000)  # the keeper values the lot
            await bus.publish(topics.oracle(bad.asset), wire(price))
            await bus.publish(topics.announce(bad.auction), wire(bad))
            await until_logged(tmp_path / "victim.log", "message skipped: the agent cannot handle it", keeper)
            for topic in (topics.house_status(), topics.clock(), topics.oracle(bad.asset)):
                await bus.publish(topic, b"", retain=True)
        assert keeper.poll() is None, (tmp_path / "victim.log").read_text()[-1500:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            keeper.send_signal(signal.SIGTERM)
        keeper.wait(10)


async def until_logged(path: Path, event: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until the process's JSON log has a line for ``event`` (it handled the message), or it died."""
    deadline = asyncio.get_running_loop().time() + timeout
    while f'"event": "{event}"' not in path.read_text(errors="replace"):
        assert process.poll() is None, f"the process exited: {path.read_text()[-1500:]}"
        assert asyncio.get_running_loop().time() < deadline, f"no {event!r} in {path}: {path.read_text()[-1500:]}"
        await asyncio.sleep(0.02)
