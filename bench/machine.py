"""The machine line every benchmark prints first: CPU model, cores, Python, numpy, the load average (the
machine may be shared) and a broker, if any.

    from bench.machine import machine_line
    print(machine_line())                          # machine: AMD EPYC | 2 cores | Linux x86_64 | ...
    print(machine_line(broker="mosquitto 2.0.18"))

``python -m bench.machine [--broker VERSION]`` prints it alone.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> int:
    """Cores this process may run on (the affinity mask, which containers narrow), else the CPU count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load() -> str:
    """The load average over 1, 5 and 15 minutes (the machine is shared: a figure means little without it)."""
    try:
        return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "load unknown"


def machine_line(broker: str | None = None) -> str:
    parts = [
        cpu_model(),
        f"{cores()} cores",
        f"{platform.system()} {platform.machine()}",
        f"{platform.python_implementation()} {platform.python_version()}",
        f"numpy {np.__version__}",
        load(),
    ]
    if broker:
        parts.append(f"broker {broker}")
    return "machine: " + " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.machine", description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=None, help="broker name and version to include")
    args = parser.parse_args(argv)
    print(machine_line(args.broker))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def positive_int(text: str) -> int:
    """argparse type shared by the benchmarks: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def sizes(text: str) -> list[int]:
    """argparse type shared by the benchmarks: comma-separated positive integers (``_`` allowed), sorted."""
    try:
        values = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return sorted(values)
