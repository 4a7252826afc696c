"""The network's commands: ``house``, ``keeper``, ``network``, ``broker`` and ``selftest``."""

from __future__ import annotations

import argparse
from typing import Any

from auction.cli.args import (
    BROKER_ENV,
    broker_default,
    design_list,
    fund,
    non_negative_float,
    positive_float,
    positive_int,
)

SubParsers = Any  # argparse's _SubParsersAction (private type)


# --- network: house, keeper, network -------------------------------------------------------------------

def add_house(sub: SubParsers) -> None:
    p = sub.add_parser(
        "house",
        help="run the auction house process: replays a scenario in wall time over an MQTT broker",
        description="The auction house as a process: replays the scenario's price path at --speed times wall "
        "time, publishes oracle prices, blocks, auctions and results on the broker, takes signed keeper actions "
        "(checked: signature, key, nonce, deadline, rate) into each block, settles through the ledger, and at the "
        "end writes the report (liqnet.compare/1, mode network). With --journal FILE every input is journaled "
        "(SQLite, WAL) before its outcome is published; run the same command again after a crash to resume.",
        epilog="examples:\n"
        "  liqnet house --broker mqtt://127.0.0.1:1883 --scenario black-thursday --speed 3600\n"
        "  liqnet house --scenario my.toml --design fixed --journal house.db   # again after a crash: resumes",
    )
    p.add_argument("--broker", default=broker_default(), metavar="URL",
                   help=f"mqtt://[user:password@]host:port (default: ${BROKER_ENV} or %(default)s)")
    p.add_argument("--scenario", metavar="NAME|FILE",
                   help="a bundled scenario or a TOML file (required unless --journal names an existing journal)")
    p.add_argument("--design", metavar="D", help=f"one of {design_list()} (default: the first design for the "
                   "scenario's accounts: dutch, or perp-market for perpetual positions)")
    p.add_argument("--seed", type=int, metavar="N", help="run seed (default: the scenario's seed_base)")
    p.add_argument("--speed", type=positive_float, default=1.0, metavar="X",
                   help="scenario seconds per wall second (default: %(default)s)")
    p.add_argument("--journal", metavar="FILE", help="SQLite journal: written as the run goes, replayed on restart")
    p.add_argument("--journal-sync", choices=("normal", "full"), default="normal",
                   help="normal survives a crash of the process; full also a power loss, one fsync per batch "
                   "(default: %(default)s)")
    p.add_argument("--accounts", type=positive_int, metavar="N", help="override the number of accounts")
    p.add_argument("--fund", type=fund, action="append", default=[], metavar="ID=USD",
                   help="capital the house gives keeper ID at its registration (repeatable; the scenario's "
                   "population is funded as in the simulator); the house does not listen to other ids")
    p.add_argument("--keyring", metavar="FILE",
                   help="the key of each funded keeper id, one '<id> <public key hex>' per line (`liqnet keeper "
                   "--id ID --print-key` prints it): only that key can register the id and take its capital")
    p.add_argument("--tofu", action="store_true",
                   help="bind a funded id the keyring does not name to the first key that registers it (trust on "
                   "first use: safe only when the broker gives each keeper its own credentials)")
    p.add_argument("--open-funding", type=positive_float, metavar="USD",
                   help="also fund ids the configuration does not name, USD each, trust on first use (default: "
                   "such ids are refused and nothing is minted for them)")
    p.add_argument("--open-funding-ids", type=positive_int, metavar="N",
                   help="... at most N such ids (default: 100)")
    p.add_argument("--wait-keepers", type=int, default=0, metavar="N",
                   help="hold the clock at its start until N keepers registered (default: %(default)s)")
    p.add_argument("--wait-timeout", type=non_negative_float, default=60.0, metavar="S",
                   help="... but no longer than S wall seconds (default: %(default)s)")
    p.add_argument("--rate-limit", type=non_negative_float, default=500.0, metavar="N",
                   help="actions per wall second per keeper before 'rate-limited' (answered once a second per keeper, "
                   "the rest dropped; 0: none; default: %(default)s)")
    p.add_argument("--global-rate-limit", type=non_negative_float, default=5000.0, metavar="N",
                   help="actions per wall second admitted from all keepers together; more are dropped (0: none; "
                   "default: %(default)s)")
    p.add_argument("--out", default="out", metavar="DIR", help="directory for the reports (default: %(default)s)")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("--key", metavar="FILE", help="the house's Ed25519 key, created on first use: it signs everything "
                   "the house publishes (default: JOURNAL.key with --journal, else ~/.liqnet/keys/house.key or "
                   "under $LIQNET_HOME)")
    p.add_argument("--print-key", action="store_true",
                   help="print the house's public key (what keepers pin with --house-key), creating the key file "
                   "if needed, and exit")
    p.set_defaults(func=run_house)


def run_house(args: argparse.Namespace) -> int:
    from auction.net.funding import OPEN_IDS, Funding
    from auction.net.house_command import house_command
    from broker.signing import load_keyring

    keys = load_keyring(args.keyring) if args.keyring else {}
    funding = Funding(dict(args.fund), args.open_funding or 0.0, args.open_funding_ids or OPEN_IDS, keys, args.tofu)
    return house_command(
        args.broker, args.scenario, design=args.design, seed=args.seed, speed=args.speed, journal=args.journal,
        journal_sync=args.journal_sync, accounts=args.accounts, funding=funding, wait_keepers=args.wait_keepers,
        wait_timeout=args.wait_timeout, rate=args.rate_limit, global_rate=args.global_rate_limit, out=args.out,
        json_path=args.json_path,
        key=args.key, print_key=args.print_key,
    )


def add_keeper(sub: SubParsers) -> None:
    p = sub.add_parser(
        "keeper",
        help="run one live keeper process: a strategy on the MQTT bus",
        description="Run a strategy as a live keeper: it registers its Ed25519 key with the house, follows the "
        "auctions (late joiners catch up from retained state), decides exactly as in the simulator and sends "
        "signed actions. Stops cleanly on Ctrl-C or SIGTERM; the broker shows it offline (Last Will) if it dies.",
        epilog="examples:\n"
        "  liqnet keeper --strategy universal --id alice\n"
        "  liqnet keeper --broker mqtt://broker.example:1883 --strategy my_keeper.py:MyKeeper --key alice.key\n"
        "  liqnet keeper --strategy dutch-threshold --config '{\"margin\": 0.08}' --scenario black-thursday",
    )
    p.add_argument("--broker", default=broker_default(), metavar="URL",
                   help=f"mqtt://[user:password@]host:port (default: ${BROKER_ENV} or %(default)s)")
    p.add_argument("--strategy", metavar="SPEC",
                   help="a built-in name, module:Class, path/to/file.py:Class or exec:COMMAND (required unless "
                   "--print-key)")
    p.add_argument("--print-key", action="store_true",
                   help="print '<id> <public key hex>' (the house's --keyring line for this keeper), creating the "
                   "key file if needed, and exit")
    p.add_argument("--id", dest="keeper_id", metavar="NAME",
                   help="keeper id: letters, digits, _ . - (default: <strategy>-<host name>)")
    p.add_argument("--key", metavar="FILE", help="Ed25519 key file, created on first use "
                   "(default: ~/.liqnet/keys/<id>.key, or under $LIQNET_HOME)")
    p.add_argument("--capital", type=positive_float, metavar="USD",
                   help="the keeper's own spending budget (default: 1000000); the house funds the escrow "
                   "from its own configuration")
    p.add_argument("--config", metavar="JSON", help="strategy keyword arguments as a JSON object")
    p.add_argument("--latency", type=non_negative_float, default=0.0, metavar="S",
                   help="extra delay in scenario seconds before reacting and before sending (default: %(default)s)")
    p.add_argument("--speed", type=positive_float, metavar="X",
                   help="the house's --speed (default: measured from the house's clock messages)")
    p.add_argument("--scenario", metavar="NAME|FILE",
                   help="see the outside market of this scenario (default: the oracle price)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the keeper's random streams and market")
    p.add_argument("--gas-policy", default="market", metavar="POLICY",
                   help="market, or fixed:GWEI to send nothing while gas is above GWEI (default: %(default)s)")
    p.add_argument("--house-key", metavar="HEX|FILE",
                   help="the house's public key (`liqnet house --print-key`): house messages not signed by it are "
                   "dropped (default: trust the first house key seen, recorded in KEY.house and warned about)")
    p.set_defaults(func=run_keeper)


def run_keeper(args: argparse.Namespace) -> int:
    from auction.net.keeper_command import keeper_command

    return keeper_command(
        args.broker, args.strategy, print_key=args.print_key, keeper_id=args.keeper_id, key=args.key,
        capital=args.capital, config=args.config, latency=args.latency, speed=args.speed, scenario=args.scenario,
        seed=args.seed, gas_policy=args.gas_policy, house_key=args.house_key,
    )


def add_network(sub: SubParsers) -> None:
    # Imported here, not at the top: the network code (and the kernel under it) is not for other commands, and
    # `liqnet compare` starts its workers before the parser is built (auction.cli.simulate).
    from auction.net.runspec import DEFAULT_SPEED

    p = sub.add_parser(
        "network",
        help="run a local network: broker, auction house and one process per keeper, with a live view",
        description="Start a broker on a free port (Mosquitto when installed, else the embedded one) unless "
        "--broker is given, one keeper process per population member and the auction house, show the auctions "
        "live, and write the same report as `liqnet compare` (mode network) when the house finishes. Every "
        "process started is stopped at the end and on Ctrl-C.",
        epilog="examples:\n"
        "  liqnet network --scenario black-thursday --design dutch --keepers 4 --speed 3600   # 30 s\n"
        "  liqnet network --scenario my.toml --keeper universal --keeper my_keeper.py:MyKeeper\n"
        "  liqnet network --scenario gbm-calm --secure   # Mosquitto with passwords and the keeper ACL",
    )
    p.add_argument("--scenario", default="black-thursday", metavar="NAME|FILE",
                   help="a bundled scenario or a TOML file (default: %(default)s)")
    p.add_argument("--design", metavar="D", help=f"one of {design_list()} (default: the first design for the "
                   "scenario's accounts: dutch, or perp-market for perpetual positions)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--keepers", type=positive_int, metavar="N",
                     help="N keepers taken in order from the scenario's population (default: all of it)")
    who.add_argument("--keeper", dest="keeper_specs", action="append", default=[], metavar="SPEC",
                     help="run this strategy as one keeper (repeatable)")
    p.add_argument("--broker", metavar="URL", help="use this broker instead of starting one")
    p.add_argument("--speed", type=positive_float, default=DEFAULT_SPEED, metavar="X",
                   help="scenario seconds per wall second (default: %(default)g: a 12 s block is 40 ms, a 300 s sealed "
                        "reveal window 1 s of wall time; the house prints how far it fell behind its clock)")
    p.add_argument("--seed", type=int, metavar="N", help="run seed (default: the scenario's seed_base)")
    p.add_argument("--accounts", type=positive_int, metavar="N", help="override the number of accounts")
    p.add_argument("--out", default="out", metavar="DIR", help="directory for the reports (default: %(default)s)")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("--secure", action="store_true",
                   help="Mosquitto with per-process passwords and the ACL confining each keeper to its own topics")
    p.add_argument("--no-live", dest="live", action="store_false", default=None,
                   help="print plain status lines instead of the live view")
    p.set_defaults(func=run_network)


def run_network(args: argparse.Namespace) -> int:
    from auction.net.network import network_command

    return network_command(
        args.scenario, design=args.design, keepers=args.keepers, keeper_specs=args.keeper_specs,
        broker=args.broker, speed=args.speed, out=args.out, json_path=args.json_path, secure=args.secure,
        seed=args.seed, accounts=args.accounts, log_level=args.log_level, live=args.live,
    )


# --- broker -------------------------------------------------------------------------------------------------


def add_broker(sub: SubParsers) -> None:
    p = sub.add_parser(
        "broker",
        help="run an MQTT broker in the foreground: Mosquitto if installed, else the embedded one",
        description="Run an MQTT broker for a liqnet network, in the foreground (Ctrl-C, SIGTERM or SIGHUP stop\n"
        "it, and the broker with it): Mosquitto when it is installed, else the embedded pure-Python broker\n"
        "(amqtt, MQTT 3.1.1). It says which.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=1883, help="port (default: %(default)s)")
    p.add_argument("--prefer", choices=("auto", "mosquitto", "embedded"), default="auto",
                   help="which broker (default: %(default)s)")
    p.add_argument("--acl", metavar="FILE", help="Mosquitto ACL file (secure mode; needs --passwords)")
    p.add_argument("--passwords", metavar="FILE", help="Mosquitto password file (secure mode)")
    p.add_argument("--bind-client-ids", action=argparse.BooleanOptionalAction, default=None,
                   help="secure mode: a client's id is its user name, so nobody can take over another's "
                   "(default: when the ACL confines clients by user name, %%u, as acl.template does)")
    p.add_argument("--max-connections", type=positive_int, default=512, metavar="N",
                   help="open connections allowed; more are closed at once (default: %(default)s)")
    p.add_argument("--max-packet-size", type=positive_int, default=256 * 1024, metavar="BYTES",
                   help="larger MQTT packets close the connection; at least 64 (default: %(default)s)")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0, metavar="S",
                   help="embedded broker: seconds a new connection has to send CONNECT (default: %(default)s)")
    p.set_defaults(func=run_broker)


def run_broker(args: argparse.Namespace) -> int:
    from auction.errors import ConfigError
    from broker.server import Limits, run_foreground

    if args.max_packet_size < 64:
        raise ConfigError(f"--max-packet-size: must be >= 64 bytes, got {args.max_packet_size}")
    limits = Limits(args.connect_timeout, args.max_connections, args.max_packet_size)
    return run_foreground(args.host, args.port, args.prefer, acl_file=args.acl, password_file=args.passwords,
                          limits=limits, bind_client_ids=args.bind_client_ids)


# --- selftest -------------------------------------------------------------------------------------------

SELFTEST_FAMILIES = "faults,attacks,access,inputs,journal,broker,forgery,floods"


def add_selftest(sub: SubParsers) -> None:
    p = sub.add_parser(
        "selftest",
        help="inject faults into a real local network, attack it, fuzz it; one summary line per family",
        description="Start real networks (a broker on a free port, the auction house and keeper processes) and "
        "break them: kill a keeper, the broker and the house mid-auction, silence and slow keepers, send forged, "
        "replayed, oversized and flooding actions, publish what the broker ACL forbids, and fuzz every decoder "
        "and the house's rules. Prints one line per family with the figures the run counted; exit 0 when every "
        "claim held, 1 otherwise (the failures are printed on stderr).",
        epilog="examples:\n"
        "  liqnet selftest --quick            # CI-sized: about 2 minutes on 2 cores\n"
        "  liqnet selftest --only attacks,access\n"
        "  liqnet selftest --keep runs/       # keep every run's logs and journal",
    )
    from auction.net.selftest import quick_text

    p.add_argument("--quick", action="store_true", help=f"CI-sized: {quick_text()}")
    p.add_argument("--only", default=SELFTEST_FAMILIES, metavar="F1,F2",
                   help="families to run, from %(default)s (default: all)")
    p.add_argument("--keep", metavar="DIR", help="keep the runs (logs, journals, reports) in DIR")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the fuzzing (default: %(default)s)")
    p.add_argument("--broker-kind", choices=("auto", "mosquitto", "embedded"), default="auto",
                   help="the broker the runs start: Mosquitto when installed, else the embedded one (default: "
                   "%(default)s; the access-control family needs Mosquitto)")
    p.set_defaults(func=run_selftest)


def run_selftest(args: argparse.Namespace) -> int:
    from auction.net.selftest import selftest_command

    only = [name.strip() for name in args.only.split(",") if name.strip()]
    return selftest_command(quick=args.quick, only=only, keep=args.keep, seed=args.seed, broker=args.broker_kind)


# Subcommands, in the order `liqnet --help` lists them. To add one: write `_add_NAME(sub)` that calls
# `sub.add_parser(...)` and `set_defaults(func=...)`, and register it here. Still to come (lead):
# "broker", "keeper", "strategy-test", "house", "network", "selftest".
