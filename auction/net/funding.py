"""Who may register with a network house, and with what capital: the house's configuration decides, never a keeper.

Three rules, each refusing with a reason code on the keeper's rejection topic:

- **Reserved ids are never registrable** (``reserved-id``): the ledger's own accounts (``protocol``,
  ``insurance``, ``market``, ``chain``, ``written-off``), the house's keeper bot ``kicker`` (the account the house
  books kick and redo incentives to: registering it would make them spendable) and the broker users of a
  secure network (``house``, ``monitor``, ``watcher``).
- **Capital only for ids the configuration names** (``unknown-keeper``): the scenario's population and
  ``--fund ID=USD`` get their capital at their first registration; any other id is refused, and nothing is
  minted for it, unless the operator opens funding (``--open-funding USD``: each new id gets USD, at most
  ``--open-funding-ids`` of them, bounding what a farm of fresh ids can mint).
- **Capital is bound to a key the house was given** (``unknown-key`` / ``wrong-keeper``): ``--keyring FILE``
  (``<keeper id> <public key hex>`` per line) names each id's key, and only that key can register the id, so a
  squatter registering a funded id first gets nothing and the owner still gets its capital. An id the keyring
  does not name can only be bound by trust on first use, which the operator asks for: ``--tofu`` (named ids; safe
  when the broker gives each keeper its own credentials, as ``liqnet network --secure`` does) or
  ``--open-funding`` (fresh ids are trust on first use by nature).

``liqnet network`` and the selftest make every keeper's key themselves and give the house the keyring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auction.errors import Rejected
from auction.run.kernel import RESERVED_IDS

OPEN_IDS = 100  # default cap on ids funded by --open-funding


@dataclass(frozen=True, slots=True)
class Funding:
    """The funding part of a run's configuration (the journal header records it)."""

    funds: dict[str, float] = field(default_factory=dict)  # named keeper id -> USD at its first registration
    open_funding: float = 0.0  # USD for an id the configuration does not name; 0: such ids are refused
    open_ids: int = OPEN_IDS  # ids funded that way, at most
    keys: dict[str, str] = field(default_factory=dict)  # keeper id -> public key hex (the keyring)
    tofu: bool = False  # a named id the keyring does not name is bound to the first key that registers it

    def capital(self, keeper: str) -> float:
        return self.funds.get(keeper, self.open_funding)

    def check_register(self, keeper: str, funded: Mapping[str, int]) -> None:
        """Refuse a Register the configuration does not allow (before its signature is even checked).

        ``funded``: ids funded so far (a registered id may register again: a restarted keeper)."""
        if keeper in RESERVED_IDS:
            raise Rejected("reserved-id", f"keeper id {keeper!r} is reserved for the house's own accounts")
        named = keeper in self.funds
        if not named and keeper not in funded:
            if self.open_funding <= 0:
                raise Rejected("unknown-keeper", f"this house funds only the keeper ids it names, not {keeper!r}: "
                                                 "its operator names one with --fund ID=USD")
            if sum(1 for k in funded if k not in self.funds) >= self.open_ids:
                raise Rejected("unknown-keeper", f"open funding is full ({self.open_ids} ids); {keeper!r} is refused")
        if keeper not in self.keys and named and not self.tofu:
            raise Rejected("unknown-key", f"no key for keeper {keeper!r} in the house's keyring: its operator adds "
                                          "it with --keyring (or runs with --tofu)")

    def names(self) -> set[str]:
        """The ids the configuration names (funded or given a key)."""
        return (set(self.funds) | set(self.keys)) - RESERVED_IDS

    def named(self) -> set[str] | None:
        """Every id that may ever act at this house (None: any id may register, funding is open)."""
        return None if self.open_funding > 0 else self.names()

    def header(self) -> dict[str, Any]:
        return {"funds": self.funds, "open_funding": self.open_funding, "open_ids": self.open_ids,
                "keys": self.keys, "tofu": self.tofu}

    @classmethod
    def from_header(cls, h: Mapping[str, Any]) -> Funding:
        """From a journal header; one written before these rules (``default_capital``: every id funded by first
        registration) replays under the rules it was written with."""
        funds = {str(k): float(v) for k, v in dict(h.get("funds", {})).items()}
        if "open_funding" not in h and "default_capital" in h:
            return cls(funds, float(h["default_capital"]), 2**62, {}, True)
        keys = {str(k): str(v) for k, v in dict(h.get("keys", {})).items()}
        return cls(funds, float(h.get("open_funding", 0.0)), int(h.get("open_ids", OPEN_IDS)), keys,
                   bool(h.get("tofu", False)))
