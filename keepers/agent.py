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
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import msgspec
import numpy as np
import structlog

from auction import units
from broker import messages as m
from keepers.api import AuctionView, Bid, Context, Strategy, Take
from keepers.deadline import DeadlineExceeded, DeadlineStrategy, call_with_deadline
from keepers.failures import Failures
from keepers.plan import MarketView, Order, Policy, SealedPlan, Sent, TakeOrders, Tracked, fit_qty, valid
from keepers.rows import Rows
from keepers.views import ViewCache, result_view
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

DEFAULT_GAS = 100_000  # an action its design does not list (auction.models.chain.DEFAULT_GAS)


class Planning(Protocol):
    """What the agent needs of a design (``auction.designs.base.Design`` is one)."""

    @property
    def gas(self) -> Mapping[str, int]:
        """Gas units per action tag, as the house charges them."""
        ...

    @property
    def plan(self) -> Callable[[KeeperAgent, Tracked, float], list[Order]]:
        """A strategy's decision about one auction -> the orders to send (``agent.decide`` asks it)."""
        ...

    @property
    def view_terms(self) -> Callable[[m.Announce | m.State], dict[str, Any]]:
        """The design's terms as the strategy sees them, in whole units."""
        ...

    # Optional (read with getattr): plan_batch(agent, now) -> TakeOrders | None, ``plan`` for every tracked
    # auction at once, in auction id order; None when it cannot (the agent then plans one by one).


class KeeperAgent:
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
        self._ctx: tuple[Any, Context] | None = None  # the last decision context and what it was made from
        self._abstain: tuple[Context, bool] | None = None  # strategy.abstains of the last context asked
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

    def gas_price(self, now: float) -> float:
        """The going base fee (gwei): from the runtime's gas source, else from the last Block."""
        return self._quote(now)[1]

    def _quote(self, now: float) -> tuple[float, float, float]:
        """(now, base fee, native price) at ``now``, computed once per instant: both are asked several times
        per decision. Forgotten whenever a message moves what they come from (a Block, an oracle price)."""
        q = self._quotes
        if q is None or q[0] != now:
            gas = self._gas(now) if self._gas is not None else self.gas_gwei
            q = self._quotes = (now, gas, self._native_price(now))
        return q

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self._guard(lambda: self.strategy.on_start(self.context(now)), "on_start", now)

    def stop(self, now: float) -> None:
        self._guard(lambda: self.strategy.on_stop(self.context(now)), "on_stop", now)

    def context(self, now: float, auction: int | None = None) -> Context:
        """What the strategy sees at ``now``; ``auction``: the lot being decided (private values)."""
        _, gas, native = self._quote(now)
        return Context(
            keeper_id=self.keeper_id,
            now=now,
            price=self._price_at(now, auction),
            balance=self.wallet.cash / units.NUM,  # units.num_f
            inventory=self._inventory_view(),
            gas_price=gas,
            rng=self.rng,
            log=self.log,
            native_price=native,
            hedge=None if self.market is None else lambda asset, qty: self._hedge(asset, qty, now),
        )

    def _hedge(self, asset: str, qty: float, now: float) -> float:
        """Average price of selling ``qty`` (buying ``-qty``) in the keeper's market. A buy mirrors the sale's
        impact around the market price (a constant-product pool's buy impact is a little larger)."""
        assert self.market is not None
        price = self._market_price(asset, now)
        sold = self.market.proceeds(asset, abs(qty), now) / abs(qty)
        return sold if qty > 0 else 2 * price - sold

    def _price_at(self, now: float, auction: int | None) -> Callable[[str], float]:
        """``ctx.market_price``: a market quotes one price per asset and instant, asked once per context (a
        private value per lot, or prices from the oracle, which messages move, are asked every time)."""
        if self.market is None or (auction is not None and self._lot_price is not None):
            return lambda asset: self._market_price(asset, now, auction)
        seen: dict[str, float] = {}

        def price(asset: str) -> float:
            p = seen.get(asset)
            if p is None:
                p = seen[asset] = self._market_price(asset, now)
            return p

        return price

    def _inventory_view(self) -> Mapping[str, float]:
        """The inventory in whole tokens, read-only, rebuilt only when it changed."""
        items = tuple(self.inventory.items())
        cached = self._inventory
        if cached[0] != items:
            cached = self._inventory = (items, MappingProxyType({a: units.col_f(q) for a, q in items}))
        return cached[1]

    def decision_context(self, now: float, auction: int) -> Context:
        """The context of a decision about ``auction``. One object serves every decision while nothing it
        holds moves (instant, prices, balance, inventory), unless the market prices each lot privately."""
        if self._lot_price is not None:
            return self.context(now, auction)
        key = (self._quote(now), self.wallet.cash, tuple(self.inventory.items()))
        cached = self._ctx
        if cached is not None and cached[0] == key:
            return cached[1]
        ctx = self.context(now)
        self._ctx = (key, ctx)
        return ctx

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

    def on_result(self, msg: m.Result, now: float) -> None:
        if msg.auction in self._settled:
            return  # a redelivered result
        self._settled.add(msg.auction)
        tracked = self.auctions.pop(msg.auction, None)
        self.wallet.settle(msg.auction)
        # What was sent there is settled too: forget it (the record stays as small as the open auctions, and a
        # late or replayed rejection of one of those actions can no longer release money the result settled).
        for nonce in self._sent_in.pop(msg.auction, ()):
            del self._sent[nonce]
        if tracked is None:
            return  # never seen: no fills of ours, nothing to learn
        self.rows.remove(tracked.row)
        asset = tracked.msg.asset
        _count_down(self.tracked_assets, asset)
        _count_down(self.tracked_designs, tracked.msg.design)
        qty = sum(f.qty for f in msg.fills if f.keeper == self.keeper_id)
        cost = sum(f.cost for f in msg.fills if f.keeper == self.keeper_id)
        if qty or cost:
            self.wallet.cash -= cost
            self.book.spent += cost
            self.book.bought += qty
            self.book.won += 1
            self.inventory[asset] = self.inventory.get(asset, 0) + qty
            self._resell(asset, now)
        if self.keeper_id in msg.forfeited:  # a sealed bid committed but not revealed: its deposit went to the protocol
            lost = min(int(getattr(tracked.msg.terms, "deposit", 0)), self.wallet.cash)
            self.wallet.cash -= lost
            self.book.forfeits += lost
        if self._hears_results:
            view = result_view(msg, self.keeper_id, asset)
            self._guard(lambda: self.strategy.on_result(view, self.context(now, msg.auction)), "on_result", now)

    def on_rejection(self, msg: m.Rejection, now: float) -> None:
        if msg.keeper != self.keeper_id:
            return
        sent = self._unsend(msg.ref)
        self.log.info("action.rejected", ref=msg.ref, code=msg.code, reason=msg.text)
        if sent is None:
            return
        self.wallet.uncommit(sent.auction, sent.amount)
        tracked = self.auctions.get(sent.auction)
        if sent.kind == "commit" and tracked is not None and tracked.sealed is not None:
            tracked.sealed.failed = True
            tracked.plan += 1  # no reveal for a commit that did not land

    def on_ack(self, msg: m.Ack) -> None:
        """The house included our action. A take in a sale that hedges it inside (a perp design: the house pays
        the keeper its hedge in the same transaction, ``auction.book.perp_close.keeper_fill``) ties no money up
        past its inclusion, as a Drift liquidator derisks at once: release what it committed. Other takes hold
        their commitment until the result settles it."""
        if msg.keeper != self.keeper_id:
            return
        sent = self._sent.get(msg.ref)
        tracked = self.auctions.get(sent.auction) if sent is not None else None
        if sent is None or tracked is None or sent.kind != "take":
            return
        if not getattr(self.designs[tracked.msg.design], "resells", True):
            self._unsend(msg.ref)
            self.wallet.uncommit(sent.auction, sent.amount)

    def _unsend(self, nonce: int) -> Sent | None:
        """Forget the action sent with ``nonce`` (both records of it); what it was, or None if unknown."""
        sent = self._sent.pop(nonce, None)
        if sent is not None:
            self._sent_in[sent.auction].discard(nonce)
        return sent

    def credit_incentive(self, amount: int) -> None:
        """A keeper reward (Clipper tip + chip) the runtime saw paid to this keeper."""
        self._inputs += 1
        self.wallet.cash += amount
        self.book.incentives += amount

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
                return self._refused(action, budget)
            return units.cost(amount, action.max_price_q), {"amount": amount}
        if isinstance(action, m.Liquidate):
            repay = min(action.repay, budget)
            if repay <= 0:
                return self._refused(action, budget)
            return repay, {"repay": repay}
        if isinstance(action, m.EnglishBid):
            return (action.bid, {}) if action.bid <= budget else self._refused(action, budget)
        if isinstance(action, m.Commit):
            tracked = self.auctions[action.auction]
            need = tracked.sealed.need if tracked.sealed else action.deposit
            return (need, {}) if need <= budget else self._refused(action, budget)
        return 0, {}  # Reveal (already covered by its commit), Redo

    def _refused(self, action: m.Action, budget: int) -> tuple[int, None]:
        self.log.debug("limit.refused", action=m.tag_of(type(action)), budget=budget)
        return 0, None

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
        if self.abstains(ctx):
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

    def abstains(self, ctx: Context) -> bool:
        """``strategy.abstains(ctx)``, asked once per context object (an error counts, and means: ask)."""
        cached = self._abstain
        if cached is not None and cached[0] is ctx:
            return cached[1]
        try:
            answer = bool(self.strategy.abstains(ctx))
        except Exception as exc:
            self.failures.failed(self.log, ctx.now, "abstains", exc)
            answer = False
        self._abstain = (ctx, answer)
        return answer

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

    # -- money -------------------------------------------------------------------------------------------
    def priority_fee(self, decision: Take) -> int:
        """The priority fee to offer (wire: 1e-3 gwei): the strategy's, or the policy's default."""
        gwei = self.policy.default_priority_fee if decision.priority_fee is None else decision.priority_fee
        return round(min(max(gwei, 0.0), self.limits.max_priority_fee) * 1000)  # wire: 1e-3 gwei

    def room(self, auction: int, tag: str, fee: int, now: float) -> int:
        """What an action may commit in ``auction``: the budget less the gas it will burn."""
        design = self.auctions[auction].msg.design
        return self.wallet.budget(auction) - self.gas_units_cost(design, tag, fee, now)

    def _gas_cost(self, action: m.Action, design: str, now: float) -> int:
        return self.gas_units_cost(design, m.tag_of(type(action)), getattr(action, "priority_fee", 0), now)

    def gas_units_cost(self, design: str, tag: str, fee: int, now: float) -> int:
        """Numeraire units for the gas of one action: units * (base fee + tip) gwei * 1e-9 * native price."""
        _, base, native = self._quote(now)
        gwei = base + fee / 1000
        table = self.gas_units if self.gas_units is not None else self.designs[design].gas
        gas = table.get(tag, DEFAULT_GAS)
        return units.num(gas * gwei * 1e-9 * native)

    def _resell(self, asset: str, now: float) -> None:
        """Sell what was won into the market at once, as the house does for the ledger (clipperCall)."""
        qty = self.inventory.get(asset, 0)
        if not qty or self.market is None:
            return
        try:
            proceeds = units.num(self.market.proceeds(asset, units.col_f(qty), now))
        except Exception as exc:
            self.log.warning("resale.failed", asset=asset, error=str(exc))
            return
        self.inventory[asset] = 0
        self.wallet.cash += proceeds
        self.book.proceeds += proceeds

    def _seen(self, now: float) -> tuple[Any, ...]:
        """What a re-evaluation depends on: market prices of the assets on sale, oracle prices, gas."""
        assets = sorted(self.tracked_assets)
        return (
            tuple(self._market_price(a, now) for a in assets),
            tuple(sorted(self.oracle.items())),
            self.gas_price(now),
        )  # new auctions are evaluated when announced; closed ones need nothing

    def _market_price(self, asset: str, now: float, auction: int | None = None) -> float:
        if self.market is not None:
            lot_price = getattr(self.market, "lot_price", None)
            if auction is not None and lot_price is not None:
                return float(lot_price(asset, auction, now))
            return self.market.price(asset, now)
        if asset in self.oracle:
            return self.oracle[asset] / units.NUM
        raise KeyError(f"keeper {self.keeper_id} has no market price for {asset!r}")

    def _native_price(self, now: float) -> float:
        try:
            return self._market_price(self.policy.native_asset, now)
        except Exception:
            return self.policy.native_usd

    def _guard(self, fn: Any, hook: str, now: float) -> None:
        try:
            fn()
        except Exception as exc:
            self.failures.failed(self.log, now, hook, exc)


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


def _count_down(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
