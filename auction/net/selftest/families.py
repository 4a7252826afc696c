"""The families of ``liqnet selftest``: each runs its scenarios and turns what they counted into one line.

Every figure in a line is counted by the run, and each can come out wrong (tests/test_evidence.py shows some
doing so); a family holds only when every claim its scenarios check held.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from auction.net.selftest import FUZZ_SCALE, HOUSE_KILLS, Family
from broker.server import Prefer


def _faults(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.faults import (
        FaultReport,
        Scenario,
        broker_restart,
        house_sigkill,
        keeper_sigkill,
        slow_and_silent,
    )

    async def kills(d: Path, *, prefer: Prefer) -> FaultReport:
        return await house_sigkill(d, kills=HOUSE_KILLS["quick" if quick else "full"], prefer=prefer)

    scenarios: list[Scenario] = [keeper_sigkill, broker_restart, kills, slow_and_silent]

    async def run() -> list[FaultReport | Exception]:
        reports: list[FaultReport | Exception] = []
        for index, scenario in enumerate(scenarios):
            try:
                reports.append(await scenario(workdir / f"run-{index}", prefer=broker))
            except Exception as exc:  # a run that could not finish counts as failed, with its reason
                reports.append(exc)
        return reports

    reports = asyncio.run(run())
    done = [r for r in reports if isinstance(r, FaultReport)]
    injected = sum(len(r.injected) for r in done)
    lost = sum(len(r.audit.lost) for r in done)
    double = sum(len(r.audit.double_settled) for r in done)
    conserved = all(r.audit.conserved for r in done) and len(done) == len(reports)
    same = sum(1 for r in done if r.audit.matches_unfaulted)
    auctions = sum(r.audit.auctions for r in done)
    at_end = sum(r.audit.closed_at_end for r in done)
    unaccounted = sum(len(r.audit.unaccounted) for r in done)
    ok = len(done) == len(reports) and all(r.ok for r in done)
    kinds = Counter(_kind(fault) for r in done for fault in r.injected)
    line = (f"faults: {injected} injected ({', '.join(f'{k} {n}' for k, n in kinds.items())}), {lost} auctions lost, "
            f"{double} double-settled, "
            f"value {'conserved' if conserved else 'NOT conserved'}; {same}/{len(reports)} runs end on the ledger "
            f"of an unfaulted run ({auctions} auctions, {at_end} closed at the run's end; {unaccounted} keeper actions "
            f"unaccounted)")
    details = [f"run failed: {r}" if isinstance(r, Exception) else r.describe() for r in reports
               if isinstance(r, Exception) or not r.ok]
    return Family("faults", line, ok, details)


def _kind(fault: str) -> str:
    """'keeper k00-universal SIGKILL' -> 'keeper SIGKILL'; 'house SIGKILL #2' -> 'house SIGKILL'."""
    who = fault.split(" ", 1)[0]
    for what in ("SIGKILL", "SIGTERM", "slow", "silent"):
        if what in fault:
            return f"{who} {what}"
    return fault


def _attacks(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.attacks import named_attacks

    try:
        report = asyncio.run(named_attacks(workdir, prefer=broker))
    except Exception as exc:
        return Family("attacks", f"attacks: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    return Family("attacks", attacks_line(report), report.ok, [] if report.ok else [report.describe()])


def attacks_line(report: Any) -> str:
    n = len(report.attacks)
    refused = sum(1 for a in report.attacks if a.refused and a.expect not in ("ignored", "unheard"))
    ignored = sum(1 for a in report.attacks if a.refused and a.expect == "ignored")
    unheard = sum(1 for a in report.attacks if a.refused and a.logged and a.expect == "unheard")
    logged = sum(1 for a in report.attacks if a.logged)
    clean = sum(1 for a in report.attacks if a.ledger_ok)
    forfeits = sum(1 for a in report.attacks if a.expect == "forfeit" and a.ok)
    f = report.figures
    return (f"attacks: {n} named, {refused} refused with their reason code to the sender, {ignored} redelivery "
            f"ignored, {unheard} from ids the house does not name never reached it, {logged} logged as expected, "
            f"{clean} cost the ledger only the attacker's gas ({forfeits} deposit forfeited), "
            f"{len(report.crashes)} crashes; flood of {f.get('flood', 0)}: "
            f"{f.get('flood_rate_limited', 0)} answered rate-limited, {f.get('flood_malformed', 0)} malformed, "
            f"{f.get('flood_dropped', 0)} dropped unread{', the rest unheard' if f.get('flood_muted') else ''}; "
            f"farm of {f.get('farm', 0)} fresh ids: "
            f"{f.get('farm_heard', 0)} reached the house, {f.get('minted_for_strangers_usd', 0):,.0f} USD minted for "
            f"ids the house does not fund")


def _access(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    if shutil.which("mosquitto") is None or broker == "embedded":
        return Family("access", "access control: skipped (the ACL needs Mosquitto; apt install mosquitto)", True,
                      skipped=True)
    from auction.net.selftest.access import forbidden_publishes

    try:
        report = asyncio.run(forbidden_publishes(workdir))
    except Exception as exc:
        return Family("access", f"access control: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    reached = sum(1 for v in report.forbidden.values() if v)
    compose = {k: v for k, v in report.checks.items() if k.startswith("compose")}
    takeover = next((v for k, v in report.checks.items() if "client id" in k), False)
    line = (f"access control: {len(report.forbidden)} forbidden publishes by a keeper, {reached} reached the house "
            f"or any subscriber (Mosquitto, `liqnet network --secure` ACL); a keeper using another's client id "
            f"{'knocked nobody off' if takeover else 'TOOK OVER its session'}; compose ACL "
            f"{'holds' if compose and all(compose.values()) else 'FAILED' if compose else 'not installed'}")
    return Family("access", line, report.ok, [] if report.ok else [report.describe()])


def _inputs(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.fuzz import run_fuzz

    report = run_fuzz(seed, FUZZ_SCALE["quick" if quick else "full"])
    return Family("inputs", inputs_line(report), report.ok, report.crashes)


def inputs_line(report: Any) -> str:
    """Every input counted; "wrongly accepted" judged on every stream that can judge it (``FuzzReport.accepted``)."""
    judged = {k: report.tried.get(k, 0) for k in report.accepted}
    wrong = sum(report.accepted.values())
    others = {k: v for k, v in report.tried.items() if k not in judged}
    return (f"bad inputs: {report.total} tried, {wrong} of {sum(judged.values())} wrongly accepted "
            f"({', '.join(f'{k} {v}' for k, v in judged.items())}), {report.crash_count} crashes in all "
            f"({', '.join(f'{k} {v}' for k, v in others.items())} judged by crashes and invariants; house fills on "
            f"boundary numbers {report.figures.get('house_fills', 0)}, the ledger checked after every block; perp "
            f"houses: {report.figures.get('perp_auctions', 0)} position sales, {report.figures.get('perp_acked', 0)} "
            f"actions taken, {report.figures.get('perp_fills', 0)} fills, {report.figures.get('perp_adl', 0)} ADL "
            f"closes, the position book checked after every block)")






def _journal(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.journal_faults import journal_guards

    try:
        report = asyncio.run(journal_guards(workdir, prefer=broker))
    except Exception as exc:
        return Family("journal", f"journal: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    return Family("journal", journal_line(report), report.ok, [] if report.ok else [report.describe()])


def journal_line(report: Any) -> str:
    live = {r.name: r for r in report.refusals}
    said = ", ".join(f"{name}: {'refused' if r.refused else f'NOT refused (exit {r.code})'}"
                     for name, r in live.items())
    refused = sum(1 for r in report.corruptions if r.refused)
    tracebacks = sum(1 for r in [*report.refusals, *report.corruptions] if r.traceback)
    a = report.audit
    return (f"journal: {said} (exit 2, one line); {refused}/{len(report.corruptions)} damaged copies refused the "
            f"same way, {tracebacks} tracebacks; resumed on the restored WAL: {len(a.lost)} auctions lost, "
            f"{len(a.double_settled)} double-settled, value {'conserved' if a.conserved else 'NOT conserved'}, "
            f"{'same' if a.matches_unfaulted else 'NOT the same'} ledger as an unfaulted run")


def _broker(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.broker_faults import broker_family

    try:
        report = asyncio.run(broker_family(workdir))
    except Exception as exc:
        return Family("broker", f"broker: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    return Family("broker", broker_line(report), report.ok, [] if report.ok else [report.describe()])


def broker_line(report: Any) -> str:
    f, c = report.figures, report.checks
    idle, big, bad = f.get("idle", {}), f.get("oversized", {}), f.get("violations", {})
    kinds = f.get("liqnet broker", {})
    orphans = sum(1 for v in kinds.values() if v != "no broker left")
    net = f.get("liqnet network SIGKILL", {})
    takeover = c.get("a live client id cannot be taken over", False)
    return (f"broker: {idle.get('sockets', 0)} idle sockets against a cap of {idle.get('cap', 0)}: "
            f"{idle.get('over_cap_closed_at_once', 0)} closed at once, the established client "
            f"{'served' if c.get('an established client served while they were open') else 'NOT served'}; "
            f"{big.get('publishes', 0)} PUBLISHes of {big.get('announced_mb', 0)} MB refused before their body "
            f"(broker memory {big.get('rss_growth_kib', 0) / 1024:+.1f} MiB); {bad.get('closed', 0)}/"
            f"{bad.get('tried', 0)} protocol violations closed; a live client id "
            f"{'not taken over' if takeover else 'TAKEN OVER'}; liqnet broker stopped or killed "
            f"({', '.join(kinds)}): {orphans} brokers left; liqnet network SIGKILLed: {net.get('left', '?')} of "
            f"{net.get('processes', '?')} processes left")


def _forgery(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.forgery import forged_house

    try:
        report = asyncio.run(forged_house(workdir, prefer=broker))
    except Exception as exc:
        return Family("forgery", f"forgery: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    return Family("forgery", forgery_line(report), report.ok, [] if report.ok else [report.describe()])


def forgery_line(report: Any) -> str:
    f = report.figures
    dropped = f.get("dropped_by_each_keeper", {})
    a = report.audit
    lost = "?" if a is None else len(a.lost)
    conserved = a is not None and a.conserved
    return (f"forgery: {f.get('forged_sent', 0)} forged house messages ({len(report.sent)} kinds: results, 10x "
            f"oracle prices, statuses, a tampered and a replayed price); dropped by each of {len(dropped)} keepers: "
            f"{min(dropped.values(), default=0)} at least; {f.get('of_which_bought_by_keepers', 0)}/"
            f"{f.get('auctions_forged_settled', 0)} auctions forged as settled still bought by keepers; "
            f"{f.get('usd_paid_above_the_real_oracle', '?')} USD paid above the real oracle price; {lost} auctions "
            f"lost, value {'conserved' if conserved else 'NOT conserved'}")


def _floods(workdir: Path, quick: bool, seed: int, broker: Prefer) -> Family:
    from auction.net.selftest.floods import broker_paused, flood_funded_id, flood_one_id, flood_rotating_ids

    async def run() -> list[Any]:
        out = [await flood_one_id(workdir / "one-id", prefer=broker),
               await flood_rotating_ids(workdir / "rotating", prefer=broker),
               await flood_funded_id(workdir / "funded", prefer=broker)]
        for seconds in (10.0,) if quick else (10.0, 35.0):
            out.append(await broker_paused(workdir / f"paused-{seconds:g}", seconds=seconds, prefer=broker))
        return out

    try:
        reports = asyncio.run(run())
    except Exception as exc:
        return Family("floods", f"floods: the run failed: {exc}".splitlines()[0], False, [str(exc)])
    ok = all(r.ok for r in reports)
    return Family("floods", floods_line(reports), ok, [r.describe() for r in reports if not r.ok])


def floods_line(reports: list[Any]) -> str:
    parts = []
    for r in reports:
        f = r.figures
        if "sent" in f:
            parts.append(f"{r.name}, {f['sent'] / max(f['seconds'], 1e-9):,.0f}/s for {f['seconds']:g} s: "
                         f"{f['blocks_during']}/{f['blocks_owed']} blocks owed came, at most "
                         f"{f['max_blocks_in_a_second_after']} in a second after ({f['blocks_per_second_asked']:g} "
                         f"asked), {f['rejections_to_flooders']} rejections to {f['flooding_ids_answered']} ids, "
                         f"house {f['house_rss_growth_mib']:+g} MiB, honest actions {f['honest_actions_accepted']}/"
                         f"{f['honest_actions_sent']} accepted")
        else:
            parts.append(f"{r.name}: at most {f['max_blocks_in_a_second_after']} blocks in a second after "
                         f"({f['blocks_per_second_asked']:g} asked), house "
                         f"{'resumed by itself' if r.ok else 'did NOT resume'}")
    held = sum(1 for r in reports if r.ok)
    return f"floods: {held}/{len(reports)} held; " + "; ".join(parts)


RUNNERS = {"faults": _faults, "attacks": _attacks, "access": _access, "inputs": _inputs, "journal": _journal,
           "broker": _broker, "forgery": _forgery, "floods": _floods}
