"""The network house's inbox: keepers' actions as they arrive, past the flood gate, until a block admits them.

The reader (``read``) runs beside the house's loop: every action on a keeper's topic is offered to the flood
gate, which admits it, has it refused (over its rate, answered "rate-limited") or drops it; the door shuts to
strangers during a flood and mutes a flooding id. What passes waits here, bounded (``INBOX_KEPT``), and each
loop iteration takes at most ``ADMIT_PER_BLOCK`` of it (``take``), so a block's worth of work stays bounded.
"""

from __future__ import annotations

import asyncio
from collections import deque

from auction.errors import Rejected
from auction.net.flood_gate import FloodGate, StrangerDoor, Verdict
from auction.net.house_core import HouseCore, rejection
from auction.net.journal import Entry
from broker import messages as m
from broker import topics
from broker.bus import Bus

ADMIT_PER_BLOCK = 1000  # actions admitted per loop iteration at most (a block's worth of work stays bounded)
INBOX_KEPT = 20_000  # actions waiting for admission at most; more are dropped (counted)


class Inbox:
    """What arrived and passed the flood gate: (keeper of the topic, payload, "admit" or "refuse"), bounded."""

    def __init__(self, gate: FloodGate, door: StrangerDoor, rate: float, wake: asyncio.Event) -> None:
        self.gate, self.door, self.rate, self.wake = gate, door, rate, wake
        self._waiting: deque[tuple[str, bytes, Verdict]] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    async def read(self, bus: Bus) -> None:
        """Every action delivered, through the flood gate into the inbox; wakes the house for each."""
        async for env in bus.messages():
            parsed = topics.parse(env.topic)
            if parsed is None or parsed.kind != "actions" or parsed.keeper is None:
                continue  # keeper statuses are for watchers; the house needs only actions
            verdict = self.gate.offer(parsed.keeper, env.payload)
            if self.door.open and self.gate.flooded():
                await self.door.shut(bus)  # now: the reader would not yield to another task
            if verdict == "drop":
                if self.gate.flooding(parsed.keeper):
                    await self.door.mute(bus, parsed.keeper)
                continue
            if len(self._waiting) >= INBOX_KEPT:
                self.gate.dropped["the house's inbox full"] += 1
                continue
            self._waiting.append((parsed.keeper, env.payload, verdict))
            self.wake.set()

    def take(self, core: HouseCore, at: float) -> tuple[list[Entry], list[m.Message]]:
        """Admit what waits (``ADMIT_PER_BLOCK`` at most; the rest waits), stamped ``at``: the entries ``core``
        admitted, and the rejections of what it or the flood gate refused."""
        batch: list[Entry] = []
        rejections: list[m.Message] = []
        for _ in range(min(len(self._waiting), ADMIT_PER_BLOCK)):
            sender, payload, verdict = self._waiting.popleft()
            if verdict == "refuse":
                exc = Rejected("rate-limited", f"more than {self.rate:g} actions/s from {sender}")
                rejections += rejection(sender, _nonce_of(payload), exc, at)
                continue
            entry, refused = core.admit(payload, sender, at)
            rejections += refused
            if entry is not None:
                batch.append(entry)
        return batch, rejections


def _nonce_of(payload: bytes) -> int:
    try:
        msg = m.decode(payload, allowed=topics.ACTION_TAGS)
    except Rejected:
        return 0
    return int(getattr(msg, "nonce", 0))
