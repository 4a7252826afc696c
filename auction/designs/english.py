"""english: MakerDAO Liquidations 1.2, a Flipper sale (dss src/flip.sol): tend, then dent.

The mechanism is ``auction.english.EnglishAuction``; this module binds it to the ledger (a standing bid
is held in escrow and released when outbid; a dent returns the lot decrease to the owner), deals or
restarts (``tick``) at the deadlines, and turns a strategy's ``Take`` into the agent's bids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from msgspec import Struct

from auction import units
from auction.designs.base import Design, Desk, Opening, Sale, Shown, sale_fields, seize_lot
from auction.english import WAD, EnglishAuction
from auction.fills import Fill
from auction.models.chain import GAS_TEND
from auction.params import Multiplier, NonNegative, Positive
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked
from keepers.api import Take


class EnglishParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.english]: MakerDAO Liquidations 1.2 Flipper (dss src/flip.sol): tend then dent."""

    beg: Multiplier = 1.03  # minimum bid increase
    ttl_s: Positive = 600.0  # bid lifetime
    tau_s: Positive = 21_600.0  # auction length
    chop: Multiplier = 1.13
    lump: NonNegative = 0.0  # tokens: Cat's lot size, a vault is sold in lots of at most this (0: one lot)


def cat_lots(qty: int, debt: int, p: EnglishParams) -> list[tuple[int, int]]:
    """The (lot, debt) of each Flipper sale one vault's liquidation opens: Cat ``bite`` (dss ``src/cat.sol``,
    Liquidations 1.0 as run in March 2020) takes ``lot = min(ink, lump)`` and ``art = min(art, lot * art / ink)``
    (rounded down) per bite, and keepers bite an unsafe vault again until it is empty."""
    lump = units.col(p.lump)
    out: list[tuple[int, int]] = []
    while qty > 0:
        lot = min(qty, lump) if lump > 0 else qty
        art = min(debt, lot * debt // qty)
        out.append((lot, art))
        qty, debt = qty - lot, debt - art
    return out


class EnglishTerms(m.WireTerms, tag="english", frozen=True, kw_only=True):
    """Flipper terms (dss flip.sol): ``beg`` minimum increase (1.05 = 5%), bid lifetime, auction end."""

    beg: m.Ratio
    ttl_ms: m.Amount
    tau_ms: m.Amount  # auction length; a restart (flip.sol tick) moves end_ms by this much
    end_ms: m.Amount


@dataclass(slots=True, kw_only=True)
class EnglishSale(Sale):
    mech: EnglishAuction
    params: EnglishParams

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if isinstance(action, m.EnglishBid):
            self.bid(action.keeper, action.lot, action.bid, now)
            return []
        return Sale.apply(self, action, now, desk)  # slots dataclasses have no zero-argument super()

    def bid(self, keeper: str, lot: int, bid: int, now: float) -> None:
        """Flipper tend while the bid is below the tab, dent once it reached it."""
        mech = self.mech
        saved = mech.snapshot()  # all or nothing: the ledger may still refuse the hold
        lot_before = mech.lot
        try:
            out = mech.dent(keeper, lot, bid, now) if mech.phase == "dent" else mech.tend(keeper, lot, bid, now)
            same = out.guy == keeper
            self.ledger.hold(self.id, keeper, bid - out.bid if same else bid)
        except Exception:
            mech.restore(saved)
            raise
        if out.guy and not same:
            self.ledger.release(self.id, out.guy)
        if mech.lot < lot_before:
            self.ledger.return_to_owner(self.id, lot_before - mech.lot)
        self.changed()

    def advance(self, now: float, oracle: float) -> bool:
        a = self.mech
        if a.can_deal(now):
            fill = a.deal(now)
            assert fill is not None
            self.ledger.fill(self.id, fill.who, fill.qty, fill.cost, from_hold=True)
            self.ledger.release(self.id, fill.who)
            self.fills.append(fill)
            self.finish(now)
            return True
        if a.tic == 0 and a.end < now:  # no bid before the end: flip.sol tick restarts it
            a.tick(now)
            self.resets += 1
            self.changed()
            return True
        return False

    def next_deadline(self) -> float:
        a = self.mech
        return (a.tic if a.tic else a.end) + 1e-6

    def show(self, now: float) -> Shown:
        a = self.mech
        terms = EnglishTerms(beg=a.beg, ttl_ms=units.ms(a.ttl), tau_ms=units.ms(self.params.tau_s),
                             end_ms=units.ms(a.end))
        return Shown(lot=a.lot, tab=a.tab, start=a.start, terms=terms, bid=a.bid, guy=a.guy, tic=a.tic)


def open_sale(o: Opening, p: EnglishParams) -> EnglishSale:
    tab = seize_lot(o, p.chop)
    mech = EnglishAuction(o.qty, tab, p.beg, p.ttl_s, p.tau_s, start=o.now, owner=o.account)
    return EnglishSale(**sale_fields(o), mech=mech, params=p)


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, EnglishTerms)
    out: dict[str, Any] = {"beg": t.beg, "ttl": t.ttl_ms / 1000, "tau": t.tau_ms / 1000, "end": t.end_ms / 1000}
    if isinstance(msg, m.State):
        out.update(bid=units.num_f(msg.bid), guy=msg.guy, tic=msg.tic_ms / 1000)
    else:
        out.update(bid=0.0, guy="", tic=0.0)
    return out


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Take`` is a proxy: tend the minimum increment (``beg``) above the standing bid up to
    ``max_price * lot``, opening at ``policy.english_open`` of it; dent by ``beg`` once the tab is reached.
    A ``Take`` with ``at_once`` bids ``max_price * lot`` (capped at the tab) at once, and dents straight to
    ``max_qty``: Maker's auction-keeper (auction_keeper/strategy.py FlipperStrategy.bid)."""
    msg = tracked.msg
    if isinstance(msg, m.State) and msg.guy == agent.keeper_id:
        agent.wallet.set_committed(msg.auction, max(msg.bid, agent.wallet.committed.get(msg.auction, 0)))
        return []  # winning: nothing to do
    decision = agent.decide(tracked, now)
    if decision is None:  # most decisions (priced out by gas, or no better bid): nothing else to read
        return agent.drop(tracked, None)
    if not isinstance(decision, Take) or not isinstance(msg.terms, EnglishTerms):
        return agent.drop(tracked, decision)
    bid, guy, tic_ms = (msg.bid, msg.guy, msg.tic_ms) if isinstance(msg, m.State) else (0, "", 0)
    agent.wallet.settle(msg.auction)  # outbid (or never bid): the house released any hold
    now_ms = units.ms(now)
    if msg.terms.end_ms <= now_ms or (tic_ms and tic_ms <= now_ms):
        return []
    beg_wad = round(msg.terms.beg * WAD)
    lot = msg.lot
    if bid < msg.tab:  # tend: a higher bid for the whole lot (flip.sol tend)
        if units.col(decision.max_qty) < lot:
            return agent.drop(tracked, decision)
        most = min(math.floor(decision.max_price * units.col_f(lot) * units.NUM + 1e-6), msg.tab)
        step = max(1, math.ceil(agent.policy.english_open * most)) if bid == 0 else -(-beg_wad * bid // WAD)
        new_bid = min(max(step, bid + 1), msg.tab)
        if new_bid > most:
            return agent.drop(tracked, None)
        if decision.at_once:
            new_bid = most  # at least the increment above: checked just above
    else:  # dent: the full tab for a smaller lot (flip.sol dent)
        want = units.col(decision.max_qty)
        if decision.at_once:  # the lot its price buys for the tab, in whole base units (rounded up: the tab is met)
            want = min(math.ceil(msg.tab * units.COL / (decision.max_price * units.NUM)), math.ceil(
                decision.max_qty * units.COL))
        lot = min(lot * WAD // beg_wad, lot - 1, want)
        if lot <= 0 or decision.max_price * units.col_f(lot) * units.NUM + 1e-6 < msg.tab:
            return agent.drop(tracked, None)
        new_bid = msg.tab
    if new_bid > agent.room(msg.auction, "english-bid", 0, now):
        return agent.drop(tracked, decision, limited=True)
    key = ("english", bid, guy, msg.lot, lot, new_bid)
    action = m.EnglishBid(auction=msg.auction, keeper=agent.keeper_id, lot=lot, bid=new_bid, nonce=0, deadline_ms=0)
    return agent.replan(tracked, key, [(now, action)])


def revenue_equivalence(bidders: int, value: float, oracle: float, params: Any) -> float:
    """(n-1)/(n+1) * V: the ascending auction stops at the second-highest value (Krishna, ch. 2)."""
    return (bidders - 1) / (bidders + 1) * value


DESIGN = Design(
    name="english", table="english", params=EnglishParams, terms=EnglishTerms, open=open_sale,
    gas={"english-bid": GAS_TEND}, plan=plan, view_terms=view_terms, theory=revenue_equivalence, split=cat_lots,
    summary="MakerDAO Liquidations 1.2 (Flipper): rising bids (tend), then a falling lot (dent)",
    relative_cost=4.0,  # measured 2-7x a Dutch run on the bundled scenarios: every increment is one action
)
