"""Detection benchmark: time per price event to find newly liquidatable accounts, three ways, side by side.

    python -m bench.detection [--sizes 10000,100000,1000000] [--events 144] [--seed 1] [--csv FILE]

For each population size, on the same accounts and the same price events, in one run:

- detector: ``auction.book.margin.Detector.on_prices`` (sorted thresholds + vectorized cross-margin scan);
- loop:     a per-account Python loop computing each account's health, as agent-based simulators do. It
            runs over Python lists built beforehand (faster than indexing numpy arrays element by element,
            so the baseline is the stronger one). Above ``--loop-cap`` accounts it runs on the first
            ``--loop-cap`` accounts and is scaled linearly, and it is timed on ``--loop-events`` events
            spread over the path (its cost does not depend on the price); both are printed;
- floor:    one vectorized pass ``Accounts.health(marks) < 1`` over all the accounts.

Every event also checks that the detector returned exactly what the brute-force scan finds.

The price path is a falling correlated GBM in 10-minute steps shaped like Black Thursday (ETH lost about half
its value on 2020-03-12), so thresholds are crossed throughout. ``--csv`` replays a real path instead, e.g.
the 144 ten-minute ETH closes of 2020-03-12 (../shared/data/prices/eth_usd_10m_stablesims_2020-03-12.csv).
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from auction import units
from auction.book.accounts import generate
from auction.book.margin import Detector
from bench.machine import machine_line, positive_int, sizes

ASSETS = ("ETH", "BTC")
PRICES0 = np.array([194.52, 7_900.0])  # 2020-03-12 00:00 UTC
LIQUIDATION_RATIO = [1.5, 1.25]
CR_LOW, CR_HIGH = 1.55, 4.0
DEBT_MEAN, DEBT_SIGMA = 10_000.0, 1.0
STEP_S = 600.0
FALL = 0.5  # expected price at the end of the path relative to the start
SIGMA_STEP = 0.015  # log-return sd per 10-minute step
CORRELATION = 0.8


@dataclass
class Row:
    n: int
    build_s: float
    detector_s: float  # mean per event
    floor_s: float
    loop_s: float  # mean per event, scaled to n
    loop_accounts: int
    loop_events: int
    flagged: int
    megabytes: float


def price_path(events: int, seed: int) -> NDArray[np.float64]:
    """marks[event, asset]: a falling correlated GBM (drift so that E[log p_end / p_0] = log FALL)."""
    rng = np.random.default_rng(seed)
    cov = SIGMA_STEP**2 * np.array([[1.0, CORRELATION], [CORRELATION, 1.0]])
    steps = rng.multivariate_normal(np.full(2, np.log(FALL) / events), cov, size=events)
    return np.asarray(PRICES0 * np.exp(np.cumsum(steps, axis=0)), dtype=np.float64)


def csv_path(file: str) -> NDArray[np.float64]:
    """marks[event, asset] replaying the ``close`` column of a price CSV (e.g. the real Black Thursday
    10-minute ETH file) for the first asset; the second asset follows the same returns."""
    with open(file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "close" not in rows[0]:
        raise ValueError(f"{file}: expected a CSV with a 'close' column")
    close = np.array([float(r["close"]) for r in rows])
    if not np.all(np.isfinite(close)) or np.any(close <= 0):
        raise ValueError(f"{file}: every close must be a number > 0")
    rel = close / close[0]
    return np.asarray(np.column_stack([close, PRICES0[1] * rel]), dtype=np.float64)


def loop_scan(rows: list[list[int]], debts: list[int], factors: list[float]) -> list[int]:
    """The baseline: one Python iteration per account computing its health (same formula, same order)."""
    hits = []
    for i, (q, d) in enumerate(zip(rows, debts, strict=True)):
        backing = 0.0
        for qa, fa in zip(q, factors, strict=True):
            backing += qa * fa
        if d > 0 and backing / d < 1.0:
            hits.append(i)
    return hits


def run_size(n: int, path: NDArray[np.float64], args: argparse.Namespace) -> Row:
    acc = generate(
        n,
        ASSETS,
        PRICES0,
        seed=args.seed,
        debt_mean=DEBT_MEAN,
        debt_sigma=DEBT_SIGMA,
        cr_low=CR_LOW,
        cr_high=CR_HIGH,
        liquidation_ratio=LIQUIDATION_RATIO,
        cross_share=args.cross_share,
    )
    t0 = time.perf_counter()
    det = Detector(acc)
    build_s = time.perf_counter() - t0

    m = min(n, args.loop_cap)
    rows, debts = acc.qty[:m].tolist(), acc.debt[:m].tolist()
    events = path.shape[0]
    loop_at = set(np.linspace(0, events - 1, min(args.loop_events, events)).round().astype(int).tolist())

    flagged = np.zeros(n, dtype=np.bool_)
    t_det = t_floor = t_loop = 0.0
    for e, marks in enumerate(path):
        t0 = time.perf_counter()
        new = det.on_prices(marks)
        t1 = time.perf_counter()
        under = acc.health(marks) < 1.0
        t2 = time.perf_counter()
        t_det += t1 - t0
        t_floor += t2 - t1
        expected = np.flatnonzero(under & ~flagged)
        if not np.array_equal(new, expected):
            raise AssertionError(f"n={n} event {e}: detector found {new.size}, brute force {expected.size}")
        flagged |= under
        if e in loop_at:
            factors = (marks * (1.0 - acc.mm) / (units.COL / units.NUM)).tolist()
            t0 = time.perf_counter()
            hits = loop_scan(rows, debts, factors)
            t_loop += time.perf_counter() - t0
            if len(hits) != int(np.count_nonzero(under[:m])):
                raise AssertionError(f"n={n} event {e}: the loop disagrees with the vectorized scan")
    return Row(
        n=n,
        build_s=build_s,
        detector_s=t_det / events,
        floor_s=t_floor / events,
        loop_s=t_loop / len(loop_at) * n / m,
        loop_accounts=m,
        loop_events=len(loop_at),
        flagged=int(flagged.sum()),
        megabytes=(acc.nbytes + det.nbytes) / 2**20,
    )


def report(rows: Sequence[Row]) -> list[str]:
    lines = [
        f"{'accounts':>10} {'build_ms':>9} {'detector_us':>12} {'floor_us':>10} {'loop_ms':>9} "
        f"{'loop/detector':>14} {'detector/floor':>15} {'flagged':>9} {'MB':>6}"
    ]
    for r in rows:
        lines.append(
            f"{r.n:>10,} {r.build_s * 1e3:>9.1f} {r.detector_s * 1e6:>12.1f} {r.floor_s * 1e6:>10.1f} "
            f"{r.loop_s * 1e3:>9.1f} {r.loop_s / r.detector_s:>13.0f}x {r.detector_s / r.floor_s:>15.3f} "
            f"{r.flagged:>9,} {r.megabytes:>6.1f}"
        )
    for r in rows:
        if r.loop_accounts < r.n:
            lines.append(
                f"note: at {r.n:,} accounts the loop ran on the first {r.loop_accounts:,} and was scaled "
                f"x{r.n / r.loop_accounts:g} (linear in accounts)"
            )
    target = [r for r in rows if r.n == 100_000]
    if target:
        ratio = target[0].loop_s / target[0].detector_s
        lines.append(
            f"target loop/detector >= 100x at 100,000 accounts: {ratio:.0f}x, {'met' if ratio >= 100 else 'NOT met'}"
        )
    return lines




def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.detection", description=__doc__.splitlines()[0])
    p.add_argument(
        "--sizes",
        type=sizes,
        default=[10_000, 100_000, 1_000_000],
        help="account counts, comma-separated (default 10000,100000,1000000)",
    )
    p.add_argument(
        "--events", type=positive_int, default=144,
        help="price events per size (default 144: one day of 10-minute steps)",
    )
    p.add_argument(
        "--csv",
        default=None,
        metavar="FILE",
        help="replay this price CSV's close column instead of the GBM (all its rows are events)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the accounts and the price path")
    p.add_argument(
        "--cross-share",
        type=_share,
        default=0.05,
        help="fraction of cross-margin accounts holding both assets (default 0.05)",
    )
    p.add_argument(
        "--loop-cap",
        type=positive_int,
        default=100_000,
        help="most accounts the Python loop visits; above it, scaled (default 100000)",
    )
    p.add_argument(
        "--loop-events", type=positive_int, default=5, help="events on which the Python loop is timed (default 5)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.csv:
        try:
            path = csv_path(args.csv)
        except (OSError, ValueError) as exc:
            print(f"error: --csv: {exc}", file=sys.stderr)
            return 2
        what = f"{args.csv} close for {ASSETS[0]}, {ASSETS[1]} following its returns, {path.shape[0]} events"
    else:
        path = price_path(args.events, args.seed)
        what = (
            f"falling correlated GBM {'/'.join(ASSETS)} from {PRICES0[0]:g}/{PRICES0[1]:g}, "
            f"{args.events} events of {STEP_S / 60:g} min, expected end {FALL:.0%} of start, "
            f"sd {SIGMA_STEP:.1%}/step, corr {CORRELATION}, seed {args.seed}"
        )
    print(machine_line())
    print(f"path: {what}; end {path[-1, 0]:.2f}/{path[-1, 1]:.0f}, low {path[:, 0].min():.2f}/{path[:, 1].min():.0f}")
    print(
        f"accounts: lognormal debt (mean {DEBT_MEAN:,.0f}, sigma {DEBT_SIGMA}), collateral ratio "
        f"U({CR_LOW}, {CR_HIGH}), liquidation ratio {'/'.join(f'{r:.0%}' for r in LIQUIDATION_RATIO)}, "
        f"{args.cross_share:.0%} cross-margin"
    )
    print(
        "times: mean per price event, measured side by side on the same events; loop = per-account "
        "Python loop over lists; floor = one vectorized health < 1 pass"
    )
    rows = []
    for n in args.sizes:
        rows.append(run_size(n, path, args))
        print(f"  done {n:,} accounts", file=sys.stderr, flush=True)
    for line in report(rows):
        print(line)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"checked: detector == brute force on every event; peak RSS {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
