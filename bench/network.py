"""Network benchmark: the MQTT ceiling, the network house's throughput and announce -> take latency, in one run.

    python -m bench.network [--seconds 4] [--keepers 4] [--rate 2500] [--latency-rate 100] [--block-ms 5]
                            [--broker auto|mosquitto|embedded] [--house-windows 1,256] [--race] [--full-keepers]
                            [--no-journal] [--no-profile]

Everything runs on loopback, each part in its own OS process (``bench.network_roles``), on a broker started for
this run on a free port (Mosquitto when installed, else the embedded amqtt broker; the machine line names it):

(a) ceiling: QoS-1 publish -> receive of a signed Take between two processes: aiomqtt with 64 publish tasks in
    flight and one at a time, and liqnet's bus (``MqttBus.publish_many``: pipelined, 256 outstanding). The
    ceiling is the best of them.
(b) throughput: THE network house (``auction.net.house_proc.HouseProcess`` over ``HouseCore``: admission with
    signature and nonce checks, the journal, the kernel, receipts, accounts, pipelined publishing) at speed 1,
    with blocks every ``--block-ms``, on a crash that kicks ``--rate`` auctions per second for ``--seconds``;
    ``--keepers`` keeper processes take the auctions they are assigned (``id % keepers``; all with ``--race``)
    as soon as they are announced (they subscribe to announces and their own receipts, what a taker needs;
    ``--full-keepers``: to everything a ``liqnet keeper`` does). Reported: settled auctions/s and accepted
    actions/s over the steady part, accepted actions as a share of (a), and how far the house fell behind its
    clock (a house that cannot keep up runs slower than its clock: its settled/s is then its capacity);
(c) latency: the same processes at ``--latency-rate`` auctions/s, before (b), while the house is on its clock:
    from the house handing an auction's announce to the bus to handing over the acknowledgement of its first
    take (in the block that includes it, so up to one block period of waiting is part of it), p50 and p99.

One house run per ``--house-windows`` value (publishes outstanding at most: 1 is one PUBACK at a time, as the
house published before, 256 its default), side by side; the last is judged against the targets. When one is
not met, the house runs once more under cProfile and the functions that bound it are printed (``--no-profile``
skips it). Results go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import pstats
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.network_roles import ROLES, quiet, say

TARGET_SETTLED = 500.0  # auctions/s
TARGET_SHARE = 0.30  # house accepted actions / raw ceiling
TARGET_P99_MS = 20.0
CEILINGS = (("aiomqtt", 64), ("aiomqtt", 1), ("bus", 256))  # (client, window) of the raw runs


class Child:
    """A child process of this module, its stdout read by a thread; peak RSS and CPU from ``os.wait4``."""

    def __init__(self, role: str, args: argparse.Namespace, extra: Sequence[str] = ()) -> None:
        argv = [sys.executable, "-m", "bench.network", "--role", role, "--host", args.host, "--port", str(args.port),
                "--seconds", str(args.seconds), "--keepers", str(args.keepers), "--rate", str(args.rate),
                "--latency-rate", str(args.latency_rate), "--block-ms", str(args.block_ms),
                "--accounts", str(args.accounts), *extra]
        flags = {"--race": args.race, "--full-keepers": not args.lean_keepers, "--no-journal": not args.journal}
        argv += [flag for flag, on in flags.items() if on]
        self.role = role
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.cpu_s = 0.0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{self.role}: no {prefix!r} line within {timeout:g} s") from None
            if line is None:
                raise RuntimeError(f"{self.role} exited (code {self.proc.wait()}) before {prefix!r}; see stderr")
            if line.startswith(prefix):
                return line

    def result(self, timeout: float) -> dict[str, Any]:
        got: dict[str, Any] = json.loads(self.expect("RESULT ", timeout)[len("RESULT "):])
        self.reap(timeout)
        return got

    def reap(self, timeout: float) -> None:
        """Wait for the exit (killing it after ``timeout``) and collect its CPU time with ``os.wait4``."""
        if self.proc.returncode is not None:
            return
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.cpu_s = usage.ru_utime + usage.ru_stime
                return
            if time.monotonic() > deadline:
                self.proc.kill()
                deadline = math.inf
            time.sleep(0.01)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.reap(5)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")




def ceiling(args: argparse.Namespace, client: str, window: int) -> tuple[float, float]:
    """(received/s at the subscriber, sent/s at the publisher) for one client and publish window."""
    extra = ["--client", client, "--window", str(window)]
    sub = Child("raw-sub", args, extra)
    pub: Child | None = None
    try:
        sub.expect("READY", 30)
        pub = Child("raw-pub", args, extra)
        sent = pub.result(args.seconds + 60)
        got = sub.result(args.seconds + 60)
    finally:
        for child in (sub, pub):
            if child is not None:
                child.kill()
    return float(got["rate"]), float(sent["rate"])


@dataclass
class HouseRun:
    window: int  # house publishes outstanding at most
    result: dict[str, Any]  # the house's RESULT
    keepers: list[dict[str, Any]]
    keeper_share: float  # CPU seconds per wall second of all keepers together, while the house was online
    broker_share: float  # the same for the broker process

    @property
    def latency(self) -> dict[str, Any]:
        return dict(self.result["phases"][0])

    @property
    def throughput(self) -> dict[str, Any]:
        return dict(self.result["phases"][1])


def house_run(args: argparse.Namespace, window: int, profile: str | None = None) -> HouseRun:
    """The house and its keepers, both phases; the house keeps at most ``window`` publishes outstanding."""
    extra = ["--house-window", str(window)] + (["--house-profile", profile] if profile else [])
    house = Child("house", args, extra)
    keepers: list[Child] = []
    try:
        house.expect("READY", 60)
        broker0, wall0 = proc_cpu(args.broker_pid), time.monotonic()
        keepers = [Child("keeper", args, ["--index", str(i)]) for i in range(args.keepers)]
        result = house.result(4 * (args.seconds + 5) + 120)
        broker_share = (proc_cpu(args.broker_pid) - broker0) / (time.monotonic() - wall0)
        kept = [k.result(30) for k in keepers]
    finally:
        for child in (house, *keepers):
            child.kill()
    keeper_share = sum(k["cpu_s"] / max(k["wall_s"], 1e-9) for k in kept)
    return HouseRun(window, result, kept, keeper_share, broker_share)


def _publishes(window: int) -> str:
    return "1 at a time" if window == 1 else f"{window} outstanding"


def report(args: argparse.Namespace, raw: dict[tuple[str, int], tuple[float, float]],
           runs: Sequence[HouseRun]) -> tuple[list[str], bool]:
    """The report lines, and whether every target was met by the judged (last) run."""
    top = max(r for r, _ in raw.values())
    mode = "every keeper takes every auction" if args.race else f"auction id % {args.keepers} picks the keeper"
    mode += ("; keepers subscribe to announces and their receipts" if args.lean_keepers else
             "; keepers subscribe to everything a liqnet keeper does")
    lines = [f"(a) ceiling: QoS 1 publish -> receive, one publisher process -> one subscriber process, "
             f"{args.seconds:g} s"]
    lines.append(f"    {'client':<8} {'publishes':<16} {'received/s':>11} {'sent/s':>9} {'of ceiling':>11}")
    for (client, window), (got, sent) in raw.items():
        lines.append(f"    {client:<8} {_publishes(window):<16} {got:>11,.0f} {sent:>9,.0f} {got / top:>11.2f}")
    journal = "journaled" if args.journal else "no journal"
    lines.append(f"(b) house throughput: the network house ({journal}) and {args.keepers} keeper processes ({mode}); "
                 f"{args.rate:g} auctions/s kicked for {args.seconds:g} s, blocks every {args.block_ms:g} ms; rates "
                 "over the steady part")
    lines.append(f"    {'house publishes':<16} {'settled/s':>9} {'vs 500/s':>8} {'accepted/s':>10} {'of ceiling':>10} "
                 f"{'msgs/auction':>12} {'max lag':>12} {'house CPU':>9}")
    for r in runs:
        t = r.throughput
        lag = f"{r.result['max_lag_ms']:.0f} ms"
        lines.append(
            f"    {_publishes(r.window):<16} {t['settled_per_s']:>9,.0f} {t['settled_per_s'] / TARGET_SETTLED:>7.2f}x "
            f"{t['accepted_per_s']:>10,.0f} {t['accepted_per_s'] / top:>10.3f} "
            f"{r.result['published'] / max(t['settled'] + r.latency['settled'], 1):>12.1f} {lag:>12} "
            f"{r.result['cpu_share']:>9.2f}"
        )
    lines.append(f"(c) latency at {args.latency_rate:g} auctions/s: announce handed to the bus -> first take "
                 f"acknowledged (includes waiting for the next block, <= {args.block_ms:g} ms)")
    lines.append(f"    {'house publishes':<16} {'auctions':>8} {'p50_ms':>7} {'p99_ms':>7} {'max_ms':>7} "
                 f"{'p99 vs 20 ms':>12}")
    for r in runs:
        c = r.latency
        lines.append(f"    {_publishes(r.window):<16} {c['samples']:>8,} {c['p50_ms']:>7.2f} {c['p99_ms']:>7.2f} "
                     f"{c['max_ms']:>7.2f} {c['p99_ms'] / TARGET_P99_MS:>11.2f}x")
    for r in runs:
        takes = sum(k["takes"] for k in r.keepers)
        refused = sum(k["rejections"] for k in r.keepers)
        acked = sum(k["acks"] for k in r.keepers)
        lines.append(f"    ({_publishes(r.window)}: keepers sent {takes:,} takes, {acked:,} acknowledged, {refused:,} "
                     f"refused; CPU in cores: {args.keepers} keepers {r.keeper_share:.2f}, "
                     f"broker {r.broker_share:.2f})")
    judged = runs[-1]
    t, c = judged.throughput, judged.latency
    share = t["accepted_per_s"] / top
    met = [t["settled_per_s"] >= TARGET_SETTLED, share >= TARGET_SHARE, c["p99_ms"] < TARGET_P99_MS]
    word = ["NOT met", "met"]
    lines += [
        f"targets, judged on the house with {_publishes(judged.window)} publishes (its default):",
        f"  settled >= {TARGET_SETTLED:g}/s: {t['settled_per_s']:,.0f}/s, {word[met[0]]}",
        f"  accepted actions >= {TARGET_SHARE:.0%} of the ceiling: {share:.1%}, {word[met[1]]}",
        f"  p99 announce -> take < {TARGET_P99_MS:g} ms: {c['p99_ms']:.2f} ms, {word[met[2]]}",
    ]
    return lines, all(met)


# Where the house's time goes, by component: (name, test on (file, function name)), first match wins.
COMPONENTS: tuple[tuple[str, Any], ...] = (
    ("socket send (syscall)", lambda f, n: f == "~" and "'send'" in n),
    ("socket recv (syscall)", lambda f, n: f == "~" and "'recv'" in n),
    ("idle (epoll wait)", lambda f, n: f == "~" and "'poll'" in n),
    ("Ed25519 verify", lambda f, n: "verify" in n and "ed25519" in n.lower()),
    ("journal (sqlite, and the fsync of its published marks)",
     lambda f, n: "sqlite3" in n or "fdatasync" in n or "fsync" in n or "/auction/net/journal/" in f),
    ("msgspec encode/decode", lambda f, n: "msgspec" in n),
    ("MQTT client (paho, and the locks it makes per message)", lambda f, n: "/paho/" in f or "/threading.py" in f),
    ("MQTT client (aiomqtt)", lambda f, n: "/aiomqtt/" in f),
    ("asyncio event loop", lambda f, n: "/asyncio/" in f or "/selectors.py" in f),
    ("liqnet: house, designs, ledger", lambda f, n: "/auction/" in f and "/net/" not in f),
    ("liqnet: network house, bus, wire", lambda f, n: "/auction/net/" in f or "/broker/" in f),
)


def profile_lines(path: str, top: int = 12) -> list[str]:
    """The house's own time (cProfile) by component, then its busiest functions: what bounds it."""
    stats = pstats.Stats(path)
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in table.values()) or 1e-9
    parts: dict[str, float] = {}
    for (file, _, name), row in table.items():
        part = next((label for label, test in COMPONENTS if test(file, name)), "other (Python runtime)")
        parts[part] = parts.get(part, 0.0) + row[2]
    out = [f"house profile (cProfile, {total:.1f} s of own time; slower under the profiler), by component:"]
    out += [f"    {share / total:>6.1%}  {label}" for label, share in sorted(parts.items(), key=lambda kv: -kv[1])]
    out.append("  busiest functions (own time):")
    for (file, line, name), (_, calls, own, _, _) in sorted(table.items(), key=lambda kv: -kv[1][2])[:top]:
        where = f" ({Path(file).parent.name}/{Path(file).name}:{line})" if line else ""
        out.append(f"    {own / total:>6.1%} {calls:>9,}  {name}{where}")
    return out


# --- flags and main ------------------------------------------------------------------------------------------------


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
        return value

    return parse


def _windows(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1, got {text!r}")
    return values


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.network", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=_positive(float), default=4.0, help="length of each measured phase (default 4)")
    p.add_argument("--keepers", type=_positive(int), default=4, help="keeper processes (default 4)")
    p.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default="auto",
                   help="auto: Mosquitto when installed, else the embedded amqtt broker")
    p.add_argument("--rate", type=_positive(float), default=2500.0,
                   help="auctions kicked per second in (b) (default 2500: above what the house can settle here, so "
                        "that its settled/s is its capacity)")
    p.add_argument("--latency-rate", type=_positive(float), default=100.0,
                   help="auctions per second in (c) (default 100)")
    p.add_argument("--block-ms", type=_positive(float), default=5.0, help="house block period, ms (default 5)")
    p.add_argument("--house-windows", type=_windows, default=[1, 256],
                   help="house publishes outstanding at most, one house run each; the last is judged "
                        "(default 1,256: one PUBACK at a time, then the house's default pipeline)")
    p.add_argument("--accounts", type=_positive(int), default=200_000, help="accounts the crash can liquidate")
    p.add_argument("--race", action="store_true", help="every keeper takes every auction")
    p.add_argument("--full-keepers", dest="lean_keepers", action="store_false",
                   help="keepers subscribe to everything a `liqnet keeper` does (states, results, clock, oracle, "
                        "accounts), not only to announces and their receipts: shows what fan-out costs")
    p.add_argument("--no-journal", dest="journal", action="store_false", help="run the house without its journal")
    p.add_argument("--no-profile", dest="profile", action="store_false",
                   help="do not profile the house when a target is not met")
    p.add_argument("--role", choices=tuple(ROLES), help=argparse.SUPPRESS)
    p.add_argument("--client", choices=("aiomqtt", "bus"), default="aiomqtt", help=argparse.SUPPRESS)
    p.add_argument("--window", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--broker-pid", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--house-window", type=int, default=256, help=argparse.SUPPRESS)
    p.add_argument("--house-profile", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    quiet()
    if args.role:
        asyncio.run(ROLES[args.role](args))
        return 0
    from bench.machine import machine_line
    from broker.server import launch_broker

    load = os.getloadavg()[0]
    broker = launch_broker("127.0.0.1", 0, prefer=args.broker)
    profiled: list[str] = []
    try:
        args.host, args.port = "127.0.0.1", broker.port
        args.broker_pid = broker.proc.pid if broker.proc is not None else 0
        print(machine_line(broker=broker.version))
        print(f"broker: {broker.kind} ({broker.version}) on {broker.url}, loopback, started for this run; "
              f"load average {load:.2f} at start")
        raw: dict[tuple[str, int], tuple[float, float]] = {}
        for client, window in CEILINGS:
            say(f"(a) raw {client}, {_publishes(window)}")
            raw[(client, window)] = ceiling(args, client, window)
        runs = []
        for window in args.house_windows:
            say(f"(b, c) house with {_publishes(window)} publishes, {args.keepers} keepers")
            runs.append(house_run(args, window))
        lines, met = report(args, raw, runs)
        if not met and args.profile:
            say("(profile) the judged house again, under cProfile")
            with tempfile.TemporaryDirectory() as tmp:
                path = str(Path(tmp) / "house.prof")
                house_run(args, args.house_windows[-1], profile=path)
                profiled = profile_lines(path)
    finally:
        broker.close()
    print("\n".join(lines + profiled))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
