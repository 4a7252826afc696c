#!/usr/bin/env python3
"""A complete external keeper in plain Python (standard library only): copy it to any language.

liqnet starts this program and talks to it in JSON lines: one request per line on stdin, exactly one
reply per line on stdout (echo "seq"). Run it as a strategy with:

    liqnet strategy-test --strategy "exec:python3 keepers/templates/external_keeper.py"

It takes Dutch lots once the price is `margin` under the market and bids `margin` under the market in
sealed and English auctions. The config given to the strategy arrives in the "start" request.
Write logs to stderr: stdout is the protocol.
"""

import json
import sys
from typing import Any


def decide(auction: dict[str, Any], ctx: dict[str, Any], margin: float) -> dict[str, Any]:
    market = ctx.get("market_price")
    if not market or auction["lot"] <= 0:
        return {}
    limit = market * (1.0 - margin)
    design = auction["design"]
    if design in ("dutch", "english", "fixed"):
        return {"take": {"max_price": limit, "max_qty": auction["lot"]}}
    if design.startswith("sealed"):
        reserve = auction["terms"].get("reserve") or 0.0
        return {"bid": {"price": limit, "qty": auction["lot"]}} if limit >= reserve else {}
    return {}


def main() -> None:
    margin = 0.05
    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, Any] = {"seq": request.get("seq")}
        kind = request.get("type")
        if kind == "start":
            margin = float(request.get("config", {}).get("margin", margin))
        elif kind == "auction":
            reply.update(decide(request["auction"], request["ctx"], margin))
        elif kind == "result" and request["result"]["won"]:
            print(f"won auction {request['result']['id']}", file=sys.stderr)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if kind == "stop":
            break


if __name__ == "__main__":
    main()
