"""The MQTT transport of ``Bus``, on aiomqtt 2.x (paho-mqtt 2 underneath).

- QoS and retain from ``topics.POLICY``; subscriptions at QoS 1 so QoS 1 publications arrive at QoS 1.
- TCP_NODELAY on the socket (aiomqtt ``socket_options``): a bid is a few hundred bytes, Nagle would hold it.
- One supervisor task owns the connection: on loss it reconnects with capped exponential backoff and
  subscribes again to every pattern (a restarted broker without persistence has forgotten them).
- A persistent session (MQTT 3.1.1 ``clean_session=False``; MQTT 5 session expiry) by default, so a
  broker that stays up keeps QoS 1 messages for a client while it reconnects.
- Publishing is pipelined: a publish is handed to the client in order and does not wait for the PUBACK of
  the one before; at most ``window`` messages are outstanding (handed over, not yet acknowledged), and a
  publisher waits only while that window is full. ``publish`` waits for its own PUBACK; ``publish_many``
  waits for room only, and ``flush`` for every acknowledgement. What a lost connection left unacknowledged
  is published again, in order, on the next one, before anything newer (at least once; MQTT keeps the
  order of one client's publishes).
- QoS 1 means at least once: a retried publish or a redelivery after reconnect can arrive twice.
  MQTT packet ids are per hop and reused, so duplicates are recognised by content instead: on the house's
  event topics (not retained) every message is unique by construction (a result by its auction, a receipt by
  its nonce), so an exact repeat of (topic, payload) among the last ``dedupe_window`` deliveries is dropped.
  Retained topics carry current state and are idempotent; keepers' actions all reach the house, which knows
  a repeated action by its keeper, nonce and signature and answers it with its receipt again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiomqtt
import paho.mqtt.client as paho
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker import topics
from broker.bus import BusError, Envelope, Will, check_pattern, check_topic, delivery
from broker.paho_writes import coalesce_writes

log = structlog.get_logger()

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
SESSION_EXPIRY_S = 3600  # MQTT 5: how long the broker keeps an offline persistent session
WINDOW = 256  # publishes outstanding (handed to the client, not yet acknowledged) at most


@dataclass(slots=True)
class _Out:
    """One publish handed to the bus and not yet acknowledged (QoS 1) or sent (QoS 0)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    done: asyncio.Future[None] | None = None  # ``publish`` waits on it; ``publish_many`` does not


class _Dedupe:
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
        self._window = max(1, window)
        self._out: OrderedDict[int, _Out] = OrderedDict()  # outstanding publishes by our own number, in order
        self._mids: dict[int, int] = {}  # MQTT packet id on the current connection -> our number
        self._numbers = 0
        self._room = asyncio.Event()  # set while fewer than ``window`` publishes are outstanding
        self._room.set()
        self._progress = asyncio.Event()  # set whenever a publish is acknowledged (or the bus closes)

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
        for out in self._out.values():
            if out.done is not None and not out.done.done():
                out.done.set_exception(BusError(f"cannot publish to {out.topic}: the bus is closed"))
                out.done.exception()  # its publisher may have stopped waiting (a timeout): nothing to log then
        self._out.clear()
        self._room.set()
        self._progress.set()

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
        await self._hand(_Out(topic, payload, qos, keep, done))
        try:
            await asyncio.wait_for(asyncio.shield(done), self._publish_timeout)
        except TimeoutError:
            why = "not acknowledged" if self._connected.is_set() else f"no connection to {self.url}"
            raise BusError(f"cannot publish to {topic}: {why} within {self._publish_timeout:g} s") from None

    async def publish_many(self, items: Iterable[tuple[str, bytes, bool | None]]) -> None:
        """Publish (topic, payload, retain) in order without waiting for acknowledgements: returns once all
        are handed over, waiting only while ``window`` publishes are outstanding. ``flush`` waits for the rest."""
        for topic, payload, retain in items:
            check_topic(topic)
            qos, keep = delivery(topic, retain)
            await self._hand(_Out(topic, payload, qos, keep))

    def mark(self) -> int:
        """A mark after every publish handed over so far (see ``flush``)."""
        return self._numbers

    async def flush(self, timeout: float | None = None, *, upto: int | None = None) -> None:
        """Wait until every publish handed over so far (or up to the ``mark`` ``upto``) is acknowledged (QoS 1)
        or sent (QoS 0)."""
        wait = self._publish_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._settled(upto), wait)
        except TimeoutError:
            raise BusError(f"{len(self._out)} publishes to {self.url} not acknowledged within {wait:g} s") from None

    async def _settled(self, upto: int | None) -> None:
        while self._out and (upto is None or next(iter(self._out)) <= upto):
            self._progress.clear()
            await self._progress.wait()

    @property
    def outstanding(self) -> int:
        """Publishes handed over and not yet acknowledged (or, QoS 0, not yet sent)."""
        return len(self._out)

    async def _hand(self, out: _Out) -> None:
        while len(self._out) >= self._window:
            self._room.clear()
            await self._room.wait()
        if self._closing:
            raise BusError(f"cannot publish to {out.topic}: the bus is closed")
        self._numbers += 1
        number = self._numbers
        self._out[number] = out
        if len(self._out) >= self._window:
            self._room.clear()
        client = self._client
        if self._connected.is_set() and client is not None:
            self._send(client, number, out)

    def _send(self, client: aiomqtt.Client, number: int, out: _Out) -> None:
        """Hand one publish to paho (it keeps the order and its own in-flight limit)."""
        try:
            info = client._client.publish(out.topic, out.payload, out.qos, out.retain)
        except ValueError as exc:  # a topic or payload paho refuses: fail this publish, not the bus
            self._finish(number, exc)
            return
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return  # not connected any more: it goes out again on the next connection
        if out.qos == 0:
            self._finish(number)
        else:
            self._mids[info.mid] = number

    def _acked(self, mid: int) -> None:
        number = self._mids.pop(mid, None)
        if number is not None:
            self._finish(number)

    def _finish(self, number: int, error: BaseException | None = None) -> None:
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
        self._mids.clear()  # packet ids of the lost connection mean nothing on this one
        for number, out in list(self._out.items()):  # unacknowledged: again, in order, before anything newer
            self._send(client, number, out)
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
        client = aiomqtt.Client(
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
            max_inflight_messages=0,  # no limit in paho: our own window bounds what is outstanding (``_hand``)
        )
        # The hot paths go to paho directly: publishes (``_send``), their PUBACKs and incoming messages. aiomqtt
        # keeps the paho client private and offers no hook (``abort`` reaches it the same way); its own path costs
        # a Message copy, a queue round trip and a task per message. Its message iterator (``_supervise``) then
        # only waits for the connection to drop.
        inner = client._client
        theirs = inner.on_publish

        def on_publish(c: paho.Client, userdata: object, mid: int, *rest: Any) -> None:
            if theirs is not None:
                theirs(c, userdata, mid, *rest)
            self._acked(mid)

        def on_message(c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
            self._receive(msg.topic, bytes(msg.payload), bool(msg.retain))

        inner.on_publish = on_publish
        inner.on_message = on_message
        coalesce_writes(inner)
        return client
