"""What keepers publish: their retained status (unsigned, also their Last Will) and their actions, each
signed by the keeper's key (``broker.signing``) and so made of integers and ASCII strings only.
"""

from __future__ import annotations

from broker.wire_types import Amount, Digest, KeeperId, MaybeDigest, Msg, Salt, Signature, Signed64


class KeeperStatus(Msg, tag="keeper-status", frozen=True, kw_only=True):
    """Retained liveness of a keeper; its Last Will is the same message with ``online`` false."""

    keeper: KeeperId
    online: bool
    pubkey: MaybeDigest = ""
    balance: Amount = 0
    pnl: Signed64 = 0
    ts_ms: Amount



# --- keeper actions: signed, integers and ASCII strings only ---------------------------------------------


class Take(Msg, tag="take", frozen=True, kw_only=True):
    """Dutch: buy up to ``amount`` collateral units at no more than ``max_price_q`` (clip.sol take)."""

    auction: Amount
    keeper: KeeperId
    amount: Amount
    max_price_q: Amount
    nonce: Amount
    deadline_ms: Amount
    priority_fee: Amount = 0  # in 1e-3 gwei, orders actions within a block
    sig: Signature = ""


class Redo(Msg, tag="redo", frozen=True, kw_only=True):
    """Dutch: reset an auction that needs it (clip.sol redo); pays tip + chip * tab to the keeper."""

    auction: Amount
    keeper: KeeperId
    nonce: Amount
    deadline_ms: Amount
    sig: Signature = ""


class EnglishBid(Msg, tag="english-bid", frozen=True, kw_only=True):
    """English: a tend (lot == current lot, bid rises) or a dent (bid == tab, lot falls), flip.sol."""

    auction: Amount
    keeper: KeeperId
    lot: Amount
    bid: Amount
    nonce: Amount
    deadline_ms: Amount
    sig: Signature = ""


class Commit(Msg, tag="commit", frozen=True, kw_only=True):
    """Sealed: the hash of a bid (see ``commit_digest``) and its deposit, during the commit phase."""

    auction: Amount
    keeper: KeeperId
    digest: Digest
    deposit: Amount
    nonce: Amount
    sig: Signature = ""


class Reveal(Msg, tag="reveal", frozen=True, kw_only=True):
    """Sealed: the bid behind a commit, during the reveal phase."""

    auction: Amount
    keeper: KeeperId
    price_q: Amount
    qty: Amount
    salt: Salt
    nonce: Amount
    sig: Signature = ""


class Liquidate(Msg, tag="liquidate", frozen=True, kw_only=True):
    """Fixed: repay ``repay`` numeraire units of the debt and seize collateral plus bonus."""

    auction: Amount
    keeper: KeeperId
    repay: Amount
    priority_fee: Amount = 0  # in 1e-3 gwei
    nonce: Amount
    deadline_ms: Amount
    sig: Signature = ""


class Register(Msg, tag="register", frozen=True, kw_only=True):
    """Binds ``pubkey`` to ``keeper``; signed by that very key (proof of possession)."""

    keeper: KeeperId
    pubkey: Digest
    nonce: Amount
    sig: Signature = ""
