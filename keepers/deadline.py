"""Decision deadlines for the live keeper process.

The core never measures wall-clock time (the simulator is deterministic and does not need this). A live
keeper wraps its strategy in ``DeadlineStrategy`` so that a hung or slow strategy costs one missed
decision, not the keeper: the call runs in a daemon thread and is abandoned after ``timeout_s``.
Python cannot kill a thread, so while an abandoned call is still running the strategy is considered
busy and later calls abstain at once instead of piling up threads or running the strategy concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

from keepers.api import AuctionView, Bid, Context, ResultView, Strategy, Take

T = TypeVar("T")
log = structlog.get_logger()


class DeadlineExceeded(TimeoutError):
    """A call did not return within its deadline; it may still be running in its thread."""


def call_with_deadline(fn: Callable[[], T], timeout_s: float) -> T:
    """Run ``fn()`` in a daemon thread; return its value, re-raise its exception, or raise
    ``DeadlineExceeded`` after ``timeout_s`` seconds (the thread is left to finish on its own)."""
    box: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller, who decides
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="liqnet-strategy-call", daemon=True).start()
    if not done.wait(timeout_s):
        raise DeadlineExceeded(f"no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


class DeadlineStrategy(Strategy):
    """``inner`` with every hook bounded by ``timeout_s``; a late or busy decision is ``None``."""

    def __init__(self, inner: Strategy, timeout_s: float) -> None:
        super().__init__(**inner.config)
        self.inner, self.timeout_s = inner, timeout_s
        self._busy: threading.Event | None = None
        self.missed = 0

    @property
    def label(self) -> str:
        return self.inner.label

    def on_start(self, ctx: Context) -> None:
        self._call(lambda: self.inner.on_start(ctx), "on_start")

    def on_auction(self, auction: AuctionView, ctx: Context) -> Take | Bid | None:
        return self._call(lambda: self.inner.on_auction(auction, ctx), "on_auction")

    def on_result(self, result: ResultView, ctx: Context) -> None:
        self._call(lambda: self.inner.on_result(result, ctx), "on_result")

    def on_stop(self, ctx: Context) -> None:
        self._call(lambda: self.inner.on_stop(ctx), "on_stop")

    def _call(self, fn: Callable[[], T], hook: str) -> T | None:
        if self._busy is not None and not self._busy.is_set():
            self.missed += 1
            log.warning("strategy.busy", hook=hook, strategy=self.label)
            return None
        finished = threading.Event()

        def tracked() -> T:
            try:
                return fn()
            finally:
                finished.set()

        try:
            return call_with_deadline(tracked, self.timeout_s)
        except DeadlineExceeded:
            self._busy = finished
            self.missed += 1
            log.warning("strategy.deadline", hook=hook, strategy=self.label, timeout_s=self.timeout_s)
            return None
