"""fixed: fixed-penalty liquidation, Aave v3 ``liquidationCall`` (aave-v3-core LiquidationLogic.sol).

No auction: while an account is unhealthy, any keeper may repay up to the close factor of its debt and
seize collateral worth ``repay * (1 + bonus)`` at the oracle price (``auction.fixed.FixedLiquidation``).
The account keeps its collateral until each liquidation, so the sale (an open opportunity) rebuilds its
position from the account before every liquidation and at every oracle update, and closes once the
account is healthy again or has nothing left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from msgspec import Meta, Struct

from auction import units
from auction.designs.base import Design, Desk, Opening, Sale, Shown, sale_fields
from auction.errors import Rejected
from auction.fills import Fill
from auction.fixed import FixedLiquidation
from auction.models.chain import GAS_LIQUIDATION_CALL
from auction.params import Fraction, Share
from broker import messages as m
from keepers.agent import KeeperAgent, Order, Tracked
from keepers.api import Take


class FixedParams(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[designs.fixed]: fixed-bonus liquidation (Aave v3 LiquidationLogic.sol)."""

    bonus: Fraction = 0.05  # collateral seized at oracle * (1 + bonus)
    close_factor: Share = 0.5  # DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5e4
    full_close_health: Share = 0.95  # CLOSE_FACTOR_HF_THRESHOLD = 0.95e18
    protocol_fee: Annotated[float, Meta(ge=0, le=1)] = 0.0  # share of the bonus to the protocol


class FixedTerms(m.WireTerms, tag="fixed", frozen=True, kw_only=True):
    """Fixed-penalty liquidation terms (Aave v3 LiquidationLogic.sol)."""

    debt: m.Amount  # numeraire units owed by the account
    collateral: m.Amount  # collateral units held by the account
    close_factor: m.Ratio  # share of the debt one liquidation may repay (0.5, or 1.0 below health 0.95)
    bonus: m.Ratio  # liquidation bonus: collateral seized at oracle price * (1 + bonus)
    health: m.Ratio  # health factor at announce time
    max_repay: m.Amount  # numeraire units: close_factor applied to debt, the most one Liquidate may repay


@dataclass(slots=True, kw_only=True)
class FixedSale(Sale):
    """An open fixed-penalty liquidation opportunity on asset ``k`` of account ``i``."""

    i: int
    k: int
    params: FixedParams
    mech: FixedLiquidation | None = None

    @property
    def position(self) -> FixedLiquidation:
        assert self.mech is not None
        return self.mech

    def apply(self, action: m.Action, now: float, desk: Desk) -> list[Fill]:
        if isinstance(action, m.Liquidate):
            return [self.liquidate(action.keeper, action.repay, now, desk)]
        return Sale.apply(self, action, now, desk)  # slots dataclasses have no zero-argument super()

    def liquidate(self, keeper: str, repay: int, now: float, desk: Desk) -> Fill:
        self.mech = position_of(desk, self.i, self.k, self.params)
        fill = self.mech.liquidate(keeper, repay, now)
        if self.ledger.escrow(keeper) < fill.cost:
            raise Rejected("insufficient-escrow", f"keeper {keeper} cannot repay {fill.cost}")
        seized = fill.qty + fill.protocol_fee_qty
        self._confiscate(desk, seized, fill.cost)
        self.ledger.fill(self.id, keeper, fill.qty, fill.cost)
        if fill.protocol_fee_qty:
            self.ledger.fee(self.id, fill.protocol_fee_qty)
        plain = Fill(keeper, fill.qty, fill.cost, now)
        self.fills.append(plain)
        self.seq += 1
        desk.reindex(self.i)
        if desk.healthy(self.i) or desk.accounts.qty[self.i, self.k] == 0:
            self._close(now, desk)
        else:
            self.mech = position_of(desk, self.i, self.k, self.params)
        return plain

    def on_oracle(self, now: float, desk: Desk) -> bool:
        if desk.healthy(self.i):
            self._close(now, desk)
            desk.reindex(self.i)
        else:
            self.mech = position_of(desk, self.i, self.k, self.params)
            self.seq += 1
        return True

    def end(self, now: float, desk: Desk) -> None:
        """An opportunity whose account is insolvent at the market price is written off; a solvent one
        simply stays with its borrower."""
        accounts = desk.accounts
        value = float(accounts.qty[self.i, self.k]) / units.COL * desk.market_price(self.asset, now)
        if value < accounts.debt[self.i] / units.NUM:
            self._write_off(desk)
        self.close(now)

    def show(self, now: float) -> Shown:
        a, p = self.position, self.params
        terms = FixedTerms(debt=a.debt, collateral=a.collateral, close_factor=p.close_factor, bonus=p.bonus,
                           health=min(max(a.health, 0.0), 1e6), max_repay=a.max_repay() if a.liquidatable else 0)
        return Shown(lot=a.collateral, tab=a.debt, start=self.kicked_at, terms=terms)

    def _close(self, now: float, desk: Desk) -> None:
        accounts = desk.accounts
        if accounts.qty[self.i].sum() == 0 and accounts.debt[self.i] > 0:
            self._write_off(desk)  # nothing left to seize: the rest of the debt is bad debt
        self.close(now)

    def _write_off(self, desk: Desk) -> None:
        """Confiscate what is left of the position into the book: its uncovered debt becomes bad debt."""
        accounts = desk.accounts
        self._confiscate(desk, int(accounts.qty[self.i, self.k]), int(accounts.debt[self.i]))

    def _confiscate(self, desk: Desk, qty: int, debt: int) -> None:
        seized = np.zeros(desk.accounts.k, dtype=np.int64)
        seized[self.k] = qty
        desk.accounts.seize(self.i, seized, debt)
        self.ledger.mint(self.account, self.asset, qty)
        self.ledger.owe(self.account, debt)
        self.ledger.seize(self.id, self.account, self.asset, qty, debt, debt)


def position_of(desk: Desk, i: int, k: int, p: FixedParams) -> FixedLiquidation:
    """Asset ``k`` of account ``i`` as Aave sees it now: debt, collateral, oracle price and health."""
    accounts = desk.accounts
    return FixedLiquidation(
        debt=int(accounts.debt[i]), collateral=int(accounts.qty[i, k]),
        oracle_price_q=units.price_q(desk.oracle_of(accounts.assets[k])), health=desk.health(i), bonus=p.bonus,
        close_factor=p.close_factor, full_close_health=p.full_close_health, protocol_fee=p.protocol_fee,
    )


def open_sale(o: Opening, p: FixedParams) -> FixedSale:
    o.desk.ledger.seize(o.id, o.account, o.asset, 0, 0, 0)  # opens the book; value moves per liquidation
    return FixedSale(**sale_fields(o), i=o.i, k=o.k, params=p, mech=position_of(o.desk, o.i, o.k, p))


# --- keeper side -------------------------------------------------------------------------------------------


def view_terms(msg: m.Announce | m.State) -> dict[str, Any]:
    t = msg.terms
    assert isinstance(t, FixedTerms)
    return {"debt": units.num_f(t.debt), "collateral": units.col_f(t.collateral), "close_factor": t.close_factor,
            "bonus": t.bonus, "health": t.health, "max_repay": units.num_f(t.max_repay)}


def plan(agent: KeeperAgent, tracked: Tracked, now: float) -> list[Order]:
    """A ``Take`` becomes a ``Liquidate`` now, repaying what buys ``max_qty`` at ``oracle / (1 + bonus)``,
    if that is at most ``max_price``, with the strategy's priority fee."""
    decision = agent.decide(tracked, now)
    if decision is None:  # most decisions (a keeper priced out by gas): nothing else to read
        return agent.drop(tracked, None)
    msg = tracked.msg
    oracle_q = agent.oracle.get(msg.asset, tracked.oracle_q)
    if not isinstance(decision, Take) or not isinstance(msg.terms, FixedTerms) or oracle_q <= 0:
        return agent.drop(tracked, decision)
    unit_q = oracle_q / (1 + msg.terms.bonus)  # Aave: collateral = repay / price * (1 + bonus)
    if unit_q > units.price_q(decision.max_price):
        return agent.drop(tracked, None)  # not worth it at the strategy's price
    want = units.cost(min(units.col(decision.max_qty), msg.lot), math.ceil(unit_q))
    fee = agent.priority_fee(decision)
    repay = min(want, msg.terms.max_repay, agent.room(msg.auction, "liquidate", fee, now))
    if repay <= 0:
        return agent.drop(tracked, decision, limited=msg.terms.max_repay > 0 and want > 0)
    t = msg.terms
    key = ("fixed", oracle_q, t.debt, t.collateral, t.health, t.max_repay, repay, fee)
    action = m.Liquidate(auction=msg.auction, keeper=agent.keeper_id, repay=repay, priority_fee=fee, nonce=0,
                         deadline_ms=0)
    return agent.replan(tracked, key, [(now, action)])


def posted_price(bidders: int, value: float, oracle: float, params: Any) -> float:
    """A posted price ``p = oracle / (1 + bonus)``: the lot sells when the highest of n values U[0, V]
    reaches p, with probability 1 - (p/V)^n, so the expected revenue is p * (1 - (p/V)^n) (0 when p >= V)."""
    p = oracle / (1 + params.bonus)
    return 0.0 if p >= value else p * (1 - (p / value) ** bidders)


DESIGN = Design(
    name="fixed", table="fixed", params=FixedParams, terms=FixedTerms, open=open_sale,
    gas={"liquidate": GAS_LIQUIDATION_CALL}, plan=plan, view_terms=view_terms, theory=posted_price,
    seizes=False, watches_oracle=True, asks=True,  # plan asks about each open one first
    summary="fixed-penalty liquidation (Aave v3): repay up to the close factor, seize at oracle * (1 + bonus)",
)
