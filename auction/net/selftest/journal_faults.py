"""The journal under attack and accident: a second house, a lost or cut WAL, edited rows, damaged files.

``journal_guards`` runs a real network (``Cluster``: broker, house with its journal, three keepers) and, while
auctions are settled and open: starts a second house on the same journal (it must be refused at open, with one
line naming the first one's pid, exit 2, while the first goes on); kills the house with SIGKILL; restarts it
with its WAL deleted, then with the WAL cut by 64 bytes (each refused in one line, exit 2: the journal ends
before what was published), then with the WAL put back (it resumes and finishes). The run is then audited like
every fault run: nothing lost, nothing settled twice, value conserved, same ledger as an unfaulted house.

``corruptions`` takes the finished run's journal and damages copies of it in ``CORRUPTIONS`` ways (an oracle
digit, a deleted row, an edited header, a damaged page, a torn or foreign file, a lost or older WAL, marks of
another run ...). ``liqnet house --journal COPY`` must refuse every one with exit 2 and exactly one line that
names the journal, without a traceback: nothing half-replayed, nothing published.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auction.net.selftest.harness import Audit, Cluster, FaultError, audit
from broker.server import Prefer

DEAD_BROKER = "mqtt://127.0.0.1:1"  # a house that wrongly accepted a journal fails to connect here, exit 1
SIDES = ("-wal", "-shm", ".published")


@dataclass(slots=True)
class Refusal:
    """What ``liqnet house`` did with one damaged journal."""

    name: str
    code: int | None
    lines: list[str]  # stderr lines
    traceback: bool = False

    @property
    def refused(self) -> bool:
        """Exit 2, one line naming the journal, no traceback."""
        return (self.code == 2 and not self.traceback and len(self.lines) == 1
                and self.lines[0].startswith("liqnet: error: ") and "journal" in self.lines[0])


@dataclass(slots=True)
class JournalReport:
    refusals: list[Refusal] = field(default_factory=list)  # live: second house, WAL deleted, WAL cut
    corruptions: list[Refusal] = field(default_factory=list)
    audit: Audit = field(default_factory=Audit)
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.audit.ok and all(self.checks.values()) and all(r.refused for r in self.refusals)
                and bool(self.corruptions) and all(r.refused for r in self.corruptions))

    def describe(self) -> str:
        bad = [f"{r.name}: exit {r.code}, traceback={r.traceback}, {r.lines[:3]}"
               for r in [*self.refusals, *self.corruptions] if not r.refused]
        failed = [k for k, v in self.checks.items() if not v]
        return (f"journal: failed_checks={failed} not refused={bad} figures={self.figures}\n"
                f"  audit: {self.audit.describe()}")


# --- a live run --------------------------------------------------------------------------------------------


async def journal_guards(workdir: Path, *, prefer: Prefer = "auto") -> JournalReport:
    t0 = time.time()
    report = JournalReport()
    async with Cluster(workdir, prefer=prefer) as cluster:
        w = cluster.watcher
        cluster.start_keepers()
        first = cluster.start_house()
        await cluster.until(cluster.started, 60, "the house's clock to start")
        await cluster.until(lambda: len(w.results) >= 2 and bool(w.open_auctions()), 60, "auctions settled and open")
        second = cluster.start_house(resume=True)  # the same journal, while the first house has it
        code = await _exited(second, 60)
        report.refusals.append(_refusal("a second house on the journal", code, second.log_path))
        report.checks["the first house went on while the second was refused"] = first.alive()
        cluster.house, cluster.house_lives = first, [h for h in cluster.house_lives if h is not second]
        await cluster.until(lambda: len(w.results) >= 6 and bool(w.open_auctions()), 60, "more auctions settled")
        first.signal(signal.SIGKILL)
        if first.wait(5) != -signal.SIGKILL:
            raise FaultError(f"the house did not die of SIGKILL\n{cluster.tails()}")
        path = cluster.journal_path
        kept = _backup(path, workdir / "backup")
        for name, damage in (("the WAL deleted after a crash", _delete_wal), ("the WAL cut by 64 bytes", _cut_wal)):
            _restore(kept, path)
            damage(path)
            attempt = cluster.start_house(resume=True)
            report.refusals.append(_refusal(name, await _exited(attempt, 60), attempt.log_path))
            cluster.house_lives = [h for h in cluster.house_lives if h is not attempt]
        _restore(kept, path)
        cluster.start_house(resume=True)
        code = await cluster.house_done(120)
    report.audit = audit(cluster)
    report.checks["the house resumed on the restored WAL and finished (exit 0)"] = code == 0
    report.corruptions = corruptions(path, workdir / "damaged")
    report.figures = {"lives": len(cluster.house_lives), "auctions": report.audit.auctions}
    report.seconds = time.time() - t0
    return report


async def _exited(child: Any, timeout: float) -> int | None:
    import asyncio

    return await asyncio.to_thread(child.wait, timeout)


def _refusal(name: str, code: int | None, log: Path) -> Refusal:
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("liqnet: ")]
    return Refusal(name, code, lines, "Traceback" in text)


def _backup(path: Path, where: Path) -> list[tuple[Path, Path]]:
    where.mkdir(parents=True, exist_ok=True)
    pairs = []
    for src in [path, *(path.with_name(path.name + s) for s in SIDES)]:
        if src.exists():
            dst = where / src.name
            shutil.copy2(src, dst)
            pairs.append((dst, src))
    return pairs


def _restore(kept: list[tuple[Path, Path]], path: Path) -> None:
    for side in SIDES:
        path.with_name(path.name + side).unlink(missing_ok=True)
    for copy, original in kept:
        shutil.copy2(copy, original)


def _delete_wal(path: Path) -> None:
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)


def _cut_wal(path: Path) -> None:
    """64 bytes off the end of the WAL's live frames: its last transaction is lost. (After a checkpoint SQLite
    writes the WAL again from its start and leaves older frames behind them, which no reader uses: cutting the
    file's own tail would often cut only those, and lose nothing.)"""
    wal = path.with_name(path.name + "-wal")
    data = wal.read_bytes()
    wal.write_bytes(data[:_live_end(data) - 64])
    path.with_name(path.name + "-shm").unlink(missing_ok=True)  # volatile: rebuilt from the WAL


def _live_end(wal: bytes) -> int:
    """Where the WAL's frames of the current generation end: frames carry the salts of the WAL header (sqlite.org
    fileformat2, 4.1: a 32-byte header, then frames of a 24-byte header and one page; salts at bytes 16-24)."""
    header, page = 32, int.from_bytes(wal[8:12], "big")
    salts = wal[16:24]
    end = header
    while end + 24 + page <= len(wal) and wal[end + 8:end + 16] == salts:
        end += 24 + page
    return end


# --- damaged copies of a finished journal ----------------------------------------------------------------------


def _sql(*statements: str) -> Callable[[Path], None]:
    """Edit the journal as someone with the sqlite3 shell would: drop the guards, change rows."""

    def damage(path: Path) -> None:
        db = sqlite3.connect(path, isolation_level=None)
        for trigger in ("inputs_no_update", "inputs_no_delete", "header_no_update", "header_no_delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in statements:
            db.execute(statement)
        db.close()

    return damage


def _bytes(edit: Callable[[bytearray], None], side: str = "") -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = path.with_name(path.name + side)
        data = bytearray(target.read_bytes())
        edit(data)
        target.write_bytes(bytes(data))

    return damage


def _pages(data: bytearray) -> None:
    middle = (len(data) // 4096 // 2) * 4096
    data[middle:middle + 2 * 4096] = b"\xa5" * (2 * 4096)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _other_marks(path: Path) -> None:
    marks = path.with_name(path.name + ".published")
    first, _, rest = marks.read_text().partition("\n")
    marks.write_text(f"{first.split()[0]} {'0' * 32}\n{rest}")


def _older_copy(path: Path) -> None:
    """The journal put back from a copy made before the last rows: delete them, as an old backup lacks them."""
    _sql("DELETE FROM inputs WHERE seq > (SELECT MAX(seq) - 40 FROM inputs)")(path)


CORRUPTIONS: dict[str, Callable[[Path], Any]] = {
    "an oracle digit changed": _sql("UPDATE inputs SET payload = replace(payload, '.', '9.') WHERE seq = "
                                    "(SELECT MIN(seq) FROM inputs WHERE kind = 'oracle' AND seq > 10)"),
    "a block height changed": _sql("UPDATE inputs SET payload = CAST(CAST(payload AS INTEGER) + 1 AS BLOB) WHERE "
                                   "seq = (SELECT MIN(seq) FROM inputs WHERE kind = 'block' AND seq > 10)"),
    "an accepted action changed": _sql("UPDATE inputs SET payload = replace(payload, 'nonce', 'n0nce') WHERE seq = "
                                       "(SELECT MIN(seq) FROM inputs WHERE kind = 'action')"),
    "a row's time changed": _sql("UPDATE inputs SET t = t + 1 WHERE seq = 20"),
    "a row deleted": _sql("DELETE FROM inputs WHERE seq = 20"),
    "two rows swapped": _sql("UPDATE inputs SET seq = -1 WHERE seq = 20", "UPDATE inputs SET seq = 20 WHERE seq = 21",
                             "UPDATE inputs SET seq = 21 WHERE seq = -1"),
    "the finish row changed": _sql("UPDATE inputs SET payload = replace(payload, '1', '2') WHERE kind = 'finish'"),
    "the last rows gone (an older copy)": _older_copy,
    "the header's design changed": _sql("UPDATE header SET value = replace(value, '\"dutch\"', '\"fixed\"')"),
    "the header not JSON": _sql("UPDATE header SET value = 'not json'"),
    "the header deleted": _sql("DELETE FROM header"),
    "the hash column dropped (an older format)": _sql("ALTER TABLE inputs DROP COLUMN h"),
    "two pages overwritten": _bytes(_pages),
    "the file cut in half": _bytes(lambda data: data.__delitem__(slice(len(data) // 2, None))),
    "the file's first bytes overwritten": _bytes(lambda data: data.__setitem__(slice(0, 100), b"\x00" * 100)),
    "not a database at all": lambda path: _write(path, b"liqnet? no.\n" * 4000),
    "the journal deleted (its marks kept)": lambda path: path.unlink(),
    "the marks of another run": _other_marks,
    "the marks file damaged": _bytes(lambda data: data.__setitem__(slice(0, 40), b"#" * 40), ".published"),
}


def corruptions(journal: Path, scratch: Path) -> list[Refusal]:
    """Each corruption on a fresh copy of ``journal``; what ``liqnet house --journal COPY`` (a real process, two
    at a time) did with it."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = []
    for n, (name, damage) in enumerate(CORRUPTIONS.items()):
        where = scratch / f"{n:02d}"
        where.mkdir(parents=True, exist_ok=True)
        copy = where / journal.name
        for src in [journal, *(journal.with_name(journal.name + s) for s in SIDES)]:
            if src.exists():
                shutil.copy2(src, where / src.name)
        damage(copy)
        jobs.append((name, copy))
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda job: _house_on(*job), jobs))


def _house_on(name: str, copy: Path) -> Refusal:
    argv = [sys.executable, "-m", "auction.cli", "house", "--journal", str(copy), "--broker", DEAD_BROKER, "--out",
            str(copy.parent / "out")]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Refusal(name, None, ["(no answer in 120 s)"])
    lines = run.stderr.strip().splitlines()
    return Refusal(name, run.returncode, lines, "Traceback" in run.stderr)
