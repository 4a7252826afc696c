"""What the network house publishes, as bytes on topics: a batch's outputs (``sends``) and its own retained
status (``house_status``). Publishing itself, pipelined and signed, is ``HouseProcess``'s."""

from __future__ import annotations

from collections.abc import Sequence

from auction import units
from auction.net.house_clock import HouseClock
from auction.net.house_core import HouseCore
from broker import messages as m
from broker import topics

VERSION = "liqnet-house/1"


def sends(out: Sequence[m.Message]) -> list[tuple[str, bytes, bool | None]]:
    """The publishes of a batch of house outputs, in order (``topics.publications``), keeping only the last
    clock and the last price of each asset: they are current state, and an older one is replaced at once."""
    last: dict[str, int] = {}
    for i, msg in enumerate(out):
        if isinstance(msg, m.Block):
            last["clock"] = i
        elif isinstance(msg, m.OraclePrice):
            last[msg.asset] = i
    items: list[tuple[str, bytes, bool | None]] = []
    for i, msg in enumerate(out):
        key = "clock" if isinstance(msg, m.Block) else msg.asset if isinstance(msg, m.OraclePrice) else None
        if key is not None and last[key] != i:
            continue
        items += topics.publications(msg)
    return items


def house_status(core: HouseCore, timing: HouseClock, *, pubkey: str, run: str, started_ms: int,
                 online: bool) -> m.HouseStatus:
    """The house's retained status: what its run is, how late its clock runs, and the key it signs with."""
    return m.HouseStatus(online=online, version=VERSION, design=core.spec.design,
                         block_ms=units.ms(core.kernel.block_time), end_ms=units.ms(core.end), speed=timing.speed,
                         lag_ms=units.ms(timing.lag), max_lag_ms=units.ms(timing.max_lag),
                         held_ms=units.ms(timing.held), late_blocks=timing.late_blocks, native=core.world.native,
                         gas=dict(core.house.gas_units), pubkey=pubkey, run=run, started_ms=started_ms,
                         ts_ms=units.ms(core.now))
