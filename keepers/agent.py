"""The keeper agent: turns wire messages into strategy calls and strategy decisions into wire actions.

Plain synchronous code with the clock handed in, shared by both runtimes:

- feed it every message the keeper receives, ``on_message(msg, now)`` (or the ``on_*`` methods), and
  collect the ``Order``s it returns;
- when ``now >= order.not_before``, call ``release(order, now)``: it returns the action to send (nonce
  and deadline filled in, unsigned) or ``None`` when the plan was superseded or a limit forbids it.
  The simulator puts orders on its event queue; the live keeper sets a timer and signs what comes out.

Because both runtimes hand the agent the same message objects, its decisions are the same in both.

How a decision becomes actions is the design's own planner (``Planning.plan``, in ``auction.designs``):
the runtime hands the agent the registry of designs, so this module names none of them.

A strategy that raises or returns garbage is treated as ``None``, and the keeper goes on; the failures are
counted (``failures``), the first logged with its file and line (``keepers.failures``).

What the keeper sees (prices, gas, the strategy's context) is ``keepers.quotes``; how it books results,
rejections and acknowledgements is ``keepers.settling``: the agent's base classes.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec
import numpy as np
import structlog

from auction import units
from broker import messages as m
from keepers.api import AuctionView, Bid, Context, Strategy, Take
from keepers.deadline import DeadlineExceeded, DeadlineStrategy, call_with_deadline
from keepers.failures import Failures
from keepers.plan import (
    MarketView,
    Order,
    Planning,
    Policy,
    SealedPlan,
    Sent,
    TakeOrders,
    Tracked,
    fit_qty,
    twin,
    valid,
)
from keepers.rows import Rows
from keepers.settling import Settling
from keepers.views import ViewCache
from keepers.wallet import Book, Limits, Wallet

__all__ = [
    "DeadlineExceeded",
    "DeadlineStrategy",
    "KeeperAgent",
    "Limits",
    "MarketView",
    "Order",
    "Planning",
    "Policy",
    "SealedPlan",
    "TakeOrders",
    "Tracked",
    "call_with_deadline",
    "fit_qty",
]


class KeeperAgent(Settling):
    """One keeper: a strategy, a wallet with limits, an inventory and a P&L book."""

    def __init__(
        self,
        keeper_id: str,
        strategy: Strategy,
        capital: int,
        *,
        designs: Mapping[str, Planning],
        limits: Limits | None = None,
        seed: int = 0,
        market: MarketView | None = None,
        policy: Policy | None = None,
        latency_s: float = 0.0,
        gas: Callable[[float], float] | None = None,
        views: ViewCache | None = None,
        gas_units: Mapping[str, int] | None = None,
    ) -> None:
        """``capital`` in numeraire base units; ``designs`` the registry (``auction.designs.REGISTRY``);
        ``latency_s`` is read by the simulator (decision -> send); ``gas(t)`` gives the base fee in gwei where
        the runtime does not deliver ``Block`` messages; ``views`` a cache of strategy views that the keepers
        of one process may share (they receive the very same message objects); ``gas_units`` (action tag ->
        units) the scenario's gas table where it differs from the designs' (a live keeper learns it from the
        house's status)."""
        self.keeper_id, self.strategy, self.capital = keeper_id, strategy, capital
        self.designs = designs
        self.latency_s = latency_s
        self._gas = gas
        self.gas_units: dict[str, int] | None = dict(gas_units) if gas_units is not None else None
        self.limits = limits or Limits()
        self.policy = policy or Policy()
        self.market = market
        self._lot_price = getattr(market, "lot_price", None)  # textbook-ipv: a private value per lot
        self.views = views if views is not None else ViewCache()
        self.wallet = Wallet(capital, self.limits)
        self.book = Book()
        self.inventory: dict[str, int] = {}  # collateral base units by asset
        self.nonce = 0
        self.gas_gwei = 0.0
        self.failures = Failures()  # strategy exceptions and invalid decisions: counted, the first logged
        self.auctions: dict[int, Tracked] = {}
        self.rows = Rows()  # their plans and keys, as columns (keepers.rows)
        self.oracle: dict[str, int] = {}  # latest oracle price_q by asset
        # Two streams from (run seed, keeper id): the strategy's draws (ctx.rng) never shift the salts.
        ours, theirs = np.random.SeedSequence([seed, zlib.crc32(keeper_id.encode())]).spawn(2)
        self.rng, self.salt_rng = np.random.default_rng(theirs), np.random.default_rng(ours)
        self._sent: dict[int, Sent] = {}  # by nonce: what was sent and is not settled yet
        self._sent_in: dict[int, set[int]] = {}  # their nonces by auction, so a result forgets its own at once
        # Whether the strategy hears results: the base class's on_result does nothing, and a result view and a
        # context per result and keeper are built for it only when it is overridden.
        self._hears_results = getattr(getattr(strategy, "on_result", None), "__func__", None) is not Strategy.on_result
        self._settled: set[int] = set()
        self._last_eval = -math.inf
        self._last_seen: tuple[Any, ...] = ()
        self._quotes: tuple[float, float, float] | None = None  # (now, gas gwei, native USD), see _quote
        self._gas_cost_of: tuple[Any, ...] | None = None  # the last gas_units_cost and what it was made from
        self._ctx: tuple[Any, Context] | None = None  # the last decision context and what it was made from
        self._abstain: tuple[Context, bool] | None = None  # strategy.abstains of the last context asked
        from_ = getattr(strategy, "abstains_from", None)  # not asked when the base class's (always False)
        self._abstains_from = None if getattr(from_, "__func__", None) is Strategy.abstains_from else from_
        self._abstained_from: tuple[Context, str, bool] | None = None
        self._inventory: tuple[tuple[tuple[str, int], ...], Mapping[str, float]] = ((), MappingProxyType({}))
        self._inputs = 0  # what has reached the agent (messages, releases): see _announced
        self._announced: tuple[int, int, float] | None = None  # (auction, _inputs, now) of the last Announce planned
        self.tracked_assets: dict[str, int] = {}  # tracked auctions per asset: what a re-evaluation looks at
        self.tracked_designs: dict[str, int] = {}  # tracked auctions per design
        self.planner_state: dict[str, Any] = {}  # what a design's batch planner keeps between looks, by design
        self.bulk = False  # on_block may return TakeOrders (a runtime that schedules orders in bulk sets it)
        self.log = structlog.get_logger().bind(keeper_id=keeper_id)

    # -- reading ----------------------------------------------------------------------------------------
    @property
    def errors(self) -> int:
        """Strategy exceptions and invalid decisions so far."""
        return self.failures.count

    @property
    def balance(self) -> int:
        return self.wallet.cash

    @property
    def pnl(self) -> int:
        """Realized P&L so far (numeraire base units)."""
        return self.book.realized

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self._guard(lambda: self.strategy.on_start(self.context(now)), "on_start", now)

    def stop(self, now: float) -> None:
        self._guard(lambda: self.strategy.on_stop(self.context(now)), "on_stop", now)

    # -- inputs ------------------------------------------------------------------------------------------
    def on_message(self, msg: m.Message, now: float) -> list[Order] | TakeOrders:
        """Dispatch any received message; returns the orders it gives rise to."""
        cls = type(msg)  # the frequent kinds by exact type, before the isinstance chain (which any kind passes)
        if cls is m.State or cls is m.Announce:
            return self.on_state(msg, now)  # type: ignore[arg-type]
        if cls is m.Block:
            self._inputs += 1
            return self.on_block(msg, now)  # type: ignore[arg-type]
        if isinstance(msg, m.Announce | m.State):
            return self.on_state(msg, now)
        self._inputs += 1
        if isinstance(msg, m.Result):
            self.on_result(msg, now)
        elif isinstance(msg, m.Rejection):
            self.on_rejection(msg, now)
        elif isinstance(msg, m.Ack):
            self.on_ack(msg)
        elif isinstance(msg, m.Block):
            return self.on_block(msg, now)
        elif isinstance(msg, m.OraclePrice):
            self.oracle[msg.asset] = msg.price_q
            self._quotes = None  # the native price may come from the oracle
        return []

    def on_state(self, msg: m.Announce | m.State, now: float) -> list[Order]:
        self._inputs += 1
        auction = msg.auction
        if auction in self._settled:
            return []
        tracked = self.auctions.get(auction)
        if type(msg) is m.State and tracked is not None and type(tracked.msg) is m.State:
            return self._restate(tracked, msg, now)  # most messages: a newer state of an auction planned before
        if tracked is not None and self._announced == (auction, self._inputs - 1, now) and twin(tracked.msg, msg):
            tracked.update(msg)  # the State sent with its Announce: nothing the plan reads has moved since
            return []
        announce = isinstance(msg, m.Announce)
        if tracked is None:
            oracle_q = msg.oracle_q if announce else self.oracle.get(msg.asset, 0)  # type: ignore[union-attr]
            tracked = self.auctions[auction] = Tracked(msg, oracle_q, self.rows)
            self.tracked_assets[msg.asset] = self.tracked_assets.get(msg.asset, 0) + 1
            self.tracked_designs[msg.design] = self.tracked_designs.get(msg.design, 0) + 1
        elif not announce or isinstance(tracked.msg, m.Announce):
            if not announce and isinstance(tracked.msg, m.State) and msg.seq < tracked.msg.seq:  # type: ignore[union-attr]
                return []  # an older state delivered late
            tracked.update(msg)
        if announce:
            oracle_q = msg.oracle_q  # type: ignore[union-attr]
            if self.oracle.get(msg.asset) != oracle_q:
                self._quotes = None  # the native price may come from the oracle
            tracked.oracle_q = self.oracle[msg.asset] = oracle_q  # the oracle price at kick: the latest one
            orders = self._evaluate(tracked, now)
            self._announced = (auction, self._inputs, now)
            return orders
        return self._evaluate(tracked, now)

    def _restate(self, tracked: Tracked, msg: m.State, now: float) -> list[Order]:
        """``on_state`` of a State about an auction whose last message was a State too (so no Announce twin):
        the same steps, without the questions whose answers that already gives."""
        if msg.seq < tracked.msg.seq:  # type: ignore[union-attr]
            return []  # an older state delivered late
        tracked.update(msg)
        if msg.status == "closed":
            tracked.plan += 1  # as _evaluate does
            return []
        design = self.designs.get(msg.design)
        if design is None:
            return self._evaluate(tracked, now)
        return design.plan(self, tracked, now)

    def on_block(self, msg: m.Block, now: float) -> list[Order] | TakeOrders:
        """New gas price; every ``policy.reevaluate_s`` the open auctions are looked at again."""
        self.gas_gwei = msg.gas_gwei_milli / 1000
        self._quotes = None
        if now - self._last_eval < self.policy.reevaluate_s:
            return []
        self._last_eval = now
        if not self.auctions:  # nothing to look at; any look once there is will differ from this one
            self._last_seen = ()
            return []
        seen = self._seen(now)
        if seen == self._last_seen:
            return []  # nothing a strategy reads has moved since the last look
        self._last_seen = seen
        if self._idle_look(now):
            return []
        batch = self._plan_batch(now)
        if batch is not None:
            return batch if self.bulk else batch.orders()
        return [o for a in sorted(self.auctions) for o in self._evaluate(self.auctions[a], now)]

    def _plan_batch(self, now: float) -> TakeOrders | None:
        """Every tracked auction planned at once by its design's batch planner, when they all share one
        design that has one (``Planning.plan_batch``); None: plan them one by one."""
        if len(self.tracked_designs) != 1:
            return None
        design = self.designs.get(next(iter(self.tracked_designs)))
        batch = getattr(design, "plan_batch", None)
        return batch(self, now) if batch is not None else None

    def block_matters(self, now: float, last_look: float) -> bool:
        """Whether a ``Block`` delivered at ``now`` can change anything, when the last block that did came at
        ``last_look``: with a gas source of its own (``gas``), a block only starts a look at the open auctions,
        and only once ``policy.reevaluate_s`` has passed. A runtime may skip the others (the simulator does)."""
        return self._gas is None or now - last_look >= self.policy.reevaluate_s

    @property
    def look_period(self) -> float | None:
        """Seconds a block that mattered (``block_matters``) is at least followed by before the next can; None
        when every block may."""
        return None if self._gas is None else self.policy.reevaluate_s

    @property
    def prices_per_lot(self) -> bool:
        """The market shows a private value per lot (textbook-ipv): each decision has its own context."""
        return self._lot_price is not None

    # -- output ------------------------------------------------------------------------------------------
    def release(self, order: Order, now: float) -> m.Action | None:
        """The action to send now for ``order`` (nonce and deadline set), or None if it no longer stands."""
        self._inputs += 1
        action = order.action
        tracked = self.auctions.get(action.auction)  # type: ignore[union-attr]
        if tracked is None or tracked.plan != order.plan:
            return None
        if self.gas_price(now) > self.policy.max_gas_gwei and not isinstance(action, m.Reveal):
            self.log.info("gas.too_high", gwei=self.gas_price(now), cap=self.policy.max_gas_gwei)
            tracked.key = None  # planned again at the next evaluation (a reveal goes anyway: it saves the deposit)
            return None
        gas = self._gas_cost(action, tracked.msg.design, now)
        spend, changes = self._fit_release(action, self.wallet.budget(tracked.msg.auction) - gas)
        if changes is None:
            return None
        changes["nonce"] = self.next_nonce()
        if hasattr(action, "deadline_ms"):
            changes["deadline_ms"] = units.ms(now + self.policy.action_ttl_s)
        action = msgspec.structs.replace(action, **changes)
        self._sent[action.nonce] = Sent(tracked.msg.auction, m.tag_of(type(action)), spend)
        self._sent_in.setdefault(tracked.msg.auction, set()).add(action.nonce)
        self.wallet.commit(tracked.msg.auction, spend)
        if self.policy.estimate_gas:
            self.wallet.cash -= gas
            self.book.gas += gas
        return action

    def next_nonce(self) -> int:
        """A fresh nonce, strictly increasing as the house requires. A live keeper that restarts must start
        above its previous run's nonces: set ``agent.nonce`` first (e.g. to unix milliseconds at start)."""
        self.nonce += 1
        return self.nonce

    def _fit_release(self, action: m.Action, budget: int) -> tuple[int, dict[str, Any] | None]:
        """Recheck an action against the budget at the moment it leaves; cut what can be cut. What it commits,
        and the fields to change in it (None: it does not go)."""
        if isinstance(action, m.Take):
            amount = fit_qty(action.amount, action.max_price_q, budget)
            if amount <= 0:
                return self._refused(type(action), budget)
            return units.cost(amount, action.max_price_q), {"amount": amount}
        if isinstance(action, m.Liquidate):
            repay = min(action.repay, budget)
            if repay <= 0:
                return self._refused(type(action), budget)
            return repay, {"repay": repay}
        if isinstance(action, m.EnglishBid):
            return (action.bid, {}) if action.bid <= budget else self._refused(type(action), budget)
        if isinstance(action, m.Commit):
            tracked = self.auctions[action.auction]
            need = tracked.sealed.need if tracked.sealed else action.deposit
            return (need, {}) if need <= budget else self._refused(type(action), budget)
        return 0, {}  # Reveal (already covered by its commit), Redo

    # -- deciding ----------------------------------------------------------------------------------------
    def _evaluate(self, tracked: Tracked, now: float) -> list[Order]:
        msg = tracked.msg
        status = msg.status if isinstance(msg, m.State) else "open"
        if status == "closed":
            tracked.plan += 1
            return []
        design = self.designs.get(msg.design)
        if design is None:
            self.log.warning("design.unknown", auction=msg.auction, design=msg.design)
            return []
        return design.plan(self, tracked, now)

    def decide(self, tracked: Tracked, now: float) -> Take | Bid | None:
        """Ask the strategy about ``tracked``; an exception or an invalid decision counts as an error, None."""
        self.failures.decisions += 1
        ctx = self.decision_context(now, tracked.msg.auction)
        if self.abstains(ctx) or self.abstains_from(tracked.msg.design, ctx):
            return None
        view = self.view(tracked)
        try:
            decision = self.strategy.on_auction(view, ctx)
        except Exception as exc:
            self.failures.failed(self.log, now, "on_auction", exc, auction=view.id)
            return None
        if decision is None or valid(decision):
            return decision
        self.failures.failed(self.log, now, "on_auction", decision=decision, auction=view.id)
        return None

    def view(self, tracked: Tracked) -> AuctionView:
        """What the strategy is shown of ``tracked`` (rebuilt only when its message or the oracle changed)."""
        msg = tracked.msg
        oracle_q = self.oracle.get(msg.asset, tracked.oracle_q)
        cached = tracked.view
        if cached is not None and cached[0] is msg and cached[1] == oracle_q:
            return cached[2]
        view = self.views.get(msg, oracle_q, self.designs[msg.design].view_terms)
        tracked.view = (msg, oracle_q, view)
        return view

    def replan(self, tracked: Tracked, key: tuple[Any, ...], actions: list[tuple[float, m.Action]]) -> list[Order]:
        """Orders for a new plan made from ``key``; none when the plan is the one already out."""
        if key == tracked.key:
            return []  # same state, same decision: the orders already out still stand
        tracked.key = key
        tracked.plan += 1
        return [Order(at, action, tracked.plan) for at, action in actions]

    def drop(self, tracked: Tracked, decision: Take | Bid | None, *, limited: bool = False) -> list[Order]:
        """No action for this state: supersede any scheduled order."""
        if decision is not None and limited:
            self.log.info("limit.refused", auction=tracked.msg.auction, decision=repr(decision))
        elif decision is not None:
            self.log.info("decision.ignored", auction=tracked.msg.auction, design=tracked.msg.design,
                          decision=type(decision).__name__)
        if tracked.key is not None:
            tracked.key = None
            tracked.plan += 1
        return []

    def salt(self, n: int) -> bytes:
        """``n`` random bytes from the keeper's own seeded stream (sealed-bid salts)."""
        return bytes(self.salt_rng.bytes(n))
