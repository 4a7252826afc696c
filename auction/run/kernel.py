"""The run kernel: one design over one world, whatever clock drives it.

It holds the facts both clocks share, each written once: it builds the ledger and the auction house, funds
keepers, fixes the order of the scheduled inputs (oracle updates and blocks; the oracle first at a tie),
admits keeper actions, records what the reports plot and export (``auction.run.records``), and builds the
run result. The simulator
(``auction.sim``) drives it in virtual time with keepers in-process; the network house (``auction.net``) in
wall time over MQTT. They differ only in clock and transport, never in what is decided.

Who hears what (``audience``): a receipt (rejection or acknowledgement) and an account go to the keeper they
concern, everything else to every keeper. A keeper agent is handed ``AGENT_MESSAGES`` only, in both runtimes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np

from auction import designs, units
from auction.book.ledger import USD, WRITTEN_OFF, Ledger
from auction.book.positions import PositionBook
from auction.designs.base import KICKER
from auction.errors import Rejected
from auction.house import AuctionHouse
from auction.run.metrics import compute_metrics
from auction.run.records import Records, Timeline, sale_tables
from auction.run.result import RunResult, Series
from auction.scenario.world import World
from broker import messages as m

# Ids no keeper may hold: the ledger's own accounts, the house's keeper bot (its kick and redo incentives are
# booked to keeper:kicker) and the broker users of a secure network. The kernel never funds them.
RESERVED_IDS: frozenset[str] = frozenset(
    {KICKER, "protocol", "insurance", "market", "chain", WRITTEN_OFF, "house", "monitor", "watcher"}
)
MARKET_FUNDS = 10**18  # numeraire base units the outside market holds to pay keepers reselling
SERIES_CAP = 5000  # per-fill and per-auction points kept for plots
# What a keeper agent is handed (simulator and live keeper alike): every output of the house that a strategy can
# act on; a receipt (rejection or ack) only when it is the agent's own (``audience``): an ack frees the money a
# hedged perp take committed. Accounts are for outside keepers.
AGENT_MESSAGES: tuple[type[m.Message], ...] = (
    m.OraclePrice, m.Block, m.Announce, m.State, m.Result, m.Rejection, m.Ack)


class Input(NamedTuple):
    """A scheduled input: the ``n``-th oracle update, or the block of height ``n``, at scenario time ``t``. A
    named tuple, not a frozen dataclass: one is built per block (nine thousand a day), and a frozen dataclass's
    ``__init__`` costs several times more (an ``object.__setattr__`` per field)."""

    kind: Literal["oracle", "block"]
    t: float
    n: int


class Kernel:
    """Ledger, house and schedule of one run; ``capital(keeper)`` funds keepers that register (network)."""

    def __init__(self, world: World, design: str, *, capital: Callable[[str], int] | None = None) -> None:
        self.world = world
        self.design = designs.check_book(design, world.margin_book.kind, world.scenario.name)
        self.capital = capital
        self.ledger = Ledger()
        self.ledger.mint("market", USD, MARKET_FUNDS)
        self.house = AuctionHouse(
            self.design, self.design.params_in(world.designs), world.margin_book, self.ledger,
            house=world.house_params, market_price=world.market_price, proceeds=world.proceeds,
            gas_cost=world.gas_cost, gas_units=world.gas_units, native_price=world.native_price,
        )
        self.block_time = world.house_params.block_time_s
        self.n_blocks = int((world.end + world.house_params.drain_s) // self.block_time)
        self.end = self.n_blocks * self.block_time  # the books close at the last block
        self.next_oracle = 0
        self.now = 0.0  # scenario time of the last input applied
        self.funded: dict[str, int] = {}
        self.series = Series()
        self.timeline = Timeline()
        self.finished = False
        self._next: tuple[tuple[int, int], Input | None] = ((-1, -1), None)  # next_input, per (oracle, height)

    # -- the schedule ------------------------------------------------------------------------------------
    def next_input(self) -> Input | None:
        """The next scheduled input, or None once every oracle update and block is applied."""
        at = (self.next_oracle, self.house.height)
        cached = self._next
        if cached[0] != at:  # the simulator asks once per event: build the Input once per input applied
            cached = self._next = (at, self._after(*at))
        return cached[1]

    def due(self, now: float, *, blocks: int | None = None) -> list[Input]:
        """The scheduled inputs with ``t <= now``, in order; at most ``blocks`` blocks."""
        out: list[Input] = []
        i, h = self.next_oracle, self.house.height
        while (inp := self._after(i, h)) is not None and inp.t <= now:
            if inp.kind == "oracle":
                i += 1
            elif blocks is not None and h - self.house.height >= blocks:
                break
            else:
                h += 1
            out.append(inp)
        return out

    @property
    def at_end(self) -> bool:
        return self.next_input() is None

    def _after(self, i: int, h: int) -> Input | None:
        updates = self.world.oracle_updates
        t_oracle = updates[i][0] if i < len(updates) else math.inf
        t_block = (h + 1) * self.block_time if h < self.n_blocks else math.inf
        if t_oracle <= t_block and math.isfinite(t_oracle):
            return Input("oracle", t_oracle, i)
        return Input("block", t_block, h + 1) if math.isfinite(t_block) else None

    # -- inputs ------------------------------------------------------------------------------------------
    def apply(self, inp: Input) -> list[m.Message]:
        """Apply a scheduled input (it must be the next one)."""
        nxt = self.next_input()
        if inp is not nxt and inp != nxt:
            raise ValueError(f"{inp} is not the next scheduled input ({self.next_input()})")
        if inp.kind == "oracle":
            prices = self.world.oracle_updates[inp.n][1]
            margins = self.world.oracle_mm
            self.next_oracle += 1
            return self.oracle(inp.t, prices, None if margins is None else margins[inp.n])
        return self.block(inp.t)

    def oracle(self, t: float, prices: dict[str, float], mm: np.ndarray | None = None) -> list[m.Message]:
        """The protocol's oracle publishes ``prices`` (and the margins in force, if volatility-adjusted)."""
        out = self.house.on_oracle(t, prices, mm)
        if self.world.asset in prices:
            self.series.oracle_times.append(t)
            self.series.oracle.append(float(prices[self.world.asset]))
        return self._observe(out, t, sample=True)

    def block(self, t: float) -> list[m.Message]:
        return self._observe(self.house.on_block(t, self.world.gas_gwei(t)), t)

    def pass_blocks(self, until: float, shown: Callable[[float], bool]) -> int:
        """Apply the next inputs while each is a block at which the house is idle (``AuctionHouse.idle_before``),
        due at most at ``until``, and not ``shown(t)`` to anyone, without building their one output each, the
        ``Block``: most blocks of a day. Returns how many; the same state after as ``apply`` of each (such a
        block records nothing: only a change in the number of open sales does, ``_observe``)."""
        house, updates = self.house, self.world.oracle_updates
        if len(house.open) != self.timeline.open_auctions:
            return 0
        t_oracle = updates[self.next_oracle][0] if self.next_oracle < len(updates) else math.inf
        stop = min(t_oracle, house.idle_before())  # a block at an oracle update's time comes after it (``_after``)
        h0 = h = house.height
        while h < self.n_blocks:
            t = (h + 1) * self.block_time  # as ``_after``
            if t >= stop or t > until or shown(t):
                break
            h += 1
        if h > h0:
            house.pass_blocks(h - h0)
            self.now = max(self.now, h * self.block_time)
        return h - h0

    def act(self, action: m.Action, t: float) -> list[m.Message]:
        """A keeper action reaches the house (the network checked its signature and nonce before).

        A register takes effect at once (funding the keeper on its first one) and is acknowledged at the
        house's latest block; every other action waits in the mempool for its block and receipt."""
        if isinstance(action, m.Register):
            if self.capital is not None and action.keeper not in RESERVED_IDS:  # admission refuses those first
                self.fund(action.keeper, self.capital(action.keeper))
            return [m.Ack(keeper=action.keeper, ref=action.nonce, height=self.house.height, ts_ms=units.ms(t))]
        return self._observe(self.house.submit(action, t), t)

    def fund(self, keeper: str, amount: int) -> bool:
        """Give ``keeper`` its capital in escrow, once; False when it was funded already."""
        if keeper in RESERVED_IDS:
            raise Rejected("reserved-id", f"keeper id {keeper!r} is reserved for the house's own accounts")
        if keeper in self.funded:
            return False
        self.ledger.mint(f"keeper:{keeper}", USD, amount)
        self.funded[keeper] = amount
        return True

    def finish(self) -> list[m.Message]:
        """Close every open sale at the end of the run."""
        out = self.house.finish(self.end)
        self.finished = True
        return self._observe(out, self.end, sample=True)

    def _observe(self, out: list[m.Message], t: float, *, sample: bool = False) -> list[m.Message]:
        self.now = max(self.now, t)
        timeline = self.timeline
        for msg in out:
            kind = type(msg)  # wire messages are final classes: a type test, several times cheaper than isinstance
            if kind is m.Announce:
                self.series.liquidations.append((t, self.world.market_price(msg.asset, t)))  # type: ignore[union-attr]
            elif kind is m.Result:
                timeline.bad_debt += msg.bad_debt  # type: ignore[union-attr]
        if sample or len(self.house.open) != timeline.open_auctions:
            asset = self.world.asset
            timeline.sample(t, (self.house.oracle_of(asset), self.world.market_price(asset, t), self.world.gas_gwei(t),
                                len(self.house.open), units.num_f(timeline.bad_debt),
                                units.num_f(self.ledger.balance("insurance"))))
        return out

    # -- the result --------------------------------------------------------------------------------------
    def result(self) -> RunResult:
        """Audit the ledger, then the run's metrics and series (same inputs -> same result)."""
        self.ledger.check()
        world, house = self.world, self.house
        metrics, exact, extra = compute_metrics(house, self.ledger, world)
        series = self.series
        series.times, series.market = world.series_times, world.series_market
        series.discounts = house.tally.discounts[:SERIES_CAP]
        sales = sorted(house.sales.values(), key=lambda s: s.id)
        series.times_to_liquidate = [(s.closed_at or world.end) - s.kicked_at for s in sales][:SERIES_CAP]
        auctions, fills = sale_tables(sales, self.end)
        records = Records(world.t0_unix, auctions, fills, self.timeline.columns)
        book = house.book
        if isinstance(book, PositionBook) and book.history:
            t, oi, fund, adl = zip(*book.history, strict=True)
            records.perp = {"time_s": list(t), "open_interest": list(oi), "insurance_usd": list(fund),
                            "adl_count": [float(x) for x in adl]}
        return RunResult(scenario=world.scenario.name, design=self.design.name, seed=world.seed, metrics=metrics,
                         series=series, exact=exact, extra=extra, records=records)


ADDRESSED = frozenset({m.Rejection, m.Ack, m.Account})  # final classes: a set look-up, not isinstance (per message)


def audience(msg: m.Message) -> str | None:
    """The one keeper a house output is for (a receipt or an account), or None: every keeper."""
    return msg.keeper if type(msg) in ADDRESSED else None  # type: ignore[union-attr]
