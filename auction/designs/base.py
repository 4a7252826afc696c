"""What a liquidation design is, and the sale base class the auction house drives.

A ``Design`` bundles everything one design brings: its sale logic (``open`` builds a ``Sale``; the sale
applies actions, advances on deadlines and closes), its typed parameters, its terms on the wire, its gas
units, its keeper planner and its theory line. The house, the keeper agent, the scenario loader, the CLI
and the reports reach a design only through the registry (``auction.designs``), the way MakerDAO's ``Dog``
reaches any ``ClipperLike`` through ``kick``.

A sale is all or nothing: a refused action (``Rejected``) leaves the sale and the ledger untouched, because
each mechanism operation undoes what it changed in the sale when the ledger refuses its moves (a snapshot of the
few fields it writes, restored: cheaper than copying the mechanism for every action).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from auction.book.accounts import Accounts
from auction.book.base import Kind, MarginBook
from auction.book.ledger import Book, Ledger
from auction.errors import Rejected
from auction.fills import Fill
from broker import messages as m

if TYPE_CHECKING:
    from keepers.agent import KeeperAgent, Order, TakeOrders, Tracked

KICKER = "kicker"  # the keeper bot that barks and resets (its incentives count as keeper income)


class Desk(Protocol):
    """What a sale may use of the house: the books, the protocol's oracle and the outside market."""

    ledger: Ledger
    book: MarginBook

    @property
    def accounts(self) -> Accounts:
        """Vault designs: the accounts themselves (a perp book has none)."""
        ...

    def oracle_of(self, asset: str) -> float: ...

    def market_price(self, asset: str, t: float) -> float: ...

    def health(self, i: int) -> float: ...

    def healthy(self, i: int) -> bool: ...

    def reindex(self, i: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Opening:
    """One lot the house opens: ``qty`` of asset ``k`` of account ``i``, with ``debt`` to cover."""

    id: int
    design: str
    i: int
    k: int
    asset: str
    qty: int
    debt: int
    oracle: float  # the protocol's price when kicked
    now: float
    market: float  # the market price when kicked (for borrower loss and discounts)
    desk: Desk
    side: int = 0  # a perp position: +1 long, -1 short (``qty`` is its size); 0 for vault collateral

    @property
    def account(self) -> str:
        return f"acct:{self.i}"


@dataclass(slots=True)  # made for every state message and read once: not frozen, which costs per field
class Shown:
    """What the wire shows of a sale at one moment, besides identity and ``seq``."""

    lot: int
    tab: int
    start: float
    terms: m.Terms
    top_q: int = 0
    bid: int = 0
    guy: str = ""
    tic: float = 0.0
    phase: str = ""  # "", "commit", "reveal" or "closed"


@dataclass(slots=True)
class Sale:
    """One running liquidation: identity, the ledger book, fills and timing. Designs subclass it."""

    id: int
    design: str
    asset: str
    account: str
    kicked_at: float
    market_at_kick: float  # market price when kicked, for borrower loss and discounts
    ledger: Ledger
    fills: list[Fill] = field(default_factory=list)
    closed_at: float | None = None
    resets: int = 0
    seq: int = 0  # bumped on every change (closing included), so keepers can tell new states from redeliveries

    @property
    def book(self) -> Book:
        return self.ledger.books[self.id]

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    # -- what the house calls --------------------------------------------------------------------------
    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        """Apply one included keeper action; the fills it made. Refuses actions the design does not take."""
        raise Rejected("wrong-phase", f"a {m.tag_of(type(action))} does not apply to a {self.design} auction")

    def advance(self, now: float, oracle: float) -> bool:
        """Apply deadlines at ``now``; True if the sale changed."""
        return False

    def next_deadline(self) -> float:
        """When ``advance`` next has something to do (inf: never)."""
        return math.inf

    def on_oracle(self, now: float, desk: Desk) -> bool:
        """The oracle moved (designs with ``watches_oracle``); True if the sale changed."""
        return False

    def end(self, now: float, desk: Desk) -> None:
        """Close at the end of the run: holds released, collateral still on sale counts unsold."""
        self.ledger.release_all(self.id)
        self.close(now)

    def show(self, now: float) -> Shown:
        raise NotImplementedError

    def result_extra(self) -> dict[str, Any]:
        """Design-specific fields of the ``Result`` message."""
        return {}

    def outcome(self) -> tuple[int, int, int]:
        """(collateral returned to the owner, bad debt, revenue) for the ``Result`` message."""
        book = self.book
        return book.returned, book.bad_debt, book.raised

    # -- for subclasses ----------------------------------------------------------------------------------
    def finish(self, now: float, returned: int = 0) -> None:
        """Return what the owner is due, close the book (uncovered debt becomes bad debt)."""
        if returned:
            self.ledger.return_to_owner(self.id, returned)
        self.close(now)

    def close(self, now: float) -> None:
        """Close the book at ``now``: every way a sale ends goes through here, so its closed state has a
        ``seq`` above every state before it (PROTOCOL.md: keepers drop a state whose seq is not higher)."""
        self.ledger.close(self.id)
        self.closed_at = now
        self.seq += 1

    def changed(self) -> None:
        self.seq += 1


def seize_lot(o: Opening, chop: float) -> int:
    """Move the lot and its debt from the account into the sale's book; the tab is ``debt * chop``."""
    ledger, account = o.desk.ledger, o.account  # a property that formats the name: asked once
    ledger.mint(account, o.asset, o.qty)  # the position enters the ledger as it is seized
    ledger.owe(account, o.debt)
    tab = round(o.debt * chop)
    ledger.seize(o.id, account, o.asset, o.qty, o.debt, tab)
    return tab


def sale_fields(o: Opening) -> dict[str, Any]:
    """The ``Sale`` fields every design fills the same way."""
    return dict(id=o.id, design=o.design, asset=o.asset, account=o.account, kicked_at=o.now,
                market_at_kick=o.market, ledger=o.desk.ledger)


Planner = Callable[["KeeperAgent", "Tracked", float], "list[Order]"]
BatchPlanner = Callable[["KeeperAgent", float], "TakeOrders | None"]
ViewTerms = Callable[[m.Announce | m.State], dict[str, Any]]
Theory = Callable[[int, float, float, Any], float]  # (bidders, value scale, oracle price, params) -> per lot


P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Design(Generic[P]):
    """One liquidation design, as the registry holds it."""

    name: str  # what users type (--designs) and the wire carries
    table: str  # its scenario table, [designs.TABLE] (sealed-first and sealed-second share "sealed")
    params: type[P]  # the typed parameters of that table (a msgspec Struct: defaults for every field)
    terms: type[m.WireTerms]  # its terms on the wire
    open: Callable[[Opening, P], Sale]  # (the lot, the params) -> the running sale
    gas: Mapping[str, int]  # gas units per action tag it accepts
    plan: Planner  # keeper side: a strategy's decision -> the agent's orders
    view_terms: ViewTerms  # keeper side: the terms a strategy sees, in whole units
    theory: Theory | None = None  # expected revenue per lot under independent private values
    plan_batch: BatchPlanner | None = None  # keeper side: ``plan`` for every tracked auction at once
    # keeper side, where ``plan`` given None from ``agent.decide`` only drops (``agent.drop(tracked, None)``):
    # whether ``plan`` asks ``decide`` about an open auction, True for each, or (tracked, now) -> bool (False: it
    # returns [] and changes nothing). A look at such auctions that the strategy sits out is then done without
    # asking (``KeeperAgent._idle_look``). False: not known, every look is made.
    asks: Callable[[Tracked, float], bool] | bool = False
    seizes: bool = True  # the house confiscates the account at kick (fixed-penalty: per liquidation)
    watches_oracle: bool = False  # its open sales change with every oracle update
    summary: str = ""  # one line for --help and the docs
    relative_cost: float = 1.0  # run time against a Dutch run of the same scenario (sweeps start costly runs first)
    book: Kind = "vault"  # the accounts it liquidates: vault collateral, or perp positions
    resells: bool = True  # the house resells won collateral for the keeper (perp sales hedge inside the sale)
    source: str = ""  # the venue or contract whose rules it implements (README's table of designs)
    # (qty, debt, params) -> the (qty, debt) of each sale one seized lot opens (the Flipper's Cat lump); None: one
    split: Callable[[int, int, P], list[tuple[int, int]]] | None = None

    def params_in(self, tables: Mapping[str, object]) -> P:
        """This design's parameters among a scenario's design tables (its defaults when the table is absent)."""
        params = tables.get(self.table)
        if params is None:
            return self.params()
        if not isinstance(params, self.params):
            raise TypeError(f"[designs.{self.table}] holds a {type(params).__name__}, not {self.params.__name__}")
        return params
