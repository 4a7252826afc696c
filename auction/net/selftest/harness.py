"""Real processes over a real broker, for fault injection: a cluster, a watcher and the audit of a run.

A ``Cluster`` owns a broker on a free port (``broker.server.start_broker``; never the one on 1883), the
auction house and keeper processes (``python -m auction.cli house|keeper``, each logging JSON lines to its own
file), and a ``Watcher`` subscribed to ``liq/v1/#`` that records what the house published with wall-clock
arrival times. Faults are plain signals (SIGKILL, SIGSTOP/SIGCONT) and ``BrokerHandle.stop/restart``.

Its parts: ``chaos`` (the scenario and speed of fault runs), ``child`` (one process: start, signal, stop, its
log), ``watcher`` (what the house published, as seen). ``auction.net.selftest.audit`` judges a finished run from
the house's journal. This module re-exports them all: ``audit``, ``replay_journal``, ``action_pairs``, ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import structlog

from auction.net.house_feed import HouseFeed
from auction.net.network import BROKER_ENV, KeeperPlan, house_key_file, population, write_keyring
from auction.net.selftest.audit import Audit, Replay, action_pairs, audit, conserved, lost, replay_journal
from auction.net.selftest.chaos import CHAOS_SCENARIO, SPEED
from auction.net.selftest.child import Child
from auction.net.selftest.logs import log_events, log_time
from auction.net.selftest.watcher import HOUSE_TOPICS, Watcher
from broker import topics
from broker.bus import Bus
from broker.house_signing import HouseTrust
from broker.server import BrokerHandle, Prefer, start_broker
from broker.signing import KeyPair, load_or_create
from broker.transport import connect

log = structlog.get_logger()


class FaultError(AssertionError):
    """A run did not reach a state the fault schedule waits for (with the logs' tails to say why)."""


class Cluster:
    """A broker, an auction house, keepers and a watcher, all real, in ``workdir``. Use ``async with``."""

    def __init__(
        self,
        workdir: Path,
        *,
        design: str = "dutch",
        speed: float = SPEED,
        scenario_text: str = CHAOS_SCENARIO,
        rate_limit: float | None = None,
        keepers: int | None = None,
        acl_file: Path | None = None,
        password_file: Path | None = None,
        urls: dict[str, str] | None = None,
        open_funding: float | None = None,
        funds: dict[str, float] | None = None,
        house_log_level: str = "info",
        prefer: Prefer = "auto",
        bind_client_ids: bool = False,
        oracle_keepers: bool = False,
        watch_actions: bool = True,
    ) -> None:
        self.workdir = workdir
        self.design, self.speed, self.rate_limit = design, speed, rate_limit
        self.open_funding, self.funds = open_funding, dict(funds or {})
        self.house_log_level = house_log_level
        self.oracle_keepers = oracle_keepers  # keepers value collateral at the oracle price (no --scenario)
        self.watch_actions = watch_actions  # False: the watcher reads only what the house publishes (a flood run)
        self.prefer: Prefer = prefer  # which broker: "auto" (Mosquitto when installed), "mosquitto", "embedded"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)
        (workdir / "keys").mkdir(exist_ok=True)
        self.scenario_path = workdir / "chaos.toml"
        self.scenario_path.write_text(scenario_text)
        from auction.scenario.load import load_scenario

        self.scenario = load_scenario(self.scenario_path)
        plans = population(self.scenario, None, ())
        self.plans: list[KeeperPlan] = plans if keepers is None else plans[:keepers]
        self.journal_path = workdir / "house.journal"
        self.broker: BrokerHandle | None = None
        self._acl, self._passwords, self._bind = acl_file, password_file, bind_client_ids
        self._urls = dict(urls or {})  # user -> URL with credentials (secure mode)
        self.keepers: dict[str, Child] = {}
        self.house: Child | None = None
        self.house_lives: list[Child] = []
        self._house_starts = 0
        # The watcher believes only the house, as the keepers do (they are given its key with --house-key).
        self.watcher = Watcher(house=HouseFeed(HouseTrust(pinned=house_key_file(workdir)[1])))
        self._watch_bus: Bus | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.faults: list[str] = []  # every fault injected, in order ("keeper SIGKILL", ...)

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def __aenter__(self) -> Cluster:
        write_keyring(self.workdir, list(self.funded()))  # every funded id's key, before any process starts
        self.broker = await start_broker(prefer=self.prefer, acl_file=self._acl, password_file=self._passwords,
                                         bind_client_ids=self._bind)
        if self._urls:
            host_port = self.broker.url.removeprefix("mqtt://")
            self._urls = {u: url.replace("HOSTPORT", host_port) for u, url in self._urls.items()}
        await self.watch()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop_processes)
        await self.unwatch()
        if self.broker is not None:
            self.broker.close()

    def url(self, user: str = "house") -> str:
        assert self.broker is not None
        return self._urls.get(user, self.broker.url)

    async def watch(self) -> None:
        """Subscribe the watcher to everything (in secure mode as the user ``watcher``, a reader of everything:
        with client ids bound to users, connecting as the house would knock the house off)."""
        user = "watcher" if "watcher" in self._urls else "house"
        bus = connect(self.url(user), f"chaos-watch-{uuid.uuid4().hex[:8]}")
        await bus.__aenter__()
        for pattern in (topics.ALL,) if self.watch_actions else HOUSE_TOPICS:
            await bus.subscribe(pattern)
        self._watch_bus = bus
        self._watch_task = asyncio.create_task(self._watch(bus), name="chaos-watcher")

    async def _watch(self, bus: Bus) -> None:
        async for env in bus.messages():
            self.watcher.feed(env.topic, env.payload, time.time())

    async def unwatch(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        if self._watch_bus is not None:
            with contextlib.suppress(Exception):
                await self._watch_bus.__aexit__(None, None, None)
            self._watch_bus = None

    def stop_processes(self) -> None:
        for child in [*self.house_lives, *self.keepers.values()]:
            child.stop()

    # -- processes -----------------------------------------------------------------------------------------
    def _cli(self, level: str = "info") -> list[str]:
        return [sys.executable, "-m", "auction.cli", "--log-level", level, "--log-format", "json"]

    def _env(self, user: str) -> dict[str, str]:
        return {**os.environ, BROKER_ENV: self.url(user), "PYTHONUNBUFFERED": "1"}

    def keeper_argv(self, plan: KeeperPlan, *, strategy: str | None = None) -> list[str]:
        market = [] if self.oracle_keepers else ["--scenario", str(self.scenario_path)]
        return [*self._cli(), "keeper", "--strategy", strategy or plan.strategy, "--id", plan.keeper_id,
                "--capital", repr(plan.capital), "--config", json.dumps(plan.config), "--latency",
                repr(plan.latency_s), "--gas-policy", plan.gas_policy, "--speed", repr(self.speed), *market,
                "--key", str(self.key_file(plan.keeper_id)), "--house-key", house_key_file(self.workdir)[1]]

    def key_file(self, keeper: str) -> Path:
        return self.workdir / "keys" / f"{keeper}.key"

    def key(self, keeper: str) -> KeyPair:
        """The key of a funded id (the keyring the house is given binds it), made on first use."""
        return load_or_create(self.key_file(keeper))

    def start_keeper(self, plan: KeeperPlan, *, strategy: str | None = None) -> Child:
        """Start (or restart, same id and key file) one keeper process."""
        child = self.keepers.get(plan.keeper_id)
        if child is None:
            child = Child(plan.keeper_id, self.keeper_argv(plan, strategy=strategy), self._env(plan.keeper_id),
                          self.workdir / "logs" / f"{plan.keeper_id}.log")
            self.keepers[plan.keeper_id] = child
        return child.start()

    def start_keepers(self) -> None:
        for plan in self.plans:
            self.start_keeper(plan)

    def house_argv(self, *, resume: bool) -> list[str]:
        argv = [*self._cli(self.house_log_level), "house", "--speed", repr(self.speed), "--journal",
                str(self.journal_path), "--out", str(self.workdir / "out"), "--key",
                str(house_key_file(self.workdir)[0])]
        if self.rate_limit is not None:
            argv += ["--rate-limit", repr(self.rate_limit)]
        if resume:
            return argv  # everything else comes from the journal's header
        argv += ["--scenario", str(self.scenario_path), "--design", self.design, "--wait-keepers",
                 str(len(self.plans)), "--wait-timeout", "60"]
        if self.open_funding is not None:
            argv += ["--open-funding", repr(self.open_funding)]
        for keeper, usd in self.funded().items():
            argv += ["--fund", f"{keeper}={usd!r}"]
        return [*argv, "--keyring", str(self.workdir / "keyring")]

    def funded(self) -> dict[str, float]:
        """Keeper id -> USD the house funds: the population and the extra ``funds``."""
        return {**{p.keeper_id: p.capital for p in self.plans}, **self.funds}

    def start_house(self, *, resume: bool = False) -> Child:
        """Start the house; ``resume``: again on its journal, as after a crash."""
        self._house_starts += 1
        n = self._house_starts  # each start its own log, even for a life the caller drops from house_lives
        child = Child(f"house-{n}", self.house_argv(resume=resume), self._env("house"),
                      self.workdir / "logs" / f"house-{n}.log").start()
        self.house, self.house_lives = child, [*self.house_lives, child]
        return child

    # -- waiting ---------------------------------------------------------------------------------------------
    async def until(self, predicate: Callable[[], bool], timeout: float, what: str, *, step: float = 0.01) -> None:
        """Poll ``predicate`` until true; FaultError naming ``what`` (and the logs) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise FaultError(f"timed out after {timeout:g} s waiting for {what}\n{self.tails()}")
            if self.house is not None and self.house.proc is not None and self.house.proc.poll() not in (None, 0) \
                    and self.house.proc.returncode != -signal.SIGKILL:
                raise FaultError(f"the house exited with {self.house.proc.returncode} while waiting for {what}\n"
                                 f"{self.tails()}")
            await asyncio.sleep(step)

    async def house_done(self, timeout: float = 90.0) -> int:
        """Wait for the current house process to exit; its exit code."""
        assert self.house is not None
        code = await asyncio.to_thread(self.house.wait, timeout)
        if code is None:
            raise FaultError(f"the house did not finish within {timeout:g} s\n{self.tails()}")
        await asyncio.sleep(0.3)  # the last results reach the watcher
        return code

    def scenario_time(self) -> float:
        """Scenario seconds of the latest block the watcher saw (0 before the first)."""
        return self.watcher.blocks[-1][1].ts_ms / 1000 if self.watcher.blocks else 0.0

    def started(self) -> bool:
        """The house's clock runs: a block arrived."""
        return bool(self.watcher.blocks)

    def tails(self) -> str:
        children = [*self.house_lives, *self.keepers.values()]
        return "\n".join(f"--- {c.name} ({c.log_path.name}):\n{c.tail()}" for c in children)

    def fault(self, what: str) -> None:
        self.faults.append(what)
        log.info("fault injected", fault=what)


__all__ = ["CHAOS_SCENARIO", "SPEED", "Audit", "Child", "Cluster", "FaultError", "Replay", "Watcher", "action_pairs",
           "audit", "conserved", "log_events", "log_time", "lost", "replay_journal"]
