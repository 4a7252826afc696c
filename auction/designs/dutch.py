"""dutch: MakerDAO Liquidations 2.0, a Clipper sale (dss src/clip.sol, src/abaci.sol).

The mechanism itself is ``auction.dutch.DutchAuction``; this module binds it to the ledger (take, redo,
the kicker's reset at the first block it is due), says what keepers see and how the agent turns a
strategy's ``Take`` into a take timed where the curve crosses the strategy's price.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from auction import units
from auction.curves import crossing, shared_curve
from auction.designs import dutch_batch
from auction.designs.base import KICKER, Design, Desk, Opening, Sale, Shown, sale_fields, seize_lot
from auction.dutch import DutchAuction
from auction.fills import Fill
from auction.models.chain import GAS_REDO, GAS_TAKE
from auction.params import Fraction, Multiplier, NonNegative, Positive, Share
from broker import messages as m
from keepers.agent import KeeperAgent, Order, TakeOrders, Tracked, fit_qty
from keepers.api import Take


class DutchParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.dutch]: MakerDAO Liquidations 2.0 Clipper + abaci (dss src/clip.sol, src/abaci.sol)."""

    buf: Positive = 1.30  # top = oracle * buf
    curve: Literal["linear", "stairstep", "exponential"] = "stairstep"
    tau: Positive = 3600.0  # linear: seconds to zero
    cut: Share = 0.99  # stairstep: per step; exponential: per second
    step: Positive = 90.0  # stairstep: seconds per step
    tail: Positive = 8400.0  # seconds before a reset is due
    cusp: Annotated[float, Meta(gt=0, lt=1)] = 0.40  # price/top below which a reset is due
    chop: Multiplier = 1.13  # liquidation penalty multiplier on the tab
    tip: NonNegative = 300.0  # flat keeper incentive (USD) on kick and redo
    chip: Fraction = 0.001  # keeper incentive, fraction of the tab
    chost: NonNegative = 0.0  # USD: smallest tab a partial take may leave (dust * chop)


class DutchTerms(m.WireTerms, tag="dutch", frozen=True, kw_only=True):
    """Clipper terms (dss clip.sol + abaci.sol); the keeper computes the price locally from these.

    price(t) = top * curve(elapsed), elapsed = (t - start_ms) / 1000 seconds, price_q = floor(price).
    """

    top_q: m.Amount
    curve: Literal["linear", "stairstep", "exponential"]
    tau_ms: m.Amount = 0  # linear: time to reach 0
    cut: m.Ratio = 0.0  # stairstep / exponential: factor per step / per second, in (0, 1]
    step_ms: m.Amount = 0  # stairstep: length of one step
    tail_ms: m.Amount  # reset due when elapsed > tail (clip.sol status)
    cusp: m.Ratio  # reset due when price / top < cusp (clip.sol status)
    chost: m.Amount  # numeraire units: smallest tab a partial take may leave (clip.sol chost)
    tip: m.Amount = 0  # numeraire units: flat redo incentive (clip.sol tip)
    chip: m.Ratio = 0.0  # fraction of tab paid as redo incentive (clip.sol chip)


@dataclass(slots=True, kw_only=True)
class DutchSale(Sale):
    mech: DutchAuction
    params: DutchParams
    shown_terms: DutchTerms | None = None  # the terms last shown: they change only when a redo moves the top

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if isinstance(action, m.Take):
            return [self.take(action.keeper, action.amount, action.max_price_q, now)]
        if isinstance(action, m.Redo):
            self.redo(action.keeper, now, desk.oracle_of(self.asset))
            return []
        return Sale.apply(self, action, now, desk)  # slots dataclasses have no zero-argument super()

    def take(self, keeper: str, amount: int, max_price_q: int, now: float) -> Fill:
        mech = self.mech
        saved = mech.snapshot()  # all or nothing: the ledger may still refuse the fill
        try:
            fill = mech.take(amount, max_price_q, now, keeper)
            self.ledger.fill(self.id, keeper, fill.qty, fill.cost)
        except Exception:
            mech.restore(saved)
            raise
        self.fills.append(fill)
        if mech.done:
            self.finish(now, mech.returned)
        else:
            self.changed()
        return fill

    def redo(self, keeper: str, now: float, oracle: float) -> int:
        mech = self.mech
        saved = mech.snapshot()
        try:
            coin = mech.redo(now, quantized(oracle * self.params.buf), feed_price=oracle)
        except Exception:
            mech.restore(saved)
            raise
        self.resets += 1
        self.ledger.incentive(keeper, coin)
        self.changed()
        return coin

    def advance(self, now: float, oracle: float) -> bool:
        if self.mech.needs_redo(now):  # a keeper bot resets it at the first block it can (clip.sol redo)
            self.redo(KICKER, now, oracle)
            return True
        return False

    def next_deadline(self) -> float:
        d = self.mech
        by_cusp = d.start + crossing(d.curve, d.top, d.top * d.cusp)
        # needs_redo is strict (elapsed > tail, price/top < cusp): the first block after is the first chance.
        return min(d.start + d.tail + 1e-6, by_cusp + 1e-6)

    def show(self, now: float) -> Shown:
        d = self.mech
        top_q = units.price_q(d.top)
        terms = self.shown_terms
        if terms is None or terms.top_q != top_q:
            terms = self.shown_terms = shown_terms(self.params, top_q, d.tail, d.cusp, d.chost)
        return Shown(lot=d.lot, tab=d.tab, start=d.start, terms=terms, top_q=top_q)


_TERMS: dict[tuple[int, int, float, float, int], tuple[DutchParams, DutchTerms]] = {}  # see shown_terms
_TERMS_CAP = 4096


def shown_terms(p: DutchParams, top_q: int, tail: float, cusp: float, chost: int) -> DutchTerms:
    """The terms a sale shows at ``top_q``: one object for every sale with the same parameters and top (those
    kicked or reset in one block at one oracle price share it), built once. Keyed by the parameters' identity
    (held in the entry, so the id cannot be reused meanwhile); the oldest entries go first past the cap."""
    key = (id(p), top_q, tail, cusp, chost)
    hit = _TERMS.get(key)
    if hit is not None and hit[0] is p:
        return hit[1]
    terms = DutchTerms(top_q=top_q, curve=p.curve, tau_ms=units.ms(p.tau), cut=p.cut, step_ms=units.ms(p.step),
                       tail_ms=units.ms(tail), cusp=cusp, chost=chost, tip=units.num(p.tip), chip=p.chip)
    if len(_TERMS) >= _TERMS_CAP:
        _TERMS.clear()  # a run meets a few hundred tops; a new run's parameters start afresh
    _TERMS[key] = (p, terms)
    return terms


def open_sale(o: Opening, p: DutchParams) -> DutchSale:
    tab = seize_lot(o, p.chop)
    curve = shared_curve(p.curve, tau=p.tau, cut=p.cut, step=p.step)
    mech = DutchAuction(lot=o.qty, tab=tab, top=quantized(o.oracle * p.buf), curve=curve, tail=p.tail, cusp=p.cusp,
                        chost=units.num(p.chost), start=o.now, owner=o.account, tip=units.num(p.tip), chip=p.chip)
    o.desk.ledger.incentive(KICKER, mech.kick_incentive())  # clip.sol kick pays the barker tip + chip * tab
    return DutchSale(**sale_fields(o), mech=mech, params=p)


def quantized(price: float) -> float:
    """A top price the wire carries exactly (``top_q``), so keepers compute the very same curve."""
    return units.price_q(price) / units.NUM


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, DutchTerms)
    top_q = msg.top_q if isinstance(msg, m.State) and msg.top_q else t.top_q  # a redo moves the top
    return {"top": top_q / units.NUM, "curve": t.curve, "tau": t.tau_ms / 1000, "cut": t.cut,
            "step": t.step_ms / 1000, "tail": t.tail_ms / 1000, "cusp": t.cusp, "chost": units.num_f(t.chost),
            "tip": units.num_f(t.tip), "chip": t.chip}


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Take`` becomes one take released when the curve reaches ``max_price`` (``curves.crossing``),
    unless a reset is due before then (the state after the reset is planned afresh)."""
    decision = agent.decide(tracked, now)
    msg = tracked.msg
    if not isinstance(decision, Take) or not isinstance(msg.terms, DutchTerms):
        return agent.drop(tracked, decision)
    price_q = units.price_q(decision.max_price)
    fee = agent.priority_fee(decision)
    room = agent.room(msg.auction, "take", fee, now)
    amount = fit_qty(min(units.col(decision.max_qty), msg.lot), price_q, room)
    if price_q <= 0 or amount <= 0:
        return agent.drop(tracked, decision, limited=amount <= 0 < price_q)
    view = agent.view(tracked)
    t = msg.terms
    at = release_time(t.curve, t.tau_ms, t.cut, t.step_ms, t.tail_ms, t.cusp, float(view.terms["top"]), view.start,
                      price_q / units.NUM, now)
    if at is None:
        return agent.drop(tracked, None)  # a reset comes first: the state after it is planned anew
    top_q = msg.top_q if isinstance(msg, m.State) else t.top_q
    key = ("dutch", msg.start_ms, top_q, msg.lot, msg.tab, price_q, amount, fee)
    if key == tracked.key:
        return []  # the order already out stands (agent.replan would say the same, after building the take)
    action = m.Take(auction=msg.auction, keeper=agent.keeper_id, amount=amount, max_price_q=price_q,
                    nonce=0, deadline_ms=0, priority_fee=fee)
    return agent.replan(tracked, key, [(at, action)])


@functools.lru_cache(maxsize=4096)
def release_time(kind: str, tau_ms: int, cut: float, step_ms: int, tail_ms: int, cusp: float, top: float,
                 start: float, level: float, now: float) -> float | None:
    """When a take at ``level`` goes (``AuctionView.time_at_price``, not before ``now``), or None when a reset
    comes first (clip.sol status: elapsed > tail or price / top < cusp); the curve and reset rules are the
    terms' (``DutchTerms``, as ``AuctionView.curve`` reads them). Remembered: the auctions kicked or reset in
    one block share their terms, start and top, and a keeper plans them all at one instant."""
    curve = shared_curve(kind, tau=tau_ms / 1000, cut=cut, step=step_ms / 1000)
    tail = tail_ms / 1000
    at = max(now, start + crossing(curve, top, level))
    if not math.isfinite(at) or at - start > tail or curve.price(top, max(at - start, 0.0)) < top * cusp:
        return None
    return at


def plan_batch(agent: KeeperAgent, now: float) -> TakeOrders | None:
    """``plan`` for every auction the agent tracks at once (``auction.designs.dutch_batch``)."""
    return dutch_batch.plan_batch(agent, now, DutchTerms)


def revenue_equivalence(bidders: int, value: float, oracle: float, params: Any) -> float:
    """(n-1)/(n+1) * V: the expected second-highest of n values U[0, V] (Krishna, Auction Theory, ch. 2-3)."""
    return (bidders - 1) / (bidders + 1) * value


DESIGN = Design(
    name="dutch", table="dutch", params=DutchParams, terms=DutchTerms, open=open_sale,
    gas={"take": GAS_TAKE, "redo": GAS_REDO}, plan=plan, view_terms=view_terms, theory=revenue_equivalence,
    plan_batch=plan_batch, asks=True,  # plan asks about each open one first (given None, it only drops)
    summary="MakerDAO Liquidations 2.0 (Clipper): a falling price, partial takes, resets",
)
