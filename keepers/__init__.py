"""Keeper framework: write one Strategy class, test it in the simulator, run it live.

The public names a strategy author needs are exported here; see keepers/templates/my_strategy.py.
"""

from keepers.api import AuctionView, Bid, Context, Decision, Lots, ResultView, Strategy, Take, Takes
from keepers.loader import load_strategy

__all__ = ["AuctionView", "Bid", "Context", "Decision", "Lots", "ResultView", "Strategy", "Take", "Takes",
           "load_strategy"]
