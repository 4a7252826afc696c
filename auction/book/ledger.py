"""Settlement ledger: every unit of value that moves in a liquidation moves through here.

Integer balances per (holder, asset) in base units (``auction.units``); the numeraire is ``USD``.
Holders are plain strings: ``acct:<i>`` (a borrower), ``keeper:<id>`` (a keeper's escrowed balance:
all a keeper can spend on bids), ``hold:<auction>:<id>`` (a keeper's funds locked behind a standing
bid or deposit), ``lot:<auction>`` (collateral on sale), ``protocol`` (penalties, forfeits, surplus),
``insurance`` (the fund that absorbs bad debt), ``market`` (the outside market keepers resell into)
and ``chain`` (gas paid to block producers).

Invariants, true after every operation because each operation checks everything before it moves
anything (a refused operation raises ``Rejected`` and changes nothing):
- value is conserved: per asset, the sum of balances equals ``supply`` (changed only by genesis,
  burning repaid debt, and minting unbacked incentives, each tallied);
- debt is conserved: the debt owed by accounts, by open lots (``lot:<auction>``) and written off
  (``WRITTEN_OFF``, Maker's vow ``sin``) sums to ``debt_supply`` (changed only by ``owe``, and by repayment);
- no balance is negative; a closed auction's lot can never be sold again;
- a keeper never spends more than its escrow (or its hold, for a standing bid).

Proceeds of an auction repay the confiscated debt first and only then count as penalty revenue,
as in Maker where the vow's sin is covered before surplus accrues.

The two book identities of the reports are checked, not defined: each side is counted on its own, so a
bug on either side breaks them. ``seized = sold + returned + unsold``: ``seized``, ``sold`` and ``returned``
are tallies of the operations, ``unsold`` is read from the lot's balance when the auction closes (what the
ledger still holds for it). ``debt = repaid + bad_debt``: ``debt`` is tallied at seizure, ``repaid`` at each
fill, ``bad_debt`` is read from the lot's debt account at close (what no fill repaid). ``check()`` asserts
both on every book (an open book against the live lot balance and lot debt).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from auction.errors import Rejected

USD = "USD"
WRITTEN_OFF = "written-off"  # debt holder of closed auctions' bad debt (Maker: the vow's sin)


@dataclass(slots=True)
class Book:
    """The ledger's record of one auction (or one fixed-penalty liquidation)."""

    account: str
    asset: str
    debt: int  # debt confiscated from the account, to be repaid by the proceeds
    tab: int  # what the auction may raise: debt plus penalty (informational)
    seized: int = 0
    sold: int = 0
    returned: int = 0
    raised: int = 0
    repaid: int = 0
    penalty: int = 0
    bad_debt: int = 0
    covered: int = 0  # part of the bad debt absorbed by the insurance fund
    fee_qty: int = 0  # collateral kept by the protocol (counted in sold)
    unsold: int = 0  # collateral the lot still held when the auction closed (read from its balance)
    closed: bool = False


@dataclass(slots=True)
class Totals:
    incentives: int = 0
    unbacked: int = 0  # incentives minted because the protocol surplus could not pay them (Maker `suck`)
    gas: int = 0
    forfeits: int = 0
    by_keeper: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )  # per keeper: "gas", "incentives", "forfeits", "paid" (for collateral), "proceeds" (resale)


@dataclass(slots=True)
class Ledger:
    bal: defaultdict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    supply: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    debt: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))  # owed, by holder
    debt_supply: int = 0  # all debt ever owed less all debt repaid: what ``debt`` must sum to
    books: dict[int, Book] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    holders: defaultdict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # keepers with holds

    # -- reading -------------------------------------------------------------------------------------
    def balance(self, holder: str, asset: str = USD) -> int:
        return self.bal.get((holder, asset), 0)

    def escrow(self, keeper: str) -> int:
        return self.balance(f"keeper:{keeper}")

    def held(self, auction: int, keeper: str) -> int:
        return self.balance(hold_of(auction, keeper))

    # -- genesis -------------------------------------------------------------------------------------
    def mint(self, holder: str, asset: str, amount: int) -> None:
        """Create value at setup (keeper capital, borrower collateral, market inventory)."""
        _positive(amount, allow_zero=True)
        self.bal[(holder, asset)] += amount
        self.supply[asset] += amount

    def open_account(self, account: str, collateral: dict[str, int], debt: int) -> None:
        for asset, qty in collateral.items():
            self.mint(account, asset, qty)
        self.owe(account, debt)

    def owe(self, account: str, debt: int) -> None:
        """Record ``debt`` owed by ``account`` (a position entering the ledger as it is liquidated)."""
        _positive(debt, allow_zero=True)
        self.debt[account] += debt
        self.debt_supply += debt

    # -- keeper funds --------------------------------------------------------------------------------
    def hold(self, auction: int, keeper: str, amount: int) -> None:
        """Lock ``amount`` of a keeper's escrow behind a standing bid or deposit."""
        _positive(amount, allow_zero=True)
        self._need(f"keeper:{keeper}", USD, amount, "insufficient-escrow")
        self._move(f"keeper:{keeper}", hold_of(auction, keeper), USD, amount)
        self.holders[auction].add(keeper)

    def release(self, auction: int, keeper: str) -> int:
        """Unlock everything a keeper holds in ``auction``; return the amount."""
        amount = self.held(auction, keeper)
        self._move(hold_of(auction, keeper), f"keeper:{keeper}", USD, amount)
        return amount

    def release_all(self, auction: int) -> None:
        """Unlock every hold in ``auction`` (the auction is over)."""
        for keeper in sorted(self.holders.pop(auction, ())):
            self.release(auction, keeper)

    def forfeit(self, auction: int, keeper: str, amount: int) -> None:
        """A sealed bidder that did not reveal loses its deposit to the protocol."""
        self._need(hold_of(auction, keeper), USD, amount, "insufficient-escrow")
        self._move(hold_of(auction, keeper), "protocol", USD, amount)
        self.totals.forfeits += amount
        self.totals.by_keeper[keeper]["forfeits"] += amount

    def pay_gas(self, keeper: str, amount: int) -> None:
        payer = f"keeper:{keeper}"  # paid on every action included: the key built once
        self._need(payer, USD, amount, "insufficient-escrow")
        self._move(payer, "chain", USD, amount)
        self.totals.gas += amount
        self.totals.by_keeper[keeper]["gas"] += amount

    def trade(self, keeper: str, asset: str, qty: int, proceeds: int) -> None:
        """A keeper sells ``qty`` collateral to the outside market for ``proceeds`` numeraire."""
        _positive(qty, allow_zero=True)
        _positive(proceeds, allow_zero=True)
        self._need(f"keeper:{keeper}", asset, qty, "insufficient-balance")
        self._need("market", USD, proceeds, "insufficient-balance")
        self._move(f"keeper:{keeper}", "market", asset, qty)
        self._move("market", f"keeper:{keeper}", USD, proceeds)
        self.totals.by_keeper[keeper]["proceeds"] += proceeds

    def transfer(self, src: str, dst: str, amount: int, asset: str = USD) -> None:
        """Move ``amount`` of ``asset`` between two holders (the perp book's margin, keepers, the insurance fund)."""
        _positive(amount, allow_zero=True)
        self._need(src, asset, amount, "insufficient-escrow" if src.startswith("keeper:") else "insufficient-balance")
        self._move(src, dst, asset, amount)

    # -- auctions ------------------------------------------------------------------------------------
    def seize(self, auction: int, account: str, asset: str, qty: int, debt: int, tab: int) -> Book:
        """Move ``qty`` collateral and ``debt`` from an account into a new or running auction lot."""
        _positive(qty, allow_zero=True)
        _positive(debt, allow_zero=True)
        self._need(account, asset, qty, "insufficient-balance")
        if self.debt[account] < debt:
            raise Rejected("insufficient-balance", f"{account} owes {self.debt[account]}, cannot confiscate {debt}")
        book = self.books.get(auction)
        if book is not None and (book.closed or book.account != account or book.asset != asset):
            raise Rejected("auction-done", f"auction {auction} cannot take more collateral")
        if book is None:
            book = self.books[auction] = Book(account=account, asset=asset, debt=0, tab=0)
        lot = lot_of(auction)
        self._move(account, lot, asset, qty)
        self.debt[account] -= debt
        self.debt[lot] += debt
        book.seized += qty
        book.debt += debt
        book.tab += tab
        return book

    def fill(self, auction: int, keeper: str, qty: int, cost: int, *, from_hold: bool = False) -> None:
        """Sell ``qty`` of the lot to ``keeper`` for ``cost``: repay debt first, the rest is penalty."""
        book = self._open_book(auction)
        _positive(qty, allow_zero=True)
        _positive(cost, allow_zero=True)
        lot, buyer = lot_of(auction), f"keeper:{keeper}"  # every take of every design: the keys built once
        payer = hold_of(auction, keeper) if from_hold else buyer
        self._need(lot, book.asset, qty, "auction-done")
        self._need(payer, USD, cost, "insufficient-escrow")
        self._move(lot, buyer, book.asset, qty)
        repay = min(cost, self.debt[lot])
        self._burn(payer, USD, repay)  # repaid debt leaves circulation, like DAI burned by the vow
        self.debt[lot] -= repay
        self.debt_supply -= repay
        self._move(payer, "protocol", USD, cost - repay)
        book.sold += qty
        book.raised += cost
        book.repaid += repay
        self.totals.by_keeper[keeper]["paid"] += cost
        book.penalty += cost - repay

    def fee(self, auction: int, qty: int) -> None:
        """Collateral the protocol keeps from a liquidation (Aave's liquidation protocol fee)."""
        book = self._open_book(auction)
        self._need(lot_of(auction), book.asset, qty, "insufficient-balance")
        self._move(lot_of(auction), "protocol", book.asset, qty)
        book.sold += qty
        book.fee_qty += qty

    def return_to_owner(self, auction: int, qty: int) -> None:
        book = self._open_book(auction)
        self._need(lot_of(auction), book.asset, qty, "insufficient-balance")
        self._move(lot_of(auction), book.account, book.asset, qty)
        book.returned += qty

    def close(self, auction: int) -> Book:
        """End an auction: unpaid debt becomes bad debt, absorbed by the insurance fund where it can."""
        book = self._open_book(auction)
        lot = lot_of(auction)
        book.unsold = self.balance(lot, book.asset)  # what is still held: counted apart from the tallies
        book.bad_debt = self.debt[lot]  # what no fill repaid
        self.debt[WRITTEN_OFF] += book.bad_debt
        self.debt[lot] = 0
        book.covered = min(book.bad_debt, self.balance("insurance"))
        self._burn("insurance", USD, book.covered)
        book.closed = True
        return book

    def incentive(self, keeper: str, amount: int) -> None:
        """Pay a keeper reward (Clipper tip + chip) from surplus, minting what the surplus lacks."""
        _positive(amount, allow_zero=True)
        bal, payee = self.bal, (f"keeper:{keeper}", USD)  # paid on every kick and Dutch reset: no helper calls
        from_surplus = min(amount, bal.get(("protocol", USD), 0))
        if from_surplus:
            bal[("protocol", USD)] -= from_surplus
        bal[payee] += amount  # from the surplus, and minted where the surplus lacks
        minted = amount - from_surplus
        self.supply[USD] += minted
        self.totals.incentives += amount
        self.totals.unbacked += minted
        self.totals.by_keeper[keeper]["incentives"] += amount

    # -- audit ---------------------------------------------------------------------------------------
    def check(self) -> None:
        """Assert every invariant over the whole ledger (tests and end of run; operations keep them)."""
        sums: defaultdict[str, int] = defaultdict(int)
        for (holder, asset), amount in self.bal.items():
            if amount < 0:
                raise AssertionError(f"negative balance {holder}/{asset}: {amount}")
            sums[asset] += amount
        for asset in set(sums) | set(self.supply):
            if sums[asset] != self.supply[asset]:
                raise AssertionError(f"{asset} not conserved: balances {sums[asset]} != supply {self.supply[asset]}")
        for holder, owed in self.debt.items():
            if owed < 0:
                raise AssertionError(f"negative debt {holder}: {owed}")
        owed_total = sum(self.debt.values())
        if owed_total != self.debt_supply:
            raise AssertionError(f"debt not conserved: owed {owed_total} != debt supply {self.debt_supply}")
        for auction, book in self.books.items():
            self._check_book(auction, book)

    def _check_book(self, auction: int, book: Book) -> None:
        """Both identities of the reports, each side counted on its own (see the module's docstring)."""
        lot = lot_of(auction)
        held = self.balance(lot, book.asset)
        owed = self.debt.get(lot, 0)
        unsold, bad = (book.unsold, book.bad_debt) if book.closed else (held, owed)
        if book.closed and (book.unsold != held or owed):
            raise AssertionError(f"auction {auction}: closed with {held} collateral and {owed} debt "
                                 f"in its lot, its book says unsold {book.unsold}")
        if book.seized != book.sold + book.returned + unsold:
            raise AssertionError(f"auction {auction}: seized {book.seized} != sold {book.sold} + returned "
                                 f"{book.returned} + unsold {unsold}")
        if book.debt != book.repaid + bad:
            raise AssertionError(f"auction {auction}: debt {book.debt} != repaid {book.repaid} + "
                                 f"{'bad debt' if book.closed else 'still owed'} {bad}")
        if book.repaid + book.penalty != book.raised:
            raise AssertionError(f"auction {auction}: proceeds split wrongly: repaid {book.repaid} + penalty "
                                 f"{book.penalty} != raised {book.raised}")

    def closed_books(self) -> Iterable[Book]:
        return (b for b in self.books.values() if b.closed)

    # -- internals -----------------------------------------------------------------------------------
    def _open_book(self, auction: int) -> Book:
        book = self.books.get(auction)
        if book is None:
            raise Rejected("unknown-auction", f"no auction {auction} in the ledger")
        if book.closed:
            raise Rejected("auction-done", f"auction {auction} is closed")
        return book

    def _need(self, holder: str, asset: str, amount: int, code: str) -> None:
        have = self.balance(holder, asset)
        if amount > have:
            raise Rejected(code, f"{holder} has {have} {asset}, needs {amount}")

    def _move(self, src: str, dst: str, asset: str, amount: int) -> None:
        if amount:
            self.bal[(src, asset)] -= amount
            self.bal[(dst, asset)] += amount

    def _burn(self, holder: str, asset: str, amount: int) -> None:
        if amount:
            self.bal[(holder, asset)] -= amount
            self.supply[asset] -= amount


def hold_of(auction: int, keeper: str) -> str:
    return f"hold:{auction}:{keeper}"


def lot_of(auction: int) -> str:
    return f"lot:{auction}"


def _positive(amount: int, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0 or (amount == 0 and not allow_zero):
        raise Rejected("bad-amount", f"amount must be a non-negative integer of base units, got {amount!r}")
