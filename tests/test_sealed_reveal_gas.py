"""A sealed pair (commit, then reveal) holds its reveal's gas with its bid, in the vault sealed designs as in
perp-sealed (``auction.designs.sealed.commit_then_reveal``, shared by both).

Held apart, each pair's reveal gas went to the next commit, sized to the whole budget, and the house rejected
the last reveals of a phase as short of escrow by the reveal gas of the pairs before them, forfeiting the
deposit. What is left after the fix is the gas price moving between commit and reveal (README, Sealed).
"""

from __future__ import annotations

import pytest

from auction import units
from auction.designs import REGISTRY
from auction.designs.sealed import SealedTerms
from broker import messages as m
from keepers.agent import KeeperAgent, Policy
from tests.test_perp_sealed_adl import Everything, Flat


def announce(auction: int, design: str, lot_eth: float) -> m.Announce:
    q = 2000 * units.NUM
    terms = SealedTerms(commit_end_ms=600_000, reveal_end_ms=900_000, reserve_q=0, deposit=100 * units.NUM,
                        second_price=design == "sealed-second")
    return m.Announce(auction=auction, design=design, asset="ETH", lot=units.col(lot_eth), tab=units.num(1e9),
                      owner="acct:1", start_ms=0, oracle_q=q, terms=terms)


@pytest.mark.parametrize("design", ["sealed-first", "sealed-second"])
@pytest.mark.parametrize("first_eth", [10.0, 30.0])
def test_a_vault_sealed_pair_holds_its_reveal_gas_so_no_later_bid_spends_it(design: str, first_eth: float) -> None:
    """Two bids, the second sized to what the first left: after both pairs' gas is paid the keeper still has
    what both reveals escrow (the house tops each hold up to the bid's cost at reveal, PROTOCOL.md section 7)."""
    a = KeeperAgent("k1", Everything(), units.num(100_000.0), designs=REGISTRY, market=Flat(),
                    policy=Policy(), gas=lambda t: 100.0)
    commit_a, reveal_a = a.on_message(announce(1, design, first_eth), 0.0)
    assert a.release(commit_a, 0.0) is not None
    commit_b, reveal_b = a.on_message(announce(2, design, 100.0), 1.0)
    assert a.release(commit_b, 1.0) is not None
    bid_b = reveal_b.action
    assert isinstance(bid_b, m.Reveal) and bid_b.qty < units.col(100.0)  # sized to the rest of the budget
    cost_a, cost_b = (units.cost(o.action.qty, o.action.price_q) for o in (reveal_a, reveal_b))  # type: ignore[union-attr]
    assert a.release(reveal_a, 600.0) is not None
    assert a.wallet.cash >= cost_a + 100 * units.NUM  # A's price and B's deposit
    assert a.release(reveal_b, 600.0) is not None
    assert a.wallet.cash >= cost_a + cost_b  # and then both prices
