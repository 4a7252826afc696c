"""Where a comparison's worker processes come from: one fork server with the simulator already imported.

Workers start from multiprocessing's fork server (never a plain fork: the parent may hold threads), or by
spawn where there is no fork server. A worker that starts bare imports the simulator itself (~0.4 CPU s,
each one); forked from a server that imported it once, it starts with it in memory. The server is started
as early as the command knows it will need workers (``start_early``), so that it imports the simulator
while the parent parses its arguments and checks the scenario, rather than after.

A worker exits as soon as the parent is gone, however it went (``exit_with_parent``): a pool's worker waits
for its next task on a pipe it also holds the write end of, so after a SIGKILL of the parent it would wait
forever, and the fork server with it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext

# Imported once in the fork server. "__main__" is multiprocessing's own default (the main script, when it
# is a file); the rest is what a run imports: the task function's module, the simulator and the modules
# the first run imports on its way (numpy.random for the seeds, numpy.ma, secrets).
PRELOAD = ("__main__", "auction.compare.sweep", "auction.log", "auction.sim.engine", "numpy.random", "numpy.ma",
           "secrets")


def usable_cores() -> int:
    """The cores this process may run on: a comparison's default number of workers."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def context() -> BaseContext:
    """The start method of the workers: the fork server (with ``PRELOAD``) where there is one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def start_early() -> None:
    """Start the fork server now, in the background; the first pool then finds it running (or importing).

    Harmless when it is already running, and when no pool comes after all (it exits with this process).
    """
    if context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.ensure_running()


def parent_watch(ctx: BaseContext) -> tuple[Connection, Connection]:
    """A pipe (reader, writer) for ``exit_with_parent``: hand the reader to each worker, keep the writer open in
    the parent while its workers run, then close both."""
    return ctx.Pipe(duplex=False)


def exit_with_parent(reader: Connection) -> None:
    """In a worker: exit at once when the parent's end of the watch pipe closes, which the kernel does when the
    parent dies (a SIGKILL, the OOM killer: no cleanup of its own runs). A daemon thread waits for it."""

    def wait() -> None:
        with contextlib.suppress(EOFError, OSError):
            reader.recv_bytes()  # nothing is ever sent: this returns only at the end of the pipe
        os._exit(1)

    threading.Thread(target=wait, name="liqnet-parent-watch", daemon=True).start()
