"""The flood of the floods family, sent by a process of its own: ``python -m auction.net.selftest.flooder``.

Not a thread of the selftest's process: there it shared one interpreter lock with the watcher, whose arrival
times are what the floods family judges the house's clock by, and building 10,000 publishes a second in Python
keeps that lock busy. On a loaded machine the watcher then read blocks late: in one funded-id run beside eight
busy loops it read 14 of the 259 owed during the flood and 322 in one second after it, while the house's own
status said it had fallen 72 behind. In a process of its own the flooder competes with the house for a CPU
instead, which the floods check counts (the house's time waiting for one is not owed blocks).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterator, Sequence

from auction.net.selftest.rawmqtt import Raw, connect_packet, publish_packet
from broker import topics


def keeper_ids(spec: str) -> Iterator[str]:
    """``one:NAME``: NAME for every message; ``rotating:PREFIX``: PREFIX0, PREFIX1, ... (a new id each)."""
    kind, _, name = spec.partition(":")
    if kind == "one":
        return itertools.repeat(name)
    if kind == "rotating":
        return (f"{name}{n}" for n in itertools.count())
    raise ValueError(f"keeper ids {spec!r}: one:NAME or rotating:PREFIX")


def flood(port: int, ids: Iterator[str], rate: int, seconds: float) -> tuple[int, float, float]:
    """Raw QoS 0 publishes of garbage-but-plausible actions, ``rate`` a second for ``seconds``: how many went
    out, and the wall time (``time.time``) of the first and after the last."""
    raw = Raw(port).send(connect_packet(b"flooder-" + str(time.time_ns()).encode()))
    raw.sock.settimeout(5)
    raw.sock.recv(4)  # CONNACK
    sent, start, t0 = 0, time.time(), time.monotonic()
    chunk = max(1, rate // 100)
    try:
        while time.monotonic() - t0 < seconds:
            frames = b"".join(
                publish_packet(topics.actions(next(ids)).encode(),
                               b'{"type":"redo","auction":1,"keeper":"x","nonce":%d,"deadline_ms":1}' % (sent + k),
                               qos=0) for k in range(chunk))
            raw.sock.sendall(frames)
            sent += chunk
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    except OSError:
        pass  # the broker closed the flooder: it sent what it could
    finally:
        raw.close()
    return sent, start, time.time()


def main(argv: Sequence[str]) -> int:
    """PORT IDS RATE SECONDS -> one JSON line: {"sent", "start", "end"}."""
    port, ids, rate, seconds = argv
    sent, start, end = flood(int(port), keeper_ids(ids), int(rate), float(seconds))
    print(json.dumps({"sent": sent, "start": start, "end": end}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
