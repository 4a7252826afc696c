"""One small async pub/sub interface and its in-memory transport.

A ``Bus`` publishes bytes to a topic, subscribes to MQTT patterns and yields ``Envelope``s.
QoS and retain default to the topic's ``topics.POLICY``. Two transports:

- ``MemoryBus``: clients of one in-process ``MemoryHub`` (tests, single-process runs), with MQTT
  wildcard matching, retained messages and Last Wills;
- ``broker.mqtt_bus.MqttBus``: a real broker over aiomqtt.

``connect(url, client_id, will)`` picks one from the URL: ``memory://name`` or ``mqtt://host:port``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, Protocol, Self

from broker import topics
from broker.messages import Message, encode

Will = tuple[str, bytes]
"""A Last Will: (topic, payload), published retained/QoS as the topic's policy says."""


class BusError(ConnectionError):
    """The bus could not reach the broker in time (connect or publish)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    topic: str
    payload: bytes
    retained: bool = False  # True when delivered from the retained store on subscribe


class Bus(Protocol):
    """What every transport offers."""

    client_id: str

    async def publish(self, topic: str, payload: bytes, *, retain: bool | None = None) -> None:
        """Publish one message and wait until the broker has it (QoS 1: its acknowledgement)."""
        ...

    async def publish_many(self, items: Iterable[tuple[str, bytes, bool | None]]) -> None:
        """Publish (topic, payload, retain) in order, without waiting for each acknowledgement."""
        ...

    def mark(self) -> int:
        """A mark after everything published so far (for ``flush(upto=...)``)."""
        ...

    async def flush(self, timeout: float | None = None, *, upto: int | None = None) -> None:
        """Wait until everything published so far (or before the mark ``upto``) is acknowledged."""
        ...

    async def subscribe(self, pattern: str) -> None: ...

    async def unsubscribe(self, pattern: str) -> None:
        """Stop receiving what ``pattern`` matches (from now on, and after every reconnect)."""
        ...

    def messages(self) -> AsyncIterator[Envelope]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


async def send(bus: Bus, topic: str, msg: Message) -> None:
    """Encode ``msg`` and publish it with the topic's policy."""
    await bus.publish(topic, encode(msg))


def delivery(topic: str, retain: bool | None) -> tuple[int, bool]:
    """(QoS, retain) for a publish: the topic's policy unless ``retain`` is given; QoS 1 off the tree."""
    policy = topics.policy_for(topic)
    qos = policy.qos if policy else 1
    return qos, (policy.retain if policy else False) if retain is None else retain


def check_topic(topic: str) -> None:
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"cannot publish to {topic!r}: a topic is non-empty and has no wildcard")


def check_pattern(pattern: str) -> None:
    levels = pattern.split("/")
    bad_hash = any("#" in lv and (lv != "#" or i != len(levels) - 1) for i, lv in enumerate(levels))
    if not pattern or bad_hash or any("+" in lv and lv != "+" for lv in levels):
        raise ValueError(f"invalid subscription pattern {pattern!r}")


# --- in-memory transport ----------------------------------------------------------------------------------


@dataclass(eq=False)
class MemoryHub:
    """An in-process broker: subscriptions, retained messages and Last Wills, delivered in order."""

    clients: list[MemoryBus] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)
    _named: ClassVar[dict[str, MemoryHub]] = {}

    @classmethod
    def named(cls, name: str) -> MemoryHub:
        """The hub for ``memory://name``, created on first use (one per process)."""
        return cls._named.setdefault(name, cls())

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        if retain:
            if payload:
                self.retained[topic] = payload
            else:
                self.retained.pop(topic, None)  # MQTT: an empty retained payload deletes
        for client in list(self.clients):
            if any(topics.matches(p, topic) for p in client.patterns):
                client.deliver(Envelope(topic, payload))


class MemoryBus:
    """A client of a ``MemoryHub``. ``abort()`` drops it uncleanly, firing its Last Will."""

    def __init__(self, hub: MemoryHub, client_id: str, will: Will | None = None) -> None:
        self.hub = hub
        self.client_id = client_id
        self.will = will
        self.patterns: list[str] = []
        self._queue: asyncio.Queue[Envelope | None] = asyncio.Queue()
        self._open = False

    async def __aenter__(self) -> Self:
        self.hub.clients.append(self)
        self._open = True
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._detach()  # a clean disconnect: no Last Will

    def abort(self) -> None:
        """Disconnect uncleanly, as a crashed process would: the hub publishes the Last Will."""
        self._detach()
        if self.will is not None:
            topic, payload = self.will
            self.hub.publish(topic, payload, delivery(topic, None)[1])

    def _detach(self) -> None:
        if self._open:
            self._open = False
            self.hub.clients.remove(self)
            self._queue.put_nowait(None)

    async def publish(self, topic: str, payload: bytes, *, retain: bool | None = None) -> None:
        check_topic(topic)
        self._require_open()
        self.hub.publish(topic, bytes(payload), delivery(topic, retain)[1])

    async def publish_many(self, items: Iterable[tuple[str, bytes, bool | None]]) -> None:
        for topic, payload, retain in items:
            await self.publish(topic, payload, retain=retain)

    def mark(self) -> int:
        return 0

    async def flush(self, timeout: float | None = None, *, upto: int | None = None) -> None:
        """Delivery in a hub is immediate: nothing is ever outstanding."""

    async def subscribe(self, pattern: str) -> None:
        check_pattern(pattern)
        self._require_open()
        if pattern not in self.patterns:
            self.patterns.append(pattern)
        for topic, payload in list(self.hub.retained.items()):
            if topics.matches(pattern, topic):
                self.deliver(Envelope(topic, payload, retained=True))

    async def unsubscribe(self, pattern: str) -> None:
        self._require_open()
        if pattern in self.patterns:
            self.patterns.remove(pattern)

    def deliver(self, env: Envelope) -> None:
        self._queue.put_nowait(env)

    async def messages(self) -> AsyncIterator[Envelope]:
        """Every delivered message, in order, until the bus is closed."""
        while (env := await self._queue.get()) is not None:
            yield env

    def _require_open(self) -> None:
        if not self._open:
            raise BusError(f"memory bus {self.client_id!r} is not connected")
