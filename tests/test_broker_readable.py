"""What a network publishes is readable JSON to any MQTT client: `mosquitto_sub -v -t 'liq/v1/#'`."""

from __future__ import annotations

import asyncio
import json
import shutil

import aiomqtt

from auction import units
from auction.net.protocol_examples import house_fields, wire
from broker import messages as m
from broker import topics
from broker.house_signing import verify_payload
from broker.server import BrokerHandle
from broker.transport import connect


async def test_liq_topics_read_as_plain_json(own_broker: BrokerHandle) -> None:
    price = m.OraclePrice(asset="ETH", price_q=units.price_q(131.5), ts_ms=3_600_000)
    async with connect(own_broker.url, "readable-test") as bus:  # a fresh broker: nothing else is retained
        await bus.publish(topics.oracle("ETH"), wire(price))  # signed as the house signs; retained: any late
    lines = await _subscribe_once(own_broker)  # subscriber sees it
    topic, _, payload = lines.partition(" ")
    assert topic == "liq/v1/oracle/ETH"
    sig = json.loads(payload).pop("sig")
    assert json.loads(payload) == {"type": "oracle", "v": 1, "sig": sig, "asset": "ETH", "price_q": 131_500_000,
                                   "ts_ms": 3_600_000}
    assert len(sig) == 128 and verify_payload(payload.encode(), house_fields()["pubkey"], house_fields()["run"])


async def _subscribe_once(broker: BrokerHandle) -> str:
    """``mosquitto_sub -v`` when installed (what a user would run), else a plain aiomqtt client."""
    tool = shutil.which("mosquitto_sub")
    if tool is not None:
        proc = await asyncio.create_subprocess_exec(
            tool, "-h", "127.0.0.1", "-p", str(broker.port), "-v", "-t", "liq/v1/#", "-C", "1", "-W", "10",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        return out.decode().strip()
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="readable-sub") as client:
        await client.subscribe("liq/v1/#")
        async for message in client.messages:
            return f"{message.topic} {bytes(message.payload).decode()}"  # type: ignore[arg-type]
    raise AssertionError("no message")
