"""The scenario every fault run of the selftest plays, and the speed it plays it at."""

from __future__ import annotations

SPEED = 3600.0  # scenario seconds per wall second: the 9 h run below takes 9 s of wall time

# A steady eight-hour decline (GBM, drift -500/yr): vaults break all along the run, two kicks per block at
# most, so at any moment some auctions are settled and others open. Dutch auctions last about 1000 s (0.3 s
# of wall time at SPEED); sealed ones 600 s. Three keepers, as in the network tests.
CHAOS_SCENARIO = """
name = "chaos"
description = "a steady eight-hour decline: liquidations all along, for fault-injection runs"
seed_base = 5

[prices]
source = "gbm"
asset = "ETH"
s0 = 2000.0
mu = -500.0
sigma = 0.5
dt_s = 600.0
steps = 48

[oracle]
kind = "instant"

[gas]
source = "fixed"
gwei = 30.0

[market]
kind = "depth"
depth = 20000

[accounts]
n = 60
debt_mean = 20000.0
debt_sigma = 0.6
cr_low = 1.52
cr_high = 2.4
liquidation_ratio = 1.5

[house]
max_kicks_per_block = 2
drain_s = 3600.0

[designs.dutch]
step = 60.0
cut = 0.98
tail = 3600.0

[designs.sealed]
commit_s = 300.0
reveal_s = 300.0
deposit = 100.0

[[keepers]]
strategy = "universal"
count = 2
capital = 1000000.0
latency_s = 1.0

[[keepers]]
strategy = "dutch-threshold"
count = 1
capital = 500000.0
latency_s = 2.0
config = { margin = 0.08 }
"""
