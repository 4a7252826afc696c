"""The embedded broker: amqtt (pure Python, MQTT 3.1.1) behind a thin guard, for machines without Mosquitto.

Run as its own process (``python -m broker.embedded --host H --port P``) so that it can be killed and
restarted like a real broker. It allows anonymous clients only; secure mode (ACL, passwords) needs
Mosquitto. It prints one ``ready`` line once it listens and stops cleanly on SIGTERM or SIGINT.

amqtt 0.12 has no CONNECT timeout and no packet-size cap, and its ``max_connections`` parks extra sockets
on a semaphore instead of refusing them (so idle sockets lock everybody out). The guard owns the listening
socket, reads every packet's fixed header before amqtt sees it, and hands each connection to amqtt as an
"external" listener. It closes the connection, with one throttled log line, when:

- the whole CONNECT has not arrived ``connect_timeout_s`` after the socket opened;
- ``max_connections`` sockets are already open (new ones are closed at once; established clients keep on);
- a fixed header announces a packet over ``max_packet_size`` (refused before its body is read, so packets
  in flight cost at most max_connections x max_packet_size of memory);
- the client breaks MQTT 3.1.1: a first packet that is not CONNECT or a second CONNECT (MQTT-3.1.0-1/-2),
  a reserved packet type, a malformed remaining length, a PUBLISH with QoS 3 (MQTT-3.3.1-4), an empty
  topic (MQTT-4.7.3-1), or a wildcard, NUL or invalid UTF-8 in its topic (MQTT-3.3.2-2, MQTT-1.5.3).

Client ids: the embedded broker has no users, so it cannot tie a client id to anyone. It refuses (CONNACK
"identifier rejected") a CONNECT whose client id a live connection holds, where MQTT-3.1.4-2 says to drop
the older connection: a stranger can no longer knock a connected keeper off and take its session. It
cannot stop one from taking an id that nobody holds at the moment (a keeper that has not connected yet or
is restarting): use Mosquitto with ``liqnet network --secure`` for that. A client whose connection died
without the broker noticing gets its id back when amqtt's keepalive timeout drops the old connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker

from broker.broker_config import Limits

log = logging.getLogger("liqnet.embedded")

CONNECT, PUBLISH = 1, 3
NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
         8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
         14: "DISCONNECT"}
IDENTIFIER_REJECTED = bytes([0x20, 0x02, 0x00, 0x02])  # CONNACK, return code 2 (MQTT 3.1.1, 3.2.2.3)


def broker_config() -> dict[str, Any]:
    """amqtt 0.12 configuration: one external listener (the guard feeds it), anonymous clients, no $SYS or
    packet logging. ``bind`` is required for the listener to exist; amqtt does not open it."""
    return {
        "listeners": {"default": {"type": "external", "bind": "guard"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


# --- packets -------------------------------------------------------------------------------------------------


class Violation(Exception):
    """Why a connection is closed; the message names the rule."""


@dataclass(frozen=True, slots=True)
class Packet:
    first: int  # the fixed header's first byte: type << 4 | flags
    raw: bytes  # the whole packet as received

    @property
    def kind(self) -> int:
        return self.first >> 4

    @property
    def body(self) -> bytes:
        i = 1
        while self.raw[i] & 0x80:
            i += 1
        return self.raw[i + 1:]


async def read_packet(reader: asyncio.StreamReader, max_size: int) -> Packet | None:
    """The next whole packet, or None at end of stream; its size is checked before its body is read."""
    try:
        head = await reader.readexactly(1)
        length, shift, lengths = 0, 0, b""
        while True:
            byte = await reader.readexactly(1)
            lengths += byte
            length |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                break
            shift += 7
            if len(lengths) == 4:
                raise Violation("malformed remaining length (more than 4 bytes)")
        size = 1 + len(lengths) + length
        if size > max_size:
            raise Violation(f"{NAMES.get(head[0] >> 4, 'packet')} of {size} bytes over max_packet_size {max_size}")
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None
    return Packet(head[0], head + lengths + body)


def check(packet: Packet, *, connected: bool) -> None:
    """Raise ``Violation`` if the packet breaks a rule the guard enforces."""
    kind = packet.kind
    if kind in (0, 15):
        raise Violation(f"reserved packet type {kind}")
    if not connected and kind != CONNECT:
        raise Violation(f"{NAMES[kind]} before CONNECT")
    if connected and kind == CONNECT:
        raise Violation("a second CONNECT")
    if kind == PUBLISH:
        _check_publish(packet)


def _check_publish(packet: Packet) -> None:
    qos, body = (packet.first >> 1) & 3, packet.body
    if qos == 3:
        raise Violation("PUBLISH with QoS 3")
    n = int.from_bytes(body[:2], "big") if len(body) >= 2 else -1
    if n < 0 or len(body) < 2 + n + (2 if qos else 0):
        raise Violation("malformed PUBLISH")
    if n == 0:
        raise Violation("PUBLISH with an empty topic")
    try:
        topic = body[2:2 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise Violation("PUBLISH topic is not UTF-8") from None
    if any(c in topic for c in "+#\x00"):
        raise Violation("PUBLISH topic with a wildcard or NUL")


def client_id(connect: Packet) -> str | None:
    """The client id of an MQTT 3.1/3.1.1 CONNECT, or None (other versions: amqtt refuses them itself)."""
    body = connect.body
    try:
        name_len = int.from_bytes(body[0:2], "big")
        at = 2 + name_len + 4  # protocol name, level, flags, keepalive
        if body[2 + name_len] not in (3, 4):
            return None
        id_len = int.from_bytes(body[at:at + 2], "big")
        if len(body) < at + 2 + id_len:
            raise Violation("malformed CONNECT")
        return body[at + 2:at + 2 + id_len].decode("utf-8")
    except (IndexError, UnicodeDecodeError):
        raise Violation("malformed CONNECT") from None


# --- the guard -----------------------------------------------------------------------------------------------


class Notes:
    """Log why connections were closed, at most once a second per reason (a flood must not flood the log)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def closed(self, reason: str, peer: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -1e9) < 1.0:
            self._quiet[reason] = self._quiet.get(reason, 0) + 1
            return
        more = self._quiet.pop(reason, 0)
        self._last[reason] = now
        also = f" (and {more} more since the last line)" if more else ""
        log.warning("closed connection from %s: %s%s", _peer(peer), reason, also)


class Guard:
    """Owns the listening socket; checks each connection, then lets amqtt serve it."""

    def __init__(self, broker: Broker, limits: Limits) -> None:
        self.broker, self.limits = broker, limits
        self.open = 0  # sockets open now
        self.clients: set[str] = set()  # client ids of live connections
        self.notes = Notes()

    async def listen(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self.open >= self.limits.max_connections:
            self.notes.closed(f"{self.open} connections open, the max_connections limit", peer)
            writer.transport.abort()
            return
        self.open += 1
        try:
            await self._serve(reader, writer, peer)
        except Violation as exc:
            self.notes.closed(str(exc), peer)
        finally:
            self.open -= 1
            writer.transport.abort()  # whatever happened, never leave a socket behind

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Any) -> None:
        try:
            first = await asyncio.wait_for(read_packet(reader, self.limits.max_packet_size),
                                           self.limits.connect_timeout_s)
        except TimeoutError:
            raise Violation(f"no CONNECT within {self.limits.connect_timeout_s:g} s") from None
        if first is None:
            return
        check(first, connected=False)
        cid = client_id(first)
        if cid and cid in self.clients:
            self.notes.closed(f"client id {cid!r} is held by a live connection", peer)
            writer.write(IDENTIFIER_REJECTED)
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(writer.drain(), 1.0)
            return
        if cid:
            self.clients.add(cid)
        try:
            guarded = GuardedReader(reader, first.raw, self, peer)
            await self.broker.external_connected(guarded, StreamWriterAdapter(writer), "default")
        finally:
            if cid:
                self.clients.discard(cid)


class GuardedReader(ReaderAdapter):
    """What amqtt reads: whole packets that passed ``check``. A violation ends the stream (amqtt then treats
    the client as gone and publishes its Last Will, as MQTT asks for a protocol error)."""

    def __init__(self, reader: asyncio.StreamReader, first: bytes, guard: Guard, peer: Any) -> None:
        self._reader, self._guard, self._peer = reader, guard, peer
        self._buf = bytearray(first)

    async def read(self, n: int = -1) -> bytes:
        while len(self._buf) < max(n, 1):
            packet = await self._next()
            if packet is None:
                raise asyncio.IncompleteReadError(bytes(self._buf), n)
            self._buf += packet.raw
        n = len(self._buf) if n < 0 else n
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def _next(self) -> Packet | None:
        try:
            packet = await read_packet(self._reader, self._guard.limits.max_packet_size)
            if packet is not None:
                check(packet, connected=True)
        except Violation as exc:
            self._guard.notes.closed(str(exc), self._peer)
            return None
        return packet

    def feed_eof(self) -> None:
        self._reader.feed_eof()


def _peer(peer: Any) -> str:
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)


# --- the process ---------------------------------------------------------------------------------------------


async def serve(host: str, port: int, limits: Limits | None = None) -> None:
    broker = Broker(broker_config())
    await broker.start()
    server = await Guard(broker, limits or Limits()).listen(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog="python -m broker.embedded", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--connect-timeout", type=float, default=defaults.connect_timeout_s, metavar="S")
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections, metavar="N")
    parser.add_argument("--max-packet-size", type=int, default=defaults.max_packet_size, metavar="BYTES")
    args = parser.parse_args(argv)
    limits = Limits(args.connect_timeout, args.max_connections, args.max_packet_size)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, limits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
