"""Perpetual-futures rules as pure functions, each tested on its venue's own worked numbers.

Nothing here holds state or imports from the rest of liqnet (except ``auction.units`` and
``auction.errors``): the position book and the perp liquidation designs build on these.

- ``margin``   tiered maintenance margin (Binance/Bybit brackets, Hyperliquid tiers), dYdX v4 liquidity tiers;
- ``prices``   liquidation and bankruptcy prices (isolated and cross), equity, health;
- ``fillable`` dYdX v4 liquidation fillable price, bankruptcy quote and insurance-fund fee;
- ``funding``  premium, clamped funding rate, premium EMA and mark, zero-sum integer funding payments;
- ``adl``      auto-deleveraging scores (Hyperliquid, Binance, Bybit) and the ranked queue;
- ``waterfall`` fee -> insurance fund -> ADL or socialized loss, as ledger moves;
- ``drift``    Drift v2 liquidation fee ramp, liquidatable share over time, insurance-fund fee;
- ``derive``   Derive (Lyra v2) Dutch auction: discount over time, max fraction, insolvent phase.

Units follow ``auction.units``: numeraire base units (1e-6 USD) as int, collateral base units (1e-9
token) as int, prices ``_q`` in numeraire base units per whole token. A position size is signed
collateral base units (long > 0). Exact rules return ``fractions.Fraction`` where the venue is exact and
quantize once, in the protocol's favour.
"""
