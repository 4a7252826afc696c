"""The in-memory Bus: MQTT wildcard matching, retained messages, Last Will, URL dispatch."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from auction.errors import ConfigError
from broker import messages as m
from broker import topics as t
from broker.bus import BusError, Envelope, MemoryBus, MemoryHub, send
from broker.mqtt_bus import MqttBus
from broker.mqtt_dedupe import Dedupe
from broker.transport import connect


async def drain(bus: MemoryBus) -> list[Envelope]:
    out: list[Envelope] = []
    it = bus.messages()
    while True:
        try:
            out.append(await asyncio.wait_for(anext(it), 0.01))
        except TimeoutError:
            return out


async def test_wildcards_route_only_matching_topics() -> None:
    hub = MemoryHub()
    async with MemoryBus(hub, "house") as house, MemoryBus(hub, "alice") as alice:
        await house.subscribe(t.POLICY["actions"].pattern)
        await alice.subscribe("liq/v1/auctions/#")
        await alice.subscribe(t.rejections("alice"))
        await alice.publish(t.actions("alice"), b"a1")
        await house.publish(t.announce(3), b"ann")
        await house.publish(t.rejections("bob"), b"not for alice")
        await house.publish(t.rejections("alice"), b"for alice")
        assert [(e.topic, e.payload) for e in await drain(house)] == [(t.actions("alice"), b"a1")]
        assert [(e.topic, e.payload) for e in await drain(alice)] == [
            (t.announce(3), b"ann"),
            (t.rejections("alice"), b"for alice"),
        ]


async def test_one_delivery_per_message_even_when_patterns_overlap() -> None:
    hub = MemoryHub()
    async with MemoryBus(hub, "x") as bus:
        await bus.subscribe("liq/v1/#")
        await bus.subscribe("liq/v1/auctions/+/result")
        await bus.publish(t.result(1), b"r")
        assert len(await drain(bus)) == 1


async def test_retained_current_state_for_late_joiners() -> None:
    hub = MemoryHub()
    async with MemoryBus(hub, "house") as house:
        await house.publish(t.state(1), b"s1")  # retained by policy
        await house.publish(t.state(1), b"s1-newer")
        await house.publish(t.state(2), b"s2")
        await house.publish(t.announce(1), b"event")  # never retained
        await house.publish(t.state(2), b"")  # auction 2 closed: empty retained payload deletes
        assert hub.retained == {t.state(1): b"s1-newer"}
        async with MemoryBus(hub, "late") as late:
            await late.subscribe("liq/v1/auctions/+/state")
            got = await drain(late)
            assert got == [Envelope(t.state(1), b"s1-newer", retained=True)]
            await house.publish(t.state(1), b"live")
            assert await drain(late) == [Envelope(t.state(1), b"live", retained=False)]


async def test_retain_override() -> None:
    hub = MemoryHub()
    async with MemoryBus(hub, "x") as bus:
        await bus.publish(t.state(1), b"not kept", retain=False)
        await bus.publish("other/topic", b"kept", retain=True)
        assert hub.retained == {"other/topic": b"kept"}


async def test_last_will_on_unclean_disconnect_only() -> None:
    hub = MemoryHub()
    offline = m.encode(m.KeeperStatus(keeper="alice", online=False, ts_ms=0))
    async with MemoryBus(hub, "obs") as obs:
        await obs.subscribe(t.POLICY["keeper-status"].pattern)
        async with MemoryBus(hub, "bob", will=(t.keeper_status("bob"), b"bob offline")):
            pass  # a clean exit: no will
        alice = MemoryBus(hub, "alice", will=(t.keeper_status("alice"), offline))
        await alice.__aenter__()
        await send(alice, t.keeper_status("alice"), m.KeeperStatus(keeper="alice", online=True, ts_ms=0))
        alice.abort()  # a crash
        got = [m.decode(e.payload) for e in await drain(obs)]
        assert [s.online for s in got if isinstance(s, m.KeeperStatus)] == [True, False]
        assert hub.retained[t.keeper_status("alice")] == offline
        with pytest.raises(BusError):
            await alice.publish(t.actions("alice"), b"after crash")


async def test_messages_iteration_ends_when_closed() -> None:
    hub = MemoryHub()
    bus = MemoryBus(hub, "x")
    async with bus:
        await bus.subscribe("#")
        await bus.publish("a", b"1")
    assert [e.payload async for e in bus.messages()] == [b"1"]


async def test_bad_topics_and_patterns() -> None:
    async with MemoryBus(MemoryHub(), "x") as bus:
        for topic in ("", "liq/v1/+/state", "liq/#"):
            with pytest.raises(ValueError):
                await bus.publish(topic, b"x")
        for pattern in ("", "liq/#/x", "liq/a#", "liq/a+/b"):
            with pytest.raises(ValueError):
                await bus.subscribe(pattern)


async def test_connect_dispatches_on_the_url() -> None:
    name = uuid.uuid4().hex
    async with connect(f"memory://{name}", "a") as a, connect(f"memory://{name}", "b") as b:
        assert isinstance(a, MemoryBus) and isinstance(b, MemoryBus) and a.hub is b.hub
        await b.subscribe("#")
        await a.publish(t.clock(), b"tick")
        assert [e.payload for e in await drain(b)] == [b"tick"]
    bus = connect("mqtt://user:p%40ss@127.0.0.1:1884?clean=1&protocol=5", "k")
    assert isinstance(bus, MqttBus) and bus.port == 1884 and bus.url == "mqtt://127.0.0.1:1884"
    assert bus._spec.password == "p@ss" and not bus._spec.persistent
    for bad in ("http://x", "mqtt://h:notaport", "mqtt://h:1?protocol=3"):
        with pytest.raises(ConfigError):
            connect(bad, "k")


def test_dedupe_drops_exact_repeats_on_the_houses_event_topics_only() -> None:
    d = Dedupe(2)
    assert d.first_time(t.result(1), b"x") and not d.first_time(t.result(1), b"x")
    assert d.first_time(t.result(2), b"x")  # same payload, other topic: another message
    assert d.first_time(t.state(1), b"s") and d.first_time(t.state(1), b"s")  # retained: idempotent
    assert d.first_time(t.actions("a"), b"a") and d.first_time(t.actions("a"), b"a")  # the house answers each
    assert d.first_time(t.result(1), b"y") and d.first_time(t.result(1), b"z")
    assert d.first_time(t.result(1), b"x")  # fell out of the window of 2
