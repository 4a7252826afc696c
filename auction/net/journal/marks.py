"""``FILE.published``: what the house published, outside the WAL'd database (see the package docstring)."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from auction.net.journal.errors import JournalCorrupt, JournalError
from auction.net.journal.rows import MARKS_FORMAT, START_OVER, Mark


@dataclass
class Marks:
    """``FILE.published``: a first line ``liqnet.published/1 RUN_ID``, then one ``BATCH SEQ DIGEST`` line per
    mark, appended, then fsynced by a ``Syncer`` thread (``durable``). A torn last line (the power lost while
    it was written) is ignored, and cut off before the next append: the check then looks at the mark before."""

    path: Path
    run: str = "-"
    last: Mark | None = None
    good: int = 0  # bytes up to the end of the last complete line
    durable: bool = True  # fsync the marks (see the package's docstring for when it is not needed)
    _fd: int | None = None
    _syncer: Syncer | None = None

    @classmethod
    def read(cls, path: Path) -> Marks:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path)
        good = data.rfind(b"\n") + 1
        lines = data[:good].decode(errors="replace").splitlines()
        if not lines:
            return cls(path, good=good)
        first = lines[0].split()
        if len(first) != 2 or first[0] != MARKS_FORMAT:
            raise JournalCorrupt(f"{path}: not a liqnet published-marks file; restore it, {START_OVER}")
        last = None
        if len(lines) > 1:
            try:
                batch, seq, digest = lines[-1].split()
                last = Mark(int(batch), int(seq), digest)
            except ValueError:
                raise JournalCorrupt(f"{path}: line {len(lines)} is damaged; restore it, {START_OVER}") from None
        return cls(path, first[1], last, good)

    @classmethod
    def open(cls, path: Path, read: Marks, *, durable: bool) -> Marks:
        """Open for appending, cutting a torn last line."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(fd).st_size != read.good:
            os.ftruncate(fd, read.good)
        os.lseek(fd, 0, os.SEEK_END)
        return cls(path, read.run, read.last, read.good, durable, fd, Syncer(fd, path) if durable else None)

    def append(self, mark: Mark, run: str) -> None:
        assert self._fd is not None
        text = f"{mark.batch} {mark.seq} {mark.digest}\n"
        new = self.good == 0
        if new:
            self.run = run
            text = f"{MARKS_FORMAT} {run}\n" + text
        _write_all(self._fd, text.encode())  # in the OS's cache: it survives a crash of the process at once
        if new:
            _sync_dir(self.path.parent)  # the file's name must survive a power loss too (once per journal)
        if self._syncer is not None:
            self._syncer.request()
        self.good += len(text)
        self.last = mark

    def close(self) -> None:
        """Close, every mark on disk first."""
        if self._syncer is not None:
            self._syncer.close()
            self._syncer = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Syncer:
    """fdatasync of the marks file in a thread beside the house's loop, never on it.

    One fdatasync on a virtual disk is usually under a millisecond but now and then tens of milliseconds
    (measured: 31-45 ms in 3 of 21 conformance runs on this machine kind), longer than a 20 ms block at 600x
    (the default speed then): waiting for it held the house behind its clock. The thread syncs whatever was
    written since its last sync (group commit: one fdatasync covers every mark before it), as soon as there is
    something.
    The cost, for ``--journal-sync normal`` only: a power loss (not a crash of the process) can drop the marks
    written since the last sync returned, tens of milliseconds of them, so the check at open then looks at an
    earlier batch. A failed sync (a disk error) is raised at the next mark: the house stops."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd, self._path = fd, path
        self._wake = threading.Condition()
        self._asked = self._done = 0
        self._closing = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="journal-marks-sync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        with self._wake:
            if self._error is not None:
                raise JournalError(f"journal {self._path}: the disk refused to sync the published marks: "
                                   f"{self._error.strerror or self._error}")
            self._asked += 1
            self._wake.notify()

    def close(self) -> None:
        """Sync what is left and stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._asked > self._done or self._closing)
                if self._asked == self._done:
                    return  # closing, and everything is synced
                upto = self._asked
            try:
                _datasync(self._fd)
            except OSError as exc:
                with self._wake:
                    self._error = exc
                return
            with self._wake:
                self._done = upto


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _sync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return  # directories cannot be opened for fsync there
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
