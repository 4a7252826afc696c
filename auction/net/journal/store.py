"""The SQLite journal itself: append, replay, and the checks at open (see the package docstring)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from auction.errors import ConfigError
from auction.net.journal.errors import JournalCorrupt, JournalError, JournalLocked, JournalLost, JournalTampered
from auction.net.journal.lock import Lock
from auction.net.journal.marks import Marks
from auction.net.journal.rows import FORMAT, START_OVER, Access, Entry, Kind, Mark, Sync, chain, genesis

_SCHEMA = """
CREATE TABLE IF NOT EXISTS header (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (
    seq INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('oracle', 'block', 'action', 'finish')),
    t REAL NOT NULL,
    payload BLOB NOT NULL,
    h BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS inputs_no_update BEFORE UPDATE ON inputs
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS inputs_no_delete BEFORE DELETE ON inputs
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS header_no_update BEFORE UPDATE ON header
    BEGIN SELECT RAISE(ABORT, 'the journal header is written once'); END;
CREATE TRIGGER IF NOT EXISTS header_no_delete BEFORE DELETE ON header
    BEGIN SELECT RAISE(ABORT, 'the journal header is written once'); END;
"""




class Journal:
    """An open journal file. ``append`` one batch per transaction; ``entries`` to replay.

    ``access``: ``"write"`` takes the lock or raises ``JournalLocked`` (what a house should ask for);
    ``"read"`` never locks and never writes (audits of a live journal); ``"auto"`` (default) writes when the
    lock is free, else opens a read-only view whose ``entries()`` and writes raise ``JournalLocked``, so a
    second house is refused before it replays or publishes anything, while ``header()``/``count()`` still
    work for a watcher.
    """

    def __init__(self, path: str | Path, *, sync: Sync = "normal", access: Access = "auto") -> None:
        if sync not in ("normal", "full"):
            raise ConfigError(f"journal sync {sync!r}: use normal or full")
        if access not in ("auto", "write", "read"):
            raise ConfigError(f"journal access {access!r}: use auto, write or read")
        self.path = Path(path)
        self._lock: Lock | None = None
        self._holder = ""
        self._marks: Marks | None = None
        wal_absent = _wal_absent(self.path)  # before SQLite opens the journal (and makes an empty WAL)
        if access != "read":
            self._lock, self._holder = Lock.take(self.lock_path)
            if self._lock is None and access == "write":
                raise self._locked("open it")
        try:
            self._open(sync, wal_absent)
        except BaseException:
            self._release()
            raise

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def marks_path(self) -> Path:
        return self.path.with_name(self.path.name + ".published")

    @property
    def writable(self) -> bool:
        return self._lock is not None

    def _open(self, sync: Sync, wal_absent: bool) -> None:
        marks = Marks.read(self.marks_path)  # before the database: a mark is never newer than its rows
        if self.writable:
            self._db = self._sql(lambda: _connect(self.path, sync))
        else:
            if not self.path.exists():
                raise (self._locked("read it") if self._holder else JournalError(f"journal {self.path}: no such file"))
            self._db = self._sql(lambda: _connect_readonly(self.path))
        self._sql(self._check_format)  # before the schema: an older journal is refused untouched
        if self.writable:
            self._sql(lambda: self._db.executescript(_SCHEMA))
        self._head, self._seq, self._batch = self._sql(self._verify)
        self._check_published(marks, wal_absent)
        if self.writable:
            self._marks = Marks.open(self.marks_path, marks, durable=sync == "normal")

    # -- header ----------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any] | None:
        """The run this journal belongs to, or None for a new (empty) journal."""
        text = self._header_text()
        return None if text is None else self._parse_header(text)

    def write_header(self, run: dict[str, Any]) -> None:
        """Record what the run is (once, before the first input); a ``run_id`` is added if ``run`` has none."""
        self._need_writer("write its header")
        if self._seq:
            raise JournalError(f"journal {self.path}: the header must be written before the first input")
        text = json.dumps({"format": FORMAT, "run_id": uuid.uuid4().hex, **run}, sort_keys=True)
        with self._transaction():
            self._db.execute("INSERT INTO header (key, value) VALUES ('run', ?)", (text,))
        self._head = genesis(text)

    @property
    def run_id(self) -> str | None:
        header = self.header()
        return None if header is None else str(header.get("run_id"))

    # -- inputs ----------------------------------------------------------------------------------------
    def append(self, entries: Sequence[Entry]) -> int:
        """Append one batch atomically (all or nothing) and return its batch number."""
        self._need_writer("append to it")
        if not entries:
            return self._batch
        batch, head, seq = self._batch + 1, self._head, self._seq
        rows = []
        for e in entries:
            seq += 1
            t, payload = float(e.t), bytes(e.payload)
            head = chain(head, seq, batch, e.kind, t, payload)
            rows.append((seq, batch, e.kind, t, payload, head))
        with self._transaction():
            self._db.executemany("INSERT INTO inputs (seq, batch, kind, t, payload, h) VALUES (?, ?, ?, ?, ?, ?)",
                                 rows)
        self._batch, self._head, self._seq = batch, head, seq
        return batch

    def entries(self) -> Iterator[Entry]:
        """Every input in the order it was appended, each checked against the hash chain."""
        if not self.writable and self._holder:
            raise self._locked("replay it")
        prev = genesis(self._header_text())
        rows = self._db.execute("SELECT seq, batch, kind, t, payload, h FROM inputs ORDER BY seq")
        for expected, (seq, batch, kind, t, payload, h) in enumerate(_rows(rows, self.path), start=1):
            prev = self._link(prev, expected, seq, batch, kind, t, payload, h)
            yield Entry(kind, float(t), bytes(payload), int(batch), int(seq))

    @property
    def last_batch(self) -> int:
        return self._batch

    def count(self, kind: Kind | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM inputs WHERE kind = ?", (kind,)).fetchone()[0])

    # -- what was published ------------------------------------------------------------------------------
    def mark_published(self, batch: int | None = None) -> str:
        """Record that ``batch`` (default: the last one) is about to be published; returns its digest.

        Call it after ``append`` returned and BEFORE publishing the batch's outcome (and, on restart, before
        publishing the replayed last batch again): a mark never lags what went out, so whatever the WAL later
        loses, opening knows that something published is missing. A mark covers every batch before it.
        """
        self._need_writer("mark it published")
        assert self._marks is not None
        batch = self._batch if batch is None else batch
        last = self._marks.last
        if last is not None and batch <= last.batch:
            return last.digest  # already covered
        if not 0 < batch <= self._batch:
            raise JournalError(f"journal {self.path}: batch {batch} is not journaled (last is {self._batch}); "
                               "append a batch before marking it published")
        if batch == self._batch:
            seq, head = self._seq, self._head
        else:
            seq, head = self._db.execute("SELECT seq, h FROM inputs WHERE batch = ? ORDER BY seq DESC LIMIT 1",
                                         (batch,)).fetchone()
        mark = Mark(batch, int(seq), bytes(head).hex())
        run = self._marks.run if self._marks.good else (self.run_id or "-")  # the header is read once
        self._marks.append(mark, run)
        return mark.digest

    @property
    def published(self) -> Mark | None:
        """The last batch marked published, if any."""
        return self._marks.last if self._marks is not None else Marks.read(self.marks_path).last

    # -- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, AttributeError):
            self._db.close()
        self._release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checks at open --------------------------------------------------------------------------------
    def _check_format(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(inputs)")}
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        text = self._header_text() if "header" in tables else None
        fmt = self._parse_header(text).get("format") if text is not None else FORMAT
        if (columns and "h" not in columns) or fmt != FORMAT:
            raise JournalCorrupt(f"journal {self.path}: format {fmt or 'liqnet.journal/1'} has no hash chain "
                                 f"(this liqnet writes {FORMAT}); finish that run with the liqnet that wrote it, "
                                 f"{START_OVER}")

    def _verify(self) -> tuple[bytes, int, int]:
        """Walk the chain; returns (head hash, last seq, last batch)."""
        prev, seq, batch = genesis(self._header_text()), 0, 0
        rows = self._db.execute("SELECT seq, batch, kind, t, payload, h FROM inputs ORDER BY seq")
        for expected, (seq, batch, kind, t, payload, h) in enumerate(_rows(rows, self.path), start=1):
            prev = self._link(prev, expected, seq, batch, kind, t, payload, h)
        return prev, int(seq), int(batch)

    def _link(self, prev: bytes, expected: int, seq: int, batch: int, kind: str, t: float, payload: bytes,
              h: bytes) -> bytes:
        if seq != expected:
            raise JournalTampered(f"journal {self.path}: row {expected} is missing (the next row is {seq}): rows "
                                  f"were deleted after they were written; restore the original journal, {START_OVER}")
        now = chain(prev, seq, batch, kind, float(t), bytes(payload))
        if now != bytes(h):
            what = "its header or row 1" if seq == 1 else f"row {seq} (batch {batch}, {kind} at t={t:g})"
            raise JournalTampered(f"journal {self.path}: {what} does not match the hash chain: it was edited after "
                                  f"it was written; restore the original journal, {START_OVER}")
        return now

    def _check_published(self, marks: Marks, wal_absent: bool) -> None:
        mark = marks.last
        if mark is None:
            return
        run = self.run_id
        if run is not None and marks.run not in (run, "-"):
            raise JournalLost(f"journal {self.path}: {self.marks_path.name} records run {marks.run}, the journal "
                              f"run {run}: they belong to different runs; put back the journal that goes with it, "
                              f"{START_OVER}")
        if mark.seq > self._seq:
            where = f"ends at row {self._seq} (batch {self._batch})" if self._seq else "is empty"
            wal = self.path.with_name(self.path.name + "-wal")
            why = (f"its WAL file {wal.name} is missing or empty, so the WAL was lost" if wal_absent else
                   "its WAL lost its last transactions (a power loss with --journal-sync normal?) or the journal "
                   "was replaced by an older copy")
            raise JournalLost(f"journal {self.path} {where} but batch {mark.batch} (row {mark.seq}) was published; "
                              f"{why}; replaying it would publish a different history: restore the journal with "
                              f"its {wal.name}, {START_OVER}")
        row = self._db.execute("SELECT h FROM inputs WHERE seq = ?", (mark.seq,)).fetchone()
        if bytes(row[0]).hex() != mark.digest:
            raise JournalLost(f"journal {self.path}: row {mark.seq} (batch {mark.batch}) differs from what was "
                              f"published: the journal was rewritten or replaced; restore the original, {START_OVER}")

    # -- helpers ---------------------------------------------------------------------------------------
    def _parse_header(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise JournalTampered(f"journal {self.path}: its header is not the JSON liqnet wrote; restore the "
                                  f"original journal, {START_OVER}")
        return data

    def _header_text(self) -> str | None:
        row = self._db.execute("SELECT value FROM header WHERE key = 'run'").fetchone()
        return None if row is None else str(row[0])

    def _need_writer(self, what: str) -> None:
        if self.writable:
            return
        if self._holder:
            raise self._locked(what)
        raise JournalError(f"journal {self.path} is open read-only; open it with access='write' to {what}")

    def _locked(self, what: str) -> JournalLocked:
        return JournalLocked(f"journal {self.path} is in use by {self._holder} (lock {self.lock_path.name}); "
                             f"cannot {what}: stop that house first, or use another --journal file")

    def _sql(self, step: Any) -> Any:
        """Run one opening step; a damaged or foreign file becomes one line, never a traceback."""
        try:
            return step()
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(f"journal {self.path}: not a liqnet journal, or damaged ({exc}); restore it from "
                                 f"a copy, {START_OVER}") from None

    def _release(self) -> None:
        if self._marks is not None:
            self._marks.close()
            self._marks = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _transaction(self) -> _Txn:
        return _Txn(self._db, self.path)


def _rows(cursor: sqlite3.Cursor, path: Path) -> Iterator[tuple[Any, ...]]:
    """The cursor's rows, each with the storage types liqnet writes; a page that fails to read names the last row
    read well. A value of another type (the sqlite3 shell turns a BLOB edited with replace() into TEXT) is an edit."""
    last = 0
    try:
        for row in cursor:
            typed = _typed(row)
            if typed is None:
                raise JournalTampered(f"journal {path}: the row after row {last} holds values of types liqnet never "
                                      f"writes ({', '.join(type(v).__name__ for v in row)}): it was edited after it "
                                      f"was written; restore the original journal, {START_OVER}")
            last = typed[0]
            yield typed
    except sqlite3.DatabaseError as exc:
        raise JournalCorrupt(f"journal {path}: damaged after row {last} ({exc}); restore it from a copy, "
                             f"{START_OVER}") from None


def _typed(row: tuple[Any, ...]) -> tuple[int, int, str, float, bytes, bytes] | None:
    seq, batch, kind, t, payload, h = row
    if not (type(seq) is int and type(batch) is int and isinstance(kind, str) and type(t) in (int, float)
            and isinstance(payload, bytes) and isinstance(h, bytes)):
        return None
    return seq, batch, kind, float(t), payload, h


def _connect(path: Path, sync: Sync) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
    db = sqlite3.connect(path, isolation_level=None)
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        db.close()
        raise JournalError(f"journal {path}: the file system does not support SQLite WAL mode; put it elsewhere")
    db.execute(f"PRAGMA synchronous={sync.upper()}")
    return db


def _connect_readonly(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    db.execute("SELECT 1 FROM inputs LIMIT 1").fetchall()  # fail now on a foreign file, not at first use
    return db


def _wal_absent(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size == 0
    except FileNotFoundError:
        return True


class _Txn:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db, self._path = db, path

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, et: type[BaseException] | None, *rest: object) -> None:
        if et is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise JournalCorrupt(f"journal {self._path}: cannot commit ({exc}); {START_OVER}") from None
        else:
            self._db.execute("ROLLBACK")
