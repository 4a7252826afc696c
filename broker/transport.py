"""Choosing a transport from a URL: ``memory://name`` (in-process) or ``mqtt://host:port`` (aiomqtt).

Its own module, so that ``broker.bus`` (the interface and the in-memory bus) never imports the MQTT bus
that builds on it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from auction.errors import ConfigError
from broker.bus import Bus, MemoryBus, MemoryHub, Will
from broker.mqtt_bus import MqttBus


def connect(url: str, client_id: str, will: Will | None = None) -> Bus:
    """A bus for ``memory://name`` or ``mqtt://[user:password@]host:port[?clean=1&protocol=5]``.

    Use it as ``async with connect(...) as bus``.
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryBus(MemoryHub.named(parts.netloc + parts.path), client_id, will)
    if parts.scheme == "mqtt":
        try:
            port = parts.port or 1883
        except ValueError:
            raise ConfigError(f"bad port in broker URL {url!r}; use mqtt://host:port") from None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        protocol = query.get("protocol", "4")
        if protocol not in ("4", "5"):
            raise ConfigError(f"protocol={protocol} in {url!r}: use 4 (MQTT 3.1.1, default) or 5")
        return MqttBus(
            parts.hostname or "127.0.0.1",
            port,
            client_id,
            will=will,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            persistent=query.get("clean", "0") not in ("1", "true"),
            protocol=int(protocol),
        )
    raise ConfigError(f"unsupported broker URL {url!r}: use mqtt://host:port or memory://name")
