"""The broker launcher: Mosquitto or embedded amqtt on a free port, restart, foreground mode, secure files."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from auction.errors import ConfigError
from broker import server
from broker.server import free_port, start_broker, write_secure_files
from broker.transport import connect

pytestmark = pytest.mark.broker


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
async def test_start_stop_restart_on_the_same_port(kind: str) -> None:
    if kind == "mosquitto" and shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    handle = await start_broker(prefer=kind)  # type: ignore[arg-type]
    try:
        assert handle.kind == kind and handle.url == f"mqtt://127.0.0.1:{handle.port}"
        assert handle.version.startswith("mosquitto 2" if kind == "mosquitto" else "amqtt 0.12")
        assert accepts(handle.port)
        await handle.kill()  # a crash
        assert not handle.running() and not accepts(handle.port)
        await handle.restart()
        assert handle.running() and accepts(handle.port)
        async with connect(handle.url, "probe") as bus:
            await bus.subscribe("liq/v1/#")
    finally:
        handle.close()
    assert not accepts(handle.port)


def test_auto_falls_back_to_embedded_without_mosquitto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.shutil, "which", lambda name: None)
    assert server._choose("auto", secure=False) == "embedded"
    with pytest.raises(ConfigError, match="no `mosquitto` is on PATH"):
        server._choose("mosquitto", secure=False)
    with pytest.raises(ConfigError, match="secure mode"):
        server._choose("auto", secure=True)


def test_configuration_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="both"):
        server.mosquitto_config("127.0.0.1", 1884, acl_file=tmp_path / "acl")
    monkeypatch.setattr(server.shutil, "which", lambda name: f"/usr/sbin/{name}")
    with pytest.raises(ConfigError, match="no ACL"):
        server._choose("embedded", secure=True)
    with pytest.raises(ConfigError, match="house"):
        write_secure_files(tmp_path, {"alice": "pw"})
    with pytest.raises(ConfigError, match="cannot be an MQTT user"):
        write_secure_files(tmp_path, {"house": "pw", "a/b": "pw"})
    with pytest.raises(ConfigError, match="unknown broker kind"):
        server._choose("rabbit", secure=False)  # type: ignore[arg-type]


def test_secure_files(tmp_path: Path) -> None:
    passwords, acl = write_secure_files(tmp_path, {"house": "h", "alice": "a"})
    lines = passwords.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["house", "alice"]
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)  # mosquitto_passwd's format
    assert passwords.stat().st_mode & 0o077 == 0
    text = acl.read_text()
    assert "user house\ntopic readwrite liq/v1/#" in text
    assert "pattern readwrite liq/v1/keepers/%u/#" in text
    assert "$" not in text  # every placeholder filled
    conf = server.mosquitto_config("127.0.0.1", 1884, acl_file=acl, password_file=passwords)
    assert "listener 1884 127.0.0.1" in conf and "allow_anonymous false" in conf and str(acl) in conf


def test_run_foreground_says_which_broker_and_stops_on_ctrl_c() -> None:
    port = free_port()
    code = f"from broker.server import run_foreground; raise SystemExit(run_foreground('127.0.0.1', {port}))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and not line.startswith("liqnet broker:"):
            line = proc.stdout.readline()  # skip log lines
        kind = "mosquitto 2" if shutil.which("mosquitto") else "amqtt"
        assert line.startswith(f"liqnet broker: {kind}") and f"mqtt://127.0.0.1:{port}" in line
        assert accepts(port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not accepts(port)  # the broker went with it


def test_run_foreground_refuses_a_busy_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match="already in use"):
            server.run_foreground("127.0.0.1", s.getsockname()[1])


async def test_start_broker_does_not_block_the_loop() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    handle = await start_broker(prefer="embedded")
    ticker.cancel()
    handle.close()
    assert ticks > 5
