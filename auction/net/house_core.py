"""The network house's synchronous core: the run kernel plus admission, the journal and retained state.

Everything that decides, nothing that waits: ``HouseProcess`` (``auction.net.house_proc``) drives it with a
wall clock over a bus. Admission checks each keeper action (decode, signature, key bound to the keeper id,
nonce: ``broker.signing.Verifier``); an accepted action is journaled with its batch before the kernel applies
it, so a restarted house replays the journal into the very same state.

Receipts: every action gets one, and only after the batch that decided it is journaled (the outputs of
``apply`` are published after its journal write): a ``Rejection`` when admission refuses it, else, from
the block that includes it, an ``Ack`` or a ``Rejection`` (a ``Register``: an ``Ack`` at once). An exact
redelivery of an action already decided gets its receipt again, so a keeper may resend until it sees one.
After every batch, each keeper whose money moved gets its retained ``Account``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import structlog

from auction import units
from auction.book.ledger import Ledger
from auction.errors import Rejected
from auction.net.journal import Entry, Journal, JournalError
from auction.net.runspec import RunSpec
from auction.run.kernel import Kernel
from auction.run.result import RunResult
from auction.scenario.world import World
from broker import messages as m
from broker import topics
from broker.signing import Verifier

log = structlog.get_logger()

REPLAY_FIX = ("finish that run with the liqnet and scenario file that wrote it, or start a new run with a new "
              "--journal file")

RECEIPTS_KEPT = 256  # receipts remembered per keeper, to answer a redelivery (the verifier's window)
# Batches whose outputs may be in flight at once (handed to the broker, not all acknowledged): the house
# journals no new batch beyond this, and a restarted house publishes the events of this many last batches again.
# As many as the bus's window of outstanding publishes (``broker.mqtt_bus.WINDOW``), so that it is the window,
# not this bound, that paces a busy house: waiting on the broker batch by batch costs a round trip per block.
BATCHES_IN_FLIGHT = 256



class JournalDiverged(JournalError):
    """The journal's rows do not replay into the run they recorded (another liqnet version, or a scenario file
    changed in a way its digest cannot see). One line naming the journal and the row; the CLI exits 2."""


__all__ = ["HouseCore", "JournalDiverged", "JournalError", "compare_result", "ledger_snapshot", "rejection"]


class HouseCore:
    """The run kernel plus what a network house adds: admission (signatures, nonces), the journal, and
    the retained state it publishes. Everything that decides, nothing that waits."""

    def __init__(self, world: World, spec: RunSpec, journal: Journal | None = None) -> None:
        self.world, self.spec, self.journal = world, spec, journal
        self.kernel = Kernel(world, spec.design, capital=spec.capital)
        self.ledger, self.house = self.kernel.ledger, self.kernel.house
        self.end = self.kernel.end
        self.verifier = Verifier(spec.funding.keys)  # the keyring binds ids to keys; others by first use
        self.retained: dict[str, bytes] = {}  # topic -> payload: the current state the house publishes
        self.results: dict[int, m.Result] = {}
        self.receipts: dict[str, OrderedDict[int, m.Ack | m.Rejection]] = {}  # keeper -> nonce -> receipt
        self._accounts: dict[str, tuple[int, int, int, int]] = {}  # keeper -> (funded, balance, held, gas) shown

    @property
    def now(self) -> float:
        """Scenario time of the last input applied."""
        return self.kernel.now

    @property
    def finished(self) -> bool:
        return self.kernel.finished

    @property
    def funded(self) -> dict[str, int]:
        return self.kernel.funded

    @property
    def at_end(self) -> bool:
        return self.kernel.at_end

    # -- time --------------------------------------------------------------------------------------------
    def next_time(self) -> float:
        """Scenario time of the next scheduled input (oracle update, block), or the end."""
        nxt = self.kernel.next_input()
        return self.end if nxt is None else nxt.t

    def due(self, now: float, *, blocks: int | None = None) -> list[Entry]:
        """Oracle updates and blocks with time <= ``now``, in the kernel's order, as journal entries;
        at most ``blocks`` blocks (the process takes one at a time, so keepers can act between blocks)."""
        updates = self.world.oracle_updates
        return [Entry("oracle", inp.t, json.dumps(updates[inp.n][1], sort_keys=True).encode()) if inp.kind == "oracle"
                else Entry("block", inp.t, str(inp.n).encode()) for inp in self.kernel.due(now, blocks=blocks)]

    # -- admission ---------------------------------------------------------------------------------------
    def admit(self, payload: bytes, sender: str | None, now: float) -> tuple[Entry | None, list[m.Message]]:
        """Check one keeper action; an accepted one comes back as the journal entry to apply.

        Returns (None, [Rejection]) for a refused action (sent to the keeper of the topic), (None, []) for an
        exact redelivery of an action already accepted (QoS 1 duplicates are ignored).
        """
        now = max(now, self.now)
        try:
            action = m.decode(payload, allowed=topics.ACTION_TAGS)
        except Rejected as exc:
            return None, rejection(sender, 0, exc, now)
        assert isinstance(action, m.ACTIONS)
        try:
            if isinstance(action, m.Register):  # who may register at all: the house's configuration
                self.spec.funding.check_register(action.keeper, self.funded)
            fresh = self.verifier.check(action, units.ms(now), sender=sender)
        except Rejected as exc:
            return None, rejection(sender, action.nonce, exc, now)
        if not fresh:
            kept = self.receipts.get(action.keeper)
            receipt = kept.get(action.nonce) if kept is not None else None
            # No second effect ("ignored"); its receipt again, if it is still known, so that a resend gets an answer.
            log.debug("duplicate action ignored", keeper=action.keeper, nonce=action.nonce, receipt=receipt is not None)
            return None, [] if receipt is None else [receipt]
        return Entry("action", now, bytes(payload)), []

    # -- applying ----------------------------------------------------------------------------------------
    def apply(self, entries: list[Entry]) -> list[m.Message]:
        """Journal the batch (one transaction) and mark it published, then run it through the kernel; returns
        what to publish.

        The mark comes before the publish, not after: the house must know everything it may have published. A
        crash between mark and publish leaves a batch marked but never seen by anyone, which is harmless (the
        journal holds it, and a restart publishes its outcome again). The other order would leave a window
        where an outcome is out but unmarked: if the WAL then lost that batch (a power loss, a WAL deleted or
        not backed up), a restart could not tell, and would replay a shorter history and carry on differently
        from what keepers saw. Marked before, the journal refuses to open instead (``JournalLost``).
        """
        if self.journal is not None:
            self.journal.append(entries)
            self.journal.mark_published()
        out: list[m.Message] = []
        for entry in entries:
            out += self._apply(entry, replay=False)
        return out + self._accounts_changed(self.now)

    def finish(self) -> list[m.Message]:
        """Close the run at its end; the journal's finish row records the final ledger (marked, then published)."""
        out = self.kernel.finish()
        self._track(out)
        out += self._accounts_changed(self.end)
        if self.journal is not None:
            self.journal.append([Entry("finish", self.end, json.dumps(ledger_snapshot(self.ledger)).encode())])
            self.journal.mark_published()
        return out

    def replay(self) -> list[m.Message]:
        """Rebuild the state from the journal; returns the outputs of its last ``BATCHES_IN_FLIGHT`` batches (to
        publish again: they may not all have reached the broker before the house stopped)."""
        if self.journal is None:
            return []
        last = self.journal.last_batch - BATCHES_IN_FLIGHT
        outputs: list[m.Message] = []
        n = 0
        for entry in self.journal.entries():
            n += 1
            out = self._replay(entry)
            if entry.batch > last:
                outputs += out
        if n:
            log.info("journal replayed", inputs=n, t=self.now, height=self.house.height, auctions=len(self.house.sales))
        return outputs + self._accounts_changed(self.now)

    def _replay(self, entry: Entry) -> list[m.Message]:
        """One journaled input again; anything that does not replay is one line naming the journal and the row."""
        where = f"journal {self.journal.path if self.journal else '-'}: row {entry.seq} ({entry.kind} at t={entry.t:g})"
        try:
            return self._apply(entry, replay=True)
        except JournalDiverged as exc:
            raise JournalDiverged(f"{where} does not replay: {exc}; {REPLAY_FIX}") from None
        except (Rejected, ValueError, KeyError, TypeError) as exc:
            raise JournalDiverged(f"{where} does not replay ({type(exc).__name__}: {exc}); {REPLAY_FIX}") from None

    def _apply(self, entry: Entry, *, replay: bool) -> list[m.Message]:
        out: list[m.Message]
        if entry.kind in ("oracle", "block"):
            out = self._scheduled(entry)
        elif entry.kind == "action":
            out = self._action(entry, replay=replay)
        else:  # finish
            out = self.kernel.finish()
            if json.loads(entry.payload) != ledger_snapshot(self.ledger):
                raise JournalDiverged("the replayed ledger differs from the one the journal recorded at the end")
        self._track(out)
        return out

    def _scheduled(self, entry: Entry) -> list[m.Message]:
        """A journaled oracle update or block: it must be the kernel's next scheduled input."""
        nxt = self.kernel.next_input()
        if nxt is None or nxt.kind != entry.kind or nxt.t != entry.t:
            raise JournalDiverged(f"it is not the next input of this scenario ({nxt})")
        if entry.kind == "block" and str(nxt.n).encode() != entry.payload:
            raise JournalDiverged(f"block {entry.payload!r} replayed as height {nxt.n}")
        if entry.kind == "oracle" and json.loads(entry.payload) != self.world.oracle_updates[nxt.n][1]:
            raise JournalDiverged("its oracle prices differ from the scenario's")
        return self.kernel.apply(nxt)

    def _action(self, entry: Entry, *, replay: bool) -> list[m.Message]:
        action = m.decode(entry.payload, allowed=topics.ACTION_TAGS)
        assert isinstance(action, m.ACTIONS)
        if replay and not self.verifier.check(action, units.ms(entry.t), sender=action.keeper):
            raise JournalDiverged("it is a duplicate action")
        if isinstance(action, m.Register) and action.keeper not in self.funded:
            out = self.kernel.act(action, entry.t)
            log.info("keeper funded", keeper=action.keeper, usd=units.num_f(self.funded[action.keeper]))
            return out
        return self.kernel.act(action, entry.t)

    def _accounts_changed(self, t: float) -> list[m.Message]:
        """An ``Account`` for every funded keeper whose money changed since the last one it was shown (tracked
        as retained state)."""
        held: dict[str, int] = {}
        for auction, keepers in self.ledger.holders.items():
            for keeper in keepers:
                held[keeper] = held.get(keeper, 0) + self.ledger.held(auction, keeper)
        gas = self.ledger.totals.by_keeper
        out: list[m.Message] = []
        for keeper, funded in self.funded.items():
            now = (funded, self.ledger.escrow(keeper), held.get(keeper, 0), gas[keeper]["gas"] if keeper in gas else 0)
            if self._accounts.get(keeper) != now:
                self._accounts[keeper] = now
                out.append(m.Account(keeper=keeper, funded=now[0], balance=now[1], held=now[2], gas_paid=now[3],
                                     height=self.house.height, ts_ms=units.ms(t)))
        self._track(out)
        return out

    def _track(self, out: Iterable[m.Message]) -> None:
        """Track what is retained now, the receipts and the results (for redeliveries, watchers, the report)."""
        for msg in out:
            if isinstance(msg, m.Result):
                self.results[msg.auction] = msg
                for keeper in msg.forfeited:  # the one refusal that is not a rejection: say it in the log
                    log.info("deposit forfeited", auction=msg.auction, keeper=keeper)
            elif isinstance(msg, m.Ack | m.Rejection):
                kept = self.receipts.setdefault(msg.keeper, OrderedDict())
                kept[msg.ref] = msg
                if len(kept) > RECEIPTS_KEPT:
                    kept.popitem(last=False)
            for topic, payload, retain in topics.publications(msg):
                if retain:
                    if payload:
                        self.retained[topic] = payload
                    else:
                        self.retained.pop(topic, None)

    # -- the report --------------------------------------------------------------------------------------
    def run_result(self) -> RunResult:
        """Metrics and series of the run, exactly as the simulator makes them (the kernel's result)."""
        return self.kernel.result()


def ledger_snapshot(ledger: Ledger) -> dict[str, Any]:
    """Every non-zero balance and every auction book: what 'identical balances' compares."""
    balances = {f"{holder}|{asset}": amount for (holder, asset), amount in sorted(ledger.bal.items()) if amount}
    books = {str(a): [b.seized, b.sold, b.returned, b.raised, b.repaid, b.bad_debt, int(b.closed)]
             for a, b in sorted(ledger.books.items())}
    return {"balances": balances, "books": books}


def compare_result(core: HouseCore) -> Any:
    """The run as a one-seed, one-design ``CompareResult`` with mode "network"."""
    from auction.compare.sweep import CompareResult, Run, Variant

    variant = Variant(core.spec.design, core.spec.design)
    run = Run(variant, core.spec.seed, core.run_result())
    return CompareResult(core.world.scenario, (core.spec.design,), (core.spec.seed,), (variant,), [run],
                         mode="network")


def rejection(keeper: str | None, ref: int, exc: Rejected, now: float) -> list[m.Message]:
    log.info("action rejected", keeper=keeper, ref=ref, code=exc.code, reason=exc.message)
    if keeper is None:
        return []
    return [m.Rejection(keeper=keeper, ref=ref, code=exc.code, text=exc.message[:500], ts_ms=units.ms(now))]



