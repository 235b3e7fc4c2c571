"""Sequential combinatorial auctions by dynamic programming and RL with first-order gradients.

Ravindranath, Feng, Wang, Zaheer, Mehta, Parkes, "Deep Reinforcement Learning for Sequential
Combinatorial Auctions" (arXiv 2407.08022). Bidders are visited in order; each is shown a menu for
the unsold items, takes its best option and pays (DSIC and IR by construction). The menus are
learned state by state with an offset RochetNet: exactly by backward induction (:func:`dp`,
:func:`dp_sym`) or by fitted policy iteration with actor and critic networks (:func:`fpi`), and
compared with the optimal item-wise and grand-bundle posted prices.

>>> from econcs.auctions.sequential import SequentialSetting, evaluate_sequential, itemwise
>>> setting = SequentialSetting(n_bidders=5, n_items=5, setting="A")
>>> round(evaluate_sequential(itemwise(setting), 100_000, seed=1).revenue, 1)
3.0
"""

from econcs.auctions.sequential._dp import DPParams, bundlewise, dp, dp_sym, itemwise
from econcs.auctions.sequential._env import (
    ActionPolicy,
    SequentialAuctionEnv,
    action_to_menu,
    observation,
)
from econcs.auctions.sequential._evaluate import SequentialReport, evaluate_sequential, rollout
from econcs.auctions.sequential._fpi import FPIParams, FPIPolicy, FPIResult, fpi
from econcs.auctions.sequential._fpi_entry import EntryFeeFPIPolicy, fpi_entry_fee
from econcs.auctions.sequential._mechanism import (
    ItemPricePolicy,
    SequentialPolicy,
    SizeTablePolicy,
    TablePolicy,
    choose_bundle,
    choose_entry_fee,
    choose_size,
    load_policy,
)
from econcs.auctions.sequential._offset_rochetnet import OffsetRochetNetParams
from econcs.auctions.sequential._ppo import PPOParams, PPOPolicy, ppo
from econcs.auctions.sequential._setting import SETTINGS, SequentialSetting

__all__ = [
    "SETTINGS",
    "ActionPolicy",
    "DPParams",
    "EntryFeeFPIPolicy",
    "FPIParams",
    "FPIPolicy",
    "FPIResult",
    "ItemPricePolicy",
    "OffsetRochetNetParams",
    "PPOParams",
    "PPOPolicy",
    "SequentialAuctionEnv",
    "SequentialPolicy",
    "SequentialReport",
    "SequentialSetting",
    "SizeTablePolicy",
    "TablePolicy",
    "action_to_menu",
    "bundlewise",
    "choose_bundle",
    "choose_entry_fee",
    "choose_size",
    "dp",
    "dp_sym",
    "evaluate_sequential",
    "fpi",
    "fpi_entry_fee",
    "itemwise",
    "load_policy",
    "observation",
    "ppo",
    "rollout",
]
