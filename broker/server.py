"""Start an MQTT broker: Mosquitto when installed, else the embedded amqtt broker, as a child process.

Tests and ``liqnet network`` get one on a free port with ``start_broker()``; ``liqnet broker`` runs one in
the foreground with ``run_foreground()``. A child process, never a thread, so that fault tests can stop,
kill and restart it on the same port. Secure mode (password file + ACL) needs Mosquitto.

Both brokers get the same ``Limits`` (connections, packet size; the embedded one also a CONNECT timeout,
which Mosquitto 2.0 has no option for). A broker never outlives the process that started it: it runs in a
process group of its own (so that stopping it reaches anything it started), ``liqnet broker`` forwards
SIGTERM, SIGINT and SIGHUP to it and waits, and on Linux the child asks the kernel (``PR_SET_PDEATHSIG``)
for SIGTERM when its parent dies, even by SIGKILL (``popen_tied``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal

import structlog

from auction.errors import ConfigError

log = structlog.get_logger()

Kind = Literal["mosquitto", "embedded"]
Prefer = Literal["auto", "mosquitto", "embedded"]
READY_TIMEOUT_S = 15.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # what ``liqnet broker`` forwards to its broker


@dataclass(frozen=True, slots=True)
class Limits:
    """What one broker allows, whoever connects (the same for Mosquitto and the embedded broker).

    ``max_packet_size`` is above the 16 KiB message limit on purpose: an oversized payload must reach the
    house so that its sender gets an "oversized" rejection; this cap only stops abuse. Memory held by
    packets being read is at most ``max_connections * max_packet_size`` (128 MiB with the defaults).
    """

    connect_timeout_s: float = 10.0  # embedded only: the whole CONNECT must arrive within this
    max_connections: int = 512  # a local network is a house, a watcher and tens of keepers
    max_packet_size: int = 256 * 1024


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def template(name: str) -> Template:
    """One of the templates in broker/mosquitto/."""
    return Template((resources.files("broker") / "mosquitto" / name).read_text())


def mosquitto_config(
    host: str,
    port: int,
    *,
    acl_file: str | Path | None = None,
    password_file: str | Path | None = None,
    limits: Limits | None = None,
    bind_client_ids: bool = False,
) -> str:
    """The Mosquitto configuration text: anonymous clients, or secure mode with both files.

    ``bind_client_ids`` (secure mode only): ``use_username_as_clientid``, so a client's id is its user name
    and nobody can take over another's id (and session). Right when every client has a user of its own, as
    ``write_secure_files`` makes them (keeper user = keeper id = client id); wrong when users are shared
    (compose's one keeper user; two connections of one user knock each other off).
    """
    if (acl_file is None) != (password_file is None):
        raise ConfigError("secure mode needs both a password file and an ACL file")
    limits = limits or Limits()
    auth = "allow_anonymous true"
    if bind_client_ids and acl_file is None:
        raise ConfigError("binding client ids to user names needs secure mode (an ACL and a password file)")
    if acl_file is not None and password_file is not None:
        auth = template("secure.conf.template").substitute(
            acl_file=Path(acl_file).resolve(), password_file=Path(password_file).resolve(),
            client_ids=f"use_username_as_clientid {'true' if bind_client_ids else 'false'}",
        )
    return template("mosquitto.conf.template").substitute(
        host=host, port=port, auth=auth, max_connections=limits.max_connections,
        max_packet_size=limits.max_packet_size,
    )


def confines_by_user(acl_file: str | Path) -> bool:
    """Whether an ACL confines clients by user name (``%u``) and never by client id (``%c``): then each
    client has a user of its own and client ids can be bound to user names."""
    rules = [line.split() for line in Path(acl_file).read_text().splitlines() if line.strip()[:1] not in ("", "#")]
    patterns = [" ".join(rule[1:]) for rule in rules if rule[0] == "pattern"]
    return any("%u" in p for p in patterns) and not any("%c" in p for p in patterns)


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """A Mosquitto 2 password-file hash: ``$7$`` = PBKDF2-HMAC-SHA512 (as ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def write_secure_files(
    directory: str | Path, users: Mapping[str, str], *, house: str = "house", readers: Iterable[str] = ()
) -> tuple[Path, Path]:
    """Write ``passwords`` and ``acl`` for secure mode; ``users`` maps user name to password.

    Keeper user names must equal keeper ids (the ACL confines each to ``liq/v1/keepers/<name>/``);
    ``house`` is the user allowed to publish everything; ``readers`` may read everything (an observer that
    must see all the house sees, with a user of its own: with client ids bound to user names, a second
    connection as the house would knock the house off). Returns (password_file, acl_file).
    """
    readers = list(readers)
    for name in (house, *readers):
        if name not in users:
            raise ConfigError(f"secure mode needs credentials for the user {name!r}")
    for name in users:
        if not name or any(c in name for c in "/+#:\n"):
            raise ConfigError(f"user name {name!r} cannot be an MQTT user: no '/', '+', '#', ':'")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    password_file, acl_file = out / "passwords", out / "acl"
    password_file.touch(mode=0o600)
    password_file.write_text("".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in users.items()))
    text = template("acl.template").substitute(house=house)
    text += "".join(f"\n# An observer: reads everything, publishes nothing.\nuser {r}\ntopic read liq/v1/#\n"
                    for r in readers)
    acl_file.write_text(text)
    return password_file, acl_file


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
        _signal_group(proc, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
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


# --- child processes ----------------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Linux sends the parent-death signal when the THREAD that forked the child ends (prctl(2)), not the
# process. asyncio.to_thread workers end with their event loop, so every child is forked from this one
# thread, which lives as long as the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqnet-spawn")


def popen_tied(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` for a child that must not outlive this process, whatever ends it.

    The child gets a process group of its own (stop it, and whatever it started, with ``os.killpg``; a
    Ctrl-C at the terminal reaches only us, and we stop it in order) and, on Linux, SIGTERM from the
    kernel when this process dies, SIGKILL included. Elsewhere only the signal forwarding holds.
    """
    return _SPAWNER.submit(_popen, list(argv), kwargs).result()


def _popen(argv: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent(), **kwargs)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that sets PR_SET_PDEATHSIG to SIGTERM (Linux), or None where there is none.

    Everything is resolved before the fork: between fork and exec the child may only make the call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent, term = os.getpid(), int(signal.SIGTERM)
    getppid, exit_now = os.getppid, os._exit

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, term, 0, 0, 0)
        if getppid() != parent:  # the parent died before the call: nobody will signal us now
            exit_now(1)

    return preexec


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the child's process group (the child leads it: ``popen_tied``), or the child alone."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


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
            raise ConfigError(f"{handle.kind} could not start on {handle.host}:{handle.port}: {_tail(handle)}")
        with contextlib.suppress(OSError), socket.create_connection((host, handle.port), timeout=0.2):
            return
        time.sleep(0.02)
    handle.terminate(signal.SIGKILL)
    raise ConfigError(f"{handle.kind} did not listen on {handle.host}:{handle.port} in {READY_TIMEOUT_S:g} s")


def _tail(handle: BrokerHandle) -> str:
    try:
        lines = handle.log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
