"""The journal's one error family: every refusal is one line (a ``ConfigError``: the CLI exits 2)."""

from __future__ import annotations

from auction.errors import ConfigError


class JournalError(ConfigError):
    """A journal liqnet refuses to use. The message is one line: the journal, the row, what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line whatever the parts held


class JournalLocked(JournalError):
    """Another process (another house) has the journal open for writing."""


class JournalTampered(JournalError):
    """A row or the header changed after it was written: the hash chain is broken."""


class JournalLost(JournalError):
    """The journal lacks, or differs from, a batch whose outcome was published (a lost WAL)."""


class JournalCorrupt(JournalError):
    """Not a SQLite database, or a damaged one, or a journal of an older format."""
