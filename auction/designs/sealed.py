"""sealed-first / sealed-second: commit-reveal sealed bids over the public bus, first- or second-price.

The mechanism is ``auction.sealed.SealedAuction`` (commitment digest, phases, clearing); this module binds
it to the ledger: a deposit is held with each commit and the bid escrowed at reveal (the deposit counts
toward the payment), deposits without a valid reveal are forfeited to the protocol, and a lot not sold in
full is offered again (same auction id, new windows) up to ``rounds`` times. Each phase change is a state
keepers see: the reveal phase opens at the first block at or after ``commit_end`` (PROTOCOL.md section 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from msgspec import Meta, Struct

from auction import units
from auction.designs.base import Design, Desk, Opening, Sale, Shown, sale_fields, seize_lot
from auction.fills import Fill
from auction.models.chain import GAS_COMMIT, GAS_REVEAL
from auction.params import Multiplier, NonNegative, Positive
from auction.sealed import SealedAuction, commitment
from broker import messages as m
from keepers.agent import KeeperAgent, Order, SealedPlan, Tracked, fit_qty
from keepers.api import Bid

SALT_BYTES = 16


class SealedParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.sealed]: commit-reveal sealed bids, first-price or second-price (Vickrey) clearing."""

    commit_s: Positive = 600.0
    reveal_s: Positive = 300.0
    reserve: Annotated[float, Meta(ge=0, le=2)] = 0.0  # reserve price, fraction of the oracle price
    deposit: NonNegative = 100.0  # USD held at commit, forfeited without a reveal
    chop: Multiplier = 1.13
    rounds: Annotated[int, Meta(ge=1, le=100)] = 3  # re-auctions of an unsold lot


class SealedTerms(m.WireTerms, tag="sealed", frozen=True, kw_only=True):
    """Commit-reveal terms: commits until ``commit_end_ms``, reveals until ``reveal_end_ms``."""

    commit_end_ms: m.Amount
    reveal_end_ms: m.Amount
    reserve_q: m.Amount
    deposit: m.Amount  # numeraire units escrowed with a commit, forfeited without a reveal
    second_price: bool


@dataclass(slots=True, kw_only=True)
class SealedSale(Sale):
    mech: SealedAuction
    params: SealedParams
    rounds: int = 1
    revealing: bool = False  # this round's reveal phase was opened (and shown to keepers)
    forfeited: list[str] = field(default_factory=list)  # keepers that lost a deposit, over all rounds

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if isinstance(action, m.Commit):
            self.commit(action.keeper, bytes.fromhex(action.digest), now)
        elif isinstance(action, m.Reveal):
            self.reveal(action.keeper, action.price_q, action.qty, bytes.fromhex(action.salt), now)
        else:
            return Sale.apply(self, action, now, desk)  # slots dataclasses have no zero-argument super()
        return []

    def commit(self, keeper: str, digest: bytes, now: float) -> None:
        deposit = self.mech.commit(keeper, digest, now)
        try:
            self.ledger.hold(self.id, keeper, deposit)
        except Exception:
            del self.mech.commits[keeper]  # all or nothing: the commit goes only with its deposit
            raise
        self.changed()

    def reveal(self, keeper: str, price_q: int, qty: int, salt: bytes, now: float) -> None:
        need = self.mech.reveal(keeper, price_q, qty, salt, now)
        try:
            self.ledger.hold(self.id, keeper, max(0, need - self.ledger.held(self.id, keeper)))
        except Exception:
            del self.mech.bids[keeper]  # all or nothing: the bid stands only with its escrow held
            raise
        self.changed()

    def advance(self, now: float, oracle: float) -> bool:
        phase = self.mech.phase(now)
        if phase == "reveal" and not self.revealing:  # commit_end passed: the reveal phase opens
            self.revealing = True
            self.changed()
            return True
        if phase != "settle":
            return False
        out = self.mech.settle(now)
        for fill in out.fills:
            self.ledger.fill(self.id, fill.who, fill.qty, fill.cost, from_hold=True)
            self.fills.append(fill)
        for who in out.forfeited:
            self.ledger.forfeit(self.id, who, min(self.mech.deposit, self.ledger.held(self.id, who)))
            self.forfeited.append(who)
        for who in self.mech.commits:
            self.ledger.release(self.id, who)
        if out.leftover_tab == 0 or out.leftover_lot == 0:
            self.finish(now, out.leftover_lot if out.leftover_tab == 0 else 0)
        elif self.rounds < self.params.rounds:
            self.rounds += 1
            self.resets += 1
            self.revealing = False
            self.mech = new_round(self.id, out.leftover_lot, out.leftover_tab, oracle, now, self.params,
                                  self.mech.second_price, self.account)
            self.changed()
        else:
            self.close(now)  # unsold: the lot stays with the protocol, the debt is uncovered
        return True

    def next_deadline(self) -> float:
        return self.mech.reveal_end if self.revealing else self.mech.commit_end

    def show(self, now: float) -> Shown:
        a = self.mech
        terms = SealedTerms(commit_end_ms=units.ms(a.commit_end), reveal_end_ms=units.ms(a.reveal_end),
                            reserve_q=a.reserve_q, deposit=a.deposit, second_price=a.second_price)
        phase = a.phase(now)
        wire_phase = phase if phase in ("commit", "reveal") else ("closed" if phase in ("settle", "done") else "")
        return Shown(lot=a.lot, tab=a.tab, start=a.start, terms=terms, phase=wire_phase)

    def result_extra(self) -> dict[str, Any]:
        if self.mech.outcome is None:
            return {}
        return {"clearing_q": self.mech.outcome.clearing_q or 0, "forfeited": self.forfeited[-m.MAX_FILLS:]}


def new_round(sale_id: int, lot: int, tab: int, oracle: float, now: float, p: SealedParams, second: bool,
              owner: str) -> SealedAuction:
    return SealedAuction(
        lot=lot, tab=tab, reserve_q=units.price_q(oracle * p.reserve), commit_end=now + p.commit_s,
        reveal_end=now + p.commit_s + p.reveal_s, deposit=units.num(p.deposit), second_price=second,
        start=now, owner=owner, auction_id=sale_id,
    )


def open_sale(o: Opening, p: SealedParams, *, second: bool) -> SealedSale:
    tab = seize_lot(o, p.chop)
    return SealedSale(**sale_fields(o), mech=new_round(o.id, o.qty, tab, o.oracle, o.now, p, second, o.account),
                      params=p)


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, SealedTerms)
    out: dict[str, Any] = {"commit_end": t.commit_end_ms / 1000, "reveal_end": t.reveal_end_ms / 1000,
                           "reserve": t.reserve_q / units.NUM, "deposit": units.num_f(t.deposit),
                           "second_price": t.second_price}
    if isinstance(msg, m.State) and msg.phase:
        out["phase"] = msg.phase
    return out


def asks(tracked: Tracked, now: float) -> bool:
    """Whether ``plan`` asks the strategy (``Design.asks``): not once this round is committed (or failed: the
    reveal is scheduled), nor outside its commit phase."""
    msg = tracked.msg
    t = msg.terms
    if not isinstance(t, SealedTerms) or (tracked.sealed and tracked.sealed.round == t.commit_end_ms):
        return False
    phase = msg.phase if isinstance(msg, m.State) else "commit"
    return phase == "commit" and units.ms(now) < t.commit_end_ms


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Bid`` becomes a ``Commit`` now (salt from the keeper's seeded rng) and the ``Reveal`` at the end of
    the commit phase; the agent keeps the salt. One commit per round."""
    if not asks(tracked, now):
        return []
    msg = tracked.msg
    t = msg.terms
    assert isinstance(t, SealedTerms)
    decision = agent.decide(tracked, now)
    if not isinstance(decision, Bid):
        return agent.drop(tracked, decision)
    price_q = units.price_q(decision.price)
    qty = min(units.col(decision.qty), msg.lot)
    budget = pair_room(agent, msg.auction, now)
    if units.cost(qty, price_q) > budget:
        qty = fit_qty(qty, price_q, budget)
        agent.log.info("limit.cut", auction=msg.auction, qty=qty)
    if price_q <= 0 or qty <= 0 or t.deposit > budget:
        return agent.drop(tracked, decision, limited=price_q > 0)
    need = max(t.deposit, units.cost(qty, price_q))
    return commit_then_reveal(agent, tracked, now, ("sealed", t.commit_end_ms), t.commit_end_ms, t.deposit,
                              price_q, qty, need)


def pair_room(agent: KeeperAgent, auction: int, now: float) -> int:
    """What a sealed pair's bid may cost: the budget less the commit's gas and the reveal's."""
    return agent.room(auction, "commit", 0, now) - reveal_gas(agent, auction, now)


def reveal_gas(agent: KeeperAgent, auction: int, now: float) -> int:
    return agent.gas_units_cost(agent.auctions[auction].msg.design, "reveal", 0, now)


def commit_then_reveal(agent: KeeperAgent, tracked: Tracked, now: float, key: tuple[Any, ...], commit_end_ms: int,
                       deposit: int, price_q: int, qty: int, need: int) -> list[Order]:
    """The ``Commit`` now (salt from the keeper's seeded rng, kept by the agent) and its ``Reveal`` when the
    commit phase ends; ``need`` is what the bid could cost (at least the deposit). The agent holds ``need`` and
    the reveal's gas for the pair: that gas is paid only when the reveal leaves, and held apart it went to other
    commits meanwhile, so a bid sized to the whole budget (``pair_room``) was short of exactly that gas at reveal
    (rejected, the deposit forfeited)."""
    auction = tracked.msg.auction
    salt = agent.salt(SALT_BYTES)
    tracked.sealed = SealedPlan(commit_end_ms, price_q, qty, salt, need + reveal_gas(agent, auction, now))
    digest = commitment(auction, agent.keeper_id, price_q, qty, salt).hex()
    commit = m.Commit(auction=auction, keeper=agent.keeper_id, digest=digest, deposit=deposit, nonce=0)
    reveal = m.Reveal(auction=auction, keeper=agent.keeper_id, price_q=price_q, qty=qty, salt=salt.hex(), nonce=0)
    return agent.replan(tracked, key, [(now, commit), (commit_end_ms / 1000, reveal)])


def revenue_equivalence(bidders: int, value: float, oracle: float, params: Any) -> float:
    """(n-1)/(n+1) * V for first- and second-price alike (revenue equivalence; Myerson 1981)."""
    return (bidders - 1) / (bidders + 1) * value


GAS = {"commit": GAS_COMMIT, "reveal": GAS_REVEAL}
FIRST = Design(
    name="sealed-first", table="sealed", params=SealedParams, terms=SealedTerms,
    open=partial(open_sale, second=False), gas=GAS, plan=plan, view_terms=view_terms, theory=revenue_equivalence,
    asks=asks,
    summary="commit-reveal sealed bids, each winner pays its bid",
)
SECOND = Design(
    name="sealed-second", table="sealed", params=SealedParams, terms=SealedTerms,
    open=partial(open_sale, second=True), gas=GAS, plan=plan, view_terms=view_terms, theory=revenue_equivalence,
    asks=asks,
    summary="commit-reveal sealed bids, one uniform price: the highest losing bid (Vickrey for one unit)",
)
