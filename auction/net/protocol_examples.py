"""One example of every wire message, for PROTOCOL.md (``auction.net.protocol_doc``) and the wire tests.

The actions are signed by a fixed test key, the house's messages by a fixed test house key (``wire``), both
public on purpose: never use them for anything real.
"""

from __future__ import annotations

from typing import Any

from auction.designs.dutch import DutchTerms
from auction.designs.english import EnglishTerms
from auction.designs.fixed import FixedTerms
from auction.designs.sealed import SealedTerms
from auction.net.runspec import DEFAULT_SPEED
from auction.sealed import commitment
from broker import messages as m
from broker import topics
from broker.house_signing import Signer
from broker.signing import KeyPair

TEST_SEED = bytes(range(32))  # the worked example's key
TEST_HOUSE_SEED = bytes(range(32, 64))  # the worked example's house key
TEST_RUN = "5f0e8c2a9b7d4e61a3c2b1d0f9e8d7c6"  # the worked example's run id
TEST_KEEPER = "alice"
TEST_SALT = bytes.fromhex("5a17" * 8)  # 16 bytes


def house_signer() -> Signer:
    return Signer(KeyPair.from_seed(TEST_HOUSE_SEED), TEST_RUN)


def house_fields() -> dict[str, str]:
    """What a ``house-status`` of the test house names: its key and its run (a test's fake house uses them)."""
    return {"pubkey": KeyPair.from_seed(TEST_HOUSE_SEED).pubkey, "run": TEST_RUN}


def wire(msg: m.Message) -> bytes:
    """The bytes of one example as they travel: a house message signed by the test house key for TEST_RUN."""
    payload = m.encode(msg)
    return house_signer()(payload) if isinstance(msg, m.HOUSE_MESSAGES) else payload


def examples() -> list[tuple[str, m.Message]]:
    """One example of every message, with the topic it travels on; actions signed by the test key."""
    key = KeyPair.from_seed(TEST_SEED)
    k = TEST_KEEPER
    dutch = DutchTerms(
        top_q=2_160_000_000,
        curve="stairstep",
        cut=0.99,
        step_ms=90_000,
        tail_ms=7_200_000,
        cusp=0.4,
        chost=5_000_000_000,
        tip=100_000_000,
        chip=0.001,
    )
    sealed = SealedTerms(
        commit_end_ms=660_000,
        reveal_end_ms=1_260_000,
        reserve_q=1_500_000_000,
        deposit=1_000_000_000,
        second_price=True,
    )
    english = EnglishTerms(beg=1.05, ttl_ms=10_800_000, tau_ms=172_800_000, end_ms=173_400_000)
    fixed = FixedTerms(
        debt=60_000_000_000,
        collateral=40_000_000_000,
        close_factor=0.5,
        bonus=0.05,
        health=0.97,
        max_repay=30_000_000_000,
    )
    common: dict[str, Any] = {"asset": "ETH", "lot": 40_000_000_000, "tab": 60_000_000_000, "owner": "acct:17"}
    digest = commitment(8, k, 1_750_000_000, 10_000_000_000, TEST_SALT).hex()
    return [
        (topics.oracle("ETH"), m.OraclePrice(asset="ETH", price_q=1_800_000_000, ts_ms=600_000)),
        (topics.clock(), m.Block(height=50, ts_ms=600_000, gas_gwei_milli=35_500, native_q=1_800_000_000)),
        (
            topics.house_status(),
            m.HouseStatus(
                online=True,
                version="liqnet-house/1",
                design="dutch",
                block_ms=12_000,
                end_ms=108_000_000,
                speed=DEFAULT_SPEED,
                lag_ms=1_500,
                max_lag_ms=7_200,
                late_blocks=0,
                native="ETH",
                gas={"take": 180_000, "redo": 120_000},
                pubkey=KeyPair.from_seed(TEST_HOUSE_SEED).pubkey,
                run=TEST_RUN,
                started_ms=1_764_500_000_000,
                ts_ms=600_000,
            ),
        ),
        (
            topics.keeper_status(k),
            m.KeeperStatus(
                keeper=k, online=True, pubkey=key.pubkey, balance=250_000_000_000, pnl=-1_250_000, ts_ms=1_000
            ),
        ),
        (topics.actions(k), key.register(k, nonce=1)),
        (
            topics.announce(7),
            m.Announce(auction=7, design="dutch", start_ms=600_000, oracle_q=1_800_000_000, terms=dutch, **common),
        ),
        (
            topics.state(7),
            m.State(
                auction=7,
                seq=1,
                status="open",
                design="dutch",
                start_ms=600_000,
                top_q=2_160_000_000,
                terms=dutch,
                ts_ms=600_000,
                **common,
            ),
        ),
        (
            topics.actions(k),
            key.sign(
                m.Take(
                    auction=7,
                    keeper=k,
                    amount=40_000_000_000,
                    max_price_q=1_700_000_000,
                    nonce=2,
                    deadline_ms=1_900_000,
                    priority_fee=2_000,
                )
            ),
        ),
        (topics.actions(k), key.sign(m.Redo(auction=7, keeper=k, nonce=3, deadline_ms=8_000_000))),
        (topics.actions(k), key.sign(m.Commit(auction=8, keeper=k, digest=digest, deposit=1_000_000_000, nonce=4))),
        (
            topics.actions(k),
            key.sign(
                m.Reveal(auction=8, keeper=k, price_q=1_750_000_000, qty=10_000_000_000, salt=TEST_SALT.hex(), nonce=5)
            ),
        ),
        (
            topics.actions(k),
            key.sign(
                m.EnglishBid(auction=9, keeper=k, lot=40_000_000_000, bid=30_000_000_000, nonce=6, deadline_ms=700_000)
            ),
        ),
        (
            topics.actions(k),
            key.sign(
                m.Liquidate(
                    auction=10, keeper=k, repay=30_000_000_000, priority_fee=5_000, nonce=7, deadline_ms=640_000
                )
            ),
        ),
        (
            topics.rejections(k),
            m.Rejection(
                keeper=k, ref=2, code="too-expensive", text="price 1716 USD is above max_price 1700 USD", ts_ms=612_000
            ),
        ),
        (topics.acks(k), m.Ack(keeper=k, ref=2, auction=7, height=51, ts_ms=612_000)),
        (
            topics.account(k),
            m.Account(
                keeper=k,
                funded=1_000_000_000_000,
                balance=939_600_000_000,
                held=0,
                gas_paid=11_664_000,
                height=51,
                ts_ms=612_000,
            ),
        ),
        (
            topics.result(7),
            m.Result(
                auction=7,
                design="dutch",
                fills=[m.FillMsg(keeper=k, qty=35_294_117_647, cost=60_000_000_000)],
                returned=4_705_882_353,
                bad_debt=0,
                revenue=60_000_000_000,
                ts_ms=1_590_000,
            ),
        ),
        (
            topics.announce(8),
            m.Announce(
                auction=8, design="sealed-second", start_ms=60_000, oracle_q=1_800_000_000, terms=sealed, **common
            ),
        ),
        (
            topics.announce(9),
            m.Announce(auction=9, design="english", start_ms=600_000, oracle_q=1_800_000_000, terms=english, **common),
        ),
        (
            topics.state(9),
            m.State(
                auction=9,
                seq=4,
                status="open",
                design="english",
                start_ms=600_000,
                top_q=0,
                bid=30_000_000_000,
                guy=k,
                tic_ms=11_400_000,
                terms=english,
                ts_ms=600_000,
                **common,
            ),
        ),
        (
            topics.announce(10),
            m.Announce(auction=10, design="fixed", start_ms=600_000, oracle_q=1_800_000_000, terms=fixed, **common),
        ),
    ]
