"""The aiomqtt client an ``MqttBus`` connects with, its hot paths wired to paho directly.

- TCP_NODELAY on the socket (aiomqtt ``socket_options``): a bid is a few hundred bytes, Nagle would hold it.
- A persistent session (MQTT 3.1.1 ``clean_session=False``; MQTT 5 session expiry) unless asked otherwise, so
  a broker that stays up keeps QoS 1 messages for a client while it reconnects.
- Publishes, their PUBACKs and incoming messages go to paho directly: aiomqtt keeps the paho client private and
  offers no hook; its own path costs a Message copy, a queue round trip and a task per message. Publishes and
  PUBACKs also skip paho's per-message bookkeeping, and reads are buffered (``broker.paho_writes``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker.bus import Will, delivery
from broker.paho_writes import coalesce_writes, fast_pubacks

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
SESSION_EXPIRY_S = 3600  # MQTT 5: how long the broker keeps an offline persistent session


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Who connects where, and how: what every connection of one bus shares."""

    host: str
    port: int
    client_id: str
    will: Will | None
    username: str | None
    password: str | None
    persistent: bool
    protocol: aiomqtt.ProtocolVersion
    keepalive: int


def make_client(spec: ClientSpec, on_ack: Callable[[int], None],
                on_message: Callable[[str, bytes, bool], None]) -> aiomqtt.Client:
    """A client for one connection: ``on_ack(mid)`` for each PUBACK, ``on_message(topic, payload, retained)``
    for each delivery, both called from paho's callbacks."""
    will = None
    if spec.will is not None:
        topic, payload = spec.will
        qos, retain = delivery(topic, None)
        will = aiomqtt.Will(topic, payload, qos=qos, retain=retain)
    v5 = spec.protocol == aiomqtt.ProtocolVersion.V5
    properties = None
    clean_start: paho.CleanStartOption = paho.MQTT_CLEAN_START_FIRST_ONLY  # the only value MQTT 3.1.1 accepts
    if v5:
        clean_start = not spec.persistent
        if spec.persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
    client = aiomqtt.Client(
        spec.host,
        spec.port,
        identifier=spec.client_id,
        username=spec.username,
        password=spec.password,
        protocol=spec.protocol,
        will=will,
        clean_session=None if v5 else not spec.persistent,
        clean_start=clean_start,
        properties=properties,
        keepalive=spec.keepalive,
        socket_options=[NODELAY],
        max_inflight_messages=0,  # no limit in paho: the bus's own window bounds what is outstanding (Outbox)
    )
    _wire_hot_paths(client._client, on_ack, on_message)
    return client


def _wire_hot_paths(inner: paho.Client, on_ack: Callable[[int], None],
                    on_message: Callable[[str, bytes, bool], None]) -> None:
    """PUBACKs and deliveries straight from paho; aiomqtt's message iterator then only waits for the connection
    to drop (``MqttBus._supervise``). aiomqtt's own ``on_publish`` still runs first."""
    theirs = inner.on_publish

    def acked(c: paho.Client, userdata: object, mid: int, *rest: Any) -> None:
        if theirs is not None:
            theirs(c, userdata, mid, *rest)
        on_ack(mid)

    def delivered(c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        on_message(msg.topic, bytes(msg.payload), bool(msg.retain))

    inner.on_publish = acked
    inner.on_message = delivered
    coalesce_writes(inner)
    fast_pubacks(inner, on_ack)  # the bus publishes with ``publish_packets``: their PUBACKs skip paho's record
