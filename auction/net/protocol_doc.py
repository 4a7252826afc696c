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
from auction.errors import CODES
from auction.net.protocol_examples import (
    TEST_HOUSE_SEED,
    TEST_KEEPER,
    TEST_RUN,
    TEST_SALT,
    TEST_SEED,
    examples,
    house_signer,
    wire,
)
from auction.sealed import commitment
from broker import messages as m
from broker import topics
from broker.signing import KeyPair, canonical_bytes

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
    "ref": "nonce of the action",
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
    "height": "block number (ack: the block that included the action; account: the latest block)",
    "gas_gwei_milli": "base gas price, 1e-3 gwei",
    "status": "auction status",
    "guy": "English: current high bidder, empty when none",
    "tic_ms": "English: the current bid expires at this time (0 = no bid)",
    "phase": "sealed: current phase; empty for other designs",
    "version": "house software version",
    "native_q": "price of the native token (gas is paid in it), numeraire units per whole token",
    "funded": "numeraire units granted at registration",
    "held": "numeraire units locked behind standing bids, sealed deposits and revealed bids",
    "gas_paid": "numeraire units of gas paid so far, for accepted and refused actions alike",
    "block_ms": "scenario ms between blocks",
    "end_ms": "scenario time of the last block: the books close there",
    "speed": "scenario seconds per wall second",
    "lag_ms": "scenario ms the latest block was applied after its time",
    "max_lag_ms": "largest `lag_ms` of the run so far",
    "late_blocks": "blocks applied more than one block after their time, so far",
    "held_ms": "scenario ms the house held its clock back after falling behind, so far (blocks never burst)",
    "native": "the token gas is paid in (its price: `native_q` of every block)",
    "gas": "gas units per action type, from the scenario",
    "type": "message tag",
    "run": "the run the house signs its messages for (section 5, House signatures)",
    "started_ms": "Unix time in ms this house process started: a later one may change the run",
}
_HOUSE_SIG = "the house's Ed25519 signature over the payload as sent, 128 hex digits (section 5, House signatures)"


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
    "acks": "liq/v1/keepers/{keeper}/acks",
    "account": "liq/v1/keepers/{keeper}/account",
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
        out += [msgspec.json.format(wire(msg), indent=2).decode(), "```", ""]
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


def render_house_signing() -> str:
    signer = house_signer()
    block = next(msg for _, msg in examples() if isinstance(msg, m.Block))
    unsigned = m.encode(block)
    signed = wire(block)
    return "\n".join(
        [
            f"- house private key (RFC 8032 seed): `{TEST_HOUSE_SEED.hex()}`",
            f"- house public key (`pubkey` of its `house-status`): `{signer.pubkey}`",
            f"- run (`run` of its `house-status`): `{TEST_RUN}`",
            "",
            "The block of the examples above, as received:",
            "",
            "```json",
            signed.decode(),
            "```",
            "",
            "The bytes the signature covers: `liqnet-house-v1|`, the run, a newline (0x0a), then the payload with "
            "the 128 digits of `sig` removed:",
            "",
            "```",
            f"liqnet-house-v1|{TEST_RUN}",
            unsigned.decode(),
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
    "house-signing": render_house_signing,
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
        note = _HOUSE_SIG if f.name == "sig" and cls in m.HOUSE_MESSAGES else _FIELD_NOTES.get(f.name, "")
        rows.append(f"| `{f.name}` | {_type_name(f.type)}{default} | {note} |")
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
        case inspect.DictType(key_type=key, value_type=value, max_length=n):
            return f"object of {_type_name(key)} -> {_type_name(value)}, ≤ {n} entries"
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
