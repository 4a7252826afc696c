"""``liqnet house``: load the run (journal or scenario), build the world, run ``HouseProcess`` to the end.

The house's key signs everything it publishes (``broker.house_signing``): ``--key FILE``, else beside the journal
(a resumed run keeps the key its keepers trust), else under ``$LIQNET_HOME/keys``; ``--print-key`` prints it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import structlog

from auction.errors import ConfigError
from auction.net.funding import Funding
from auction.net.house_core import HouseCore
from auction.net.house_proc import GLOBAL_RATE, HouseOptions, HouseProcess
from auction.net.journal import Journal, Sync
from auction.net.runspec import load_run
from broker.bus import BusError
from broker.signing import load_or_create

log = structlog.get_logger()


def house_command(
    broker: str,
    scenario: str | None,
    *,
    design: str | None = None,
    seed: int | None = None,
    speed: float = 1.0,
    journal: str | None = None,
    journal_sync: Sync = "normal",
    accounts: int | None = None,
    funding: Funding | None = None,
    wait_keepers: int = 0,
    wait_timeout: float = 60.0,
    rate: float = 500.0,
    global_rate: float = GLOBAL_RATE,
    out: str | None = "out",
    json_path: str | None = None,
    key: str | None = None,
    print_key: bool = False,
) -> int:
    """``liqnet house``: build the world, replay the journal if any, run to the end, write the report
    (``print_key``: print the public key keepers pin with ``--house-key``, and exit)."""
    from auction.scenario.build import build_world

    pair = load_or_create(house_key_path(key, journal))
    if print_key:
        print(pair.pubkey, flush=True)
        return 0
    jr = Journal(journal, sync=journal_sync, access="write") if journal else None  # a second house: refused
    try:
        spec, loaded = load_run(scenario, design, seed, accounts, funding, jr)
        world = build_world(loaded, spec.design, spec.seed)
        core = HouseCore(world, spec, jr)
        # Burst: two seconds' worth (the default 500/s keeps its 1000), so --rate-limit also bounds a sudden flood.
        options = HouseOptions(broker, speed=speed, rate=rate, burst=max(1.0, 2 * rate), global_rate=global_rate,
                               wait_keepers=wait_keepers, wait_timeout=wait_timeout, out=out, json_path=json_path)
        process = HouseProcess(core, options, key=pair)
        log.info("house key", pubkey=pair.pubkey, run=spec.run_id)
        try:
            code = asyncio.run(process.run())
        except BusError as exc:
            resume = f"; run the same command again to resume from {journal}" if journal else ""
            print(f"liqnet: error: {exc}{resume}", file=sys.stderr)
            return 1
    finally:
        if jr is not None:
            jr.close()
    for path in process.paths:
        print(f"wrote {path}", flush=True)
    for problem in process.problems:
        print(f"liqnet: warning: ledger identity broken: {problem}", file=sys.stderr)
    return 1 if code == 0 and process.problems else code


def house_key_path(key: str | None, journal: str | None) -> Path:
    """``--key``, else beside the journal (a resumed run keeps the key its keepers trust), else the house's
    key under ``$LIQNET_HOME/keys``."""
    from auction.net.keeper_command import default_key_file

    path = Path(key) if key else Path(f"{journal}.key") if journal else default_key_file("house")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the key directory {path.parent}: {exc.strerror}") from None
    return path
