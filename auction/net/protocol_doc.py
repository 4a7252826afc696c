"""The generated parts of PROTOCOL.md: topic table, message fields and examples, signing example, codes.

Built from the real Structs, ``topics.POLICY`` and ``auction.errors.CODES`` so the document stays true.
``python -m auction.net.protocol_doc PROTOCOL.md`` rewrites every block between
``<!-- BEGIN GENERATED name -->`` and ``<!-- END GENERATED name -->``; ``--check`` only reports drift
(a test runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import inspect

from auction import designs
from auction.designs.dutch import DutchTerms
from auction.designs.english import EnglishTerms
from auction.designs.fixed import FixedTerms
from auction.designs.sealed import SealedTerms
from auction.errors import CODES
from auction.sealed import commitment
from broker import messages as m
from broker import topics
from broker.signing import KeyPair, canonical_bytes

# The fixed test key of PROTOCOL.md's worked example. Public: never use it for anything real.
TEST_SEED = bytes(range(32))
TEST_KEEPER = "alice"
TEST_SALT = bytes.fromhex("5a17" * 8)  # 16 bytes

_FIELD_NOTES: dict[str, str] = {
    "v": "schema version, always 1",
    "auction": "auction id",
    "keeper": "keeper id (also its topic level and broker user name)",
    "nonce": "per-keeper, strictly increasing across all its actions",
    "sig": "Ed25519 signature of the canonical bytes, 128 hex digits",
    "deadline_ms": "refused as `late` if processed after this time",
    "priority_fee": "1e-3 gwei; higher is included first within a block",
    "lot": "collateral units (1e-9 token)",
    "tab": "numeraire units (1e-6) still to raise",
    "qty": "collateral units (1e-9 token)",
    "cost": "numeraire units (1e-6) paid",
    "amount": "most collateral units to buy (clip.sol `amt`)",
    "max_price_q": "highest acceptable price, numeraire units per whole token (clip.sol `max`)",
    "price_q": "numeraire units (1e-6) per whole token",
    "oracle_q": "oracle price at kick, numeraire units per whole token",
    "top_q": "starting price of the current curve, numeraire units per whole token",
    "reserve_q": "lowest acceptable price, numeraire units per whole token",
    "clearing_q": "uniform clearing price (sealed second-price), else 0",
    "bid": "numeraire units (1e-6)",
    "repay": "numeraire units (1e-6) of debt to repay",
    "deposit": "numeraire units (1e-6) escrowed with the commit",
    "ts_ms": "scenario time of the message, ms",
    "start_ms": "start of the current Dutch price curve (clip.sol `tic`), ms",
    "owner": "ledger holder of the liquidated account",
    "asset": "collateral asset id",
    "design": "auction design, a name the house's registry knows (built in: " + ", ".join(designs.names()) + ")",
    "terms": "design-specific terms (see Auction terms)",
    "seq": "increases with every change of this auction",
    "digest": "commitment hash, see Sealed auctions",
    "salt": "the commitment's salt, 16-64 bytes as hex",
    "pubkey": "Ed25519 public key, 32 bytes as hex",
    "ref": "nonce of the refused action",
    "code": "rejection code (table below)",
    "text": "human-readable reason",
    "fills": "who bought what",
    "returned": "collateral units given back to the owner",
    "bad_debt": "numeraire units of debt left uncovered",
    "revenue": "numeraire units raised",
    "forfeited": "keepers whose deposit was forfeited (no valid reveal)",
    "online": "false in the Last Will",
    "balance": "free numeraire units",
    "pnl": "profit and loss, numeraire units (may be negative)",
    "height": "block number",
    "gas_gwei_milli": "base gas price, 1e-3 gwei",
    "status": "auction status",
    "guy": "English: current high bidder, empty when none",
    "tic_ms": "English: the current bid expires at this time (0 = no bid)",
    "phase": "sealed: current phase; empty for other designs",
    "version": "house software version",
    "type": "message tag",
}


def examples() -> list[tuple[str, m.Message]]:
    """One example of every message, with the topic it travels on; actions signed by the test key."""
    key = KeyPair.from_seed(TEST_SEED)
    k = TEST_KEEPER
    dutch = DutchTerms(
        top_q=2_160_000_000,
        curve="stairstep",
        cut=0.99,
        step_ms=90_000,
        tail_ms=7_200_000,
        cusp=0.4,
        chost=5_000_000_000,
        tip=100_000_000,
        chip=0.001,
    )
    sealed = SealedTerms(
        commit_end_ms=660_000,
        reveal_end_ms=1_260_000,
        reserve_q=1_500_000_000,
        deposit=1_000_000_000,
        second_price=True,
    )
    english = EnglishTerms(beg=1.05, ttl_ms=10_800_000, tau_ms=172_800_000, end_ms=173_400_000)
    fixed = FixedTerms(
        debt=60_000_000_000,
        collateral=40_000_000_000,
        close_factor=0.5,
        bonus=0.05,
        health=0.97,
        max_repay=30_000_000_000,
    )
    common: dict[str, Any] = {"asset": "ETH", "lot": 40_000_000_000, "tab": 60_000_000_000, "owner": "acct:17"}
    digest = commitment(8, k, 1_750_000_000, 10_000_000_000, TEST_SALT).hex()
    return [
        (topics.oracle("ETH"), m.OraclePrice(asset="ETH", price_q=1_800_000_000, ts_ms=600_000)),
        (topics.clock(), m.Block(height=50, ts_ms=600_000, gas_gwei_milli=35_500)),
        (topics.house_status(), m.HouseStatus(online=True, version="liqnet 0.1.0", ts_ms=0)),
        (
            topics.keeper_status(k),
            m.KeeperStatus(
                keeper=k, online=True, pubkey=key.pubkey, balance=250_000_000_000, pnl=-1_250_000, ts_ms=1_000
            ),
        ),
        (topics.actions(k), key.register(k, nonce=1)),
        (
            topics.announce(7),
            m.Announce(auction=7, design="dutch", start_ms=600_000, oracle_q=1_800_000_000, terms=dutch, **common),
        ),
        (
            topics.state(7),
            m.State(
                auction=7,
                seq=1,
                status="open",
                design="dutch",
                start_ms=600_000,
                top_q=2_160_000_000,
                terms=dutch,
                ts_ms=600_000,
                **common,
            ),
        ),
        (
            topics.actions(k),
            key.sign(
                m.Take(
                    auction=7,
                    keeper=k,
                    amount=40_000_000_000,
                    max_price_q=1_700_000_000,
                    nonce=2,
                    deadline_ms=1_900_000,
                    priority_fee=2_000,
                )
            ),
        ),
        (topics.actions(k), key.sign(m.Redo(auction=7, keeper=k, nonce=3, deadline_ms=8_000_000))),
        (topics.actions(k), key.sign(m.Commit(auction=8, keeper=k, digest=digest, deposit=1_000_000_000, nonce=4))),
        (
            topics.actions(k),
            key.sign(
                m.Reveal(auction=8, keeper=k, price_q=1_750_000_000, qty=10_000_000_000, salt=TEST_SALT.hex(), nonce=5)
            ),
        ),
        (
            topics.actions(k),
            key.sign(
                m.EnglishBid(auction=9, keeper=k, lot=40_000_000_000, bid=30_000_000_000, nonce=6, deadline_ms=700_000)
            ),
        ),
        (
            topics.actions(k),
            key.sign(
                m.Liquidate(
                    auction=10, keeper=k, repay=30_000_000_000, priority_fee=5_000, nonce=7, deadline_ms=640_000
                )
            ),
        ),
        (
            topics.rejections(k),
            m.Rejection(
                keeper=k, ref=2, code="too-expensive", text="price 1716 USD is above max_price 1700 USD", ts_ms=612_000
            ),
        ),
        (
            topics.result(7),
            m.Result(
                auction=7,
                design="dutch",
                fills=[m.FillMsg(keeper=k, qty=35_294_117_647, cost=60_000_000_000)],
                returned=4_705_882_353,
                bad_debt=0,
                revenue=60_000_000_000,
                ts_ms=1_590_000,
            ),
        ),
        (
            topics.announce(8),
            m.Announce(
                auction=8, design="sealed-second", start_ms=60_000, oracle_q=1_800_000_000, terms=sealed, **common
            ),
        ),
        (
            topics.announce(9),
            m.Announce(auction=9, design="english", start_ms=600_000, oracle_q=1_800_000_000, terms=english, **common),
        ),
        (
            topics.state(9),
            m.State(
                auction=9,
                seq=4,
                status="open",
                design="english",
                start_ms=600_000,
                top_q=0,
                bid=30_000_000_000,
                guy=k,
                tic_ms=11_400_000,
                terms=english,
                ts_ms=600_000,
                **common,
            ),
        ),
        (
            topics.announce(10),
            m.Announce(auction=10, design="fixed", start_ms=600_000, oracle_q=1_800_000_000, terms=fixed, **common),
        ),
    ]


# --- sections ---------------------------------------------------------------------------------------------

_TOPIC_SHAPES: dict[topics.Kind, str] = {
    "oracle": "liq/v1/oracle/{asset}",
    "clock": "liq/v1/clock",
    "announce": "liq/v1/auctions/{auction}/announce",
    "state": "liq/v1/auctions/{auction}/state",
    "result": "liq/v1/auctions/{auction}/result",
    "actions": "liq/v1/keepers/{keeper}/actions",
    "keeper-status": "liq/v1/keepers/{keeper}/status",
    "rejections": "liq/v1/keepers/{keeper}/rejections",
    "house-status": "liq/v1/house/status",
}


def render_topics() -> str:
    rows = ["| Topic | Carries (`type`) | QoS | Retained | Published by | What |", "|---|---|---|---|---|---|"]
    for kind, p in topics.POLICY.items():
        carried = ", ".join(f"`{t}`" for t in p.messages)
        retained = "yes" if p.retain else "no (event)"
        rows.append(f"| `{_TOPIC_SHAPES[kind]}` | {carried} | {p.qos} | {retained} | {p.publisher} | {p.note} |")
    return "\n".join(rows)


def render_messages() -> str:
    out: list[str] = []
    by_type = {m.tag_of(type(msg)): (topic, msg) for topic, msg in reversed(examples())}
    for cls in m.MESSAGES:
        tag = m.tag_of(cls)
        topic, msg = by_type[tag]
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        out += [f"### `{tag}`", "", doc, "", _field_table(cls), "", f"Example, on `{topic}`:", "", "```json"]
        out += [msgspec.json.format(m.encode(msg), indent=2).decode(), "```", ""]
    out += ["### Auction terms (`terms`)", "", "An object tagged by its own `type`:", ""]
    for terms in _terms_types():
        doc = (terms.__doc__ or "").strip().splitlines()[0]
        out += [f"#### `{terms.__struct_config__.tag}`", "", doc, "", _field_table(terms), ""]
    out += ["#### `FillMsg` (items of `fills`)", "", _field_table(m.FillMsg), ""]
    return "\n".join(out).rstrip()


def render_signing() -> str:
    key = KeyPair.from_seed(TEST_SEED)
    take = next(msg for _, msg in examples() if isinstance(msg, m.Take))
    return "\n".join(
        [
            f"- private key (RFC 8032 seed, 32 bytes): `{TEST_SEED.hex()}`",
            f"- public key: `{key.pubkey}`",
            "",
            "The Take of the examples above, as sent (compact, field order as the sender likes):",
            "",
            "```json",
            m.encode(take).decode(),
            "```",
            "",
            "Its canonical bytes (every field but `sig`, keys sorted, UTF-8, no whitespace, no trailing newline):",
            "",
            "```",
            canonical_bytes(take).decode(),
            "```",
            "",
            "signature (`sig`):",
            "",
            "```",
            take.sig,
            "```",
        ]
    )


def render_commit() -> str:
    salt = TEST_SALT.hex()
    digest = commitment(8, TEST_KEEPER, 1_750_000_000, 10_000_000_000, TEST_SALT).hex()
    prefix = f"liqnet-commit-v1|8|{TEST_KEEPER}|1750000000|10000000000|"
    return "\n".join(
        [
            f"For auction 8, keeper `{TEST_KEEPER}`, price_q 1750000000, qty 10000000000, salt `{salt}`:",
            "",
            "```",
            f'sha256( b"{prefix}" + bytes.fromhex("{salt}") )',
            f"= {digest}",
            "```",
        ]
    )


def render_codes() -> str:
    rows = ["| Code | Meaning |", "|---|---|"]
    rows += [f"| `{code}` | {meaning} |" for code, meaning in CODES.items()]
    return "\n".join(rows)


def render_limits() -> str:
    return "\n".join(
        [
            f"- payload: at most {m.MAX_PAYLOAD} bytes ({m.MAX_PAYLOAD // 1024} KiB) of UTF-8 JSON; larger ones are "
            "refused with `oversized` before parsing (the broker itself accepts packets up to 256 KiB, so that "
            "the refusal can reach the sender);",
            f"- `fills` and `forfeited` of a Result: at most {m.MAX_FILLS} entries;",
            "- integers: amounts, ids, nonces and times are 0 .. 2^63-1 (int64); `pnl` is a signed int64;",
            "- floats (terms only; never in signed messages): finite, 0 .. 1e6; NaN and infinity are refused;",
            "- strings: keeper ids `[A-Za-z0-9_.-]{1,64}`, asset ids `[A-Za-z0-9_.-]{1,32}`, holders "
            "`[A-Za-z0-9_.:-]{0,64}`, hex fields lowercase, `text` at most 512 characters.",
        ]
    )


SECTIONS: dict[str, Callable[[], str]] = {
    "topics": render_topics,
    "messages": render_messages,
    "signing": render_signing,
    "commit": render_commit,
    "codes": render_codes,
    "limits": render_limits,
}


def update(text: str) -> str:
    """``text`` with every generated block rewritten from the code."""
    for name, render in SECTIONS.items():
        begin, end = f"<!-- BEGIN GENERATED {name} -->", f"<!-- END GENERATED {name} -->"
        found = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.S)
        if found is None:
            raise ValueError(f"PROTOCOL.md has no block {begin} ... {end}")
        text = f"{text[: found.start()]}{begin}\n{render()}\n{end}{text[found.end() :]}"
    return text


def _field_table(cls: type[Any]) -> str:
    info = inspect.type_info(cls)
    assert isinstance(info, inspect.StructType)
    rows = ["| Field | Type | Meaning |", "|---|---|---|"]
    tag = info.tag
    if tag is not None:
        rows.append(f'| `type` | `"{tag}"` | message tag |')
    for f in info.fields:
        default = "" if f.required else f" (default `{msgspec.json.encode(_default(f)).decode()}`)"
        rows.append(f"| `{f.name}` | {_type_name(f.type)}{default} | {_FIELD_NOTES.get(f.name, '')} |")
    return "\n".join(rows)


def _default(f: inspect.Field) -> Any:
    return f.default_factory() if f.default is msgspec.NODEFAULT else f.default


def _type_name(t: inspect.Type) -> str:
    match t:
        case inspect.IntType(ge=0, le=le) if le == 2**63 - 1:
            return "int ≥ 0"
        case inspect.IntType(ge=ge, le=le) if ge == -(2**63):
            return "int (signed)"
        case inspect.IntType():
            return "int"
        case inspect.FloatType():
            return f"number, finite, {t.ge:g} .. {t.le:g}"
        case inspect.BoolType():
            return "bool"
        case inspect.StrType(pattern=str() as pattern):
            return f"string `{pattern.removeprefix(chr(92) + 'A').removesuffix(chr(92) + 'Z')}`"
        case inspect.StrType(max_length=int() as n):
            return f"string, ≤ {n} chars"
        case inspect.StrType():
            return "string"
        case inspect.LiteralType(values=values):
            return " \\| ".join(f'`"{v}"`' for v in values)
        case inspect.ListType(item_type=item, max_length=n):
            return f"array of {_type_name(item)}, ≤ {n}"
        case inspect.StructType(cls=c):
            return f"`{c.__name__}` object"
        case inspect.UnionType(types=types):
            return "object: " + " \\| ".join(_type_name(x) for x in types)
        case inspect.CustomType(cls=c) if c is m.Terms:  # a registered design's terms (auction.designs)
            return "object: " + " \\| ".join(f"`{d.__name__}` object" for d in _terms_types())
    return str(t)


def _terms_types() -> list[type[m.WireTerms]]:
    """Every registered design's terms type, once each (sealed-first and sealed-second share one)."""
    return list(dict.fromkeys(d.terms for d in designs.REGISTRY.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auction.net.protocol_doc", description=__doc__)
    parser.add_argument("path", type=Path, nargs="?", default=Path("PROTOCOL.md"))
    parser.add_argument("--check", action="store_true", help="report drift, change nothing")
    args = parser.parse_args(argv)
    old = args.path.read_text()
    new = update(old)
    if args.check:
        if new != old:
            print(f"{args.path} is out of date: run python -m auction.net.protocol_doc {args.path}", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
