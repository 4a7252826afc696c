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

    header(key TEXT PRIMARY KEY, value TEXT)       what the run is: scenario, design, seed, run_id ...
    inputs(seq INTEGER PRIMARY KEY, batch INTEGER, kind TEXT, t REAL, payload BLOB, h BLOB)

``kind`` is ``oracle`` (payload: JSON {asset: price}), ``block`` (payload: the height, decimal), ``action``
(payload: the keeper's signed wire message, exactly as received) or ``finish`` (payload: JSON of the final
ledger balances, written once the run has ended). ``t`` is scenario seconds; SQLite REAL is an IEEE double,
so times replay bit for bit.

Three guards make a journal trustworthy, and every refusal is a ``JournalError`` (a ``ConfigError``: the CLI
prints its one line and exits 2):

- **One writer** (``JournalLocked``): an OS lock (``flock``) on the sidecar ``FILE.lock``, held while the
  journal is open, with the holder's pid written in it. Chosen over SQLite's ``locking_mode=EXCLUSIVE``
  because the kernel drops it when the holder dies however it dies (no stale lock after SIGKILL), it can
  name the holder, and it leaves SQLite's own locks alone so auditors can still read a live journal.
- **A hash chain** (``JournalTampered``): each row stores ``h = sha256(prev_h || canonical(row))``; the
  chain starts from the format and the header, so an edited row, a deleted row or an edited header breaks
  it at that row. It is checked at open and again by ``entries()``.
- **What was published** (``JournalLost``): ``mark_published`` appends the chain hash of a batch to the
  sidecar ``FILE.published`` before the house publishes that batch's outcome. It lives outside the WAL'd
  database on purpose: when the WAL loses transactions (its file deleted or not copied, an older copy put
  back, a power loss with ``synchronous=NORMAL``), the marks survive, and opening refuses a journal that ends
  before, or differs from, what was published, instead of replaying it into a different history. The marks
  also anchor the chain: a row edited and the chain recomputed no longer matches the published hash.
  With ``sync="normal"`` the marks are fsynced by a thread beside the house's loop (``marks.Syncer``: a power
  loss can drop the WAL's last transactions, and a durable mark tells), never waited for: a sync that takes
  tens of milliseconds would hold the house behind its clock. A power loss can therefore also drop the marks
  of the last sync's tens of milliseconds, and then goes unnoticed for those batches; a crash of the process
  loses nothing (every mark is written before its batch is published). With ``sync="full"`` the WAL is
  fsynced at COMMIT, on the loop, before the mark is written, so the journal is never behind what was
  published and a mark lost with the power only makes the check look at an earlier batch: the mark is
  written, not fsynced. Full pays one fsync per batch in the house's clock loop.
"""

from auction.net.journal.errors import JournalCorrupt, JournalError, JournalLocked, JournalLost, JournalTampered
from auction.net.journal.rows import (
    FORMAT,
    KINDS,
    MARKS_FORMAT,
    Access,
    Entry,
    Kind,
    Mark,
    Sync,
    canonical,
    chain,
    genesis,
)
from auction.net.journal.store import Journal

__all__ = [
    "FORMAT",
    "KINDS",
    "MARKS_FORMAT",
    "Access",
    "Entry",
    "Journal",
    "JournalCorrupt",
    "JournalError",
    "JournalLocked",
    "JournalLost",
    "JournalTampered",
    "Kind",
    "Mark",
    "Sync",
    "canonical",
    "chain",
    "genesis",
]
