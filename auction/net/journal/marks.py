"""``FILE.published``: what the house published, outside the WAL'd database (see the package docstring)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from auction.net.journal.errors import JournalCorrupt
from auction.net.journal.rows import MARKS_FORMAT, START_OVER, Mark


@dataclass
class Marks:
    """``FILE.published``: a first line ``liqnet.published/1 RUN_ID``, then one ``BATCH SEQ DIGEST`` line per
    mark, appended and fsynced. A torn last line (a crash while writing it) was never fsynced, so the batch
    after it was never published: it is ignored, and cut off before the next append."""

    path: Path
    run: str = "-"
    last: Mark | None = None
    good: int = 0  # bytes up to the end of the last complete line
    durable: bool = True  # fsync each mark (see the module's docstring for when it is not needed)
    _fd: int | None = None

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
        return cls(path, read.run, read.last, read.good, durable, fd)

    def append(self, mark: Mark, run: str) -> None:
        assert self._fd is not None
        text = f"{mark.batch} {mark.seq} {mark.digest}\n"
        new = self.good == 0
        if new:
            self.run = run
            text = f"{MARKS_FORMAT} {run}\n" + text
        _write_all(self._fd, text.encode())
        if self.durable:
            _datasync(self._fd)
        if new:
            _sync_dir(self.path.parent)  # the file's name must survive a power loss too (once per journal)
        self.good += len(text)
        self.last = mark

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
