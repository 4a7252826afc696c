"""The live view of a network run: what a watcher subscribed to ``liq/v1/#`` can see.

``Monitor`` folds wire messages into a small model (clock, oracle vs market price, open auctions, bids,
keepers with status and P&L, totals of settled auctions); ``render`` draws it with rich a few times a
second on a terminal, ``plain_line`` gives one line of text for logs and pipes. The monitor only reads:
it is an ordinary MQTT client, so the same view works against any broker a network runs on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text

from auction import units
from auction.errors import Rejected
from auction.net.house_feed import HouseFeed
from broker import messages as m
from broker import topics


@dataclass(slots=True)
class KeeperRow:
    online: bool = False
    balance: int = 0
    pnl: int = 0
    actions: int = 0
    last: str = ""
    won: int = 0
    rejected: int = 0


@dataclass(slots=True)
class Monitor:
    """The model behind the view; ``feed(topic, payload)`` for every message seen."""

    market: Callable[[str, float], float] | None = None  # the scenario's market price, when known
    t: float = 0.0
    height: int = 0
    gas_gwei: float = 0.0
    house_online: bool | None = None
    lag_ms: int = 0  # the house's lag behind its clock (scenario ms), from its status
    max_lag_ms: int = 0
    block_ms: int = 0
    speed: float = 0.0
    oracle: dict[str, float] = field(default_factory=dict)
    open: dict[int, m.State] = field(default_factory=dict)
    keepers: dict[str, KeeperRow] = field(default_factory=dict)
    announced: int = 0
    settled: int = 0
    bad_debt: int = 0
    revenue: int = 0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    house: HouseFeed | None = None  # believe only what the house signed (its key pinned), as keepers do
    forged: int = 0  # house messages dropped: not signed by the house

    def feed(self, topic: str, payload: bytes) -> None:
        parsed = topics.parse(topic)
        if parsed is None:
            return
        if not payload:
            if parsed.kind == "state" and parsed.auction is not None:
                self.open.pop(parsed.auction, None)  # a cleared retained state: the auction closed
            return
        try:
            msg = m.decode(payload, allowed=parsed.policy.messages)
        except Rejected:
            return
        if self.house is None or not isinstance(msg, m.HOUSE_MESSAGES):
            self._apply(msg, parsed)
            return
        before = self.house.dropped
        for _, believed in self.house.admit(payload, msg):
            self._apply(believed, parsed)  # (a house message's topic matters only for actions, never these)
        self.forged += self.house.dropped - before

    def _apply(self, msg: m.Message, parsed: topics.Parsed) -> None:
        if isinstance(msg, m.Block):
            self.t, self.height, self.gas_gwei = msg.ts_ms / 1000, msg.height, msg.gas_gwei_milli / 1000
        elif isinstance(msg, m.OraclePrice):
            self.oracle[msg.asset] = msg.price_q / units.NUM
        elif isinstance(msg, m.HouseStatus):
            self.house_online = msg.online
            if msg.online:
                self.lag_ms, self.max_lag_ms = msg.lag_ms, max(self.max_lag_ms, msg.max_lag_ms)
                self.block_ms, self.speed = msg.block_ms, msg.speed
        elif isinstance(msg, m.KeeperStatus):
            row = self.keepers.setdefault(msg.keeper, KeeperRow())
            row.online, row.balance, row.pnl = msg.online, msg.balance, msg.pnl
        elif isinstance(msg, m.Announce):
            self.announced += 1
        elif isinstance(msg, m.State):
            if msg.status == "closed":
                self.open.pop(msg.auction, None)
            else:
                self.open[msg.auction] = msg
        elif isinstance(msg, m.Result):
            self._result(msg)
        elif isinstance(msg, m.Rejection):
            self.keepers.setdefault(msg.keeper, KeeperRow()).rejected += 1
        elif isinstance(msg, m.ACTIONS) and parsed.keeper is not None:
            row = self.keepers.setdefault(parsed.keeper, KeeperRow())
            row.actions += 1
            row.last = _describe(msg)

    def _result(self, msg: m.Result) -> None:
        self.open.pop(msg.auction, None)
        self.settled += 1
        self.bad_debt += msg.bad_debt
        self.revenue += msg.revenue
        buyers = sorted({f.keeper for f in msg.fills})
        for keeper in buyers:
            self.keepers.setdefault(keeper, KeeperRow()).won += 1
        who = ", ".join(buyers) or "no buyer"
        self.recent.append(f"#{msg.auction} {msg.design}: {units.num_f(msg.revenue):,.0f} USD raised ({who}), "
                           f"bad debt {units.num_f(msg.bad_debt):,.0f}")

    def market_price(self, asset: str) -> float | None:
        if self.market is None:
            return None
        try:
            return self.market(asset, self.t)
        except Exception:
            return None


def lag_text(mon: Monitor) -> str:
    """The house's lag behind its own clock, in blocks and wall ms: 'lag 0.2 blocks (max 0.9), 3 ms wall'."""
    if not mon.block_ms:
        return "lag ?"
    wall = f", {mon.lag_ms / mon.speed:.0f} ms wall" if mon.speed else ""
    return f"lag {mon.lag_ms / mon.block_ms:.1f} blocks (max {mon.max_lag_ms / mon.block_ms:.1f}){wall}"


def _describe(msg: m.Message) -> str:
    if isinstance(msg, m.Take):
        return f"take #{msg.auction} <= {units.num_f(msg.max_price_q):,.2f}"
    if isinstance(msg, m.EnglishBid):
        return f"bid #{msg.auction} {units.num_f(msg.bid):,.0f}"
    if isinstance(msg, m.Liquidate):
        return f"liquidate #{msg.auction} {units.num_f(msg.repay):,.0f}"
    return f"{m.tag_of(type(msg))} #{getattr(msg, 'auction', '')}".rstrip(" #")


def plain_line(mon: Monitor) -> str:
    """One line for a log or a pipe."""
    prices = " ".join(f"{a} oracle {p:,.2f}" + _market_text(mon, a) for a, p in sorted(mon.oracle.items()))
    online = sum(1 for k in mon.keepers.values() if k.online)
    return (f"t={mon.t / 3600:6.2f} h block {mon.height} {lag_text(mon)} gas {mon.gas_gwei:.0f} gwei | "
            f"{prices or 'no oracle yet'} | "
            f"auctions open {len(mon.open)} settled {mon.settled}/{mon.announced} | keepers online "
            f"{online}/{len(mon.keepers)} | bad debt {units.num_f(mon.bad_debt):,.0f} USD")


def _market_text(mon: Monitor, asset: str) -> str:
    price = mon.market_price(asset)
    return f" market {price:,.2f}" if price is not None else ""


def render(mon: Monitor, title: str = "liqnet network") -> Group:
    """The rich view: header, auctions, keepers, recent results."""
    house = {None: "waiting", True: "[green]online[/]", False: "[red]offline[/]"}[mon.house_online]
    header = Text.from_markup(f"[bold]{title}[/]  house {house}  t = {mon.t / 3600:.2f} h  block {mon.height}  "
                              f"{lag_text(mon)}  gas {mon.gas_gwei:.0f} gwei")
    prices = Table(box=None, show_header=True, header_style="bold")
    for col in ("asset", "oracle", "market", "gap"):
        prices.add_column(col, justify="right")
    for asset, oracle in sorted(mon.oracle.items()):
        market = mon.market_price(asset)
        gap = f"{(oracle / market - 1):+.1%}" if market else "-"
        prices.add_row(asset, f"{oracle:,.2f}", f"{market:,.2f}" if market is not None else "-", gap)
    auctions = Table(title=f"open auctions ({len(mon.open)})", box=None, header_style="bold")
    for col in ("id", "design", "status", "lot", "tab USD", "top / bid"):
        auctions.add_column(col, justify="right")
    for sid in sorted(mon.open)[:10]:
        s = mon.open[sid]
        top = units.num_f(s.top_q or s.bid)  # a Dutch top, else an English bid (0 for the other designs)
        auctions.add_row(str(sid), s.design, s.status + (f" {s.phase}" if s.phase else ""),
                         f"{units.col_f(s.lot):,.3f}", f"{units.num_f(s.tab):,.0f}", f"{top:,.2f}")
    keepers = Table(title=f"keepers ({sum(k.online for k in mon.keepers.values())} online)", box=None,
                    header_style="bold")
    for col in ("keeper", "status", "balance USD", "P&L USD", "actions", "won", "rejected", "last action"):
        keepers.add_column(col, justify="right" if col not in ("keeper", "last action") else "left")
    for kid, row in sorted(mon.keepers.items()):
        status = "[green]online[/]" if row.online else "[red]offline[/]"
        keepers.add_row(kid, status, f"{units.num_f(row.balance):,.0f}", f"{units.num_f(row.pnl):+,.0f}",
                        str(row.actions), str(row.won), str(row.rejected), row.last)
    totals = Text(f"settled {mon.settled} of {mon.announced} auctions; raised {units.num_f(mon.revenue):,.0f} USD; "
                  f"bad debt {units.num_f(mon.bad_debt):,.0f} USD")
    return Group(header, prices, auctions, keepers, totals, Text("\n".join(mon.recent), style="dim"))
