"""dYdX v4 liquidation pricing: the fillable price, the bankruptcy quote and the insurance-fund delta.

Source: dydxprotocol/v4-chain ``protocol/x/clob/keeper/liquidations.go`` (GetFillablePrice,
GetBankruptcyPriceInQuoteQuantums, GetLiquidationInsuranceFundDelta) and the default config in
``protocol/x/clob/types/liquidations_config_keeper.go``. Amounts are quote quantums (1e-6 USDC, liqnet's
numeraire base unit); sizes are base quantums of the market (liqnet: collateral base units).

Definitions, per the source:

- PS, position size (signed); PNNV, position net notional value (signed, PS at the oracle price);
- PMMR, the position's maintenance margin requirement; TNC / TMMR, the subaccount's total net collateral
  and total maintenance requirement (all positions plus USDC);
- BA, bankruptcy adjustment (ppm, >= 1e6); SMMR, spread to maintenance margin ratio (ppm);
- ABR, adjusted bankruptcy rating = clamp(BA * (1 - TNC / TMMR), 0, 1): 0 at the maintenance line, 1 once
  the account is bankrupt (TNC <= 0).

The fillable price, the worst price a liquidation order may fill at, is ``(PNNV - ABR * SMMR * PMMR) / PS``:
the oracle price moved against the liquidated side by at most SMMR of the position's maintenance margin,
all of it once the account is bankrupt. It is the same whatever part of the position is being closed.
"""

from __future__ import annotations

from fractions import Fraction

PPM = 1_000_000
MAX_LIQUIDATION_FEE_PPM = 5_000  # 0.5%: LiquidationsConfig_Default.MaxLiquidationFeePpm
BANKRUPTCY_ADJUSTMENT_PPM = PPM  # FillablePriceConfig default: BA = 1
SPREAD_TO_MAINTENANCE_MARGIN_RATIO_PPM = 100_000  # FillablePriceConfig default: SMMR = 10%


def adjusted_bankruptcy_rating(tnc: int, tmmr: int, ba_ppm: int = BANKRUPTCY_ADJUSTMENT_PPM) -> Fraction:
    """ABR = clamp(BA * (1 - TNC / TMMR), 0, 1), exact."""
    if tmmr <= 0:
        raise ValueError(f"total maintenance requirement must be > 0 to liquidate, got {tmmr}")
    abr = (1 - Fraction(tnc, tmmr)) * Fraction(ba_ppm, PPM)
    return min(max(abr, Fraction(0)), Fraction(1))


def fillable_price(
    pnnv: int,
    pmmr: int,
    tnc: int,
    tmmr: int,
    size: int,
    *,
    ba_ppm: int = BANKRUPTCY_ADJUSTMENT_PPM,
    smmr_ppm: int = SPREAD_TO_MAINTENANCE_MARGIN_RATIO_PPM,
) -> Fraction:
    """``(PNNV - ABR * SMMR * PMMR) / PS`` in quote quantums per base quantum, exact (GetFillablePrice)."""
    if size == 0:
        raise ValueError("no position to liquidate")
    abr = adjusted_bankruptcy_rating(tnc, tmmr, ba_ppm)
    price = (pnnv - abr * Fraction(pmmr * smmr_ppm, PPM)) / size
    if price < 0:  # v4 panics: PNNV and PS always share a sign for a valid position
        raise ValueError(f"fillable price is negative ({price}): PNNV and size disagree in sign")
    return price


def fillable_price_q(price: Fraction, size: int, base_units_per_token: int) -> int:
    """Quote per base unit -> numeraire base units per whole token, rounded as v4 rounds subticks.

    Closing a long sells: rounded up (the liquidated account receives no less); closing a short buys:
    rounded down (ConvertFillablePriceToSubticks).
    """
    p = price * base_units_per_token
    return -(-p.numerator // p.denominator) if size > 0 else p.numerator // p.denominator


def fillable_price_int_q(
    pnnv: int,
    pmmr: int,
    tnc: int,
    tmmr: int,
    size: int,
    base_units_per_token: int,
    *,
    ba_ppm: int = BANKRUPTCY_ADJUSTMENT_PPM,
    smmr_ppm: int = SPREAD_TO_MAINTENANCE_MARGIN_RATIO_PPM,
) -> int:
    """``fillable_price_q(fillable_price(...), size, base_units_per_token)`` in integers only, the same value.

    The liquidation hot path (``perp-market`` asks every block for every open sale): with ABR = N / D,
    N = clamp(BA * (TMMR - TNC), 0, PPM * TMMR), D = PPM * TMMR, the price per whole token is
    ``(PNNV * D * PPM - N * SMMR * PMMR) * units / (PS * D * PPM)``, rounded as ``fillable_price_q`` rounds.
    """
    if size == 0:
        raise ValueError("no position to liquidate")
    if tmmr <= 0:
        raise ValueError(f"total maintenance requirement must be > 0 to liquidate, got {tmmr}")
    den = PPM * tmmr
    abr = min(max(ba_ppm * (tmmr - tnc), 0), den)
    num = (pnnv * den * PPM - abr * smmr_ppm * pmmr) * base_units_per_token
    den *= PPM * size
    if den < 0:
        num, den = -num, -den
    if num < 0:  # v4 panics: PNNV and PS always share a sign for a valid position
        raise ValueError("fillable price is negative: PNNV and size disagree in sign")
    return -(-num // den) if size > 0 else num // den


def bankruptcy_quote(nc_before: int, nc_after: int, mmr_before: int, mmr_after: int, tnc: int, tmmr: int) -> int:
    """Quote quantums that closing part of a position must bring for the account to end exactly at zero.

    ``-DNNV - TNC * |DMMR| / TMMR`` with DNNV, DMMR the change of the position's net notional and maintenance
    from the close: the account's collateral is shared among positions by their maintenance margin. The one
    division rounds toward -inf so the result rounds toward +inf: closing at it never needs the insurance fund.
    Positive: a long must sell for at least this; negative: a short may pay at most its magnitude.
    """
    if tmmr <= 0:
        raise ValueError(f"total maintenance requirement must be > 0, got {tmmr}")
    dmmr = mmr_after - mmr_before
    if dmmr > 0:
        raise ValueError("closing part of a position cannot raise its maintenance requirement")
    return -(nc_after - nc_before) - (tnc * -dmmr) // tmmr


def insurance_fund_delta(fill_quote: int, bankruptcy: int, max_fee_ppm: int = MAX_LIQUIDATION_FEE_PPM) -> int:
    """What the liquidated account pays the insurance fund (> 0) or receives from it (< 0) for one fill.

    ``fill_quote`` is signed like ``bankruptcy``: + quote received for a sell, - quote paid for a buy. Above
    bankruptcy the account pays the smaller of its surplus and ``max_fee_ppm`` of |fill_quote|, rounded
    down (GetLiquidationInsuranceFundDelta); below it, the fund covers the whole gap.
    """
    delta = fill_quote - bankruptcy
    if delta <= 0:
        return delta
    return min(abs(fill_quote) * max_fee_ppm // PPM, delta)
