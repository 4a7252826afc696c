"""How a keeper settles: results (fills, forfeited deposits, the resale of what it won), rejections and
acknowledgements of its actions, incentives paid to it.

A base class of ``keepers.agent.KeeperAgent``, which holds the state changed here (set in its ``__init__``).
"""

from __future__ import annotations

from typing import Any

from auction import units
from broker import messages as m
from keepers.failures import Failures
from keepers.plan import Sent, Tracked
from keepers.quotes import Quotes
from keepers.rows import Rows
from keepers.views import ViewCache
from keepers.wallet import Book


class Settling(Quotes):
    """Results, rejections, acknowledgements and incentives, booked in the keeper's wallet and book."""

    strategy: Any
    book: Book
    rows: Rows
    views: ViewCache
    failures: Failures
    tracked_designs: dict[str, int]
    auctions: dict[int, Tracked]
    _settled: set[int]
    _sent: dict[int, Sent]
    _sent_in: dict[int, set[int]]
    _hears_results: bool
    _inputs: int

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
        qty = cost = 0
        for f in msg.fills:  # ours (one pass: six keepers read every result)
            if f.keeper == self.keeper_id:
                qty += f.qty
                cost += f.cost
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
            # One view for every bystander of the result, and the decision context: the same numbers a context of
            # its own would hold (rebuilt when the cash or inventory the result moved differ), not one per keeper.
            view = self.views.result(msg, self.keeper_id, asset)
            self._guard(lambda: self.strategy.on_result(view, self.decision_context(now, msg.auction)), "on_result",
                        now)

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

    def _guard(self, fn: Any, hook: str, now: float) -> None:
        try:
            fn()
        except Exception as exc:
            self.failures.failed(self.log, now, hook, exc)


def _count_down(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
