"""``liqnet network``: a broker, the auction house and one OS process per keeper, watched live.

What it starts, in order: a broker on a free port unless ``--broker`` is given (``broker.server``: Mosquitto
when installed, else the embedded amqtt; it says which), one ``liqnet keeper`` process per population member,
then one ``liqnet house`` process that holds its clock until every keeper has registered (at most
``WAIT_KEEPERS_S``) and then never waits on a keeper again. It shows the live view until the house finishes,
and the house writes the report (``liqnet.compare/1`` JSON with ``"mode": "network"``, Markdown, HTML).
Every process it started is stopped at the end, and on Ctrl-C: SIGTERM, then SIGKILL after ``STOP_GRACE_S``.

Population: the scenario's ``[[keepers]]`` (the simulator's ids and capital, so a network run compares with
``liqnet compare``); ``--keepers N`` takes N members from it in order, repeating it if N is larger;
``--keeper SPEC`` (repeatable) runs exactly those strategies with the default capital. The house funds each
keeper id with its member's capital (``liqnet house --fund``).

``--secure``: Mosquitto with a password per process (house, monitor, each keeper id as its user name), the
ACL of ``broker/mosquitto/acl.template`` (a keeper can publish only under ``liq/v1/keepers/<its id>/``) and
client ids bound to user names (nobody can take over another's session). Credentials reach the children in
the ``LIQNET_BROKER`` environment variable, never on a command line.

Keys: it makes every keeper's Ed25519 key itself (``keys/<id>.key`` in the run's directory) and the house's
(``keys/house.key``, whose public key every keeper pins with ``--house-key``), and gives the house the
keyring, so each keeper's capital is bound to its key (``auction.net.funding``). Every child is started
tied to this process (``broker.child_process.popen_tied``): if ``liqnet network`` dies, even by SIGKILL, the
kernel stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import structlog
from rich.console import Console
from rich.live import Live
from rich.table import Table

from auction.errors import ConfigError
from auction.net.house_feed import HouseFeed
from auction.net.runspec import DEFAULT_SPEED
from auction.net.view import Monitor, lag_text, plain_line, render
from broker import topics
from broker.child_process import log_tail, popen_tied
from broker.house_signing import HouseTrust
from broker.transport import connect

if TYPE_CHECKING:
    from auction.scenario.tables import Scenario

log = structlog.get_logger()

STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
WAIT_KEEPERS_S = 60.0  # the house starts its clock once every keeper registered, or after this long
REFRESH_S = 0.25  # live view refresh
PLAIN_EVERY_S = 2.0  # one plain line this often when stdout is not a terminal
BROKER_ENV = "LIQNET_BROKER"


@dataclass(frozen=True, slots=True)
class KeeperPlan:
    keeper_id: str
    strategy: str
    capital: float
    latency_s: float
    gas_policy: str
    config: dict[str, Any]


@dataclass(slots=True)
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)
    reported: bool = False  # its early exit was told to the user

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        return log_tail(self.log_path)


def population(scenario: Scenario, keepers: int | None, specs: Sequence[str]) -> list[KeeperPlan]:
    """The keepers to start, with the simulator's ids."""
    from auction.scenario.population import Member, keeper_ids, members

    if keepers is not None and specs:
        raise ConfigError("give either --keepers N or --keeper SPEC, not both")
    if specs:
        chosen = [Member(strategy=s) for s in specs]
    else:
        base = members(scenario.keepers)
        n = len(base) if keepers is None else keepers
        if n < 1:
            raise ConfigError(f"--keepers must be >= 1, got {n}")
        chosen = [base[i % len(base)] for i in range(n)]
    ids = keeper_ids(chosen)
    return [KeeperPlan(k, mb.strategy, mb.capital, mb.latency_s, mb.gas_policy, dict(mb.config or {}))
            for k, mb in zip(ids, chosen, strict=True)]


def check_strategies(plans: Sequence[KeeperPlan]) -> None:
    """Load every strategy once here, so a bad spec is one line before any process starts."""
    from keepers.loader import load_strategy

    for spec, config in {(p.strategy, json.dumps(p.config, sort_keys=True)) for p in plans}:
        load_strategy(spec, json.loads(config))


def network_command(
    scenario: str,
    *,
    design: str | None = None,
    keepers: int | None = None,
    keeper_specs: Sequence[str] = (),
    broker: str | None = None,
    speed: float = DEFAULT_SPEED,
    out: str = "out",
    json_path: str | None = None,
    secure: bool = False,
    seed: int | None = None,
    accounts: int | None = None,
    log_level: str = "warning",
    live: bool | None = None,
    console: Console | None = None,
) -> int:
    """Run a whole network to the end of the scenario; the house's exit code (0: report written)."""
    from auction import designs as registry
    from auction.compare.files import safe_name
    from auction.designs import get as design_named
    from auction.scenario.load import load_scenario, with_overrides
    from keepers.loader import check_keepers

    if not speed > 0:
        raise ConfigError(f"--speed must be positive, got {speed}")
    if secure and broker is not None:
        raise ConfigError("--secure starts its own Mosquitto with credentials; leave out --broker")
    if design is not None:
        design_named(design)
    loaded = load_scenario(scenario)
    design = registry.check_book(design or registry.names(loaded.book)[0], loaded.book, loaded.name).name
    if accounts is not None:
        loaded = with_overrides(loaded, {"accounts.n": accounts})
    check_keepers(loaded)
    plans = population(loaded, keepers, keeper_specs)
    check_strategies(plans)
    run_seed = loaded.seed_base if seed is None else seed
    scenario_arg = str(Path(scenario).resolve()) if Path(scenario).is_file() else scenario
    workdir = Path(out) / f"{safe_name(loaded.name)}.network"
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "logs").mkdir(parents=True)
    console = console or Console(width=None if sys.stdout.isatty() else 200)  # a pipe gets whole lines
    net = Network(loaded, scenario_arg, design, run_seed, accounts, plans, speed, out, json_path, workdir, log_level,
                  console, secure=secure, live=console.is_terminal if live is None else live)
    return asyncio.run(net.run(broker))


class Network:
    """The processes of one run and the view over them."""

    def __init__(self, scenario: Scenario, scenario_arg: str, design: str, seed: int, accounts: int | None,
                 plans: list[KeeperPlan], speed: float, out: str, json_path: str | None, workdir: Path,
                 log_level: str, console: Console, *, secure: bool, live: bool) -> None:
        self.scenario, self.scenario_arg, self.design, self.seed = scenario, scenario_arg, design, seed
        self.accounts, self.plans, self.speed = accounts, plans, speed
        self.out, self.json_path, self.workdir, self.log_level = out, json_path, workdir, log_level
        self.console, self.secure, self.live = console, secure, live
        self.children: list[Child] = []
        self.broker_handle: Any = None
        self.urls: dict[str, str] = {}
        self._given = ""
        # The view believes only the house, as its keepers do (they are given its key with --house-key).
        self.monitor = Monitor(market=self._market(),
                               house=HouseFeed(HouseTrust(pinned=house_key_file(self.workdir)[1])))

    async def run(self, broker: str | None) -> int:
        try:
            await self._broker(broker)
            write_keyring(self.workdir, [p.keeper_id for p in self.plans])  # the keys exist before any keeper
            for plan in self.plans:
                self.children.append(self._spawn(plan.keeper_id, self._keeper_argv(plan), self._url(plan.keeper_id)))
            house = self._spawn("house", self._house_argv(), self._url("house"))
            self.children.append(house)
            self.console.print(f"started {len(self.plans)} keeper processes and the house "
                               f"(logs in {self.workdir / 'logs'})", highlight=False)
            code = await self._watch(self._url("monitor"), house)
            self.console.print(f"house clock at {self.speed:g}x: {lag_text(self.monitor)}", highlight=False)
            if code == 0:
                self._summary()
            else:
                self.console.print(f"liqnet: house exited with code {code}: {house.tail()}", highlight=False)
            return code
        except asyncio.CancelledError:
            self.console.print("liqnet: interrupted; stopping every process", highlight=False)
            return 130
        finally:
            await asyncio.to_thread(self._stop_all)
            if self.broker_handle is not None:
                self.broker_handle.close()

    # -- broker ------------------------------------------------------------------------------------------
    async def _broker(self, given: str | None) -> str:
        from broker.server import start_broker, write_secure_files

        if given is not None:
            self._given = given
            self.console.print(f"broker: using {_safe(given)}", highlight=False)
            return given
        if self.secure:
            names = ("house", "monitor", *[p.keeper_id for p in self.plans])
            users = {name: secrets.token_urlsafe(18) for name in names}
            pw_file, acl_file = write_secure_files(self.workdir / "secure", users, house="house")
            handle = await start_broker(prefer="mosquitto", acl_file=acl_file, password_file=pw_file,
                                        bind_client_ids=True)
            host = urlsplit(handle.url)
            self.urls = {u: f"mqtt://{quote(u, safe='')}:{quote(p, safe='')}@{host.hostname}:{host.port}"
                         for u, p in users.items()}
        else:
            handle = await start_broker()
        self.broker_handle = handle
        self._given = handle.url
        mode = " with passwords and the keeper ACL" if self.secure else ""
        self.console.print(f"broker: {handle.version} ({handle.kind}) on {handle.url}{mode}", highlight=False)
        return str(handle.url)

    def _url(self, user: str) -> str:
        return self.urls.get(user, self._given)

    # -- processes ---------------------------------------------------------------------------------------
    def _cli(self) -> list[str]:
        return [sys.executable, "-m", "auction.cli", "--log-level", self.log_level, "--log-format", "json"]

    def _keeper_argv(self, plan: KeeperPlan) -> list[str]:
        return [*self._cli(), "keeper", "--strategy", plan.strategy, "--id", plan.keeper_id,
                "--capital", repr(plan.capital), "--config", json.dumps(plan.config), "--latency", repr(plan.latency_s),
                "--gas-policy", plan.gas_policy, "--speed", repr(self.speed), "--scenario", self.scenario_arg,
                "--seed", str(self.seed), "--key", str(self.workdir / "keys" / f"{plan.keeper_id}.key"),
                "--house-key", house_key_file(self.workdir)[1]]

    def _house_argv(self) -> list[str]:
        argv = [*self._cli(), "house", "--scenario", self.scenario_arg, "--design", self.design, "--seed",
                str(self.seed), "--speed", repr(self.speed), "--journal", str(self.workdir / "house.journal"),
                "--wait-keepers", str(len(self.plans)), "--wait-timeout", repr(WAIT_KEEPERS_S), "--out", self.out,
                "--keyring", str(self.workdir / "keyring"), "--key", str(house_key_file(self.workdir)[0])]
        if self.accounts is not None:
            argv += ["--accounts", str(self.accounts)]
        for plan in self.plans:
            argv += ["--fund", f"{plan.keeper_id}={plan.capital!r}"]
        if self.json_path:
            argv += ["--json", self.json_path]
        return argv

    def _spawn(self, name: str, argv: list[str], url: str) -> Child:
        path = self.workdir / "logs" / f"{name}.log"
        out = path.open("ab")
        env = {**os.environ, BROKER_ENV: url, "PYTHONUNBUFFERED": "1"}
        proc = popen_tied(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        return Child(name, proc, path, out)

    def _stop_all(self) -> None:
        """SIGTERM every live child (the house first), then SIGKILL what is left after the grace period."""
        live = [c for c in sorted(self.children, key=lambda c: c.name != "house") if c.alive()]
        for child in live:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in live:
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("process did not stop; killing it", name=child.name, pid=child.proc.pid)
                child.proc.kill()
                child.proc.wait()
        for child in self.children:
            if child._log is not None:
                child._log.close()
                child._log = None

    # -- watching ----------------------------------------------------------------------------------------
    async def _watch(self, url: str, house: Child) -> int:
        bus = connect(url, f"monitor-{uuid.uuid4().hex[:8]}")
        async with bus:
            await bus.subscribe(topics.ALL)
            reader = asyncio.create_task(self._read(bus))
            try:
                with self._display() as refresh:
                    while house.alive():
                        await asyncio.sleep(REFRESH_S)
                        refresh()
                        self._check_keepers()
                    refresh()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        return int(house.proc.returncode)

    async def _read(self, bus: Any) -> None:
        async for env in bus.messages():
            self.monitor.feed(env.topic, env.payload)

    @contextlib.contextmanager
    def _display(self) -> Any:
        title = f"liqnet network: {self.scenario.name} / {self.design} at {self.speed:g}x"
        if self.live:
            with Live(render(self.monitor, title), console=self.console, refresh_per_second=4) as view:
                yield lambda: view.update(render(self.monitor, title))
            return
        last = [0.0]

        def plain() -> None:
            if time.monotonic() - last[0] >= PLAIN_EVERY_S:
                last[0] = time.monotonic()
                print(plain_line(self.monitor), flush=True)

        yield plain

    def _check_keepers(self) -> None:
        for child in self.children:
            if child.name != "house" and not child.alive() and not child.reported:
                child.reported = True
                self.console.print(f"liqnet: keeper {child.name} exited with code {child.proc.returncode}: "
                                   f"{child.tail()}", highlight=False)

    def _market(self) -> Any:
        try:
            from auction.scenario.build import build_world

            world = build_world(self.scenario, self.design, self.seed, accounts=1)
        except Exception:  # the view works without the market column
            return None
        return world.market_price

    # -- report ------------------------------------------------------------------------------------------
    def _summary(self) -> None:
        from auction.compare.files import safe_name
        from auction.compare.summary import HEADLINE, fmt

        path = Path(self.json_path) if self.json_path else Path(self.out) / f"{safe_name(self.scenario.name)}.json"
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            self.console.print(f"liqnet: no report at {path}: {exc}", highlight=False)
            return
        metrics = report["runs"][0]["metrics"]
        table = Table(title=f"{self.scenario.name} / {self.design}: network run ({report.get('mode')})")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        for name in [*(h for h in HEADLINE if h in metrics), *(k for k in metrics if k not in HEADLINE)]:
            table.add_row(name, fmt(metrics[name]))
        self.console.print(table)
        stem = safe_name(self.scenario.name)
        for suffix in ("json", "md", "html"):
            self.console.print(f"wrote {Path(self.out) / f'{stem}.{suffix}'}", highlight=False)
        if self.json_path:
            self.console.print(f"wrote {self.json_path}", highlight=False)


def write_keyring(workdir: Path, keepers: Sequence[str]) -> Path:
    """Make (or load) each keeper's key file under ``workdir/keys`` and write the house's keyring beside them."""
    from broker.signing import load_or_create

    keys = workdir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    path = workdir / "keyring"
    path.write_text("".join(f"{k} {load_or_create(keys / f'{k}.key').pubkey}\n" for k in keepers))
    return path


def house_key_file(workdir: Path) -> tuple[Path, str]:
    """The house's key file under ``workdir/keys`` (made on first use) and its public key, which every keeper
    is given with ``--house-key``: they believe nothing the house did not sign."""
    from broker.signing import load_or_create

    path = workdir / "keys" / "house.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, load_or_create(path).pubkey


def _safe(url: str) -> str:
    head, sep, tail = url.partition("@")
    return f"{head.partition('://')[0]}://***@{tail}" if sep else url
