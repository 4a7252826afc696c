"""Wire benchmark: encode + decode + verify per message, msgspec + Ed25519 against json + dataclasses.

    python -m bench.wire [--iterations 5000] [--repeats 5]

Two representative messages, timed side by side in one run (best of ``--repeats`` rounds, interleaved):

- a signed Dutch ``Take`` (a keeper's action): encode, decode (and validate), verify the Ed25519 signature
  over its canonical bytes, as the house does with every action;
- a Dutch ``State`` with its terms (the house's retained auction state): encode and decode only, since
  house messages are not signed.

liqnet: ``broker.messages.encode``/``decode`` (msgspec Structs, one tagged-union decoder with type, range
and pattern checks) and ``broker.signing.canonical_bytes`` + Ed25519 (``cryptography``).
Baseline: the standard library's ``json`` with plain dataclasses (``Cls(**json.loads(b))``, dispatch on
``type``; no range or pattern checks, so it does less than msgspec) and the same Ed25519 verify over the
same canonical bytes (sorted-key compact JSON without ``sig``; the benchmark checks they are identical).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auction.designs.dutch import DutchTerms
from bench.machine import positive_int
from broker import messages as m
from broker import signing

# --- the baseline: json + dataclasses ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DcTake:
    auction: int
    keeper: str
    amount: int
    max_price_q: int
    nonce: int
    deadline_ms: int
    priority_fee: int = 0
    sig: str = ""
    v: int = 1


@dataclass(frozen=True, slots=True)
class DcDutchTerms:
    top_q: int
    curve: str
    tail_ms: int
    cusp: float
    chost: int
    tau_ms: int = 0
    cut: float = 0.0
    step_ms: int = 0
    tip: int = 0
    chip: float = 0.0


@dataclass(frozen=True, slots=True)
class DcState:
    auction: int
    seq: int
    status: str
    design: str
    asset: str
    owner: str
    lot: int
    tab: int
    start_ms: int
    top_q: int
    terms: DcDutchTerms
    ts_ms: int
    bid: int = 0
    guy: str = ""
    tic_ms: int = 0
    phase: str = ""
    v: int = 1
    sig: str = ""  # the house's signature (broker.house_signing), as the msgspec State carries it


TAGS: dict[type, str] = {DcTake: "take", DcState: "state", DcDutchTerms: "dutch"}
TERMS: dict[str, type] = {"dutch": DcDutchTerms}


def dc_encode(obj: Any) -> bytes:
    return json.dumps(_tagged(obj), separators=(",", ":")).encode()


def _tagged(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": TAGS[type(obj)]}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = _tagged(value) if dataclasses.is_dataclass(value) else value
    return out


def dc_decode(payload: bytes) -> Any:
    data = json.loads(payload)
    kind = data.pop("type")
    if kind == "take":
        return DcTake(**data)
    if kind == "state":
        terms = data.pop("terms")
        return DcState(**data, terms=TERMS[terms.pop("type")](**terms))
    raise ValueError(f"unknown message type {kind!r}")


def dc_canonical(take: DcTake) -> bytes:
    data = _tagged(take)
    data.pop("sig")
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def dc_verify(take: DcTake, pubkey: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(pubkey)).verify(bytes.fromhex(take.sig), dc_canonical(take))
    except Exception:
        return False
    return True


# --- the messages ---------------------------------------------------------------------------------------


def sample_take(keys: signing.KeyPair) -> m.Take:
    return keys.sign(m.Take(auction=18_342, keeper="k03-dutch-threshold", amount=41_250_000_000,
                            max_price_q=126_410_000, nonce=1_764_000_123_456, deadline_ms=43_320_000,
                            priority_fee=2_000))


def sample_state() -> m.State:
    terms = DutchTerms(top_q=164_333_000, curve="stairstep", cut=0.99, step_ms=90_000, tail_ms=8_400_000,
                    cusp=0.4, chost=0, tip=300_000_000, chip=0.001)
    return m.State(auction=18_342, seq=3, status="open", design="dutch", asset="ETH", owner="acct:731904",
                   lot=41_250_000_000, tab=5_713_882_140, start_ms=43_200_000, top_q=164_333_000, terms=terms,
                   ts_ms=43_212_000)


def as_dataclass(msg: m.Take | m.State) -> Any:
    """The same message as the baseline's dataclass (via its JSON, so the two carry identical values)."""
    return dc_decode(m.encode(msg))


# --- timing ------------------------------------------------------------------------------------------------


Step = Callable[[], object]


def per_call_us(fn: Step, iterations: int) -> float:
    """CPU time of this thread per call: on a shared machine, time spent descheduled is not counted."""
    start = time.thread_time_ns()
    for _ in range(iterations):
        fn()
    return (time.thread_time_ns() - start) / iterations / 1000


def best_of(steps: dict[str, Step], iterations: int, repeats: int) -> dict[str, float]:
    """Best per-call time of each step over ``repeats`` interleaved rounds (noise only adds time)."""
    best = {name: float("inf") for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            best[name] = min(best[name], per_call_us(fn, iterations))
    return best


def pipelines(keys: signing.KeyPair) -> tuple[dict[str, Step], dict[str, int]]:
    """Every step to time, named ``<message>.<step>.<impl>``, and the payload sizes in bytes."""
    take, state = sample_take(keys), sample_state()
    dtake, dstate = as_dataclass(take), as_dataclass(state)
    tb, sb = m.encode(take), m.encode(state)
    dtb, dsb = dc_encode(dtake), dc_encode(dstate)
    pub = keys.pubkey
    # Same values both ways, same canonical bytes, and both verify the one signature.
    assert m.decode(dtb) == take and m.decode(dsb) == state
    assert dc_decode(tb) == dtake and dc_decode(sb) == dstate
    assert dc_canonical(dtake) == signing.canonical_bytes(take)
    assert signing.verify(take, pub) and dc_verify(dtake, pub)
    steps: dict[str, Step] = {
        "take.encode.msgspec": lambda: m.encode(take),
        "take.encode.json": lambda: dc_encode(dtake),
        "take.decode.msgspec": lambda: m.decode(tb),
        "take.decode.json": lambda: dc_decode(dtb),
        "take.verify.msgspec": lambda: signing.verify(take, pub),
        "take.verify.json": lambda: dc_verify(dtake, pub),
        "state.encode.msgspec": lambda: m.encode(state),
        "state.encode.json": lambda: dc_encode(dstate),
        "state.decode.msgspec": lambda: m.decode(sb),
        "state.decode.json": lambda: dc_decode(dsb),
        "take.sign.msgspec": lambda: keys.sign(take),
    }
    sizes = {"take.msgspec": len(tb), "take.json": len(dtb), "state.msgspec": len(sb), "state.json": len(dsb)}
    return steps, sizes


def report(us: dict[str, float], sizes: dict[str, int]) -> list[str]:
    lines = [f"{'message':<8} {'step':<24} {'msgspec_us':>11} {'json_us':>9} {'json/msgspec':>13}"]

    def row(msg: str, label: str, steps: Sequence[str]) -> float:
        a = sum(us[f"{msg}.{s}.msgspec"] for s in steps)
        b = sum(us[f"{msg}.{s}.json"] for s in steps)
        lines.append(f"{msg.capitalize():<8} {label:<24} {a:>11.2f} {b:>9.2f} {b / a:>12.2f}x")
        return b / a

    for step in ("encode", "decode", "verify"):
        row("take", step, [step])
    row("take", "encode+decode", ["encode", "decode"])
    take_total = row("take", "encode+decode+verify", ["encode", "decode", "verify"])
    for step in ("encode", "decode"):
        row("state", step, [step])
    state_total = row("state", "encode+decode", ["encode", "decode"])
    lines.append(f"Take payload {sizes['take.msgspec']} bytes (msgspec) / {sizes['take.json']} (json); "
                 f"State {sizes['state.msgspec']} / {sizes['state.json']}; "
                 f"signing a Take (keeper side, not in the totals) {us['take.sign.msgspec']:.2f} us")
    verify_share = us["take.verify.msgspec"] / sum(us[f"take.{s}.msgspec"] for s in ("encode", "decode", "verify"))
    lines.append(f"per signed Take, msgspec + Ed25519: {take_total:.2f}x faster than json + dataclasses; "
                 f"the Ed25519 verify is {verify_share:.0%} of it")
    lines.append(f"per State, msgspec: {state_total:.2f}x faster than json + dataclasses "
                 "(the baseline does no range or pattern validation)")
    return lines



def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.wire", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--iterations", type=positive_int, default=5_000, help="calls per timed round (default 5000)")
    p.add_argument("--repeats", type=positive_int, default=5, help="rounds; the best is kept (default 5)")
    args = p.parse_args(argv)
    from bench.machine import machine_line

    print(machine_line())
    import cryptography
    import msgspec

    print(f"msgspec {msgspec.__version__}, cryptography {cryptography.__version__} (Ed25519), json stdlib; "
          f"best of {args.repeats} x {args.iterations:,} calls per step, interleaved, thread CPU time")
    keys = signing.KeyPair.from_seed(bytes(range(32)))
    steps, sizes = pipelines(keys)
    us = best_of(steps, args.iterations, args.repeats)
    print("\n".join(report(us, sizes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
