"""The simulator's commands: ``compare``, ``scenarios`` and ``strategy-test``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from auction.cli.args import (
    design_list,
    positive_float,
    positive_int,
)
from auction.compare.workers import usable_cores

SubParsers = Any  # argparse's _SubParsersAction (private type)


# --- compare ------------------------------------------------------------------------------------------


def add_compare(sub: SubParsers) -> None:
    p = sub.add_parser(
        "compare",
        help="run a scenario under every auction design over many seeds; write JSON, Markdown and HTML",
        description="Put every auction design through the same market path, accounts and keepers, for N\n"
        "seeds, in parallel, and report each metric's mean and 95% interval per design.\n"
        "Writes OUT/NAME.json (the machine-readable truth: same seeds, same bytes), OUT/NAME.md\n"
        "and a self-contained OUT/NAME.html with plots, and prints the summary table.",
        epilog="examples:\n"
        "  liqnet compare --scenario black-thursday\n"
        "  liqnet compare --scenario my.toml --designs dutch,fixed --seeds 32 --workers 2\n"
        "  liqnet compare --scenario gbm-calm --set dutch.buf=1.1,1.2,1.3 --designs dutch\n"
        "  liqnet compare --scenario black-thursday --prices my_prices.csv --json result.json",
    )
    p.add_argument("--scenario", default="black-thursday", metavar="NAME|FILE",
                   help="a bundled scenario (see `liqnet scenarios`) or a TOML file (default: %(default)s)")
    p.add_argument("--prices", metavar="CSV",
                   help="replace the scenario's prices with a CSV file with columns unix_ts and close; gas and "
                   "market stay where the file has their columns (else a model fitted to the scenario's own), each "
                   "replacement is printed, and the report is named SCENARIO+STEM")
    p.add_argument("--designs", metavar="D1,D2",
                   help=f"comma-separated designs to compare (default: all: {design_list()})")
    p.add_argument("--seeds", type=positive_int, default=8, metavar="N",
                   help="seeds per design, from the scenario's seed_base (default: %(default)s)")
    p.add_argument("--accounts", type=positive_int, metavar="N", help="override the number of accounts")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="worker processes (default: the usable cores; 1 runs in this process)")
    p.add_argument("--out", default="out", metavar="DIR", help="directory for the reports (default: %(default)s)")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=V1,V2",
                   help="override a scenario key; several values make a grid (e.g. dutch.buf=1.1,1.2,1.3, "
                   "oracle.hop_s=600, keepers.0.count=3); repeatable")
    p.add_argument("--executor", choices=("process", "dask"), default="process",
                   help="local worker processes, or dask.distributed (pip install 'liqnet[dask]'; uses the "
                   "scheduler in DASK_SCHEDULER_ADDRESS, else a local cluster) (default: %(default)s)")
    p.add_argument("--export", choices=("parquet", "csv"), metavar="parquet|csv",
                   help="also write every run's auctions, fills and time series as OUT/NAME.auctions.EXT, "
                   "NAME.fills.EXT and NAME.series.EXT (parquet needs pip install 'liqnet[parquet]')")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (it is drawn on stderr, and only on a terminal)")
    p.set_defaults(func=run_compare)


GLOBAL_OPTIONS_WITH_VALUE = ("--log-level", "--log-format")  # liqnet's options before the command


def will_run_workers(argv: Sequence[str], cores: int | None = None) -> bool:
    """Whether ``argv`` is a ``compare`` that will start worker processes, judged from the words alone: the
    parser is not built yet (building it imports every design). A wrong guess costs an idle fork server.
    Without ``--workers`` there are as many workers as ``cores`` (default: the usable cores), none for one."""
    words = list(argv)
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in GLOBAL_OPTIONS_WITH_VALUE else 1
    if i >= len(words) or words[i] != "compare":
        return False
    rest = words[i + 1:]
    flags = {w.partition("=")[0]: w.partition("=")[2] or (rest[j + 1] if j + 1 < len(rest) else "")
             for j, w in enumerate(rest) if w.startswith("-")}
    workers = flags.get("--workers") or str(usable_cores() if cores is None else cores)
    return not ({"-h", "--help"} & flags.keys()) and workers != "1" and flags.get("--executor", "process") == "process"


def start_workers_early(argv: Sequence[str]) -> None:
    """For a ``compare`` with workers: start their fork server now, so that it imports the simulator while
    this process builds the parser and checks the scenario (``auction.compare.workers``)."""
    if will_run_workers(argv):
        from auction.compare.workers import start_early

        start_early()


def run_compare(args: argparse.Namespace) -> int:
    from auction.compare.command import compare_command

    return compare_command(
        args.scenario, prices=args.prices, designs=args.designs, seeds=args.seeds, accounts=args.accounts,
        workers=args.workers, out=args.out, json_path=args.json_path, sets=args.sets, executor=args.executor,
        export=args.export, progress=args.progress, log_level=args.log_level,
    )


# --- scenarios ----------------------------------------------------------------------------------------


def add_scenarios(sub: SubParsers) -> None:
    p = sub.add_parser("scenarios", help="list the bundled scenarios",
                       description="List the bundled scenarios with their descriptions. Any TOML file with the "
                       "same tables can be given to --scenario by path.")
    p.set_defaults(func=run_scenarios)


def run_scenarios(args: argparse.Namespace) -> int:
    from auction.compare.command import scenarios_command

    return scenarios_command()


# --- strategy-test ---------------------------------------------------------------------------------------


def add_strategy_test(sub: SubParsers) -> None:
    p = sub.add_parser(
        "strategy-test",
        help="test a keeper strategy against the built-in keepers in the simulator",
        description="Add your strategy as one more keeper to a scenario's population and run the simulator for N\n"
        "seeds: auctions won, volume, P&L and return on capital for your keeper and each built-in one, with\n"
        "95% intervals over the seeds. P&L is read from the settlement ledger.",
        epilog="examples:\n"
        "  liqnet strategy-test --strategy my_strategy.py:MyStrategy --config '{\"margin\": 0.03}'\n"
        "  liqnet strategy-test --strategy dutch-threshold --scenario may-2021 --design dutch --seeds 8",
    )
    p.add_argument("--strategy", required=True, metavar="SPEC",
                   help="a built-in name, module:Class, path/to/file.py:Class, an entry point or exec:COMMAND")
    p.add_argument("--scenario", default="black-thursday", metavar="NAME|FILE",
                   help="a bundled scenario or a TOML file (default: %(default)s)")
    p.add_argument("--design", metavar="D", help=f"one of {design_list()} (default: the first design for the "
                   "scenario's accounts that keepers act in: dutch, or perp-dutch for perpetual positions)")
    p.add_argument("--seeds", type=positive_int, default=4, metavar="N", help="seeds (default: %(default)s)")
    p.add_argument("--capital", type=positive_float, default=1_000_000.0, metavar="USD",
                   help="your keeper's capital (default: %(default)s)")
    p.add_argument("--config", metavar="JSON", help="keyword arguments for your strategy, as a JSON object")
    p.add_argument("--accounts", type=positive_int, metavar="N", help="override the number of accounts")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="also write the table as JSON to FILE")
    p.set_defaults(func=run_strategy_test)


def run_strategy_test(args: argparse.Namespace) -> int:
    from auction.compare.strategy_test import strategy_test_command

    return strategy_test_command(args.scenario, args.strategy, design=args.design, seeds=args.seeds,
                                 capital=args.capital, config=args.config, accounts=args.accounts,
                                 json_path=args.json_path)
