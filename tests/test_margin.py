"""Detection, re-detection, volatility-adjusted margin and the liquidation queue, against brute force."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction import units
from auction.book.accounts import Accounts, generate, mm_from_ratio
from auction.book.margin import Detector, vol_adjusted_mm
from auction.book.queue import LiquidationQueue

USD = units.NUM


def maker_vault() -> Accounts:
    return Accounts(("ETH",), [[units.col(10)]], [units.num(1000)], mm_from_ratio(1.5))


class BruteForce:
    """The reference: liquidatable = active and health < 1, minus what was already reported."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.flagged = np.zeros(accounts.n, dtype=np.bool_)

    def on_prices(self, marks: np.ndarray, mm: np.ndarray | None = None) -> np.ndarray:
        under = self.accounts.active & (self.accounts.health(marks, mm) < 1.0)
        new = np.flatnonzero(under & ~self.flagged)
        self.flagged[new] = True
        return new

    def reindex(self, idx: list[int]) -> None:
        self.flagged[idx] = False


# --- detection on hand-made accounts ------------------------------------------------------------------


def test_maker_vault_flagged_one_cent_below_150() -> None:
    det = Detector(maker_vault())
    assert det.on_prices([200.0]).tolist() == []
    assert det.on_prices([150.0]).tolist() == []  # exactly at the threshold: safe
    assert det.on_prices([149.99]).tolist() == [0]
    assert det.on_prices([100.0]).tolist() == []  # already flagged
    assert det.flagged.tolist() == [0]


def test_redetection_after_drop() -> None:
    det = Detector(maker_vault())
    assert det.on_prices([140.0]).tolist() == [0]
    assert det.on_prices([160.0]).tolist() == []  # healthy again, still flagged until the house drops it
    det.reindex([0])  # the house dropped it from the queue
    assert not det.is_flagged(0)
    assert det.on_prices([155.0]).tolist() == []
    assert det.on_prices([145.0]).tolist() == [0]  # crossed again: detected again


def test_no_redetection_without_reindex() -> None:
    det = Detector(maker_vault())
    assert det.on_prices([140.0]).tolist() == [0]
    assert det.on_prices([160.0]).tolist() == []
    assert det.on_prices([140.0]).tolist() == []


def test_partial_liquidation_moves_the_threshold() -> None:
    acc = maker_vault()
    det = Detector(acc)
    assert det.on_prices([140.0]).tolist() == [0]
    # the house sells 2 ETH for 400 DAI: 8 ETH, 600 DAI -> liquidation price 600 / (8 * 2/3) = 112.5
    acc.seize(0, [units.col(2)], units.num(400))
    det.reindex([0])
    assert acc.liquidation_price(0) == pytest.approx(112.5)
    assert det.on_prices([140.0]).tolist() == []
    assert det.on_prices([112.5]).tolist() == []
    assert det.on_prices([112.49]).tolist() == [0]


def test_closed_accounts_are_not_watched() -> None:
    acc = Accounts(("ETH",), [[units.col(10)], [units.col(20)]], [units.num(1000)] * 2, mm_from_ratio(1.5))
    det = Detector(acc)
    assert det.on_prices([140.0]).tolist() == [0]
    acc.close(0)  # liquidated, then closed
    acc.close(1)  # never flagged: closed while watched
    det.reindex([0, 1])
    assert det.on_prices([1.0]).tolist() == []


def test_cross_margin_account_becoming_single_is_reindexed() -> None:
    qty = [[units.col(2), units.col(0.1)], [units.col(1), 0]]
    debt = [units.num(300), units.num(50)]
    acc = Accounts(("ETH", "BTC"), qty, debt, mm_from_ratio([1.5, 1.25]))
    det = Detector(acc, merge_at=1)  # merge on every reindex
    assert det.on_prices([100.0, 1000.0]).tolist() == [0]  # cross scan: health 0.711
    acc.seize(0, [0, units.col(0.1)], units.num(80))  # all the BTC for $80: 2 ETH, $220 left
    det.reindex([0])
    assert acc.is_single[0]
    assert acc.liquidation_price(0) == pytest.approx(220 / (2 * 2 / 3))  # 165
    assert det.on_prices([170.0, 1000.0]).tolist() == []
    assert det.on_prices([164.0, 1000.0]).tolist() == [0]
    assert det.on_prices([70.0, 1000.0]).tolist() == [1]


def test_reindexing_a_watched_account_keeps_one_entry() -> None:
    acc = Accounts(("ETH",), [[units.col(10)], [units.col(10)]], [units.num(1000)] * 2, mm_from_ratio(1.5))
    det = Detector(acc, merge_at=2)
    for _ in range(5):
        det.reindex([0])  # no change, never flagged: still one entry
    det.reindex([0, 1])  # merge
    assert det.overlay_size == 0
    assert det.on_prices([100.0]).tolist() == [0, 1]


# --- volatility-adjusted margin -------------------------------------------------------------------------


def test_vol_adjusted_mm() -> None:
    # sigma 1e-4 per sqrt(s) over one hour: 0.006; k = 3 -> 0.018 < floor 0.2; sigma 2e-3 -> 0.36 > floor
    mm = vol_adjusted_mm([0.2, 0.2], [1e-4, 2e-3], k=3.0, horizon=3600.0)
    assert mm.tolist() == pytest.approx([0.2, 3 * 2e-3 * 60])
    assert vol_adjusted_mm([0.2], [1.0], k=3.0, horizon=3600.0, cap=0.9).tolist() == [0.9]


def test_detection_under_volatility_margin() -> None:
    det = Detector(maker_vault())
    assert det.on_prices([160.0]).tolist() == []
    # volatility raises ETH's mm from 1/3 to 0.4: threshold 1000 / (10 * 0.6) = 166.67 > 160
    assert det.on_prices([160.0], mm=[0.4]).tolist() == [0]


def test_threshold_order_is_invariant_under_mm() -> None:
    # The sorted arrays are never rebuilt when mm changes: check against brute force over a mm sweep.
    acc = generate(5_000, ("ETH", "BTC"), [200.0, 8000.0], seed=5, cr_low=1.1, cr_high=4.0)
    det, ref = Detector(acc), BruteForce(acc)
    floor = acc.mm
    for s in np.linspace(0.0, 4e-3, 15):
        mm = vol_adjusted_mm(floor, [s, s / 2], k=3.0, horizon=3600.0)
        marks = np.array([180.0, 7500.0])
        assert np.array_equal(det.on_prices(marks, mm), ref.on_prices(marks, mm))
    assert ref.flagged.any()


# --- detector == brute force ------------------------------------------------------------------------------


def population(seed: int, n: int, k: int, cross: float) -> Accounts:
    assets = ("ETH", "BTC", "LINK")[:k]
    p0 = np.array([200.0, 8000.0, 3.0])[:k]
    acc = generate(
        n,
        assets,
        p0,
        seed=seed,
        cr_low=1.2,
        cr_high=3.5,
        liquidation_ratio=[1.5, 1.3, 1.75][:k],
        cross_share=cross if k > 1 else 0.0,
    )
    # edge rows: no debt, debt without collateral, empty
    edge_qty = np.zeros((3, k), dtype=np.int64)
    edge_qty[0, 0] = units.col(1)
    qty = np.concatenate([acc.qty, edge_qty])
    debt = np.concatenate([acc.debt, [0, units.num(5), 0]])
    return Accounts(assets, qty, debt, acc.mm)


def house_step(acc: Accounts, det: Detector, ref: BruteForce, rng: np.random.Generator, marks: np.ndarray) -> None:
    """What a house does between events: partial liquidations, drops, closes, then reindex."""
    flagged = np.flatnonzero(ref.flagged)
    touched: list[int] = []
    for i in rng.permutation(flagged)[: rng.integers(0, 4)]:
        i = int(i)
        action = rng.integers(0, 3)
        if action == 0:  # partial liquidation
            take = (acc.qty[i] * rng.uniform(0, 1)).astype(np.int64)
            acc.seize(i, take, int(acc.debt[i] * rng.uniform(0, 1)))
        elif action == 1 and acc.active[i]:
            acc.close(i)
        touched.append(i)  # action 2: dropped as is
    healthy = np.flatnonzero(acc.active & ~ref.flagged)
    if healthy.size and rng.random() < 0.3:  # an unflagged account changes: a withdrawal, or closed
        i = int(rng.choice(healthy))
        if rng.random() < 0.8:
            acc.seize(i, acc.qty[i] // 10, 0)
        else:
            acc.close(i)
        touched.append(i)
    det.reindex(touched)
    ref.reindex(touched)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    k=st.integers(1, 3),
    cross=st.sampled_from([0.0, 0.3, 1.0]),
    merge_at=st.integers(1, 12),
    drift=st.floats(-0.1, 0.05),
    events=st.integers(1, 25),
    vol=st.booleans(),
)
def test_detector_matches_brute_force(
    seed: int, n: int, k: int, cross: float, merge_at: int, drift: float, events: int, vol: bool
) -> None:
    acc = population(seed, n, k, cross)
    det, ref = Detector(acc, merge_at=merge_at), BruteForce(acc)
    rng = np.random.default_rng(seed)
    marks = np.array([200.0, 8000.0, 3.0])[:k]
    for _ in range(events):
        marks = marks * np.exp(drift + rng.normal(0.0, 0.08, k))
        if rng.random() < 0.3:  # land exactly on some account's liquidation price
            lp = acc.liquidation_prices()
            a = acc.single_asset()
            pick = np.flatnonzero(np.isfinite(lp) & (lp > 0) & acc.active)
            if pick.size:
                j = int(rng.choice(pick))
                marks[a[j]] = lp[j]
        mm = None
        if vol:
            mm = vol_adjusted_mm(acc.mm, rng.uniform(0, 3e-3, k), k=3.0, horizon=3600.0)
        assert np.array_equal(det.on_prices(marks, mm), ref.on_prices(marks, mm))
        house_step(acc, det, ref, rng, marks)
    assert np.array_equal(det.flagged, np.flatnonzero(ref.flagged))


def test_detector_matches_brute_force_at_100k_quickly() -> None:
    t0 = time.perf_counter()
    acc = generate(100_000, ("ETH", "BTC"), [194.5, 7900.0], seed=11, cr_low=1.55, cr_high=4.0, cross_share=0.1)
    det, ref = Detector(acc), BruteForce(acc)
    rng = np.random.default_rng(11)
    marks = np.array([194.5, 7900.0])
    total = 0
    for _ in range(40):
        marks = marks * np.exp(rng.normal(-0.012, 0.03, 2))  # a falling path with rebounds
        got = det.on_prices(marks)
        assert np.array_equal(got, ref.on_prices(marks))
        total += got.size
        house_step(acc, det, ref, rng, marks)
    assert 10_000 < total < 100_000  # the path really crosses thresholds
    assert time.perf_counter() - t0 < 2.0


# --- the liquidation queue -----------------------------------------------------------------------------


def test_queue_serves_largest_shortfall_first_ties_by_index() -> None:
    q = LiquidationQueue()
    q.push([3, 7, 2, 9], [5.0, 10.0, 10.0, 1.0])
    q.push([4, 1], [10.0, 0.5])  # ties across pushes are still ordered by index
    assert len(q) == 6 and 7 in q and 5 not in q
    assert q.peek(3).tolist() == [2, 4, 7]
    assert q.pop(2).tolist() == [2, 4]  # per-block capacity 2
    assert q.drop(3) == 1 and q.drop(3) == 0
    q.push([9], [20.0])  # re-pushed with a new priority
    assert q.pop(10).tolist() == [9, 7, 1]
    assert len(q) == 0 and q.pop(5).tolist() == []


def test_queue_with_shortfalls_from_accounts() -> None:
    acc = Accounts(
        ("ETH",),
        [[units.col(10)], [units.col(100)], [units.col(1)]],
        [units.num(1000), units.num(10_000), units.num(100)],
        mm_from_ratio(1.5),
    )
    marks = [120.0]  # all three equally under water in ratio; the largest is short by the most
    det, q = Detector(acc), LiquidationQueue()
    new = det.on_prices(marks)
    q.push(new, acc.shortfall(marks, idx=new))
    assert q.pop(3).tolist() == [1, 0, 2]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["push", "pop", "drop"]),
            st.lists(st.tuples(st.integers(0, 30), st.sampled_from([0.0, 1.0, 2.5, -3.0, 7.0])), max_size=8),
        ),
        max_size=20,
    )
)
def test_queue_matches_sorted_reference(ops: list[tuple[str, list[tuple[int, float]]]]) -> None:
    q, ref = LiquidationQueue(), {}
    for op, items in ops:
        if op == "push":
            batch = dict(items)  # one priority per account in a push
            q.push(list(batch), list(batch.values()))
            ref.update(batch)
        elif op == "drop":
            ids = [i for i, _ in items]
            assert q.drop(ids) == len(set(ids) & set(ref))
            for i in ids:
                ref.pop(i, None)
        else:
            order = sorted(ref, key=lambda i: (-ref[i], i))[: len(items)]
            assert q.pop(len(items)).tolist() == order
            for i in order:
                del ref[i]
        assert len(q) == len(ref)


@pytest.mark.parametrize("batch", [False, True])
def test_accounts_seized_whole_are_no_longer_watched(batch: bool) -> None:
    acc = generate(400, ("ETH", "BTC"), np.array([100.0, 1000.0]), seed=9, cross_share=0.3)
    det, brute = Detector(acc, merge_at=10**6), BruteForce(acc)
    marks = np.array([60.0, 600.0])
    hit = det.on_prices(marks)
    assert hit.tolist() == brute.on_prices(marks).tolist() and len(hit) > 20
    seized = hit[::2]
    for i in seized:
        acc.seize_all(int(i))
    if batch:
        det.reindex(seized)
    else:
        for i in seized:
            det.reindex([int(i)])
    assert det.overlay_size == 0  # owing nothing, they can never breach: not rescanned on every event
    brute.reindex(seized.tolist())  # the reference rescans them (health inf: never flagged)
    for low in (30.0, 10.0, 1.0):
        marks = np.array([low, low * 10])
        assert det.on_prices(marks).tolist() == brute.on_prices(marks).tolist()
