"""What the house published, as one subscriber of a selftest cluster saw it, with wall-clock arrival times."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from auction.net.house_feed import HouseFeed
from broker import messages as m
from broker import topics

# What the house publishes, and nothing keepers publish (a watcher of a flood run must not read the flood).
HOUSE_TOPICS = ("liq/v1/house/status", "liq/v1/oracle/+", "liq/v1/clock", "liq/v1/auctions/#",
                "liq/v1/keepers/+/rejections", "liq/v1/keepers/+/acks", "liq/v1/keepers/+/account")


@dataclass(slots=True)
class Watcher:
    """What the house published, as one subscriber saw it (arrival times: ``time.time``, as in the logs).

    With ``feed`` (the house's key pinned), it believes only what the house signed, as keepers do: anything
    else on the house's topics lands in ``dropped`` (and ``raw``), never among the results, blocks or prices."""

    announced: dict[int, float] = field(default_factory=dict)
    announces: dict[int, m.Announce] = field(default_factory=dict)
    raw: list[tuple[float, str, bytes]] = field(default_factory=list)  # everything, as it arrived
    results: dict[int, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    result_msgs: dict[int, m.Result] = field(default_factory=dict)
    result_at: dict[int, float] = field(default_factory=dict)
    rejections: list[tuple[float, m.Rejection]] = field(default_factory=list)
    house_status: list[tuple[float, bool]] = field(default_factory=list)
    keeper_status: dict[str, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    blocks: list[tuple[float, m.Block]] = field(default_factory=list)
    oracle: dict[str, list[tuple[float, m.OraclePrice]]] = field(default_factory=lambda: defaultdict(list))
    actions: list[tuple[float, str, bytes]] = field(default_factory=list)  # (wall, topic keeper, payload)
    undecodable: list[tuple[str, str]] = field(default_factory=list)  # house messages that failed to decode
    house: HouseFeed | None = None  # what the watcher believes of the house's topics (None: everything)
    dropped: list[tuple[float, str, bytes]] = field(default_factory=list)  # house topics, not signed by the house

    def feed(self, topic: str, payload: bytes, wall: float) -> None:
        self.raw.append((wall, topic, payload))
        parsed = topics.parse(topic)
        if parsed is None or not payload:
            return
        if parsed.kind == "actions" and parsed.keeper is not None:
            self.actions.append((wall, parsed.keeper, payload))
            return
        try:
            msg = m.decode(payload, allowed=parsed.policy.messages)
        except Exception as exc:  # anything the house sends must decode: record what does not
            self.undecodable.append((topic, str(exc)))
            return
        if self.house is None or isinstance(msg, m.KeeperStatus):  # keepers' own statuses are theirs, unsigned
            self._record(msg, payload, wall)
            return
        before = self.house.dropped
        for believed_payload, believed in self.house.admit(payload, msg):
            self._record(believed, believed_payload, wall)
        if self.house.dropped > before:
            self.dropped.append((wall, topic, payload))

    def _record(self, msg: m.Message, payload: bytes, wall: float) -> None:
        if isinstance(msg, m.Announce):
            self.announced.setdefault(msg.auction, wall)
            self.announces.setdefault(msg.auction, msg)
        elif isinstance(msg, m.Result):
            self.results[msg.auction].add(payload)
            self.result_msgs.setdefault(msg.auction, msg)
            self.result_at.setdefault(msg.auction, wall)
        elif isinstance(msg, m.Rejection):
            self.rejections.append((wall, msg))
        elif isinstance(msg, m.HouseStatus):
            self.house_status.append((wall, msg.online))
        elif isinstance(msg, m.KeeperStatus):
            self.keeper_status[msg.keeper].append((wall, msg.online))
        elif isinstance(msg, m.Block):
            self.blocks.append((wall, msg))
        elif isinstance(msg, m.OraclePrice):
            self.oracle[msg.asset].append((wall, msg))

    def open_auctions(self) -> set[int]:
        return set(self.announced) - set(self.results)

    def wins(self, keeper: str) -> dict[int, int]:
        """Auction -> collateral units ``keeper`` bought there, from the results seen."""
        out: dict[int, int] = {}
        for auction, msg in self.result_msgs.items():
            qty = sum(f.qty for f in msg.fills if f.keeper == keeper)
            if qty:
                out[auction] = qty
        return out

    def rejected(self, keeper: str) -> list[m.Rejection]:
        return [r for _, r in self.rejections if r.keeper == keeper]

    def last_house_online(self) -> bool | None:
        return self.house_status[-1][1] if self.house_status else None
