"""The typed scenario: one msgspec Struct per table of a scenario file, and the ``Scenario`` built from them.

Each field's type is its rule: ``Meta(gt=0)`` ranges, ``Literal`` choices, ``Meta(pattern=...)`` syntax; a
``description`` says in words what a pattern or a required key expects (``auction.scenario.errors`` shows
it). [prices] is a tagged union on ``source`` and [oracle] on ``kind``, so the keys a source or kind allows
are exactly its fields. The [designs] tables are the registered designs' parameter types (``auction.designs``).

Units: money in whole numeraire (USD), collateral in whole tokens, times in seconds, ratios as fractions
(``chop`` and ``buf`` are multipliers, as in MakerDAO: 1.13 is a 13% penalty). ``mu``, ``sigma`` and
``lam`` of the synthetic price sources are annual (365-day year).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from msgspec import Meta, Struct, field

from auction import designs as registry
from auction.book.base import Kind
from auction.params import Fraction, NonNegative, Positive

STRATEGY_PATTERN = r"^([a-z][a-z0-9-]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*|.+\.py:[A-Za-z_]\w*)$"
GAS_POLICY_PATTERN = r"^(market|fixed:\d+(\.\d*)?)$"


# --- [prices]: tagged on `source` ----------------------------------------------------------------------


class _Prices(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="source"):
    @property
    def source(self) -> str:
        """The tag (``csv``, ``gbm``, ``jump``), as the file names it."""
        return str(type(self).__struct_config__.tag)


class CsvPrices(_Prices, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="csv"):
    """[prices] source = "csv": a replay of a price file."""

    file: Annotated[str, Meta(description="a bundled data file name or a path")]  # relative to the scenario file
    asset: str = "ETH"
    column: str = "close"  # csv column holding the price


class _Synthetic(_Prices, frozen=True, kw_only=True, forbid_unknown_fields=True):
    asset: str = "ETH"
    s0: Positive = 100.0  # starting price
    mu: float = 0.0  # annual drift
    sigma: NonNegative = 0.8  # annual volatility
    dt_s: Positive = 600.0  # seconds between samples
    steps: Annotated[int, Meta(ge=1, le=10_000_000)] = 144


class GbmPrices(_Synthetic, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="gbm"):
    """[prices] source = "gbm": geometric Brownian motion, seeded by the run."""


class JumpPrices(_Synthetic, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="jump"):
    """[prices] source = "jump": jump diffusion (Merton), seeded by the run."""

    lam: NonNegative = 0.0  # jumps per year (Poisson intensity)
    jump_mean: float = 0.0  # mean of the log jump size
    jump_std: NonNegative = 0.0  # std of the log jump size


PricesConfig: TypeAlias = CsvPrices | GbmPrices | JumpPrices


# --- [oracle]: tagged on `kind` ------------------------------------------------------------------------


class _Oracle(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"):
    @property
    def kind(self) -> str:
        """The tag (``instant``, ``delayed``, ``chainlink``), as the file names it."""
        return str(type(self).__struct_config__.tag)


class InstantOracleConfig(_Oracle, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="instant"):
    """[oracle] kind = "instant": the protocol sees the market price."""


class DelayedOracleConfig(_Oracle, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="delayed"):
    """[oracle] kind = "delayed": Maker OSM-style, one hop behind."""

    hop_s: Positive = 3600.0  # OSM hop (Maker osm.sol: hop = 1 hour)


class ChainlinkOracleConfig(_Oracle, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="chainlink"):
    """[oracle] kind = "chainlink": deviation/heartbeat push."""

    deviation: Annotated[float, Meta(gt=0, lt=1)] = 0.005  # push when the price moves this fraction
    heartbeat_s: Positive = 3600.0  # push at least this often


OracleConfig: TypeAlias = InstantOracleConfig | DelayedOracleConfig | ChainlinkOracleConfig

# The tagged tables: table -> (its tag key, the tag when the file leaves it out).
TAGGED_TABLES: dict[str, tuple[str, str]] = {"prices": ("source", "csv"), "oracle": ("kind", "instant")}


# --- the other tables ----------------------------------------------------------------------------------


GasAmount = Annotated[int, Meta(ge=1, le=1_000_000_000)]


class GasUnits(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[gas.units]: gas units per action type (keys are the actions' wire types), each replacing the estimate
    of the design that takes it (``auction.designs``, each design's ``gas``; ``auction.models.chain`` says where
    the estimates come from). The house charges them and publishes them in its status."""

    take: GasAmount | None = None
    redo: GasAmount | None = None
    english_bid: GasAmount | None = field(default=None, name="english-bid")
    commit: GasAmount | None = None
    reveal: GasAmount | None = None
    liquidate: GasAmount | None = None

    def table(self) -> dict[str, int]:
        """Wire type -> units, for the actions given."""
        fields = zip(self.__struct_fields__, self.__struct_encode_fields__, strict=True)
        return {tag: value for name, tag in fields if (value := getattr(self, name)) is not None}


class GasConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[gas]: gas prices and blocks."""

    source: Literal["data", "model", "fixed"] = "fixed"
    gwei: Positive = 50.0  # fixed: the price; model: the base price
    column: str = "gas_avg_gwei"  # data: the csv column with gas prices
    spike: NonNegative = 0.0  # model: gwei * (1 + spike * drawdown from the running peak)
    block_time_s: Positive = 12.0
    block_gas_limit: Annotated[int, Meta(ge=1)] = 3_000_000  # gas per block available to liquidation transactions
    units: GasUnits | None = None  # [gas.units]: gas per action type, where the designs' own estimates won't do


class MarketConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[market]: where keepers resell collateral, with price impact."""

    kind: Literal["depth", "reserves"] = "depth"
    depth: Positive = 10_000.0  # depth: tokens on the collateral side of a virtual x*y=k pool
    shrink: Fraction = 0.0  # fraction of depth lost at the worst drawdown (stress)
    reserve_num_column: str = "univ2_ethdai_reserve_dai"  # reserves: numeraire reserve column
    reserve_col_column: str = "univ2_ethdai_reserve_weth"  # reserves: collateral reserve column


class AccountsConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[accounts]: the borrower population (drawn from the run's seed)."""

    n: Annotated[int, Meta(ge=1, le=50_000_000)] = 1000
    debt_mean: Positive = 20_000.0  # mean debt per account (lognormal)
    debt_sigma: NonNegative = 1.0  # lognormal sigma of debt
    cr_low: Positive = 1.6  # starting collateral ratio, uniform in [cr_low, cr_high]
    cr_high: Positive = 3.0
    liquidation_ratio: Annotated[float, Meta(gt=1)] = 1.5  # Maker mat; maintenance margin mm = 1 - 1/ratio
    cross_share: Annotated[float, Meta(ge=0, le=1)] = 0.0  # share of cross-margin accounts
    vol_adjusted: bool = False  # volatility-adjusted margin mm(t) = max(floor, k*sigma*sqrt(h))
    vol_k: Positive = 3.0
    vol_horizon_s: Positive = 3600.0


class HouseConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[house]: liquidation capacity and backstops."""

    max_kicks_per_block: Annotated[int, Meta(ge=1)] = 20  # liquidation capacity, in the spirit of Maker's Dog.Hole
    insurance_fund: NonNegative = 0.0  # USD that absorbs bad debt first
    surplus_buffer: NonNegative = 0.0  # USD the protocol starts with (pays incentives first)
    drain_s: NonNegative = 21_600.0  # after the price path ends, auctions run this long
    zero_bid_fraction: Fraction = 0.01  # a fill under this fraction of market is a zero bid
    hole: NonNegative = 0.0  # USD: the most tab in auction at once (Maker's Dog hole, dss dog.sol); 0: no limit


class KeeperSpec(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One [[keepers]] entry: ``count`` keepers running ``strategy`` (built-in name, module:Class, file.py:Class).

    Only the spec's syntax is checked here; ``keepers.loader.check_keepers`` checks built-in names and config.
    """

    strategy: Annotated[str, Meta(pattern=STRATEGY_PATTERN,
                                  description="a built-in name, module:Class or file.py:Class")]
    count: Annotated[int, Meta(ge=1, le=10_000)] = 1
    capital: Positive = 1_000_000.0  # USD each
    latency_s: NonNegative = 1.0  # decision -> transaction sent
    # "market": pay the going gas price; "fixed:GWEI": never more (then wait)
    gas_policy: Annotated[str, Meta(pattern=GAS_POLICY_PATTERN,
                                    description="'market' or 'fixed:GWEI' (e.g. fixed:40)")] = "market"
    config: dict[str, Any] = {}  # passed to the strategy as is


class IpvConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[ipv]: independent-private-values calibration: ``lots`` single-unit auctions, values U[0, value_scale]."""

    lots: Annotated[int, Meta(ge=1, le=10_000_000)] = 4000
    bidders: Annotated[int, Meta(ge=2, le=1000)] = 4
    value_scale: Positive = 100.0
    oracle_price: Positive | None = None  # what fixed posts from; default value_scale


class TierRow(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One [[perp.tiers]] row: the tier starts at ``floor`` USD of notional; ``mmr``, or ``max_leverage`` for
    Hyperliquid's rule mmr = 1 / (2 * max_leverage) (``auction.perp.margin.TierTable.from_rows``)."""

    floor: NonNegative = 0.0
    mmr: Annotated[float, Meta(gt=0, lt=1)] | None = None
    max_leverage: Annotated[float, Meta(ge=1)] | None = None


def _eth_tiers() -> tuple[TierRow, ...]:
    # Hyperliquid ETH: 25x up to $100M of notional, 15x above (docs "Margin tiers"; tests/test_perp_rules_margin)
    return (TierRow(floor=0.0, max_leverage=25.0), TierRow(floor=100_000_000.0, max_leverage=15.0))


class PerpConfig(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[perp]: the scenario holds perpetual positions (one market, the [prices] asset), not vaults.

    [accounts] n is the number of traders; each deposits ``collateral_mean`` USD (lognormal, ``collateral_sigma``)
    and opens one position at the first price, long with probability ``long_share``, at a leverage uniform in
    [``leverage_low``, ``leverage_high``]. The outside market is the maker on the other side of every trade.
    """

    tiers: tuple[TierRow, ...] = field(default_factory=_eth_tiers)
    collateral_mean: Positive = 20_000.0
    collateral_sigma: NonNegative = 1.0
    leverage_low: Annotated[float, Meta(ge=1)] = 3.0
    leverage_high: Annotated[float, Meta(ge=1)] = 20.0
    long_share: Fraction = 0.8
    maker_capital: Positive = 1e10  # USD behind the outside market's side of the trades
    vault_capital: NonNegative = 10_000_000.0  # USD of the backstop vault (perp-backstop)
    funding_interval_s: Positive = 3600.0  # Hyperliquid pays every hour
    ema_tau_s: Positive = 150.0  # premium EMA of the mark (Hyperliquid: 150 s)
    liquidation_fee: Annotated[float, Meta(ge=0, lt=1)] = 0.005  # of the closed notional, to the insurance fund
    socialize: bool = False  # a deficit the insurance fund cannot cover is socialized over traders in profit
    # isolated: each position is margined only by the collateral allocated to it (auction.book.positions.isolate);
    # a trader here holds one position with all its collateral behind it, so both give the same book
    margin: Literal["cross", "isolated"] = "cross"
    # who ADL closes first against a bankrupt position (auction.perp.adl): "hyperliquid", (mark / entry) x
    # (notional / account value); "pnl-leverage", Bybit's (BitMEX-style) PnL% x effective leverage;
    # "binance", Binance's LeveragePnL, unrealized PnL / wallet x margin ratio (FAQ 360033525471)
    adl: Literal["hyperliquid", "pnl-leverage", "binance"] = "hyperliquid"


# --- the scenario --------------------------------------------------------------------------------------


def _flat_prices() -> PricesConfig:
    return GbmPrices(sigma=0.0)  # an IPV calibration needs no market path: a flat one will do


class ScenarioFile(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a scenario file says, [designs] aside (``auction.scenario.schema`` adds the registry's tables)."""

    name: str = ""  # default: the file's stem
    description: str = ""
    seed_base: Annotated[int, Meta(ge=0)] = 0
    duration_s: Positive | None = None  # default: the length of the price path
    prices: PricesConfig = field(default_factory=_flat_prices)  # required unless [ipv] is given
    oracle: OracleConfig = field(default_factory=InstantOracleConfig)
    gas: GasConfig = field(default_factory=GasConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    house: HouseConfig = field(default_factory=HouseConfig)
    ipv: IpvConfig | None = None
    perp: PerpConfig | None = None  # perpetual positions instead of vaults
    keepers: tuple[KeeperSpec, ...] = ()


class Scenario(ScenarioFile, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A loaded scenario: the file's tables, its design tables, and what loading derived from them.

    ``origin`` and ``csv_path`` are derived (never read from a file, never in ``to_dict``).
    """

    designs: dict[str, Any] = field(default_factory=registry.defaults)  # table name -> that design's params
    origin: str = ""  # the file it was loaded from
    csv_path: str = ""  # csv prices: [prices] file resolved to an absolute path

    def design(self, design: str) -> Any:
        """The parameters a design runs with (sealed-first and sealed-second share one table)."""
        return registry.get(design).params_in(self.designs)

    @property
    def book(self) -> Kind:
        """The accounts it holds: ``"vault"`` (collateral and debt) or ``"perp"`` (perpetual positions)."""
        return "vault" if self.perp is None else "perp"
