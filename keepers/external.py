"""A strategy whose decisions come from another process, in any language, over JSON lines.

Protocol (one JSON object per line, UTF-8; the keeper writes to the child's stdin and reads its stdout;
stderr is left to the terminal for the child's own logging):

- requests carry ``"type"`` and ``"seq"`` (1, 2, 3 ...):
  ``{"type": "start", "seq": 1, "api_version": 1, "config": {...}, "ctx": {...}}``,
  ``{"type": "auction", "seq": 2, "auction": {...}, "ctx": {...}}``,
  ``{"type": "result", "seq": 3, "result": {...}, "ctx": {...}}``, ``{"type": "stop", "seq": 4, "ctx": {...}}``;
- the child answers every request with exactly one line, echoing ``"seq"`` (a reply without ``seq`` is
  taken for the current request, but then a late reply after a timeout cannot be told apart).
  To an ``auction``: ``{"seq": 2, "take": {"max_price": 1700.0, "max_qty": 3.5}}`` (``priority_fee``
  optional, gwei; ``at_once`` optional, English: bid it all at once), ``{"seq": 2, "bid": {"price": 1650.0,
  "qty": 3.5}}``, or ``{"seq": 2}`` to abstain.
  To the others: ``{"seq": N}``.
- ``auction`` is the ``AuctionView`` as JSON (``id, design, asset, lot, tab, oracle_price, start, terms``,
  plus ``price_now`` for dutch); ``ctx`` is ``{keeper_id, now, balance, inventory, gas_price,
  native_price, market_price}`` with ``market_price`` the keeper's market price of the auction's asset
  (``null`` if it has none); ``result`` is the ``ResultView`` (``won, qty, cost, price, ...``).

A reply later than ``timeout`` seconds, a line that is not such JSON, or a dead process each give
``None`` (abstain) and a log line, never an exception. A dead process is not restarted.
Wall-clock timeouts make decisions depend on machine load; keep external strategies fast for
reproducible simulations.
"""

from __future__ import annotations

import json
import math
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

import structlog

from auction.errors import ConfigError
from keepers.api import AuctionView, Bid, Context, ResultView, Strategy, Take

log = structlog.get_logger()
_EOF = object()


class ExternalStrategy(Strategy):
    """Runs ``command`` as a child process and asks it for every decision."""

    name = "external"

    def __init__(self, command: Sequence[str], *, timeout: float = 2.0, **config: Any) -> None:
        command = [str(c) for c in command]
        if not command or shutil.which(command[0]) is None:
            raise ConfigError(f"external strategy: command {command[:1]} not found (give a path or a program on PATH)")
        super().__init__(**config)
        self.command, self.timeout = command, timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[object] = queue.Queue()
        self._seq = 0
        self._stale = 0  # requests that timed out: their late replies, if unnumbered, are skipped
        self._dead = False
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"exec:{' '.join(self.command)}"

    # -- hooks ----------------------------------------------------------------------------------------
    def on_start(self, ctx: Context) -> None:
        self._ask({"type": "start", "api_version": self.api_version, "config": self.config, "ctx": _ctx(ctx, None)})

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        reply = self._ask({"type": "auction", "auction": _auction(auction, ctx), "ctx": _ctx(ctx, auction.asset)})
        return _decision(reply, self.label) if reply is not None else None

    def on_result(self, result: ResultView, ctx: Context) -> None:
        self._ask({"type": "result", "result": _result(result), "ctx": _ctx(ctx, result.asset)})

    def on_stop(self, ctx: Context) -> None:
        if self._proc is not None and not self._dead:
            self._ask({"type": "stop", "ctx": _ctx(ctx, None)})
        self.close()

    def close(self) -> None:
        """Close the child's stdin and make sure it is gone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        self._dead = True

    # -- the conversation -----------------------------------------------------------------------------
    def _ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            proc = self._running()
            if proc is None or proc.stdin is None:
                return None
            self._seq += 1
            seq = request["seq"] = self._seq
            try:
                proc.stdin.write(json.dumps(request, allow_nan=False, default=str) + "\n")
                proc.stdin.flush()
            except (OSError, ValueError) as exc:
                self._died(f"cannot write to it: {exc}")
                return None
            return self._reply(seq)

    def _reply(self, seq: int) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._stale += 1
                log.warning("external.timeout", strategy=self.label, seq=seq, timeout_s=self.timeout)
                return None
            if line is _EOF:
                self._died("it exited")
                return None
            try:
                reply = json.loads(str(line))
            except ValueError:
                log.warning("external.bad_reply", strategy=self.label, line=str(line)[:200])
                return None
            if not isinstance(reply, dict):
                log.warning("external.bad_reply", strategy=self.label, line=str(line)[:200])
                return None
            late = reply["seq"] != seq if "seq" in reply else self._stale > 0
            if late:  # the answer to a request that timed out: skip it
                self._stale = max(0, self._stale - 1)
                continue
            return reply

    def _running(self) -> subprocess.Popen[str] | None:
        if self._dead:
            return None
        if self._proc is None:
            try:
                self._proc = subprocess.Popen(
                    self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
                )
            except OSError as exc:
                self._died(f"cannot start it: {exc}")
                return None
            assert self._proc.stdout is not None
            threading.Thread(target=_pump, args=(self._proc.stdout, self._lines), daemon=True).start()
        return self._proc

    def _died(self, why: str) -> None:
        if not self._dead:
            log.error("external.dead", strategy=self.label, reason=why)
        self._dead = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()


def _pump(stream: IO[str], lines: queue.Queue[object]) -> None:
    """Reader thread: the child's stdout, line by line, then an end marker."""
    try:
        for line in stream:
            if line.strip():
                lines.put(line)
    except (OSError, ValueError):
        pass
    lines.put(_EOF)


def _decision(reply: dict[str, Any], label: str) -> Take | Bid | None:
    try:
        if reply.get("take") is not None:
            t = reply["take"]
            fee = t.get("priority_fee")
            return Take(float(t["max_price"]), float(t["max_qty"]), None if fee is None else float(fee),
                        at_once=t.get("at_once") is True)
        if reply.get("bid") is not None:
            b = reply["bid"]
            return Bid(float(b["price"]), float(b["qty"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("external.bad_reply", strategy=label, reply=str(reply)[:200], error=str(exc))
    return None


def _auction(a: AuctionView, ctx: Context) -> dict[str, Any]:
    out = {"id": a.id, "design": a.design, "asset": a.asset, "lot": a.lot, "tab": a.tab,
           "oracle_price": a.oracle_price, "start": a.start, "terms": {k: _num(v) for k, v in a.terms.items()}}
    if a.design == "dutch" and "top" in a.terms:
        out["price_now"] = a.price_at(ctx.now)
    return out


def _result(r: ResultView) -> dict[str, Any]:
    return {"id": r.id, "design": r.design, "asset": r.asset, "won": r.won, "qty": r.qty, "cost": r.cost,
            "price": r.price, "clearing_price": r.clearing_price, "winners": list(r.winners), "forfeited": r.forfeited}


def _ctx(ctx: Context, asset: str | None) -> dict[str, Any]:
    price: float | None = None
    if asset is not None:
        try:
            price = ctx.market_price(asset)
        except Exception:
            price = None
    return {"keeper_id": ctx.keeper_id, "now": ctx.now, "balance": ctx.balance, "inventory": dict(ctx.inventory),
            "gas_price": ctx.gas_price, "native_price": ctx.native_price, "market_price": _num(price)}


def _num(v: Any) -> Any:
    """JSON has no infinity or NaN: send them as null."""
    return None if isinstance(v, float) and not math.isfinite(v) else v
