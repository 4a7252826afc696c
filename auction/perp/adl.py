"""Auto-deleveraging: who is closed first against a bankrupt position. Scores are floats (ranking only).

Three published scores, higher = deleveraged first:

- Hyperliquid: ``(mark_price / entry_price) * (notional_position / account_value)``
  (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging). Taken literally: for a short
  in profit mark/entry < 1, so the PnL factor favours the *less* profitable shorts; the docs say no more.
- Binance "LeveragePnL" (https://www.binance.com/en/support/faq/360033525471, formula as quoted on
  dev.binance.vision/t/17801): ``max(0, upnl) / max(1 USD, wallet) * margin_ratio`` with
  ``margin_ratio = maintenance / (wallet + upnl)``, 0 when that equity is <= 0.
- BitMEX/Bybit style (MEXC https://mexc.com/support/articles/360042504091, same text at Bybit, ABIT, Deepcoin):
  ``pnl% * effective_leverage`` when in profit, ``pnl% / effective_leverage`` otherwise, with
  pnl% = (mark_value - entry_value) / |entry_value| and effective leverage |mark_value| / (mark_value -
  bankrupt_value); values are signed position values (negative for shorts).

``adl_queue`` keeps only profitable positions on the side opposite the bankrupt one and orders them by
score, ties broken by account id (stable, deterministic).
"""

from __future__ import annotations

import numpy as np

from auction.units import NUM


def hyperliquid_score(
    mark: np.ndarray, entry: np.ndarray, notional: np.ndarray, account_value: np.ndarray
) -> np.ndarray:
    """``(mark / entry) * (notional / account_value)``; +inf where the account value is <= 0."""
    mark, entry, notional, av = (np.asarray(x, dtype=np.float64) for x in (mark, entry, notional, account_value))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(av > 0, (mark / entry) * (np.abs(notional) / av), np.inf)


def binance_score(upnl: np.ndarray, wallet: np.ndarray, maintenance: np.ndarray, one_usd: int = NUM) -> np.ndarray:
    """Binance LeveragePnL: ``max(0, upnl) / max(1 USD, wallet) * maintenance / (wallet + upnl)``."""
    upnl, wallet, mm = (np.asarray(x, dtype=np.float64) for x in (upnl, wallet, maintenance))
    pnl_pct = np.maximum(upnl, 0.0) / np.maximum(wallet, float(one_usd))
    eq = wallet + upnl
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_ratio = np.where(eq > 0, mm / eq, 0.0)
    return pnl_pct * margin_ratio


def pnl_leverage_score(mark_value: np.ndarray, entry_value: np.ndarray, bankrupt_value: np.ndarray) -> np.ndarray:
    """BitMEX/Bybit/MEXC ranking: pnl% * effective leverage in profit, pnl% / effective leverage in loss."""
    mv, ev, bv = (np.asarray(x, dtype=np.float64) for x in (mark_value, entry_value, bankrupt_value))
    with np.errstate(divide="ignore", invalid="ignore"):
        pnl = (mv - ev) / np.abs(ev)
        lev = np.abs(mv) / (mv - bv)
        return np.where(pnl > 0, pnl * lev, pnl / lev)


def adl_queue(
    scores: np.ndarray, sizes: np.ndarray, upnl: np.ndarray, account_ids: np.ndarray, bankrupt_size_sign: int
) -> np.ndarray:
    """Indices of profitable positions opposite the bankrupt side, highest score first, ties by account id."""
    if bankrupt_size_sign not in (1, -1):
        raise ValueError(f"bankrupt_size_sign must be 1 (long) or -1 (short), got {bankrupt_size_sign}")
    sizes, upnl, ids = np.asarray(sizes), np.asarray(upnl), np.asarray(account_ids)
    scores = np.asarray(scores, dtype=np.float64)
    cand = np.flatnonzero((np.sign(sizes) == -bankrupt_size_sign) & (upnl > 0))
    order = np.lexsort((ids[cand], -scores[cand]))  # last key is primary: score descending, then id
    return cand[order]
