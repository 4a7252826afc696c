"""Dropping repeated deliveries of the house's events: QoS 1 is at least once, and MQTT packet ids are per hop
and reused, so a repeat is recognised by its content (``broker.mqtt_bus`` asks ``first_time`` for every message).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from broker import topics


class Dedupe:
    """Remembers the last ``size`` (topic, payload) digests of the house's event messages.

    Keepers' actions pass: the house recognises a repeated action itself (``broker.signing.Verifier``) and answers
    it with its receipt again, which is what lets a keeper resend an action until it sees one (PROTOCOL.md 5)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def first_time(self, topic: str, payload: bytes) -> bool:
        policy = topics.policy_for(topic)
        if self._size <= 0 or policy is None or policy.retain or policy.publisher != "house" or not payload:
            return True
        key = hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=16).digest()
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True
