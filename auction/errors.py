"""The one exception family of liqnet.

- ``Rejected``: an action refused by a mechanism, the ledger or the house. It carries a short
  machine-readable ``code`` (sent on the wire in a rejection message, listed in PROTOCOL.md) and a
  message a user understands. A rejected action never changes state.
- ``ConfigError``: a bad file, flag or scenario given by the user; the CLI prints one line and exits 2.

``Terminated`` is not an error: a SIGTERM (``kill``, ``timeout``, ``docker stop``) turned into the same unwinding
as Ctrl-C's ``KeyboardInterrupt`` where a command must clean up (``liqnet compare`` ends its workers).
"""

from __future__ import annotations


class LiqnetError(Exception):
    """Base of every error liqnet raises on purpose."""


class ConfigError(LiqnetError):
    """Bad user input: a file, a flag, a scenario. The CLI prints it as one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwound as Ctrl-C is; the CLI exits 143 (128 + SIGTERM)."""


class Rejected(LiqnetError):
    """An action refused by a rule; nothing changed. ``code`` is one of ``CODES``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# Every rejection code, with what it means. PROTOCOL.md lists the same table.
CODES: dict[str, str] = {
    "unknown-auction": "no such auction, or it is already settled",
    "auction-done": "the auction is over: nothing left to sell",
    "needs-redo": "Dutch auction must be reset (redo) before it can be taken (Clipper/needs-reset)",
    "not-redoable": "Dutch auction does not need a reset yet (Clipper/cannot-reset)",
    "too-expensive": "the current price is above the bid's max_price (Clipper/too-expensive)",
    "no-partial-purchase": "a partial take would leave dust and the tab is already at or below chost",
    "zero-price": "the price is zero: the auction must be reset",
    "bad-amount": "an amount is zero, negative, or not an integer",
    "insufficient-escrow": "the keeper's escrowed balance does not cover the action",
    "insufficient-balance": "a balance would go negative",
    "late": "the action arrived after its deadline or the auction phase closed",
    "early": "the action arrived before its phase opened",
    "wrong-phase": "the action does not belong to the auction's current phase",
    "below-reserve": "the bid is below the reserve price",
    "bid-too-low": "the bid does not beat the current bid by the minimum increment (beg)",
    "lot-too-high": "a dent must offer a smaller lot by the minimum decrement (beg)",
    "duplicate-commit": "this keeper has already committed to this auction",
    "no-commit": "a reveal without a matching commit",
    "bad-reveal": "the revealed bid does not hash to the commit",
    "not-liquidatable": "the account is healthy: nothing to liquidate",
    "over-close-factor": "the repayment exceeds the close factor",
    "bad-signature": "the Ed25519 signature does not verify",
    "unknown-key": "the public key is not registered",
    "wrong-keeper": "the key does not belong to the keeper id in the message",
    "replay": "the nonce was already used by this keeper",
    "malformed": "the message could not be decoded (bad JSON, wrong type, missing field)",
    "wrong-version": "the message's schema version is not supported",
    "oversized": "the payload exceeds the size limit",
    "rate-limited": "too many messages from this keeper in the window",
    "unknown-keeper": "no such keeper, or an id this house does not fund",
    "reserved-id": "the keeper id is reserved for the house's own accounts",
    "limit": "the keeper's own limit (exposure, balance, deadline) forbids the action",
}
