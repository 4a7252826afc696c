"""Argument types and shared defaults of the ``liqnet`` commands: each bad value is one line, exit 2."""

from __future__ import annotations

import argparse
import os
import textwrap

BROKER_ENV = "LIQNET_BROKER"  # the default --broker of `house` and `keeper` (also how `network` passes passwords)


def design_list() -> str:
    """The registered designs, for help texts (``auction.designs`` defines the names)."""
    from auction.designs import names

    return ",".join(names())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def fund(text: str) -> tuple[str, float]:
    keeper, sep, usd = text.partition("=")
    if not sep or not keeper:
        raise argparse.ArgumentTypeError(f"expected KEEPER_ID=USD, got {text!r}")
    return keeper, positive_float(usd)


def broker_default() -> str:
    return os.environ.get(BROKER_ENV, "mqtt://127.0.0.1:1883")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs wrapped to the terminal, except indented lines (example commands), which are
    kept as written: argparse's default joins them into one paragraph, RawDescription wraps nothing."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.extend(textwrap.wrap(" ".join(prose), width, initial_indent=indent, subsequent_indent=indent,
                                         break_on_hyphens=False))
                prose.clear()

        for line in text.splitlines():
            if not line.strip():
                flush()
                out.append("")
            elif line[0].isspace() or line.rstrip().endswith(":"):
                flush()
                out.append(indent + line)
            else:
                prose.append(line.strip())
        flush()
        return "\n".join(out)
