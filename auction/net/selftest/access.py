"""Broker access control, end to end: what the ACL of ``liqnet network --secure`` and of compose.yaml keeps away.

``forbidden_publishes`` runs the secure configuration of ``liqnet network --secure`` (Mosquitto, a password
per process, ``broker/mosquitto/acl.template``, client ids bound to user names): a keeper's forged oracle price,
block, auction state, result, house status and action on another keeper's topic never reach the house (nor
anyone else), and a keeper connecting with another keeper's client id knocks nobody off.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auction.net.selftest.harness import Cluster
from broker import messages as m
from broker import topics
from broker.signing import KeyPair
from broker.transport import connect


@dataclass(slots=True)
class AccessReport:
    forbidden: dict[str, bool]  # what mallory tried -> it reached the house (must be False for all)
    control: bool  # mallory's own-topic publish did reach the house (she was connected and heard)
    checks: dict[str, bool]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.control and not any(self.forbidden.values()) and all(self.checks.values())

    def describe(self) -> str:
        return f"access control: forbidden={self.forbidden} control={self.control} checks={self.checks}"


async def forbidden_publishes(workdir: Path) -> AccessReport:
    """``liqnet network --secure``'s broker: a keeper's forbidden publishes never reach the house."""
    from broker.server import write_secure_files

    t0 = time.time()
    probe = Cluster(workdir / "probe-scenario")  # only to learn the population's keeper ids
    users = {name: secrets.token_urlsafe(18) for name in ("house", "monitor", "watcher",
                                                          *[p.keeper_id for p in probe.plans], "mallory")}
    pw_file, acl_file = write_secure_files(workdir / "secure", users, house="house", readers=("watcher",))
    urls = {u: f"mqtt://{quote(u, safe='')}:{quote(p, safe='')}@HOSTPORT" for u, p in users.items()}
    # mallory is funded: the house listens only to ids it names, and mallory's own-topic action must reach it.
    cluster = Cluster(workdir, acl_file=acl_file, password_file=pw_file, urls=urls, bind_client_ids=True,
                      funds={"mallory": 100.0})
    forbidden: dict[str, bool] = {}
    async with cluster:
        w = cluster.watcher  # subscribed as "watcher", a reader of everything: it reads all the house reads
        victim = cluster.plans[0].keeper_id
        cluster.start_keepers()
        cluster.start_house()
        await cluster.until(cluster.started, 60, "the house's clock to start")
        await cluster.until(lambda: bool(w.oracle.get("ETH")), 30, "an oracle price")
        async with connect(cluster.url("mallory"), "mallory") as bus:
            key = KeyPair.from_seed(secrets.token_bytes(32))
            sent_at = time.time()
            forged_price = m.OraclePrice(asset="ETH", price_q=1, ts_ms=0)
            tries: dict[str, tuple[str, bytes]] = {
                "oracle price": (topics.oracle("ETH"), m.encode(forged_price)),
                "block": (topics.clock(), m.encode(m.Block(height=10**9, ts_ms=0, gas_gwei_milli=0))),
                "result": (topics.result(1), m.encode(m.Result(auction=1, design="dutch", fills=[], returned=0,
                                                                 bad_debt=0, revenue=0, ts_ms=0))),
                "auction state": (topics.state(1), b'{"type": "state"}'),
                "house status": (topics.house_status(), m.encode(m.HouseStatus(online=False, ts_ms=0))),
                "another keeper's actions": (topics.actions(victim), m.encode(key.sign(m.Redo(
                    auction=1, keeper=victim, nonce=10**15, deadline_ms=10**12)))),
                "another keeper's status": (topics.keeper_status(victim), m.encode(m.KeeperStatus(
                    keeper=victim, online=False, ts_ms=0))),
            }
            for topic, payload in tries.values():
                await bus.publish(topic, payload)
            control = m.encode(key.sign(m.Redo(auction=1, keeper="mallory", nonce=1, deadline_ms=10**12)))
            await bus.publish(topics.actions("mallory"), control)  # allowed: must reach the house, refused there
            await cluster.until(lambda: any(r.keeper == "mallory" for _, r in w.rejections), 30,
                                "the house's answer to mallory's own-topic action")
            takeover_at = time.time()
            async with connect(cluster.url("mallory"), victim) as impostor:  # the victim's client id
                await impostor.publish(topics.actions("mallory"), control)  # a round trip: surely connected
            await asyncio.sleep(0.5)
        victim_dropped = any(not online for at, online in w.keeper_status.get(victim, []) if at >= takeover_at)
        victim_lost = sum(1 for ev in cluster.keepers[victim].events() if ev.get("event") ==
                          "mqtt connection lost; reconnecting")
        payloads = {(topic, payload) for topic, payload in tries.values()}
        heard = {(t, p) for t, p in _heard_since(w, sent_at)}
        for name, pair in tries.items():
            forbidden[name] = pair in heard
        house_log = [ev for h in cluster.house_lives for ev in h.events()]
        victim_refusals = [ev for ev in house_log if ev.get("event") == "action rejected" and ev.get("keeper") == victim
                           and ev.get("code") == "bad-signature"]
        oracle_after = [msg.price_q for at, msg in w.oracle.get("ETH", []) if at >= sent_at]
        alive = all(c.alive() for c in [*cluster.house_lives, *cluster.keepers.values()])
        house = cluster.house
        assert house is not None
        house.signal(signal.SIGTERM)
        code = house.wait(10)
    checks = {
        "nothing forged was heard by any subscriber": not (payloads & heard),
        "the house never refused (so never received) the action on the other keeper's topic": not victim_refusals,
        "the oracle price stayed the house's": bool(oracle_after) and all(q > 1 for q in oracle_after),
        "every process alive, the house stopped cleanly when asked": alive and code == 130,
        "a keeper connecting with another's client id took nothing over (ids bound to users)": not victim_dropped
        and victim_lost == 0,
    }
    control_heard = any(r.keeper == "mallory" for _, r in w.rejections)
    compose = await compose_acl(workdir / "compose")
    checks.update(compose)
    report = AccessReport(forbidden, control_heard, checks)
    report.seconds = time.time() - t0
    return report


async def compose_acl(workdir: Path) -> dict[str, bool]:
    """compose.yaml's broker ACL (``broker/mosquitto/compose/acl``: keepers share one user, confined by client
    id): a keeper connected as ``mallory`` cannot publish for another keeper id or as the house."""
    from importlib import resources

    from broker.server import start_broker, write_secure_files

    source = resources.files("broker") / "mosquitto" / "compose" / "acl"
    if not source.is_file():  # a wheel install carries broker/mosquitto/* but not the compose directory
        return {}
    users = {"house": "h-pw", "keeper": "k-pw", "monitor": "m-pw"}
    pw_file, _ = write_secure_files(workdir, users, house="house")
    acl = workdir / "compose.acl"
    acl.write_text(source.read_text())
    broker = await start_broker(acl_file=acl, password_file=pw_file)
    host_port = broker.url.removeprefix("mqtt://")
    try:
        async with connect(f"mqtt://house:h-pw@{host_port}", "house-observer") as house, \
                connect(f"mqtt://keeper:k-pw@{host_port}", "mallory") as mallory:
            await house.subscribe(topics.ALL)
            forged = [(topics.actions("k00-universal"), b"as k00"), (topics.oracle("ETH"), b"price"),
                      (topics.result(1), b"result"), (topics.clock(), b"block"), (topics.house_status(), b"down")]
            for topic, payload in forged:
                await mallory.publish(topic, payload)
            await mallory.publish(topics.actions("mallory"), b"own")
            got: list[tuple[str, bytes]] = []

            async def drain() -> None:
                async for env in house.messages():
                    got.append((env.topic, env.payload))

            reader = asyncio.create_task(drain())
            await asyncio.sleep(0.5)
            reader.cancel()
    finally:
        broker.close()
    return {"compose ACL: a keeper's own-topic publish arrives": (topics.actions("mallory"), b"own") in got,
            "compose ACL: none of its forbidden publishes arrive": not any(f in got for f in forged)}


def _heard_since(w: Any, since: float) -> list[tuple[str, bytes]]:
    return [(topic, payload) for at, topic, payload in w.raw if at >= since]


