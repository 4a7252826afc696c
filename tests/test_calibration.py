"""Calibration to history: each observable of the two historical days within its band of the published record
(mean over 8 seeds), and README's calibration table is what `python -m auction.compare.calibration` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction.compare.calibration import OBSERVABLES, SEEDS, measure, returned_share, table, zero_bid_share

README = Path(__file__).parents[1] / "README.md"

# Four lots: a zero bid (1e-6 USD for 10 ETH at 100), a lot sold in full, one that returned 2 of its 10 ETH in the
# dent phase, and one that raised nothing (no bid at all: not a sale, not a zero-bid lot).
AUCTIONS = {
    "auction": [1, 2, 3, 4],
    "lot": [10.0, 10.0, 10.0, 10.0],
    "sold": [10.0, 10.0, 8.0, 0.0],
    "returned": [0.0, 0.0, 2.0, 0.0],
    "raised_usd": [1e-6, 900.0, 1000.0, 0.0],
    "market_at_kick": [100.0, 100.0, 100.0, 100.0],
}


def test_zero_bid_share_counts_lots_sold_under_one_percent_of_their_value() -> None:
    assert zero_bid_share(AUCTIONS) == 0.25
    assert zero_bid_share({k: [] for k in AUCTIONS}) == 0.0


def test_returned_share_is_over_the_successful_lots() -> None:
    assert returned_share(AUCTIONS) == 2.0 / 20.0  # lots 2 and 3: 2 ETH of 20 went back to the owners


def readme_table() -> str:
    section = README.read_text().split("## Calibration", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


@pytest.mark.slow
def test_history_lands_in_the_records_bands_and_readme_shows_the_run() -> None:
    values = measure(SEEDS)
    for o in OBSERVABLES:
        v = values[(o.scenario, o.name)]
        assert len(v) == SEEDS
        if o.band is not None:
            mean = sum(v) / len(v)
            assert o.band[0] <= mean <= o.band[1], (o.scenario, o.design, o.name, v)
    assert readme_table() == table(values)
