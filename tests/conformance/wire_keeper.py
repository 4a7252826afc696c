"""A keeper written from PROTOCOL.md alone: paho-mqtt, json, hashlib and ``cryptography``; nothing of liqnet.

It records every message it receives (arrival time, topic, payload, QoS, retain flag) and acts as an honest,
simple keeper by the document's checklist (section 9): subscribe, wait for the house to be online, register
until acknowledged, then act on auctions as they come:

- dutch: take the whole lot at the announced top price on even auction ids; on odd ids, once the house has
  reset the auction (a state with a new ``start_ms``), take it at its new top;
- sealed: commit at the opening of each round (price just above the reserve; half the lot on ids divisible
  by 3, so that a round sells part and a new round follows), reveal when the state says ``reveal``, except
  on ids with ``id % 3 == 2`` (a commit never revealed: its deposit must be forfeited);
- english: bid half the tab on even ids; on odd ids, after the house restarted the auction, bid it then;
- fixed: liquidate ``max_repay`` once per state that offers one.

It believes only what the house signed (section 5, House signatures): the house's key is given (pinned) or
learnt from the first house status; whatever does not verify is kept apart in ``dropped``, never acted on.

``probe_retained`` reads the broker's retained store with a fresh connection: MQTT delivers the retain flag
as published only to a new subscription, so this is how a client sees which topics the house retains.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REGISTER_RETRY_S = 1.0
DEADLINE_MS = 600_000  # an action's deadline: this much scenario time after the latest block seen
HOUSE_DOMAIN = b"liqnet-house-v1|"
HOUSE_SIG = re.compile(rb'\A\{"type":"[a-z][a-z-]*","v":[0-9]+,"sig":"([0-9a-f]{128})"')


@dataclass(frozen=True)
class Rec:
    """One delivery as the client saw it."""

    wall: float
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload)
        return value


def canonical(action: dict[str, Any]) -> bytes:
    """PROTOCOL.md section 5: every field but sig, keys sorted, no whitespace, UTF-8."""
    return json.dumps({k: v for k, v in action.items() if k != "sig"}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def commit_digest(auction: int, keeper: str, price_q: int, qty: int, salt: bytes) -> str:
    """PROTOCOL.md section 7, The commitment."""
    return hashlib.sha256(b"liqnet-commit-v1|" + f"{auction}|{keeper}|{price_q}|{qty}|".encode() + salt).hexdigest()


def house_signed(payload: bytes, pubkey: str, run: str) -> bool:
    """Section 5, House signatures: sig is the third key; it covers the domain, the run, a newline and the payload
    as received with its 128 digits removed."""
    found = HOUSE_SIG.match(payload)
    if found is None:
        return False
    unsigned = payload[:found.start(1)] + payload[found.end(1):]
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(pubkey)).verify(
            bytes.fromhex(found.group(1).decode()), HOUSE_DOMAIN + run.encode() + b"\n" + unsigned)
    except (InvalidSignature, ValueError):
        return False
    return True


def from_house(topic: str) -> bool:
    """Every topic but the keepers' own status and actions carries the house's messages."""
    levels = topic.split("/")
    return not (len(levels) == 5 and levels[2] == "keepers" and levels[4] in ("status", "actions"))


@dataclass
class Plan:
    """What the keeper did or intends about one auction."""

    took: bool = False
    bid: bool = False
    round_end: int = -1  # sealed: commit_end_ms of the round committed to
    reveal: dict[str, Any] | None = None  # sealed: the reveal to send when the phase opens
    revealed: set[int] = field(default_factory=set)  # sealed: rounds (commit_end_ms) revealed
    liquidated_seq: int = -1


class WireKeeper:
    def __init__(self, host: str, port: int, keeper: str, seed: bytes, house_key: str | None = None) -> None:
        self.keeper = keeper
        self.house_key = house_key  # pinned; else learnt from the first house status (trust on first use)
        self.run: str | None = None
        self.dropped: list[Rec] = []  # house messages that did not verify
        self.key = Ed25519PrivateKey.from_private_bytes(seed)
        self.pubkey = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        self.log: list[Rec] = []
        self.sent: dict[int, dict[str, Any]] = {}  # nonce -> the action as sent
        self.receipts: dict[int, list[dict[str, Any]]] = {}  # nonce -> receipts received (acks and rejections)
        self.plans: dict[int, Plan] = {}
        self.announces: dict[int, dict[str, Any]] = {}
        self.house: dict[str, Any] = {}  # the latest online house status
        self.block: dict[str, Any] = {"height": 0, "ts_ms": 0}
        self.register_nonce: int | None = None
        self.registered = threading.Event()
        self.house_offline = threading.Event()
        self._register_at = 0.0
        self._nonce = time.time_ns() // 1000
        self._lock = threading.RLock()
        self.errors: list[str] = []
        client_id = f"keeper-{keeper}-{uuid.uuid4().hex[:6]}"
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                                  clean_session=True)
        offline = {"type": "keeper-status", "v": 1, "keeper": keeper, "online": False, "pubkey": self.pubkey,
                   "ts_ms": 0}
        self.client.will_set(f"liq/v1/keepers/{keeper}/status", json.dumps(offline), qos=1, retain=True)
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        # Section 9, step 3: subscribe (here to everything, to record the whole run), then say online.
        self.client.subscribe("liq/v1/#", qos=1)
        online = {**offline, "online": True}
        self.client.publish(f"liq/v1/keepers/{keeper}/status", json.dumps(online), qos=1, retain=True)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- receiving ---------------------------------------------------------------------------------------
    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        rec = Rec(time.monotonic(), msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        with self._lock:
            if rec.payload and from_house(rec.topic) and not self._believed(rec):
                self.dropped.append(rec)
                return
            self.log.append(rec)
            if rec.retain or not rec.payload:
                return  # retained copies are from before this run; empty payloads clear state
            try:
                self._react(rec.topic.split("/")[2:], rec.json())
            except Exception as exc:  # a failed reaction is a finding, not a crash of the client thread
                self.errors.append(f"{rec.topic}: {type(exc).__name__}: {exc}")

    def _believed(self, rec: Rec) -> bool:
        """A house status signed by the key it names, that key the trusted one; anything else of the house signed by
        that key for the status's run."""
        if rec.topic == "liq/v1/house/status":
            status = rec.json()
            key, run = status.get("pubkey", ""), status.get("run", "")
            if self.house_key not in (None, key) or not house_signed(rec.payload, key, run):
                return False
            self.house_key, self.run = key, run
            return True
        return self.house_key is not None and self.run is not None and house_signed(rec.payload, self.house_key,
                                                                                     self.run)

    def _react(self, levels: list[str], msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "house-status":
            if msg["online"] and not self.house.get("online"):
                self.house = msg
                self._register()
            elif msg["online"]:
                self.house = msg
            else:
                self.house = msg
                self.house_offline.set()
        elif kind == "block":
            self.block = msg
            self.retry_register()
        elif kind in ("ack", "rejection") and msg["keeper"] == self.keeper:
            self.receipts.setdefault(msg["ref"], []).append(msg)
            if kind == "ack" and msg["ref"] == self.register_nonce:
                self.registered.set()
        elif kind == "announce":
            self.announces[msg["auction"]] = msg
            self._act(msg, msg)
        elif kind == "state" and msg["status"] == "open":
            announce = self.announces.get(msg["auction"])
            if announce is not None:
                self._act(announce, msg)

    # -- acting --------------------------------------------------------------------------------------------
    def _register(self) -> None:
        """Section 5, Registration: once the house is online; the same bytes again until acknowledged."""
        self.registered.clear()
        action = {"type": "register", "v": 1, "keeper": self.keeper, "pubkey": self.pubkey}
        self.register_nonce = self._send(action)
        self._register_at = time.monotonic()

    def retry_register(self) -> None:
        with self._lock:
            nonce = self.register_nonce
            if nonce is None or self.registered.is_set() or time.monotonic() - self._register_at < REGISTER_RETRY_S:
                return
            self._register_at = time.monotonic()
            self._publish(self.sent[nonce])

    def _act(self, announce: dict[str, Any], now: dict[str, Any]) -> None:
        if not self.registered.is_set():
            return
        auction = announce["auction"]
        plan = self.plans.setdefault(auction, Plan())
        design = announce["design"]
        if design == "dutch":
            self._dutch(announce, now, plan)
        elif design.startswith("sealed"):
            self._sealed(now, plan)
        elif design == "english":
            self._english(announce, now, plan)
        elif design == "fixed":
            self._fixed(now, plan)

    def _dutch(self, announce: dict[str, Any], now: dict[str, Any], plan: Plan) -> None:
        auction = announce["auction"]
        reset = now.get("start_ms", announce["start_ms"]) != announce["start_ms"]
        if plan.took or (auction % 2 and not reset):
            return
        plan.took = True
        top_q = now.get("top_q") or announce["terms"]["top_q"]
        self._send({"type": "take", "v": 1, "auction": auction, "keeper": self.keeper, "amount": now["lot"],
                    "max_price_q": top_q, "deadline_ms": self._deadline(), "priority_fee": 0})

    def _sealed(self, now: dict[str, Any], plan: Plan) -> None:
        auction, terms = now["auction"], now["terms"]
        phase = now.get("phase") or "commit"  # an announce opens the commit phase
        if phase == "commit" and plan.round_end != terms["commit_end_ms"]:
            plan.round_end = terms["commit_end_ms"]
            price_q = terms["reserve_q"] + 1_000_000  # one USD above the reserve
            qty = now["lot"] // 2 if auction % 3 == 0 else now["lot"]
            salt = os.urandom(16)
            digest = commit_digest(auction, self.keeper, price_q, qty, salt)
            self._send({"type": "commit", "v": 1, "auction": auction, "keeper": self.keeper, "digest": digest,
                        "deposit": terms["deposit"]})
            plan.reveal = None if auction % 3 == 2 else {"type": "reveal", "v": 1, "auction": auction,
                                                         "keeper": self.keeper, "price_q": price_q, "qty": qty,
                                                         "salt": salt.hex()}
        elif phase == "reveal" and plan.reveal is not None and plan.round_end not in plan.revealed:
            plan.revealed.add(plan.round_end)
            self._send(dict(plan.reveal))

    def _english(self, announce: dict[str, Any], now: dict[str, Any], plan: Plan) -> None:
        auction = announce["auction"]
        restarted = now["terms"]["end_ms"] != announce["terms"]["end_ms"]
        if plan.bid or now.get("guy") or (auction % 2 and not restarted):
            return
        plan.bid = True
        self._send({"type": "english-bid", "v": 1, "auction": auction, "keeper": self.keeper, "lot": now["lot"],
                    "bid": max(1, now["tab"] // 2), "deadline_ms": self._deadline()})

    def _fixed(self, now: dict[str, Any], plan: Plan) -> None:
        seq = now.get("seq", -1)
        repay = now["terms"]["max_repay"]
        if repay <= 0 or seq <= plan.liquidated_seq:
            return
        plan.liquidated_seq = seq
        self._send({"type": "liquidate", "v": 1, "auction": now["auction"], "keeper": self.keeper, "repay": repay,
                    "priority_fee": 0, "deadline_ms": self._deadline()})

    def _deadline(self) -> int:
        return int(self.block["ts_ms"]) + DEADLINE_MS

    def _send(self, fields: dict[str, Any]) -> int:
        """Sign (section 5) and publish; returns the nonce."""
        self._nonce += 1
        action = {**fields, "nonce": self._nonce}
        action["sig"] = self.key.sign(canonical(action)).hex()
        self.sent[self._nonce] = action
        self._publish(action)
        return self._nonce

    def _publish(self, action: dict[str, Any]) -> None:
        self.client.publish(f"liq/v1/keepers/{self.keeper}/actions", json.dumps(action, separators=(",", ":")), qos=1)


def probe_retained(host: str, port: int, wait_s: float = 0.3) -> dict[str, bytes]:
    """The broker's retained messages under liq/v1/ now: topic -> payload."""
    got: dict[str, bytes] = {}
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv311, clean_session=True)

    def on_message(c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if msg.retain:
            got[msg.topic] = bytes(msg.payload)

    client.on_message = on_message
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        client.subscribe("liq/v1/#", qos=1)
        time.sleep(wait_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return got
