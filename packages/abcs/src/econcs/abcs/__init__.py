"""econcs-abcs: ABCs, the CFR family, MCCFR and Boltzmann Q-learning on compiled OpenSpiel games.

Implements D'Amico-Wong, Zhang, Lanctot, Parkes, "Easy as ABCs: Unifying Boltzmann Q-Learning and
Counterfactual Regret Minimization" (arXiv 2402.11835).
"""

from econcs.abcs._abcs import ABCs, ABCsParams
from econcs.abcs._bql import BoltzmannQLearning, BQLParams
from econcs.abcs._cartpole import CartPoleEnv
from econcs.abcs._cartpole_leduc import CartPoleLeducEnv
from econcs.abcs._cfr import CFR, CFRParams, CFRResult
from econcs.abcs._env_tools import make_env
from econcs.abcs._exploitability import (
    best_response_values,
    exploitability,
    nash_conv,
    policy_value,
)
from econcs.abcs._game import CHANCE, TERMINAL, CompiledGame, load_game
from econcs.abcs._mccfr import MCCFR, MCCFRParams
from econcs.abcs._policy import Policy
from econcs.abcs._regret import regret_matching
from econcs.abcs._sampling import SamplingResult
from econcs.abcs._tabular_mdp import TabularMDP, make_mdp
from econcs.abcs._tree_env import TreeEnv
from econcs.abcs._weighted_rps import weighted_rps

__all__ = [
    "CFR",
    "CHANCE",
    "MCCFR",
    "TERMINAL",
    "ABCs",
    "ABCsParams",
    "BQLParams",
    "BoltzmannQLearning",
    "CFRParams",
    "CFRResult",
    "CartPoleEnv",
    "CartPoleLeducEnv",
    "CompiledGame",
    "MCCFRParams",
    "Policy",
    "SamplingResult",
    "TabularMDP",
    "TreeEnv",
    "best_response_values",
    "exploitability",
    "load_game",
    "make_env",
    "make_mdp",
    "nash_conv",
    "policy_value",
    "regret_matching",
    "weighted_rps",
]

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("econcs-abcs")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
