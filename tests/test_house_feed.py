"""What a keeper believes (auction.net.house_feed): only what the trusted house signed, for its current run."""

from __future__ import annotations

from auction.net.house_feed import WAITING_KEPT, HouseFeed
from broker import messages as m
from broker.house_signing import HouseTrust, Signer
from broker.signing import KeyPair

HOUSE = Signer(KeyPair.from_seed(b"\x01" * 32), "run-1")
STRANGER = Signer(KeyPair.from_seed(b"\x02" * 32), "run-1")


def status(signer: Signer, *, started_ms: int = 1, online: bool = True) -> tuple[bytes, m.Message]:
    msg = m.HouseStatus(online=online, pubkey=signer.pubkey, run=signer.run, started_ms=started_ms, ts_ms=0)
    return signer(m.encode(msg)), msg


def signed(signer: Signer, msg: m.Message) -> tuple[bytes, m.Message]:
    return signer(m.encode(msg)), msg


def oracle(price: float, ts_ms: int) -> m.OraclePrice:
    return m.OraclePrice(asset="ETH", price_q=int(price * 1e6), ts_ms=ts_ms)


RESULT = m.Result(auction=3, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=5)


def test_the_house_is_believed_and_a_stranger_is_not() -> None:
    feed = HouseFeed(HouseTrust(pinned=HOUSE.pubkey))
    assert feed.admit(*status(HOUSE))[0][1].online  # type: ignore[union-attr]
    assert feed.admit(*signed(HOUSE, RESULT)) == [signed(HOUSE, RESULT)]
    assert feed.admit(*signed(STRANGER, RESULT)) == []  # a stranger's own key: dropped
    assert feed.admit(m.encode(RESULT), RESULT) == []  # unsigned: dropped
    assert feed.admit(*status(STRANGER, started_ms=9)) == []  # a stranger's status cannot take over
    forged = signed(HOUSE, RESULT)[0].replace(b'"auction":3', b'"auction":4')
    assert feed.admit(forged, m.decode(forged)) == []  # a signed message changed: dropped
    assert feed.dropped == 4


def test_a_ten_times_oracle_price_forged_or_replayed_is_dropped() -> None:
    feed = HouseFeed(HouseTrust(pinned=HOUSE.pubkey))
    feed.admit(*status(HOUSE))
    real, old = oracle(1800, 600_000), oracle(18_000, 300_000)
    assert feed.admit(*signed(STRANGER, oracle(18_000, 700_000))) == []
    assert feed.admit(*signed(HOUSE, real)) == [signed(HOUSE, real)]
    assert feed.admit(*signed(HOUSE, old)) == []  # the house's own, older: a replay
    assert (feed.dropped, feed.stale) == (2, 1)


def test_what_came_before_the_first_status_waits_for_it() -> None:
    feed = HouseFeed(HouseTrust())  # trust on first use
    block = m.Block(height=5, ts_ms=60_000, gas_gwei_milli=1)
    assert feed.admit(*signed(HOUSE, block)) == []
    assert feed.admit(*signed(STRANGER, RESULT)) == []
    out = feed.admit(*status(HOUSE))
    assert [type(x) for _, x in out] == [m.HouseStatus, m.Block]  # the block it signed; the stranger's result dropped
    assert feed.trust.key == HOUSE.pubkey and feed.dropped == 1


def test_a_later_run_of_the_same_house_replaces_the_earlier_one() -> None:
    feed = HouseFeed(HouseTrust(pinned=HOUSE.pubkey))
    feed.admit(*status(HOUSE, started_ms=1))
    feed.admit(*signed(HOUSE, oracle(1800, 600_000)))
    second = Signer(HOUSE.key, "run-2")
    assert feed.admit(*status(second, started_ms=2))
    assert feed.admit(*signed(HOUSE, RESULT)) == []  # the first run's messages no longer verify
    assert feed.admit(*signed(second, oracle(1700, 60_000))) != []  # a new run's prices start again
    assert feed.admit(*status(HOUSE, started_ms=1)) == []  # the old run's status replayed: not taken back


def test_waiting_is_bounded() -> None:
    feed = HouseFeed(HouseTrust())
    for n in range(WAITING_KEPT + 50):
        feed.admit(*signed(HOUSE, m.Block(height=n, ts_ms=n, gas_gwei_milli=1)))
    out = feed.admit(*status(HOUSE))
    assert len(out) == 1 + WAITING_KEPT and out[1][1].height == 50  # type: ignore[union-attr]
