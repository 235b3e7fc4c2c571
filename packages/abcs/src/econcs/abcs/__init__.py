"""econcs-abcs: ABCs, the CFR family, MCCFR and Boltzmann Q-learning on compiled OpenSpiel games.

Implements D'Amico-Wong, Zhang, Lanctot, Parkes, "Easy as ABCs: Unifying Boltzmann Q-Learning and
Counterfactual Regret Minimization" (arXiv 2402.11835).
"""

from econcs.abcs._abcs import ABCs
from econcs.abcs._bql import BoltzmannQLearning
from econcs.abcs._cfr import CFR, CFRResult, regret_matching
from econcs.abcs._envs import (
    CartPoleEnv,
    CartPoleLeducEnv,
    TabularMDP,
    TreeEnv,
    make_env,
    make_mdp,
    weighted_rps,
)
from econcs.abcs._exploitability import (
    best_response_values,
    exploitability,
    nash_conv,
    policy_value,
)
from econcs.abcs._game import CHANCE, TERMINAL, CompiledGame, load_game
from econcs.abcs._mccfr import MCCFR, SamplingResult
from econcs.abcs._policy import Policy

__all__ = [
    "CFR",
    "CHANCE",
    "MCCFR",
    "TERMINAL",
    "ABCs",
    "BoltzmannQLearning",
    "CFRResult",
    "CartPoleEnv",
    "CartPoleLeducEnv",
    "CompiledGame",
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
