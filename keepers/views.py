"""Wire messages -> the float views a strategy sees (``AuctionView``, ``ResultView``).

One conversion, used by every runtime, so a strategy is shown exactly the same numbers for the same
messages in the simulator and in a live keeper. Base units -> whole units via ``auction.units``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from auction import units
from broker import messages as m
from keepers.api import AuctionView, ResultView


def auction_view(msg: m.Announce | m.State, oracle_price: float, terms: Mapping[str, Any]) -> AuctionView:
    """The view of an announced auction or of its latest state; ``oracle_price`` is the protocol's price and
    ``terms`` the design's terms in whole units (its ``view_terms``)."""
    shown = dict(terms)
    if isinstance(msg, m.State):
        shown.update(status=msg.status, seq=msg.seq)
    else:
        shown.update(status="open", seq=-1)
    shown["owner"] = msg.owner
    return AuctionView(
        id=msg.auction,
        design=msg.design,
        asset=msg.asset,
        lot=units.col_f(msg.lot),
        tab=units.num_f(msg.tab),
        oracle_price=oracle_price,
        start=msg.start_ms / 1000,
        terms=MappingProxyType(shown),  # read-only: one view may be shown to several strategies
    )


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


class ViewCache:
    """The views of recent messages, so that the keepers of one process build each view once.

    In the simulator every keeper receives the very same message objects, and a view depends only on the
    message, the oracle price shown and the design's terms: keyed by message identity (the cache holds the
    message, so its id cannot be reused while cached) and oracle price (``auction_view`` makes the terms
    read-only). Oldest entries go first past ``size``.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        # An OrderedDict: dropping a plain dict's first entry again and again walks past the holes left by the
        # ones dropped before it (quadratic), popitem(last=False) does not.
        self._entries: OrderedDict[tuple[int, int], tuple[m.Announce | m.State, AuctionView]] = OrderedDict()
        self._result: tuple[m.Result, str, ResultView] | None = None  # the last result's view for a bystander

    def result(self, msg: m.Result, keeper_id: str, asset: str) -> ResultView:
        """``result_view``, one object for every keeper that neither filled nor forfeited in ``msg``: theirs
        are equal (nothing won, nothing forfeited, the same winners), and a view is frozen."""
        if keeper_id in msg.forfeited or any(f.keeper == keeper_id for f in msg.fills):
            return result_view(msg, keeper_id, asset)
        cached = self._result
        if cached is not None and cached[0] is msg and cached[1] == asset:
            return cached[2]
        view = result_view(msg, keeper_id, asset)
        self._result = (msg, asset, view)
        return view

    def get(
        self, msg: m.Announce | m.State, oracle_q: int, view_terms: Callable[[m.Announce | m.State], Mapping[str, Any]]
    ) -> AuctionView:
        """The view of ``msg`` with the oracle at ``oracle_q`` (numeraire base units), built on a miss."""
        key = (id(msg), oracle_q)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is msg:
            return hit[1]
        view = auction_view(msg, oracle_q / units.NUM, view_terms(msg))
        entries = self._entries
        if len(entries) >= self.size:
            entries.popitem(last=False)
        entries[key] = (msg, view)
        return view
