"""What a broker is configured with: the ``Limits`` both brokers share, Mosquitto's configuration text, and
the files of secure mode (a password file in Mosquitto's hash format, an ACL from ``broker/mosquitto/``).

``broker.server`` starts brokers with them; ``broker.embedded`` reads only ``Limits``. Pure functions and
files: nothing here starts a process.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from auction.errors import ConfigError


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
