"""Calibration against the published record: Black Thursday on ``english``, 19 May 2021 on ``dutch``.

``python -m auction.compare.calibration [--seeds N] [--workers N]`` runs the two historical scenarios and
prints README's calibration table (one row per observable: the record, its source, the band a run must land
in, and the mean, min and max over seeds). ``tests/test_calibration.py`` asserts every seed lands in its
band and that README's table is what this prints.

Observables are computed per run from its ``auctions`` table (``auction.run.records``):

- ``bad_debt_ratio``: debt written off / debt taken into liquidation (the run's metric);
- ``zero_bid_share``: share of the lots sold for less than 1% of their market value at the kick (the
  record counts liquidations won at a zero bid);
- ``returned_share``: collateral returned to the vault owners / collateral seized, over the lots that sold
  for more than that (the successful lots);
- ``auctions``: lots opened. Not compared: the scenarios' vault populations are scaled down (about
  $30M of debt on Black Thursday, where Maker had several times that), so the count scales with them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auction.compare.sweep import compare, usable_cores
from auction.run.result import RunResult
from auction.scenario.load import load_scenario

ZERO_BID = 0.01  # a lot sold below 1% of its market value is a zero-bid lot (run.metrics' zero_bid_fraction)
SEEDS = 8

Table = Mapping[str, Sequence[Any]]


def zero_bid_lot(auctions: Table, i: int) -> bool:
    sold = float(auctions["sold"][i])
    return sold > 0 and float(auctions["raised_usd"][i]) < ZERO_BID * sold * float(auctions["market_at_kick"][i])


def zero_bid_share(auctions: Table) -> float:
    n = len(auctions["auction"])
    return sum(zero_bid_lot(auctions, i) for i in range(n)) / n if n else 0.0


def returned_share(auctions: Table) -> float:
    """Collateral returned / seized over the successful lots (sold something, not at a zero bid)."""
    n = len(auctions["auction"])
    ok = [i for i in range(n) if float(auctions["sold"][i]) > 0 and not zero_bid_lot(auctions, i)]
    seized = sum(float(auctions["lot"][i]) for i in ok)
    return sum(float(auctions["returned"][i]) for i in ok) / seized if seized else 0.0


@dataclass(frozen=True, slots=True)
class Observable:
    """One row of the calibration table; ``band`` None: reported, not compared."""

    scenario: str
    design: str
    name: str
    of: Callable[[RunResult], float]
    record: str
    source: str
    band: tuple[float, float] | None


# Sources. [WR]: Whiterabbit, "Black Thursday for MakerDAO: $8.32 million was liquidated for 0 DAI" (14 March
# 2020): 5.67M DAI of protocol loss, zero bids won 36% of all liquidations. [YTD21]: MakerDAO forum, "MakerDAO
# FLIP Auction Stats - YTD data" (forum.makerdao.com/t/6474, early 2021): of 150 flip auctions all but one
# collected the full penalty. [I15]: issue 15's summary of the post-mortems, for figures no primary source
# found here confirms: about 15M DAI sent to auction on Black Thursday (so 5.3-5.67M is 0.28-0.38 of it),
# "successful auctions returned at best about 11% of the collateral", no reported Maker bad debt on 19 May 2021.
OBSERVABLES: tuple[Observable, ...] = (
    Observable("black-thursday", "english", "bad_debt_ratio", lambda r: r.metrics["bad_debt_ratio"],
               "0.28-0.38", "[WR] 5.67M DAI lost, of ~15M sent to auction [I15]", (0.20, 0.45)),
    Observable("black-thursday", "english", "zero_bid_share", lambda r: zero_bid_share(r.records.auctions),
               "0.36", "[WR] 36% of liquidations won at a zero bid", (0.25, 0.47)),
    Observable("black-thursday", "english", "returned_share", lambda r: returned_share(r.records.auctions),
               "<= 0.11", "[I15]: not compared (no primary source)", None),
    Observable("black-thursday", "english", "auctions", lambda r: r.metrics["auctions"],
               "-", "population scaled down: not compared", None),
    Observable("may-2021", "dutch", "bad_debt_ratio", lambda r: r.metrics["bad_debt_ratio"],
               "~0", "[YTD21] 149 of 150 flips of early 2021 took the full penalty; no bad debt on the day [I15]",
               (0.0, 0.01)),
    Observable("may-2021", "dutch", "zero_bid_share", lambda r: zero_bid_share(r.records.auctions),
               "0", "Clipper: cusp 0.4 resets the price before it nears 0", (0.0, 0.01)),
    Observable("may-2021", "dutch", "returned_share", lambda r: returned_share(r.records.auctions),
               "-", "no published figure: reported, not compared", None),
    Observable("may-2021", "dutch", "auctions", lambda r: r.metrics["auctions"],
               "-", "population scaled down: not compared", None),
)


def measure(seeds: int = SEEDS, workers: int | None = None) -> dict[tuple[str, str], list[float]]:
    """(scenario, observable) -> its value per seed, running each historical scenario on its design."""
    out: dict[tuple[str, str], list[float]] = {}
    for scenario, design in dict.fromkeys((o.scenario, o.design) for o in OBSERVABLES):
        result = compare(load_scenario(scenario), [design], seeds, workers=workers or usable_cores(), progress=False)
        runs = [r.result for r in result.runs]
        for o in OBSERVABLES:
            if (o.scenario, o.design) == (scenario, design):
                out[(scenario, o.name)] = [o.of(r) for r in runs]
    return out


def fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3f}"


def table(values: Mapping[tuple[str, str], Sequence[float]], seeds: int = SEEDS) -> str:
    """README's calibration table (Markdown) from measured values."""
    lines = [f"| scenario / design | observable | record | band | liqnet: mean (min-max, {seeds} seeds) | source |",
             "|---|---|---|---|---|---|"]
    for o in OBSERVABLES:
        v = values[(o.scenario, o.name)]
        band = f"{fmt(o.band[0])}-{fmt(o.band[1])}" if o.band else "-"
        got = f"{fmt(sum(v) / len(v))} ({fmt(min(v))}-{fmt(max(v))})"
        lines.append(f"| {o.scenario} / {o.design} | {o.name} | {o.record} | {band} | {got} | {o.source} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m auction.compare.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"seeds per scenario (default {SEEDS})")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    print(table(measure(args.seeds, args.workers), args.seeds))


if __name__ == "__main__":
    main()
