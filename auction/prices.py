"""Price sources: replay of real CSV data, GBM and Merton jump-diffusion, every one seeded.

A ``PricePath`` holds sample times (seconds from the start, ``times[0] == 0``), prices per asset and,
where the data has them, gas prices (gwei) and a real constant-product pool's reserves. Bad input is a
``ConfigError`` of one line naming the file, the row and the problem; nothing is half-built.
"""

from __future__ import annotations

import bisect
import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from auction.errors import ConfigError

F64 = NDArray[np.float64]
DATA_DIR = Path(__file__).with_name("compare") / "data"
YEAR_S = 365.0 * 86400.0  # annual parameters (mu, sigma, lam) use a 365-day year
RESERVE_COLUMNS = ("univ2_ethdai_reserve_dai", "univ2_ethdai_reserve_weth")


@dataclass(frozen=True)
class PricePath:
    times: F64
    prices: dict[str, F64]
    gas_gwei: F64 | None = None
    reserves: tuple[F64, F64] | None = None  # (numeraire reserve, collateral reserve) per sample
    t0_unix: int = 0
    _times: list[float] = field(init=False, repr=False, compare=False)

    def at(self, t: float) -> int:
        """Index of the last sample at or before ``t`` (the first sample before the path starts)."""
        return max(bisect.bisect_right(self._times, t) - 1, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", self.times.tolist())  # bisect on a list beats a numpy call per lookup

    def price(self, asset: str, t: float) -> float:
        return float(self.prices[asset][self.at(t)])


def resolve_data(name_or_path: str | Path) -> Path:
    """A bundled data file name (auction/compare/data) or a user's path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = DATA_DIR / str(name_or_path)
    if bundled.is_file():
        return bundled
    raise ConfigError(f"price file {name_or_path}: not found (neither a path nor a bundled data file)")


def load_csv(
    path: str | Path, asset: str = "ETH", column: str = "close", gas_column: str = "gas_avg_gwei"
) -> PricePath:
    """Read ``unix_ts`` and ``column`` (any resolution), plus gas and pool reserves when present."""
    file = resolve_data(path)
    try:
        # utf-8-sig: spreadsheets export "CSV UTF-8" with a byte-order mark that would hide unix_ts
        with file.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    while rows and not any(cell.strip() for cell in rows[-1]):  # trailing blank lines are not data rows
        rows.pop()
    if not rows:
        raise ConfigError(f"{file}: empty file; expected a header with unix_ts and {column}")
    header = [h.strip() for h in rows[0]]
    for need in ("unix_ts", column):
        if need not in header:
            raise ConfigError(f"{file}: missing column {need!r}; found {', '.join(header)}")
    body = rows[1:]
    if len(body) < 2:
        raise ConfigError(f"{file}: needs at least 2 data rows, found {len(body)}")
    cols = {name: _column(file, body, header.index(name), name) for name in _wanted(header, column, gas_column)}
    ts = cols["unix_ts"]
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if len(bad):
        i = int(bad[0])
        raise ConfigError(f"{file}: row {i + 3}: unix_ts does not increase ({ts[i]:.0f} then {ts[i + 1]:.0f})")
    price = cols[column]
    if (price <= 0).any():
        row = int(np.flatnonzero(price <= 0)[0]) + 2
        raise ConfigError(f"{file}: row {row}: {column} must be > 0, got {price[row - 2]}")
    reserves = (cols[RESERVE_COLUMNS[0]], cols[RESERVE_COLUMNS[1]]) if all(c in cols for c in RESERVE_COLUMNS) else None
    return PricePath(times=ts - ts[0], prices={asset: price}, gas_gwei=cols.get(gas_column), reserves=reserves,
                     t0_unix=int(ts[0]))


def gbm(s0: float, mu: float, sigma: float, dt: float, steps: int, seed: int, asset: str = "ETH") -> PricePath:
    """Geometric Brownian motion, annual ``mu`` and ``sigma``, ``steps`` samples ``dt`` seconds apart."""
    return jump_diffusion(s0, mu, sigma, 0.0, 0.0, 0.0, dt, steps, seed, asset=asset)


def jump_diffusion(s0: float, mu: float, sigma: float, lam: float, jump_mean: float, jump_std: float, dt: float,
                   steps: int, seed: int, asset: str = "ETH") -> PricePath:
    """Merton (1976) jump-diffusion: GBM plus Poisson(lam per year) jumps with N(jump_mean, jump_std) log size.

    Log returns: (mu - sigma^2/2 - lam*k) dt + sigma sqrt(dt) Z + sum of jumps, k = E[e^J] - 1, so that the
    drift of the price itself stays ``mu``.
    """
    if not all(map(math.isfinite, (s0, mu, sigma, lam, jump_mean, jump_std, dt))):  # NaN would pass silently
        raise ConfigError("price model: every parameter must be a finite number")
    if not (s0 > 0 and dt > 0 and steps >= 1 and sigma >= 0 and lam >= 0 and jump_std >= 0):
        raise ConfigError("price model: need s0 > 0, dt > 0, steps >= 1, sigma >= 0, lam >= 0, jump_std >= 0")
    rng = np.random.default_rng(seed)
    h = dt / YEAR_S
    k = math.exp(jump_mean + jump_std**2 / 2) - 1
    z = rng.standard_normal(steps)
    n_jumps = rng.poisson(lam * h, steps)
    jumps = n_jumps * jump_mean + np.sqrt(n_jumps) * jump_std * rng.standard_normal(steps)
    log_ret = (mu - sigma**2 / 2 - lam * k) * h + sigma * math.sqrt(h) * z + jumps
    with np.errstate(over="ignore", under="ignore"):
        prices = s0 * np.exp(np.concatenate([[0.0], np.cumsum(log_ret)]))
    if not (np.isfinite(prices).all() and (prices > 0).all()):  # exp overflow/underflow
        raise ConfigError("price model: the path overflows or reaches 0 in floating point; "
                          "use fewer steps or a milder mu")
    return PricePath(times=np.arange(steps + 1, dtype=np.float64) * dt, prices={asset: prices})


def _wanted(header: list[str], column: str, gas_column: str) -> list[str]:
    optional = [c for c in (gas_column, *RESERVE_COLUMNS) if c in header]
    return list(dict.fromkeys(["unix_ts", column, *optional]))


def _column(file: Path, body: list[list[str]], j: int, name: str) -> F64:
    out = np.empty(len(body))
    for i, row in enumerate(body):
        try:
            out[i] = float(row[j])
        except (IndexError, ValueError):
            cell = row[j] if j < len(row) else "<missing>"
            raise ConfigError(f"{file}: row {i + 2}: {name} is not a number: {cell!r}") from None
        if not math.isfinite(out[i]):
            raise ConfigError(f"{file}: row {i + 2}: {name} is not finite: {row[j]!r}")
    return out
