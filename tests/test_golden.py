"""Golden outputs: every bundled scenario, 2 seeds, all designs, byte for byte.

The JSON files in ``tests/golden/`` were written by ``liqnet compare --scenario NAME --seeds 2`` before the
core redesign moved any code. A refactor must reproduce them exactly; a change that alters results on
purpose regenerates them in its own commit (``python -m tests.test_golden``), saying why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from auction.compare.report import dumps_json
from auction.compare.sweep import compare, usable_cores
from auction.designs import names as design_names
from auction.scenario.load import list_scenarios, load_scenario

GOLDEN = Path(__file__).with_name("golden")
SEEDS = 2


def render(name: str) -> str:
    scenario = load_scenario(name)
    result = compare(scenario, design_names(scenario.book), SEEDS, workers=usable_cores(), progress=False)
    return dumps_json(result)


@pytest.mark.parametrize("name", [n for n, _ in list_scenarios()])
def test_bundled_scenario_matches_its_golden_json(name: str) -> None:
    want = (GOLDEN / f"{name}.json").read_text(encoding="utf-8")
    assert render(name) == want, f"{name}: output differs from tests/golden/{name}.json"


def test_every_bundled_scenario_has_a_golden_file() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(n for n, _ in list_scenarios())


if __name__ == "__main__":  # regenerate: python -m tests.test_golden [NAME ...]
    for name in sys.argv[1:] or [n for n, _ in list_scenarios()]:
        (GOLDEN / f"{name}.json").write_text(render(name), encoding="utf-8")
        print(f"wrote {GOLDEN / name}.json")
