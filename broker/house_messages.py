"""What the house publishes: auctions (announce, state, result), the oracle and the clock, receipts (ack,
rejection), keepers' accounts and its own status. Each is signed by the house (``sig``, ``broker.house_signing``).

Mutable defaults (``[]``, ``{}``) are safe on msgspec Structs, which copy them per instance; ruff cannot see
that these classes are Structs across modules, hence the ``noqa: RUF012`` on them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from broker.wire_terms import Terms
from broker.wire_types import (
    MAX_FILLS,
    Amount,
    AssetId,
    Code,
    DesignName,
    HolderId,
    KeeperId,
    MaybeDigest,
    MaybeKeeperId,
    Msg,
    Ratio,
    RunId,
    Signature,
    Status,
    Text,
    Wire,
)

GasName = Annotated[str, Meta(pattern=r"\A[a-z][a-z-]{0,31}\Z")]
"""A kind of gas charge in ``HouseStatus.gas`` (keys of the gas table)."""


class _HouseMsg(Msg, frozen=True, kw_only=True):
    """What the house publishes: ``sig``, its third key, is the house's signature over the payload as sent
    (``broker.house_signing``; empty until the house signs the encoded bytes)."""

    sig: Signature = ""


class Announce(_HouseMsg, tag="announce", frozen=True, kw_only=True):
    """A new auction (event, not retained). ``State`` carries the same terms for late joiners."""

    auction: Amount
    design: DesignName
    asset: AssetId
    lot: Amount  # collateral units for sale
    tab: Amount  # numeraire units to raise (debt + penalty)
    owner: HolderId
    start_ms: Amount
    oracle_q: Amount
    terms: Terms


class State(_HouseMsg, tag="state", frozen=True, kw_only=True):
    """Current state of one auction (retained); ``seq`` increases with every change."""

    auction: Amount
    seq: Amount
    status: Status
    design: DesignName
    asset: AssetId
    owner: HolderId
    lot: Amount
    tab: Amount
    start_ms: Amount  # Dutch: start of the current price curve (clip.sol tic), moved by a redo
    top_q: Amount  # Dutch: top of the current curve; 0 for other designs
    bid: Amount = 0  # English: current bid (numeraire units)
    guy: MaybeKeeperId = ""  # English: current high bidder, "" when none
    tic_ms: Amount = 0  # English: current bid expires at tic_ms (0 when no bid)
    phase: Literal["", "commit", "reveal", "closed"] = ""  # sealed designs only
    terms: Terms
    ts_ms: Amount


class FillMsg(Wire, frozen=True, kw_only=True):
    """One keeper's purchase in a Result."""

    keeper: KeeperId
    qty: Amount  # collateral units received
    cost: Amount  # numeraire units paid


class Result(_HouseMsg, tag="result", frozen=True, kw_only=True):
    """An auction's outcome (event). ``returned`` collateral went back to the owner."""

    auction: Amount
    design: DesignName
    fills: Annotated[list[FillMsg], Meta(max_length=MAX_FILLS)]
    returned: Amount
    bad_debt: Amount
    revenue: Amount  # numeraire units raised in total
    clearing_q: Amount = 0  # sealed: the uniform clearing price; 0 where it does not apply
    forfeited: Annotated[list[KeeperId], Meta(max_length=MAX_FILLS)] = []  # noqa: RUF012 - sealed: deposits lost
    ts_ms: Amount


class OraclePrice(_HouseMsg, tag="oracle", frozen=True, kw_only=True):
    """The price the protocol's oracle reports for one asset (retained); it moves top_q and health."""

    asset: AssetId
    price_q: Amount
    ts_ms: Amount


class Block(_HouseMsg, tag="block", frozen=True, kw_only=True):
    """A new block (retained): the house includes waiting actions at each block."""

    height: Amount
    ts_ms: Amount
    gas_gwei_milli: Amount  # base gas price in 1e-3 gwei
    native_q: Amount = 0  # price of the token gas is paid in (house-status ``native``), per whole token


class Rejection(_HouseMsg, tag="rejection", frozen=True, kw_only=True):
    """Sent to the keeper whose action was refused; ``ref`` is that action's nonce."""

    keeper: KeeperId
    ref: Amount
    code: Code  # one of auction.errors.CODES; accept unknown codes as a plain refusal
    text: Text
    ts_ms: Amount


class Ack(_HouseMsg, tag="ack", frozen=True, kw_only=True):
    """Sent to the keeper whose action the house accepted; ``ref`` is that action's nonce."""

    keeper: KeeperId
    ref: Amount
    auction: Amount = 0  # the auction the action applied to; 0 for a register
    height: Amount  # the block that included it (a register: the house's latest block)
    ts_ms: Amount


class Account(_HouseMsg, tag="account", frozen=True, kw_only=True):
    """A keeper's money at the house (retained): published after every batch that changed it."""

    keeper: KeeperId
    funded: Amount  # numeraire units granted at registration
    balance: Amount  # free escrow: what bids, deposits and gas can spend
    held: Amount  # locked behind standing bids, sealed deposits and revealed bids
    gas_paid: Amount  # gas paid so far (accepted and refused actions alike)
    height: Amount  # the house's latest block
    ts_ms: Amount


class HouseStatus(_HouseMsg, tag="house-status", frozen=True, kw_only=True):
    """Retained liveness of the auction house and what its run is (its Last Will has ``online`` false)."""

    online: bool
    version: Annotated[str, Meta(max_length=64)] = ""
    design: Annotated[str, Meta(pattern=r"\A(?:[a-z][a-z0-9-]{0,31})?\Z")] = ""  # "" in the Last Will
    block_ms: Amount = 0  # scenario ms between blocks
    end_ms: Amount = 0  # scenario time of the last block: the books close there
    speed: Ratio = 0.0  # scenario seconds per wall second
    lag_ms: Amount = 0  # scenario ms the latest block was applied after its time
    max_lag_ms: Amount = 0  # the largest lag_ms of the run so far
    late_blocks: Amount = 0  # blocks applied more than one block after their time, so far
    held_ms: Amount = 0  # scenario ms the house held its clock back after falling behind (no catch-up burst)
    native: Annotated[str, Meta(pattern=r"\A[A-Za-z0-9_.-]{0,32}\Z")] = ""  # the token gas is paid in
    gas: Annotated[dict[GasName, Amount], Meta(max_length=32)] = {}  # noqa: RUF012
    pubkey: MaybeDigest = ""  # the house's Ed25519 key: this status, and every house message, is signed by it
    run: RunId = ""  # the run every house message is signed for (broker.house_signing)
    started_ms: Amount = 0  # wall-clock ms (Unix) this house process started: a later life replaces the run
    ts_ms: Amount
