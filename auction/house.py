"""The auction house: detection -> design -> settlement, driven by a clock it is handed.

The house is plain synchronous code. The run kernel (``auction.run``) calls it in this order and routes
what it returns (wire messages) to keepers:

- ``on_oracle(now, prices)`` when the protocol's oracle publishes: flags newly liquidatable accounts;
- ``submit(action, now)`` when a keeper action arrives: it waits in the mempool for the next block;
- ``on_block(now, gas_gwei)`` every block: includes waiting actions (highest priority fee first, then
  arrival, within the block's gas limit; each pays gas, accepted or not, as a reverted transaction does,
  and each gets its receipt in this block: an ``Ack`` or a ``Rejection``), applies deadlines (Dutch resets,
  sealed phase changes and settlement, English deal/restart), then kicks new auctions from the liquidation
  queue up to the per-block capacity;
- ``finish(now)`` at the end of the run: refuses what no block included, closes what is still open.

The house knows no design and no kind of account: it reaches the design it runs through its ``Design``
(``auction.designs``), which opens each sale (the sale applies actions, deadlines and oracle moves), and the
accounts through their ``MarginBook`` (``auction.book.base``: vault accounts or perpetual positions), which
detects breaches and says what to sell. Won vault collateral is resold at once into the market model on the
keeper's behalf, as Clipper's flash-take callback does (dss src/clip.sol ``clipperCall``): so simulator and
network runs book keeper profit the same way (perp designs hedge a taken-over position inside the sale).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import structlog

from auction import units
from auction.book.accounts import Accounts
from auction.book.base import Lot, MarginBook
from auction.book.ledger import USD, Ledger
from auction.book.queue import LiquidationQueue
from auction.book.vaults import VaultBook
from auction.designs.base import Design, Opening, Sale
from auction.errors import Rejected
from auction.fills import Fill
from auction.models.chain import DEFAULT_GAS, Mempool, Tx
from auction.params import HouseParams
from broker import messages as m

log = structlog.get_logger()


MarketFn = Callable[[str, float], float]  # (asset, time) -> market price
ProceedsFn = Callable[[str, int, float], int]  # (asset, qty base units, time) -> numeraire base units
GasCostFn = Callable[[int, float, float], int]  # (gas units, gwei, time) -> numeraire base units


@dataclass(slots=True)
class Tally:
    """What the ledger does not see: counts and per-fill observations for the metrics."""

    zero_bid_fills: int = 0
    discounts_num: float = 0.0  # sum over fills of (market value - cost)
    discounts_den: float = 0.0  # sum over fills of market value
    discounts: list[float] = field(default_factory=list)
    keeper_resale: int = 0  # numeraire the keepers got reselling
    keeper_cost: int = 0  # numeraire the keepers paid for collateral
    accepted: int = 0
    rejected: int = 0


class AuctionHouse:
    """Runs one design over one book of accounts. The only writer of state."""

    def __init__(
        self,
        design: Design,
        params: Any,
        book: MarginBook | Accounts,
        ledger: Ledger,
        *,
        house: HouseParams,
        market_price: MarketFn,
        proceeds: ProceedsFn,
        gas_cost: GasCostFn,
        gas_units: Mapping[str, int] | None = None,
        native_price: Callable[[float], float] | None = None,
    ) -> None:
        self.design, self.design_params = design, params
        self.book: MarginBook = VaultBook(book) if isinstance(book, Accounts) else book
        self.gas_units = dict(design.gas) if gas_units is None else dict(gas_units)  # action tag -> gas units
        self.native_price = native_price  # USD per token gas is paid in (published in every Block)
        self.ledger = ledger
        self.params = house
        self.market_price = market_price
        self.proceeds = proceeds
        self.gas_cost = gas_cost
        self.queue = LiquidationQueue()
        self.oracle = np.full(len(self.book.assets), np.nan)
        self._oracle: dict[str, float] = dict.fromkeys(self.book.assets, math.nan)  # the same, by asset: read per sale
        self.priced = False  # the oracle has priced every asset (the books are watched from then on)
        self.mm: np.ndarray | None = None  # volatility-adjusted margins when the runtime hands them in
        self.sales: dict[int, Sale] = {}
        self.open: dict[int, Sale] = {}
        self.by_account: dict[int, list[int]] = {}
        self.deadlines: list[tuple[float, int, int]] = []  # (time, sale id, seq when scheduled)
        self.mempool = Mempool()  # actions waiting for a block (priority fee in gwei)
        self.log = log.bind()  # a bound logger: the module's lazy proxy rebuilds one on every call
        self.tally = Tally()
        self.height = 0
        self._next_id = 1
        self._seq = 0
        self._shown: dict[int, int] = {}  # sale id -> seq of the last state published
        # dog.sol Dirt: the tab still to raise in open sales (numeraire units), counted when a hole is set
        self.hole = units.num(house.hole) if design.seizes else 0
        self.dirt = 0
        self._dirt: dict[int, int] = {}  # sale id -> its part of dirt
        ledger.mint("insurance", USD, units.num(house.insurance_fund))
        ledger.mint("protocol", USD, units.num(house.surplus_buffer))
        self.book.attach(ledger)

    # -- inputs ----------------------------------------------------------------------------------------
    def on_oracle(self, now: float, prices: dict[str, float], mm: np.ndarray | None = None) -> list[m.Message]:
        """The oracle published ``prices``: flag newly liquidatable accounts, refresh sales that watch it.

        ``mm``: per-asset maintenance margins in force from now on (volatility-adjusted margin); None keeps
        the accounts' own.
        """
        if mm is not None:
            self.mm = mm
        out: list[m.Message] = []
        for asset, price in prices.items():
            k = self.book.assets.index(asset)
            self.oracle[k] = price
            self._oracle[asset] = float(self.oracle[k])
            out.append(m.OraclePrice(asset=asset, price_q=units.price_q(price), ts_ms=units.ms(now)))
        self.priced = not np.isnan(self.oracle).any()
        if not self.priced:
            return out
        self._watch(self.book.on_prices(self.oracle, self.mm))
        if self.design.watches_oracle:
            for sale in list(self.open.values()):
                if sale.on_oracle(now, self):
                    out += self._after_change(sale, now)
        return out

    def submit(self, action: m.Action, now: float) -> list[m.Message]:
        """Queue a keeper action for the next block (signature checks happen before, in the network layer)."""
        if isinstance(action, m.Register):
            return []
        self._seq += 1
        gas = self.gas_units.get(m.tag_of(type(action)), DEFAULT_GAS)
        self.mempool.add(Tx(getattr(action, "priority_fee", 0) / 1000, self._seq, gas, action))
        return []

    def on_block(self, now: float, gas_gwei: float) -> list[m.Message]:
        self.height += 1
        native_q = units.price_q(self.native_price(now)) if self.native_price is not None else 0
        out: list[m.Message] = [m.Block(height=self.height, ts_ms=units.ms(now), gas_gwei_milli=round(gas_gwei * 1000),
                                        native_q=native_q)]
        if self.priced:
            self._watch(self.book.on_block(now))
        # Most blocks of a day include nothing, end no sale and kick nobody: each step is asked only when it
        # has something to do (each would return nothing otherwise).
        if self.mempool:
            out += self._include(now, gas_gwei)
        if self.deadlines and self.deadlines[0][0] <= now:
            out += self._deadlines(now)
        if len(self.queue):
            out += self._kick(now)
        return out

    def idle_before(self) -> float:
        """The blocks due before this time (-inf: none) publish their ``Block`` and nothing else, nor change
        anything but the height, as long as no other input comes first: nothing to include, nobody queued to
        kick, a book that blocks leave still (``MarginBook.still_at_blocks``), and no deadline due (``on_block``
        runs those at or before its time). Most blocks of a day are such (``pass_blocks``)."""
        if self.mempool or len(self.queue) or (self.priced and not self.book.still_at_blocks):
            return -math.inf
        return self.deadlines[0][0] if self.deadlines else math.inf

    def pass_blocks(self, n: int) -> None:
        """``n`` blocks that ``idle_before`` said are idle, for a runtime that shows their ``Block`` to nobody: what
        ``on_block`` would do, without building the messages (the gas and native prices it would read are pure
        functions of time)."""
        self.height += n

    def finish(self, now: float) -> list[m.Message]:
        """Refuse what no block included, then close every open sale at the end of the run (each design says
        how: ``Sale.end``), so that every action a keeper sent has its receipt."""
        late = Rejected("late", "the run ended before a block included this action")
        out: list[m.Message] = [self._reject(cast(m.Action, tx.ref), now, late) for tx in self.mempool.drain()]
        for sale in sorted(self.open.values(), key=lambda s: s.id):
            sale.end(now, self)
            out += self._after_change(sale, now)
        return out

    # -- what a sale may use (auction.designs.base.Desk) ------------------------------------------------
    @property
    def accounts(self) -> Accounts:
        """The vault accounts (Aave's fixed-penalty liquidation works on them in place)."""
        if not isinstance(self.book, VaultBook):
            raise TypeError(f"a {self.book.kind} book has no vault accounts")
        return self.book.accounts

    def oracle_of(self, asset: str) -> float:
        """The protocol's price of ``asset`` (nan before its first update; ValueError for an unknown asset)."""
        try:
            return self._oracle[asset]
        except KeyError:
            raise ValueError(f"{asset!r} is not an asset of this book") from None

    def health(self, i: int) -> float:
        return self.book.health(i)

    def healthy(self, i: int) -> bool:
        return self.book.healthy(i)

    def reindex(self, i: int) -> None:
        self.book.reindex(i)

    def _watch(self, breached: tuple[np.ndarray, np.ndarray]) -> None:
        """Queue newly breached accounts with their priority."""
        flagged, priority = breached
        if len(flagged):
            self.queue.push(flagged, priority)

    # -- block processing --------------------------------------------------------------------------------
    def _include(self, now: float, gas_gwei: float) -> list[m.Message]:
        out: list[m.Message] = []
        for tx in self.mempool.take(self.params.block_gas_limit):
            out += self._apply(cast(m.Action, tx.ref), now, tx.gas, gas_gwei + tx.priority_fee)
        return out

    def _apply(self, action: m.Action, now: float, gas: int, gwei: float) -> list[m.Message]:
        keeper = action.keeper
        fee = self.gas_cost(gas, gwei, now)
        if self.ledger.escrow(keeper) < fee:
            return [self._reject(action, now, Rejected("insufficient-escrow", "cannot pay gas for this action"))]
        self.ledger.pay_gas(keeper, fee)
        try:
            sale = self._sale_for(action)
            deadline = getattr(action, "deadline_ms", 0)
            if deadline and units.ms(now) > deadline:
                raise Rejected("late", f"the action's deadline {deadline} ms passed before inclusion")
            fills = sale.apply(action, now, self)
        except Rejected as exc:
            self.tally.rejected += 1
            return [self._reject(action, now, exc)]
        self.tally.accepted += 1
        if self.design.resells:
            for fill in fills:
                self._resell(sale, fill, now)
        ack = m.Ack(keeper=keeper, ref=action.nonce, auction=sale.id, height=self.height, ts_ms=units.ms(now))
        return [ack, *self._after_change(sale, now)]

    def _deadlines(self, now: float) -> list[m.Message]:
        out: list[m.Message] = []
        while self.deadlines and self.deadlines[0][0] <= now:
            _, sid, seq = heapq.heappop(self.deadlines)
            sale = self.open.get(sid)
            if sale is None or sale.seq != seq:
                continue  # stale entry: the sale changed and rescheduled itself
            n_fills = len(sale.fills)
            if sale.advance(now, self._oracle[sale.asset]):
                for fill in sale.fills[n_fills:] if self.design.resells else ():
                    self._resell(sale, fill, now)
                out += self._after_change(sale, now)
            else:
                self._schedule(sale)
        return out

    def _kick(self, now: float) -> list[m.Message]:
        out: list[m.Message] = []
        budget = self.params.max_kicks_per_block
        while budget > 0 and len(self.queue) and not (self.hole and self.dirt >= self.hole):
            # dog.sol bark requires Hole > Dirt: with a hole, one vault at a time (the last one kicked may pass
            # the hole by its tab, where dss would bark it in part)
            for i in self.queue.pop(1 if self.hole else budget):
                i = int(i)
                if self.healthy(i):
                    self.book.reindex(i)  # recovered before its turn: watch it again
                    continue
                budget -= 1
                out += self._open_sales(i, now)
        return out

    # -- opening sales ------------------------------------------------------------------------------------
    def _open_sales(self, i: int, now: float) -> list[m.Message]:
        out: list[m.Message] = []
        split = self.design.split
        for lot in self.book.lots(i, seize=self.design.seizes):
            if split is None:
                out += self._open_sale(i, lot, now)
                continue
            for qty, debt in split(lot.qty, lot.debt, self.design_params):
                out += self._open_sale(i, Lot(lot.k, qty, debt, lot.side), now)
        return out

    def _open_sale(self, i: int, lot: Lot, now: float) -> list[m.Message]:
        sid = self._next_id
        self._next_id += 1
        asset = self.book.assets[lot.k]
        opening = Opening(id=sid, design=self.design.name, i=i, k=lot.k, asset=asset, qty=lot.qty, debt=lot.debt,
                          oracle=float(self.oracle[lot.k]), now=now, market=self.market_price(asset, now), desk=self,
                          side=lot.side)
        sale = self.design.open(opening, self.design_params)
        self.sales[sid] = sale
        self.open[sid] = sale
        self.by_account.setdefault(i, []).append(sid)
        self._dig(sale)
        self._schedule(sale)
        state = self._shown_state(sale, now)
        return [self._announce(sale, state), state]

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _resell(self, sale: Sale, fill: Fill, now: float) -> None:
        market = self.market_price(sale.asset, now)
        value = fill.qty / units.COL * market
        cost = fill.cost / units.NUM
        self.tally.discounts_num += value - cost
        self.tally.discounts_den += value
        if value > 0:
            self.tally.discounts.append(1 - cost / value)
            if fill.qty and cost / (fill.qty / units.COL) < self.params.zero_bid_fraction * market:
                self.tally.zero_bid_fills += 1
        proceeds = self.proceeds(sale.asset, fill.qty, now)
        self.ledger.trade(fill.who, sale.asset, fill.qty, proceeds)
        self.tally.keeper_resale += proceeds
        self.tally.keeper_cost += fill.cost

    def _dig(self, sale: Sale) -> None:
        """Keep ``dirt`` = the open sales' tab still to raise (clip.sol take calls dog.digs with what it raised,
        and with the rest of the tab when the auction ends)."""
        if not self.hole:
            return
        b = sale.book
        left = 0 if sale.closed else max(0, b.tab - b.raised)
        self.dirt += left - self._dirt.pop(sale.id, 0)
        if left:
            self._dirt[sale.id] = left

    def _after_change(self, sale: Sale, now: float) -> list[m.Message]:
        self._dig(sale)
        out: list[m.Message] = [self._shown_state(sale, now)]
        if sale.closed:
            self.open.pop(sale.id, None)
            out.append(self._result(sale, now))
        else:
            self._schedule(sale)
        return out

    def _schedule(self, sale: Sale) -> None:
        due = sale.next_deadline()
        if math.isfinite(due):
            heapq.heappush(self.deadlines, (due, sale.id, sale.seq))

    def _sale_for(self, action: m.Action) -> Sale:
        sale = self.open.get(action.auction)  # type: ignore[union-attr]
        if sale is None:
            raise Rejected("unknown-auction", f"auction {action.auction} is not open")  # type: ignore[union-attr]
        return sale

    def _reject(self, action: m.Action, now: float, exc: Rejected) -> m.Rejection:
        self.log.info("rejected", keeper=action.keeper, code=exc.code, reason=exc.message)
        return m.Rejection(keeper=action.keeper, ref=action.nonce, code=exc.code, text=exc.message[:500],
                           ts_ms=units.ms(now))

    # -- messages ------------------------------------------------------------------------------------------
    def _announce(self, sale: Sale, st: m.State) -> m.Announce:
        """The announce of a new sale, from its first state."""
        return m.Announce(auction=sale.id, design=sale.design, asset=sale.asset, lot=st.lot, tab=st.tab,
                          owner=sale.account, start_ms=st.start_ms, oracle_q=units.price_q(self.oracle_of(sale.asset)),
                          terms=st.terms)

    def _shown_state(self, sale: Sale, now: float) -> m.State:
        """The state keepers are shown after a change: its ``seq`` must be above every one shown before
        (a design that changed without ``Sale.changed``/``Sale.close`` is a bug, caught here, not on the wire)."""
        shown = self._shown.get(sale.id, -1)
        if sale.seq <= shown:
            raise RuntimeError(f"{sale.design} auction {sale.id} changed without a new seq ({sale.seq} <= {shown})")
        self._shown[sale.id] = sale.seq
        if sale.closed:
            del self._shown[sale.id]
        return self._state(sale, now)

    def _state(self, sale: Sale, now: float) -> m.State:
        s = sale.show(now)
        status: m.Status = "closed" if sale.closed else "open"
        lot, tab = s.lot, s.tab
        if s.bid or s.guy or s.tic or s.phase:  # English and sealed sales: the fields only they show
            return m.State(
                auction=sale.id, seq=sale.seq, status=status, design=sale.design, asset=sale.asset,
                owner=sale.account, lot=lot if lot > 0 else 0, tab=tab if tab > 0 else 0,
                start_ms=units.ms(s.start), top_q=s.top_q, bid=s.bid, guy=s.guy, tic_ms=units.ms(s.tic),
                phase=s.phase, terms=s.terms, ts_ms=units.ms(now),  # type: ignore[arg-type]  # a design's phase string
            )
        # The same State with those four at their defaults, left out: a State is built per change of every sale
        # (each Dutch reset), and msgspec builds one from 12 keywords several times faster than from 16.
        return m.State(
            auction=sale.id, seq=sale.seq, status=status, design=sale.design, asset=sale.asset,
            owner=sale.account, lot=lot if lot > 0 else 0, tab=tab if tab > 0 else 0, start_ms=units.ms(s.start),
            top_q=s.top_q, terms=s.terms, ts_ms=units.ms(now),
        )

    def _result(self, sale: Sale, now: float) -> m.Result:
        returned, bad_debt, revenue = sale.outcome()
        fills = [m.FillMsg(keeper=f.who, qty=f.qty, cost=f.cost) for f in sale.fills[-m.MAX_FILLS:]]
        return m.Result(auction=sale.id, design=sale.design, fills=fills, returned=returned,
                        bad_debt=bad_debt, revenue=revenue, ts_ms=units.ms(now), **sale.result_extra())
