"""Derive (Lyra v2) liquidation: a Dutch auction of a fraction of the portfolio, then a negative-price phase.

Source: derivexyz/v2-core ``src/liquidation/DutchAuction.sol`` (_getBufferMargin, _getDiscountPercentage,
_getMaxProportion, _getSolventAuctionBidPrice, _getInsolventAuctionBidPrice, _getLiquidationFee), mainnet
parameters in ``scripts/config-mainnet.sol``; docs https://docs.derive.xyz/liquidation-parameters.

- Solvent auction (mark-to-market > 0): a bidder buys a share f of every position and collateral at
  ``(MtM - reserved) * discount``; the discount falls linearly from ``starting`` to ``cutoff`` over the fast
  phase, then from ``cutoff`` to 0 over the slow phase. f is capped at what restores the *buffer margin*
  (maintenance pushed further by ``buffer_pct`` of MM - MtM):  f = BM / (BM - MtM * d - R * (1 - d)).
- Insolvent auction (MtM <= 0): the price is negative, the security module pays the bidder; it runs
  linearly from min(MtM, 0) down to the maintenance margin over ``insolvent_length``.

Fixed point as in the contract: 1e18 fractions (WAD); products and quotients truncate toward zero
(Solidity's signed division), including the contract's ``multiplyDecimal`` of a WAD by whole seconds.
Amounts are in whatever unit MtM and MM are given (liqnet: numeraire base units).
"""

from __future__ import annotations

from dataclasses import dataclass

WAD = 10**18


@dataclass(frozen=True, slots=True)
class AuctionParams:
    """DutchAuction.AuctionParams: WAD fractions and whole seconds."""

    starting_mtm_pct: int
    fast_cutoff_pct: int
    fast_length: int
    slow_length: int
    insolvent_length: int
    liquidator_fee_rate: int
    buffer_margin_pct: int


# scripts/config-mainnet.sol getDefaultAuctionParam: 95% -> 70% in 15 min, -> 0 in 12 h; insolvent 1 h.
MAINNET = AuctionParams(95 * WAD // 100, 70 * WAD // 100, 15 * 60, 12 * 3600, 60 * 60, WAD // 10, 15 * WAD // 100)


def buffer_margin(maintenance: int, mtm: int, buffer_pct: int) -> int:
    """``MM + (MM - MtM) * buffer_pct``: the margin a solvent auction liquidates back to."""
    return maintenance + _mul(maintenance - mtm, buffer_pct)


def discount(elapsed: int, p: AuctionParams) -> int:
    """The price factor (WAD) ``elapsed`` seconds into a solvent auction; 0 once both phases are over."""
    if elapsed < 0:
        raise ValueError(f"elapsed must be >= 0, got {elapsed}")
    if elapsed < p.fast_length:
        return p.starting_mtm_pct - (p.starting_mtm_pct - p.fast_cutoff_pct) * elapsed // p.fast_length
    if elapsed >= p.fast_length + p.slow_length:
        return 0
    slow = elapsed - p.fast_length
    return p.fast_cutoff_pct - _div(_mul(p.fast_cutoff_pct, slow), p.slow_length)


def max_proportion(mtm: int, buffer: int, discount_pct: int, reserved: int = 0, mtm_cutoff: int = 0) -> int:
    """Largest share (WAD) of the portfolio a bid may take: just enough to bring the buffer margin to 0.

    Below ``mtm_cutoff`` the whole account may go at once.
    """
    if mtm < mtm_cutoff:
        return WAD
    bm = min(buffer, 0)
    denominator = bm - _mul(mtm, discount_pct) - _mul(reserved, WAD - discount_pct)
    if denominator == 0:
        return 0
    return _div(bm, denominator)


def solvent_bid_price(mtm: int, reserved: int, discount_pct: int) -> int:
    """What a bidder pays for the whole remaining portfolio: ``(MtM - reserved cash) * discount``."""
    if reserved > mtm:
        raise ValueError("reserved cash exceeds mark-to-market (DA_ReservedCashGreaterThanMtM)")
    return _mul(mtm - reserved, discount_pct)


def insolvent_bid_price(maintenance: int, mtm: int, elapsed: int, length: int) -> int:
    """The (<= 0) price of the whole portfolio in an insolvent auction: from min(MtM, 0) down to MM."""
    if maintenance >= 0:
        return 0
    start = min(mtm, 0)
    if elapsed >= length:
        return maintenance
    return _tdiv((maintenance - start) * elapsed, length) + start


def liquidation_fee(mtm: int, buffer: int, fee_rate: int) -> int:
    """Fee to the security module when a solvent auction starts: max share at full price * |MtM| * rate."""
    return _mul(_mul(max_proportion(mtm, buffer, WAD), abs(mtm)), fee_rate)


def _mul(x: int, y: int) -> int:
    return _tdiv(x * y, WAD)


def _div(x: int, y: int) -> int:
    return _tdiv(x * WAD, y)


def _tdiv(a: int, b: int) -> int:
    """Division truncated toward zero, as Solidity's signed ``/``."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q
