"""Named attacks, end to end: an attacker on the real broker against a real house process (and its keepers).

``named_attacks`` runs a sealed-bid (first-price) network and, from this process, an attacker holding two
funded identities (``mallory``, ``pauper``: too poor for a deposit) and one never registered (``eve``):
forged signature, replayed nonce (and an exact copy of an accepted action), unknown key, bid as another
keeper, bid over escrow, bid after its deadline, reveal that does not match its commit, commit without
reveal, oversized payload, a flood from one keeper, and the identity attacks: registering a reserved id
(``kicker``, where the house books its incentives), a farm of fresh ids asking for capital, a squatter
registering a funded id (``late``) before its owner, an action carrying a key twice, and an old accepted action
of a keeper replayed much later. Each must come back to the sender's rejection topic with the expected reason
code (the old action: no answer at all, it is a redelivery; an id the house's configuration does not name, eve,
kicker and the farm: no answer and no line in the house's log, since the house does not even listen to such
ids), appear in the house's log, and change the ledger
by nothing but the gas the attacker paid for a refused transaction (a commit without reveal: that gas and its
deposit, to the protocol). Ledger effects are measured against a counterfactual: the same journal replayed
without the attack. The farm and the squatter mint nothing: counted on the replayed ledger.
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

from auction.designs.sealed import SealedTerms
from auction.net.flood_gate import ID_FLOOD
from auction.net.house_core import ledger_snapshot
from auction.net.journal import Entry
from auction.net.selftest.harness import Cluster, action_pairs, log_time, replay_journal
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
CAPITAL = {"mallory": 5_000.0, "pauper": 50.0, "late": 777.0}  # USD the house funds; pauper < one deposit
FARM = 200  # fresh ids registering in the farm attack


@dataclass(slots=True)
class Attack:
    """One named attack: what was sent, the refusal expected, and what came back."""

    name: str
    expect: str  # reason code; "forfeit": the deposit goes at settlement; "ignored": no refusal, no second effect;
    # "unheard": an id the house's configuration does not name: the house does not listen, nothing reaches it
    keeper: str  # whose rejection topic the refusal goes to (the sender's)
    nonce: int  # the refused action's nonce (0 for what cannot be decoded)
    payload: bytes = b""  # what was sent (to find it in the journal if it got there)
    got: list[str] = field(default_factory=list)  # codes received on that topic for that nonce
    logged: bool = False
    ledger: str = "unchanged"  # "unchanged", "gas only", "gas + deposit", or what differed
    ledger_ok: bool = True

    @property
    def refused(self) -> bool:
        """Refused with its code; an "ignored" redelivery: no refusal (at most its original receipt again)."""
        return not self.got if self.expect in ("ignored", "unheard") else self.expect in self.got

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
            attacks.append(Attack("unknown key", "unheard", "eve", n, m.encode(sent)))
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
            identity_at = time.time()
            attacks += await _identity_attacks(cluster, atk, victim)

            # The flood: more than the bucket holds, as fast as the broker takes them, from one keeper. Each
            # payload differs: exact repeats on an event topic are dropped as QoS 1 redeliveries.
            flood_at = time.time()
            for start in range(0, FLOOD, 10):  # aiomqtt warns above 10 publishes in flight
                await asyncio.gather(*(atk.raw("mallory", b'{"flood": %d}' % i) for i in range(start, start + 10)))
            flood_s = time.time() - flood_at
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
    report = AttackReport(attacks, crashes, {}, {"flood_seconds": round(flood_s, 2)})
    _judge(cluster, report, a, b, good_a, good_b, stopped)
    _judge_identities(cluster, report, identity_at)
    report.checks["an exact copy of an accepted action is ignored, not applied twice"] = copy_ignored
    report.seconds = time.time() - t0
    return report


async def _identity_attacks(cluster: Cluster, atk: Attacker, victim: str) -> list[Attack]:
    """Reserved id, a farm of fresh ids, a squatter on a funded id, a key twice, an old action replayed."""
    out: list[Attack] = []
    forger = atk.keys["forger"]
    sent = await atk.send("kicker", forger.register("kicker", 1), key="forger")
    out.append(Attack("register a reserved id (kicker)", "unheard", "kicker", 1, m.encode(sent)))
    for i in range(FARM):
        who = f"farm-{i:03d}"
        await atk.raw(who, m.encode(KeyPair.from_seed(secrets.token_bytes(32)).register(who, 1)))
    out.append(Attack(f"a farm of {FARM} fresh ids asking for capital", "unheard", "farm-000", 1))
    sent = await atk.send("late", forger.register("late", 1), key="forger")  # before the owner
    out.append(Attack("squat a funded id before its owner", "wrong-keeper", "late", 1, m.encode(sent)))
    await atk.send("late", atk.keys["late"].register("late", 2))  # the owner, with the key the house was given
    take = m.encode(atk.keys["pauper"].sign(m.Take(auction=1, keeper="pauper", amount=5, max_price_q=7,
                                                   nonce=atk.next("pauper"), deadline_ms=10**12)))
    twice = take.replace(b'"amount":5', b'"amount":500000000000,"amount":5')
    await atk.raw("pauper", twice)
    out.append(Attack("an action with a key twice", "malformed", "pauper", 0, twice))
    old = _oldest_accepted(cluster, victim)
    if old is not None:
        await atk.raw(victim, old.payload)
        out.append(Attack("an old accepted action replayed", "ignored", victim, old.nonce, old.payload))
    return out


@dataclass(slots=True)
class _Old:
    nonce: int
    payload: bytes


def _oldest_accepted(cluster: Cluster, keeper: str) -> _Old | None:
    """The keeper's first journaled action other than its Register (the live journal, read-only)."""
    from auction.net.journal import Journal

    with Journal(cluster.journal_path, access="read") as jr:
        for entry, action in action_pairs(list(jr.entries())):
            if action.keeper == keeper and not isinstance(action, m.Register):
                return _Old(action.nonce, entry.payload)
    return None


def _judge_identities(cluster: Cluster, report: AttackReport, since: float) -> None:
    """What the identity attacks got: refusals after they were sent, log lines, and what the ledger minted."""
    w = cluster.watcher
    debug = [ev for house in cluster.house_lives for ev in house.events()]
    factual = replay_journal(cluster.journal_path)
    funded = factual.core.funded
    configured = set(factual.core.spec.funds)
    for attack in report.attacks:
        if attack.expect == "ignored":
            attack.got = [r.code for at, r in w.rejections if at >= since and (r.keeper, r.ref) ==
                          (attack.keeper, attack.nonce)]
            # Dropped by the house's transport (an exact repeat of a recent message) or by its Verifier (any age).
            topic = topics.actions(attack.keeper)
            attack.logged = any((ev.get("event") == "duplicate action ignored" and ev.get("keeper") == attack.keeper
                                 and ev.get("nonce") == attack.nonce)
                                or (ev.get("event") == "duplicate message dropped" and ev.get("topic") == topic
                                    and log_time(ev) >= since) for ev in debug)
            applied = sum(1 for e in factual.entries if e.payload == attack.payload)
            attack.ledger, attack.ledger_ok = f"applied {applied} time(s)", applied == 1
    farm = {f"farm-{i:03d}" for i in range(FARM)}
    farm_refused = {r.keeper for _, r in w.rejections if r.keeper in farm}
    farm_heard = {str(ev.get("keeper")) for ev in debug if ev.get("keeper") in farm}
    minted = sum(amount for keeper, amount in funded.items() if keeper not in configured)
    report.figures.update({"farm": FARM, "farm_refused": len(farm_refused), "farm_heard": len(farm_heard),
                           "minted_for_strangers_usd": minted / 1e6,
                           "late_escrow_usd": factual.core.ledger.escrow("late") / 1e6})
    report.checks["nothing minted for an id the house does not fund"] = minted == 0 and not (farm & set(funded))
    report.checks["no id of the farm reached the house (it listens only to the ids it names)"] = (
        not farm_refused and not farm_heard)
    report.checks["the squatter took nothing; the owner got its capital"] = (
        funded.get("late") == round(CAPITAL["late"] * 1e6) and "kicker" not in funded)


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
        if attack.expect == "ignored":
            continue  # judged by _judge_identities
        if attack.expect == "forfeit":  # no refusal: the deposit goes at settlement
            attack.got = ["forfeit"] if result_b is not None and "mallory" in result_b.forfeited else []
            attack.logged = (attack.keeper, b) in forfeits_logged  # the house's "deposit forfeited" line
        else:
            attack.got = received.get((attack.keeper, attack.nonce), [])
            if attack.nonce == 0:  # undecodable: the refusal carries ref 0
                attack.got = [c for (k, ref), codes in received.items() if k == attack.keeper and ref == 0
                              for c in codes]
            attack.logged = logged[(attack.keeper, attack.expect)] > 0
            if attack.expect == "unheard":  # judged the other way round: the house never saw it, so no line
                attack.logged = not any(k in _ids_of(attack) for k, _ in logged)
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
    # Over its rate, a keeper is answered once a second (auction.net.flood_gate); the rest is dropped, counted in
    # the house's "actions dropped by flood control" lines (the last one holds the totals).
    dropped = [ev.get("by_reason", {}) for house in cluster.house_lives for ev in house.events()
               if ev.get("event") == "actions dropped by flood control"]
    flood_dropped = int(dropped[-1].get("over its rate, already answered", 0)) if dropped else 0
    limited, malformed = logged[("mallory", "rate-limited")], logged[("mallory", "malformed")]
    flood_s = float(report.figures.get("flood_seconds", 0.0))
    report.figures = {"flood": FLOOD, "flood_seconds": flood_s, "flood_rate_limited": limited,
                      "flood_malformed": malformed, "flood_dropped": flood_dropped, "auctions_attacked": [a, b],
                      "refusals_logged": sum(logged.values())}
    # Far over its rate a keeper is not listened to for a while (StrangerDoor.mute): the rest of its flood never
    # reaches the house, the broker drops it.
    muted = any(ev.get("event") == "a keeper floods far over its rate: not listening to it for a while"
                and ev.get("keeper") == "mallory" for house in cluster.house_lives for ev in house.events())
    report.figures["flood_muted"] = muted
    report.checks["the flood was refused (rate-limited or malformed) or dropped, every message heard"] = (
        limited > 0 and limited + malformed + flood_dropped >= (ID_FLOOD if muted else FLOOD))
    # Reading the flood may end a second after its sending did: one more window.
    report.checks["the flood was answered rate-limited at most once a second"] = limited <= 2 + int(flood_s)


def _ids_of(attack: Attack) -> set[str]:
    return {f"farm-{i:03d}" for i in range(FARM)} if attack.keeper.startswith("farm-") else {attack.keeper}


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
