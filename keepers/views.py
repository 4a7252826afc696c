"""Wire messages -> the float views a strategy sees (``AuctionView``, ``ResultView``).

One conversion, used by every runtime, so a strategy is shown exactly the same numbers for the same
messages in the simulator and in a live keeper. Base units -> whole units via ``auction.units``.
"""

from __future__ import annotations

from typing import Any

from auction import units
from broker import messages as m
from keepers.api import AuctionView, ResultView


def auction_view(msg: m.Announce | m.State, oracle_price: float) -> AuctionView:
    """The view of an announced auction or of its latest state; ``oracle_price`` is the protocol's price."""
    terms = _terms(msg.terms)
    if isinstance(msg, m.State):
        terms.update(status=msg.status, seq=msg.seq)
        if msg.design == "dutch" and msg.top_q:
            terms["top"] = msg.top_q / units.NUM  # a redo moves the top; the state has the current one
        if msg.design == "english":
            terms.update(bid=units.num_f(msg.bid), guy=msg.guy, tic=msg.tic_ms / 1000)
        if msg.phase:
            terms["phase"] = msg.phase
    else:
        terms.update(status="open", seq=-1)
        if msg.design == "english":
            terms.update(bid=0.0, guy="", tic=0.0)
    terms["owner"] = msg.owner
    return AuctionView(
        id=msg.auction,
        design=msg.design,
        asset=msg.asset,
        lot=units.col_f(msg.lot),
        tab=units.num_f(msg.tab),
        oracle_price=oracle_price,
        start=msg.start_ms / 1000,
        terms=terms,
    )


def _terms(t: m.AuctionTerms) -> dict[str, Any]:
    if isinstance(t, m.DutchTerms):
        return {
            "top": t.top_q / units.NUM,
            "curve": t.curve,
            "tau": t.tau_ms / 1000,
            "cut": t.cut,
            "step": t.step_ms / 1000,
            "tail": t.tail_ms / 1000,
            "cusp": t.cusp,
            "chost": units.num_f(t.chost),
            "tip": units.num_f(t.tip),
            "chip": t.chip,
        }
    if isinstance(t, m.SealedTerms):
        return {
            "commit_end": t.commit_end_ms / 1000,
            "reveal_end": t.reveal_end_ms / 1000,
            "reserve": t.reserve_q / units.NUM,
            "deposit": units.num_f(t.deposit),
            "second_price": t.second_price,
        }
    if isinstance(t, m.EnglishTerms):
        return {"beg": t.beg, "ttl": t.ttl_ms / 1000, "tau": t.tau_ms / 1000, "end": t.end_ms / 1000}
    return {
        "debt": units.num_f(t.debt),
        "collateral": units.col_f(t.collateral),
        "close_factor": t.close_factor,
        "bonus": t.bonus,
        "health": t.health,
        "max_repay": units.num_f(t.max_repay),
    }


def result_view(msg: m.Result, keeper_id: str, asset: str) -> ResultView:
    """How ``msg`` ended for ``keeper_id``: its own fills summed (a keeper can fill several times)."""
    mine = [f for f in msg.fills if f.keeper == keeper_id]
    qty, cost = sum(f.qty for f in mine), sum(f.cost for f in mine)
    return ResultView(
        id=msg.auction,
        design=msg.design,
        asset=asset,
        won=qty > 0,
        qty=units.col_f(qty),
        cost=units.num_f(cost),
        clearing_price=msg.clearing_q / units.NUM if msg.clearing_q else None,
        winners=tuple(dict.fromkeys(f.keeper for f in msg.fills if f.qty > 0)),
        forfeited=keeper_id in msg.forfeited,
    )
