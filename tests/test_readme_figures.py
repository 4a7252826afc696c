"""README's excerpt of `liqnet compare` is what the default command prints, cell for cell (8 seeds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auction.compare.summary import short_cell, summarize
from auction.compare.sweep import compare, usable_cores
from auction.designs import names
from auction.scenario.load import load_scenario

README = Path(__file__).parents[1] / "README.md"


def excerpt() -> dict[str, list[str]]:
    """metric -> the cells of README's excerpt table under 'What `liqnet compare` shows'."""
    section = README.read_text().split("## What `liqnet compare` shows", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    header, *body = rows
    assert [c.strip() for c in header[1:]] == list(names("vault"))
    return {re.sub(r" \(USD\)$", "", r[0].strip()): [c.strip().replace("**", "") for c in r[1:]] for r in body}


@pytest.mark.slow
def test_readme_excerpt_is_the_default_commands_table() -> None:
    result = compare(load_scenario("black-thursday"), names("vault"), 8, workers=usable_cores(), progress=False)
    summary = summarize(result)
    table = excerpt()
    assert len(table) >= 7
    for metric, cells in table.items():
        assert cells == [short_cell(summary[d][metric]) for d in names("vault")], metric
