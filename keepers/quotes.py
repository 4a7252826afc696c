"""What a keeper sees when it decides: market and oracle prices, gas and the native token's price, each
computed once per instant, and the ``Context`` handed to its strategy; what an action's gas costs it.

A base class of ``keepers.agent.KeeperAgent``, which holds the state read here (set in its ``__init__``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from auction import units
from auction.models.chain import DEFAULT_GAS
from broker import messages as m
from keepers.api import Context, Strategy, Take
from keepers.failures import Failures
from keepers.plan import MarketView, Policy
from keepers.wallet import Limits, Wallet


class Quotes:
    """Prices, gas and the strategy's context, as one keeper sees them."""

    keeper_id: str
    designs: Mapping[str, Any]
    market: MarketView | None
    policy: Policy
    limits: Limits
    wallet: Wallet
    inventory: dict[str, int]
    oracle: dict[str, int]
    tracked_assets: dict[str, int]
    gas_units: dict[str, int] | None
    gas_gwei: float
    rng: np.random.Generator
    log: Any
    auctions: dict[int, Any]
    _gas: Callable[[float], float] | None
    _lot_price: Callable[[str, int, float], float] | None
    _quotes: tuple[float, float, float] | None
    _gas_cost_of: tuple[Any, ...] | None  # the last gas_units_cost and what it was made from
    _ctx: tuple[Any, Context] | None
    _abstain: tuple[Context, bool] | None
    _abstains_from: Callable[[str, Context], bool] | None  # strategy.abstains_from, None when the base's (False)
    _abstained_from: tuple[Context, str, bool] | None
    _inputs: int
    strategy: Strategy
    failures: Failures
    _inventory: tuple[tuple[tuple[str, int], ...], Mapping[str, float]]
    tracked_designs: dict[str, int]
    rows: Any  # keepers.rows.Rows
    drop: Callable[..., list[Any]]  # KeeperAgent.drop

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
        return self._shared_context(now)

    def _shared_context(self, now: float) -> Context:
        """``decision_context`` where the market shows no private value per lot: one for every auction."""
        key = (self._quote(now), self.wallet.cash, tuple(self.inventory.items()))
        cached = self._ctx
        if cached is not None and cached[0] == key:
            return cached[1]
        ctx = self.context(now)
        self._ctx = (key, ctx)
        return ctx

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

    def _sits_out(self, design: str, now: float) -> bool:
        """``decide``'s first question (``abstains``, once per context), else ``Strategy.abstains_from`` (an
        optional shortcut: an error in it means the look is made, and on_auction's errors are counted there)."""
        ctx = self._shared_context(now)
        if self.abstains(ctx):
            return True
        try:
            return bool(self.strategy.abstains_from(design, ctx))
        except Exception:
            return False

    def _idle_look(self, now: float) -> bool:
        """Do what a look would, when it cannot plan anything: every tracked auction is of one design that says
        which of them its plan asks the strategy about (``asks``: the others' plans return nothing and change
        nothing), and the strategy decides nothing about that design now (``abstains``, or ``abstains_from``:
        ``on_auction`` would return None and change nothing) where any is asked. Each closed auction's plan is
        then bumped (``_evaluate``), each asked one's decision counted and its plan dropped (what ``plan`` does
        given None); False, having changed nothing, when the look must be made. Fixed on Black Thursday: most
        looks are these, keepers priced out by gas; sealed: most of the rest, their bids committed already."""
        if len(self.tracked_designs) != 1 or self._lot_price is not None:
            return False
        name = next(iter(self.tracked_designs))
        asks = getattr(self.designs.get(name), "asks", False)
        if asks is False:
            return False
        auctions = self.auctions.values()
        open_ = [t for t in auctions if not isinstance(t.msg, m.State) or t.msg.status != "closed"]
        asked = open_ if asks is True else [t for t in open_ if asks(t, now)]
        if asked and not self._sits_out(name, now):
            return False
        if len(open_) < len(self.auctions):
            for tracked in auctions:
                if isinstance(tracked.msg, m.State) and tracked.msg.status == "closed":
                    tracked.plan += 1  # as _evaluate does for a closed one
        self.failures.decisions += len(asked)
        if self.rows.tag.any():  # some plan is out (a free row's tag is NONE): dropped as plan would
            for tracked in asked:
                self.drop(tracked, None)
        return True

    def abstains_from(self, design: str, ctx: Context) -> bool:
        """``decide``'s second question: ``strategy.abstains_from(design, ctx)``, asked once per context object and
        design; then ``on_auction`` would return None and change nothing, and no view is built for it (at 100k
        Black Thursday accounts most of the four smaller Maker keepers' decisions, priced out by gas). An error
        means: ask ``on_auction`` (whose errors are counted)."""
        ask = self._abstains_from
        if ask is None:
            return False
        cached = self._abstained_from
        if cached is not None and cached[0] is ctx and cached[1] == design:
            return cached[2]
        try:
            answer = bool(ask(design, ctx))
        except Exception:
            answer = False
        self._abstained_from = (ctx, design, answer)
        return answer

    def priority_fee(self, decision: Take) -> int:
        """The priority fee to offer (wire: 1e-3 gwei): the strategy's, or the policy's default."""
        gwei = self.policy.default_priority_fee if decision.priority_fee is None else decision.priority_fee
        return round(min(max(gwei, 0.0), self.limits.max_priority_fee) * 1000)  # wire: 1e-3 gwei

    def room(self, auction: int, tag: str, fee: int, now: float) -> int:
        """What an action may commit in ``auction``: the budget less the gas it will burn."""
        design = self.auctions[auction].msg.design
        return self.wallet.budget(auction) - self.gas_units_cost(design, tag, fee, now)

    def takes_refused(self, now: float) -> bool:
        """Whether ``release`` at ``now`` refuses every take order that still stands for want of budget: the
        keeper has nothing left to commit (what it sent waits for its results or rejections: then ``budget`` is
        0 in every auction, and no take of a positive amount at a positive price fits in 0 less gas), and gas is
        not above a ``max_gas_gwei`` ceiling (that check comes first in ``release``, with effects of its own).
        A runtime may then hand such orders to ``refuse_takes`` instead of building each action (the simulator
        does: at 100k accounts most of a well-funded keeper's releases are refused so)."""
        w = self.wallet
        if min(w.cash, w.cap_total) - w.total_committed > 0:
            return False
        _, gas, native = self._quote(now)
        # Gas and native price finite and >= 0: each gas cost is a number >= 0 (release would raise on infinity)
        return not gas > self.policy.max_gas_gwei and 0 <= gas < math.inf and 0 <= native < math.inf

    def refuse_takes(self, auctions: NDArray[np.int64], plans: NDArray[np.int64], fees: NDArray[np.int64],
                     now: float) -> None:
        """``release`` of each take order (auction, plan, priority fee), in turn, where each does nothing: its
        plan was replaced meanwhile, or ``takes_refused(now)`` and it has a positive amount and price and a fee
        >= 0. The same effects (one input each, the refusal of each order that still stands logged), without
        the actions that would be built only to be dropped."""
        self._inputs += len(auctions)
        enabled = getattr(self.log, "is_enabled_for", None)  # structlog's filtering loggers have it
        if enabled is not None and not enabled(logging.DEBUG):
            return  # nothing else to do: the budget logged is worked out only for a reader
        for auction, plan, fee in zip(auctions.tolist(), plans.tolist(), fees.tolist(), strict=True):
            tracked = self.auctions.get(auction)
            if tracked is not None and tracked.plan == plan:
                gas = self.gas_units_cost(tracked.msg.design, m.tag_of(m.Take), fee, now)
                self._refused(m.Take, self.wallet.budget(auction) - gas)

    def _refused(self, kind: type[m.Action], budget: int) -> tuple[int, None]:
        self.log.debug("limit.refused", action=m.tag_of(kind), budget=budget)
        return 0, None

    def _gas_cost(self, action: m.Action, design: str, now: float) -> int:
        return self.gas_units_cost(design, m.tag_of(type(action)), getattr(action, "priority_fee", 0), now)

    def gas_units_cost(self, design: str, tag: str, fee: int, now: float) -> int:
        """Numeraire units for the gas of one action: units * (base fee + tip) gwei * 1e-9 * native price."""
        quote = self._quote(now)
        table = self.gas_units if self.gas_units is not None else self.designs[design].gas
        last = self._gas_cost_of
        # The last answer again while its quote (the same tuple: same instant, base fee and native price), table,
        # tag and fee stand: a keeper prices each take of one instant alike (plan, then release).
        if last is not None and last[0] is quote and last[1] is table and last[2] == tag and last[3] == fee:
            return last[4]
        _, base, native = quote
        gwei = base + fee / 1000
        gas = table.get(tag, DEFAULT_GAS)
        cost = units.num(gas * gwei * 1e-9 * native)
        self._gas_cost_of = (quote, table, tag, fee, cost)
        return cost

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
