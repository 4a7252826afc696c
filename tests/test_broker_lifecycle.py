"""No broker outlives the process that started it, whatever signal ends that process: ``liqnet broker``
forwards SIGTERM/SIGINT/SIGHUP and waits; on Linux the kernel sends the broker SIGTERM when its parent dies,
SIGKILL included (PR_SET_PDEATHSIG), even when the broker was started from a thread that has ended since."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auction.net.selftest.procs import children, ended, state
from broker.server import free_port

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux (/proc, prctl)")]

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
KINDS = [pytest.param("embedded"),
         pytest.param("mosquitto", marks=pytest.mark.skipif(shutil.which("mosquitto") is None,
                                                            reason="mosquitto is not installed"))]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed if still running when it ends (with their brokers, now)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def liqnet_broker(kind: str, procs: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], int]:
    """``liqnet broker`` on a free port, once it says it listens; returns it and its broker's pid."""
    proc = subprocess.Popen([sys.executable, "-m", "auction.cli", "broker", "--port", str(free_port()), "--prefer",
                             kind], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    procs.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while line and not line.startswith("liqnet broker:"):
        line = proc.stdout.readline()
    assert "listening on" in line, line
    (child,) = children(proc.pid)
    return proc, child


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_liqnet_broker_stops_its_broker_on_a_signal(kind: str, sig: signal.Signals,
                                                    procs: list[subprocess.Popen[str]]) -> None:
    proc, child = liqnet_broker(kind, procs)
    proc.send_signal(sig)
    assert proc.wait(15) == 0
    assert proc.stdout is not None and f"stopping ({sig.name})" in proc.stdout.read()
    assert ended(child), f"{kind} (pid {child}) outlived liqnet broker after {sig.name}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_broker_dies_with_its_parent_killed(kind: str, procs: list[subprocess.Popen[str]]) -> None:
    proc, child = liqnet_broker(kind, procs)
    proc.send_signal(signal.SIGKILL)  # nothing in the parent runs: only the kernel can stop the child now
    assert proc.wait(5) == -signal.SIGKILL
    assert ended(child), f"{kind} (pid {child}) was orphaned by a SIGKILLed liqnet broker"


LAUNCHER = """
import asyncio, sys
from broker.server import start_broker

async def main():
    return await start_broker(prefer=sys.argv[1])  # launched from an asyncio.to_thread worker

handle = asyncio.run(main())  # the loop and its worker threads are gone after this
print("broker pid", handle.proc.pid, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("kind", KINDS)
def test_a_broker_started_from_a_finished_thread_lives_until_its_process_dies(
        kind: str, procs: list[subprocess.Popen[str]]) -> None:
    """Linux sends the parent-death signal when the forking THREAD ends: the broker must survive the end of
    the thread that asked for it, and still die with its process."""
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=ENV)
    procs.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while line and not line.startswith("broker pid "):
        line = proc.stdout.readline()  # skip log lines
    child = int(line.split()[-1])
    assert state(child) not in (None, "Z", "X")  # the worker thread is gone, the broker is not
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    assert ended(child), f"{kind} (pid {child}) was orphaned by its SIGKILLed launcher"
