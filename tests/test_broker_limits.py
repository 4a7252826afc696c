"""What a broker allows a hostile client: the embedded broker's guard (CONNECT timeout, connection cap, packet
size cap, protocol violations, client-id takeover) and the limits rendered into Mosquitto's configuration.

Raw-socket probes wait on the socket itself (data or end of stream) with a bounded timeout, never a sleep."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from auction.net.selftest.rawmqtt import (
    CONNACK_ID_REJECTED,
    CONNACK_OK,
    Raw,
    connect_packet,
    publish_packet,
    string,
    varint,
)
from broker import server
from broker.mqtt_bus import MqttBus
from broker.server import BrokerHandle, Limits, start_broker
from broker.transport import connect

pytestmark = pytest.mark.broker

requires_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed")


@pytest.fixture
def raws() -> Iterator[list[Raw]]:
    opened: list[Raw] = []
    yield opened
    for raw in opened:
        raw.close()


@pytest.fixture
async def embedded() -> AsyncIterator[BrokerHandle]:
    handle = await start_broker(prefer="embedded", limits=Limits(connect_timeout_s=1.0, max_connections=8))
    yield handle
    handle.close()


def uid(prefix: str) -> bytes:
    return f"{prefix}-{uuid.uuid4().hex[:8]}".encode()


def bus(handle: BrokerHandle, client_id: str, **kw: object) -> MqttBus:
    return MqttBus("127.0.0.1", handle.port, client_id, **kw)  # type: ignore[arg-type]


# --- the embedded broker -----------------------------------------------------------------------------------------


async def test_a_socket_that_never_sends_connect_is_closed(embedded: BrokerHandle, raws: list[Raw]) -> None:
    raws.append(raw := Raw(embedded.port))
    assert await asyncio.to_thread(raw.until_closed, 10) == b""  # closed after the 1 s CONNECT timeout


async def test_idle_sockets_at_the_cap_do_not_lock_out_clients(embedded: BrokerHandle, raws: list[Raw]) -> None:
    async with bus(embedded, f"early-{uuid.uuid4().hex[:8]}") as early:  # connected before the flood
        await early.subscribe("liq/v1/limits/#")
        raws.extend(Raw(embedded.port) for _ in range(7))  # with `early`: every one of the 8 slots taken
        extra = Raw(embedded.port)
        raws.append(extra)
        assert await asyncio.to_thread(extra.until_closed, 5) == b""  # over the cap: closed at once
        await early.publish("liq/v1/limits/x", b"still served")  # established clients go on meanwhile
        got = await asyncio.wait_for(anext(early.messages()), 5)
        assert got.payload == b"still served"
        # A newcomer gets in once the idle sockets time out (its reconnect loop retries meanwhile).
        async with bus(embedded, f"late-{uuid.uuid4().hex[:8]}", connect_timeout=15.0) as late:
            await late.publish("liq/v1/limits/y", b"late")


async def test_an_oversized_packet_is_refused_before_its_body(embedded: BrokerHandle, raws: list[Raw]) -> None:
    raws.append(raw := Raw(embedded.port))
    raw.send(connect_packet(uid("big")), bytes([0x32]) + varint(100 * 1024 * 1024))  # announces 100 MB
    assert await asyncio.to_thread(raw.until_closed, 5) == CONNACK_OK  # closed without reading a byte more
    async with bus(embedded, uid("sub").decode()) as sub, bus(embedded, uid("pub").decode()) as pub:
        await sub.subscribe("liq/v1/limits/big")
        payload = b"x" * (200 * 1024)  # under the 256 KiB cap: delivered
        await pub.publish("liq/v1/limits/big", payload)
        assert (await asyncio.wait_for(anext(sub.messages()), 5)).payload == payload


@pytest.mark.parametrize(("name", "packets"), [
    ("garbage", [b"\x10\x05hello garbage that is not MQTT at all"]),
    ("garbage length", [b"\xff" * 12]),
    ("publish before connect", [publish_packet(b"liq/v1/x", b"hi")]),
    ("subscribe before connect", [bytes([0x82, 0x08, 0x00, 0x01]) + string(b"a/#") + b"\x01"]),
    ("reserved type", [connect_packet(uid("r")), b"\xf0\x00"]),
    ("empty topic", [connect_packet(uid("e")), publish_packet(b"", b"hi")]),
    ("wildcard topic", [connect_packet(uid("w")), publish_packet(b"liq/v1/+", b"hi")]),
    ("qos 3", [connect_packet(uid("q")), bytes([0x36]) + varint(12) + string(b"liq/v1/x") + b"\x00\x01"]),
    ("second connect", [connect_packet(uid("c")), connect_packet(uid("c2"))]),
])
async def test_protocol_violations_close_the_connection(embedded: BrokerHandle, raws: list[Raw], name: str,
                                                        packets: list[bytes]) -> None:
    raws.append(raw := Raw(embedded.port))
    got = await asyncio.to_thread(raw.send(*packets).until_closed, 5)
    assert got is not None, f"{name}: the connection is still open"
    assert got in (b"", CONNACK_OK), f"{name}: {got.hex()} (no PUBACK, no SUBACK: nothing was accepted)"
    assert "closed connection from" in embedded.log_file.read_text()


async def test_a_violation_publishes_the_last_will(embedded: BrokerHandle, raws: list[Raw]) -> None:
    topic = f"liq/v1/keepers/{uuid.uuid4().hex[:8]}/status".encode()
    async with bus(embedded, uid("watch").decode()) as watch:
        await watch.subscribe(topic.decode())
        raws.append(raw := Raw(embedded.port))
        raw.send(connect_packet(uid("k"), will=(topic, b"offline")), publish_packet(b"", b"bad"))
        assert await asyncio.to_thread(raw.until_closed, 5) == CONNACK_OK
        assert (await asyncio.wait_for(anext(watch.messages()), 5)).payload == b"offline"


async def test_a_live_client_id_cannot_be_taken_over(embedded: BrokerHandle, raws: list[Raw]) -> None:
    keeper = f"k-{uuid.uuid4().hex[:8]}"
    async with bus(embedded, keeper) as victim, bus(embedded, uid("house").decode()) as house:
        await victim.subscribe(f"liq/v1/keepers/{keeper}/rejections")
        raws.append(thief := Raw(embedded.port))
        assert await asyncio.to_thread(thief.send(connect_packet(keeper.encode())).until_closed, 5) \
            == CONNACK_ID_REJECTED
        await house.publish(f"liq/v1/keepers/{keeper}/rejections", b"for the victim")
        assert (await asyncio.wait_for(anext(victim.messages()), 5)).payload == b"for the victim"
        assert victim.connections == 1  # never knocked off
    async with bus(embedded, keeper) as again:  # the victim left: its id is free again (a retry or two at most)
        assert again.connections == 1


# --- Mosquitto ------------------------------------------------------------------------------------------------


def test_mosquitto_configuration_carries_the_limits(tmp_path: Path) -> None:
    conf = server.mosquitto_config("127.0.0.1", 1884, limits=Limits(max_connections=77, max_packet_size=9999))
    lines = conf.splitlines()
    assert lines.index("listener 1884 127.0.0.1") < lines.index("max_connections 77")  # a listener option
    assert "max_packet_size 9999" in lines and "$" not in conf
    assert "max_connections 512" in server.mosquitto_config("127.0.0.1", 1884)


@requires_mosquitto
async def test_mosquitto_closes_connections_over_the_cap(raws: list[Raw]) -> None:
    handle = await start_broker(prefer="mosquitto", limits=Limits(max_connections=3))
    try:
        answers = []
        for _ in range(8):  # one at a time: each is answered (CONNACK) or closed before the next
            raws.append(raw := Raw(handle.port).send(connect_packet(uid("m"))))
            answers.append(await asyncio.to_thread(raw.answer))
        # Mosquitto 2.0.11 admits one connection over its cap ("client_count > max_connections").
        assert answers == [CONNACK_OK] * 4 + [b""] * 4, answers
        assert "denied: max_connections exceeded" in handle.log_file.read_text()
    finally:
        handle.close()


@requires_mosquitto
async def test_secure_mosquitto_ties_client_ids_to_users(tmp_path: Path) -> None:
    users = {"house": "h-pw", "alice": "a-pw", "mallory": "m-pw"}
    passwords, acl = server.write_secure_files(tmp_path, users, house="house")
    assert server.confines_by_user(acl)  # so `liqnet broker --acl` binds them by default
    handle = await start_broker(acl_file=acl, password_file=passwords, bind_client_ids=True)
    host_port = handle.url.removeprefix("mqtt://")
    try:
        async with connect(f"mqtt://alice:a-pw@{host_port}", "alice") as alice, \
                connect(f"mqtt://house:h-pw@{host_port}", "house-1") as house:
            await alice.subscribe("liq/v1/keepers/alice/rejections")
            async with connect(f"mqtt://mallory:m-pw@{host_port}", "alice"):  # mallory claims alice's id
                await house.publish("liq/v1/keepers/alice/rejections", b"for alice")
                assert (await asyncio.wait_for(anext(alice.messages()), 5)).payload == b"for alice"
            assert isinstance(alice, MqttBus) and alice.connections == 1  # alice was never knocked off
        log = handle.log_file.read_text()
        assert "as mallory (" in log and "u'mallory'" in log and "already connected" not in log
    finally:
        handle.close()


def test_client_ids_are_bound_only_where_each_client_has_a_user(tmp_path: Path) -> None:
    from importlib import resources
    compose = tmp_path / "compose.acl"
    compose.write_text((resources.files("broker") / "mosquitto" / "compose" / "acl").read_text())
    assert not server.confines_by_user(compose)  # shared keeper user, confined by client id: not bound
    passwords, acl = server.write_secure_files(tmp_path, {"house": "h"}, house="house")
    bound = server.mosquitto_config("127.0.0.1", 1, acl_file=acl, password_file=passwords, bind_client_ids=True)
    assert "use_username_as_clientid true" in bound.splitlines()
    free = server.mosquitto_config("127.0.0.1", 1, acl_file=acl, password_file=passwords)
    assert "use_username_as_clientid false" in free.splitlines()
    with pytest.raises(server.ConfigError, match="needs secure mode"):
        server.launch_broker(prefer="embedded", bind_client_ids=True)


@requires_mosquitto
def test_liqnet_broker_binds_client_ids_for_a_per_user_acl(tmp_path: Path) -> None:
    passwords, acl = server.write_secure_files(tmp_path, {"house": "h", "alice": "a"}, house="house")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "auction.cli", "broker", "--port", str(server.free_port()),
                             "--acl", str(acl), "--passwords", str(passwords)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("liqnet broker:"):
            line = proc.stdout.readline()
        assert "secure (password + ACL, client id = user)" in line, line
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


@requires_mosquitto
async def test_an_observer_with_its_own_user_sees_everything_beside_the_house(tmp_path: Path) -> None:
    """With client ids bound to users, an observer must not log in as the house (they would knock each other
    off): ``readers`` gives it a user of its own that reads all the house reads and publishes nothing."""
    users = {"house": "h-pw", "watcher": "w-pw", "alice": "a-pw"}
    passwords, acl = server.write_secure_files(tmp_path, users, house="house", readers=("watcher",))
    assert "user watcher\ntopic read liq/v1/#" in acl.read_text()
    handle = await start_broker(acl_file=acl, password_file=passwords, bind_client_ids=True)
    host_port = handle.url.removeprefix("mqtt://")
    try:
        async with connect(f"mqtt://house:h-pw@{host_port}", "house-x") as house, \
                connect(f"mqtt://watcher:w-pw@{host_port}", "chaos-watch") as watcher, \
                connect(f"mqtt://alice:a-pw@{host_port}", "alice") as alice:
            await house.subscribe("liq/v1/#")
            await watcher.subscribe("liq/v1/#")
            await watcher.publish("liq/v1/oracle/ETH", b"forged by the watcher")  # denied: it only reads
            await alice.publish("liq/v1/keepers/alice/actions", b"take")
            for bus_ in (house, watcher):
                got = await asyncio.wait_for(anext(bus_.messages()), 5)
                assert (got.topic, got.payload) == ("liq/v1/keepers/alice/actions", b"take")
            assert isinstance(house, MqttBus) and isinstance(watcher, MqttBus)
            assert house.connections == watcher.connections == 1  # neither knocked the other off
    finally:
        handle.close()
    with pytest.raises(server.ConfigError, match="credentials for the user 'watcher'"):
        server.write_secure_files(tmp_path, {"house": "h"}, readers=("watcher",))
