"""The MQTT transport against real brokers started on free ports (Mosquitto, and the embedded amqtt)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import struct
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from broker import messages as m
from broker import topics as t
from broker.bus import Bus, BusError, Envelope, send
from broker.mqtt_bus import MqttBus
from broker.server import BrokerHandle, start_broker, write_secure_files
from broker.signing import KeyPair, Verifier
from broker.transport import connect

pytestmark = pytest.mark.broker

ALICE = KeyPair.from_seed(bytes(range(32)))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def wait_for(bus: Bus, pred: Callable[[Envelope], bool], timeout: float = 5.0) -> Envelope:
    async def first() -> Envelope:
        async for env in bus.messages():
            if pred(env):
                return env
        raise AssertionError("bus closed")

    return await asyncio.wait_for(first(), timeout)


async def collect(bus: Bus, seconds: float) -> list[Envelope]:
    out: list[Envelope] = []

    async def run() -> None:
        async for env in bus.messages():
            out.append(env)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run(), seconds)
    return out


@pytest.fixture
async def embedded() -> AsyncIterator[BrokerHandle]:
    handle = await start_broker(prefer="embedded")
    yield handle
    handle.close()


async def house_and_keeper_round_trip(url: str) -> None:
    """A keeper registers and takes; the house verifies, answers with state and a rejection."""
    keeper = uid("alice")
    key = KeyPair.generate()
    offline = m.encode(m.KeeperStatus(keeper=keeper, online=False, ts_ms=0))
    async with (
        connect(url, uid("house")) as house,
        connect(url, f"keeper-{keeper}", will=(t.keeper_status(keeper), offline)) as kb,
    ):
        for pattern in t.house_subscriptions([keeper]):
            await house.subscribe(pattern)
        for pattern in t.keeper_subscriptions(keeper):
            await kb.subscribe(pattern)
        await send(kb, t.keeper_status(keeper), m.KeeperStatus(keeper=keeper, online=True, pubkey=key.pubkey, ts_ms=1))
        await send(kb, t.actions(keeper), key.register(keeper, nonce=1))
        take = key.sign(m.Take(auction=7, keeper=keeper, amount=5, max_price_q=9, nonce=2, deadline_ms=100))
        await send(kb, t.actions(keeper), take)

        verifier = Verifier()
        received: list[m.Message] = []
        while len(received) < 2:
            env = await wait_for(house, lambda e: keeper in e.topic)
            parsed = t.parse(env.topic)
            assert parsed is not None
            msg = m.decode(env.payload, parsed.policy.messages)
            if isinstance(msg, m.Register | m.Take):
                assert verifier.check(msg, 50, sender=parsed.keeper)
            received.append(msg)
        assert [type(x) for x in received] == [m.Register, m.Take]  # not its status: the house does not read them
        assert received[1] == take

        await send(
            house,
            t.rejections(keeper),
            m.Rejection(keeper=keeper, ref=2, code="too-expensive", text="price above max", ts_ms=60),
        )
        got = await wait_for(kb, lambda e: e.topic == t.rejections(keeper))
        rejection = m.decode(got.payload)
        assert isinstance(rejection, m.Rejection) and rejection.ref == take.nonce


async def test_pub_sub_both_ways_mosquitto(broker_url: str) -> None:
    await house_and_keeper_round_trip(broker_url)


async def test_pub_sub_both_ways_embedded(embedded: BrokerHandle) -> None:
    assert embedded.kind == "embedded"
    await house_and_keeper_round_trip(embedded.url)


async def test_retained_state_and_clearing(broker_url: str) -> None:
    auction = uuid.uuid4().int % 10**9
    async with connect(broker_url, uid("house")) as house:
        await house.publish(t.state(auction), b'{"seq":1}')
        async with connect(broker_url, uid("late")) as late:
            await late.subscribe(t.state(auction))
            env = await wait_for(late, lambda e: True)
            assert (env.payload, env.retained) == (b'{"seq":1}', True)
            await house.publish(t.state(auction), b"")  # auction closed: clear
            assert (await wait_for(late, lambda e: True)).payload == b""
        async with connect(broker_url, uid("later")) as later:
            await later.subscribe(t.state(auction))
            assert await collect(later, 0.3) == []


KEEPER_SCRIPT = """
import asyncio
from broker import messages as m, topics as t
from broker.bus import send
from broker.transport import connect

async def main() -> None:
    will = (t.keeper_status({kid!r}), m.encode(m.KeeperStatus(keeper={kid!r}, online=False, ts_ms=0)))
    async with connect({url!r}, "keeper-" + {kid!r}, will) as bus:
        await send(bus, t.keeper_status({kid!r}), m.KeeperStatus(keeper={kid!r}, online=True, ts_ms=0))
        print("ready", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_killed_keeper_process_shows_offline_through_its_last_will(broker_url: str) -> None:
    kid = uid("k")
    script = textwrap.dedent(KEEPER_SCRIPT.format(kid=kid, url=broker_url))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        async with connect(broker_url, uid("obs")) as obs:
            await obs.subscribe(t.keeper_status(kid))
            assert proc.stdout is not None
            while (line := await asyncio.wait_for(proc.stdout.readline(), 15)) != b"ready\n":
                assert line, "the keeper process died before it was ready"
            online = m.decode((await wait_for(obs, lambda e: True)).payload)
            assert isinstance(online, m.KeeperStatus) and online.online
            proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker must publish the Will
            offline = m.decode((await wait_for(obs, lambda e: True, timeout=10)).payload)
            assert isinstance(offline, m.KeeperStatus) and not offline.online and offline.keeper == kid
        async with connect(broker_url, uid("late")) as late:  # and it stays, retained, for late joiners
            await late.subscribe(t.keeper_status(kid))
            status = m.decode((await wait_for(late, lambda e: True)).payload)
            assert isinstance(status, m.KeeperStatus) and not status.online
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_dropped_socket_fires_last_will_on_embedded_broker(embedded: BrokerHandle) -> None:
    will = (t.keeper_status("bob"), m.encode(m.KeeperStatus(keeper="bob", online=False, ts_ms=0)))
    async with connect(embedded.url, uid("obs")) as obs:
        await obs.subscribe(t.keeper_status("bob"))
        bob = MqttBus(embedded.host, embedded.port, "keeper-bob", will=will)
        await bob.__aenter__()
        bob.abort()
        env = await wait_for(obs, lambda e: True, timeout=10)
        assert env.payload == will[1]


async def test_reconnects_and_resubscribes_after_broker_restart(own_broker: BrokerHandle) -> None:
    url = own_broker.url
    async with connect(url, uid("pub")) as pub, connect(url, uid("sub")) as sub:
        assert isinstance(pub, MqttBus) and isinstance(sub, MqttBus)
        await sub.subscribe("liq/v1/auctions/#")
        await pub.publish(t.announce(1), b"before")
        assert (await wait_for(sub, lambda e: True)).payload == b"before"

        await own_broker.stop()
        # Published while the broker is down: it waits for the reconnect, then goes out (retained).
        pending = asyncio.create_task(pub.publish(t.state(1), b"during outage"))
        await asyncio.sleep(0.3)
        assert not pending.done()
        await own_broker.restart()
        await asyncio.wait_for(pending, 10)
        env = await wait_for(sub, lambda e: e.topic == t.state(1), timeout=10)
        assert env.payload == b"during outage"  # the subscription came back with the new session

        for _ in range(100):
            if sub.connections >= 2 and pub.connections >= 2:
                break
            await asyncio.sleep(0.05)
        await pub.publish(t.announce(2), b"after")
        assert (await wait_for(sub, lambda e: e.topic == t.announce(2))).payload == b"after"
        assert sub.connections == 2 and pub.connections == 2


async def test_persistent_session_keeps_actions_while_the_house_is_away(broker_url: str) -> None:
    house_id, keeper = uid("house"), uid("k")
    async with connect(broker_url, house_id) as house:
        await house.subscribe(t.POLICY["actions"].pattern)
    # a clean DISCONNECT above; the broker keeps the persistent session and queues QoS 1 for it
    async with connect(broker_url, uid("kb")) as kb:
        await kb.publish(t.actions(keeper), b"queued action")
    async with connect(broker_url, house_id) as back:
        env = await wait_for(back, lambda e: True)
        assert (env.topic, env.payload) == (t.actions(keeper), b"queued action")


def _packet(first: int, body: bytes) -> bytes:
    size, length = len(body), b""
    while True:
        byte, size = size % 128, size // 128
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            return bytes([first]) + length + body


def _utf8(s: str) -> bytes:
    return struct.pack("!H", len(s)) + s.encode()


async def raw_qos1_publish_twice(host: str, port: int, topic: str, payload: bytes) -> None:
    """A bare MQTT 3.1.1 client that sends one QoS 1 PUBLISH, then the same again with DUP set and the
    same packet id: exactly what a client does when it did not see the PUBACK (MQTT 3.1.1 4.4)."""
    reader, writer = await asyncio.open_connection(host, port)
    connect_body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 30) + _utf8(uid("raw"))
    writer.write(_packet(0x10, connect_body))
    assert (await reader.readexactly(4))[3] == 0  # CONNACK accepted
    body = _utf8(topic) + struct.pack("!H", 7) + payload
    writer.write(_packet(0x32, body))  # PUBLISH, QoS 1
    writer.write(_packet(0x3A, body))  # PUBLISH, QoS 1, DUP
    await writer.drain()
    for _ in range(2):
        assert (await reader.readexactly(4))[0] == 0x40  # PUBACK
    writer.write(b"\xe0\x00")  # DISCONNECT
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_qos1_redelivery_is_not_applied_twice(broker_url: str, broker: BrokerHandle) -> None:
    keeper = uid("k")
    key = KeyPair.generate()
    take = m.encode(key.sign(m.Take(auction=7, keeper=keeper, amount=1, max_price_q=1, nonce=2, deadline_ms=9)))
    async with connect(broker_url, uid("house")) as house, connect(broker_url, uid("raw-house")) as raw:
        assert isinstance(raw, MqttBus)
        raw._dedupe = type(raw._dedupe)(0)  # this one shows what the broker really delivers
        await house.subscribe(t.actions(keeper))
        await raw.subscribe(t.actions(keeper))
        await raw_qos1_publish_twice(broker.host, broker.port, t.actions(keeper), take)
        async with connect(broker_url, uid("kb")) as kb:  # and a publisher-side retry of the same bytes
            await kb.publish(t.actions(keeper), take)

        on_the_wire = await collect(raw, 0.5)
        assert [e.payload for e in on_the_wire] == [take, take, take]  # QoS 1: at least once, really
        delivered = await collect(house, 0.1)
        assert [e.payload for e in delivered] == [take, take, take]  # actions pass: the house answers each copy

        verifier = Verifier({keeper: key.pubkey})  # and the house applies an action once whatever arrives
        applied = [verifier.check(m.decode(e.payload), 0, sender=keeper) for e in on_the_wire]  # type: ignore[arg-type]
        assert applied == [True, False, False]


async def test_acl_confines_a_keeper_to_its_own_topics(tmp_path: Path) -> None:
    users = {"house": "house-pw", "alice": "alice-pw", "bob": "bob-pw"}
    passwords, acl = write_secure_files(tmp_path, users, house="house")
    secure = await start_broker(acl_file=acl, password_file=passwords)
    try:
        host, port = secure.host, secure.port

        def bus(user: str, password: str, connect_timeout: float = 10.0) -> MqttBus:
            return MqttBus(host, port, uid(user), username=user, password=password, connect_timeout=connect_timeout)

        async with bus("house", "house-pw") as house, bus("alice", "alice-pw") as alice:
            await house.subscribe("liq/v1/#")
            await alice.subscribe("liq/v1/keepers/+/rejections")
            await alice.publish(t.oracle("ETH"), b"forged oracle price")
            await alice.publish(t.result(1), b"forged result")
            await alice.publish(t.actions("bob"), b"bid as bob")
            await alice.publish(t.keeper_status("bob"), b"bob offline")
            await alice.publish(t.actions("alice"), b"own action")
            env = await wait_for(house, lambda e: True)
            assert (env.topic, env.payload) == (t.actions("alice"), b"own action")
            assert await collect(house, 0.3) == []  # none of the forbidden publishes ever arrived

            await house.publish(t.rejections("bob"), b"for bob only")
            await house.publish(t.rejections("alice"), b"for alice")
            assert (await wait_for(alice, lambda e: True)).payload == b"for alice"

        with pytest.raises(BusError, match=r"(?i)not author"):
            async with bus("alice", "wrong", connect_timeout=1.0):
                pass
    finally:
        secure.close()


async def test_unreachable_broker_is_a_clear_error() -> None:
    from broker.server import free_port

    bus = MqttBus("127.0.0.1", free_port(), uid("x"), connect_timeout=0.5)
    with pytest.raises(BusError, match="liqnet broker"):
        async with bus:
            pass


async def test_pipelined_publishes_arrive_in_order_and_flush_waits_for_their_acknowledgements(broker_url: str) -> None:
    """publish_many hands messages over without waiting for each PUBACK (a window of them outstanding), keeps their
    order across topics and QoS (the clock is QoS 0), and flush / flush(upto=mark) wait for the acknowledgements."""
    async with connect(broker_url, uid("pub")) as pub, connect(broker_url, uid("sub")) as sub:
        assert isinstance(pub, MqttBus)
        await sub.subscribe(t.clock())
        await sub.subscribe(t.POLICY["announce"].pattern)
        n = 600  # more than the window (256): publish_many waits for room, never for each acknowledgement
        items: list[tuple[str, bytes, bool | None]] = []
        for i in range(n):
            topic = t.clock() if i % 50 == 0 else t.announce(i)  # QoS 0 among QoS 1
            items.append((topic, str(i).encode(), False))
        await pub.publish_many(items[: n // 2])
        mark = pub.mark()
        await pub.publish_many(items[n // 2:])
        await pub.flush(upto=mark)
        assert pub.outstanding < n // 2 + 1
        await pub.flush()
        assert pub.outstanding == 0
        got = await collect(sub, 1.0)
        received = [int(e.payload) for e in got if e.topic == t.clock() or e.topic.endswith("/announce")]
        assert received == list(range(n))


async def test_what_a_lost_connection_left_unacknowledged_goes_out_again(own_broker: BrokerHandle) -> None:
    """Publishes handed over while the broker is down are sent once it is back (retained here, so a subscriber that
    comes afterwards sees that they reached the restarted broker, which started empty)."""
    url = own_broker.url
    async with connect(url, uid("pub")) as pub:
        assert isinstance(pub, MqttBus)
        await own_broker.stop()
        await pub.publish_many([(t.state(i), str(i).encode(), None) for i in range(20)])
        assert pub.outstanding == 20
        await own_broker.restart()
        await pub.flush(10)
        async with connect(url, uid("sub")) as sub:
            await sub.subscribe("liq/v1/auctions/+/state")
            got = {e.topic: e.payload for e in await collect(sub, 0.5)}
    assert got == {t.state(i): str(i).encode() for i in range(20)}


async def test_answering_qos1_deliveries_leaves_no_writer_spinning(broker_url: str) -> None:
    """A bus that answers each QoS 1 delivery at once (a keeper taking an announce) writes its answer while paho's
    PUBACK for the delivery waits for aiomqtt's writer: once all is written and acknowledged, no writer is left on
    the event loop (one left behind would run on every turn of the loop, with nothing to write)."""
    async with connect(broker_url, uid("house")) as house, connect(broker_url, uid("keeper")) as keeper:
        assert isinstance(keeper, MqttBus)
        await keeper.subscribe(t.POLICY["announce"].pattern)
        await house.subscribe(t.actions("k"))
        n = 200
        await house.publish_many([(t.announce(i), str(i).encode(), None) for i in range(n)])
        answered = 0
        async for env in keeper.messages():
            await keeper.publish_many([(t.actions("k"), env.payload, None)])
            answered += 1
            if answered == n:
                break
        await keeper.flush(5)
        assert len(await collect(house, 0.5)) == n
        client = keeper._client
        assert client is not None
        fd = client._client.socket().fileno()  # type: ignore[union-attr]
        registered = asyncio.get_running_loop()._selector.get_map().get(fd)  # type: ignore[attr-defined]
        assert registered is not None and not registered.events & 2  # selectors.EVENT_WRITE: no writer


async def test_mqtt5_publishes_arrive_and_are_acknowledged(broker_url: str) -> None:
    """The bus writes PUBLISH packets itself (``broker.paho_writes``): under MQTT 5 they carry an (empty) property
    list, and the broker takes them, delivers them in order and acknowledges every one."""
    url = broker_url + "?protocol=5"
    async with connect(url, uid("pub")) as pub, connect(url, uid("sub")) as sub:
        assert isinstance(pub, MqttBus)
        await sub.subscribe(t.clock())
        await sub.subscribe(t.POLICY["announce"].pattern)
        items: list[tuple[str, bytes, bool | None]] = [
            (t.clock() if i % 10 == 0 else t.announce(i), bytes(200 * i), False) for i in range(40)]  # QoS 0 and 1
        await pub.publish_many(items)
        await pub.flush(5)
        assert pub.outstanding == 0
        got = await collect(sub, 0.5)
    assert [(e.topic, e.payload) for e in got] == [(topic, payload) for topic, payload, _ in items]
