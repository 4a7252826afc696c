"""The strategy-facing API: what a keeper developer writes against.

Everything here is in whole units and floats (tokens, USD, seconds, gwei): the framework converts
to and from the integer base units of the ledger and the wire (``auction.units``). A strategy never
sees a message, a bus or a clock of its own, so the same object runs unchanged in the simulator and
in a live keeper process.

Designs (``AuctionView.design``) are named by the registry, ``auction.designs`` (``liqnet compare --help``
lists them). ``AuctionView.terms`` holds the design's own parameters (floats, whole units); the built-in ones:

- dutch: ``top``, ``curve`` ("linear" | "stairstep" | "exponential") with ``tau`` / ``cut`` / ``step``,
  ``tail`` (s), ``cusp``, ``chost`` (USD), ``tip`` (USD), ``chip``;
- sealed-*: ``reserve`` (USD per token), ``commit_end`` and ``reveal_end`` (s), ``deposit`` (USD),
  ``bidders`` (how many keepers may bid, when the house says);
- english: ``bid`` (USD, standing bid for the lot), ``guy`` (keeper id of the standing bid, "" if none),
  ``beg`` (minimum increment factor, e.g. 1.05), ``end`` and ``tic`` (s, 0 if no bid yet), ``ttl`` (s);
- fixed: ``bonus`` (e.g. 0.05), ``max_repay`` (USD), ``debt`` (USD), ``collateral`` (tokens), ``health``;
- perp-*: a position: ``side`` (+1 long: the taker buys it; -1 short: the taker is paid to take it), ``size``
  (tokens), ``mark``, ``bankruptcy``, ``liquidation`` (USD per token), ``health``; perp-dutch and perp-takeover
  also ``price`` (now) and ``max_qty`` (tokens one take may close); perp-sealed ``commit_end``, ``reveal_end``,
  ``deposit``. A ``Take``'s ``max_price`` (a ``Bid``'s ``price``) is for a short the *least* it must be paid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import structlog
from numpy.typing import NDArray

from auction.curves import Curve, crossing, shared_curve

# -- decisions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Take:
    """Willing to pay up to ``max_price`` USD per token for up to ``max_qty`` tokens.

    dutch: the framework takes when the price falls to ``max_price``; english: a proxy bid up to
    ``max_price`` per token for the lot (raised by the minimum increment when outbid), or with ``at_once``
    that whole bid at once, as Maker's auction-keeper bid (in the dent phase, ``max_qty`` is then the lot
    asked for the tab); fixed: liquidate when that is profitable at ``max_price``.
    ``priority_fee`` (gwei) is the tip offered to get into the next block; ``None`` lets the framework
    choose (its default tip). It matters where transactions race: fixed-penalty liquidation.
    """

    max_price: float
    max_qty: float
    priority_fee: float | None = None
    at_once: bool = False


@dataclass(frozen=True, slots=True)
class Bid:
    """A sealed bid: ``price`` USD per token for ``qty`` tokens. The framework commits and reveals it."""

    price: float
    qty: float


Decision = Take | Bid | None


# -- what a strategy is shown ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuctionView:
    """One auction as the keeper sees it (from an announce or state message)."""

    id: int
    design: str
    asset: str
    lot: float  # tokens still on sale
    tab: float  # USD still to raise
    oracle_price: float  # USD per token: the latest oracle price the keeper has seen for the asset
    start: float = 0.0  # seconds: kick or last reset
    terms: Mapping[str, Any] = field(default_factory=dict)

    def price_at(self, t: float) -> float:
        """Dutch price (USD per token) at time ``t``, computed locally from the curve: no message per tick."""
        return self.curve().price(float(self.terms["top"]), max(t - self.start, 0.0))

    def time_at_price(self, level: float) -> float:
        """Dutch: the first time at which the price is at or below ``level`` (``inf`` if never)."""
        return self.start + crossing(self.curve(), float(self.terms["top"]), level)

    def curve(self) -> Curve:
        """Dutch: the price curve of the terms (``auction.curves``), from the top price ``terms["top"]``."""
        if self.design != "dutch":
            raise ValueError(f"price_at is defined for dutch auctions only, not {self.design!r}")
        t = self.terms
        return shared_curve(
            str(t["curve"]), tau=float(t.get("tau", 0.0)), cut=float(t.get("cut", 0.0)), step=float(t.get("step", 0.0))
        )


@dataclass(frozen=True, slots=True)
class Lots:
    """Several open auctions of one design and asset, as columns (whole units): ``Strategy.on_lots``.

    Row i is the auction ``ids[i]`` as its ``AuctionView`` shows it: ``lot[i]`` tokens still on sale,
    ``tab[i]`` USD to raise, (re)started at ``start[i]`` seconds; ``oracle_price`` is the protocol's latest
    price of ``asset``.
    """

    design: str
    asset: str
    ids: NDArray[np.int64]
    lot: NDArray[np.float64]
    tab: NDArray[np.float64]
    start: NDArray[np.float64]
    oracle_price: float

    def __len__(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True, slots=True)
class Takes:
    """Decisions about ``Lots``, row by row: ``Take(max_price[i], max_qty[i], priority_fee)`` where
    ``max_price[i]`` is a number, ``None`` (abstain) where it is NaN."""

    max_price: NDArray[np.float64]
    max_qty: NDArray[np.float64]
    priority_fee: float | None = None

    @classmethod
    def none(cls, n: int) -> Takes:
        """Abstain on all ``n`` lots."""
        return cls(np.full(n, np.nan), np.zeros(n))


@dataclass(frozen=True, slots=True)
class ResultView:
    """How an auction ended for this keeper: ``qty`` tokens won for ``cost`` USD (both 0 when it lost)."""

    id: int
    design: str
    asset: str
    won: bool
    qty: float = 0.0
    cost: float = 0.0
    clearing_price: float | None = None  # USD per token, when the design has one
    winners: tuple[str, ...] = ()
    forfeited: bool = False  # a sealed bid that was committed but not revealed

    @property
    def price(self) -> float:
        """Average price paid per token (0 when nothing was won)."""
        return self.cost / self.qty if self.qty else 0.0


class Context:
    """The keeper's situation when a strategy is called. Built by the framework for each call.

    ``market_price(asset)`` is the keeper's view of the outside market (it can lead the oracle; in the
    textbook-ipv scenario it is the keeper's private value). ``balance`` is USD (free + escrowed),
    ``inventory`` tokens by asset, ``gas_price`` the going base fee in gwei (``native_price`` USD per
    ETH, so ``gas_usd`` prices a transaction), ``rng`` a numpy Generator
    seeded from the run seed and the keeper id, ``log`` a structlog logger bound with ``keeper_id``.
    """

    __slots__ = ("_hedge", "_price", "balance", "gas_price", "inventory", "keeper_id", "log", "native_price", "now",
                 "rng")

    def __init__(
        self,
        *,
        keeper_id: str,
        now: float,
        price: Callable[[str], float],
        balance: float,
        inventory: Mapping[str, float],
        gas_price: float,
        rng: np.random.Generator,
        log: Any,
        native_price: float = 0.0,
        hedge: Callable[[str, float], float] | None = None,
    ) -> None:
        self._hedge = hedge
        self.keeper_id = keeper_id
        self.now = now
        self._price = price
        self.balance = balance
        self.inventory: Mapping[str, float] = (
            inventory if isinstance(inventory, MappingProxyType) else MappingProxyType(dict(inventory)))
        self.gas_price = gas_price
        self.rng = rng
        self.log = log
        self.native_price = native_price

    def market_price(self, asset: str) -> float:
        return self._price(asset)

    def hedge_price(self, asset: str, qty: float) -> float:
        """Average USD per token of selling ``qty`` tokens into the market now (``qty`` < 0: buying ``-qty``),
        price impact included: what a perp keeper hedges a takeover at. Without an impact model (a test
        context), the market price."""
        if self._hedge is None or qty == 0:
            return self.market_price(asset)
        return self._hedge(asset, qty)

    def gas_usd(self, gas_units: int, priority_fee: float = 0.0) -> float:
        """USD cost of ``gas_units`` at the going base fee plus ``priority_fee`` gwei (1 gwei = 1e-9 ETH)."""
        return gas_units * (self.gas_price + priority_fee) * 1e-9 * self.native_price

    @classmethod
    def simple(
        cls,
        *,
        now: float = 0.0,
        prices: Mapping[str, float] | None = None,
        balance: float = 1_000_000.0,
        inventory: Mapping[str, float] | None = None,
        gas_price: float = 20.0,
        native_price: float = 2000.0,
        seed: int = 0,
        keeper_id: str = "test",
    ) -> Context:
        """A context for unit tests of a strategy: fixed prices, a seeded rng, a real logger."""
        table = dict(prices or {})

        def price(asset: str) -> float:
            if asset not in table:
                raise KeyError(f"no market price for {asset!r} in this test context")
            return table[asset]

        return cls(
            keeper_id=keeper_id,
            now=now,
            price=price,
            balance=balance,
            inventory=inventory or {},
            gas_price=gas_price,
            rng=np.random.default_rng(seed),
            log=structlog.get_logger().bind(keeper_id=keeper_id),
            native_price=native_price,
        )


# -- the base class --------------------------------------------------------------------------------


class Strategy:
    """Base class of every keeper strategy; each hook has a no-op default.

    Configuration comes as keyword arguments (``Strategy(margin=0.05)``) and is kept in ``config``.
    ``on_auction`` may be called again with the same state (a re-delivered message, a catch-up after a
    reconnect): it must return the same decision, and the framework will not act twice on it. The state a
    house sends with each new auction's announce is not asked about when it shows the same auction (only its
    ``seq`` is new) and nothing else reached the keeper in between (``keepers.agent.twin``): one call per new
    auction there, so a strategy drawing from ``ctx.rng`` draws once. ``on_result`` is called only when a
    subclass overrides it.
    """

    api_version: ClassVar[int] = 1
    name: ClassVar[str] = ""

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = dict(config)

    def on_start(self, ctx: Context) -> None:
        """Called once before the first auction."""

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        """An auction opened or changed: return a decision, or ``None`` to abstain."""
        return None

    def on_lots(self, lots: Lots, ctx: Context) -> Takes | None:
        """Optional batch form of ``on_auction`` for many auctions at once (the keeper's periodic look at all
        it follows): it must decide exactly as ``on_auction`` would for each row, with this ``ctx``, and only
        ``Take`` or ``None``. Return ``None`` (the default) to be asked one auction at a time."""
        return None

    def abstains(self, ctx: Context) -> bool:
        """Optional: True only when ``on_auction`` would return ``None`` for every auction in ``ctx`` (a keeper
        that drops out while gas is high, say). The framework then does not ask about each auction; the
        default, False, asks every time. Called once per context, with the same ``ctx`` as ``on_auction``."""
        return False

    def abstains_from(self, design: str, ctx: Context) -> bool:
        """Optional: True only when ``on_auction`` would return ``None``, without raising or changing anything,
        for every auction of ``design`` in ``ctx`` (a keeper that sits a design out while gas is above its
        ceiling). The framework may then skip its periodic look at the auctions it follows when they are all
        of that design and it has nothing out in them; the default, False, never skips one."""
        return False

    def on_result(self, result: ResultView, ctx: Context) -> None:
        """An auction this keeper saw has ended: ``result.won`` says whether it bought anything."""

    def on_stop(self, ctx: Context) -> None:
        """Called once when the keeper stops."""

    @property
    def label(self) -> str:
        """A display name: ``name`` or the class name."""
        return self.name or type(self).__name__


def finite(x: float) -> bool:
    """True for a finite float (strategies' outputs are checked with it before anything is sent)."""
    return isinstance(x, int | float) and math.isfinite(x)
