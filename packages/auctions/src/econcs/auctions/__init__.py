"""econcs-auctions: differentiable auction design.

RochetNet and RegretNet (Dütting, Feng, Narasimhan, Parkes, Ravindranath, ICML 2019), GemNet (Wang,
Jiang, Parkes, EC 2024), and the classical baselines they are compared with (VCG, item-wise Myerson,
bundle Myerson, affine maximizers), with an evaluation of revenue, regret and IR violation.
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.auctions._ama import AffineMaximizer, AffineMaximizerParams
from econcs.auctions._baselines import VCG, BundleMyerson, MyersonItemwise
from econcs.auctions._evaluate import EvaluationReport, evaluate, grid_regret, plot_allocation
from econcs.auctions._gemnet import GemNet, GemNetParams, TransformResult
from econcs.auctions._mechanism import Mechanism
from econcs.auctions._regretnet import RegretNet, RegretNetParams
from econcs.auctions._rochetnet import RochetNet, RochetNetParams
from econcs.auctions._setting import KNOWN_REVENUES, PRESETS, AuctionSetting
from econcs.auctions._single_item import single_item_regret

__all__ = [
    "KNOWN_REVENUES",
    "PRESETS",
    "VCG",
    "AffineMaximizer",
    "AffineMaximizerParams",
    "AuctionSetting",
    "BundleMyerson",
    "EvaluationReport",
    "GemNet",
    "GemNetParams",
    "Mechanism",
    "MyersonItemwise",
    "RegretNet",
    "RegretNetParams",
    "RochetNet",
    "RochetNetParams",
    "TransformResult",
    "evaluate",
    "grid_regret",
    "plot_allocation",
    "single_item_regret",
]

try:
    __version__ = version("econcs-auctions")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
