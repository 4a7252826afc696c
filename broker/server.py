"""Start an MQTT broker: Mosquitto when installed, else the embedded amqtt broker, as a child process.

Tests and ``liqnet network`` get one on a free port with ``start_broker()``; ``liqnet broker`` runs one in
the foreground with ``run_foreground()``. A child process, never a thread, so that fault tests can stop,
kill and restart it on the same port. Secure mode (password file + ACL) needs Mosquitto.

Both brokers get the same ``Limits`` (connections, packet size; the embedded one also a CONNECT timeout,
which Mosquitto 2.0 has no option for). A broker never outlives the process that started it: it runs in a
process group of its own (so that stopping it reaches anything it started), ``liqnet broker`` forwards
SIGTERM, SIGINT and SIGHUP to it and waits, and on Linux the child asks the kernel (``PR_SET_PDEATHSIG``)
for SIGTERM when its parent dies, even by SIGKILL (``broker.child_process.popen_tied``).

The configuration (``Limits``, Mosquitto's text, secure mode's files) is ``broker.broker_config``; this module
re-exports what its callers name here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog

from auction.errors import ConfigError
from broker.broker_config import Limits, confines_by_user, mosquitto_config, write_secure_files
from broker.child_process import log_tail, popen_tied, signal_group

log = structlog.get_logger()

Kind = Literal["mosquitto", "embedded"]
Prefer = Literal["auto", "mosquitto", "embedded"]
READY_TIMEOUT_S = 15.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # what ``liqnet broker`` forwards to its broker

__all__ = ["BrokerHandle", "Kind", "Limits", "Prefer", "confines_by_user", "free_port", "launch_broker",
           "mosquitto_config", "popen_tied", "run_foreground", "start_broker", "write_secure_files"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class BrokerHandle:
    """A broker child process. ``stop``/``restart``/``kill`` for fault tests; ``close`` when done."""

    host: str
    port: int
    kind: Kind
    version: str
    argv: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"mqtt://{host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "broker.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        """Start the process and wait until the port accepts connections."""
        with self.log_file.open("ab") as err:
            self.proc = popen_tied(self.argv, stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir)
        _wait_listening(self)

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        """Signal the broker's process group, wait, SIGKILL it after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        signal_group(proc, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait()

    async def stop(self) -> None:
        """Stop the broker (SIGTERM); ``restart`` brings it back on the same port."""
        await asyncio.to_thread(self.terminate)

    async def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would."""
        await asyncio.to_thread(self.terminate, signal.SIGKILL)

    async def restart(self) -> None:
        """Stop (if running) and start again on the same port; clients must reconnect."""
        await asyncio.to_thread(self._restart)

    def _restart(self) -> None:
        self.terminate()
        self.spawn()

    def close(self) -> None:
        """Stop the broker and delete its working directory."""
        self.terminate()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def launch_broker(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    prefer: Prefer = "auto",
    acl_file: str | Path | None = None,
    password_file: str | Path | None = None,
    limits: Limits | None = None,
    bind_client_ids: bool = False,
) -> BrokerHandle:
    """Start a broker and return once it accepts connections (blocking; see ``start_broker``).

    ``port=0`` picks a free port. ``prefer``: "auto" (Mosquitto if installed), "mosquitto" or "embedded".
    ``bind_client_ids``: see ``mosquitto_config``; ask for it when every client has a user of its own, as
    ``liqnet network --secure`` does.
    """
    secure = acl_file is not None or password_file is not None
    if bind_client_ids and not secure:
        raise ConfigError("binding client ids to user names needs secure mode (an ACL and a password file)")
    kind = _choose(prefer, secure=secure)
    options = _Options(acl_file, password_file, limits or Limits(), bind_client_ids)
    attempts = 3 if port == 0 else 1  # a port picked free can be taken before the broker binds it
    for attempt in range(attempts):
        handle = _prepare(kind, host, port or free_port(host), options)
        try:
            handle.spawn()
        except ConfigError:
            handle.close()
            if attempt == attempts - 1:
                raise
            continue
        except BaseException:  # Ctrl-C while starting: leave no broker behind
            handle.close()
            raise
        log.info("broker started", kind=kind, url=handle.url, version=handle.version)
        return handle
    raise AssertionError("unreachable")


async def start_broker(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    prefer: Prefer = "auto",
    acl_file: str | Path | None = None,
    password_file: str | Path | None = None,
    limits: Limits | None = None,
    bind_client_ids: bool = False,
) -> BrokerHandle:
    """``launch_broker`` without blocking the event loop."""
    return await asyncio.to_thread(
        launch_broker, host, port, prefer=prefer, acl_file=acl_file, password_file=password_file, limits=limits,
        bind_client_ids=bind_client_ids,
    )


def run_foreground(
    host: str = "127.0.0.1",
    port: int = 1883,
    prefer: Prefer = "auto",
    *,
    acl_file: str | Path | None = None,
    password_file: str | Path | None = None,
    limits: Limits | None = None,
    bind_client_ids: bool | None = None,
) -> int:
    """``liqnet broker``: run a broker until SIGINT (Ctrl-C), SIGTERM or SIGHUP, which stop the broker and
    wait for it; say which one and where. Returns the exit code (0 when stopped by a signal).

    ``bind_client_ids=None``: bind them when the ACL confines clients by user name (``confines_by_user``).
    """
    if port and not _port_free(host, port):
        raise ConfigError(f"port {port} on {host} is already in use; pick another with --port")
    if bind_client_ids is None:
        bind_client_ids = acl_file is not None and confines_by_user(acl_file)
    handle: BrokerHandle | None = None
    with _stop_signals() as stopping:
        try:
            handle = launch_broker(host, port, prefer=prefer, acl_file=acl_file, password_file=password_file,
                                   limits=limits, bind_client_ids=bind_client_ids)
            mode = "secure (password + ACL" + (", client id = user)" if bind_client_ids else ")")
            mode = mode if acl_file else "anonymous"
            print(f"liqnet broker: {handle.version} listening on {handle.url}, {mode}; Ctrl-C to stop", flush=True)
            code = handle.proc.wait() if handle.proc is not None else 1
            print(f"liqnet broker: {handle.kind} exited with code {code}; see {handle.log_file}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, _Stop):
            print(f"liqnet broker: stopping ({signal.Signals(stopping[0]).name})" if stopping else
                  "liqnet broker: stopping", flush=True)
            return 0
        finally:
            if handle is not None:
                handle.close()  # SIGTERM to the broker's group, wait, SIGKILL after the grace period


# --- liqnet broker's signals ------------------------------------------------------------------------------

class _Stop(Exception):
    """SIGTERM or SIGHUP while ``liqnet broker`` runs: unwind and stop the broker."""


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Turn the first SIGTERM, SIGINT or SIGHUP into ``_Stop`` (its number lands in the yielded list); ignore
    repeats, so that stopping the broker is not itself interrupted. Main thread only, like any handler."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got  # Python delivers signals to the main thread only: there, the caller handles them
        return

    def handler(signum: int, frame: Any) -> None:
        if not got:
            got.append(signum)
            raise _Stop()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield got
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- internals --------------------------------------------------------------------------------------------


def _choose(prefer: Prefer, *, secure: bool) -> Kind:
    found = shutil.which("mosquitto") is not None
    if prefer == "mosquitto" or secure:
        if not found:
            why = "secure mode (ACL, passwords) needs Mosquitto" if secure else "prefer='mosquitto'"
            raise ConfigError(f"{why}, but no `mosquitto` is on PATH; install it (apt install mosquitto)")
        if prefer == "embedded":
            raise ConfigError("the embedded broker has no ACL or passwords; use Mosquitto for secure mode")
        return "mosquitto"
    if prefer == "embedded":
        return "embedded"
    if prefer != "auto":
        raise ConfigError(f"unknown broker kind {prefer!r}; use auto, mosquitto or embedded")
    return "mosquitto" if found else "embedded"


@dataclass(frozen=True, slots=True)
class _Options:
    acl_file: str | Path | None
    password_file: str | Path | None
    limits: Limits
    bind_client_ids: bool


def _prepare(kind: Kind, host: str, port: int, opt: _Options) -> BrokerHandle:
    tmp = tempfile.TemporaryDirectory(prefix=f"liqnet-{kind}-")
    workdir = Path(tmp.name)
    if kind == "mosquitto":
        exe = shutil.which("mosquitto") or "mosquitto"
        conf = workdir / "mosquitto.conf"
        text = mosquitto_config(host, port, acl_file=opt.acl_file, password_file=opt.password_file,
                                limits=opt.limits, bind_client_ids=opt.bind_client_ids)
        if os.geteuid() == 0:
            # Started as root, Mosquitto would switch to user `mosquitto`, who cannot read our private
            # files (temp dir, password file): stay the user that launched it, as it does when not root.
            text += "user root\n"
        conf.write_text(text)
        argv, version = [exe, "-c", str(conf)], _mosquitto_version(exe)
    else:
        from amqtt import __version__ as amqtt_version

        lim = opt.limits
        argv = [sys.executable, "-m", "broker.embedded", "--host", host, "--port", str(port), "--connect-timeout",
                repr(lim.connect_timeout_s), "--max-connections", str(lim.max_connections), "--max-packet-size",
                str(lim.max_packet_size)]
        version = f"amqtt {amqtt_version} (embedded, MQTT 3.1.1)"
    return BrokerHandle(host, port, kind, version, argv, workdir, _tmp=tmp)


def _mosquitto_version(exe: str) -> str:
    try:
        out = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "mosquitto"
    first = out.splitlines()[0] if out else "mosquitto"
    return first.replace(" version ", " ").strip()  # "mosquitto 2.0.11"


def _wait_listening(handle: BrokerHandle) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    host = "127.0.0.1" if handle.host in ("0.0.0.0", "") else handle.host
    while time.monotonic() < deadline:
        if handle.proc is None or handle.proc.poll() is not None:
            why = log_tail(handle.log_file)
            raise ConfigError(f"{handle.kind} could not start on {handle.host}:{handle.port}: {why}")
        with contextlib.suppress(OSError), socket.create_connection((host, handle.port), timeout=0.2):
            return
        time.sleep(0.02)
    handle.terminate(signal.SIGKILL)
    raise ConfigError(f"{handle.kind} did not listen on {handle.host}:{handle.port} in {READY_TIMEOUT_S:g} s")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
