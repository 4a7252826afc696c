"""The hot paths of a paho 2 client, made cheaper (``broker.mqtt_client`` uses them on every connection).

- ``coalesce_writes``: paho writes every queued MQTT packet with its own ``send`` (one system call, and one
  wake-up of the broker, per message); this joins them.
- ``publish_packets`` and ``fast_pubacks``: publishes and their PUBACKs without paho's per-message objects,
  locks and log calls (the bus keeps its own record of what is outstanding); the socket read in chunks, not
  with three ``recv`` calls per packet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

_PUBLISH, _DISCONNECT = 0x30, 0xE0  # MQTT control packet types (high nibble of the first byte)
_WRITE_CHUNK = 64 * 1024  # bytes handed to one send() at most


def coalesce_writes(inner: paho.Client) -> None:
    """Let paho write its queued packets with one ``send`` per batch instead of one per packet.

    paho 2 (``Client._packet_write``) sends every queued packet with its own system call; a house publishing a
    block's worth of messages pays one call, and one wake-up of the broker, per message. This replacement joins
    the queued packets (up to ``_WRITE_CHUNK`` bytes) into one write and then does for each packet written in full
    what paho does (a QoS 0 publish is reported published; a DISCONNECT is left to paho itself). It relies on paho 2
    internals (the ``_out_packet`` queue of packet dicts, ``_sock_send``): with any other shape, paho is left alone.
    """
    original = getattr(inner, "_packet_write", None)
    queue = getattr(inner, "_out_packet", None)
    if original is None or queue is None or not hasattr(inner, "_sock_send") or not hasattr(inner, "_msgtime_mutex"):
        return

    def packet_write() -> paho.MQTTErrorCode:
        while queue:
            run: list[Any] = []
            size = 0
            for packet in queue:
                if packet["command"] & 0xF0 == _DISCONNECT or size >= _WRITE_CHUNK:
                    break
                run.append(packet)
                size += packet["to_process"]
            if len(run) < 2:
                return original()  # nothing to join (or a DISCONNECT first): paho's own way
            data = b"".join(memoryview(p["packet"])[p["pos"]:] for p in run)
            try:
                sent = inner._sock_send(data)
            except (AttributeError, ValueError):
                return paho.MQTT_ERR_SUCCESS
            except BlockingIOError:
                return paho.MQTT_ERR_AGAIN
            except OSError:
                return paho.MQTT_ERR_CONN_LOST
            with inner._msgtime_mutex:
                inner._last_msg_out = time.monotonic()  # paho's keepalive clock (time_func)
            for packet in run:
                done = min(packet["to_process"], sent)
                packet["pos"] += done
                packet["to_process"] -= done
                sent -= done
                if packet["to_process"]:
                    return paho.MQTT_ERR_SUCCESS  # the socket is full: the rest when it is writable again
                queue.popleft()
                if packet["command"] & 0xF0 == _PUBLISH and packet["qos"] == 0:
                    _qos0_published(inner, packet)
        return paho.MQTT_ERR_SUCCESS

    inner._packet_write = packet_write  # type: ignore[method-assign]


def _qos0_published(inner: paho.Client, packet: Any) -> None:
    """What paho does once a QoS 0 publish is written: on_publish, and its info marked published."""
    callback = inner.on_publish
    if callback is not None:
        callback(inner, inner.user_data_get(), packet["mid"], ReasonCode(PacketTypes.PUBACK),  # type: ignore[call-arg]
                 Properties(PacketTypes.PUBACK))
    if packet["info"] is not None:
        packet["info"]._set_as_published()


# --- publishes and PUBACKs past paho's per-message bookkeeping -----------------------------------------------------

_READ_CHUNK = 64 * 1024  # bytes taken from the socket by one recv() at most
_READS_PER_EVENT = 16  # socket reads per readable event at most: a flood cannot hold the event loop


def publish_packets(inner: paho.Client, items: list[tuple[bytes, bytes, int, bool]]) -> list[int] | None:
    """Queue PUBLISH packets for (topic, payload, qos, retain), already checked (``publish_refusal``), as one
    write; the MQTT packet id of each (0 for QoS 0), or None when the client has no connection (nothing queued).

    paho's own ``publish`` costs, per message, an ``MQTTMessage`` with a ``threading.Condition``, three locks and
    a debug log line; its PUBACK another ``ReasonCode``, ``Properties`` and lock. The bus keeps its own record
    of what is outstanding (``broker.mqtt_outbox``) and makes a new client per connection, so paho's record of
    sent messages is not needed: the packets (MQTT 3.1.1 section 3.3, and the empty property list of MQTT 5
    section 3.3.2.3) are queued as one entry of paho's write queue and written at once (``loop_write``).
    """
    if inner._sock is None:
        return None
    v5 = inner._protocol == paho.MQTTv5
    parts: list[bytes | bytearray] = []
    mids: list[int] = []
    for topic, payload, qos, retain in items:
        mid = inner._mid_generate() if qos else 0
        mids.append(mid)
        head = bytearray((_PUBLISH | qos << 1 | retain,))
        _remaining_length(head, 2 + len(topic) + (2 if qos else 0) + v5 + len(payload))
        head += len(topic).to_bytes(2, "big")
        head += topic
        if qos:
            head += mid.to_bytes(2, "big")
        if v5:
            head.append(0)
        parts += (head, payload)
    data = b"".join(parts)
    # qos 1 on the entry: a written entry of QoS 0 would be reported to on_publish as one message of its mid
    inner._out_packet.append({"command": _PUBLISH, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data),
                              "packet": data, "info": None})
    if inner._registered_write:
        return mids  # a write is already due (aiomqtt adds its writer on the loop's next turn): it takes these too
    # Otherwise write now, on the event loop's thread, rather than on the next writable event. Not while a write
    # is due: this write would unregister the writer before aiomqtt has added it, and the writer, added after,
    # would then run on every turn of the loop with nothing to write.
    try:
        inner.loop_write()
    except Exception:  # a broken connection: aiomqtt's writer callback meets it and reports it
        inner._call_socket_register_write()
    return mids


def publish_refusal(topic: bytes, payload: bytes, qos: int) -> str | None:
    """Why paho would refuse this publish (its ``publish`` raises ValueError), or None."""
    if not topic or b"+" in topic or b"#" in topic or len(topic) > 65535:
        return "invalid topic"
    if qos not in (0, 1, 2):
        return "invalid QoS level"
    if len(payload) > 268435455:
        return "payload too large"
    return None


def _remaining_length(packet: bytearray, length: int) -> None:
    """MQTT's variable length integer (MQTT 3.1.1 section 2.2.3)."""
    while True:
        byte = length % 128
        length //= 128
        packet.append(byte | 0x80 if length else byte)
        if not length:
            return


def fast_pubacks(inner: paho.Client, on_ack: Callable[[int], None]) -> None:
    """Read the socket in chunks, and hand each PUBACK of a ``publish_packets`` publish to ``on_ack(mid)``
    directly; what paho published itself (it holds it in ``_out_messages``) still goes paho's way, to
    ``on_publish``, as does every other packet.

    paho reads a packet with three ``recv`` calls (its type, its length, its body) and builds a ``ReasonCode``,
    a ``Properties`` and a new packet record for each PUBACK. Here a readable event reads up to
    ``_READ_CHUNK`` bytes at a time, takes the PUBACKs at the head of what is buffered itself (4 bytes each,
    MQTT 3.1.1 section 3.4: ``0x40 0x02`` and the packet id; a longer MQTT 5 one goes to paho) and gives paho
    one packet at a time otherwise, until what was read is used up.
    """
    sock_recv = inner._sock_recv
    loop_read = inner.loop_read
    original = inner._handle_pubackcomp
    buffer: list[Any] = [b"", 0]  # the bytes read and not yet used, and where the unused ones start
    reads = [0]  # socket reads during this readable event

    def recv(size: int) -> bytes:
        data, at = buffer
        if at >= len(data):
            if reads[0] >= _READS_PER_EVENT:
                raise BlockingIOError  # enough for one event: the socket is still readable, and says so again
            reads[0] += 1
            data, at = sock_recv(_READ_CHUNK), 0
            if not data:
                return data  # the connection closed
        buffer[0], buffer[1] = data, at + size
        return data[at:at + size]

    def pubacks() -> None:
        if inner._in_packet["command"]:
            return  # paho is part way through a packet
        data, at = buffer
        start, end, theirs = at, len(data) - 3, inner._out_messages
        while at < end and data[at] == 0x40 and data[at + 1] == 2:
            mid = data[at + 2] << 8 | data[at + 3]
            if mid in theirs:
                break
            at += 4
            on_ack(mid)
        if at != start:
            buffer[1] = at
            inner._last_bytes_received = time.monotonic()  # paho's keepalive clock (time_func)

    def read(max_packets: int = 1) -> paho.MQTTErrorCode:
        reads[0] = 0
        while True:
            pubacks()
            rc = loop_read(1)  # one packet; paho's recv takes from the buffer, which reads the socket when empty
            if rc != paho.MQTT_ERR_SUCCESS or inner._sock is None or buffer[1] >= len(buffer[0]):
                return rc  # nothing buffered is left: a readable event says when more arrives

    def handle(cmd: str) -> paho.MQTTErrorCode:
        """A PUBACK paho read itself (the first of a chunk, or one split between two reads)."""
        packet = inner._in_packet["packet"]
        if cmd == "PUBACK" and len(packet) >= 2:
            mid = packet[0] << 8 | packet[1]  # the packet id leads the variable header (MQTT 3.1.1 section 3.4.2)
            if mid not in inner._out_messages:
                on_ack(mid)
                return paho.MQTT_ERR_SUCCESS
        return original(cmd)  # type: ignore[arg-type]

    inner._sock_recv = recv  # type: ignore[method-assign,assignment]
    inner.loop_read = read  # type: ignore[method-assign]
    inner._handle_pubackcomp = handle  # type: ignore[method-assign]
