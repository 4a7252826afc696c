"""The topic tree: builders, parser, wildcard matching and the QoS/retain policy."""

from __future__ import annotations

import pytest

from broker import messages as m
from broker import topics as t


def test_builders_and_parse_round_trip() -> None:
    cases = [
        (t.oracle("ETH"), t.Parsed("oracle", asset="ETH")),
        (t.clock(), t.Parsed("clock")),
        (t.announce(7), t.Parsed("announce", auction=7)),
        (t.state(0), t.Parsed("state", auction=0)),
        (t.result(2**63 - 1), t.Parsed("result", auction=2**63 - 1)),
        (t.actions("alice"), t.Parsed("actions", keeper="alice")),
        (t.keeper_status("k-1.b_2"), t.Parsed("keeper-status", keeper="k-1.b_2")),
        (t.rejections("alice"), t.Parsed("rejections", keeper="alice")),
        (t.acks("alice"), t.Parsed("acks", keeper="alice")),
        (t.account("alice"), t.Parsed("account", keeper="alice")),
        (t.house_status(), t.Parsed("house-status")),
    ]
    for topic, parsed in cases:
        assert topic.startswith("liq/v1/")
        assert t.parse(topic) == parsed
        assert t.matches(parsed.policy.pattern, topic)
    assert t.announce(7) == "liq/v1/auctions/7/announce"
    assert t.actions("alice") == "liq/v1/keepers/alice/actions"


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "liq/v1",
        "liq/v2/clock",
        "/liq/v1/clock",
        "liq/v1/clock/extra",
        "liq/v1/auctions/07/state",  # leading zero: one id, one topic
        "liq/v1/auctions/-1/state",
        "liq/v1/auctions/x/state",
        "liq/v1/auctions/7/bids",
        "liq/v1/keepers/a+b/actions",
        "liq/v1/keepers//actions",
        "liq/v1/keepers/alice/secrets",
        "liq/v1/oracle/",
    ],
)
def test_parse_refuses_topics_outside_the_tree(topic: str) -> None:
    assert t.parse(topic) is None
    assert t.policy_for(topic) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: t.actions("bob/actions"),
        lambda: t.actions("+"),
        lambda: t.keeper_status("#"),
        lambda: t.actions(""),
        lambda: t.oracle("ETH/USD"),
        lambda: t.state(-1),
        lambda: t.state(True),
        lambda: t.state(2**63),
    ],
)
def test_builders_refuse_ids_that_would_break_the_tree(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("liq/v1/#", "liq/v1/clock", True),
        ("liq/v1/#", "liq/v1", True),  # '#' includes the parent level
        ("#", "liq/v1/auctions/1/state", True),
        ("liq/v1/auctions/+/state", "liq/v1/auctions/9/state", True),
        ("liq/v1/auctions/+/state", "liq/v1/auctions/9/result", False),
        ("liq/v1/auctions/+", "liq/v1/auctions/9/state", False),
        ("liq/v1/+/status", "liq/v1/house/status", True),
        ("liq/v1/clock", "liq/v1/clock", True),
        ("liq/v1/clock", "liq/v1/clocks", False),
        ("+/+", "a", False),
        ("#", "$SYS/broker/uptime", False),
    ],
)
def test_matches(pattern: str, topic: str, expected: bool) -> None:
    assert t.matches(pattern, topic) is expected


def test_policy() -> None:
    retained = {kind for kind, p in t.POLICY.items() if p.retain}
    assert retained == {"oracle", "clock", "state", "keeper-status", "account", "house-status"}  # current state only
    assert all(p.qos == 1 for kind, p in t.POLICY.items() if kind != "clock")
    carried = [tag for p in t.POLICY.values() for tag in p.messages]
    assert sorted(carried) == sorted(m.tag_of(cls) for cls in m.MESSAGES)  # each message has one home
    assert set(t.POLICY["actions"].messages) == {m.tag_of(cls) for cls in m.ACTIONS}


def test_keeper_publishes_only_under_its_own_prefix() -> None:
    # One ACL line, `pattern write liq/v1/keepers/%u/#`, must cover everything a keeper publishes.
    for kind, policy in t.POLICY.items():
        if policy.publisher == "keeper":
            assert policy.pattern.startswith("liq/v1/keepers/+/"), kind
    for topic in (t.actions("alice"), t.keeper_status("alice")):
        assert t.matches("liq/v1/keepers/alice/#", topic)
    for topic in (t.rejections("alice"), t.acks("alice"), t.account("alice")):  # house -> alice, same subtree
        assert t.matches("liq/v1/keepers/alice/#", topic)
    for sub in t.keeper_subscriptions("alice"):
        for topic in (t.actions("bob"), t.rejections("bob"), t.acks("bob"), t.account("bob")):
            assert not t.matches(sub, topic)


def test_an_auction_closes_with_its_state_then_its_result_then_the_cleared_retained_state() -> None:
    from auction.designs.dutch import DutchTerms

    terms = DutchTerms(top_q=1, curve="linear", tau_ms=1, tail_ms=1, cusp=0.5, chost=0)
    closed = m.State(auction=7, seq=3, status="closed", design="dutch", asset="ETH", owner="acct:1", lot=0, tab=0,
                     start_ms=0, top_q=1, terms=terms, ts_ms=5)
    result = m.Result(auction=7, design="dutch", fills=[], returned=0, bad_debt=0, revenue=0, ts_ms=5)
    opened = m.State(**{**{f: getattr(closed, f) for f in closed.__struct_fields__}, "status": "open"})
    assert t.publications(opened) == [(t.state(7), m.encode(opened), True)]
    assert t.publications(closed) + t.publications(result) == [
        (t.state(7), m.encode(closed), False), (t.result(7), m.encode(result), False), (t.state(7), b"", True)]
