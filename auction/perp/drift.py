"""Drift v2 perp liquidation: fee ramp, the liquidatable share over time, base to close, insurance-fund fee.

Source: drift-labs/protocol-v2 ``programs/drift/src/math/liquidation.rs`` (get_liquidation_fee,
calculate_max_pct_to_liquidate, calculate_base_asset_amount_to_cover_margin_shortage,
calculate_perp_if_fee, get_liquidation_order_params) and ``math/constants.rs``. Integer arithmetic with
the same precisions and the same (floor) divisions. Drift's precisions match liqnet's units: quote 1e-6
(numeraire base unit), base 1e-9 (collateral base unit), price 1e-6 per whole token (``price_q``).

Takeover ("perp-takeover"): a liquidator takes the position at oracle -/+ the liquidation fee, the fee
ramping up from the base fee after a grace period; only a growing share of the margin shortage may be
freed at once, reaching 100% after ``liquidation_duration`` slots (or at once for shortages under $50).
"""

from __future__ import annotations

QUOTE_PRECISION = 1_000_000
PRICE_PRECISION = 1_000_000
BASE_PRECISION = 1_000_000_000
MARGIN_PRECISION = 10_000  # margin ratios: 1000 = 10% = 10x
LIQUIDATION_FEE_PRECISION = 1_000_000
LIQUIDATION_PCT_PRECISION = 10_000
LIQUIDATION_FEE_ADJUST_GRACE_PERIOD_SLOTS = 1_500  # ~10 minutes of 400 ms slots
LIQUIDATION_FEE_INCREASE_PER_SLOT = LIQUIDATION_FEE_PRECISION // 1_000_000  # 0.01 bp per slot
_FEE_TO_MARGIN = LIQUIDATION_FEE_PRECISION // MARGIN_PRECISION
_U32_MAX = 2**32 - 1


def liquidation_fee(base_fee: int, max_fee: int, last_active_slot: int, slot: int) -> int:
    """The liquidator fee (1e6 precision): base during the grace period, then +1 per slot, up to max_fee."""
    elapsed = slot - last_active_slot
    if elapsed < 0:
        raise ValueError("slot is before the user's last active slot")
    if elapsed < LIQUIDATION_FEE_ADJUST_GRACE_PERIOD_SLOTS:
        return base_fee
    return min(base_fee + min(elapsed * LIQUIDATION_FEE_INCREASE_PER_SLOT, _U32_MAX), max_fee)


def max_pct_to_liquidate(
    margin_shortage: int, slots_elapsed: int, initial_pct: int, liquidation_duration: int, margin_freed: int = 0
) -> int:
    """Share of the *current* shortage (1e4 precision) a liquidator may free now.

    ``initial_pct + slots_elapsed / liquidation_duration`` of the total shortage (current plus already
    freed) may have been freed by now, all of it below a $50 shortage; a duration of 0 means 100%.
    """
    if margin_shortage < 50 * QUOTE_PRECISION:
        return LIQUIDATION_PCT_PRECISION
    ramp = (
        LIQUIDATION_PCT_PRECISION
        if liquidation_duration == 0
        else slots_elapsed * LIQUIDATION_PCT_PRECISION // liquidation_duration
    )
    pct_freeable = min(ramp + initial_pct, LIQUIDATION_PCT_PRECISION)
    max_freed = (margin_shortage + margin_freed) * pct_freeable // LIQUIDATION_PCT_PRECISION
    freeable = max(max_freed - margin_freed, 0)
    return freeable * LIQUIDATION_PCT_PRECISION // margin_shortage


def base_to_cover_margin_shortage(
    margin_shortage: int,
    margin_ratio: int,
    liquidation_fee: int,
    if_fee: int,
    oracle_price: int,
    quote_oracle_price: int = PRICE_PRECISION,
) -> int | None:
    """Base units to close so the freed margin, net of the fees, covers the shortage; None means all of it.

    Closing b frees ``b * price * (margin_ratio - liquidator_fee) - b * price * if_fee`` of margin.
    """
    mr = margin_ratio * _FEE_TO_MARGIN
    if oracle_price == 0 or mr <= liquidation_fee:
        return None
    per_base = (
        (oracle_price * quote_oracle_price // PRICE_PRECISION) * (mr - liquidation_fee) // LIQUIDATION_FEE_PRECISION
    )
    per_base -= oracle_price * if_fee // LIQUIDATION_FEE_PRECISION
    if per_base <= 0:
        raise ValueError("the fees eat all the margin a close would free")
    return margin_shortage * PRICE_PRECISION * (BASE_PRECISION // QUOTE_PRECISION) // per_base


def perp_if_fee(
    margin_shortage: int,
    base_amount: int,
    margin_ratio: int,
    liquidator_fee: int,
    oracle_price: int,
    quote_oracle_price: int,
    max_if_fee: int,
) -> int:
    """Insurance-fund fee (1e6 precision): 95% of what the margin ratio leaves after the liquidator fee and
    the shortage per unit of notional, at most ``max_if_fee``."""
    mr = margin_ratio * _FEE_TO_MARGIN
    if oracle_price == 0 or quote_oracle_price == 0 or mr <= liquidator_fee or base_amount == 0:
        return 0
    price = oracle_price * quote_oracle_price // PRICE_PRECISION
    shortage_ratio = min(margin_shortage * BASE_PRECISION // base_amount * PRICE_PRECISION // price, _U32_MAX)
    implied = max(max(mr - liquidator_fee, 0) - shortage_ratio, 0) * 19 // 20  # 95%: keep the user solvent
    return min(max_if_fee, implied)


def takeover_limit_price(oracle_price: int, liquidation_fee: int, liquidating_long: bool) -> int:
    """The liquidator's limit: oracle minus the fee when taking over a long (it sells), plus for a short."""
    delta = abs(oracle_price) * liquidation_fee // LIQUIDATION_FEE_PRECISION
    return abs(oracle_price) - delta if liquidating_long else abs(oracle_price) + delta
