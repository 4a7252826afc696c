"""What a keeper believes of what arrives on the house's topics: only messages the trusted house signed.

The broker forwards whatever anyone publishes (the embedded broker has no ACL), so a stranger can publish a
result that makes keepers believe an auction settled, or a retained oracle price ten times the real one.
``HouseFeed`` stands between the bus and the keeper: a ``house-status`` is believed when it verifies with the
key it names and that key is the trusted one (pinned, or learnt on first use: ``broker.house_signing``); every
other message when it verifies with that key for the current run. An older oracle price of the same run (a
signed one replayed) is dropped too: prices only move forward in time. Messages that arrive before the first
status (a retained state delivered before the retained status) wait, a bounded number, for it.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import structlog

from broker import messages as m
from broker.house_signing import HouseTrust

log = structlog.get_logger()

WAITING_KEPT: Final = 4096  # messages held until the first house status says which run they belong to
LOG_FIRST: Final = 10  # drops logged one by one; after that one line per LOG_EVERY
LOG_EVERY: Final = 1000


class HouseFeed:
    """Filters decoded house messages by their signature (``admit``); counts what it dropped."""

    def __init__(self, trust: HouseTrust) -> None:
        self.trust = trust
        self._waiting: deque[tuple[bytes, m.Message]] = deque(maxlen=WAITING_KEPT)
        self._oracle_ms: dict[str, int] = {}  # asset -> ts_ms of the latest price believed, this run
        self.dropped = 0
        self.stale = 0  # signed by the house, but older than what the keeper has (a replay)

    def admit(self, payload: bytes, msg: m.Message) -> list[tuple[bytes, m.Message]]:
        """The (payload, message) pairs to hand on now: ``msg`` if believed, and after a first status those that
        waited."""
        if isinstance(msg, m.HouseStatus):
            run = self.trust.run
            if not self.trust.status(payload, msg.pubkey, msg.run, msg.started_ms):
                self._drop(msg, "house status not signed by the trusted house key")
                return []
            if self.trust.run != run:
                self._oracle_ms.clear()
            waited = [(p, w) for p, w in self._waiting if self._believed(p, w)]
            self._waiting.clear()
            return [(payload, msg), *waited]
        if self.trust.run is None:
            self._waiting.append((payload, msg))
            return []
        return [(payload, msg)] if self._believed(payload, msg) else []

    def _believed(self, payload: bytes, msg: m.Message) -> bool:
        if not self.trust.check(payload):
            self._drop(msg, "house message not signed by the trusted house key for this run")
            return False
        if isinstance(msg, m.OraclePrice):
            if msg.ts_ms < self._oracle_ms.get(msg.asset, -1):
                self.stale += 1
                self._drop(msg, "oracle price older than the one already believed (a replay)")
                return False
            self._oracle_ms[msg.asset] = msg.ts_ms
        return True

    def _drop(self, msg: m.Message, why: str) -> None:
        self.dropped += 1
        if self.dropped <= LOG_FIRST or self.dropped % LOG_EVERY == 0:
            log.warning("house message dropped", type=m.tag_of(type(msg)), why=why, dropped=self.dropped)
