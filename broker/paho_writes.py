"""paho 2 writes every queued MQTT packet with its own ``send``: one system call, and one wake-up of the broker,
per message. ``coalesce_writes`` makes a client join them (``broker.mqtt_client`` uses it on every connection)."""

from __future__ import annotations

import time
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
