"""The auction house's journal: an append-only SQLite log of every input, for crash recovery.

Event sourcing: the house is deterministic given the sequence of its inputs (oracle updates, blocks, keeper
actions, each with its scenario time), so the inputs are the state. Before the house publishes the outcome
of a batch of inputs it appends the batch here in ONE transaction; a restarted house replays every input
through a fresh ``AuctionHouse`` and is back where it stopped, with identical balances.

Durability: WAL mode with ``synchronous=NORMAL`` by default. A committed transaction is in the WAL file
(written with ``write()`` before COMMIT returns), so it survives the failure the journal is for, a crash or
SIGKILL of the house process; only an OS crash or power loss can drop the last transactions, never corrupt
the file (SQLite docs, "WAL mode ... synchronous=NORMAL ... is always consistent"). FULL also fsyncs the WAL
at every commit: it survives power loss too, at the cost of one fsync per batch (``--journal-sync full``).

Rows are never updated or deleted (triggers refuse it). Layout::

    header(key TEXT PRIMARY KEY, value TEXT)                  what the run is: scenario, design, seed ...
    inputs(seq INTEGER PRIMARY KEY, batch INTEGER, kind TEXT, t REAL, payload BLOB)

``kind`` is ``oracle`` (payload: JSON {asset: price}), ``block`` (payload: the height, decimal), ``action``
(payload: the keeper's signed wire message, exactly as received) or ``finish`` (payload: JSON of the final
ledger balances, written once the run has ended). ``t`` is scenario seconds; SQLite REAL is an IEEE double,
so times replay bit for bit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from auction.errors import ConfigError

FORMAT: Final = "liqnet.journal/1"
KINDS: Final = ("oracle", "block", "action", "finish")
Kind = Literal["oracle", "block", "action", "finish"]
Sync = Literal["normal", "full"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS header (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (
    seq INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('oracle', 'block', 'action', 'finish')),
    t REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS inputs_no_update BEFORE UPDATE ON inputs
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS inputs_no_delete BEFORE DELETE ON inputs
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS header_no_update BEFORE UPDATE ON header
    BEGIN SELECT RAISE(ABORT, 'the journal header is written once'); END;
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One input of the house, as journaled."""

    kind: Kind
    t: float
    payload: bytes
    batch: int = 0
    seq: int = 0


class Journal:
    """An open journal file. ``append`` one batch per transaction; ``entries`` to replay."""

    def __init__(self, path: str | Path, *, sync: Sync = "normal") -> None:
        if sync not in ("normal", "full"):
            raise ConfigError(f"journal sync {sync!r}: use normal or full")
        self.path = Path(path)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
            self._db = sqlite3.connect(self.path, isolation_level=None)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute(f"PRAGMA synchronous={sync.upper()}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"journal {self.path}: not a liqnet journal or unreadable ({exc})") from None
        if str(mode).lower() != "wal":
            raise ConfigError(f"journal {self.path}: the file system does not support SQLite WAL mode")
        row = self._db.execute("SELECT COALESCE(MAX(batch), 0) FROM inputs").fetchone()
        self._batch = int(row[0])

    # -- header ----------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any] | None:
        """The run this journal belongs to, or None for a new (empty) journal."""
        row = self._db.execute("SELECT value FROM header WHERE key = 'run'").fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        if data.get("format") != FORMAT:
            raise ConfigError(f"journal {self.path}: format {data.get('format')!r} is not {FORMAT}")
        return dict(data)

    def write_header(self, run: dict[str, Any]) -> None:
        """Record what the run is (once, before the first input)."""
        text = json.dumps({"format": FORMAT, **run}, sort_keys=True)
        with self._transaction():
            self._db.execute("INSERT INTO header (key, value) VALUES ('run', ?)", (text,))

    # -- inputs ----------------------------------------------------------------------------------------
    def append(self, entries: Sequence[Entry]) -> int:
        """Append one batch atomically (all or nothing) and return its batch number."""
        if not entries:
            return self._batch
        batch = self._batch + 1
        with self._transaction():
            self._db.executemany(
                "INSERT INTO inputs (batch, kind, t, payload) VALUES (?, ?, ?, ?)",
                [(batch, e.kind, float(e.t), bytes(e.payload)) for e in entries],
            )
        self._batch = batch
        return batch

    def entries(self) -> Iterator[Entry]:
        """Every input in the order it was appended."""
        cursor = self._db.execute("SELECT seq, batch, kind, t, payload FROM inputs ORDER BY seq")
        for seq, batch, kind, t, payload in cursor:
            yield Entry(kind, float(t), bytes(payload), int(batch), int(seq))

    @property
    def last_batch(self) -> int:
        return self._batch

    def count(self, kind: Kind | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM inputs WHERE kind = ?", (kind,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Txn:
        return _Txn(self._db)


class _Txn:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, et: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("COMMIT" if et is None else "ROLLBACK")
