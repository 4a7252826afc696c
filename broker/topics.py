"""The topic tree: the only place topic strings are built and parsed.

```
liq/v1/oracle/{asset}              OraclePrice      retained   house -> all
liq/v1/clock                       Block            retained   house -> all
liq/v1/auctions/{id}/announce      Announce         event      house -> all
liq/v1/auctions/{id}/state         State            retained   house -> all (empty payload once closed)
liq/v1/auctions/{id}/result        Result           event      house -> all
liq/v1/keepers/{keeper}/actions    Take, Redo, ...  event      keeper -> house
liq/v1/keepers/{keeper}/status     KeeperStatus     retained   keeper (and its Last Will) -> all
liq/v1/keepers/{keeper}/rejections Rejection        event      house -> that keeper
liq/v1/keepers/{keeper}/acks       Ack              event      house -> that keeper
liq/v1/keepers/{keeper}/account    Account          retained   house -> that keeper
liq/v1/house/status                HouseStatus      retained   house (and its Last Will) -> all
```

Everything a keeper publishes is under ``liq/v1/keepers/{keeper}/``, so one Mosquitto ACL line
(``pattern write liq/v1/keepers/%u/#``) confines a keeper to its own id.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, Literal

from broker import messages as m
from broker.messages import ASSET_RE, KEEPER_RE

PREFIX: Final = "liq/v1"
_ID = re.compile(KEEPER_RE)
_ASSET = re.compile(ASSET_RE)
_AUCTION = re.compile(r"\A(?:0|[1-9][0-9]{0,18})\Z")  # decimal, no sign, no leading zero

Kind = Literal[
    "oracle", "clock", "announce", "state", "result", "actions", "keeper-status", "rejections", "acks", "account",
    "house-status",
]


@dataclass(frozen=True, slots=True)
class Policy:
    """How a topic is published: QoS, retain, which messages it carries, who may write it."""

    pattern: str  # MQTT subscription pattern matching every topic of this kind
    qos: Literal[0, 1]
    retain: bool
    messages: tuple[str, ...]  # the `type` tags allowed on this topic
    publisher: Literal["house", "keeper"]
    note: str


ACTION_TAGS: Final = ("take", "redo", "english-bid", "commit", "reveal", "liquidate", "register")

# QoS 1 for everything that changes state; retained only for current state (DESIGN.md, Wire protocol).
# The clock is QoS 0: a lost tick is replaced by the next one and the retained copy.
POLICY: Final[dict[Kind, Policy]] = {
    "oracle": Policy(f"{PREFIX}/oracle/+", 1, True, ("oracle",), "house", "latest oracle price per asset"),
    "clock": Policy(f"{PREFIX}/clock", 0, True, ("block",), "house", "latest block: height, time, gas"),
    "announce": Policy(
        f"{PREFIX}/auctions/+/announce", 1, False, ("announce",), "house", "a new auction and its terms"
    ),
    "state": Policy(
        f"{PREFIX}/auctions/+/state",
        1,
        True,
        ("state",),
        "house",
        "current auction state with terms; cleared (empty retained payload) once closed",
    ),
    "result": Policy(f"{PREFIX}/auctions/+/result", 1, False, ("result",), "house", "an auction's outcome"),
    "actions": Policy(f"{PREFIX}/keepers/+/actions", 1, False, ACTION_TAGS, "keeper", "a keeper's signed actions"),
    "keeper-status": Policy(
        f"{PREFIX}/keepers/+/status",
        1,
        True,
        ("keeper-status",),
        "keeper",
        "keeper liveness; the Last Will is the offline status",
    ),
    "rejections": Policy(
        f"{PREFIX}/keepers/+/rejections", 1, False, ("rejection",), "house", "why an action was refused"
    ),
    "acks": Policy(
        f"{PREFIX}/keepers/+/acks", 1, False, ("ack",), "house", "the action was accepted, in its block"
    ),
    "account": Policy(
        f"{PREFIX}/keepers/+/account", 1, True, ("account",), "house",
        "the keeper's balance, held escrow and gas paid, after every batch that changed them",
    ),
    "house-status": Policy(
        f"{PREFIX}/house/status", 1, True, ("house-status",), "house", "house liveness; Last Will = offline"
    ),
}

ALL: Final = f"{PREFIX}/#"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed topic: its kind and the id it carries (auction, keeper or asset), if any."""

    kind: Kind
    auction: int | None = None
    keeper: str | None = None
    asset: str | None = None

    @property
    def policy(self) -> Policy:
        return POLICY[self.kind]


# --- builders ---------------------------------------------------------------------------------------------


def oracle(asset: str) -> str:
    return f"{PREFIX}/oracle/{_check(_ASSET, asset, 'asset')}"


def clock() -> str:
    return f"{PREFIX}/clock"


def announce(auction: int) -> str:
    return f"{PREFIX}/auctions/{_auction(auction)}/announce"


def state(auction: int) -> str:
    return f"{PREFIX}/auctions/{_auction(auction)}/state"


def result(auction: int) -> str:
    return f"{PREFIX}/auctions/{_auction(auction)}/result"


def actions(keeper: str) -> str:
    return f"{PREFIX}/keepers/{_check(_ID, keeper, 'keeper id')}/actions"


def keeper_status(keeper: str) -> str:
    return f"{PREFIX}/keepers/{_check(_ID, keeper, 'keeper id')}/status"


def rejections(keeper: str) -> str:
    return f"{PREFIX}/keepers/{_check(_ID, keeper, 'keeper id')}/rejections"


def acks(keeper: str) -> str:
    return f"{PREFIX}/keepers/{_check(_ID, keeper, 'keeper id')}/acks"


def account(keeper: str) -> str:
    return f"{PREFIX}/keepers/{_check(_ID, keeper, 'keeper id')}/account"


def house_status() -> str:
    return f"{PREFIX}/house/status"


def auction_topics(auction: int) -> str:
    """Pattern for every topic of one auction."""
    return f"{PREFIX}/auctions/{_auction(auction)}/+"


def keeper_subscriptions(keeper: str) -> tuple[str, ...]:
    """What a keeper process subscribes to: the market, the auctions, the house, its own receipts and account."""
    return (
        POLICY["house-status"].pattern,
        POLICY["oracle"].pattern,
        POLICY["clock"].pattern,
        f"{PREFIX}/auctions/#",
        rejections(keeper),
        acks(keeper),
        account(keeper),
    )


MAX_KEEPER_TOPICS = 1000  # a house that knows more keeper ids than this subscribes to the wildcard instead


def house_subscriptions(keepers: Collection[str] | None = None) -> tuple[str, ...]:
    """What the auction house subscribes to: the actions of the keeper ids that may act at all (``keepers``: the
    ids its configuration names), so that the broker never even delivers a stranger's actions (a flood from ids
    it does not know costs the house nothing); every keeper's actions when any id may register (``None``) or
    when there are too many ids for one subscription each."""
    if keepers is None or len(keepers) > MAX_KEEPER_TOPICS:
        return (POLICY["actions"].pattern,)
    return tuple(actions(k) for k in sorted(keepers))


# --- parsing ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16384)  # every message received is parsed, on few distinct topics
def parse(topic: str) -> Parsed | None:
    """The kind and id of a concrete topic, or None for anything outside the tree."""
    parts = topic.split("/")
    if len(parts) < 3 or f"{parts[0]}/{parts[1]}" != PREFIX:
        return None
    rest = parts[2:]
    match rest:
        case ["clock"]:
            return Parsed("clock")
        case ["house", "status"]:
            return Parsed("house-status")
        case ["oracle", asset] if _ASSET.match(asset):
            return Parsed("oracle", asset=asset)
        case ["auctions", num, ("announce" | "state" | "result") as leaf] if _AUCTION.match(num):
            return Parsed(leaf, auction=int(num))
        case ["keepers", keeper, "actions"] if _ID.match(keeper):
            return Parsed("actions", keeper=keeper)
        case ["keepers", keeper, "status"] if _ID.match(keeper):
            return Parsed("keeper-status", keeper=keeper)
        case ["keepers", keeper, ("rejections" | "acks" | "account") as leaf] if _ID.match(keeper):
            return Parsed(leaf, keeper=keeper)
    return None


def policy_for(topic: str) -> Policy | None:
    """The policy of a concrete topic, or None for a topic outside the tree."""
    parsed = parse(topic)
    return parsed.policy if parsed else None


def matches(pattern: str, topic: str) -> bool:
    """MQTT topic filter matching (`+` one level, `#` the rest, including the parent level)."""
    pat, top = pattern.split("/"), topic.split("/")
    if top[0].startswith("$") and pat[0] in ("+", "#"):
        return False  # MQTT 3.1.1 section 4.7.2: wildcards never match $-topics at the first level
    for i, p in enumerate(pat):
        if p == "#":
            return True
        if i >= len(top) or (p != "+" and p != top[i]):
            return False
    return len(pat) == len(top)


def _check(regex: re.Pattern[str], value: str, what: str) -> str:
    if not regex.match(value):
        raise ValueError(f"invalid {what} for a topic: {value!r}")
    return value


def _auction(auction: int) -> str:
    if isinstance(auction, bool) or not isinstance(auction, int) or not 0 <= auction < 2**63:
        raise ValueError(f"invalid auction id for a topic: {auction!r}")
    return str(auction)


def route(msg: m.Message) -> tuple[str, bool]:
    """(topic, retained) of one output of the house."""
    if isinstance(msg, m.State):
        return state(msg.auction), msg.status != "closed"  # a closed state goes out live, its retained copy
    if isinstance(msg, m.Announce):  # is then cleared after the result (``publications``)
        return announce(msg.auction), False
    if isinstance(msg, m.Result):
        return result(msg.auction), False
    if isinstance(msg, m.OraclePrice):
        return oracle(msg.asset), True
    if isinstance(msg, m.Block):
        return clock(), True
    if isinstance(msg, m.Rejection):
        return rejections(msg.keeper), False
    if isinstance(msg, m.Ack):
        return acks(msg.keeper), False
    if isinstance(msg, m.Account):
        return account(msg.keeper), True
    if isinstance(msg, m.HouseStatus):
        return house_status(), True
    raise TypeError(f"the house does not publish {type(msg).__name__}")


def publications(msg: m.Message) -> list[tuple[str, bytes, bool]]:
    """Every publish (topic, payload, retained) one house output makes, in order.

    An auction closes in three publishes (PROTOCOL.md section 7): its closed ``state``, live and not
    retained; its ``result``; then an empty retained payload on its state topic, which clears the retained
    copy, so late joiners see no closed auction while live subscribers saw it close and settle.
    """
    topic, retain = route(msg)
    payload = m.encode(msg)
    if isinstance(msg, m.Result):
        return [(topic, payload, False), (state(msg.auction), b"", True)]
    return [(topic, payload, retain)]
