"""Who may register with a network house and with what capital (auction.net.funding): reserved ids never, ids the
configuration does not name never funded (unless funding is opened, and then only so many), capital bound to
the key the house was given, so a squatter gets nothing and the owner still gets its capital."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auction import units
from auction.book.ledger import USD
from auction.errors import ConfigError, Rejected
from auction.net.funding import Funding
from auction.net.house_core import HouseCore
from auction.net.runspec import named_funding
from auction.run.kernel import RESERVED_IDS
from broker import messages as m
from broker.signing import KeyPair
from tests.test_net_journal import spec, synthetic_world

ALI, SQUATTER = KeyPair.from_seed(b"\x01" * 32), KeyPair.from_seed(b"\x02" * 32)


def core(funding: Funding) -> HouseCore:
    return HouseCore(synthetic_world(n=4), spec(funding=funding))


def register(house: HouseCore, who: str, key: KeyPair, nonce: int = 1) -> str | None:
    """Admit and apply a Register; the refusal code, or None when it was accepted."""
    entry, refused = house.admit(m.encode(key.register(who, nonce)), who, 0.0)
    if entry is None:
        assert len(refused) == 1 and isinstance(refused[0], m.Rejection)
        return refused[0].code
    house.apply([entry])
    return None


def supply(house: HouseCore) -> int:
    return house.ledger.supply[USD]


def test_no_reserved_id_is_ever_registrable() -> None:
    house = core(Funding({"ali": 1000.0}, open_funding=1e6, tofu=True))  # as open as a house can be
    before = supply(house)
    assert {"kicker", "protocol", "insurance", "market", "chain", "written-off", "house", "watcher"} <= RESERVED_IDS
    for nonce, who in enumerate(sorted(RESERVED_IDS), 1):
        assert register(house, who, ALI, nonce) == "reserved-id", who
    assert supply(house) == before and not house.funded
    with pytest.raises(Rejected) as err:  # and the kernel itself never funds one
        house.kernel.fund("kicker", units.num(1e6))
    assert err.value.code == "reserved-id"


def test_an_id_the_configuration_does_not_name_gets_nothing() -> None:
    house = core(Funding({"ali": 1000.0}, keys={"ali": ALI.pubkey}))
    before = supply(house)
    for n in range(50):  # a farm of fresh ids
        assert register(house, f"stranger-{n}", KeyPair.from_seed(bytes([n + 3]) * 32)) == "unknown-keeper"
    assert supply(house) == before and not house.funded


def test_open_funding_funds_fresh_ids_up_to_its_cap() -> None:
    house = core(Funding({}, open_funding=250.0, open_ids=3))
    before = supply(house)
    codes = [register(house, f"fresh-{n}", KeyPair.from_seed(bytes([n + 3]) * 32)) for n in range(5)]
    assert codes == [None, None, None, "unknown-keeper", "unknown-keeper"]
    assert supply(house) - before == 3 * units.num(250.0)
    assert register(house, "fresh-0", KeyPair.from_seed(bytes([3]) * 32), nonce=2) is None  # comes back: not refunded
    assert supply(house) - before == 3 * units.num(250.0)


def test_a_squatter_on_a_funded_id_gets_nothing_and_the_owner_gets_its_capital() -> None:
    house = core(Funding({"ali": 1000.0}, keys={"ali": ALI.pubkey}))
    assert register(house, "ali", SQUATTER) == "wrong-keeper"  # first to register, with the wrong key
    assert not house.funded
    assert register(house, "ali", ALI) is None
    assert house.ledger.escrow("ali") == units.num(1000.0)


def test_a_named_id_without_a_key_needs_trust_on_first_use() -> None:
    assert register(core(Funding({"ali": 1000.0})), "ali", SQUATTER) == "unknown-key"
    tofu = core(Funding({"ali": 1000.0}, tofu=True))
    assert register(tofu, "ali", SQUATTER) is None  # the operator asked for it: first use binds
    assert register(tofu, "ali", ALI, nonce=2) == "wrong-keeper"


def test_a_new_run_funds_named_ids_bound_to_keys_and_the_population_the_keyring_binds() -> None:
    population = {"k00": 10.0, "k01": 20.0}
    funding = named_funding(Funding({"ali": 5.0}, keys={"ali": ALI.pubkey, "k01": SQUATTER.pubkey}), population)
    assert funding.funds == {"k01": 20.0, "ali": 5.0}  # k00 has no key: not funded
    assert named_funding(Funding(tofu=True), population).funds == population
    with pytest.raises(ConfigError, match="--fund bob: no key for these ids"):
        named_funding(Funding({"bob": 5.0}), population)
    with pytest.raises(ConfigError, match="would fund no keeper"):
        named_funding(Funding(), population)
    assert named_funding(Funding(open_funding=1.0), population).funds == {}


def test_the_house_command_says_in_one_line_what_funding_needs(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "auction.cli", "house", "--scenario", "gbm-calm", "--broker",
                          "mqtt://127.0.0.1:1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "liqnet: error: this house would fund no keeper: give --keyring FILE with the keepers' keys (`liqnet keeper "
        "--id ID --print-key`), --tofu, or --open-funding USD"]


def test_a_keeper_prints_its_keyring_line(tmp_path: Path) -> None:
    key = f"{tmp_path}/alice.key"
    run = subprocess.run([sys.executable, "-m", "auction.cli", "keeper", "--id", "alice", "--key", key,
                          "--print-key"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    again = subprocess.run([sys.executable, "-m", "auction.cli", "keeper", "--id", "alice", "--key", key,
                            "--print-key"], capture_output=True, text=True, timeout=60)
    name, pubkey = run.stdout.split()
    assert name == "alice" and len(pubkey) == 64 and again.stdout == run.stdout  # the same key, made once
