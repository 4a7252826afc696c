"""The journal refuses what it cannot trust, in one line: a second writer, an edited row, a lost WAL, a damaged
file; and an ordinary crash (the process killed mid-write) still replays."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auction.errors import ConfigError
from auction.net.journal import (
    Entry,
    Journal,
    JournalCorrupt,
    JournalError,
    JournalLocked,
    JournalLost,
    JournalTampered,
    chain,
    genesis,
)

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def oracle(price: float) -> bytes:
    return f'{{"ETH": {price!r}}}'.encode()


def fill(jr: Journal, batches: int, *, mark: bool = True) -> None:
    """``batches`` batches of an oracle update and a block, each marked published as the house would."""
    start = jr.last_batch
    for i in range(start + 1, start + batches + 1):
        jr.append([Entry("oracle", 12.0 * i, oracle(100.0 + i)), Entry("block", 12.0 * i, str(i).encode())])
        if mark:
            jr.mark_published()


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text, text
    return text


def edit(path: Path, sql: str, *args: object) -> None:
    """What someone with the sqlite3 shell does: drop the guard, change a row, put the guard back."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER inputs_no_update")
    db.execute("DROP TRIGGER inputs_no_delete")
    db.execute(sql, args)
    db.execute("CREATE TRIGGER inputs_no_update BEFORE UPDATE ON inputs "
               "BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END")
    db.execute("CREATE TRIGGER inputs_no_delete BEFORE DELETE ON inputs "
               "BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END")
    db.close()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "house.db"
    with Journal(path) as jr:
        jr.write_header({"design": "dutch", "run_id": "run-1"})
        fill(jr, 5)
    return path


def test_every_refusal_is_a_one_line_config_error() -> None:
    for cls in (JournalLocked, JournalTampered, JournalLost, JournalCorrupt):
        assert issubclass(cls, JournalError) and issubclass(cls, ConfigError)
    assert one_line(JournalError("journal x:\n  row 3\twas edited")) == "journal x: row 3 was edited"


# --- one writer ----------------------------------------------------------------------------------------------


@pytest.fixture
def holder(journal: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with the journal open for writing, until the test ends."""
    code = ("import sys; from auction.net.journal import Journal; j = Journal(sys.argv[1], access='write'); "
            "print('ready', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(journal)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_writer_is_refused_naming_the_holder(journal: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(JournalLocked) as refused:
        Journal(journal, access="write")
    text = one_line(refused.value)
    assert str(journal) in text and f"pid {holder.pid}" in text and "stop that house first" in text


def test_a_second_house_may_look_but_never_replay_or_write(journal: Path, holder: subprocess.Popen[str]) -> None:
    with Journal(journal) as jr:  # the default: a read-only view when the lock is taken
        assert not jr.writable and jr.count() == 10 and jr.header() is not None  # a watcher may look
        with pytest.raises(JournalLocked, match=f"pid {holder.pid}.*cannot replay it"):
            next(jr.entries())  # the house replays before it publishes anything: refused there
        with pytest.raises(JournalLocked, match="cannot append"):
            jr.append([Entry("block", 99.0, b"6")])
        with pytest.raises(JournalLocked):
            jr.mark_published()
    with Journal(journal, access="read") as audit:  # an explicit audit reads everything, writes nothing
        assert len(list(audit.entries())) == 10
        with pytest.raises(JournalError, match="read-only"):
            audit.append([Entry("block", 99.0, b"6")])


def test_the_lock_dies_with_its_holder(journal: Path, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with Journal(journal, access="write") as jr:  # no stale lock: the kernel released it
        assert jr.writable and jr.last_batch == 5


def test_one_writer_per_journal_in_one_process_too(journal: Path) -> None:
    with Journal(journal) as first:
        assert first.writable
        with pytest.raises(JournalLocked, match=f"pid {os.getpid()}"):
            Journal(journal, access="write")
    with Journal(journal, access="write"):  # closed: free again
        pass


def test_liqnet_house_on_a_journal_in_use_exits_with_one_line(tmp_path: Path) -> None:
    from auction.net.funding import Funding
    from auction.net.runspec import load_run

    path = tmp_path / "house.db"
    with Journal(path) as jr:
        load_run("gbm-calm", "fixed", 7, 30, Funding(tofu=True), jr)  # a real run's header
    code = ("import sys; from auction.net.journal import Journal; j = Journal(sys.argv[1]); "
            "print('ready', flush=True); sys.stdin.read()")
    first = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert first.stdout is not None and first.stdout.readline() == "ready\n"
        second = subprocess.run([sys.executable, "-m", "auction.cli", "house", "--journal", str(path), "--broker",
                                 "mqtt://127.0.0.1:1", "--out", str(tmp_path / "out")],
                                capture_output=True, text=True, env=ENV, timeout=120)
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2, second.stderr
    lines = [line for line in second.stderr.splitlines() if line.startswith("liqnet: error:")]
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0] and str(path) in lines[0], second.stderr
    assert "Traceback" not in second.stderr


# --- the hash chain ------------------------------------------------------------------------------------------


def test_rows_form_a_hash_chain_from_the_header(journal: Path) -> None:
    db = sqlite3.connect(journal)
    header = db.execute("SELECT value FROM header").fetchone()[0]
    prev = genesis(header)
    for seq, batch, kind, t, payload, h in db.execute("SELECT seq, batch, kind, t, payload, h FROM inputs"):
        prev = chain(prev, seq, batch, kind, t, payload)
        assert prev == h
    db.close()


def test_a_changed_oracle_digit_is_refused_naming_the_row(journal: Path) -> None:
    edit(journal, "UPDATE inputs SET payload = ? WHERE seq = 5", oracle(108.0))  # was 103.0
    with pytest.raises(JournalTampered) as refused:
        Journal(journal)
    text = one_line(refused.value)
    assert str(journal) in text and "row 5 (batch 3, oracle" in text and "edited" in text and "--journal" in text


def test_a_deleted_row_and_an_edited_header_are_refused(journal: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    shutil.copy(journal, other)
    edit(journal, "DELETE FROM inputs WHERE seq = 4")
    with pytest.raises(JournalTampered, match="row 4 is missing"):
        Journal(journal)
    db = sqlite3.connect(other, isolation_level=None)
    db.execute("DROP TRIGGER header_no_update")
    db.execute("UPDATE header SET value = replace(value, 'dutch', 'fixed')")
    db.close()
    with pytest.raises(JournalTampered, match="header or row 1"):
        Journal(other)


def test_a_recomputed_chain_is_caught_by_what_was_published(journal: Path) -> None:
    """Whoever edits a row and recomputes every hash after it still differs from the published digest."""
    db = sqlite3.connect(journal)
    header = db.execute("SELECT value FROM header").fetchone()[0]
    rows = db.execute("SELECT seq, batch, kind, t, payload FROM inputs ORDER BY seq").fetchall()
    db.close()
    prev, fixed = genesis(header), []
    for seq, batch, kind, t, payload in rows:
        payload = oracle(108.0) if seq == 5 else payload
        prev = chain(prev, seq, batch, kind, t, payload)
        fixed.append((payload, prev, seq))
    for payload, h, seq in fixed:
        edit(journal, "UPDATE inputs SET payload = ?, h = ? WHERE seq = ?", payload, h, seq)
    with pytest.raises(JournalLost, match="row 10 \\(batch 5\\) differs from what was published"):
        Journal(journal)


# --- what was published ---------------------------------------------------------------------------------------


def test_a_journal_copied_without_its_wal_is_refused(tmp_path: Path) -> None:
    path, copy = tmp_path / "house.db", tmp_path / "copy" / "house.db"
    jr = Journal(path, sync="full")
    jr.write_header({"design": "dutch"})
    fill(jr, 4)
    assert path.with_name("house.db-wal").stat().st_size > 0  # the rows are in the WAL, not yet in the file
    copy.parent.mkdir()
    shutil.copy(path, copy)  # the main file and the marks, not the -wal: what a careless backup does
    shutil.copy(jr.marks_path, copy.with_name("house.db.published"))
    jr.close()
    with pytest.raises(JournalLost) as refused:
        Journal(copy)
    text = one_line(refused.value)
    assert str(copy) in text and "batch 4" in text and "house.db-wal is missing or empty, so the WAL was lost" in text


def test_a_deleted_journal_is_not_restarted_at_t0(journal: Path) -> None:
    journal.unlink()
    with pytest.raises(JournalLost, match="is empty but batch 5 \\(row 10\\) was published"):
        Journal(journal)


def test_a_wal_that_lost_its_last_transactions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "house.db"
    jr = Journal(path)
    jr.write_header({"design": "dutch"})
    fill(jr, 1)
    wal = path.with_name("house.db-wal")
    early = wal.read_bytes()  # the WAL as it was after batch 1
    fill(jr, 5)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("house.db", "house.db.published"):
        shutil.copy(tmp_path / name, crashed / name)
    (crashed / "house.db-wal").write_bytes(early)  # the later commits never reached the disk
    jr.close()
    with pytest.raises(JournalLost) as refused:
        Journal(crashed / "house.db")
    text = one_line(refused.value)
    assert "ends at row 2 (batch 1) but batch 6 (row 12) was published" in text and "lost its last" in text


def test_marks_of_another_run_are_refused(journal: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with Journal(other) as jr:
        jr.write_header({"design": "dutch", "run_id": "run-2"})
        fill(jr, 6, mark=False)
    shutil.copy(journal.with_name("house.db.published"), other.with_name("other.db.published"))
    with pytest.raises(JournalLost, match="records run run-1, the journal run run-2"):
        Journal(other)


def test_marks_cover_earlier_batches_and_only_journaled_ones(journal: Path) -> None:
    with Journal(journal) as jr:
        before = jr.published
        assert before is not None and (before.batch, before.seq) == (5, 10)
        assert jr.mark_published(3) == before.digest  # already covered by batch 5: nothing written
        with pytest.raises(JournalError, match="batch 6 is not journaled"):
            jr.mark_published(6)
        jr.append([Entry("block", 72.0, b"6")])
        digest = jr.mark_published()
        assert jr.published is not None and jr.published.digest == digest and jr.published.batch == 6


# --- damage ----------------------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "house.db"
    path.write_bytes(b"this is not a journal\n" * 500)
    with pytest.raises(JournalCorrupt) as refused:
        Journal(path)
    text = one_line(refused.value)
    assert str(path) in text and "not a liqnet journal, or damaged" in text and "--journal" in text
    run = subprocess.run([sys.executable, "-m", "auction.cli", "house", "--journal", str(path)],
                         capture_output=True, text=True, env=ENV, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"liqnet: error: {text}"]


def test_a_damaged_page_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "house.db"
    with Journal(path) as jr:
        jr.write_header({"design": "dutch"})
        for i in range(1, 200):
            jr.append([Entry("action", float(i), os.urandom(200))])
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[5 * 4096: 7 * 4096] = b"\xa5" * (2 * 4096)  # two pages of rows overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError) as refused:  # damaged pages (JournalCorrupt) or rows (JournalTampered)
        Journal(path)
    assert str(path) in one_line(refused.value)


def test_a_journal_without_a_hash_chain_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE header (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE inputs (seq INTEGER PRIMARY KEY, batch INTEGER, kind TEXT, t REAL, payload BLOB)")
    db.execute("""INSERT INTO header VALUES ('run', '{"format": "liqnet.journal/1"}')""")
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalCorrupt, match=r"liqnet\.journal/1 has no hash chain"):
        Journal(path)
    assert path.read_bytes() == before


# --- an ordinary crash -------------------------------------------------------------------------------------------

WRITER = """
import sys
from auction.net.journal import Entry, Journal
jr = Journal(sys.argv[1])
if jr.header() is None:
    jr.write_header({"design": "dutch"})
i = jr.last_batch
while True:
    i += 1
    jr.append([Entry("oracle", 12.0 * i, b'{"ETH": 100.0}'), Entry("block", 12.0 * i, str(i).encode())])
    jr.mark_published()
    print(i, flush=True)
"""


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_a_house_killed_mid_write_replays(tmp_path: Path, sync: str) -> None:
    path = tmp_path / "house.db"
    for life in range(2):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=ENV)
        assert proc.stdout is not None
        for _ in range(40):  # wait until it has written 40 batches (its own output says so), then kill it
            assert proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Journal(path, sync=sync) as jr:  # type: ignore[arg-type]
            rows = list(jr.entries())  # the chain holds
            mark = jr.published
            assert mark is not None and mark.seq <= len(rows) and jr.last_batch >= 40 * (life + 1)
            assert [int(e.payload) for e in rows if e.kind == "block"] == list(range(1, jr.last_batch + 1))


def test_a_torn_mark_is_ignored_and_cut(journal: Path) -> None:
    marks = journal.with_name("house.db.published")
    good = marks.read_bytes()
    with marks.open("ab") as f:
        f.write(b"6 12 ab")  # the crash came while writing the next mark (so it never went out)
    with Journal(journal) as jr:
        assert jr.published is not None and jr.published.batch == 5
        assert marks.read_bytes() == good  # cut before the next append
        fill(jr, 1)
    assert marks.read_bytes().startswith(good) and marks.read_bytes().count(b"\n") == good.count(b"\n") + 1


# --- the house's side of "know what it published" ---------------------------------------------------------------


def test_the_house_restart_path_with_published_marks(tmp_path: Path) -> None:
    """What house_proc must call: ``mark_published()`` after each ``append`` and before publishing, and after
    ``replay()`` before publishing the last batch again. An ordinary crash then resumes and finishes on the
    uninterrupted ledger; the same crash with the WAL lost is refused instead of replayed."""
    from auction.net.house_core import HouseCore, ledger_snapshot
    from auction.net.journal import Entry as JEntry
    from broker import messages as m
    from tests.test_net_journal import Keepers, drive, run_uninterrupted, spec, synthetic_world

    class MarkingCore(HouseCore):  # the two calls, where HouseCore/HouseProcess would make them
        def apply(self, entries: list[JEntry]) -> list[m.Message]:
            out = super().apply(entries)  # journal.append(...) happened in there
            assert self.journal is not None
            self.journal.mark_published()  # durable before the outcome goes out
            return out

        def replay(self) -> list[m.Message]:
            pending = super().replay()
            assert self.journal is not None
            if self.journal.last_batch:
                self.journal.mark_published()  # the last batch is about to be published again
            return pending

    reference, _ = run_uninterrupted()
    path, lost = tmp_path / "house.db", tmp_path / "lost" / "house.db"
    keepers = Keepers()
    keepers.register_all(0.0)
    first = MarkingCore(synthetic_world(), spec(), Journal(path))
    drive(first, keepers, 0.0, 3.3 * 3600)
    assert first.journal is not None and first.journal.published is not None
    lost.parent.mkdir()
    shutil.copy(path, lost)  # a copy of the journal taken now without its -wal, with the marks
    shutil.copy(first.journal.marks_path, lost.with_name("house.db.published"))
    first.journal.close()  # the process dies

    with pytest.raises(JournalLost, match="was published"):
        MarkingCore(synthetic_world(), spec(), Journal(lost))  # never replayed into another history

    second = MarkingCore(synthetic_world(), spec(), Journal(path))  # the ordinary crash: resumes
    assert second.replay(), "the last batch's outcome is published again"
    drive(second, keepers, second.now, second.end + 1)
    second.finish()
    assert ledger_snapshot(second.ledger) == ledger_snapshot(reference.ledger)
    assert second.journal is not None
    second.journal.close()


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_marks_are_synced_beside_the_caller_when_the_wal_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 sync: str) -> None:
    """normal: a power loss can drop the WAL's last transactions, so the marks go to disk, in a thread beside
    the house's loop (never on it: a slow sync would hold the house behind its clock), and all of them before
    the journal is closed; full: COMMIT already fsynced the WAL, so the journal can never be behind a mark: no
    second fsync."""
    import threading

    from auction.net.journal import marks as module

    synced: list[tuple[str, int]] = []  # (thread, bytes of the file on disk after the sync)
    monkeypatch.setattr(module, "_datasync",
                        lambda fd: synced.append((threading.current_thread().name, os.fstat(fd).st_size)))
    with Journal(tmp_path / "house.db", sync=sync) as jr:  # type: ignore[arg-type]
        jr.write_header({"design": "dutch"})
        fill(jr, 3)
    if sync == "full":
        assert synced == []
        return
    size = (tmp_path / "house.db.published").stat().st_size
    assert synced and {name for name, _ in synced} == {"journal-marks-sync"}
    assert synced[-1][1] == size, "the last sync came after the last mark"


def test_a_row_edited_into_another_storage_type_is_one_line(journal: Path) -> None:
    """The sqlite3 shell's replace() on a BLOB gives TEXT: the row is an edit, refused in one line (was a
    TypeError traceback)."""
    edit(journal, "UPDATE inputs SET payload = replace(payload, '1', '9') WHERE seq = 5")
    with pytest.raises(JournalTampered) as refused:
        Journal(journal)
    text = one_line(refused.value)
    assert "the row after row 4 holds values of types liqnet never writes" in text and "str" in text
