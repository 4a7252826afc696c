"""MQTT 3.1.1 as raw bytes, for probing a broker the way a hostile client would (no library in the way)."""

from __future__ import annotations

import socket
import struct

CONNACK_OK = bytes([0x20, 0x02, 0x00, 0x00])
CONNACK_ID_REJECTED = bytes([0x20, 0x02, 0x00, 0x02])


def varint(n: int) -> bytes:
    """MQTT's remaining-length encoding (7 bits a byte, high bit: more follows)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id: bytes, will: tuple[bytes, bytes] | None = None) -> bytes:
    flags = 0x02 | (0x04 | 0x20 if will else 0)  # clean session; will with retain
    body = string(b"MQTT") + bytes([4, flags]) + struct.pack("!H", 30) + string(client_id)
    if will:
        body += string(will[0]) + string(will[1])
    return bytes([0x10]) + varint(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, qos: int = 1) -> bytes:
    body = string(topic) + (struct.pack("!H", 7) if qos else b"") + payload
    return bytes([0x30 | (qos << 1)]) + varint(len(body)) + body


class Raw:
    """One TCP connection speaking bytes."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=5)

    def send(self, *chunks: bytes) -> Raw:
        for chunk in chunks:
            self.sock.sendall(chunk)
        return self

    def until_closed(self, timeout: float) -> bytes | None:
        """Everything received until the broker closes the connection, or None if it is still open then."""
        self.sock.settimeout(timeout)
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except TimeoutError:
            return None
        except (ConnectionResetError, BrokenPipeError):
            pass
        return data

    def answer(self) -> bytes:
        """The broker's first answer (a CONNACK), or b"" if it closes the connection instead."""
        self.sock.settimeout(5)
        try:
            return self.sock.recv(4)
        except ConnectionResetError:
            return b""

    def close(self) -> None:
        self.sock.close()
