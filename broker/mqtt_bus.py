"""The MQTT transport of ``Bus``, on aiomqtt 2.x (paho-mqtt 2 underneath).

- QoS and retain from ``topics.POLICY``; subscriptions at QoS 1 so QoS 1 publications arrive at QoS 1.
- One supervisor task owns the connection: on loss it reconnects with capped exponential backoff and
  subscribes again to every pattern (a restarted broker without persistence has forgotten them).
- The client (``broker.mqtt_client``): TCP_NODELAY, a persistent session by default (MQTT 3.1.1
  ``clean_session=False``; MQTT 5 session expiry), so a broker that stays up keeps QoS 1 messages for a client
  while it reconnects.
- Publishing is pipelined: a publish is handed to the client in order and does not wait for the PUBACK of
  the one before; at most ``window`` messages are outstanding (handed over, not yet acknowledged), and a
  publisher waits only while that window is full. ``publish`` waits for its own PUBACK; ``publish_many``
  waits for room only, and ``flush`` for every acknowledgement. What a lost connection left unacknowledged
  is published again, in order, on the next one, before anything newer (at least once; MQTT keeps the
  order of one client's publishes). The window is ``broker.mqtt_outbox``.
- QoS 1 means at least once: a retried publish or a redelivery after reconnect can arrive twice.
  MQTT packet ids are per hop and reused, so duplicates are recognised by content instead: on the house's
  event topics (not retained) every message is unique by construction (a result by its auction, a receipt by
  its nonce), so an exact repeat of (topic, payload) among the last ``dedupe_window`` deliveries is dropped
  (``broker.mqtt_dedupe``).
  Retained topics carry current state and are idempotent; keepers' actions all reach the house, which knows
  a repeated action by its keeper, nonce and signature and answers it with its receipt again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self

import aiomqtt
import structlog

from broker.bus import BusError, Envelope, Will, check_pattern, check_topic, delivery
from broker.mqtt_client import NODELAY, SESSION_EXPIRY_S, ClientSpec, make_client
from broker.mqtt_dedupe import Dedupe
from broker.mqtt_outbox import Out, Outbox

log = structlog.get_logger()

WINDOW = 256  # publishes outstanding (handed to the client, not yet acknowledged) at most

__all__ = ["NODELAY", "SESSION_EXPIRY_S", "WINDOW", "MqttBus"]


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
        window: int = WINDOW,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.will = will
        version = aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311
        self._spec = ClientSpec(host, port, client_id, will, username, password, persistent, version, keepalive)
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._dedupe = Dedupe(dedupe_window)
        self._patterns: list[str] = []
        self._queue: asyncio.Queue[Envelope | None] = asyncio.Queue()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()  # set when the current connection drops: calls in flight on it are retried
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_error = ""
        self.connections = 0  # successful connections so far (reconnects = connections - 1)
        self._outbox = Outbox(window)

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
        self._outbox.close()

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
        """Publish with the topic's QoS and wait for its acknowledgement (QoS 1) or its sending (QoS 0); on a
        lost connection it goes out again once reconnected (at least once), within ``publish_timeout``."""
        check_topic(topic)
        qos, keep = delivery(topic, retain)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._hand([Out(topic, payload, qos, keep, done)])
        try:
            await asyncio.wait_for(asyncio.shield(done), self._publish_timeout)
        except TimeoutError:
            why = "not acknowledged" if self._connected.is_set() else f"no connection to {self.url}"
            raise BusError(f"cannot publish to {topic}: {why} within {self._publish_timeout:g} s") from None

    async def publish_many(self, items: Iterable[tuple[str, bytes, bool | None]]) -> None:
        """Publish (topic, payload, retain) in order without waiting for acknowledgements: returns once all
        are handed over, waiting only while ``window`` publishes are outstanding. ``flush`` waits for the rest."""
        outs = []
        for topic, payload, retain in items:
            check_topic(topic)
            outs.append(Out(topic, payload, *delivery(topic, retain)))
        await self._hand(outs)
    def mark(self) -> int:
        """A mark after every publish handed over so far (see ``flush``)."""
        return self._outbox.mark()

    async def flush(self, timeout: float | None = None, *, upto: int | None = None) -> None:
        """Wait until every publish handed over so far (or up to the ``mark`` ``upto``) is acknowledged (QoS 1)
        or sent (QoS 0)."""
        wait = self._publish_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._outbox.settled(upto), wait)
        except TimeoutError:
            left = self._outbox.outstanding
            raise BusError(f"{left} publishes to {self.url} not acknowledged within {wait:g} s") from None

    @property
    def outstanding(self) -> int:
        """Publishes handed over and not yet acknowledged (or, QoS 0, not yet sent)."""
        return self._outbox.outstanding

    async def _hand(self, outs: list[Out]) -> None:
        """Number and hand over ``outs`` in order, as few writes as the window allows (one when it has room)."""
        sends: list[tuple[int, Out]] = []
        for out in outs:
            if self._outbox.full:
                self._send(sends)
                sends = []
                await self._outbox.room()
            if self._closing:
                raise BusError(f"cannot publish to {out.topic}: the bus is closed")
            sends.append((self._outbox.add(out), out))
        self._send(sends)

    def _send(self, sends: list[tuple[int, Out]]) -> None:
        client = self._client
        if sends and self._connected.is_set() and client is not None:
            self._outbox.send(client, sends)

    async def subscribe(self, pattern: str) -> None:
        """Subscribe now and after every reconnect."""
        check_pattern(pattern)
        if pattern not in self._patterns:
            self._patterns.append(pattern)
        await self._with_client(f"subscribe to {pattern}", lambda c: c.subscribe(pattern, qos=1))

    async def unsubscribe(self, pattern: str) -> None:
        """Unsubscribe now; not subscribed again after a reconnect."""
        check_pattern(pattern)
        if pattern in self._patterns:
            self._patterns.remove(pattern)
        await self._with_client(f"unsubscribe from {pattern}", lambda c: c.unsubscribe(pattern))

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
                    async for _ in client.messages:  # messages arrive through ``on_message``: this waits for
                        pass  # the connection to drop (MqttError)
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
        self._outbox.resend(client)  # unacknowledged: again, in order, before anything newer
        self._connected.set()
        log.info("mqtt connected", url=self.url, client=self.client_id, connections=self.connections)

    def _receive(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._dedupe.first_time(topic, payload):
            self._queue.put_nowait(Envelope(topic, payload, retained))
        else:
            log.debug("duplicate message dropped", topic=topic, client=self.client_id)

    def _make_client(self) -> aiomqtt.Client:
        return make_client(self._spec, self._outbox.acked, self._receive)
