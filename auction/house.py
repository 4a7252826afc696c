"""The auction house: detection -> auction -> settlement, driven by a clock it is handed.

The house is plain synchronous code. A runtime (the simulator in virtual time, or the network house
process in wall time) calls it in this order and forwards what it returns (wire messages) to keepers:

- ``on_oracle(now, prices)`` when the protocol's oracle publishes: flags newly liquidatable accounts;
- ``submit(action, now)`` when a keeper action arrives: it waits in the mempool for the next block;
- ``on_block(now, gas_gwei)`` every block: includes waiting actions (highest priority fee first, then
  arrival, within the block's gas limit; each pays gas, accepted or not, as a reverted transaction does),
  applies deadlines (Dutch resets, sealed settlement, English deal/restart), then kicks new auctions from
  the liquidation queue up to the per-block capacity;
- ``finish(now)`` at the end of the run: closes what is still open (see ``finish``).

Whole vaults are liquidated (no partial bark); a cross-margin account yields one sale per collateral asset
with the debt split by oracle value. Won collateral is resold at once into the market model on the keeper's
behalf, as Clipper's flash-take callback does (dss src/clip.sol ``clipperCall``): so simulator and network
runs book keeper profit the same way.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import structlog

from auction import units
from auction.book.accounts import Accounts
from auction.book.ledger import USD, Ledger
from auction.book.margin import Detector, LiquidationQueue
from auction.english import EnglishAuction
from auction.errors import Rejected
from auction.fills import Fill
from auction.fixed import FixedLiquidation
from auction.models.chain import GAS, Tx, include
from auction.params import Designs, HouseParams
from auction.sales import (
    KICKER,
    DutchSale,
    EnglishSale,
    FixedSale,
    Sale,
    SealedSale,
    new_dutch,
    new_sealed,
)
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
    """Runs one auction design over one population of accounts. The only writer of state."""

    def __init__(
        self,
        design: str,
        accounts: Accounts,
        ledger: Ledger,
        *,
        designs: Designs,
        house: HouseParams,
        market_price: MarketFn,
        proceeds: ProceedsFn,
        gas_cost: GasCostFn,
    ) -> None:
        if design not in m.DESIGNS:
            raise Rejected("malformed", f"unknown design {design!r}")
        self.design = design
        self.accounts = accounts
        self.ledger = ledger
        self.designs = designs
        self.params = house
        self.market_price = market_price
        self.proceeds = proceeds
        self.gas_cost = gas_cost
        self.detector = Detector(accounts)
        self.queue = LiquidationQueue()
        self.oracle = np.full(accounts.k, np.nan)
        self.mm: np.ndarray | None = None  # volatility-adjusted margins when the runtime hands them in
        self.sales: dict[int, Sale] = {}
        self.open: dict[int, Sale] = {}
        self.by_account: dict[int, list[int]] = {}
        self.deadlines: list[tuple[float, int, int]] = []  # (time, sale id, seq when scheduled)
        self.mempool: list[Tx] = []  # actions waiting for a block (priority fee in gwei)
        self.tally = Tally()
        self.height = 0
        self._next_id = 1
        self._seq = 0
        ledger.mint("insurance", USD, units.num(house.insurance_fund))
        ledger.mint("protocol", USD, units.num(house.surplus_buffer))

    # -- inputs ----------------------------------------------------------------------------------------
    def on_oracle(self, now: float, prices: dict[str, float], mm: np.ndarray | None = None) -> list[m.Message]:
        """The oracle published ``prices``: flag newly liquidatable accounts, refresh fixed sales.

        ``mm``: per-asset maintenance margins in force from now on (volatility-adjusted margin); None keeps
        the accounts' own.
        """
        if mm is not None:
            self.mm = mm
        out: list[m.Message] = []
        for asset, price in prices.items():
            k = self.accounts.assets.index(asset)
            self.oracle[k] = price
            out.append(m.OraclePrice(asset=asset, price_q=units.price_q(price), ts_ms=units.ms(now)))
        if np.isnan(self.oracle).any():
            return out
        flagged = self.detector.on_prices(self.oracle, self.mm)
        if len(flagged):
            shortfall = self.accounts.shortfall(self.oracle, self.mm, idx=flagged)
            self.queue.push(flagged, shortfall)
        if self.design == "fixed":
            out += self._refresh_fixed(now)
        return out

    def submit(self, action: m.Action, now: float) -> list[m.Message]:
        """Queue a keeper action for the next block (signature checks happen before, in the network layer)."""
        if isinstance(action, m.Register):
            return []
        self._seq += 1
        gas = GAS.get(m.tag_of(type(action)), 100_000)
        self.mempool.append(Tx(getattr(action, "priority_fee", 0) / 1000, self._seq, gas, action))
        return []

    def on_block(self, now: float, gas_gwei: float) -> list[m.Message]:
        self.height += 1
        out: list[m.Message] = [m.Block(height=self.height, ts_ms=units.ms(now), gas_gwei_milli=round(gas_gwei * 1000))]
        out += self._include(now, gas_gwei)
        out += self._deadlines(now)
        out += self._kick(now)
        return out

    def finish(self, now: float) -> list[m.Message]:
        """Close every open sale at the end of the run.

        Collateral still on sale is counted unsold and the debt it did not cover as bad debt. A fixed-penalty
        opportunity whose account is insolvent at the market price is written off the same way; a solvent one
        simply stays with its borrower.
        """
        out: list[m.Message] = []
        for sale in sorted(self.open.values(), key=lambda s: s.id):
            if isinstance(sale, FixedSale):
                self._write_off_if_insolvent(sale, now)
            else:
                self.ledger.release_all(sale.id)
                sale.ledger.close(sale.id)
                sale.closed_at = now
            out += self._after_change(sale, now)
        return out

    # -- block processing --------------------------------------------------------------------------------
    def _include(self, now: float, gas_gwei: float) -> list[m.Message]:
        included, self.mempool = include(self.mempool, self.params.block_gas_limit)
        out: list[m.Message] = []
        for tx in included:
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
            fills = self._dispatch(sale, action, now)
        except Rejected as exc:
            self.tally.rejected += 1
            return [self._reject(action, now, exc)]
        self.tally.accepted += 1
        for fill in fills:
            self._resell(sale, fill, now)
        return self._after_change(sale, now)

    def _dispatch(self, sale: Sale, action: m.Action, now: float) -> list[Fill]:
        deadline = getattr(action, "deadline_ms", 0)
        if deadline and units.ms(now) > deadline:
            raise Rejected("late", f"the action's deadline {deadline} ms passed before inclusion")
        if isinstance(action, m.Take) and isinstance(sale, DutchSale):
            return [sale.take(action.keeper, action.amount, action.max_price_q, now)]
        if isinstance(action, m.Redo) and isinstance(sale, DutchSale):
            sale.redo(action.keeper, now, self._oracle_of(sale))
            return []
        if isinstance(action, m.EnglishBid) and isinstance(sale, EnglishSale):
            sale.bid(action.keeper, action.lot, action.bid, now)
            return []
        if isinstance(action, m.Commit) and isinstance(sale, SealedSale):
            sale.commit(action.keeper, bytes.fromhex(action.digest), now)
            return []
        if isinstance(action, m.Reveal) and isinstance(sale, SealedSale):
            sale.reveal(action.keeper, action.price_q, action.qty, bytes.fromhex(action.salt), now)
            return []
        if isinstance(action, m.Liquidate) and isinstance(sale, FixedSale):
            return [self._liquidate(sale, action.keeper, action.repay, now)]
        raise Rejected("wrong-phase", f"a {m.tag_of(type(action))} does not apply to a {sale.design} auction")

    def _deadlines(self, now: float) -> list[m.Message]:
        out: list[m.Message] = []
        while self.deadlines and self.deadlines[0][0] <= now:
            _, sid, seq = heapq.heappop(self.deadlines)
            sale = self.open.get(sid)
            if sale is None or sale.seq != seq:
                continue  # stale entry: the sale changed and rescheduled itself
            n_fills = len(sale.fills)
            if sale.advance(now, self._oracle_of(sale)):
                for fill in sale.fills[n_fills:]:
                    self._resell(sale, fill, now)
                out += self._after_change(sale, now)
            else:
                self._schedule(sale, now)
        return out

    def _kick(self, now: float) -> list[m.Message]:
        out: list[m.Message] = []
        budget = self.params.max_kicks_per_block
        while budget > 0 and len(self.queue):
            for i in self.queue.pop(budget):
                i = int(i)
                if self._healthy(i):
                    self.detector.reindex([i])  # recovered before its turn: watch it again
                    continue
                budget -= 1
                out += self._open_sales(i, now)
        return out

    # -- opening sales ------------------------------------------------------------------------------------
    def _open_sales(self, i: int, now: float) -> list[m.Message]:
        qty = self.accounts.qty[i].copy()
        debt = int(self.accounts.debt[i])
        values = qty * self.oracle / units.COL
        total = float(values.sum())
        out: list[m.Message] = []
        held = [k for k in range(self.accounts.k) if qty[k] > 0]
        if self.design != "fixed":
            self.accounts.seize(i, qty, debt)
            self.detector.reindex([i])
        remaining_debt = debt
        for n, k in enumerate(held):
            share = remaining_debt if n == len(held) - 1 else int(debt * float(values[k]) / total)
            remaining_debt -= share
            out += self._open_sale(i, k, int(qty[k]), share, now)
        return out

    def _open_sale(self, i: int, k: int, qty: int, debt: int, now: float) -> list[m.Message]:
        sid = self._next_id
        self._next_id += 1
        asset, account, oracle = self.accounts.assets[k], f"acct:{i}", float(self.oracle[k])
        common: dict[str, Any] = dict(id=sid, design=self.design, asset=asset, account=account, kicked_at=now,
                                      market_at_kick=self.market_price(asset, now), ledger=self.ledger)
        sale: Sale
        if self.design == "fixed":
            self.ledger.seize(sid, account, asset, 0, 0, 0)  # opens the book; value moves per liquidation
            sale = FixedSale(**common, params=self.designs.fixed)
            sale.mech = self._fixed_mech(i, k)
        else:
            self.ledger.mint(account, asset, qty)  # the position enters the ledger as it is seized
            self.ledger.debt[account] += debt
            chop = self._chop()
            tab = round(debt * chop)
            self.ledger.seize(sid, account, asset, qty, debt, tab)
            if self.design == "dutch":
                p = self.designs.dutch
                sale = DutchSale(**common, params=p)
                sale.mech = new_dutch(qty, tab, oracle, now, p, account)
                self.ledger.incentive(KICKER, sale.mech.kick_incentive())
            elif self.design == "english":
                p_e = self.designs.english
                sale = EnglishSale(**common, params=p_e)
                sale.mech = EnglishAuction(qty, tab, p_e.beg, p_e.ttl_s, p_e.tau_s, start=now, owner=account)
            else:
                p_s = self.designs.sealed
                sale = SealedSale(**common, params=p_s)
                sale.mech = new_sealed(sid, qty, tab, oracle, now, p_s, self.design == "sealed-second", account)
        self.sales[sid] = sale
        self.open[sid] = sale
        self.by_account.setdefault(i, []).append(sid)
        self._schedule(sale, now)
        return [self._announce(sale, now), self._state(sale, now)]

    def _chop(self) -> float:
        return {"dutch": self.designs.dutch.chop, "english": self.designs.english.chop}.get(
            self.design, self.designs.sealed.chop
        )

    # -- fixed-penalty -----------------------------------------------------------------------------------
    def _fixed_mech(self, i: int, k: int) -> FixedLiquidation:
        p = self.designs.fixed
        health = float(self.accounts.health(self.oracle, self.mm, idx=np.array([i]))[0])
        return FixedLiquidation(
            debt=int(self.accounts.debt[i]), collateral=int(self.accounts.qty[i, k]),
            oracle_price_q=units.price_q(float(self.oracle[k])), health=health, bonus=p.bonus,
            close_factor=p.close_factor, full_close_health=p.full_close_health, protocol_fee=p.protocol_fee,
        )

    def _liquidate(self, sale: FixedSale, keeper: str, repay: int, now: float) -> Fill:
        i, k = _index(sale.account), self.accounts.assets.index(sale.asset)
        sale.mech = self._fixed_mech(i, k)
        mech = sale.mech
        fill = mech.liquidate(keeper, repay, now)
        if self.ledger.escrow(keeper) < fill.cost:
            raise Rejected("insufficient-escrow", f"keeper {keeper} cannot repay {fill.cost}")
        seized = np.zeros(self.accounts.k, dtype=np.int64)
        seized[k] = fill.qty + fill.protocol_fee_qty
        self.accounts.seize(i, seized, fill.cost)
        self.ledger.mint(sale.account, sale.asset, int(seized[k]))
        self.ledger.debt[sale.account] += fill.cost
        self.ledger.seize(sale.id, sale.account, sale.asset, int(seized[k]), fill.cost, fill.cost)
        self.ledger.fill(sale.id, keeper, fill.qty, fill.cost)
        if fill.protocol_fee_qty:
            self.ledger.fee(sale.id, fill.protocol_fee_qty)
        plain = Fill(keeper, fill.qty, fill.cost, now)
        sale.fills.append(plain)
        sale.seq += 1
        self.detector.reindex([i])
        if self._healthy(i) or self.accounts.qty[i, k] == 0:
            self._close_fixed(sale, now)
        else:
            sale.mech = self._fixed_mech(i, k)
        return plain

    def _refresh_fixed(self, now: float) -> list[m.Message]:
        out: list[m.Message] = []
        for sale in [s for s in self.open.values() if isinstance(s, FixedSale)]:
            i, k = _index(sale.account), self.accounts.assets.index(sale.asset)
            if self._healthy(i):
                self._close_fixed(sale, now)
                self.detector.reindex([i])
            else:
                sale.mech = self._fixed_mech(i, k)
                sale.seq += 1
            out += self._after_change(sale, now)
        return out

    def _close_fixed(self, sale: FixedSale, now: float) -> None:
        i = _index(sale.account)
        if self.accounts.qty[i].sum() == 0 and self.accounts.debt[i] > 0:
            self._confiscate(sale, i)  # nothing left to seize: the rest of the debt is bad debt
        self.ledger.close(sale.id)
        sale.closed_at = now

    def _write_off_if_insolvent(self, sale: FixedSale, now: float) -> None:
        i, k = _index(sale.account), self.accounts.assets.index(sale.asset)
        value = float(self.accounts.qty[i, k]) / units.COL * self.market_price(sale.asset, now)
        if value < self.accounts.debt[i] / units.NUM:
            self._confiscate(sale, i)
        self.ledger.close(sale.id)
        sale.closed_at = now

    def _confiscate(self, sale: FixedSale, i: int) -> None:
        k = self.accounts.assets.index(sale.asset)
        qty, debt = int(self.accounts.qty[i, k]), int(self.accounts.debt[i])
        seized = np.zeros(self.accounts.k, dtype=np.int64)
        seized[k] = qty
        self.accounts.seize(i, seized, debt)
        self.ledger.mint(sale.account, sale.asset, qty)
        self.ledger.debt[sale.account] += debt
        self.ledger.seize(sale.id, sale.account, sale.asset, qty, debt, debt)

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

    def _after_change(self, sale: Sale, now: float) -> list[m.Message]:
        out: list[m.Message] = [self._state(sale, now)]
        if sale.closed:
            self.open.pop(sale.id, None)
            out.append(self._result(sale, now))
        else:
            self._schedule(sale, now)
        return out

    def _schedule(self, sale: Sale, now: float) -> None:
        due = _next_deadline(sale, now)
        if math.isfinite(due):
            heapq.heappush(self.deadlines, (due, sale.id, sale.seq))

    def _sale_for(self, action: m.Action) -> Sale:
        sale = self.open.get(action.auction)  # type: ignore[union-attr]
        if sale is None:
            raise Rejected("unknown-auction", f"auction {action.auction} is not open")  # type: ignore[union-attr]
        return sale

    def _oracle_of(self, sale: Sale) -> float:
        return float(self.oracle[self.accounts.assets.index(sale.asset)])

    def _healthy(self, i: int) -> bool:
        if self.accounts.debt[i] == 0:
            return True
        return bool(self.accounts.health(self.oracle, self.mm, idx=np.array([i]))[0] >= 1.0)

    def _reject(self, action: m.Action, now: float, exc: Rejected) -> m.Rejection:
        log.info("rejected", keeper=action.keeper, code=exc.code, reason=exc.message)
        return m.Rejection(keeper=action.keeper, ref=action.nonce, code=exc.code, text=exc.message[:500],
                           ts_ms=units.ms(now))

    # -- messages ------------------------------------------------------------------------------------------
    def _announce(self, sale: Sale, now: float) -> m.Announce:
        st = self._state(sale, now)
        return m.Announce(auction=sale.id, design=sale.design, asset=sale.asset,  # type: ignore[arg-type]
                          lot=st.lot, tab=st.tab, owner=sale.account, start_ms=st.start_ms,
                          oracle_q=units.price_q(self._oracle_of(sale)), terms=st.terms)

    def _state(self, sale: Sale, now: float) -> m.State:
        s = sale.state(now)
        status = "closed" if sale.closed else ("needs-redo" if s.get("needs_redo") else "open")
        terms = _terms(sale, s)
        return m.State(
            auction=sale.id, seq=sale.seq, status=status, design=sale.design,  # type: ignore[arg-type]
            asset=sale.asset, owner=sale.account, lot=max(0, s["lot"]), tab=max(0, s["tab"]),
            start_ms=units.ms(s["start"]), top_q=s.get("top_q", 0), bid=s.get("bid", 0), guy=s.get("guy", ""),
            tic_ms=units.ms(s.get("tic", 0.0)), phase=_phase(s), terms=terms, ts_ms=units.ms(now),
        )

    def _result(self, sale: Sale, now: float) -> m.Result:
        book = sale.book
        fills = [m.FillMsg(keeper=f.who, qty=f.qty, cost=f.cost) for f in sale.fills[-m.MAX_FILLS:]]
        extra: dict[str, Any] = {}
        if isinstance(sale, SealedSale) and sale.mech.outcome is not None:
            extra = {"clearing_q": sale.mech.outcome.clearing_q or 0,
                     "forfeited": sale.forfeited[-m.MAX_FILLS:]}
        return m.Result(auction=sale.id, design=sale.design, fills=fills,  # type: ignore[arg-type]
                        returned=book.returned, bad_debt=book.bad_debt, revenue=book.raised, ts_ms=units.ms(now),
                        **extra)


def _terms(sale: Sale, s: dict[str, Any]) -> m.AuctionTerms:
    if isinstance(sale, DutchSale):
        return m.DutchTerms(top_q=s["top_q"], curve=s["curve"], tau_ms=units.ms(s["tau"]), cut=s["cut"],
                            step_ms=units.ms(s["step"]), tail_ms=units.ms(s["tail"]), cusp=s["cusp"], chost=s["chost"],
                            tip=units.num(sale.params.tip), chip=sale.params.chip)
    if isinstance(sale, SealedSale):
        return m.SealedTerms(commit_end_ms=units.ms(s["commit_end"]), reveal_end_ms=units.ms(s["reveal_end"]),
                             reserve_q=s["reserve_q"], deposit=s["deposit"], second_price=s["second_price"])
    if isinstance(sale, EnglishSale):
        return m.EnglishTerms(beg=s["beg"], ttl_ms=units.ms(s["ttl"]), tau_ms=units.ms(sale.params.tau_s),
                              end_ms=units.ms(s["end"]))
    assert isinstance(sale, FixedSale)
    return m.FixedTerms(debt=s["debt"], collateral=s["collateral"], close_factor=s["close_factor"],
                        bonus=s["bonus"], health=min(max(s["health"], 0.0), 1e6), max_repay=s["max_repay"])


def _phase(s: dict[str, Any]) -> Any:
    phase = s.get("phase", "")
    return phase if phase in ("commit", "reveal") else ("closed" if phase in ("settle", "done") else "")


def _next_deadline(sale: Sale, now: float) -> float:
    if isinstance(sale, DutchSale):
        d = sale.mech
        by_cusp = d.start + d.curve.crossing(d.top, d.top * d.cusp)
        # needs_redo is strict (elapsed > tail, price/top < cusp): the first block after is the first chance.
        return min(d.start + d.tail + 1e-6, by_cusp + 1e-6)
    if isinstance(sale, SealedSale):
        return sale.mech.reveal_end
    if isinstance(sale, EnglishSale):
        e = sale.mech
        return (e.tic if e.tic else e.end) + 1e-6
    return math.inf



def _index(account: str) -> int:
    return int(account.split(":", 1)[1])
