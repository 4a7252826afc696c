"""PROTOCOL.md stays true: generated blocks current, every JSON example valid, signed ones verify."""

from __future__ import annotations

import re
from pathlib import Path

from auction.net.protocol_doc import TEST_SEED, examples, update
from auction.sealed import commitment
from broker import messages as m
from broker import topics as t
from broker.signing import KeyPair, verify

DOC = Path(__file__).resolve().parent.parent / "PROTOCOL.md"


def test_generated_blocks_are_current() -> None:
    text = DOC.read_text()
    assert update(text) == text, "run: python -m auction.net.protocol_doc PROTOCOL.md"


def test_every_json_example_is_a_valid_message() -> None:
    blocks = re.findall(r"```json\n(.*?)\n```", DOC.read_text(), re.S)
    decoded = [m.decode(block.encode()) for block in blocks]
    assert {m.tag_of(type(x)) for x in decoded} == {m.tag_of(cls) for cls in m.MESSAGES}
    pubkey = KeyPair.from_seed(TEST_SEED).pubkey
    for msg in decoded:
        if isinstance(msg, m.ACTIONS):
            assert verify(msg, pubkey), msg


def test_examples_travel_on_their_topics() -> None:
    for topic, msg in examples():
        parsed = t.parse(topic)
        assert parsed is not None and m.tag_of(type(msg)) in parsed.policy.messages
        if parsed.keeper is not None and isinstance(msg, m.ACTIONS):
            assert msg.keeper == parsed.keeper


def test_commit_example_matches_its_reveal() -> None:
    msgs = [msg for _, msg in examples()]
    commit = next(x for x in msgs if isinstance(x, m.Commit))
    reveal = next(x for x in msgs if isinstance(x, m.Reveal))
    digest = commitment(reveal.auction, reveal.keeper, reveal.price_q, reveal.qty, bytes.fromhex(reveal.salt))
    assert (commit.auction, commit.keeper, commit.digest) == (reveal.auction, reveal.keeper, digest.hex())
    assert digest.hex() in DOC.read_text()
