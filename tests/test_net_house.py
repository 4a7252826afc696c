"""The house process on an in-memory bus: rate limit, rejections to the keeper concerned, retained state
cleared when an auction closes, liveness, and a clean stop that keeps the journal resumable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from auction.net.house_core import HouseCore
from auction.net.house_proc import HouseOptions, HouseProcess
from auction.net.journal import Journal
from broker import messages as m
from broker import topics
from broker.bus import MemoryBus, MemoryHub
from broker.house_signing import verify_payload
from broker.signing import KeyPair
from tests.test_net_journal import spec, synthetic_world

SPEED = 36_000.0  # the synthetic world's 7 hours in 0.7 s


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait for an observable event (never a fixed sleep for readiness)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)


def online(hub: MemoryHub) -> bool:
    """The house said it is online: it publishes that once it has subscribed to the keepers' actions."""
    payload = hub.retained.get(topics.house_status())
    status = m.decode(payload) if payload else None
    return isinstance(status, m.HouseStatus) and status.online


async def test_house_process_rate_limits_rejects_and_publishes_state(tmp_path: Path) -> None:
    hub = MemoryHub()
    core = HouseCore(synthetic_world(n=20), spec(), Journal(tmp_path / "j.db"))
    house = HouseProcess(core, HouseOptions("memory://", speed=SPEED, rate=5.0, burst=5.0, wait_keepers=1),
                         bus=MemoryBus(hub, "house"))
    key = KeyPair.from_seed(b"\x05" * 32)
    seen: dict[str, list[bytes]] = {}
    async with MemoryBus(hub, f"watch-{uuid.uuid4().hex[:6]}") as watch, MemoryBus(hub, "ali") as ali:
        await watch.subscribe(topics.ALL)
        task = asyncio.create_task(house.run())
        await until(lambda: online(hub), "the house online (subscribed)")
        await ali.publish(topics.actions("ali"), m.encode(key.register("ali", 1)))
        for nonce in range(2, 22):  # a flood: 20 actions at once, 5 allowed by the bucket
            redo = key.sign(m.Redo(auction=999, keeper="ali", nonce=nonce, deadline_ms=10**9))
            await ali.publish(topics.actions("ali"), m.encode(redo))
        assert await asyncio.wait_for(task, 60) == 0  # a journal mark is fsynced per batch: slow disks
        while True:
            try:
                env = await asyncio.wait_for(anext(aiter(watch.messages())), 0.05)
            except TimeoutError:
                break
            seen.setdefault(env.topic, []).append(env.payload)
    codes = [m.decode(p).code for p in seen.get(topics.rejections("ali"), [])]  # type: ignore[union-attr]
    # The bucket (5) refills at 5/s: over it, one answer a second, the rest dropped before decoding (counted) ...
    limited, dropped = codes.count("rate-limited"), house.gate.dropped["over its rate, already answered"]
    assert 1 <= limited <= 2 and limited + dropped + codes.count("unknown-auction") == 20
    assert "unknown-auction" in codes  # ... and the admitted ones reach the house, which refuses them
    assert core.finished and core.house.sales and set(core.results) == set(core.house.sales)
    # Every auction's retained state was cleared once it closed; the clock and the oracle stay retained.
    assert not any(t.endswith("/state") for t in hub.retained)
    assert topics.clock() in hub.retained and topics.oracle("ETH") in hub.retained
    status = m.decode(hub.retained[topics.house_status()])
    assert isinstance(status, m.HouseStatus) and not status.online  # said offline on the way out
    assert core.journal is not None and core.journal.count("finish") == 1
    # Everything it published is signed by the key its status names, for its run; the empty clears carry nothing.
    assert status.pubkey == house.signer.pubkey and status.run == core.spec.run_id
    published = [p for t, ps in seen.items() if not t.endswith(("/actions", "/status")) for p in ps if p]
    assert len(published) > 100 and all(verify_payload(p, status.pubkey, status.run) for p in published)
    assert verify_payload(hub.retained[topics.house_status()], status.pubkey, status.run)
    assert not verify_payload(published[0], status.pubkey, "another-run")


async def test_a_stopped_house_resumes_from_its_journal_and_finishes(tmp_path: Path) -> None:
    hub = MemoryHub()
    path = tmp_path / "j.db"
    core = HouseCore(synthetic_world(n=20), spec(), Journal(path))
    house = HouseProcess(core, HouseOptions("memory://", speed=SPEED / 4), bus=MemoryBus(hub, "house"))
    task = asyncio.create_task(house.run())
    await until(lambda: core.house.height >= 50, "fifty blocks")
    house.stop()  # what SIGINT/SIGTERM do
    assert await asyncio.wait_for(task, 5) == 130
    stopped_at = core.now
    assert 0 < stopped_at < core.end and not core.finished
    core.journal.close()  # type: ignore[union-attr]
    again = HouseCore(synthetic_world(n=20), spec(), Journal(path))
    resumed = HouseProcess(again, HouseOptions("memory://", speed=SPEED), bus=MemoryBus(hub, "house"))
    assert await asyncio.wait_for(resumed.run(), 60) == 0
    assert again.finished and set(again.results) == set(again.house.sales)
    heights = [int(e.payload) for e in again.journal.entries() if e.kind == "block"]  # type: ignore[union-attr]
    assert heights == list(range(1, again.kernel.n_blocks + 1))  # resumed at the next block: none twice, none lost
