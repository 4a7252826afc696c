"""The broker and the process tree under abuse: one stranger against the embedded broker, and signals that used
to leave orphans.

``embedded_limits``: an embedded broker (cap of ``CAP`` connections, ``CONNECT_S`` to send CONNECT) meets
``IDLE`` sockets that never send CONNECT (those over the cap closed at once, an established client served all
along, a newcomer in once they time out), three PUBLISH headers announcing 100 MB each (refused before the
body: the broker's memory does not move), the protocol violations an earlier red team used (garbage, PUBLISH
before CONNECT, an empty topic ...: each connection closed, nothing accepted) and a client taking a live
client id (refused: the keeper keeps its session).

``orphans``: ``liqnet broker`` (each broker kind) stopped with SIGTERM and killed with SIGKILL, and a whole
``liqnet network`` killed with SIGKILL mid-run: afterwards no process any of them started is left.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auction.net.selftest.procs import children, descendants, ended, rss_kib
from auction.net.selftest.rawmqtt import CONNACK_ID_REJECTED, CONNACK_OK, Raw, connect_packet, publish_packet, varint
from broker.mqtt_bus import MqttBus
from broker.server import Limits, free_port, start_broker
from broker.transport import connect

CAP, IDLE, CONNECT_S = 50, 300, 5.0
BIG = 100 * 1024 * 1024
VIOLATIONS: dict[str, list[bytes]] = {
    "garbage": [b"\x10\x05hello garbage that is not MQTT at all"],
    "a garbage length": [b"\xff" * 12],
    "a PUBLISH before CONNECT": [publish_packet(b"liq/v1/x", b"hi")],
    "a SUBSCRIBE before CONNECT": [bytes([0x82, 0x08, 0x00, 0x01, 0x00, 0x03]) + b"a/#" + b"\x01"],
    "a PUBLISH to an empty topic": [connect_packet(b"e-1"), publish_packet(b"", b"hi")],
    "a wildcard in a PUBLISH topic": [connect_packet(b"w-1"), publish_packet(b"liq/v1/+", b"hi")],
    "a second CONNECT": [connect_packet(b"c-1"), connect_packet(b"c-2")],
}


@dataclass(slots=True)
class BrokerReport:
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def describe(self) -> str:
        return f"broker: failed={[k for k, v in self.checks.items() if not v]} figures={self.figures}"


# --- one stranger against the embedded broker ------------------------------------------------------------------


async def embedded_limits(report: BrokerReport) -> None:
    handle = await start_broker(prefer="embedded", limits=Limits(connect_timeout_s=CONNECT_S, max_connections=CAP))
    raws: list[Raw] = []
    try:
        assert handle.proc is not None
        pid = handle.proc.pid
        async with connect(handle.url, f"keeper-{uuid.uuid4().hex[:8]}") as early:
            await early.subscribe("liq/v1/limits/#")
            raws += [Raw(handle.port) for _ in range(IDLE)]  # with `early`, the cap is full after CAP - 1 of them
            over = await asyncio.to_thread(closed_within, raws[CAP:], CONNECT_S * 0.6)  # well before the timeout
            started = time.monotonic()
            await early.publish("liq/v1/limits/x", b"still served")
            served = (await asyncio.wait_for(anext(early.messages()), 10)).payload == b"still served"
            async with MqttBus(handle.host, handle.port, f"late-{uuid.uuid4().hex[:8]}",
                               connect_timeout=CONNECT_S + 15) as late:
                await late.publish("liq/v1/limits/y", b"late")
            waited = time.monotonic() - started
            for raw in raws:
                raw.close()
            report.figures["idle"] = {"sockets": IDLE, "cap": CAP, "over_cap_closed_at_once": sum(over),
                                      "newcomer_waited_s": round(waited, 2)}
            report.checks[f"{IDLE} idle sockets: those over the cap of {CAP} closed at once"] = all(over)
            report.checks["an established client served while they were open"] = served
            report.checks["a newcomer connected once the idle ones timed out"] = waited < CONNECT_S + 15
            before = rss_kib(pid)
            big = [Raw(handle.port).send(connect_packet(f"big-{i}".encode()), bytes([0x32]) + varint(BIG),
                                         b"x" * 65536) for i in range(3)]
            refused = await asyncio.gather(*(asyncio.to_thread(r.until_closed, 10) for r in big))
            grew = rss_kib(pid) - before
            report.figures["oversized"] = {"publishes": 3, "announced_mb": 100, "rss_growth_kib": grew}
            report.checks["three 100 MB PUBLISHes refused before their body"] = all(r == CONNACK_OK for r in refused)
            report.checks["the broker's memory did not follow them (under 16 MiB)"] = grew < 16 * 1024
            answers = {}
            for name, packets in VIOLATIONS.items():
                raw = Raw(handle.port)
                answers[name] = await asyncio.to_thread(raw.send(*packets).until_closed, 10)
                raw.close()
            bad = [name for name, got in answers.items() if got not in (b"", CONNACK_OK)]
            report.figures["violations"] = {"tried": len(VIOLATIONS), "closed": len(VIOLATIONS) - len(bad)}
            report.checks["every protocol violation closed its connection, nothing accepted"] = not bad
            await _takeover(handle, report)
    finally:
        handle.close()


def closed_within(raws: list[Raw], seconds: float) -> list[bool]:
    """For each socket: did the broker close it within ``seconds`` (end of stream, or reset)?"""
    import selectors

    done = [False] * len(raws)
    with selectors.DefaultSelector() as sel:
        for i, raw in enumerate(raws):
            sel.register(raw.sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + seconds
        while not all(done) and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                i = key.data
                try:
                    data = raws[i].sock.recv(4096)
                except (ConnectionResetError, BlockingIOError, TimeoutError):
                    data = b""
                if not data:
                    done[i] = True
                    sel.unregister(raws[i].sock)
    return done


async def _takeover(handle: Any, report: BrokerReport) -> None:
    keeper = f"k-{uuid.uuid4().hex[:8]}"
    async with connect(handle.url, keeper) as victim:
        thief = Raw(handle.port)
        got = await asyncio.to_thread(thief.send(connect_packet(keeper.encode())).until_closed, 10)
        thief.close()
        report.checks["a live client id cannot be taken over"] = (
            got == CONNACK_ID_REJECTED and getattr(victim, "connections", 1) == 1)


# --- orphans --------------------------------------------------------------------------------------------------


def broker_orphans(report: BrokerReport) -> None:
    kinds = ["embedded", *(["mosquitto"] if shutil.which("mosquitto") else [])]
    left: dict[str, bool] = {}
    for kind in kinds:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            proc = subprocess.Popen([sys.executable, "-m", "auction.cli", "broker", "--port", str(free_port()),
                                     "--prefer", kind], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                _until_line(proc, "liqnet broker:")
                kids = children(proc.pid)
                proc.send_signal(sig)
                proc.wait(15)
                left[f"{kind} {sig.name}"] = bool(kids) and all(ended(k) for k in kids)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    report.figures["liqnet broker"] = {k: "no broker left" if v else "ORPHAN" for k, v in left.items()}
    report.checks["liqnet broker stopped or killed leaves no broker"] = all(left.values())


def network_orphans(workdir: Path, report: BrokerReport) -> None:
    """``liqnet network`` SIGKILLed mid-run: the kernel ends every process it started (parent-death signal)."""
    from auction.net.selftest.harness import CHAOS_SCENARIO

    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / "chaos.toml"
    scenario.write_text(CHAOS_SCENARIO)
    proc = subprocess.Popen([sys.executable, "-m", "auction.cli", "network", "--scenario", str(scenario), "--speed",
                             "600", "--out", str(workdir / "out"), "--no-live"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _until_line(proc, "started ")
        time.sleep(1.0)  # the house and keepers are running, not only forked
        started = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        left = [pid for pid in started if not ended(pid, 15)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    report.figures["liqnet network SIGKILL"] = {"processes": len(started), "left": len(left)}
    report.checks["liqnet network killed with SIGKILL leaves none of its processes"] = len(started) >= 3 and not left


def _until_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 60.0) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the process ended before printing {prefix!r}")
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"no {prefix!r} line within {timeout:g} s")


async def broker_family(workdir: Path) -> BrokerReport:
    t0 = time.time()
    report = BrokerReport()
    await embedded_limits(report)
    await asyncio.to_thread(broker_orphans, report)
    await asyncio.to_thread(network_orphans, workdir / "network", report)
    report.seconds = time.time() - t0
    return report
