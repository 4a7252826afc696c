"""The rules PROTOCOL.md states, checked on a recorded run (``WireKeeper.log``); each returns what it found wrong.

Written from the document, like the client: topic shapes and what each carries (section 3), QoS and retain
(sections 1 and 3), ``seq`` (section 6), the order at close and each design's transitions (section 7),
receipts, accounts and gas (section 6), registration (section 5) and the house's clock (section 6, Time).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tests.conformance.wire_keeper import Rec, WireKeeper

# Section 3: topic -> (kind, the types it carries, QoS, retained).
ID = r"[A-Za-z0-9_.-]{1,64}"
TOPICS: list[tuple[re.Pattern[str], str, tuple[str, ...], int, bool]] = [
    (re.compile(r"liq/v1/oracle/[A-Za-z0-9_.-]{1,32}"), "oracle", ("oracle",), 1, True),
    (re.compile(r"liq/v1/clock"), "clock", ("block",), 0, True),
    (re.compile(r"liq/v1/auctions/(0|[1-9][0-9]*)/announce"), "announce", ("announce",), 1, False),
    (re.compile(r"liq/v1/auctions/(0|[1-9][0-9]*)/state"), "state", ("state",), 1, True),
    (re.compile(r"liq/v1/auctions/(0|[1-9][0-9]*)/result"), "result", ("result",), 1, False),
    (re.compile(rf"liq/v1/keepers/({ID})/actions"), "actions",
     ("take", "redo", "english-bid", "commit", "reveal", "liquidate", "register"), 1, False),
    (re.compile(rf"liq/v1/keepers/({ID})/status"), "keeper-status", ("keeper-status",), 1, True),
    (re.compile(rf"liq/v1/keepers/({ID})/rejections"), "rejections", ("rejection",), 1, False),
    (re.compile(rf"liq/v1/keepers/({ID})/acks"), "acks", ("ack",), 1, False),
    (re.compile(rf"liq/v1/keepers/({ID})/account"), "account", ("account",), 1, True),
    (re.compile(r"liq/v1/house/status"), "house-status", ("house-status",), 1, True),
]
HOUSE_KINDS = {"oracle", "clock", "announce", "state", "result", "rejections", "acks", "account", "house-status"}
# Section 5, What the house checks 1-7: refused there, an action never reaches a block (and pays no gas).
ADMISSION = {"oversized", "wrong-version", "malformed", "wrong-keeper", "unknown-key", "bad-signature", "replay",
             "rate-limited"}


def kind_of(topic: str) -> tuple[str, str | None] | None:
    for pattern, kind, _, _, _ in TOPICS:
        found = pattern.fullmatch(topic)
        if found:
            return kind, (found.group(1) if found.groups() else None)
    return None


def policy(kind: str) -> tuple[tuple[str, ...], int, bool]:
    for _, k, types, qos, retained in TOPICS:
        if k == kind:
            return types, qos, retained
    raise KeyError(kind)


def live(log: Iterable[Rec]) -> list[Rec]:
    """Deliveries from established subscriptions (not the retained store), exact QoS 1 repeats dropped (section 6:
    an exact repeat is a duplicate; a state repeated is the same state)."""
    seen: set[tuple[str, bytes]] = set()
    out = []
    for rec in log:
        if rec.retain:
            continue
        key = (rec.topic, rec.payload)
        if rec.payload and key in seen:
            continue
        seen.add(key)
        out.append(rec)
    return out


# --- section 1-3: topics, types, QoS, retain ---------------------------------------------------------------


def check_topics(records: list[Rec]) -> list[str]:
    bad = []
    for rec in records:
        found = kind_of(rec.topic)
        if found is None:
            bad.append(f"{rec.topic}: not a topic of the protocol")
            continue
        kind, ident = found
        types, qos, _ = policy(kind)
        if kind in HOUSE_KINDS and rec.qos != qos:
            bad.append(f"{rec.topic}: delivered at QoS {rec.qos}, the protocol says {qos}")
        if not rec.payload:
            if kind != "state":
                bad.append(f"{rec.topic}: an empty payload on a topic that is not an auction state")
            continue
        msg = rec.json()
        if msg.get("type") not in types or msg.get("v", 1) != 1:
            bad.append(f"{rec.topic}: carries type {msg.get('type')!r} v {msg.get('v')!r}, expected {types} v 1")
        elif kind in ("announce", "state", "result") and str(msg["auction"]) != ident:
            bad.append(f"{rec.topic}: auction {msg['auction']} on another auction's topic")
        elif kind in ("actions", "keeper-status", "rejections", "acks", "account") and msg["keeper"] != ident:
            bad.append(f"{rec.topic}: keeper {msg['keeper']!r} on another keeper's topic")
    return bad


def check_retained(snapshots: list[dict[str, bytes]], closed: set[int]) -> list[str]:
    """Only current state is ever retained; a closed auction's state is no longer retained at the end."""
    bad = []
    for snapshot in snapshots:
        for topic, payload in snapshot.items():
            found = kind_of(topic)
            if found is None or not policy(found[0])[2]:
                bad.append(f"{topic}: retained, but the protocol retains only current state ({payload[:60]!r})")
    final = snapshots[-1] if snapshots else {}
    for auction in sorted(closed):
        if f"liq/v1/auctions/{auction}/state" in final:
            bad.append(f"auction {auction}: closed, yet its state is still retained")
    return bad


# --- section 7: each auction ----------------------------------------------------------------------------------


def by_auction(records: list[Rec]) -> dict[int, list[tuple[str, Rec]]]:
    out: dict[int, list[tuple[str, Rec]]] = defaultdict(list)
    for rec in records:
        found = kind_of(rec.topic)
        if found and found[0] in ("announce", "state", "result"):
            out[int(found[1] or 0)].append((found[0], rec))
    return out


def check_auction(auction: int, events: list[tuple[str, Rec]], design: str, block_ms: int) -> list[str]:
    """Announce first; states with strictly increasing seq; then closed state, result, empty retained."""
    where = f"auction {auction}"
    kinds = [k if rec.payload else "clear" for k, rec in events]
    if not kinds or kinds[0] != "announce":
        return [f"{where}: the first message is {kinds[:1]}, not its announce"]
    states = [rec.json() for k, rec in events if k == "state" and rec.payload]
    bad = []
    seqs = [s["seq"] for s in states]
    if any(b <= a for a, b in itertools.pairwise(seqs)):
        bad.append(f"{where}: seq does not strictly increase: {seqs}")
    closing = [i for i, s in enumerate(states) if s["status"] == "closed"]
    tail = kinds[kinds.index("state", 1):] if "state" in kinds[1:] else []
    if len(closing) != 1 or closing[0] != len(states) - 1:
        bad.append(f"{where}: {len(closing)} closed states, expected one, last")
    elif tail[-3:] != ["state", "result", "clear"] or kinds.count("result") != 1 or kinds.count("clear") != 1:
        bad.append(f"{where}: closes with {kinds[-4:]}, expected closed state, result, empty retained state")
    if any(s["status"] not in ("open", "closed") for s in states):
        bad.append(f"{where}: a status other than open or closed: {[s['status'] for s in states]}")
    announce = events[0][1].json()
    if any(s["design"] != design for s in [announce, *states]):
        bad.append(f"{where}: design is not {design}")
    ts = [s["ts_ms"] for s in states]
    if ts != sorted(ts):
        bad.append(f"{where}: state times go backwards: {ts}")
    for a, b in itertools.pairwise(states):
        if b["lot"] > a["lot"] or b["tab"] > a["tab"]:
            bad.append(f"{where}: lot or tab grew from seq {a['seq']} to {b['seq']}")
    check = {"dutch": _dutch, "english": _english, "fixed": _fixed}.get(design, _sealed)
    return bad + [f"{where}: {problem}" for problem in check(announce, states, block_ms)]


def _dutch(announce: dict[str, Any], states: list[dict[str, Any]], block_ms: int) -> list[str]:
    """Resets only where one is due, at the first block at which it is (section 7, Dutch, Resets)."""
    bad = []
    curve = (announce["start_ms"], announce["terms"]["top_q"])
    for s in states:
        if s["phase"] != "":
            bad.append(f"seq {s['seq']}: a Dutch state with phase {s['phase']!r}")
        new = (s["start_ms"], s["top_q"])
        if new == curve or s["status"] == "closed":
            continue
        if s["start_ms"] != s["ts_ms"]:
            bad.append(f"seq {s['seq']}: reset to start_ms {s['start_ms']} in a state of time {s['ts_ms']}")
        if not _reset_due(announce["terms"], curve, s["ts_ms"]):
            bad.append(f"seq {s['seq']}: reset at {s['ts_ms']} ms although no reset was due")
        if _reset_due(announce["terms"], curve, s["ts_ms"] - block_ms) and s["ts_ms"] - block_ms > curve[0]:
            bad.append(f"seq {s['seq']}: reset at {s['ts_ms']} ms, a block after it was due")
        curve = new
    return bad


def _reset_due(terms: dict[str, Any], curve: tuple[int, int], t_ms: int) -> bool:
    """dur > tail or price / top < cusp, with the price curve of section 7."""
    start_ms, top_q = curve
    dur = (t_ms - start_ms) / 1000
    top = top_q / 1e6
    if terms["curve"] == "linear":
        tau = terms["tau_ms"] / 1000
        price = top * (tau - dur) / tau if dur < tau else 0.0
    elif terms["curve"] == "stairstep":
        price = top * terms["cut"] ** math.floor(dur / (terms["step_ms"] / 1000))
    else:
        price = top * terms["cut"] ** dur
    return dur > terms["tail_ms"] / 1000 or price / top < terms["cusp"]


def _sealed(announce: dict[str, Any], states: list[dict[str, Any]], block_ms: int) -> list[str]:
    """commit -> reveal (at the first block at or after commit_end_ms) -> a new commit round, or closed."""
    bad = []
    phase, terms = "commit", announce["terms"]
    revealed: set[int] = set()
    for s in states:
        t = s["terms"]
        if s["status"] == "closed":
            break
        if s["phase"] == "reveal":
            if t["commit_end_ms"] != terms["commit_end_ms"]:
                bad.append(f"seq {s['seq']}: the reveal phase of another round")
            if phase == "commit" and not terms["commit_end_ms"] <= s["ts_ms"] < terms["commit_end_ms"] + block_ms:
                bad.append(f"seq {s['seq']}: the reveal phase opened at {s['ts_ms']} ms, not at the first block "
                           f"at or after commit_end_ms {terms['commit_end_ms']}")
            revealed.add(t["commit_end_ms"])
        elif s["phase"] == "commit":
            if t["commit_end_ms"] != terms["commit_end_ms"]:  # a new round: after the last one settled
                if phase != "reveal" or s["ts_ms"] < terms["reveal_end_ms"]:
                    bad.append(f"seq {s['seq']}: a new round at {s['ts_ms']} ms before the last one settled")
                if t["commit_end_ms"] <= s["ts_ms"] or t["reveal_end_ms"] <= t["commit_end_ms"]:
                    bad.append(f"seq {s['seq']}: the new round's windows are not ahead")
            elif phase == "reveal":
                bad.append(f"seq {s['seq']}: back to the commit phase of the same round")
        else:
            bad.append(f"seq {s['seq']}: sealed state with phase {s['phase']!r}")
        phase, terms = s["phase"], t
    return bad


def _english(announce: dict[str, Any], states: list[dict[str, Any]], block_ms: int) -> list[str]:
    """Bids rise by beg (tend) or the lot falls by beg at bid = tab (dent); restarts only without a bid."""
    bad = []
    prev = {"bid": 0, "guy": "", "lot": announce["lot"], "terms": announce["terms"], "tic_ms": 0}
    for s in states:
        if s["status"] == "closed":
            break
        t, beg = s["terms"], s["terms"]["beg"]
        if s["guy"] != prev["guy"] or s["bid"] != prev["bid"] or s["lot"] != prev["lot"]:
            wad = 10**18  # flip.sol: bid * WAD >= beg * bid (beg in WAD)
            rises = s["bid"] * wad >= round(beg * wad) * prev["bid"] or s["bid"] == s["tab"]
            tend = s["lot"] == prev["lot"] and rises
            dent = s["bid"] == s["tab"] == prev["bid"] and s["lot"] * round(beg * wad) <= prev["lot"] * wad
            if not (tend or dent) or s["tic_ms"] != s["ts_ms"] + t["ttl_ms"]:
                bad.append(f"seq {s['seq']}: a bid that is neither a tend nor a dent, or a wrong tic_ms")
        moved = t["end_ms"] != prev["terms"]["end_ms"]
        if moved and (prev["guy"] or t["end_ms"] != s["ts_ms"] + t["tau_ms"] or s["ts_ms"] <= prev["terms"]["end_ms"]):
            bad.append(f"seq {s['seq']}: end_ms moved from {prev['terms']['end_ms']} to {t['end_ms']} at "
                       f"{s['ts_ms']} ms (a restart, once end_ms passed without a bid, ends tau_ms later)")
        prev = {"bid": s["bid"], "guy": s["guy"], "lot": s["lot"], "terms": t, "tic_ms": s["tic_ms"]}
    return bad


def _fixed(announce: dict[str, Any], states: list[dict[str, Any]], block_ms: int) -> list[str]:
    return [f"seq {s['seq']}: max_repay {s['terms']['max_repay']} above the debt {s['terms']['debt']}"
            for s in states if s["terms"]["max_repay"] > s["terms"]["debt"]]


# --- section 5-6: receipts, accounts, gas, the clock -------------------------------------------------------


def check_receipts(keeper: WireKeeper, block_ms: int, reveal_expected: set[int]) -> list[str]:
    """Every action has exactly one receipt; an ack names the block that included it; an honest keeper is never
    late or early; every reveal it meant to send was accepted."""
    bad = []
    for nonce, action in sorted(keeper.sent.items()):
        receipts = keeper.receipts.get(nonce, [])
        distinct = {(r["type"], r.get("code"), r["ts_ms"]) for r in receipts}
        what = f"{action['type']} nonce {nonce} (auction {action.get('auction', '-')})"
        if len(distinct) != 1:
            bad.append(f"{what}: {len(distinct)} receipts {sorted(distinct)}, expected exactly one")
            continue
        receipt = receipts[0]
        if receipt["type"] == "ack":
            if receipt["auction"] != action.get("auction", 0):
                bad.append(f"{what}: acknowledged for auction {receipt['auction']}")
            if action["type"] != "register" and receipt["ts_ms"] != receipt["height"] * block_ms:
                bad.append(f"{what}: ack at {receipt['ts_ms']} ms does not name a block (height "
                           f"{receipt['height']} x {block_ms} ms)")
        elif receipt["code"] in ("late", "early", "insufficient-escrow", "bad-signature", "malformed", "replay"):
            bad.append(f"{what}: an honest action refused {receipt['code']}: {receipt['text']}")
    for auction in sorted(reveal_expected):
        reveals = [n for n, a in keeper.sent.items() if a["type"] == "reveal" and a["auction"] == auction]
        if not reveals:
            bad.append(f"auction {auction}: committed, reveal meant, but the reveal phase never showed")
        elif not any(r["type"] == "ack" for n in reveals for r in keeper.receipts.get(n, [])):
            bad.append(f"auction {auction}: no reveal accepted")
    return bad


def check_account(records: list[Rec], keeper: WireKeeper, capital_q: int, house: dict[str, Any]) -> list[str]:
    """The retained account follows the register and every block the keeper acted in; gas_paid as documented."""
    bad = []
    accounts = [r.json() for r in records if r.topic == f"liq/v1/keepers/{keeper.keeper}/account" and r.payload]
    if not accounts:
        return ["no account message"]
    if accounts[0]["funded"] != capital_q:
        bad.append(f"funded {accounts[0]['funded']}, the house was told {capital_q}")
    heights = [a["height"] for a in accounts]
    if heights != sorted(heights):
        bad.append("account heights go backwards")
    acked = [r for rs in keeper.receipts.values() for r in rs if r["type"] == "ack"]
    last = heights[-1]
    missing = sorted({a["height"] for a in acked if a["auction"] and a["height"] > last})
    if missing:
        bad.append(f"acks at heights {missing[:5]} after the last account update ({last})")
    gas_paid = [a["gas_paid"] for a in accounts]
    if gas_paid != sorted(gas_paid):
        bad.append("gas_paid went down")
    expected = expected_gas(records, keeper, house)
    if not math.isclose(gas_paid[-1], expected, rel_tol=1e-3, abs_tol=50):
        bad.append(f"gas_paid {gas_paid[-1]} units, the documented formula gives {expected:.0f}")
    return bad


def expected_gas(records: list[Rec], keeper: WireKeeper, house: dict[str, Any]) -> float:
    """Section 6, Gas: for every included action (acked, or refused at its block), its units x (base fee +
    priority fee) gwei x 1e-9 x the block's native_q, in numeraire units."""
    blocks = {r.json()["height"]: r.json() for r in records if r.topic == "liq/v1/clock" and r.payload}
    total = 0.0
    for nonce, action in keeper.sent.items():
        if action["type"] == "register":
            continue
        for receipt in keeper.receipts.get(nonce, [])[:1]:
            if receipt["type"] == "rejection" and receipt["code"] in ADMISSION:
                continue  # refused before any block: no gas
            height = receipt.get("height") if receipt["type"] == "ack" else receipt["ts_ms"] // house["block_ms"]
            block = blocks.get(height)
            if block is None:
                continue
            units = house["gas"].get(action["type"], 100_000)
            gwei = block["gas_gwei_milli"] / 1000 + action.get("priority_fee", 0) / 1000
            total += units * gwei * 1e-9 * block["native_q"]  # native_q is already in numeraire units per token
    return total


def check_house(statuses: list[dict[str, Any]], design: str, speed: float) -> tuple[list[str], str]:
    """The house describes its run; and how far it fell behind its clock (section 6, Time), as one line: the
    caller holds the house to one block unless the machine could not schedule it (``lag_ok``)."""
    bad = []
    online = [s for s in statuses if s["online"]]
    if not online:
        return ["the house never said it was online"], ""
    final = online[-1]
    if final["design"] != design or final["speed"] != speed or not final["block_ms"] or not final["gas"]:
        bad.append(f"house status does not describe the run: {final}")
    block_ms, blocks = final["block_ms"], final["end_ms"] // final["block_ms"]
    lag = ""
    if final["max_lag_ms"] > block_ms:
        lag = (f"the house fell {final['max_lag_ms']} ms behind its clock, more than a block ({block_ms} ms); "
               f"{final['late_blocks']} of {blocks} blocks late")
    return bad, lag
