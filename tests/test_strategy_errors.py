"""Strategy errors: counted per run (``strategy_errors``), the first traceback printed once with its file and
line, one warning per keeper instead of one per call, and strategy-test exits 1 when every decision failed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auction import cli
from keepers.failures import Failures

BROKEN = Path(__file__).with_name("strategies") / "broken.py"
RAISE_LINE = next(i for i, line in enumerate(BROKEN.read_text().splitlines(), 1) if "/ 0" in line)


def scenario_file(tmp_path: Path, strategy: str) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(f"""name = "broken"
[prices]
source = "gbm"
sigma = 0.8
mu = -200.0
steps = 72
[accounts]
n = 150
[[keepers]]
strategy = "universal"
count = 2
[[keepers]]
strategy = "{BROKEN}:{strategy}"
count = 2
""")
    return path


def test_compare_counts_strategy_errors_and_prints_the_first_traceback_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", "--scenario", str(scenario_file(tmp_path, "Raising")), "--designs", "dutch,english",
            "--seeds", "2", "--workers", "1", "--out", str(tmp_path / "out"), "--no-progress"]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    doc = json.loads((tmp_path / "out" / "broken.json").read_text())
    counts = [run["metrics"]["strategy_errors"] for run in doc["runs"]]
    assert all(c > 0 for c in counts), counts
    assert doc["summary"]["dutch"]["strategy_errors"]["mean"] > 0
    row = next(line for line in out.splitlines() if "strategy_errors" in line)
    assert re.search(r"strategy_errors\s+│\s+[1-9]", row), row
    assert err.count("Traceback (most recent call last)") == 1, err
    assert f"broken.py:{RAISE_LINE}" in err and "ZeroDivisionError" in err
    total = sum(counts)
    assert f"failed {total:,.0f} times in 4 of 4 runs" in err
    # One warning per keeper and run at most, not one per call.
    assert err.count("strategy.error") <= 2 * len(counts), err.count("strategy.error")


def test_strategy_test_exits_1_when_every_decision_failed(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["strategy-test", "--strategy", f"{BROKEN}:Raising", "--seeds", "1", "--accounts", "150",
                     "--json", str(tmp_path / "st.json")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("Traceback (most recent call last)") == 1
    assert f"broken.py:{RAISE_LINE}" in err
    assert "liqnet: error: every decision of" in err.splitlines()[-1]
    doc = json.loads((tmp_path / "st.json").read_text())
    assert doc["decisions"]["made"] == doc["decisions"]["failed"] > 0
    assert doc["rows"]["you"]["errors"]["mean"] == doc["decisions"]["failed"]
    assert "Traceback" not in (tmp_path / "st.json").read_text()  # paths stay out of the report


def test_strategy_test_with_some_failures_warns_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["strategy-test", "--strategy", f"{BROKEN}:OddRaising", "--seeds", "1", "--accounts", "150"])
    err = capsys.readouterr().err
    assert code == 0
    assert "ValueError: odd auction" in err and err.count("Traceback (most recent call last)") == 1
    assert "liqnet: error" not in err


def test_failures_log_the_first_at_warning_and_the_rest_at_debug() -> None:
    failures = Failures()
    logs: list[dict[str, object]] = []

    class Log:
        def warning(self, event: str, **fields: object) -> None:
            logs.append({"log_level": "warning", "event": event, **fields})

        def debug(self, event: str, **fields: object) -> None:
            logs.append({"log_level": "debug", "event": event, **fields})

    for n in range(5):
        try:
            raise KeyError(n)
        except KeyError as exc:
            failures.failed(Log(), float(n), "on_auction", exc, auction=n)
    failures.failed(Log(), 9.0, "on_auction", decision="garbage")
    assert [entry["log_level"] for entry in logs] == ["warning"] + ["debug"] * 5
    assert str(logs[0]["where"]).endswith(f"test_strategy_errors.py:{_raise_line()}")
    assert failures.count == failures.failed_decisions == 6 and failures.first_at == 0.0
    assert failures.first.startswith("on_auction raised KeyError: 0 at ") and "Traceback" in failures.first


def _raise_line() -> int:
    text = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(text, 1) if line.strip() == "raise KeyError(n)")
