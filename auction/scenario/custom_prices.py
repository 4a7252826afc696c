"""``--prices FILE``: a user's price file in place of a scenario's prices, said out loud.

The file replaces the price path; everything else of the scenario stays, as far as the file allows:

- gas: a scenario that replays real gas (``[gas] source = "data"``) keeps it when the file has the gas
  column. Otherwise the gas becomes the scenario's congestion model (``source = "model"``: gwei rising with
  the drawdown from the running peak, ``auction.models.chain.GasModel.synthetic``) fitted by least squares
  to the scenario's own real gas, so keepers still drop out as a crash drives gas up (a fixed price, as
  before, made Black Thursday's gas-driven dropout vanish);
- market: a real Uniswap pool (``kind = "reserves"``) is kept when the file has both reserve columns,
  otherwise it becomes a constant-product pool of the median depth of the scenario's own reserves;
- the oracle, accounts, keepers and designs are unchanged (they read whatever prices they are given).

Each replacement is one line for the user and one entry in the report's JSON, with the file's sha256 and
time range; the report is named after the scenario and the file (``black-thursday+my``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from auction.errors import ConfigError
from auction.models.prices import PricePath, load_csv
from auction.scenario.inputs import price_path
from auction.scenario.load import Scenario, with_overrides, with_prices


@dataclass(frozen=True, slots=True)
class CustomPrices:
    """Where the prices of a run came from, for the report."""

    file: str  # as the user gave it
    sha256: str
    rows: int
    start_unix: int
    end_unix: int
    replaced: tuple[str, ...]  # one line per thing of the scenario the file replaced

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows, "start_utc": utc(self.start_unix),
                "end_utc": utc(self.end_unix), "replaced": list(self.replaced)}


def with_custom_prices(scenario: Scenario, csv_path: str | Path) -> tuple[Scenario, CustomPrices]:
    """The scenario on the user's prices, renamed ``SCENARIO+STEM``, and what was replaced."""
    path = Path(csv_path)
    if not path.is_file():
        raise ConfigError(f"--prices {csv_path}: no such file")
    gas, market = scenario.gas, scenario.market
    data = load_csv(path, asset=scenario.prices.asset, column="close", gas_column=gas.column,
                    reserve_columns=(market.reserve_num_column, market.reserve_col_column))
    start, end = data.t0_unix, data.t0_unix + int(data.times[-1])
    replaced = [f"prices: {scenario.name}'s {_source(scenario)} replaced by {path.name} ({len(data.times)} rows, "
                f"{utc(start)} to {utc(end)})"]
    own = price_path(scenario, scenario.seed_base) if (gas.source == "data" or market.kind == "reserves") else None
    overrides: dict[str, Any] = {}
    if own is not None and gas.source == "data" and data.gas_gwei is None:
        base, spike = fit_gas(own)
        overrides.update({"gas.source": "model", "gas.gwei": base, "gas.spike": spike})
        replaced.append(f"gas: {path.name} has no {gas.column} column: {scenario.name}'s real gas replaced by a "
                        f"model fitted to it, {base:.3g} gwei x (1 + {spike:.3g} x drawdown from the running peak)")
    if own is not None and own.reserves is not None and market.kind == "reserves" and data.reserves is None:
        depth = float(np.median(own.reserves[1]))
        overrides.update({"market.kind": "depth", "market.depth": round(depth, 3), "market.shrink": 0.0})
        replaced.append(f"market: {path.name} has no {market.reserve_num_column}/{market.reserve_col_column} "
                        f"columns: {scenario.name}'s Uniswap pool replaced by a constant-product pool of its median "
                        f"depth, {depth:,.0f} {scenario.prices.asset}")
    stem = f"{scenario.name}+{path.stem}"
    overrides.update({"name": stem, "description": f"{scenario.description} (prices replaced by {path.name})"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    provenance = CustomPrices(str(csv_path), digest, len(data.times), start, end, tuple(replaced))
    return with_overrides(with_prices(scenario, path), overrides), provenance


def fit_gas(path: PricePath) -> tuple[float, float]:
    """``(base, spike)`` of ``gwei = base * (1 + spike * drawdown)`` by least squares on the path's real gas,
    with ``base > 0`` and ``spike >= 0`` (the form of ``GasModel.synthetic``)."""
    if path.gas_gwei is None:
        raise ConfigError("fit_gas: the scenario's price file has no gas column")
    prices = next(iter(path.prices.values()))
    drawdown = 1.0 - prices / np.maximum.accumulate(prices)
    gas = np.asarray(path.gas_gwei, dtype=np.float64)
    if np.ptp(drawdown) > 0:
        slope, intercept = np.polyfit(drawdown, gas, 1)
    else:
        slope, intercept = 0.0, float(gas.mean())
    base = float(intercept) if intercept > 0 else float(max(gas.min(), 1e-3))
    return round(base, 4), round(max(float(slope) / base, 0.0), 4)


def utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _source(scenario: Scenario) -> str:
    p = scenario.prices
    return f"{Path(getattr(p, 'file', '')).name}" if p.source == "csv" else f"synthetic {p.source} prices"
