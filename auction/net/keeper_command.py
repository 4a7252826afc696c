"""``liqnet keeper``: build one live keeper (its agent, key, market view) and run its process until stopped.

The agent is built as the simulator builds its keepers (``auction.run.population``), with the design
registry, the strategy behind a decision deadline, and the scenario's market when ``--scenario`` is given.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import structlog

from auction import units
from auction.designs import REGISTRY
from auction.errors import ConfigError
from auction.net.keeper_proc import DEFAULT_CAPITAL, WALL_TTL_S, HouseClock, KeeperOptions, KeeperProcess, OracleMarket
from auction.run.population import WorldMarket, native_asset
from auction.scenario.build import build_world
from auction.scenario.load import load_scenario
from auction.scenario.population import gas_cap, slug
from broker import topics
from broker.bus import BusError
from broker.house_signing import HouseTrust, parse_house_key
from broker.signing import load_or_create
from keepers.agent import KeeperAgent, Policy
from keepers.deadline import DeadlineStrategy
from keepers.loader import load_strategy
from keepers.wallet import Limits

log = structlog.get_logger()


def default_id(strategy: str) -> str:
    """``<strategy>-<host>``: unique per container (its host name) and a valid keeper id / topic level."""
    host = "".join(c if c.isalnum() or c in "_.-" else "-" for c in socket.gethostname())[:20] or "host"
    return f"{slug(strategy)[:40]}-{host}"


def default_key_file(keeper_id: str) -> Path:
    home = Path(os.environ.get("LIQNET_HOME", Path.home() / ".liqnet"))
    return home / "keys" / f"{keeper_id}.key"


def make_agent(
    keeper_id: str,
    strategy: str,
    *,
    capital: float,
    config: dict[str, Any] | None = None,
    seed: int = 0,
    latency: float = 0.0,
    gas_policy: str = "market",
    market: Any = None,
    native_asset: str = "ETH",
    speed: float | None = None,
    deadline_s: float | None = None,
) -> KeeperAgent:
    """A live keeper's agent, built as ``auction.run.population.make_agents`` builds the simulator's.

    One difference: an action's deadline is at least ``WALL_TTL_S`` of wall time away (``speed`` scenario
    seconds per wall second), since scheduling and broker hops on a busy machine take tens of milliseconds,
    which at ``--speed 3600`` is longer than the simulator's 120 s. Gas comes from the house's blocks.
    """
    limits = Limits()
    inner = load_strategy(strategy, config or {})
    wrapped = DeadlineStrategy(inner, limits.deadline_s if deadline_s is None else deadline_s)
    ttl = max(Policy().action_ttl_s, WALL_TTL_S * (speed or 1.0))
    policy = Policy(max_gas_gwei=gas_cap(gas_policy), native_asset=native_asset, action_ttl_s=ttl)
    return KeeperAgent(keeper_id, wrapped, units.num(capital), designs=REGISTRY, limits=limits, seed=seed,
                       market=market, policy=policy, latency_s=latency)


def scenario_market(scenario: str, seed: int | None) -> tuple[Any, int, str]:
    """The outside market of a scenario (price path and resale depth) as the simulator's keepers see it,
    the run seed, and the asset gas is priced in."""
    loaded = load_scenario(scenario)
    run_seed = loaded.seed_base if seed is None else seed
    world = build_world(loaded, "dutch", run_seed, accounts=1)
    return WorldMarket(world.market_price, world.proceeds), run_seed, native_asset(world)


def keeper_command(
    broker: str,
    strategy: str | None,
    *,
    print_key: bool = False,
    keeper_id: str | None = None,
    key: str | None = None,
    capital: float | None = None,
    config: str | None = None,
    latency: float = 0.0,
    speed: float | None = None,
    scenario: str | None = None,
    seed: int | None = None,
    gas_policy: str = "market",
    house_key: str | None = None,
) -> int:
    """``liqnet keeper``: run one live keeper until SIGINT/SIGTERM (``print_key``: print its keyring line)."""
    if strategy is None and (not print_key or keeper_id is None):
        raise ConfigError("--strategy is required (--print-key needs only --id)")
    kid = keeper_id or default_id(strategy or "")
    try:
        topics.actions(kid)
    except ValueError:
        raise ConfigError(f"--id {kid!r}: use 1-64 letters, digits, '_', '.', '-'") from None
    if print_key:
        print(f"{kid} {load_or_create(_key_path(key, kid)).pubkey}", flush=True)
        return 0
    assert strategy is not None
    if speed is not None and not (speed > 0 and math.isfinite(speed)):
        raise ConfigError(f"--speed must be a positive number, got {speed}")
    if latency < 0 or not math.isfinite(latency):
        raise ConfigError(f"--latency must be >= 0 seconds, got {latency}")
    cfg = _parse_config(config)
    key_path = _key_path(key, kid)
    pair = load_or_create(key_path)
    # The house's key: pinned, or learnt from the first signed house status and recorded beside the keeper's key.
    trust = HouseTrust(parse_house_key(house_key) if house_key else None, Path(f"{key_path}.house"))
    clock = HouseClock(speed)
    oracle_market: OracleMarket | None = None
    market: Any
    native = "ETH"
    if scenario is not None:
        market, run_seed, native = scenario_market(scenario, seed)
    else:
        market = oracle_market = OracleMarket()
        run_seed = seed or 0
    agent = make_agent(kid, strategy, capital=DEFAULT_CAPITAL if capital is None else capital, config=cfg,
                       seed=run_seed, latency=latency, gas_policy=gas_policy, market=market, native_asset=native,
                       speed=speed)
    agent.nonce = time.time_ns() // 1000  # above any nonce a previous run with this key used
    process = KeeperProcess(agent, pair, KeeperOptions(broker, kid, speed=speed, latency=latency),
                            house_clock=clock, oracle_market=oracle_market, trust=trust)
    log.info("keeper starting", keeper=kid, strategy=strategy, pubkey=pair.pubkey, broker=_safe_url(broker))
    try:
        return asyncio.run(process.run())
    except BusError as exc:
        print(f"liqnet: error: {exc}", file=sys.stderr)
        return 1


def _key_path(key: str | None, keeper_id: str) -> Path:
    path = Path(key) if key else default_key_file(keeper_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the key directory {path.parent}: {exc.strerror}") from None
    return path


def _parse_config(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config is not valid JSON ({exc.msg} at column {exc.colno}); "
                          "e.g. --config '{\"margin\": 0.05}'") from None
    if not isinstance(value, dict):
        raise ConfigError("--config must be a JSON object, e.g. --config '{\"margin\": 0.05}'")
    return value


def _safe_url(url: str) -> str:
    """The broker URL without its password, for logs."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"
