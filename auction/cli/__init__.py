"""The ``liqnet`` command: argument parsing only; each command calls one function elsewhere.

Commands are registered in ``COMMANDS`` (name -> builder that adds its subparser and sets ``func``); a
command's ``func(args) -> int`` is its exit code. User mistakes (``ConfigError``, ``Rejected``, a missing
or unreadable user file) print ONE line ``liqnet: error: ...`` on stderr and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from auction.cli import network, simulate
from auction.cli.args import HelpFormatter
from auction.errors import ConfigError, Rejected, Terminated

Builder = Callable[[Any], None]  # adds one command's subparser


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (exit 2) like every other user error."""

    def error(self, message: str) -> NoReturn:
        print(f"liqnet: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


COMMANDS: dict[str, Builder] = {
    "compare": simulate.add_compare,
    "scenarios": simulate.add_scenarios,
    "house": network.add_house,
    "keeper": network.add_keeper,
    "network": network.add_network,
    "strategy-test": simulate.add_strategy_test,
    "broker": network.add_broker,
    "selftest": network.add_selftest,
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="liqnet", formatter_class=HelpFormatter,
        description="Liquidation-auction simulator and keeper framework: compare Dutch, sealed-bid, English and "
        "fixed-penalty liquidation on real and synthetic markets; run keepers over MQTT.",
    )
    from auction import __version__

    parser.add_argument("--version", action="version", version=f"liqnet {__version__}")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="warning",
                        help="log level; logs go to stderr (default: %(default)s)")
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto",
                        help="console on a terminal, JSON lines otherwise (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for builder in COMMANDS.values():
        builder(sub)
    for command in sub.choices.values():
        command.formatter_class = HelpFormatter  # wrapped prose, examples as written
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command's exit code. ``argv`` None: this is the process's command (``liqnet``, ``python -m
    auction.cli``), which ends when it returns."""
    code = _main(argv)
    if argv is None:
        # The interpreter's shutdown collects garbage over every object still alive (with matplotlib loaded,
        # ~0.1 s); frozen objects are skipped. Not for a caller's argv: its process goes on (tests).
        gc.freeze()
    return code


def _main(argv: Sequence[str] | None) -> int:
    simulate.start_workers_early(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    from auction.log import configure_logging

    try:
        configure_logging(args.log_level, json=None if args.log_format == "auto" else args.log_format == "json")
        return int(args.func(args))
    except (ConfigError, Rejected) as exc:
        return _user_error(str(exc))
    except FileNotFoundError as exc:
        return _user_error(f"{exc.filename or exc}: no such file")
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        return _user_error(f"{exc.filename or ''}: {exc.strerror}")
    except Terminated:
        print("liqnet: terminated", file=sys.stderr)
        return 143  # 128 + SIGTERM, as the shell reports a process SIGTERM killed
    except KeyboardInterrupt:
        print("liqnet: interrupted", file=sys.stderr)
        return 130


def _user_error(message: str) -> int:
    print(f"liqnet: error: {' '.join(message.split())}", file=sys.stderr)  # one line, always
    return 2
