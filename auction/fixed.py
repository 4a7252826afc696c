"""Fixed-penalty liquidation with Aave v3 rules: a close factor and a liquidation bonus.

Reference: aave/aave-v3-core ``contracts/protocol/libraries/logic/LiquidationLogic.sol``:

- ``_calculateDebt``: the close factor is ``DEFAULT_LIQUIDATION_CLOSE_FACTOR = 0.5e4`` (50%) while
  ``healthFactor > CLOSE_FACTOR_HF_THRESHOLD = 0.95e18``, else ``MAX_LIQUIDATION_CLOSE_FACTOR = 1e4``
  (100%); ``maxLiquidatableDebt = debt.percentMul(closeFactor)``, and a larger ``debtToCover`` is
  capped to it (not refused);
- ``_calculateAvailableCollateralToLiquidate``: ``baseCollateral = debtToCover / price`` (rounded
  down), ``maxCollateralToLiquidate = baseCollateral.percentMul(liquidationBonus)`` (10500 = 5% bonus);
  if that exceeds the account's collateral, all of it is seized and the debt repaid is recomputed as
  ``(price * collateral).percentDiv(liquidationBonus)``; the protocol takes
  ``liquidationProtocolFee`` of the bonus part, ``collateral - collateral.percentDiv(bonus)``;
- ``ValidationLogic.validateLiquidationCall``: liquidatable only while ``healthFactor < 1``.

Amounts follow Aave's integer arithmetic exactly, with our units as its decimals (numeraire 1e-6,
collateral 1e-9, the price in numeraire units per whole token): ``percentMul``/``percentDiv`` round half
up on basis points, the rest rounds down. Floats in the constructor (``bonus=0.05``,
``close_factor=0.5``, ``protocol_fee=0.1``) become basis points once. Not modelled: v3.3's dust rules
and isolation/e-mode (pass the e-mode bonus as ``bonus``).

Health covers the whole (possibly cross-margin) account, so the caller computes it: after each
liquidation the health is stale and ``liquidate`` refuses until ``update`` gives the new one (on chain
every liquidation call recomputes it). Partial liquidations can repeat while the account stays
liquidatable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auction import units
from auction.errors import Rejected
from auction.fills import Fill

PERCENTAGE_FACTOR = 10_000  # PercentageMath.sol: basis points
MAX_CLOSE_FACTOR_BPS = 10_000  # LiquidationLogic.sol MAX_LIQUIDATION_CLOSE_FACTOR = 1e4
LIQUIDATION_HEALTH = 1.0  # ValidationLogic.sol HEALTH_FACTOR_LIQUIDATION_THRESHOLD = 1e18


def percent_mul(value: int, bps: int) -> int:
    """PercentageMath.percentMul: ``(value * bps + 0.5e4) / 1e4``, half up."""
    return (value * bps + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def percent_div(value: int, bps: int) -> int:
    """PercentageMath.percentDiv: ``(value * 1e4 + bps / 2) / bps``, half up."""
    return (value * PERCENTAGE_FACTOR + bps // 2) // bps


@dataclass(frozen=True, slots=True)
class FixedFill(Fill):
    """A ``Fill`` (``qty`` = collateral to the liquidator, net of the protocol fee; ``cost`` = debt
    repaid) plus ``protocol_fee_qty``, the collateral the protocol takes from the bonus part. The
    account loses ``qty + protocol_fee_qty``."""

    protocol_fee_qty: int = 0


@dataclass(slots=True)
class FixedLiquidation:
    """One account's position in one collateral asset, liquidatable at a fixed bonus.

    ``debt`` numeraire units, ``collateral`` collateral units, ``oracle_price_q`` numeraire units per
    whole token, ``health`` the account's health factor; ``bonus`` 0.05 = Aave's 10500;
    ``close_factor`` applies while ``health > full_close_health``, 100% below or at it;
    ``protocol_fee`` is the share of the bonus collateral that goes to the protocol.
    """

    debt: int
    collateral: int
    oracle_price_q: int
    health: float
    bonus: float
    close_factor: float = 0.5
    full_close_health: float = 0.95
    protocol_fee: float = 0.0
    repaid: int = 0  # numeraire repaid so far
    seized: int = 0  # collateral to liquidators so far (net of fees)
    fees: int = 0  # collateral to the protocol so far
    liquidations: int = 0
    stale: bool = False  # health must be recomputed (``update``) after a liquidation
    bonus_bps: int = field(init=False)
    close_factor_bps: int = field(init=False)
    fee_bps: int = field(init=False)

    def __post_init__(self) -> None:
        if self.debt < 0 or self.collateral < 0:
            raise Rejected("bad-amount", f"debt and collateral must be >= 0, got {self.debt}, {self.collateral}")
        if self.oracle_price_q <= 0:
            raise Rejected("zero-price", f"the oracle price must be > 0, got {self.oracle_price_q}")
        if not (self.bonus >= 0 and 0 < self.close_factor <= 1 and 0 <= self.protocol_fee <= 1):
            raise Rejected("bad-amount", "need bonus >= 0, 0 < close_factor <= 1 and 0 <= protocol_fee <= 1")
        if math.isnan(self.health) or math.isnan(self.full_close_health):
            raise Rejected("bad-amount", "health and full_close_health must be numbers")
        self.bonus_bps = round((1 + self.bonus) * PERCENTAGE_FACTOR)
        self.close_factor_bps = round(self.close_factor * PERCENTAGE_FACTOR)
        self.fee_bps = round(self.protocol_fee * PERCENTAGE_FACTOR)

    @property
    def done(self) -> bool:
        """Nothing left to liquidate: no debt or no collateral."""
        return self.debt == 0 or self.collateral == 0

    @property
    def liquidatable(self) -> bool:
        return not self.done and self.health < LIQUIDATION_HEALTH

    def max_repay(self) -> int:
        """Largest debt one liquidation may repay (LiquidationLogic._calculateDebt)."""
        full = self.health <= self.full_close_health  # Aave: 50% only while health > 0.95
        return percent_mul(self.debt, MAX_CLOSE_FACTOR_BPS if full else self.close_factor_bps)

    def update(self, health: float, oracle_price_q: int | None = None) -> None:
        """Give the account's recomputed health (and a new oracle price) after a liquidation or a move."""
        if math.isnan(health):
            raise Rejected("bad-amount", "health must be a number")
        if oracle_price_q is not None and oracle_price_q <= 0:
            raise Rejected("zero-price", f"the oracle price must be > 0, got {oracle_price_q}")
        self.health = health
        if oracle_price_q is not None:
            self.oracle_price_q = oracle_price_q
        self.stale = False

    def liquidate(self, who: str, repay: int, now: float) -> FixedFill:
        """Repay up to ``repay`` (capped at ``max_repay``) and seize the collateral plus the bonus."""
        if self.done:
            raise Rejected("auction-done", "nothing left to liquidate on this account")
        if self.stale:
            raise Rejected("wrong-phase", "the account's health must be recomputed after the last liquidation")
        if not self.health < LIQUIDATION_HEALTH:
            raise Rejected("not-liquidatable", f"health {self.health} is not below 1")
        if repay <= 0:
            raise Rejected("bad-amount", f"repay must be > 0, got {repay}")
        qty, cost, fee = self._amounts(min(repay, self.max_repay()))
        if qty + fee == 0:
            raise Rejected("bad-amount", f"repaying {repay} seizes less than one collateral base unit")
        self.debt -= cost
        self.collateral -= qty + fee
        self.repaid += cost
        self.seized += qty
        self.fees += fee
        self.liquidations += 1
        self.stale = True
        return FixedFill(who=who, qty=qty, cost=cost, at=now, protocol_fee_qty=fee)

    def _amounts(self, debt_to_cover: int) -> tuple[int, int, int]:
        """(collateral to the liquidator, debt repaid, collateral to the protocol): Aave's
        _calculateAvailableCollateralToLiquidate, branch for branch."""
        price = self.oracle_price_q
        max_collateral = percent_mul(units.qty_for(debt_to_cover, price), self.bonus_bps)
        if max_collateral > self.collateral:
            amount = self.collateral
            debt_needed = percent_div(amount * price // units.COL, self.bonus_bps)
        else:
            amount, debt_needed = max_collateral, debt_to_cover
        fee = 0
        if self.fee_bps:
            fee = percent_mul(amount - percent_div(amount, self.bonus_bps), self.fee_bps)
        return amount - fee, debt_needed, fee
