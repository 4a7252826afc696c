"""The MQTT transport of ``Bus``, on aiomqtt 2.x (paho-mqtt 2 underneath).

- QoS and retain from ``topics.POLICY``; subscriptions at QoS 1 so QoS 1 publications arrive at QoS 1.
- TCP_NODELAY on the socket (aiomqtt ``socket_options``): a bid is a few hundred bytes, Nagle would hold it.
- One supervisor task owns the connection: on loss it reconnects with capped exponential backoff and
  subscribes again to every pattern (a restarted broker without persistence has forgotten them).
- A persistent session (MQTT 3.1.1 ``clean_session=False``; MQTT 5 session expiry) by default, so a
  broker that stays up keeps QoS 1 messages for a client while it reconnects.
- QoS 1 means at least once: a retried publish or a redelivery after reconnect can arrive twice.
  MQTT packet ids are per hop and reused, so duplicates are recognised by content instead: on event
  topics (not retained) every message is unique by construction (an action by its keeper, nonce and
  signature; a result by its auction), so an exact repeat of (topic, payload) among the last
  ``dedupe_window`` deliveries is dropped. Retained topics carry current state and are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Self

import aiomqtt
import paho.mqtt.client as paho
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker import topics
from broker.bus import BusError, Envelope, Will, check_pattern, check_topic, delivery

log = structlog.get_logger()

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
SESSION_EXPIRY_S = 3600  # MQTT 5: how long the broker keeps an offline persistent session


class _Dedupe:
    """Remembers the last ``size`` (topic, payload) digests of event messages."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def first_time(self, topic: str, payload: bytes) -> bool:
        policy = topics.policy_for(topic)
        if self._size <= 0 or policy is None or policy.retain or not payload:
            return True
        key = hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=16).digest()
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class MqttBus:
    """A ``Bus`` over an MQTT broker; ``async with`` connects (waiting up to ``connect_timeout``)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        will: Will | None = None,
        username: str | None = None,
        password: str | None = None,
        persistent: bool = True,
        protocol: int = 4,
        keepalive: int = 10,
        backoff: tuple[float, float] = (0.05, 2.0),
        connect_timeout: float = 10.0,
        publish_timeout: float = 30.0,
        dedupe_window: int = 4096,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.will = will
        self._username, self._password = username, password
        self._persistent = persistent
        self._protocol = aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311
        self._keepalive = keepalive
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._dedupe = _Dedupe(dedupe_window)
        self._patterns: list[str] = []
        self._queue: asyncio.Queue[Envelope | None] = asyncio.Queue()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()  # set when the current connection drops: calls in flight on it are retried
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_error = ""
        self.connections = 0  # successful connections so far (reconnects = connections - 1)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._closing = False
        self._task = asyncio.create_task(self._supervise(), name=f"mqtt-bus-{self.client_id}")
        try:
            await asyncio.wait_for(self._connected.wait(), self._connect_timeout)
        except TimeoutError:
            await self._stop()
            why = f" (last error: {self._last_error})" if self._last_error else ""
            raise BusError(
                f"could not connect to the MQTT broker at {self.url} within {self._connect_timeout:g} s{why}; "
                "start one with `liqnet broker`, or check the --broker URL and credentials"
            ) from None
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()  # cancelling inside `async with client` sends DISCONNECT: no Last Will

    async def _stop(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
            self._task = None
        self._queue.put_nowait(None)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would: the broker publishes the Last Will."""
        self._closing = True
        client = self._client
        if client is not None:
            sock = client._client.socket()  # aiomqtt keeps the paho client private; no public socket
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._task is not None:
            self._task.cancel()
        self._queue.put_nowait(None)

    # --- Bus -----------------------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, *, retain: bool | None = None) -> None:
        """Publish with the topic's QoS; on a lost connection, retry once reconnected (at least once)."""
        check_topic(topic)
        qos, keep = delivery(topic, retain)
        await self._with_client(f"publish to {topic}", lambda c: c.publish(topic, payload, qos=qos, retain=keep))

    async def subscribe(self, pattern: str) -> None:
        """Subscribe now and after every reconnect."""
        check_pattern(pattern)
        if pattern not in self._patterns:
            self._patterns.append(pattern)
        await self._with_client(f"subscribe to {pattern}", lambda c: c.subscribe(pattern, qos=1))

    async def messages(self) -> AsyncIterator[Envelope]:
        """Every delivered message across reconnects, until the bus is closed."""
        while (env := await self._queue.get()) is not None:
            yield env

    # --- connection --------------------------------------------------------------------------------------

    async def _with_client(self, what: str, call: Callable[[aiomqtt.Client], Awaitable[object]]) -> None:
        """Run ``call`` on the live connection, again after a reconnect if it fails, until publish_timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_timeout
        while True:
            if self._closing:
                raise BusError(f"cannot {what}: the bus is closed")
            client = self._client
            if self._connected.is_set() and client is not None:
                try:
                    if await self._unless_lost(call(client), self._lost):
                        return
                    continue  # the connection dropped with the call in flight: again on the next one
                except aiomqtt.MqttError as exc:
                    if loop.time() > deadline:
                        raise BusError(f"cannot {what}: {exc}") from None
                    log.debug("retrying after reconnect", what=what, error=str(exc))
                    await asyncio.sleep(self._backoff[0])
                continue
            try:
                await asyncio.wait_for(self._connected.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise BusError(f"cannot {what}: no connection to {self.url}") from None

    @staticmethod
    async def _unless_lost(call: Awaitable[object], lost: asyncio.Event) -> bool:
        """Run ``call``; False if the connection dropped first (aiomqtt would wait its 10 s timeout)."""
        task = asyncio.ensure_future(call)
        waiter = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task
        return False

    async def _supervise(self) -> None:
        failures = 0
        while not self._closing:
            self._lost = asyncio.Event()
            try:
                async with self._make_client() as client:
                    self._client = client
                    failures = 0
                    await self._on_connected(client)
                    async for m in client.messages:
                        self._receive(str(m.topic), bytes(m.payload), m.retain)
            except aiomqtt.MqttError as exc:
                self._last_error = str(exc)
                if self.connections and failures == 0:
                    log.warning("mqtt connection lost; reconnecting", url=self.url, error=str(exc))
            finally:
                self._connected.clear()
                self._client = None
                self._lost.set()
            delay = min(self._backoff[1], self._backoff[0] * 2**failures)
            failures += 1
            await asyncio.sleep(delay)

    async def _on_connected(self, client: aiomqtt.Client) -> None:
        for pattern in list(self._patterns):
            await client.subscribe(pattern, qos=1)
        self.connections += 1
        self._connected.set()
        log.info("mqtt connected", url=self.url, client=self.client_id, connections=self.connections)

    def _receive(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._dedupe.first_time(topic, payload):
            self._queue.put_nowait(Envelope(topic, payload, retained))
        else:
            log.debug("duplicate message dropped", topic=topic, client=self.client_id)

    def _make_client(self) -> aiomqtt.Client:
        will = None
        if self.will is not None:
            topic, payload = self.will
            qos, retain = delivery(topic, None)
            will = aiomqtt.Will(topic, payload, qos=qos, retain=retain)
        v5 = self._protocol == aiomqtt.ProtocolVersion.V5
        properties = None
        clean_start: paho.CleanStartOption = paho.MQTT_CLEAN_START_FIRST_ONLY  # the only value MQTT 3.1.1 accepts
        if v5:
            clean_start = not self._persistent
            if self._persistent:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = SESSION_EXPIRY_S
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self._username,
            password=self._password,
            protocol=self._protocol,
            will=will,
            clean_session=None if v5 else not self._persistent,
            clean_start=clean_start,
            properties=properties,
            keepalive=self._keepalive,
            socket_options=[NODELAY],
        )
