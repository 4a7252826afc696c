"""Flood control in front of the house's admission: what an action costs the house before it is even decoded.

A flood (10k actions/s from one id, or a new id for every message) used to stall the house: every action was
queued, decoded and refused, and every refusal published and logged, so the clock fell behind and memory grew.
``FloodGate.offer`` decides, at the moment an action arrives and from its topic and bytes alone, whether the house
looks at it at all (wall clock: it guards the process, never a rule of the run):

- ``admit``: queued for admission (decoding, signature, rules), which gives it its true answer;
- ``refuse``: over its id's rate; queued only to be answered ``rate-limited`` (at most once per id per
  ``WINDOW_S``);
- ``drop``: nothing more is done (counted by reason, summed up in the log now and then).

Rules: each id with a key at the house has its own token bucket (``rate``/s up to ``burst``). An id without one
(a stranger, or a keeper before its register) can only be accepted with a ``register``, so anything else from it
is admitted once per window (to be refused with its code) and dropped otherwise; all such ids together share one
small bucket (``unknown_rate``): rotating ids cannot buy more than that. Every admission takes a token from one
global bucket (``global_rate``). Rate-limit state expires: a bucket refilled to its burst holds no information and
is forgotten, and at most ``MAX_TRACKED`` ids are tracked.

Dropping is cheap, but reading still costs: a flood faster than the house reads (some thousands of messages a
second) would queue at the broker, honest actions behind it. So when strangers flood (``flooded``), the
``StrangerDoor`` has the house listen only to the known keepers' topics for ``SHUT_OUT_S``: the broker then
drops the strangers' actions itself, before they cost the house anything.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Final, Literal

import structlog

from broker import topics
from broker.bus import Bus

log = structlog.get_logger()

Verdict = Literal["admit", "refuse", "drop"]

WINDOW_S: Final = 1.0  # one refusal per id per window
UNKNOWN_RATE: Final = 200.0  # admissions per second from ids without a key, all of them together
STRANGER_FLOOD: Final = 300  # strangers' actions within one window: a flood (``flooded``)
PRUNE_EVERY_S: Final = 2.0  # wall seconds between sweeps of the rate-limit state
MAX_TRACKED: Final = 50_000  # ids with rate-limit state at most; beyond, the oldest state is forgotten
SHUT_OUT_S: Final = 10.0  # wall seconds the house listens only to known keepers after a flood from strangers
ID_FLOOD: Final = 300  # one known id's actions dropped over its rate within one window: it floods (``flooding``)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; one token per action (wall clock: it guards the process)."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.at) * self.rate >= self.burst


class FloodGate:
    """Per-id, stranger and global rate limits, one refusal per id per window, expiring state."""

    def __init__(self, rate: float, burst: float, *, global_rate: float, known: Callable[[str], bool],
                 clock: Callable[[], float], unknown_rate: float = UNKNOWN_RATE) -> None:
        now = clock()
        self.rate, self.burst, self.known, self.clock = rate, burst, known, clock
        self._ids: dict[str, TokenBucket] = {}
        self._answered: dict[str, float] = {}  # id -> wall time of its last refusal or stranger admission
        self._global = TokenBucket(global_rate, 2 * global_rate, now) if global_rate > 0 else None
        self._unknown = TokenBucket(unknown_rate, 2 * unknown_rate, now)
        self._pruned = now
        self._strangers = (now, 0)  # (start of the window, strangers' actions in it)
        self.shut = False  # strangers shut out (StrangerDoor): drop whatever still comes from them
        self._over: dict[str, tuple[float, int]] = {}  # known id -> (window start, actions over its rate in it)
        self.dropped: Counter[str] = Counter()  # reason -> actions dropped
        self.refused = 0  # rate-limited answers let through

    def offer(self, sender: str, payload: bytes) -> Verdict:
        now = self.clock()
        if now - self._pruned >= PRUNE_EVERY_S:
            self._prune(now)
        if not self.known(sender):
            # No key at the house: only a register can be accepted. Anything else is refused whatever it says, so
            # one per window gets its answer; registers from all strangers together share one bucket.
            self._stranger(now)
            if self.shut:
                return self._drop("strangers shut out")  # what the broker had queued before the door shut
            if b'"register"' not in payload and not self._first_in_window(sender, now):
                return self._drop("stranger, already answered")
            if not self._unknown.take(now):
                return self._drop("strangers over their shared rate")
        elif self.rate > 0:
            bucket = self._ids.get(sender)
            if bucket is None:
                bucket = self._ids[sender] = TokenBucket(self.rate, self.burst, now)
            if not bucket.take(now):
                start, count = self._over.get(sender, (now, 0))
                self._over[sender] = (start, count + 1) if now - start < WINDOW_S else (now, 1)
                if not self._first_in_window(sender, now):
                    return self._drop("over its rate, already answered")
                self.refused += 1
                return "refuse"
        if self._global is not None and not self._global.take(now):
            return self._drop("over the global rate")
        return "admit"

    def _first_in_window(self, sender: str, now: float) -> bool:
        last = self._answered.get(sender)
        if last is not None and now - last < WINDOW_S:
            return False
        if len(self._answered) >= MAX_TRACKED:
            self._answered.pop(next(iter(self._answered)))
        self._answered.pop(sender, None)  # re-inserted last: the dict stays in order of answers
        self._answered[sender] = now
        return True

    def _stranger(self, now: float) -> None:
        start, count = self._strangers
        self._strangers = (start, count + 1) if now - start < WINDOW_S else (now, 1)

    def flooded(self) -> bool:
        """``STRANGER_FLOOD`` actions or more from strangers in the current window (a farm of 200 registers is
        not one): the house had better stop listening to strangers for a while (the broker then drops them, at
        no cost to the house)."""
        start, count = self._strangers
        return count >= STRANGER_FLOOD and self.clock() - start < WINDOW_S

    def flooding(self, sender: str) -> bool:
        """A known id sent ``ID_FLOOD`` actions or more over its rate in the current window."""
        start, count = self._over.get(sender, (0.0, 0))
        return count >= ID_FLOOD and self.clock() - start < WINDOW_S

    def reset_flood(self) -> None:
        """Count strangers' drops from zero again (a window starts now)."""
        self._strangers = (self.clock(), 0)

    def _drop(self, reason: str) -> Verdict:
        self.dropped[reason] += 1
        return "drop"

    def _prune(self, now: float) -> None:
        """Forget what no longer limits anyone: full buckets, answers older than the window, the oldest beyond
        ``MAX_TRACKED``."""
        self._pruned = now
        self._ids = {k: b for k, b in self._ids.items() if not b.full(now)}
        while len(self._ids) > MAX_TRACKED:
            self._ids.pop(next(iter(self._ids)))
        self._answered = {k: t for k, t in self._answered.items() if now - t < WINDOW_S}
        self._over = {k: (t, n) for k, (t, n) in self._over.items() if now - t < WINDOW_S}

    @property
    def tracked(self) -> int:
        """Ids with rate-limit state now (bounded: it expires)."""
        return len(self._ids) + len(self._answered)


class StrangerDoor:
    """The house's subscriptions: every keeper's actions (open), or, after a flood from strangers, only those of
    the ids it knows (``known()``: keys bound and ids its configuration names) for ``SHUT_OUT_S``.

    ``only``: the configuration names every id that may ever act (funding is not open): the door is shut for
    good, the house listens to those ids' topics from the start, and a stranger's action never reaches it (the
    broker drops it: no flood from strangers costs the house anything, not even the first messages)."""

    def __init__(self, gate: FloodGate, known: Callable[[], set[str]], clock: Callable[[], float], *,
                 only: set[str] | None = None) -> None:
        self.gate, self.known, self.clock = gate, known, clock
        self.topics: tuple[str, ...] | None = None  # while shut: the keeper topics listened to
        self.reopen_at = 0.0
        self.shut_times = 0
        self.muted: dict[str, float] = {}  # keeper -> wall time its topic is listened to again
        if only is not None and len(only) <= topics.MAX_KEEPER_TOPICS:
            self.topics, self.reopen_at, gate.shut = topics.house_subscriptions(only), math.inf, True

    def subscriptions(self) -> tuple[str, ...]:
        """What the house subscribes to now."""
        return topics.house_subscriptions() if self.topics is None else self.topics

    @property
    def open(self) -> bool:
        return self.topics is None

    async def shut(self, bus: Bus) -> None:
        """Subscribe to each known keeper's topic before the wildcard goes: no known keeper's action falls between
        (a copy delivered twice meanwhile is one the bus drops as a redelivery)."""
        own = topics.house_subscriptions(self.known())
        if own == topics.house_subscriptions():
            self.gate.reset_flood()
            return  # too many ids for one subscription each: the flood gate alone has to do
        for pattern in own:
            await bus.subscribe(pattern)
        for pattern in topics.house_subscriptions():
            await bus.unsubscribe(pattern)
        self.topics, self.reopen_at = own, self.clock() + SHUT_OUT_S
        self.gate.shut = True
        self.shut_times += 1
        log.warning("flood from ids the house does not know: listening only to the known keepers",
                    keepers=len(own), seconds=SHUT_OUT_S, dropped=sum(self.gate.dropped.values()))

    async def mute(self, bus: Bus, keeper: str) -> None:
        """A known keeper flooding far over its rate: stop listening to its topic for ``SHUT_OUT_S`` (only while
        the house listens to each keeper's topic: under the wildcard the gate alone has to do)."""
        topic = topics.actions(keeper)
        if self.topics is None or topic not in self.topics or keeper in self.muted:
            return
        await bus.unsubscribe(topic)
        self.muted[keeper] = self.clock() + SHUT_OUT_S
        log.warning("a keeper floods far over its rate: not listening to it for a while", keeper=keeper,
                    seconds=SHUT_OUT_S)

    async def reopen_if_due(self, bus: Bus) -> None:
        now = self.clock()
        for keeper in [k for k, t in self.muted.items() if now >= t]:
            del self.muted[keeper]
            await bus.subscribe(topics.actions(keeper))
            log.info("listening to the keeper again", keeper=keeper)
        if self.topics is None or self.clock() < self.reopen_at:
            return
        for pattern in topics.house_subscriptions():
            await bus.subscribe(pattern)
        for pattern in self.topics:
            await bus.unsubscribe(pattern)
        self.topics = None
        self.gate.shut = False
        self.gate.reset_flood()
        log.info("listening to every keeper id again")
