"""The agent's plain data: how it carries out decisions (``Policy``), what it intends about each auction
(``Tracked``), what it asks the runtime to send (``Order``), and the checks a decision passes first."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from auction import units
from broker import messages as m
from keepers.api import AuctionView, Bid, Take, finite
from keepers.rows import Rows


class MarketView(Protocol):
    """The outside market as one keeper sees it.

    A market may also define ``lot_price(asset, auction, t)``: then, while the strategy decides about
    ``auction``, ``ctx.market_price`` is that (textbook-ipv: the keeper's private value of that lot).
    """

    def price(self, asset: str, t: float) -> float: ...

    def proceeds(self, asset: str, qty: float, t: float) -> float:
        """USD received for selling ``qty`` tokens at time ``t``, price impact included."""
        ...


@dataclass(frozen=True, slots=True)
class Policy:
    """How the agent carries out decisions (not what it decides: that is the strategy)."""

    action_ttl_s: float = 120.0  # deadline_ms = release time + this: a stale action is refused, not applied
    default_priority_fee: float = 1.0  # gwei, when a Take leaves priority_fee to the framework
    english_open: float = 0.1  # english: the opening bid as a share of the proxy maximum
    reevaluate_s: float = 60.0  # on blocks, ask the strategy again about open auctions this often,
    # when what it sees moved (market, oracle or gas): an unchanged world cannot change its decisions
    native_asset: str = "ETH"  # gas is paid in it: its market price converts gwei to USD
    native_usd: float = 2_000.0  # used when the market does not quote native_asset
    estimate_gas: bool = True  # book an estimate of gas per action sent (the house charges the real fee)
    max_gas_gwei: float = math.inf  # gas policy "fixed:GWEI": send nothing while the base fee is above it


@dataclass(frozen=True, slots=True)
class Order:
    """Send ``action`` (via ``KeeperAgent.release``) once the clock reaches ``not_before``."""

    not_before: float
    action: m.Action
    plan: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class TakeOrders:
    """Many take orders from one batch re-evaluation, as columns, in the order they were made.

    Row i stands for ``Order(at[i], Take(auction[i], keeper, amount[i], price_q[i], fee[i]), plan[i])`` (``row``
    is the auction's row in the agent's ``Rows``). A runtime that schedules orders in bulk keeps the columns
    (the simulator does: a re-evaluation of a hundred thousand auctions is not a hundred thousand objects);
    ``orders()`` makes the objects for any other.
    """

    keeper: str
    row: NDArray[np.int64]
    auction: NDArray[np.int64]
    at: NDArray[np.float64]
    plan: NDArray[np.int64]
    price_q: NDArray[np.int64]
    amount: NDArray[np.int64]
    fee: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.row.size)

    def order(self, i: int) -> Order:
        return make_take(self.keeper, float(self.at[i]), int(self.auction[i]), int(self.amount[i]),
                         int(self.price_q[i]), int(self.fee[i]), int(self.plan[i]))

    def orders(self) -> list[Order]:
        return [self.order(i) for i in range(len(self))]

    def __iter__(self) -> Iterator[Order]:
        return iter(self.orders())


def make_take(keeper: str, at: float, auction: int, amount: int, price_q: int, fee: int, plan: int) -> Order:
    """The order of one dutch take (nonce and deadline are set when it is released)."""
    action = m.Take(auction=auction, keeper=keeper, amount=amount, max_price_q=price_q, nonce=0, deadline_ms=0,
                    priority_fee=fee)
    return Order(at, action, plan)


@dataclass(slots=True)
class SealedPlan:
    round: int  # commit_end_ms: a lot offered again is a new round
    price_q: int
    qty: int
    salt: bytes
    need: int
    failed: bool = False


class Tracked:
    """What the agent knows and intends about one auction.

    ``plan`` (bumped whenever the intent changes; orders of an older plan are dropped) and ``key`` (what the
    current plan was made from, for idempotence) live in a row of the agent's ``Rows``, where a design's batch
    planner reads and writes them for many auctions at once; a Tracked made on its own gets a row of its own.
    """

    __slots__ = ("msg", "oracle_q", "row", "rows", "sealed", "view")

    def __init__(self, msg: m.Announce | m.State, oracle_q: int, rows: Rows | None = None) -> None:
        self.msg = msg
        self.oracle_q = oracle_q
        self.sealed: SealedPlan | None = None
        self.view: tuple[Any, int, AuctionView] | None = None  # (msg, oracle_q, view): rebuilt on change only
        self.rows = rows if rows is not None else Rows(1)
        self.row = self.rows.add(msg.auction, self)

    def update(self, msg: m.Announce | m.State) -> None:
        """A newer message about the auction (the row's version tells batch planners to look again)."""
        self.msg = msg
        self.rows.bump(self.row)

    @property
    def plan(self) -> int:
        return self.rows.plan.item(self.row)  # a Python int at once (int(plan[row]) boxes a numpy scalar first)

    @plan.setter
    def plan(self, value: int) -> None:
        self.rows.plan[self.row] = value

    @property
    def key(self) -> Any:
        return self.rows.key(self.row)

    @key.setter
    def key(self, value: Any) -> None:
        self.rows.set_key(self.row, value)


@dataclass(slots=True)
class Sent:
    auction: int
    kind: str
    amount: int


def valid(decision: object) -> bool:
    """A decision a strategy may return: finite, positive prices and quantities."""
    if isinstance(decision, Take):
        fee = decision.priority_fee
        return (finite(decision.max_price) and finite(decision.max_qty) and decision.max_price > 0
                and decision.max_qty > 0 and (fee is None or (finite(fee) and fee >= 0)))
    if isinstance(decision, Bid):
        return finite(decision.price) and finite(decision.qty) and decision.price > 0 and decision.qty > 0
    return False


def fit_qty(qty: int, price_q: int, budget: int) -> int:
    """The largest quantity <= ``qty`` whose cost at ``price_q`` fits in ``budget``."""
    if price_q <= 0 or units.cost(qty, price_q) <= budget:
        return qty
    return max(0, min(qty, units.qty_for(max(budget, 0), price_q)))


class Planning(Protocol):
    """What the agent needs of a design (``auction.designs.base.Design`` is one)."""

    @property
    def gas(self) -> Mapping[str, int]:
        """Gas units per action tag, as the house charges them."""
        ...

    @property
    def plan(self) -> Callable[[Any, Tracked, float], list[Order]]:  # Any: the KeeperAgent (which imports this)
        """A strategy's decision about one auction -> the orders to send (``agent.decide`` asks it)."""
        ...

    @property
    def view_terms(self) -> Callable[[m.Announce | m.State], dict[str, Any]]:
        """The design's terms as the strategy sees them, in whole units."""
        ...

    # Optional (read with getattr): plan_batch(agent, now) -> TakeOrders | None, ``plan`` for every tracked
    # auction at once, in auction id order; None when it cannot (the agent then plans one by one).
    # asks: True, or asks(tracked, now) -> bool: whether ``plan`` asks ``decide`` (False: it returns [] and changes
    # nothing), where ``plan`` given None only drops (see ``KeeperAgent._idle_look``).


def twin(announced: m.Announce | m.State, msg: m.Announce | m.State) -> bool:
    """Whether ``msg`` is the State a house sends with the Announce ``announced`` (``auction.house``: a kick is
    the pair), showing the very same auction: open, same lot, tab, start, owner and terms, no bid, no phase,
    the top the terms say. Only its ``seq`` is new, and no design's plan reads it (``AuctionView.terms["seq"]``
    aside: see ``Strategy.on_auction``)."""
    if type(announced) is not m.Announce or type(msg) is not m.State:
        return False
    return (msg.status == "open" and msg.lot == announced.lot and msg.tab == announced.tab
            and msg.start_ms == announced.start_ms and msg.owner == announced.owner and msg.design == announced.design
            and msg.asset == announced.asset and msg.bid == 0 and msg.guy == "" and msg.tic_ms == 0 and msg.phase == ""
            and msg.top_q == getattr(announced.terms, "top_q", 0) and msg.terms == announced.terms)
