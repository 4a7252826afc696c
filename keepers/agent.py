"""The keeper agent: turns wire messages into strategy calls and strategy decisions into wire actions.

Plain synchronous code with the clock handed in, shared by both runtimes:

- feed it every message the keeper receives, ``on_message(msg, now)`` (or the ``on_*`` methods), and
  collect the ``Order``s it returns;
- when ``now >= order.not_before``, call ``release(order, now)``: it returns the action to send (nonce
  and deadline filled in, unsigned) or ``None`` when the plan was superseded or a limit forbids it.
  The simulator puts orders on its event queue; the live keeper sets a timer and signs what comes out.

Because both runtimes hand the agent the same message objects, its decisions are the same in both.

Per design (the strategy's decision -> actions):
- dutch, ``Take``: one ``Take`` released at the time the curve crosses ``max_price`` (``curves.crossing``),
  unless a reset is due before then (the state after the reset is planned afresh);
- sealed, ``Bid``: a ``Commit`` now (salt from the keeper's seeded rng) and the ``Reveal`` at the end of
  the commit phase; the agent keeps the salt;
- english, ``Take``: a proxy: tend the minimum increment (``beg``) above the standing bid up to
  ``max_price * lot``, opening at ``policy.english_open`` of it; dent by ``beg`` once the tab is reached;
- fixed, ``Take``: a ``Liquidate`` now, repaying what buys ``max_qty`` at ``oracle / (1 + bonus)``,
  if that is at most ``max_price``, with the strategy's priority fee.

A strategy that raises or returns garbage is logged and treated as ``None``; the keeper goes on.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import numpy as np
import structlog

from auction import units
from auction.sealed import commitment
from broker import messages as m
from keepers.api import AuctionView, Bid, Context, Strategy, Take, finite
from keepers.deadline import DeadlineExceeded, DeadlineStrategy, call_with_deadline
from keepers.views import auction_view, result_view
from keepers.wallet import Book, Limits, Wallet

__all__ = [
    "GAS_UNITS",
    "DeadlineExceeded",
    "DeadlineStrategy",
    "KeeperAgent",
    "Limits",
    "MarketView",
    "Order",
    "Policy",
    "call_with_deadline",
]

# Gas per action, as the house charges it (auction.house.GAS; a test keeps the two equal).
GAS_UNITS: dict[str, int] = {"take": 180_000, "redo": 120_000, "english-bid": 90_000, "commit": 60_000,
                             "reveal": 80_000, "liquidate": 300_000}
WAD = 10**18  # flip.sol ONE: beg is compared exactly on ints, as auction.english does
SALT_BYTES = 16


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


class KeeperAgent:
    """One keeper: a strategy, a wallet with limits, an inventory and a P&L book."""

    def __init__(
        self,
        keeper_id: str,
        strategy: Strategy,
        capital: int,
        *,
        limits: Limits | None = None,
        seed: int = 0,
        market: MarketView | None = None,
        policy: Policy | None = None,
        latency_s: float = 0.0,
        gas: Callable[[float], float] | None = None,
    ) -> None:
        """``capital`` in numeraire base units; ``latency_s`` is read by the simulator (decision -> send);
        ``gas(t)`` gives the base fee in gwei where the runtime does not deliver ``Block`` messages."""
        self.keeper_id, self.strategy, self.capital = keeper_id, strategy, capital
        self.latency_s = latency_s
        self._gas = gas
        self.limits = limits or Limits()
        self.policy = policy or Policy()
        self.market = market
        self.wallet = Wallet(capital, self.limits)
        self.book = Book()
        self.inventory: dict[str, int] = {}  # collateral base units by asset
        self.nonce = 0
        self.gas_gwei = 0.0
        self.errors = 0  # strategy exceptions and invalid decisions, each logged
        self.auctions: dict[int, Tracked] = {}
        self.oracle: dict[str, int] = {}  # latest oracle price_q by asset
        # Two streams from (run seed, keeper id): the strategy's draws (ctx.rng) never shift the salts.
        ours, theirs = np.random.SeedSequence([seed, zlib.crc32(keeper_id.encode())]).spawn(2)
        self.rng, self._salt_rng = np.random.default_rng(theirs), np.random.default_rng(ours)
        self._sent: dict[int, Sent] = {}
        self._settled: set[int] = set()
        self._last_eval = -math.inf
        self._last_seen: tuple[Any, ...] = ()
        self._batch_ctx: Context | None = None  # shared by a re-evaluation batch (nothing it holds moves within)
        self._log = structlog.get_logger().bind(keeper_id=keeper_id)

    # -- reading ----------------------------------------------------------------------------------------
    @property
    def balance(self) -> int:
        return self.wallet.cash

    @property
    def pnl(self) -> int:
        """Realized P&L so far (numeraire base units)."""
        return self.book.realized

    def gas_price(self, now: float) -> float:
        """The going base fee (gwei): from the runtime's gas source, else from the last Block."""
        return self._gas(now) if self._gas is not None else self.gas_gwei

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self._guard(lambda: self.strategy.on_start(self.context(now)), "on_start")

    def stop(self, now: float) -> None:
        self._guard(lambda: self.strategy.on_stop(self.context(now)), "on_stop")

    def context(self, now: float, auction: int | None = None) -> Context:
        """What the strategy sees at ``now``; ``auction``: the lot being decided (private values)."""
        return Context(
            keeper_id=self.keeper_id,
            now=now,
            price=lambda asset: self._market_price(asset, now, auction),
            balance=units.num_f(self.wallet.cash),
            inventory={a: units.col_f(q) for a, q in self.inventory.items()},
            gas_price=self.gas_price(now),
            rng=self.rng,
            log=self._log,
            native_price=self._native_price(now),
        )

    # -- inputs ------------------------------------------------------------------------------------------
    def on_message(self, msg: m.Message, now: float) -> list[Order]:
        """Dispatch any received message; returns the orders it gives rise to."""
        if isinstance(msg, m.Announce | m.State):
            return self.on_state(msg, now)
        if isinstance(msg, m.Result):
            self.on_result(msg, now)
        elif isinstance(msg, m.Rejection):
            self.on_rejection(msg, now)
        elif isinstance(msg, m.Block):
            return self.on_block(msg, now)
        elif isinstance(msg, m.OraclePrice):
            self.oracle[msg.asset] = msg.price_q
        return []

    def on_state(self, msg: m.Announce | m.State, now: float) -> list[Order]:
        if msg.auction in self._settled:
            return []
        tracked = self.auctions.get(msg.auction)
        oracle_q = msg.oracle_q if isinstance(msg, m.Announce) else self.oracle.get(msg.asset, 0)
        if tracked is None:
            tracked = self.auctions[msg.auction] = Tracked(msg, oracle_q)
        elif isinstance(msg, m.State) or isinstance(tracked.msg, m.Announce):
            if isinstance(msg, m.State) and isinstance(tracked.msg, m.State) and msg.seq < tracked.msg.seq:
                return []  # an older state delivered late
            tracked.msg = msg
        if isinstance(msg, m.Announce):
            tracked.oracle_q = self.oracle[msg.asset] = msg.oracle_q  # the oracle price at kick: the latest one
        return self._evaluate(tracked, now)

    def on_block(self, msg: m.Block, now: float) -> list[Order]:
        """New gas price; every ``policy.reevaluate_s`` the open auctions are looked at again."""
        self.gas_gwei = msg.gas_gwei_milli / 1000
        if now - self._last_eval < self.policy.reevaluate_s:
            return []
        self._last_eval = now
        seen = self._seen(now)
        if seen == self._last_seen:
            return []  # nothing a strategy reads has moved since the last look
        self._last_seen = seen
        if getattr(self.market, "lot_price", None) is None:  # one context serves the whole batch
            self._batch_ctx = self.context(now)
        try:
            return [o for a in sorted(self.auctions) for o in self._evaluate(self.auctions[a], now)]
        finally:
            self._batch_ctx = None

    def on_result(self, msg: m.Result, now: float) -> None:
        if msg.auction in self._settled:
            return  # a redelivered result
        self._settled.add(msg.auction)
        tracked = self.auctions.pop(msg.auction, None)
        self.wallet.settle(msg.auction)
        if tracked is None:
            return  # never seen: no fills of ours, nothing to learn
        asset = tracked.msg.asset
        view = result_view(msg, self.keeper_id, asset)
        qty = sum(f.qty for f in msg.fills if f.keeper == self.keeper_id)
        cost = sum(f.cost for f in msg.fills if f.keeper == self.keeper_id)
        if qty or cost:
            self.wallet.cash -= cost
            self.book.spent += cost
            self.book.bought += qty
            self.book.won += 1
            self.inventory[asset] = self.inventory.get(asset, 0) + qty
            self._resell(asset, now)
        if view.forfeited and isinstance(tracked.msg.terms, m.SealedTerms):
            lost = min(tracked.msg.terms.deposit, self.wallet.cash)
            self.wallet.cash -= lost
            self.book.forfeits += lost
        self._guard(lambda: self.strategy.on_result(view, self.context(now, msg.auction)), "on_result")

    def on_rejection(self, msg: m.Rejection, now: float) -> None:
        if msg.keeper != self.keeper_id:
            return
        sent = self._sent.pop(msg.ref, None)
        self._log.info("action.rejected", ref=msg.ref, code=msg.code, reason=msg.text)
        if sent is None:
            return
        self.wallet.uncommit(sent.auction, sent.amount)
        tracked = self.auctions.get(sent.auction)
        if sent.kind == "commit" and tracked is not None and tracked.sealed is not None:
            tracked.sealed.failed = True
            tracked.plan += 1  # no reveal for a commit that did not land

    def credit_incentive(self, amount: int) -> None:
        """A keeper reward (Clipper tip + chip) the runtime saw paid to this keeper."""
        self.wallet.cash += amount
        self.book.incentives += amount

    # -- output ------------------------------------------------------------------------------------------
    def release(self, order: Order, now: float) -> m.Action | None:
        """The action to send now for ``order`` (nonce and deadline set), or None if it no longer stands."""
        action = order.action
        tracked = self.auctions.get(action.auction)  # type: ignore[union-attr]
        if tracked is None or tracked.plan != order.plan:
            return None
        if self.gas_price(now) > self.policy.max_gas_gwei and not isinstance(action, m.Reveal):
            self._log.info("gas.too_high", gwei=self.gas_price(now), cap=self.policy.max_gas_gwei)
            tracked.key = None  # planned again at the next evaluation (a reveal goes anyway: it saves the deposit)
            return None
        gas = self._gas_cost(action, now)
        spend, fitted = self._fit_release(action, self.wallet.budget(tracked.msg.auction) - gas)
        if fitted is None:
            return None
        action = fitted
        changes: dict[str, Any] = {"nonce": self.next_nonce()}
        if hasattr(action, "deadline_ms"):
            changes["deadline_ms"] = units.ms(now + self.policy.action_ttl_s)
        action = msgspec.structs.replace(action, **changes)
        self._sent[action.nonce] = Sent(tracked.msg.auction, m.tag_of(type(action)), spend)
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

    def _fit_release(self, action: m.Action, budget: int) -> tuple[int, m.Action | None]:
        """Recheck an action against the budget at the moment it leaves; cut what can be cut."""
        if isinstance(action, m.Take):
            amount = _fit_qty(action.amount, action.max_price_q, budget)
            if amount <= 0:
                return self._refused(action, budget)
            return units.cost(amount, action.max_price_q), msgspec.structs.replace(action, amount=amount)
        if isinstance(action, m.Liquidate):
            repay = min(action.repay, budget)
            if repay <= 0:
                return self._refused(action, budget)
            return repay, msgspec.structs.replace(action, repay=repay)
        if isinstance(action, m.EnglishBid):
            return (action.bid, action) if action.bid <= budget else self._refused(action, budget)
        if isinstance(action, m.Commit):
            tracked = self.auctions[action.auction]
            need = tracked.sealed.need if tracked.sealed else action.deposit
            return (need, action) if need <= budget else self._refused(action, budget)
        return 0, action  # Reveal (already covered by its commit), Redo

    def _refused(self, action: m.Action, budget: int) -> tuple[int, None]:
        self._log.debug("limit.refused", action=m.tag_of(type(action)), budget=budget)
        return 0, None

    # -- deciding ----------------------------------------------------------------------------------------
    def _evaluate(self, tracked: Tracked, now: float) -> list[Order]:
        msg = tracked.msg
        status = msg.status if isinstance(msg, m.State) else "open"
        if status == "closed":
            tracked.plan += 1
            return []
        if status == "needs-redo":
            return self._redo(tracked, now)
        if msg.design.startswith("sealed"):
            return self._plan_sealed(tracked, now)
        if msg.design == "english" and isinstance(msg, m.State) and msg.guy == self.keeper_id:
            self.wallet.set_committed(msg.auction, max(msg.bid, self.wallet.committed.get(msg.auction, 0)))
            return []  # winning: nothing to do
        decision = self._decide(tracked, now)
        if msg.design == "dutch":
            return self._plan_dutch(tracked, decision, now)
        if msg.design == "english":
            return self._plan_english(tracked, decision, now)
        return self._plan_fixed(tracked, decision, now)

    def _decide(self, tracked: Tracked, now: float) -> Take | Bid | None:
        view = self._view(tracked)
        try:
            decision = self.strategy.on_auction(view, self._batch_ctx or self.context(now, view.id))
        except Exception as exc:
            self.errors += 1
            self._log.warning("strategy.error", auction=view.id, error=f"{type(exc).__name__}: {exc}")
            return None
        if decision is None or _valid(decision):
            return decision
        self.errors += 1
        self._log.warning("strategy.bad_decision", auction=view.id, decision=repr(decision))
        return None

    def _view(self, tracked: Tracked) -> AuctionView:
        oracle_q = self.oracle.get(tracked.msg.asset, tracked.oracle_q)
        cached = tracked.view
        if cached is not None and cached[0] is tracked.msg and cached[1] == oracle_q:
            return cached[2]
        view = auction_view(tracked.msg, oracle_q / units.NUM)
        tracked.view = (tracked.msg, oracle_q, view)
        return view

    def _plan_dutch(self, tracked: Tracked, decision: Take | Bid | None, now: float) -> list[Order]:
        msg = tracked.msg
        if not isinstance(decision, Take) or not isinstance(msg.terms, m.DutchTerms):
            return self._drop(tracked, decision)
        price_q = units.price_q(decision.max_price)
        fee = self._priority_fee(decision)
        room = self._room(msg.auction, "take", fee, now)
        amount = _fit_qty(min(units.col(decision.max_qty), msg.lot), price_q, room)
        if price_q <= 0 or amount <= 0:
            return self._drop(tracked, decision, limited=amount <= 0 < price_q)
        view = self._view(tracked)
        top, level = float(view.terms["top"]), price_q / units.NUM
        at = max(now, view.time_at_price(level))
        t = msg.terms
        if not math.isfinite(at) or at - view.start > t.tail_ms / 1000 or view.price_at(at) < top * t.cusp:
            return self._drop(tracked, None)  # a reset comes first: the state after it is planned anew
        top_q = msg.top_q if isinstance(msg, m.State) else t.top_q
        key = ("dutch", msg.start_ms, top_q, msg.lot, msg.tab, price_q, amount, fee)
        action = m.Take(auction=msg.auction, keeper=self.keeper_id, amount=amount, max_price_q=price_q,
                        nonce=0, deadline_ms=0, priority_fee=fee)
        return self._replan(tracked, key, [(at, action)])

    def _plan_english(self, tracked: Tracked, decision: Take | Bid | None, now: float) -> list[Order]:
        msg = tracked.msg
        if not isinstance(decision, Take) or not isinstance(msg.terms, m.EnglishTerms):
            return self._drop(tracked, decision)
        bid, guy, tic_ms = (msg.bid, msg.guy, msg.tic_ms) if isinstance(msg, m.State) else (0, "", 0)
        self.wallet.settle(msg.auction)  # outbid (or never bid): the house released any hold
        now_ms = units.ms(now)
        if msg.terms.end_ms <= now_ms or (tic_ms and tic_ms <= now_ms):
            return []
        beg_wad = round(msg.terms.beg * WAD)
        lot = msg.lot
        if bid < msg.tab:  # tend: a higher bid for the whole lot (flip.sol tend)
            if units.col(decision.max_qty) < lot:
                return self._drop(tracked, decision)
            most = min(math.floor(decision.max_price * units.col_f(lot) * units.NUM + 1e-6), msg.tab)
            step = max(1, math.ceil(self.policy.english_open * most)) if bid == 0 else -(-beg_wad * bid // WAD)
            new_bid = min(max(step, bid + 1), msg.tab)
            if new_bid > most:
                return self._drop(tracked, None)
        else:  # dent: the full tab for a smaller lot (flip.sol dent)
            lot = min(lot * WAD // beg_wad, lot - 1, units.col(decision.max_qty))
            if lot <= 0 or decision.max_price * units.col_f(lot) * units.NUM + 1e-6 < msg.tab:
                return self._drop(tracked, None)
            new_bid = msg.tab
        if new_bid > self._room(msg.auction, "english-bid", 0, now):
            return self._drop(tracked, decision, limited=True)
        key = ("english", bid, guy, msg.lot, lot, new_bid)
        action = m.EnglishBid(auction=msg.auction, keeper=self.keeper_id, lot=lot, bid=new_bid, nonce=0,
                              deadline_ms=0)
        return self._replan(tracked, key, [(now, action)])

    def _plan_fixed(self, tracked: Tracked, decision: Take | Bid | None, now: float) -> list[Order]:
        msg = tracked.msg
        oracle_q = self.oracle.get(msg.asset, tracked.oracle_q)
        if not isinstance(decision, Take) or not isinstance(msg.terms, m.FixedTerms) or oracle_q <= 0:
            return self._drop(tracked, decision)
        unit_q = oracle_q / (1 + msg.terms.bonus)  # Aave: collateral = repay / price * (1 + bonus)
        if unit_q > units.price_q(decision.max_price):
            return self._drop(tracked, None)  # not worth it at the strategy's price
        want = units.cost(min(units.col(decision.max_qty), msg.lot), math.ceil(unit_q))
        fee = self._priority_fee(decision)
        repay = min(want, msg.terms.max_repay, self._room(msg.auction, "liquidate", fee, now))
        if repay <= 0:
            return self._drop(tracked, decision, limited=msg.terms.max_repay > 0 and want > 0)
        t = msg.terms
        key = ("fixed", oracle_q, t.debt, t.collateral, t.health, t.max_repay, repay, fee)
        action = m.Liquidate(auction=msg.auction, keeper=self.keeper_id, repay=repay, priority_fee=fee, nonce=0,
                             deadline_ms=0)
        return self._replan(tracked, key, [(now, action)])

    def _plan_sealed(self, tracked: Tracked, now: float) -> list[Order]:
        msg = tracked.msg
        t = msg.terms
        if not isinstance(t, m.SealedTerms) or (tracked.sealed and tracked.sealed.round == t.commit_end_ms):
            return []  # committed (or failed) this round already: the reveal is scheduled
        phase = msg.phase if isinstance(msg, m.State) else "commit"
        if phase != "commit" or units.ms(now) >= t.commit_end_ms:
            return []
        decision = self._decide(tracked, now)
        if not isinstance(decision, Bid):
            return self._drop(tracked, decision)
        price_q = units.price_q(decision.price)
        qty = min(units.col(decision.qty), msg.lot)
        budget = self._room(msg.auction, "commit", 0, now) - self._gas_units_cost("reveal", 0, now)
        if units.cost(qty, price_q) > budget:
            qty = _fit_qty(qty, price_q, budget)
            self._log.info("limit.cut", auction=msg.auction, qty=qty)
        if price_q <= 0 or qty <= 0 or t.deposit > budget:
            return self._drop(tracked, decision, limited=price_q > 0)
        salt = self._salt_rng.bytes(SALT_BYTES)
        need = max(t.deposit, units.cost(qty, price_q))
        tracked.sealed = SealedPlan(t.commit_end_ms, price_q, qty, salt, need)
        digest = commitment(msg.auction, self.keeper_id, price_q, qty, salt).hex()
        commit = m.Commit(auction=msg.auction, keeper=self.keeper_id, digest=digest, deposit=t.deposit, nonce=0)
        reveal = m.Reveal(auction=msg.auction, keeper=self.keeper_id, price_q=price_q, qty=qty, salt=salt.hex(),
                          nonce=0)
        return self._replan(tracked, ("sealed", t.commit_end_ms), [(now, commit), (t.commit_end_ms / 1000, reveal)])

    def _redo(self, tracked: Tracked, now: float) -> list[Order]:
        msg = tracked.msg
        seq = msg.seq if isinstance(msg, m.State) else -1
        if not self.policy.redo or tracked.redo_seq == seq:
            return []
        tracked.redo_seq = seq
        return self._replan(tracked, ("redo", seq), [(now, m.Redo(auction=msg.auction, keeper=self.keeper_id,
                                                                    nonce=0, deadline_ms=0))])

    def _replan(self, tracked: Tracked, key: tuple[Any, ...], actions: list[tuple[float, m.Action]]) -> list[Order]:
        if key == tracked.key:
            return []  # same state, same decision: the orders already out still stand
        tracked.key = key
        tracked.plan += 1
        return [Order(at, action, tracked.plan) for at, action in actions]

    def _drop(self, tracked: Tracked, decision: Take | Bid | None, *, limited: bool = False) -> list[Order]:
        """No action for this state: supersede any scheduled order."""
        if decision is not None and limited:
            self._log.info("limit.refused", auction=tracked.msg.auction, decision=repr(decision))
        elif decision is not None:
            self._log.info("decision.ignored", auction=tracked.msg.auction, design=tracked.msg.design,
                           decision=type(decision).__name__)
        if tracked.key is not None:
            tracked.key = None
            tracked.plan += 1
        return []

    # -- money -------------------------------------------------------------------------------------------
    def _priority_fee(self, decision: Take) -> int:
        gwei = self.policy.default_priority_fee if decision.priority_fee is None else decision.priority_fee
        return round(min(max(gwei, 0.0), self.limits.max_priority_fee) * 1000)  # wire: 1e-3 gwei

    def _room(self, auction: int, tag: str, fee: int, now: float) -> int:
        """What an action may commit in ``auction``: the budget less the gas it will burn."""
        return self.wallet.budget(auction) - self._gas_units_cost(tag, fee, now)

    def _gas_cost(self, action: m.Action, now: float) -> int:
        return self._gas_units_cost(m.tag_of(type(action)), getattr(action, "priority_fee", 0), now)

    def _gas_units_cost(self, tag: str, fee: int, now: float) -> int:
        """Numeraire units for the gas of one action: units * (base fee + tip) gwei * 1e-9 * native price."""
        gwei = self.gas_price(now) + fee / 1000
        return units.num(GAS_UNITS.get(tag, 100_000) * gwei * 1e-9 * self._native_price(now))

    def _resell(self, asset: str, now: float) -> None:
        """Sell what was won into the market at once, as the house does for the ledger (clipperCall)."""
        qty = self.inventory.get(asset, 0)
        if not qty or self.market is None:
            return
        try:
            proceeds = units.num(self.market.proceeds(asset, units.col_f(qty), now))
        except Exception as exc:
            self._log.warning("resale.failed", asset=asset, error=str(exc))
            return
        self.inventory[asset] = 0
        self.wallet.cash += proceeds
        self.book.proceeds += proceeds

    def _seen(self, now: float) -> tuple[Any, ...]:
        """What a re-evaluation depends on: market prices of the assets on sale, oracle prices, gas."""
        assets = sorted({t.msg.asset for t in self.auctions.values()})
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

    def _guard(self, fn: Any, hook: str) -> None:
        try:
            fn()
        except Exception as exc:
            self.errors += 1
            self._log.warning("strategy.error", hook=hook, error=f"{type(exc).__name__}: {exc}")


def _valid(decision: object) -> bool:
    if isinstance(decision, Take):
        fee = decision.priority_fee
        return (finite(decision.max_price) and finite(decision.max_qty) and decision.max_price > 0
                and decision.max_qty > 0 and (fee is None or (finite(fee) and fee >= 0)))
    if isinstance(decision, Bid):
        return finite(decision.price) and finite(decision.qty) and decision.price > 0 and decision.qty > 0
    return False


def _fit_qty(qty: int, price_q: int, budget: int) -> int:
    """The largest quantity <= ``qty`` whose cost at ``price_q`` fits in ``budget``."""
    if price_q <= 0 or units.cost(qty, price_q) <= budget:
        return qty
    return max(0, min(qty, units.qty_for(max(budget, 0), price_q)))

