"""dutch, keeper side, in bulk: ``plan`` (``auction.designs.dutch``) for every tracked auction at once.

A keeper looks again at everything it follows whenever the market, the oracle or gas moved (``Policy.
reevaluate_s``). With a hundred thousand open auctions that look was a hundred thousand Python calls per
keeper per move; here it is a few numpy operations over columns, with exactly the same outcome as calling
``plan`` auction by auction in id order (``tests/test_dutch_batch.py`` checks them against each other):

- the strategy decides for all auctions in one ``Strategy.on_lots`` call (or abstains for the context);
- price, fee, budget and quantity are the same integer arithmetic, the budget test of ``fit_qty`` is done in
  floats where it is decided by a wide margin and in Python integers on the few rows where it is not;
- the crossing time is asked once per distinct (curve, top, level), the price at it once per distinct step
  count (``**`` in numpy may differ from Python's in the last bit, so powers come from Python);
- a row whose key is unchanged keeps its order; the others get a new plan and one ``TakeOrders`` row.

``plan_batch`` returns None whenever the columns cannot say what ``plan`` would (a state that is not open, a
strategy without ``on_lots``, amounts past 2**53, an asset mix): the agent then asks auction by auction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from auction import units
from auction.curves import Curve, LinearDecrease, StairstepExponentialDecrease, crossing, shared_curve
from broker import messages as m
from keepers.api import Lots, Take, Takes
from keepers.plan import TakeOrders, fit_qty
from keepers.rows import NONE, OBJECT, PACKED, Rows

if TYPE_CHECKING:
    from keepers.agent import KeeperAgent

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
EXACT = 2**53  # integers below this convert to float64 and back exactly
TAG = 2 + PACKED.index("dutch")
# Up to this many rows, a batch finds its distinct curve crossings and step powers with a dict, not numpy's
# sorting (whose fixed cost per call dominates a batch of a few dozen auctions: the may-2021 day's median is 38).
SMALL = 256


@dataclass(frozen=True, slots=True)
class Shape:
    """What the terms of many auctions share: the curve and the reset rules (tail, cusp)."""

    curve: Curve
    tail: float
    cusp: float


class Columns:
    """The fields of each tracked dutch auction that ``plan`` reads, refreshed when a row's message changes.

    ``terms`` is the design's terms type (``dutch.DutchTerms``, handed in: this module sits below ``dutch``).
    """

    def __init__(self, terms: type[Any]) -> None:
        self.terms = terms
        self.seen = np.zeros(0, dtype=np.int64)  # Rows.version when the row was last read
        self.ok = np.zeros(0, dtype=np.bool_)  # the row can be planned in bulk
        self.start_ms = np.zeros(0, dtype=np.int64)
        self.view_top_q = np.zeros(0, dtype=np.int64)  # the top the strategy's view shows
        self.key_top_q = np.zeros(0, dtype=np.int64)  # the top the plan's key records
        self.lot = np.zeros(0, dtype=np.int64)
        self.tab = np.zeros(0, dtype=np.int64)
        self.shape = np.zeros(0, dtype=np.int32)  # index into shapes
        self.shapes: list[Shape] = []
        self._shape_of: dict[tuple[Any, ...], int] = {}
        self._by_terms: dict[int, tuple[Any, int]] = {}

    def refresh(self, rows: Rows, live: I64) -> None:
        """Read the message of every live row whose version moved (one vectorized write per column)."""
        if self.seen.size < rows.ids.size:
            self._grow(rows.ids.size)
        version = rows.versions()
        stale = live[version[live] != self.seen[live]]
        if stale.size == 0:
            return
        read = [self._read(rows.owner[r].msg) for r in stale.tolist()]
        good = np.fromiter((x is not None for x in read), dtype=np.bool_, count=len(read))
        self.ok[stale] = good
        fields = [x for x in read if x is not None]
        if fields:
            table = np.array(fields, dtype=np.int64)  # one conversion, not one per column (every value < 2**53)
            at = stale[good]
            self.start_ms[at], self.view_top_q[at], self.key_top_q[at] = table[:, 0], table[:, 1], table[:, 2]
            self.lot[at], self.tab[at], self.shape[at] = table[:, 3], table[:, 4], table[:, 5]
        self.seen[stale] = version[stale]

    def _read(self, msg: m.Announce | m.State) -> tuple[int, int, int, int, int, int] | None:
        """(start_ms, view top, key top, lot, tab, shape) of a message ``plan`` can be batched for, else None."""
        t: Any = msg.terms
        if isinstance(msg, m.State):
            if msg.status != "open":
                return None
            state_top: int | None = msg.top_q
        else:
            state_top = None
        if not isinstance(t, self.terms) or msg.design != "dutch":
            return None
        top_q, lot, tab, start_ms = t.top_q, msg.lot, msg.tab, msg.start_ms
        if not (0 <= lot < EXACT and 0 <= tab < EXACT and 0 <= start_ms < EXACT and 0 <= top_q < EXACT
                and 0 <= (state_top or 0) < EXACT):
            return None
        return (start_ms, state_top if state_top else top_q,  # the view's top, as dutch.view_terms
                top_q if state_top is None else state_top,  # the key's top, as dutch.plan
                lot, tab, self._shape(t))

    def _shape(self, t: Any) -> int:
        """The index of the terms' curve and reset rules (terms objects repeat: looked up by identity first)."""
        seen = self._by_terms.get(id(t))
        if seen is not None and seen[0] is t:
            return seen[1]
        key = (t.curve, t.tau_ms, t.cut, t.step_ms, t.tail_ms, t.cusp)
        index = self._shape_of.get(key)
        if index is None:
            curve = shared_curve(t.curve, tau=t.tau_ms / 1000, cut=t.cut, step=t.step_ms / 1000)
            index = self._shape_of[key] = len(self.shapes)
            self.shapes.append(Shape(curve, t.tail_ms / 1000, t.cusp))
        if len(self._by_terms) >= 4096:
            self._by_terms.clear()
        self._by_terms[id(t)] = (t, index)  # holding t keeps its id from being reused while cached
        return index

    def _grow(self, n: int) -> None:
        for name in ("seen", "ok", "start_ms", "view_top_q", "key_top_q", "lot", "tab", "shape"):
            old = getattr(self, name)
            new = np.zeros(n, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, name, new)


def plan_batch(agent: KeeperAgent, now: float, terms: type[Any]) -> TakeOrders | None:
    """``plan`` for every auction ``agent`` tracks, in auction id order; None: ask auction by auction.
    ``terms``: the design's terms type."""
    rows = agent.rows
    live = rows.live()
    if live.size == 0 or len(agent.tracked_assets) != 1 or agent.prices_per_lot:
        return None
    cols = agent.planner_state.get("dutch")
    if cols is None:
        cols = agent.planner_state["dutch"] = Columns(terms)
    cols.refresh(rows, live)
    if not cols.ok[live].all():
        return None
    takes = _decide(agent, cols, live, now)
    if takes is None:
        return None
    take = ~np.isnan(takes.max_price)
    _drop(rows, live[~take])
    if not take.any():  # abstained on every row (a keeper out for the context): nothing more to size or time
        return _no_orders(agent.keeper_id)
    live, price_q, amount, fee = _size(agent, cols, live[take], takes, take, now)
    at, reset_first = _timing(cols, live, price_q, now)
    _drop(rows, live[reset_first])
    if reset_first.all():  # every take waits past a reset (a keeper that only takes near zero): no orders
        return _no_orders(agent.keeper_id)
    keep = ~reset_first
    live, at, price_q, amount = live[keep], at[keep], price_q[keep], amount[keep]
    key = np.stack([cols.start_ms[live], cols.key_top_q[live], cols.lot[live], cols.tab[live], price_q, amount,
                    np.full(live.size, fee, dtype=np.int64)], axis=1)
    changed = ~((rows.tag[live] == TAG) & (rows.keys[live] == key).all(axis=1))
    live, at, key = live[changed], at[changed], key[changed]
    _forget_objects(rows, live)
    rows.tag[live] = TAG
    rows.keys[live] = key
    rows.plan[live] += 1
    return TakeOrders(agent.keeper_id, live, rows.ids[live], at, rows.plan[live], key[:, 4], key[:, 5], key[:, 6])


def _no_orders(keeper: str) -> TakeOrders:
    none, never = np.zeros(0, dtype=np.int64), np.zeros(0)
    return TakeOrders(keeper, none, none, never, none, none, none, none)


def _decide(agent: KeeperAgent, cols: Columns, live: I64, now: float) -> Takes | None:
    """The strategy's decisions (``Strategy.on_lots``), checked as ``valid`` checks one decision."""
    rows = agent.rows
    asset = next(iter(agent.tracked_assets))
    if asset not in agent.oracle:
        return None  # each view would show its own auction's oracle price at kick
    ctx = agent.decision_context(now, int(rows.ids[live[0]]))
    if agent.abstains(ctx):
        agent.failures.decisions += int(live.size)
        return Takes.none(live.size)
    oracle_q = agent.oracle[asset]
    lots = Lots(design="dutch", asset=asset, ids=rows.ids[live], lot=cols.lot[live] / units.COL,
                tab=cols.tab[live] / units.NUM, start=cols.start_ms[live] / 1000, oracle_price=oracle_q / units.NUM)
    try:
        takes = agent.strategy.on_lots(lots, ctx)
    except Exception as exc:
        agent.log.warning("strategy.error", hook="on_lots", error=f"{type(exc).__name__}: {exc}")
        return None  # asked one by one instead, which counts each error where it happens
    if takes is None:
        return None
    price = np.asarray(takes.max_price, dtype=np.float64)
    qty = np.asarray(takes.max_qty, dtype=np.float64)
    if price.shape != (live.size,) or qty.shape != (live.size,):
        return None
    agent.failures.decisions += int(live.size)
    fee = takes.priority_fee
    take = ~np.isnan(price)
    good = np.isfinite(price) & np.isfinite(qty) & (price > 0) & (qty > 0)
    if fee is not None and not (isinstance(fee, int | float) and math.isfinite(fee) and fee >= 0):
        good[:] = False
    bad = take & ~good
    if bad.any():
        for i in np.flatnonzero(bad).tolist():  # counted and logged as one by one would (keepers.failures)
            decision = Take(float(price[i]), float(qty[i]), fee)
            agent.failures.failed(agent.log, now, "on_auction", decision=decision, auction=int(rows.ids[live[i]]))
        price = np.where(bad, np.nan, price)
    # Quantities are asked in base units (units.col); beyond float range that raised in plan: let it raise there.
    sound = take & good
    if not np.isfinite(qty[sound] * units.COL).all() or (price[sound] * units.NUM >= EXACT).any():
        return None
    return Takes(price, qty, fee)


def _size(agent: KeeperAgent, cols: Columns, live: I64, takes: Takes, take: NDArray[np.bool_],
          now: float) -> tuple[I64, I64, I64, int]:
    """Price, quantity within the budget and fee of each take, as ``plan`` sizes one; rows it would drop
    (no price, nothing affordable) are dropped here."""
    rows = agent.rows
    price_q = np.floor(takes.max_price[take] * units.NUM).astype(np.int64)
    gwei = agent.policy.default_priority_fee if takes.priority_fee is None else takes.priority_fee
    fee = round(min(max(gwei, 0.0), agent.limits.max_priority_fee) * 1000)
    room = _budgets(agent, live) - agent.gas_units_cost("dutch", "take", fee, now)
    lot = cols.lot[live]
    asked = np.rint(takes.max_qty[take] * units.COL)
    qty = np.where(asked < lot, asked, lot).astype(np.int64)
    amount = qty.copy()
    est = qty.astype(np.float64) * price_q / units.COL
    close = np.flatnonzero((price_q > 0) & ~(est * (1 + 1e-12) + 2 <= room))  # floats cannot vouch for these
    if close.size:
        amount[close] = _fit(qty[close], price_q[close], room[close])
    drop = (price_q <= 0) | (amount <= 0)
    if drop.any():
        limited = int(((amount <= 0) & (price_q > 0)).sum())
        agent.log.info("batch.dropped", limited=limited, ignored=int(drop.sum()) - limited)
        _drop(rows, live[drop])
        keep = ~drop
        live, price_q, amount = live[keep], price_q[keep], amount[keep]
    return live, price_q, amount, fee


def _fit(qty: I64, price_q: I64, budget: I64) -> I64:
    """``fit_qty`` row by row (price_q > 0), in int64 where no product can overflow, in Python ints elsewhere."""
    base = np.maximum(budget, 0)
    whole = base // price_q  # tokens the budget buys: qty_for = whole * COL + (base % price_q) * COL // price_q
    safe = (qty.astype(np.float64) * price_q < 9.0e18) & (price_q < 9.0e9) & (whole < 9.0e9)
    out = np.empty_like(qty)
    q, p, b, w = qty[safe], price_q[safe], budget[safe], whole[safe]
    cost = -((-q * p) // units.COL)  # units.cost: rounded up
    bought = w * units.COL + (np.maximum(b, 0) % p) * units.COL // p  # units.qty_for(max(b, 0), p)
    out[safe] = np.where(cost <= b, q, np.maximum(0, np.minimum(q, bought)))
    for i in np.flatnonzero(~safe).tolist():
        out[i] = fit_qty(int(qty[i]), int(price_q[i]), int(budget[i]))
    return out


def _budgets(agent: KeeperAgent, live: I64) -> I64:
    """``wallet.budget(auction)`` of each row."""
    wallet = agent.wallet
    cap = wallet.cap_per_auction
    base = min(wallet.cash - wallet.total_committed, wallet.cap_total - wallet.total_committed)
    if not (abs(cap) <= 2**62 and abs(base) <= 2**62):
        return np.array([wallet.budget(int(a)) for a in agent.rows.ids[live].tolist()], dtype=np.int64)
    per = np.full(live.size, cap, dtype=np.int64)
    if wallet.committed:
        position = np.full(agent.rows.ids.size, -1, dtype=np.int64)
        position[live] = np.arange(live.size)
        for auction, amount in wallet.committed.items():
            tracked = agent.auctions.get(auction)
            if tracked is not None and position[tracked.row] >= 0:
                per[position[tracked.row]] -= amount
    return np.maximum(np.minimum(per, base), 0)


def _timing(cols: Columns, live: I64, price_q: I64, now: float) -> tuple[F64, NDArray[np.bool_]]:
    """When each take is released (where the curve crosses its price) and whether a reset comes first."""
    start = cols.start_ms[live] / 1000
    top = cols.view_top_q[live] / units.NUM
    shape = cols.shape[live]
    small = live.size <= SMALL
    at = np.maximum(now, start + _crossings(cols, shape, cols.view_top_q[live], price_q, small))
    reset = ~np.isfinite(at)
    for s in (set(shape.tolist()) if small else np.unique(shape).tolist()):  # shapes' rows are disjoint
        rows = (shape == s) & ~reset
        sh = cols.shapes[s]
        elapsed = at[rows] - start[rows]
        price = _price(sh.curve, top[rows], np.maximum(elapsed, 0.0), small)
        reset[rows] = (elapsed > sh.tail) | (price < top[rows] * sh.cusp)
    return at, reset


def _crossings(cols: Columns, shape: NDArray[np.int32], top_q: I64, price_q: I64, small: bool) -> F64:
    """``crossing`` of each row, asked once per distinct (shape, top, price): by a dict on a small batch, where
    sorting the rows in numpy costs more than the look-ups; by one lexsort on a large one."""
    shapes, num = cols.shapes, units.NUM
    if small:
        seen: dict[tuple[int, int, int], float] = {}
        out = []
        for combo in zip(shape.tolist(), top_q.tolist(), price_q.tolist(), strict=True):
            c = seen.get(combo)
            if c is None:
                s, t, p = combo
                c = seen[combo] = crossing(shapes[s].curve, t / num, p / num)
            out.append(c)
        return np.array(out, dtype=np.float64)
    combos, inverse = _unique_rows(shape.astype(np.int64), top_q, price_q)
    cross = np.array([crossing(shapes[s].curve, t / num, p / num) for s, t, p in combos.tolist()], dtype=np.float64)
    return cross[inverse]


def _unique_rows(*columns: I64) -> tuple[I64, I64]:
    """The distinct rows of the int64 ``columns`` (an (m, k) array, sorted) and each row's index among them:
    ``np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)``, by one lexsort instead of sorting
    rows as opaque bytes."""
    n = columns[0].size
    order = np.lexsort(columns[::-1])  # the first column is the primary key
    stacked = np.stack([c[order] for c in columns], axis=1)
    new = np.ones(n, dtype=np.bool_)
    if n > 1:
        new[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return stacked[new], inverse


def _price(curve: Curve, top: F64, elapsed: F64, small: bool = False) -> F64:
    """``curve.price(top, elapsed)`` per row, with Python's own ``**`` for the powers (once per distinct step
    count: by a dict on a small batch, by ``np.unique`` on a large one)."""
    if isinstance(curve, StairstepExponentialDecrease):
        steps = np.floor_divide(elapsed, curve.step)
        if small:
            cut = curve.cut
            powers_of: dict[float, float] = {}
            powers = [powers_of[s] if s in powers_of else powers_of.setdefault(s, cut**s) for s in steps.tolist()]
            return top * np.array(powers, dtype=np.float64)
        distinct, inverse = np.unique(steps, return_inverse=True)
        powers_ = np.array([curve.cut**s for s in distinct.tolist()], dtype=np.float64)
        return top * powers_[inverse.ravel()]
    if isinstance(curve, LinearDecrease):
        with np.errstate(invalid="ignore"):
            return np.where(elapsed >= curve.tau, 0.0, top * (curve.tau - elapsed) / curve.tau)
    return np.array([curve.price(t, e) for t, e in zip(top.tolist(), elapsed.tolist(), strict=True)],
                    dtype=np.float64)


def _drop(rows: Rows, which: I64) -> None:
    """``agent.drop`` for each row: a row that had a plan loses it (its orders out are superseded)."""
    had = which[rows.tag[which] != NONE]
    if had.size:
        _forget_objects(rows, had)
        rows.tag[had] = NONE
        rows.plan[had] += 1


def _forget_objects(rows: Rows, which: I64) -> None:
    for r in which[rows.tag[which] == OBJECT].tolist():
        rows.objects[r] = None
