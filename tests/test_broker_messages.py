"""Wire messages: round trips, schema errors with the right code, and a decoder that never crashes."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.designs.dutch import DutchTerms
from auction.designs.english import EnglishTerms
from auction.designs.fixed import FixedTerms
from auction.designs.sealed import SealedTerms
from auction.errors import Rejected
from auction.net.protocol_doc import examples
from broker import messages as m

EXAMPLES = [msg for _, msg in examples()]
PAYLOADS = [m.encode(msg) for msg in EXAMPLES]
TAKE = next(msg for msg in EXAMPLES if isinstance(msg, m.Take))


def code_of(payload: bytes, allowed: Any = None) -> str:
    with pytest.raises(Rejected) as info:
        m.decode(payload, allowed)
    return info.value.code


def with_fields(msg: m.Message, **changes: Any) -> bytes:
    data = msgspec.to_builtins(msg)
    data.update(changes)
    return json.dumps(data).encode()


def test_examples_cover_every_message_and_terms() -> None:
    tags = {m.tag_of(type(msg)) for msg in EXAMPLES}
    assert tags == {m.tag_of(cls) for cls in m.MESSAGES}
    terms = {type(msg.terms) for msg in EXAMPLES if isinstance(msg, m.Announce)}
    assert terms == {DutchTerms, SealedTerms, EnglishTerms, FixedTerms}


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda x: m.tag_of(type(x)))
def test_round_trip(msg: m.Message) -> None:
    payload = m.encode(msg)
    assert m.decode(payload) == msg
    data = json.loads(payload)
    assert data["type"] == m.tag_of(type(msg))
    assert data["v"] == 1


def test_defaults_and_missing_version() -> None:
    payload = b'{"type":"oracle","asset":"ETH","price_q":1800000000,"ts_ms":5}'
    assert m.decode(payload) == m.OraclePrice(asset="ETH", price_q=1_800_000_000, ts_ms=5)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (with_fields(TAKE, v=2), "wrong-version"),
        (with_fields(TAKE, v=0), "wrong-version"),
        (b'{"type":"future-message","v":3}', "wrong-version"),
        (b'{"type":"oracle","v":1}', "malformed"),  # missing fields
        (with_fields(TAKE, amount=-1), "malformed"),  # negative amount
        (with_fields(TAKE, amount="100"), "malformed"),  # string for int
        (with_fields(TAKE, amount=1.0), "malformed"),  # float for int
        (with_fields(TAKE, amount=True), "malformed"),  # bool for int
        (with_fields(TAKE, amount=2**63), "malformed"),  # beyond int64
        (with_fields(TAKE, nonce=10**40), "malformed"),
        (with_fields(TAKE, keeper="bob/actions"), "malformed"),  # would escape its topic level
        (with_fields(TAKE, keeper="a+"), "malformed"),
        (with_fields(TAKE, keeper="alice\n"), "malformed"),
        (with_fields(TAKE, keeper=""), "malformed"),
        (with_fields(TAKE, keeper="k" * 65), "malformed"),
        (with_fields(TAKE, sig="ABCD"), "malformed"),  # not 128 lowercase hex digits
        (with_fields(TAKE, extra=1), "malformed"),  # unknown field
        (with_fields(TAKE, type="nope"), "malformed"),
        (b"", "malformed"),
        (b"null", "malformed"),
        (b"[1,2]", "malformed"),
        (b'{"type":"take"', "malformed"),
        (b"\xff\xfe\x00", "malformed"),
        (b"{" + b" " * (m.MAX_PAYLOAD + 1) + b"}", "oversized"),
    ],
)
def test_schema_errors(payload: bytes, code: str) -> None:
    assert code_of(payload) == code


def test_floats_must_be_finite() -> None:
    announce = next(msg for msg in EXAMPLES if isinstance(msg, m.Announce) and msg.design == "dutch")
    data = msgspec.to_builtins(announce)
    text = json.dumps(data)
    for bad in ("NaN", "Infinity", "-Infinity", "1e999", "-0.5", "null", '"0.99"'):
        assert code_of(text.replace('"cut": 0.99', f'"cut": {bad}').encode()) == "malformed", bad
    # msgspec writes NaN as null: what a buggy sender would emit is refused by the receiver.
    nan_terms = msgspec.structs.replace(announce.terms, cut=float("nan"))
    assert code_of(m.encode(msgspec.structs.replace(announce, terms=nan_terms))) == "malformed"


def test_boundary_integers() -> None:
    assert m.decode(with_fields(TAKE, amount=0)).amount == 0  # type: ignore[union-attr]
    assert m.decode(with_fields(TAKE, amount=2**63 - 1)).amount == 2**63 - 1  # type: ignore[union-attr]
    status = next(msg for msg in EXAMPLES if isinstance(msg, m.KeeperStatus))
    assert m.decode(with_fields(status, pnl=-(2**63))).pnl == -(2**63)  # type: ignore[union-attr]
    assert code_of(with_fields(status, pnl=-(2**63) - 1)) == "malformed"


def test_allowed_types_per_topic() -> None:
    take = m.encode(TAKE)
    assert m.decode(take, ("take", "redo")) == TAKE
    assert code_of(take, ("state",)) == "malformed"


def test_payload_limit_is_exact() -> None:
    rejection = next(msg for msg in EXAMPLES if isinstance(msg, m.Rejection))
    base = m.encode(rejection)
    exact = base[:-1] + b" " * (m.MAX_PAYLOAD - len(base)) + b"}"  # whitespace is valid JSON
    assert len(exact) == m.MAX_PAYLOAD
    assert m.decode(exact) == rejection
    assert code_of(exact[:-1] + b" }") == "oversized"


def test_encode_refuses_what_the_other_side_would_refuse() -> None:
    result = next(msg for msg in EXAMPLES if isinstance(msg, m.Result))
    big = msgspec.structs.replace(result, fills=[m.FillMsg(keeper="k" * 64, qty=2**62, cost=2**62)] * m.MAX_FILLS)
    with pytest.raises(Rejected) as info:
        m.encode(big)
    assert info.value.code == "oversized"


def test_signed_messages_hold_no_floats() -> None:
    for cls in m.ACTIONS:
        for field in msgspec.inspect.type_info(cls).fields:  # type: ignore[attr-defined]
            assert not isinstance(field.type, msgspec.inspect.FloatType | msgspec.inspect.BoolType), field


# --- fuzzing: whatever arrives, decode raises Rejected or returns a valid message ---------------------------

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_rejects(payload: bytes) -> None:
    try:
        msg = m.decode(payload)
    except Rejected as exc:
        assert exc.code in ("malformed", "wrong-version", "oversized")
        return
    assert m.decode(m.encode(msg)) == msg  # what was accepted is valid and stable


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(payload: bytes) -> None:
    decodes_or_rejects(payload)


@FUZZ
@given(st.sampled_from(PAYLOADS), st.data())
def test_fuzz_mutated_bytes(payload: bytes, data: st.DataObject) -> None:
    raw = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        i = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and raw:
            del raw[i]
        elif op == "truncate":
            del raw[i:]
    decodes_or_rejects(bytes(raw))


BOUNDARY = st.sampled_from(
    [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30, 1e308, 0.5, -0.0]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | BOUNDARY
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
RAW_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "01", "1.", ".5"])


@FUZZ
@given(st.sampled_from(EXAMPLES), st.data())
def test_fuzz_mutated_fields(msg: m.Message, data: st.DataObject) -> None:
    obj = msgspec.to_builtins(msg)
    key = data.draw(st.sampled_from([*obj.keys(), "extra"]))
    obj[key] = data.draw(JSON_VALUES)
    decodes_or_rejects(json.dumps(obj, allow_nan=False).encode())


@FUZZ
@given(st.sampled_from(EXAMPLES), st.data())
def test_fuzz_non_json_numbers(msg: m.Message, data: st.DataObject) -> None:
    obj = msgspec.to_builtins(msg)
    key = data.draw(st.sampled_from(sorted(obj.keys())))
    obj[key] = "@@RAW@@"
    payload = json.dumps(obj).replace('"@@RAW@@"', data.draw(RAW_NUMBERS))
    decodes_or_rejects(payload.encode())


def test_an_action_with_a_key_twice_is_refused_whatever_its_spelling() -> None:
    """The house journals an action's raw bytes: two values for one key would mean different things to
    different JSON readers (msgspec keeps the last), so such an action is refused as malformed."""
    from broker.signing import KeyPair

    take = KeyPair.from_seed(bytes(32)).sign(m.Take(auction=1, keeper="ali", amount=5, max_price_q=7, nonce=3,
                                                    deadline_ms=9))
    payload = m.encode(take)
    assert m.decode(payload) == take
    for twice in (payload.replace(b'"amount":5', b'"amount":500,"amount":5'),
                  payload.replace(b'"nonce":3', b'"nonce":2,"n\\u006fnce":3')):  # an escape spells the same key
        with pytest.raises(Rejected) as err:
            m.decode(twice)
        assert err.value.code == "malformed" and "appears twice" in err.value.message
    assert m.duplicate_key(b'{"a": {"b": 1, "b": 2}}') == "b"  # nested objects too
    assert m.duplicate_key(b'{"a": 1, "b": 1}') is None and m.duplicate_key(b"not json") is None
