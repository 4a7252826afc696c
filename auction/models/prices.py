"""Price sources: replay of real CSV data, GBM and Merton jump-diffusion, every one seeded.

A ``PricePath`` holds sample times (seconds from the start, ``times[0] == 0``), prices per asset and,
where the data has them, gas prices (gwei) and a real constant-product pool's reserves. Bad input is a
``ConfigError`` of one line naming the file, the row and the problem; nothing is half-built.
``merge`` puts several files (one asset each) on their common instants; ``ewma_vol`` gives the realized
volatility that a volatility-adjusted maintenance margin needs.
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
DATA_DIR = Path(__file__).parents[1] / "data"
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
    _rows: dict[str, list[float]] = field(init=False, repr=False, compare=False)  # prices as Python floats

    def at(self, t: float) -> int:
        """Index of the last sample at or before ``t`` (the first sample before the path starts)."""
        i = bisect.bisect_right(self._times, t) - 1
        return i if i > 0 else 0

    def __post_init__(self) -> None:
        m = len(self.times)
        series = [*self.prices.values(), *([self.gas_gwei] if self.gas_gwei is not None else []),
                  *(self.reserves or ())]
        if m == 0 or self.times[0] != 0.0 or not self.prices or any(len(a) != m for a in series):
            raise ValueError("PricePath: need times[0] == 0, at least one asset and every series as long as times")
        object.__setattr__(self, "_times", self.times.tolist())  # bisect on a list beats a numpy call per lookup
        # Keepers ask a price at every decision (hundreds of thousands a run): a list item is a Python float
        # already, where a numpy element is boxed on each read (the same value: tolist() is exact).
        object.__setattr__(self, "_rows", {a: p.tolist() for a, p in self.prices.items()})

    def price(self, asset: str, t: float) -> float:
        """``prices[asset]`` at ``t``, as a float (KeyError for an asset the path does not have)."""
        i = bisect.bisect_right(self._times, t) - 1
        return self._rows[asset][i if i > 0 else 0]


def bundled(name: str) -> Path:
    """The bundled data file ``name`` (auction/data, listed in its MANIFEST.csv)."""
    path = DATA_DIR / name
    if Path(name).name != name or not name.endswith(".csv") or not path.is_file():
        names = ", ".join(sorted(p.name for p in DATA_DIR.glob("*.csv") if p.name != "MANIFEST.csv"))
        raise ConfigError(f"bundled data {name!r}: no such file; bundled: {names}")
    return path


def resolve_data(name_or_path: str | Path) -> Path:
    """A bundled data file name (auction/data) or a user's path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled_path = DATA_DIR / str(name_or_path)
    if bundled_path.is_file():
        return bundled_path
    raise ConfigError(f"price file {name_or_path}: not found (neither a path nor a bundled data file)")


def load_csv(
    path: str | Path, asset: str = "ETH", column: str = "close", gas_column: str = "gas_avg_gwei",
    reserve_columns: tuple[str, str] = RESERVE_COLUMNS,
) -> PricePath:
    """Read ``unix_ts`` and ``column`` (any resolution), plus gas and pool reserves (numeraire, collateral
    columns) when present."""
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
    wanted = _wanted(header, column, gas_column, reserve_columns)
    cols = {name: _column(file, body, header.index(name), name) for name in wanted}
    ts = cols["unix_ts"]
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if len(bad):
        i = int(bad[0])
        raise ConfigError(f"{file}: row {i + 3}: unix_ts does not increase ({ts[i]:.0f} then {ts[i + 1]:.0f})")
    price = cols[column]
    if (price <= 0).any():
        row = int(np.flatnonzero(price <= 0)[0]) + 2
        raise ConfigError(f"{file}: row {row}: {column} must be > 0, got {price[row - 2]}")
    reserves = (cols[reserve_columns[0]], cols[reserve_columns[1]]) if all(c in cols for c in reserve_columns) else None
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


def merge(*paths: PricePath) -> PricePath:
    """Several single- or multi-asset paths on their common sample instants (unix time), for cross-margin.

    Only instants present in every path are kept. Gas and reserves come from the first path that has them.
    """
    if not paths:
        raise ConfigError("merge: no price paths given")
    assets = [a for p in paths for a in p.prices]
    if len(set(assets)) != len(assets):
        raise ConfigError(f"merge: an asset appears twice ({', '.join(assets)}); load each file with its own asset")
    common = paths[0].times + paths[0].t0_unix
    for p in paths[1:]:
        common = np.intersect1d(common, p.times + p.t0_unix)
    if len(common) < 2:
        raise ConfigError("merge: the price paths share fewer than 2 sample instants")
    picks = [np.searchsorted(p.times + p.t0_unix, common) for p in paths]
    prices = {a: arr[i] for p, i in zip(paths, picks, strict=True) for a, arr in p.prices.items()}
    gas = next((p.gas_gwei[i] for p, i in zip(paths, picks, strict=True) if p.gas_gwei is not None), None)
    reserves = next(((p.reserves[0][i], p.reserves[1][i]) for p, i in zip(paths, picks, strict=True)
                     if p.reserves is not None), None)
    return PricePath(times=common - common[0], prices=prices, gas_gwei=gas, reserves=reserves, t0_unix=int(common[0]))


def ewma_vol(prices: F64, times: F64, halflife_s: float, sigma0: float | None = None) -> F64:
    """Annualized EWMA realized volatility at each sample, over uneven sample times.

    RiskMetrics (J.P. Morgan/Reuters, RiskMetrics Technical Document, 4th ed. 1996, sec. 5.2.1):
    var_n = lam_n * var_(n-1) + (1 - lam_n) * x_n, with x_n = r_n^2 / dt_n the squared log return as a
    variance per second (annualized by the 365-day year) and lam_n = 2^(-dt_n / halflife_s), so a weight
    halves every ``halflife_s`` whatever the sampling (RiskMetrics' daily lam = 0.94 is a half-life of 11.2
    days). var_0 is ``sigma0``^2, else the first return's x_1. Vectorized: within a chunk of at most 200 decay
    constants, var_n = e^(-a (t_n - t_s)) * (var_s + sum_k (1 - lam_k) x_k e^(a (t_k - t_s))).
    """
    p, t = np.asarray(prices, dtype=np.float64), np.asarray(times, dtype=np.float64)
    if p.ndim != 1 or p.shape != t.shape or not (np.isfinite(p).all() and (p > 0).all()):
        raise ValueError("ewma_vol needs 1-D finite prices > 0 and times of the same length")
    if not (halflife_s > 0 and math.isfinite(halflife_s)) or (len(t) > 1 and not (np.diff(t) > 0).all()):
        raise ValueError("ewma_vol needs halflife_s > 0 and increasing times")
    if len(p) < 2:
        return np.full(len(p), 0.0 if sigma0 is None else float(sigma0))
    dt = np.diff(t)
    x = np.diff(np.log(p)) ** 2 / dt * YEAR_S
    a = math.log(2.0) / halflife_s
    w = -np.expm1(-a * dt)  # 1 - lam_k, exact for small a*dt
    var = np.empty(len(p))
    var[0] = x[0] if sigma0 is None else float(sigma0) ** 2
    s = 0
    while s < len(p) - 1:
        e = max(int(np.searchsorted(t, t[s] + 200.0 / a, side="right")) - 1, s + 1)  # last index of the chunk
        if e == s + 1:  # one step, possibly a gap longer than the chunk: the recursion itself
            var[e] = (1.0 - w[s]) * var[s] + w[s] * x[s]
        else:
            rel = t[s + 1:e + 1] - t[s]
            acc = var[s] + np.cumsum(w[s:e] * x[s:e] * np.exp(a * rel))
            var[s + 1:e + 1] = np.exp(-a * rel) * acc
        s = e
    return np.sqrt(var)


def _wanted(header: list[str], column: str, gas_column: str, reserve_columns: tuple[str, str]) -> list[str]:
    optional = [c for c in (gas_column, *reserve_columns) if c in header]
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
