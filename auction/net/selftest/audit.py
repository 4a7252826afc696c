"""The audit of a fault run, from the house's journal: the only record that survives every fault.

``replay_journal`` replays every journaled input through a fresh, unfaulted ``HouseCore``; ``audit`` compares:
nothing lost (judged on the faulted house's own final record), nothing settled twice, value conserved
(``Ledger.check``), the same final ledger as the unfaulted replay, and every action the keepers say they sent
(``action sent`` log lines) accounted for against the journal (accepted) and the house's ``action rejected``
log lines (refused with a reason).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec

from auction.net.house_core import HouseCore, ledger_snapshot
from auction.net.journal import Entry, Journal
from auction.net.runspec import load_run
from auction.net.selftest.logs import log_time
from broker import messages as m


class Cluster(Protocol):
    """What the audit reads of a run (``auction.net.selftest.harness.Cluster``)."""

    journal_path: Path
    watcher: Any
    keepers: dict[str, Any]
    house_lives: list[Any]


@dataclass(slots=True)
class Replay:
    """A fresh house fed every journaled input, entry by entry, as an unfaulted run would have been."""

    core: HouseCore
    entries: list[Entry]
    recorded_final: dict[str, Any] | None  # the ledger the faulted house wrote at its end (journal finish row)
    opened: list[int] = field(default_factory=list)  # auctions the journaled inputs opened
    closed_by_house: set[int] = field(default_factory=set)  # auctions the faulted house itself closed
    closed_at_end: int = 0  # of those, still open at the last block: closed by the run's end (finish)


def replay_journal(path: Path, hook: Callable[[HouseCore, Entry], None] | None = None, *,
                   skip: Callable[[Entry], bool] | None = None) -> Replay:
    """Rebuild the run from the journal at ``path``; ``hook(core, entry)`` is called before each input.

    ``skip``: inputs to leave out, for a counterfactual run (the same run without one keeper's action).
    What the faulted house closed is read from its own record (the books of its finish row), not from this
    replay's ``finish()``, which closes every auction still open: a house that lost track of an auction
    leaves it open in that record, and the audit counts it lost.
    """
    from auction.scenario.build import build_world

    with Journal(path, access="read") as jr:
        spec, scenario = load_run(None, None, None, None, None, jr)
        entries = list(jr.entries())
    core = HouseCore(build_world(scenario, spec.design, spec.seed), spec)  # no journal: nothing is written
    recorded: dict[str, Any] | None = None
    for entry in entries:
        if skip is not None and skip(entry):
            continue
        if hook is not None:
            hook(core, entry)
        if entry.kind == "finish":
            recorded = json.loads(entry.payload)
            continue
        core.apply([entry])
    replay = Replay(core, entries, recorded, opened=sorted(core.house.sales))
    before = {a for a, book in core.ledger.books.items() if book.closed}
    if recorded is not None:
        core.finish()
        replay.closed_by_house = {int(a) for a, row in recorded.get("books", {}).items() if row[-1]}
        replay.closed_at_end = len(replay.closed_by_house - before)
    else:  # the run did not end: what the journal closed is all the house closed
        replay.closed_by_house = before
    return replay


@dataclass(slots=True)
class Audit:
    """What a run kept and lost, judged from the journal, the watcher and the processes' logs."""

    auctions: int = 0  # auctions the house opened
    settled: int = 0  # of those, closed by the faulted house (its own final record)
    closed_at_end: int = 0  # of those, still open at the last block and closed by the end of the run
    lost: list[int] = field(default_factory=list)  # opened or announced, never closed by the faulted house
    double_settled: list[int] = field(default_factory=list)  # two different outcomes, or a result for no auction
    conserved: bool = False  # Ledger.check: conservation, nothing negative, both book identities counted apart
    matches_unfaulted: bool = False  # final ledger == an unfaulted house fed the same accepted inputs
    finished: bool = False  # the journal records the end of the run
    accepted: int = 0  # keeper actions the house accepted (journaled)
    refused: int = 0  # keeper actions refused at admission, each with a reason code
    refusals: dict[str, int] = field(default_factory=dict)  # refusal code -> count
    sent: int = 0  # actions the keepers logged as sent
    after_end: int = 0  # sent once the house had published its last block: the run was over
    unaccounted: list[tuple[str, int]] = field(default_factory=list)  # sent, neither journaled nor refused
    sent_at: dict[tuple[str, int], float] = field(default_factory=dict)  # when each unaccounted one was sent
    unseen_results: list[int] = field(default_factory=list)  # settled, but the watcher never got the result
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.finished and self.conserved and self.matches_unfaulted and not self.lost
                and not self.double_settled and not self.problems)

    def describe(self) -> str:
        return (f"auctions={self.auctions} settled={self.settled} lost={self.lost} double={self.double_settled} "
                f"conserved={self.conserved} matches_unfaulted={self.matches_unfaulted} finished={self.finished} "
                f"accepted={self.accepted} refused={self.refused} {self.refusals} sent={self.sent} "
                f"after_end={self.after_end} "
                f"unaccounted={self.unaccounted[:10]} unseen_results={self.unseen_results} problems={self.problems}")


def audit(cluster: Cluster, replay: Replay | None = None) -> Audit:
    """Judge a finished run: nothing lost, nothing settled twice, value conserved, same as unfaulted."""
    replay = replay or replay_journal(cluster.journal_path)
    core, out = replay.core, Audit()
    out.finished = replay.recorded_final is not None
    out.matches_unfaulted = out.finished and ledger_snapshot(core.ledger) == replay.recorded_final
    out.conserved = conserved(core, out.problems)
    sales = core.house.sales
    seen = cluster.watcher
    out.auctions = len(sales)
    out.lost = lost(set(replay.opened) | set(seen.announced), replay.closed_by_house)
    out.settled = len(replay.closed_by_house & set(sales))
    out.closed_at_end = replay.closed_at_end
    out.double_settled = sorted({a for a, payloads in seen.results.items() if len(payloads) > 1}
                                | (set(seen.results) - set(sales)))
    for a, msg in seen.result_msgs.items():  # what was published is what the ledger holds
        if a in core.results and m.encode(msgspec.structs.replace(msg, sig="")) != m.encode(core.results[a]):
            out.double_settled.append(a)
            out.problems.append(f"auction {a}: the published result differs from the journal's")
    out.unseen_results = sorted(set(core.results) - set(seen.results))
    if seen.undecodable:
        out.problems.append(f"{len(seen.undecodable)} house messages did not decode: {seen.undecodable[:3]}")
    _account_actions(cluster, replay, out)
    return out


def lost(opened: set[int], closed: set[int]) -> list[int]:
    """Auctions opened (in the journal) or announced (on the wire) that the faulted house never closed."""
    return sorted(opened - closed)


def conserved(core: HouseCore, problems: list[str]) -> bool:
    """``Ledger.check``: exact conservation of value and debt, nothing negative, and both book identities on
    every auction, each side counted on its own (``auction.book.ledger``)."""
    try:
        core.ledger.check()
    except AssertionError as exc:
        problems.append(f"ledger check: {exc}")
        return False
    return True


def action_pairs(entries: Sequence[Entry]) -> list[tuple[Entry, m.Action]]:
    """The journaled keeper actions, decoded, with their entries."""
    out: list[tuple[Entry, m.Action]] = []
    for e in entries:
        if e.kind == "action":
            action = m.decode(e.payload)
            assert isinstance(action, m.ACTIONS)
            out.append((e, action))
    return out


def _account_actions(cluster: Cluster, replay: Replay, out: Audit) -> None:
    """Every action a keeper sent is in the journal (accepted) or in the house's log (refused, with a code).

    Actions sent after the watcher got the house's last block arrived after the run was over: counted apart.
    """
    accepted = {(a.keeper, a.nonce) for _, a in action_pairs(replay.entries)}
    refused: set[tuple[str, int]] = {(r.keeper, r.ref) for _, r in cluster.watcher.rejections}
    codes: dict[str, int] = defaultdict(int)
    for house in cluster.house_lives:
        for ev in house.events():
            if ev.get("event") == "action rejected" and ev.get("keeper") is not None:
                codes[str(ev.get("code"))] += 1
                if "ref" in ev:
                    refused.add((str(ev["keeper"]), int(ev["ref"])))
    for child in cluster.keepers.values():  # what each sender was told: the agent logs every rejection
        for ev in child.events():
            if ev.get("event") == "action.rejected" and "ref" in ev:
                refused.add((child.name, int(ev["ref"])))
    n_blocks = replay.core.kernel.n_blocks
    last_block = max((at for at, b in cluster.watcher.blocks if b.height >= n_blocks), default=math.inf)
    sent: dict[tuple[str, int], float] = {}
    for child in cluster.keepers.values():  # the sender's own record: one "action sent" line per action
        for ev in child.events():
            if ev.get("event") == "action sent":
                sent[(str(ev["keeper"]), int(ev["nonce"]))] = log_time(ev)
    logged = {k for k, _ in sent}
    for at, keeper, payload in cluster.watcher.actions:  # else what the broker carried (keepers not logging it)
        if keeper not in logged:
            with contextlib.suppress(Exception):
                action = m.decode(payload)
                if isinstance(action, m.ACTIONS) and not isinstance(action, m.Register):
                    sent.setdefault((action.keeper, action.nonce), at)
    missing = set(sent) - accepted - refused
    late = {k for k in missing if sent[k] >= last_block}
    out.accepted, out.refused, out.refusals, out.sent = len(accepted), len(refused - accepted), dict(codes), len(sent)
    out.after_end = len(late)
    out.unaccounted = sorted(missing - late)
    out.sent_at = {k: sent[k] for k in out.unaccounted}
