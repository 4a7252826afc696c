"""Flood control in front of the house's admission (auction.net.flood_gate), on a clock the test moves."""

from __future__ import annotations

import asyncio

from auction.net.flood_gate import (
    ID_FLOOD,
    MAX_TRACKED,
    STRANGER_FLOOD,
    UNKNOWN_RATE,
    WINDOW_S,
    FloodGate,
    StrangerDoor,
)
from broker import topics
from broker.bus import MemoryBus, MemoryHub

REDO = b'{"type":"redo","auction":1,"keeper":"x","nonce":1,"deadline_ms":1}'
REGISTER = b'{"type":"register","keeper":"x","pubkey":"00","nonce":1}'


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def gate(clock: Clock, *, rate: float = 5.0, global_rate: float = 0.0, known: tuple[str, ...] = ("ali",)) -> FloodGate:
    return FloodGate(rate, rate, global_rate=global_rate, known=lambda k: k in known, clock=clock)


def test_a_known_id_over_its_rate_is_answered_once_a_window_and_dropped_otherwise() -> None:
    clock = Clock()
    g = gate(clock)
    verdicts = [g.offer("ali", REDO) for _ in range(100)]
    assert verdicts[:5] == ["admit"] * 5 and verdicts.count("refuse") == 1 and verdicts.count("drop") == 94
    clock.t += WINDOW_S  # a new window: one more answer (and the bucket has refilled)
    assert [g.offer("ali", REDO) for _ in range(7)].count("refuse") == 1
    assert g.dropped["over its rate, already answered"] == 94 + 1


def test_a_stranger_is_answered_once_a_window_and_rotating_ids_share_one_budget() -> None:
    clock = Clock()
    g = gate(clock)
    assert [g.offer("mallory", REDO) for _ in range(50)] == ["admit"] + ["drop"] * 49
    ids = [f"r{n}" for n in range(10_000)]  # a new id per message: each one is "first", the shared bucket is not
    admitted = sum(1 for k in ids if g.offer(k, REDO) == "admit")
    assert admitted == 2 * UNKNOWN_RATE - 1  # the burst, less mallory's
    assert g.flooded() and sum(g.dropped.values()) == 49 + 10_000 - admitted
    clock.t += WINDOW_S
    assert not g.flooded()


def test_registers_from_strangers_pass_within_their_shared_rate() -> None:
    clock = Clock()
    g = gate(clock)
    assert all(g.offer(f"new{n}", REGISTER) == "admit" for n in range(int(2 * UNKNOWN_RATE)))
    assert g.offer("one-more", REGISTER) == "drop"
    clock.t += 1.0
    assert g.offer("one-more", REGISTER) == "admit"


def test_the_global_rate_bounds_every_id_together() -> None:
    clock = Clock()
    ids = tuple(f"k{n}" for n in range(100))
    g = gate(clock, rate=1000.0, global_rate=50.0, known=ids)
    verdicts = [g.offer(k, REDO) for k in ids for _ in range(10)]
    assert verdicts.count("admit") == 100 and g.dropped["over the global rate"] == 900


def test_rate_limit_state_expires() -> None:
    clock = Clock()
    known = tuple(f"k{n}" for n in range(1000))
    g = gate(clock, known=known)
    for k in known:
        g.offer(k, REDO)
    for n in range(1000):
        g.offer(f"s{n}", REDO)
    assert g.tracked == 2000
    clock.t += 10.0  # every bucket full again, every answer older than the window
    g.offer("k0", REDO)
    assert g.tracked <= 1 and MAX_TRACKED >= 10_000


def test_the_door_shuts_strangers_out_and_lets_them_in_again() -> None:
    async def run() -> None:
        clock = Clock()
        hub = MemoryHub()
        g = gate(clock, known=("ali", "bob"))
        door = StrangerDoor(g, lambda: {"ali", "bob"}, clock)
        async with MemoryBus(hub, "house") as house:
            await house.subscribe(topics.house_subscriptions()[0])
            for _ in range(STRANGER_FLOOD + 1):
                g.offer("mallory", REDO)
            assert g.flooded()
            await door.shut(house)
            assert house.patterns == [topics.actions("ali"), topics.actions("bob")] and not door.open
            clock.t += 5.0
            await door.reopen_if_due(house)
            assert not door.open
            clock.t += 6.0
            await door.reopen_if_due(house)
            assert door.open and house.patterns == list(topics.house_subscriptions())

    asyncio.run(run())


def test_a_known_keeper_flooding_far_over_its_rate_is_not_listened_to_for_a_while() -> None:
    async def run() -> None:
        clock = Clock()
        hub = MemoryHub()
        g = gate(clock, known=("ali", "bob"))
        door = StrangerDoor(g, lambda: {"ali", "bob"}, clock, only={"ali", "bob"})
        async with MemoryBus(hub, "house") as house:
            for pattern in door.subscriptions():
                await house.subscribe(pattern)
            verdicts = [g.offer("ali", REDO) for _ in range(ID_FLOOD + 10)]
            assert verdicts.count("drop") >= ID_FLOOD and g.flooding("ali") and not g.flooding("bob")
            await door.mute(house, "ali")
            assert house.patterns == [topics.actions("bob")]
            clock.t += 11.0
            await door.reopen_if_due(house)
            assert sorted(house.patterns) == [topics.actions("ali"), topics.actions("bob")] and not door.muted

    asyncio.run(run())
