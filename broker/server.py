"""Start an MQTT broker: Mosquitto when installed, else the embedded amqtt broker, as a child process.

Tests and ``liqnet network`` get one on a free port with ``start_broker()``; ``liqnet broker`` runs one in
the foreground with ``run_foreground()``. A child process, never a thread, so that fault tests can stop,
kill and restart it on the same port. Secure mode (password file + ACL) needs Mosquitto.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

import structlog

from auction.errors import ConfigError

log = structlog.get_logger()

Kind = Literal["mosquitto", "embedded"]
Prefer = Literal["auto", "mosquitto", "embedded"]
READY_TIMEOUT_S = 15.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def template(name: str) -> Template:
    """One of the templates in broker/mosquitto/."""
    return Template((resources.files("broker") / "mosquitto" / name).read_text())


def mosquitto_config(
    host: str, port: int, *, acl_file: str | Path | None = None, password_file: str | Path | None = None
) -> str:
    """The Mosquitto configuration text: anonymous clients, or secure mode with both files."""
    if (acl_file is None) != (password_file is None):
        raise ConfigError("secure mode needs both a password file and an ACL file")
    auth = "allow_anonymous true"
    if acl_file is not None and password_file is not None:
        auth = template("secure.conf.template").substitute(
            acl_file=Path(acl_file).resolve(), password_file=Path(password_file).resolve()
        )
    return template("mosquitto.conf.template").substitute(host=host, port=port, auth=auth)


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """A Mosquitto 2 password-file hash: ``$7$`` = PBKDF2-HMAC-SHA512 (as ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def write_secure_files(directory: str | Path, users: Mapping[str, str], *, house: str = "house") -> tuple[Path, Path]:
    """Write ``passwords`` and ``acl`` for secure mode; ``users`` maps user name to password.

    Keeper user names must equal keeper ids (the ACL confines each to ``liq/v1/keepers/<name>/``);
    ``house`` is the user allowed to publish everything. Returns (password_file, acl_file).
    """
    if house not in users:
        raise ConfigError(f"secure mode needs credentials for the house user {house!r}")
    for name in users:
        if not name or any(c in name for c in "/+#:\n"):
            raise ConfigError(f"user name {name!r} cannot be an MQTT user: no '/', '+', '#', ':'")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    password_file, acl_file = out / "passwords", out / "acl"
    password_file.touch(mode=0o600)
    password_file.write_text("".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in users.items()))
    acl_file.write_text(template("acl.template").substitute(house=house))
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
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir, start_new_session=True
            )
        _wait_listening(self)

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
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
) -> BrokerHandle:
    """Start a broker and return once it accepts connections (blocking; see ``start_broker``).

    ``port=0`` picks a free port. ``prefer``: "auto" (Mosquitto if installed), "mosquitto" or "embedded".
    """
    kind = _choose(prefer, secure=acl_file is not None or password_file is not None)
    attempts = 3 if port == 0 else 1  # a port picked free can be taken before the broker binds it
    for attempt in range(attempts):
        handle = _prepare(kind, host, port or free_port(host), acl_file, password_file)
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
) -> BrokerHandle:
    """``launch_broker`` without blocking the event loop."""
    return await asyncio.to_thread(
        launch_broker, host, port, prefer=prefer, acl_file=acl_file, password_file=password_file
    )


def run_foreground(
    host: str = "127.0.0.1",
    port: int = 1883,
    prefer: Prefer = "auto",
    *,
    acl_file: str | Path | None = None,
    password_file: str | Path | None = None,
) -> int:
    """``liqnet broker``: run a broker until Ctrl-C; say which one and where. Returns the exit code."""
    if port and not _port_free(host, port):
        raise ConfigError(f"port {port} on {host} is already in use; pick another with --port")
    handle = launch_broker(host, port, prefer=prefer, acl_file=acl_file, password_file=password_file)
    try:
        mode = "secure (password + ACL)" if acl_file else "anonymous"
        print(f"liqnet broker: {handle.version} listening on {handle.url}, {mode}; Ctrl-C to stop", flush=True)
        code = handle.proc.wait() if handle.proc is not None else 1
        print(f"liqnet broker: {handle.kind} exited with code {code}; see {handle.log_file}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("liqnet broker: stopping", flush=True)
        return 0
    finally:
        handle.close()


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


def _prepare(
    kind: Kind, host: str, port: int, acl_file: str | Path | None, password_file: str | Path | None
) -> BrokerHandle:
    tmp = tempfile.TemporaryDirectory(prefix=f"liqnet-{kind}-")
    workdir = Path(tmp.name)
    if kind == "mosquitto":
        exe = shutil.which("mosquitto") or "mosquitto"
        conf = workdir / "mosquitto.conf"
        text = mosquitto_config(host, port, acl_file=acl_file, password_file=password_file)
        if os.geteuid() == 0:
            # Started as root, Mosquitto would switch to user `mosquitto`, who cannot read our private
            # files (temp dir, password file): stay the user that launched it, as it does when not root.
            text += "user root\n"
        conf.write_text(text)
        argv, version = [exe, "-c", str(conf)], _mosquitto_version(exe)
    else:
        from amqtt import __version__ as amqtt_version

        argv = [sys.executable, "-m", "broker.embedded", "--host", host, "--port", str(port)]
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
