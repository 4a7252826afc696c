"""The agent's plain data: how it carries out decisions (``Policy``), what it intends about each auction
(``Tracked``), what it asks the runtime to send (``Order``), and the checks a decision passes first."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from auction import units
from broker import messages as m
from keepers.api import AuctionView, Bid, Take, finite


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
    redo: bool = False  # send Redo for Dutch auctions that need one (the house's kicker does it otherwise)
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


@dataclass(slots=True)
class SealedPlan:
    round: int  # commit_end_ms: a lot offered again is a new round
    price_q: int
    qty: int
    salt: bytes
    need: int
    failed: bool = False


@dataclass(slots=True)
class Tracked:
    """What the agent knows and intends about one auction."""

    msg: m.Announce | m.State
    oracle_q: int
    plan: int = 0  # bumped whenever the intent changes; orders of an older plan are dropped
    key: tuple[Any, ...] | None = None  # what the current plan was made from (idempotence)
    sealed: SealedPlan | None = None
    redo_seq: int = -1
    view: tuple[Any, int, AuctionView] | None = None  # (msg, oracle_q, view): views are rebuilt on change only


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

