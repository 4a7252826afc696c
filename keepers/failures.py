"""A keeper's strategy failures: counted, the first one kept with its traceback, logged once.

A strategy that raises on every auction would otherwise log one warning per call (31,758 JSON lines for one
Black Thursday comparison, with no file or line). Here the first failure of each keeper is a warning that
names the file and line; later ones are logged at debug only, and counted. The count reaches the run's
metrics (``strategy_errors``) and the first traceback is printed once by the command that ran the keepers.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Failures:
    count: int = 0  # hooks that raised and decisions that were invalid
    decisions: int = 0  # on_auction calls
    failed_decisions: int = 0  # of those, the ones that raised or returned an invalid decision
    first: str = ""  # the first failure: which hook, where, and the traceback
    first_at: float = 0.0  # scenario time of the first failure

    def failed(self, log: Any, now: float, hook: str, exc: BaseException | None = None, *, decision: Any = None,
               **fields: Any) -> None:
        """Count one failure of ``hook`` (an exception ``exc``, or the invalid ``decision`` it returned)."""
        self.count += 1
        if hook == "on_auction":
            self.failed_decisions += 1
        if exc is None:
            what, where = f"returned an invalid decision {decision!r}", ""
        else:
            what, where = f"raised {type(exc).__name__}: {exc}", _where(exc)
        if self.count > 1:
            log.debug("strategy.error", hook=hook, error=what, **fields)
            return
        self.first_at = now
        trace = "" if exc is None else "".join(traceback.format_exception(exc)).rstrip()
        self.first = f"{hook} {what}" + (f" at {where}" if where else "") + (f"\n{trace}" if trace else "")
        log.warning("strategy.error", hook=hook, error=what, where=where,
                    note="the first of this keeper; later ones are counted and logged at debug", **fields)


def _where(exc: BaseException) -> str:
    """``file:line`` of the frame that raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
