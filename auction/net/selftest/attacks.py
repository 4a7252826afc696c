"""Named attacks, end to end: an attacker on the real broker against a real house process (and its keepers).

``named_attacks`` runs a sealed-bid (first-price) network and, from this process, an attacker holding two
funded identities (``mallory``, ``pauper``: too poor for a deposit) and one never registered (``eve``):
forged signature, replayed nonce (and an exact copy of an accepted action), unknown key, bid as another
keeper, bid over escrow, bid after its deadline, reveal that does not match its commit, commit without
reveal, oversized payload and a flood from one keeper. Each must come back to the sender's rejection topic
with the expected reason code, appear in the house's log, and change the ledger by nothing but the gas the
attacker paid for a refused transaction (a commit without reveal: that gas and its deposit, to the protocol).
Ledger effects are measured against a counterfactual: the same journal replayed without the attack.

``forbidden_publishes`` runs the secure configuration of ``liqnet network --secure`` (Mosquitto, a password
per process, ``broker/mosquitto/acl.template``): a keeper's forged oracle price, block, auction state,
result, house status and action on another keeper's topic never reach the house (nor anyone else).
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auction.designs.sealed import SealedTerms
from auction.net.house_core import ledger_snapshot
from auction.net.journal import Entry
from auction.net.selftest.harness import Cluster, FaultError, action_pairs, replay_journal
from auction.sealed import commitment
from broker import messages as m
from broker import topics
from broker.bus import Bus
from broker.server import Prefer
from broker.signing import KeyPair
from broker.transport import connect

ATTACK_SPEED = 600.0  # sealed phases of 300 s last half a wall second: time to commit, then to reveal
FLOOD = 1500  # messages in the flood: more than any bucket holds (1000 at the default 500/s, 40 below)
RATE_LIMIT = 20.0  # actions per second per keeper for the attack run (the keepers send a few)
OVERSIZED = 20 * 1024  # bytes: over the 16 KiB message limit, under the broker's 256 KiB packet cap
CAPITAL = {"mallory": 5_000.0, "pauper": 50.0}  # USD the house funds them with; pauper < one deposit


@dataclass(slots=True)
class Attack:
    """One named attack: what was sent, the refusal expected, and what came back."""

    name: str
    expect: str  # reason code
    keeper: str  # whose rejection topic the refusal goes to (the sender's)
    nonce: int  # the refused action's nonce (0 for what cannot be decoded)
    payload: bytes = b""  # what was sent (to find it in the journal if it got there)
    got: list[str] = field(default_factory=list)  # codes received on that topic for that nonce
    logged: bool = False
    ledger: str = "unchanged"  # "unchanged", "gas only", "gas + deposit", or what differed
    ledger_ok: bool = True

    @property
    def refused(self) -> bool:
        return self.expect in self.got

    @property
    def ok(self) -> bool:
        return self.refused and self.logged and self.ledger_ok


@dataclass(slots=True)
class AttackReport:
    attacks: list[Attack]
    crashes: list[str]  # processes that died on their own
    checks: dict[str, bool]
    figures: dict[str, Any]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.crashes and all(a.ok for a in self.attacks) and all(self.checks.values())

    def describe(self) -> str:
        rows = "\n".join(f"  {'OK ' if a.ok else 'BAD'} {a.name}: expect {a.expect}, got {sorted(set(a.got))}, "
                         f"logged={a.logged}, ledger {a.ledger}" for a in self.attacks)
        bad = [k for k, v in self.checks.items() if not v]
        return f"attacks: crashes={self.crashes} failed_checks={bad} figures={self.figures}\n{rows}"


class Attacker:
    """Identities with keys and nonces, publishing on the topics of its choice."""

    def __init__(self, bus: Bus, funded: dict[str, KeyPair]) -> None:
        """``funded``: the keys of the funded identities (the house's keyring binds them)."""
        self.bus = bus
        self.keys = {**{k: KeyPair.from_seed(secrets.token_bytes(32)) for k in ("eve", "forger")}, **funded}
        self.nonce: Counter[str] = Counter()

    def next(self, who: str) -> int:
        self.nonce[who] += 1
        return self.nonce[who]

    async def send(self, topic_keeper: str, action: m.Action, *, key: str | None = None) -> m.Action:
        signed = self.keys[key or action.keeper].sign(action)
        await self.bus.publish(topics.actions(topic_keeper), m.encode(signed))
        return signed

    async def raw(self, topic_keeper: str, payload: bytes) -> None:
        await self.bus.publish(topics.actions(topic_keeper), payload)


async def named_attacks(workdir: Path, *, prefer: Prefer = "auto") -> AttackReport:
    t0 = time.time()
    cluster = Cluster(workdir, design="sealed-first", speed=ATTACK_SPEED, house_log_level="debug", funds=CAPITAL,
                      rate_limit=RATE_LIMIT, prefer=prefer)
    attacks: list[Attack] = []
    copy_ignored = False
    async with cluster:
        w = cluster.watcher
        victim = cluster.plans[0].keeper_id
        cluster.start_keepers()
        cluster.start_house()
        await cluster.until(lambda: w.last_house_online() is True, 60, "the house to come online")
        async with connect(cluster.url(), f"attacker-{uuid.uuid4().hex[:8]}") as bus:
            atk = Attacker(bus, {who: cluster.key(who) for who in CAPITAL})
            for who in ("mallory", "pauper"):
                await atk.send(who, atk.keys[who].register(who, atk.next(who)))
            await cluster.until(lambda: _funded(cluster) >= {"mallory", "pauper"}, 60, "mallory and pauper funded")
            await cluster.until(lambda: len(_sealed_open(cluster)) >= 2, 60, "two sealed auctions in commit phase")
            a_msg, b_msg = _sealed_open(cluster)[:2]
            a, b = a_msg.auction, b_msg.auction
            price, qty, salt = 1_000_000, 1_000_000, secrets.token_bytes(16)  # 1 USD per token, 0.001 token
            digest = commitment(a, "mallory", price, qty, salt).hex()

            def commit(auction: int, who: str, nonce: int, dig: str = digest) -> m.Commit:
                return m.Commit(auction=auction, keeper=who, digest=dig, deposit=0, nonce=nonce)

            # Legitimate first: mallory commits in A (to reveal it wrongly later) and in B (never to reveal).
            good_a = await atk.send("mallory", commit(a, "mallory", atk.next("mallory")))
            b_digest = commitment(b, "mallory", price, qty, salt).hex()
            good_b = await atk.send("mallory", commit(b, "mallory", atk.next("mallory"), b_digest))
            n = atk.next("mallory")
            sent = await atk.send("mallory", commit(a, "mallory", n), key="forger")
            attacks.append(Attack("forged signature", "bad-signature", "mallory", n, m.encode(sent)))
            sent = await atk.send("mallory", commit(b, "mallory", good_b.nonce, "ab" * 32))  # new action, spent nonce
            attacks.append(Attack("replayed nonce", "replay", "mallory", good_b.nonce, m.encode(sent)))
            await atk.raw("mallory", m.encode(good_a))  # an exact copy: a redelivery, ignored
            n = atk.next("eve")
            sent = await atk.send("eve", commit(a, "eve", n))
            attacks.append(Attack("unknown key", "unknown-key", "eve", n, m.encode(sent)))
            n = atk.next("mallory")
            sent = await atk.send("mallory", commit(a, victim, n), key="mallory")  # victim's id, mallory's key+topic
            attacks.append(Attack("bid as another keeper", "wrong-keeper", "mallory", n, m.encode(sent)))
            n = atk.next("pauper")
            sent = await atk.send("pauper", commit(a, "pauper", n, commitment(a, "pauper", price, qty, salt).hex()))
            attacks.append(Attack("bid over escrow", "insufficient-escrow", "pauper", n, m.encode(sent)))
            n = atk.next("mallory")
            sent = await atk.send("mallory", m.Take(auction=a, keeper="mallory", amount=qty, max_price_q=price,
                                                    nonce=n, deadline_ms=1))
            attacks.append(Attack("bid after deadline", "late", "mallory", n, m.encode(sent)))
            big = b'{"type":"take","pad":"' + b"x" * OVERSIZED + b'"}'
            await atk.raw("mallory", big)
            attacks.append(Attack("oversized payload", "oversized", "mallory", 0, big))

            # A's reveal phase: reveal a bid that is not the one committed.
            commit_end = _terms(a_msg).commit_end_ms / 1000
            await cluster.until(lambda: cluster.scenario_time() >= commit_end + 12, 30, "auction A's reveal phase")
            n = atk.next("mallory")
            sent = await atk.send("mallory", m.Reveal(auction=a, keeper="mallory", price_q=price + 1, qty=qty,
                                                      salt=salt.hex(), nonce=n))
            attacks.append(Attack("reveal not matching its commit", "bad-reveal", "mallory", n, m.encode(sent)))
            attacks.append(Attack("commit without reveal", "forfeit", "mallory", good_b.nonce, m.encode(good_b)))

            # The flood: more than the bucket holds, as fast as the broker takes them, from one keeper. Each
            # payload differs: exact repeats on an event topic are dropped as QoS 1 redeliveries.
            flood_at = time.time()
            for start in range(0, FLOOD, 10):  # aiomqtt warns above 10 publishes in flight
                await asyncio.gather(*(atk.raw("mallory", b'{"flood": %d}' % i) for i in range(start, start + 10)))
            attacks.append(Attack("flood from one keeper", "rate-limited", "mallory", 0))
            await cluster.until(lambda: a in w.results and b in w.results, 60, "auctions A and B to settle")
            await cluster.until(lambda: any(at > flood_at + 0.5 for at, _ in w.blocks), 30,
                                "the house to go on after the flood")
            await asyncio.sleep(0.5)
            copy_ignored = not any(r.ref == good_a.nonce for _, r in w.rejections if r.keeper == "mallory")
        crashes = [c.name for c in [*cluster.house_lives, *cluster.keepers.values()] if not c.alive()]
        house = cluster.house
        assert house is not None
        house.signal(signal.SIGTERM)  # enough: the rest of the run holds no attack
        stopped = house.wait(10)
    report = AttackReport(attacks, crashes, {}, {})
    _judge(cluster, report, a, b, good_a, good_b, stopped)
    report.checks["an exact copy of an accepted action is ignored, not applied twice"] = copy_ignored
    report.seconds = time.time() - t0
    return report


def _judge(cluster: Cluster, report: AttackReport, a: int, b: int, good_a: m.Action, good_b: m.Action,
           stopped: int | None) -> None:
    """Codes received per (keeper, nonce), log lines, and ledger effects against counterfactual replays."""
    w = cluster.watcher
    received: dict[tuple[str, int], list[str]] = {}
    for _, r in w.rejections:
        received.setdefault((r.keeper, r.ref), []).append(r.code)
    logged: Counter[tuple[str, str]] = Counter()
    forfeits_logged: set[tuple[str, int]] = set()
    for house in cluster.house_lives:
        for ev in house.events():
            if ev.get("event") in ("action rejected", "rejected") and ev.get("keeper"):
                logged[(str(ev["keeper"]), str(ev.get("code")))] += 1
            elif ev.get("event") == "deposit forfeited":
                forfeits_logged.add((str(ev.get("keeper")), int(ev.get("auction", -1))))
    factual = replay_journal(cluster.journal_path)
    journaled = {e.payload: e for e, _ in action_pairs(factual.entries)}
    result_b = factual.core.results.get(b)
    for attack in report.attacks:
        if attack.expect == "forfeit":  # no refusal: the deposit goes at settlement
            attack.got = ["forfeit"] if result_b is not None and "mallory" in result_b.forfeited else []
            attack.logged = (attack.keeper, b) in forfeits_logged  # the house's "deposit forfeited" line
        else:
            attack.got = received.get((attack.keeper, attack.nonce), [])
            if attack.nonce == 0:  # undecodable: the refusal carries ref 0
                attack.got = [c for (k, ref), codes in received.items() if k == attack.keeper and ref == 0
                              for c in codes]
            attack.logged = logged[(attack.keeper, attack.expect)] > 0
        entry = journaled.get(attack.payload) if attack.payload else None
        if entry is None:  # never journaled: refused at admission, the ledger cannot have seen it
            attack.ledger = "unchanged (never journaled)"
            continue
        attack.ledger, attack.ledger_ok = _ledger_effect(cluster, factual.core, entry, attack)
    report.checks["no auction settled twice"] = all(len(p) == 1 for p in w.results.values())
    report.checks["the house stopped cleanly when asked (exit 130)"] = stopped == 130
    report.checks["ledger conserved"] = _check(factual.core)
    # Identical refusals (same ref 0, code, text and time) are one message to a QoS 1 deduplicating receiver:
    # count the flood's refusals in the house's log, where each is one line.
    report.figures = {"flood": FLOOD, "flood_rate_limited": logged[("mallory", "rate-limited")],
                      "flood_malformed": logged[("mallory", "malformed")], "auctions_attacked": [a, b],
                      "refusals_logged": sum(logged.values())}
    report.checks["the flood was refused: rate-limited or malformed, every message"] = (
        logged[("mallory", "rate-limited")] > 0
        and logged[("mallory", "rate-limited")] + logged[("mallory", "malformed")] >= FLOOD)


def _ledger_effect(cluster: Cluster, core: Any, entry: Entry, attack: Attack) -> tuple[str, bool]:
    """The final ledger with the attack against the same journal without it: only gas (and a deposit)."""
    without = replay_journal(cluster.journal_path, skip=lambda e: e.seq == entry.seq).core
    have, had = ledger_snapshot(core.ledger), ledger_snapshot(without.ledger)
    diff = {k: have["balances"].get(k, 0) - had["balances"].get(k, 0)
            for k in set(have["balances"]) | set(had["balances"])}
    diff = {k: v for k, v in diff.items() if v}
    me = f"keeper:{attack.keeper}|USD"
    gas = diff.pop("chain|USD", 0)
    deposit = diff.pop("protocol|USD", 0) if attack.expect == "forfeit" else 0
    paid = -diff.pop(me, 0)
    books_same = have["books"] == had["books"]
    ok = not diff and books_same and gas > 0 and paid == gas + deposit and (attack.expect != "forfeit" or deposit > 0)
    what = f"gas {gas / 1e6:.2f} USD" + (f" + deposit {deposit / 1e6:.2f} USD" if deposit else "")
    if not ok:
        what += f"; other changes {diff}; books {'same' if books_same else 'differ'}"
    return what, ok


def _check(core: Any) -> bool:
    try:
        core.ledger.check()
    except Exception:
        return False
    return True


def _funded(cluster: Cluster) -> set[str]:
    assert cluster.house is not None
    return {str(ev.get("keeper")) for ev in cluster.house.events() if ev.get("event") == "keeper funded"}


def _terms(msg: m.Announce) -> SealedTerms:
    assert isinstance(msg.terms, SealedTerms)
    return msg.terms


def _sealed_open(cluster: Cluster) -> list[m.Announce]:
    """Announced sealed auctions still in their commit phase for at least 150 scenario seconds."""
    now = cluster.scenario_time()
    out = []
    for auction in sorted(cluster.watcher.open_auctions()):
        msg = cluster.watcher.announces.get(auction)
        if msg is not None and isinstance(msg.terms, SealedTerms) and msg.terms.commit_end_ms / 1000 > now + 150:
            out.append(msg)
    return out


# --- broker access control ----------------------------------------------------------------------------------


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
    cluster = Cluster(workdir, acl_file=acl_file, password_file=pw_file, urls=urls, bind_client_ids=True)
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
            await asyncio.sleep(0.5)
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


__all__ = ["ATTACK_SPEED", "AccessReport", "Attack", "AttackReport", "FaultError", "forbidden_publishes",
           "named_attacks"]
