"""The publishes an ``MqttBus`` has handed over and not yet seen acknowledged: its pipelining window.

A publish is numbered in order and handed to paho without waiting for the PUBACK of the one before; at most
``window`` are outstanding, and a publisher waits (``room``) only while the window is full. A QoS 1 publish
leaves when its PUBACK arrives (``acked``, by the MQTT packet id of the current connection), a QoS 0 one once
sent. What a lost connection left unacknowledged goes out again, in order, on the next one (``resend``),
before anything newer: at least once, in the order of one client's publishes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

import aiomqtt

from broker.bus import BusError
from broker.paho_writes import publish_packets, publish_refusal


@dataclass(slots=True)
class Out:
    """One publish handed to the bus and not yet acknowledged (QoS 1) or sent (QoS 0)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    done: asyncio.Future[None] | None = None  # ``publish`` waits on it; ``publish_many`` does not


class Outbox:
    """Outstanding publishes by our own number, in order, and the MQTT packet ids they have on this connection."""

    def __init__(self, window: int) -> None:
        self._window = max(1, window)
        self._out: OrderedDict[int, Out] = OrderedDict()  # outstanding publishes by our own number, in order
        self._mids: dict[int, int] = {}  # MQTT packet id on the current connection -> our number
        self._numbers = 0
        self._room = asyncio.Event()  # set while fewer than ``window`` publishes are outstanding
        self._room.set()
        self._progress = asyncio.Event()  # set whenever a publish is acknowledged (or the bus closes)

    @property
    def outstanding(self) -> int:
        """Publishes handed over and not yet acknowledged (or, QoS 0, not yet sent)."""
        return len(self._out)

    def mark(self) -> int:
        """A mark after every publish handed over so far (``settled`` waits up to one)."""
        return self._numbers

    async def room(self) -> None:
        """Wait while ``window`` publishes are outstanding."""
        while len(self._out) >= self._window:
            self._room.clear()
            await self._room.wait()

    @property
    def full(self) -> bool:
        return len(self._out) >= self._window

    def add(self, out: Out) -> int:
        """Number ``out`` and keep it until it is acknowledged; its number."""
        self._numbers += 1
        number = self._numbers
        self._out[number] = out
        if len(self._out) >= self._window:
            self._room.clear()
        return number

    def send(self, client: aiomqtt.Client, sends: list[tuple[int, Out]]) -> None:
        """Hand publishes (our number, the publish) to paho in order, as one write (``publish_packets``)."""
        items: list[tuple[bytes, bytes, int, bool]] = []
        numbers: list[int] = []
        for number, out in sends:
            topic = out.topic.encode()
            refusal = publish_refusal(topic, out.payload, out.qos)
            if refusal is not None:  # a topic or payload MQTT refuses: fail this publish, not the bus
                self.finish(number, ValueError(refusal))
                continue
            items.append((topic, out.payload, out.qos, out.retain))
            numbers.append(number)
        if not items:
            return
        mids = publish_packets(client._client, items)
        if mids is None:
            return  # not connected any more: they go out again on the next connection
        for number, mid in zip(numbers, mids, strict=True):
            if mid:
                self._mids[mid] = number
            else:
                self.finish(number)  # QoS 0: done once handed over

    def resend(self, client: aiomqtt.Client) -> None:
        """On a new connection: every unacknowledged publish again, in order, before anything newer."""
        self._mids.clear()  # packet ids of the lost connection mean nothing on this one
        self.send(client, list(self._out.items()))

    def acked(self, mid: int) -> None:
        number = self._mids.pop(mid, None)
        if number is not None:
            self.finish(number)

    def finish(self, number: int, error: BaseException | None = None) -> None:
        out = self._out.pop(number, None)
        if out is not None and out.done is not None and not out.done.done():
            if error is None:
                out.done.set_result(None)
            else:
                out.done.set_exception(BusError(f"cannot publish to {out.topic}: {error}"))
                out.done.exception()  # retrieved: a publisher that stopped waiting has nothing to log
        if len(self._out) < self._window:
            self._room.set()
        self._progress.set()

    async def settled(self, upto: int | None) -> None:
        """Wait until every publish (or every one up to the mark ``upto``) is acknowledged."""
        while self._out and (upto is None or next(iter(self._out)) <= upto):
            self._progress.clear()
            await self._progress.wait()

    def close(self) -> None:
        """The bus closed: every waiting publisher fails, and nobody waits for room or progress any more."""
        for out in self._out.values():
            if out.done is not None and not out.done.done():
                out.done.set_exception(BusError(f"cannot publish to {out.topic}: the bus is closed"))
                out.done.exception()  # its publisher may have stopped waiting (a timeout): nothing to log then
        self._out.clear()
        self._room.set()
        self._progress.set()
