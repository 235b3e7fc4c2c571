"""econcs-contracts: principal-agent reinforcement learning with contracts.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning: Orchestrating
AI Agents with Contracts" (arXiv 2407.18074).
"""

from econcs.contracts._coin_game import CoinGameEnv, coin_game_optimal_welfare
from econcs.contracts._coin_principal import (
    CoinGameParams,
    CoinGameResult,
    CoinGameTrainer,
    CoinGameTrainingResult,
)
from econcs.contracts._coin_spe import CoinGameSPE, coin_game_spe
from econcs.contracts._deep import DeepContractParams, DeepContractResult, DeepContractTrainer
from econcs.contracts._mdp import PrincipalAgentEnv, PrincipalAgentMDP, make_tree_mdp
from econcs.contracts._oneshot import (
    ContractResult,
    agent_best_response,
    minimal_contracts_two_actions,
    optimal_contract,
)
from econcs.contracts._spe import (
    ContractPolicyEvaluation,
    MetaAlgorithmParams,
    SPEResult,
    evaluate_contracts,
    meta_algorithm,
    minimal_implementing_contracts,
    solve_spe,
)
from econcs.shared.errors import ConvergenceWarning  # re-exported: the one class of econcs.shared

__all__ = [
    "CoinGameEnv",
    "CoinGameParams",
    "CoinGameResult",
    "CoinGameSPE",
    "CoinGameTrainer",
    "CoinGameTrainingResult",
    "ContractPolicyEvaluation",
    "ContractResult",
    "ConvergenceWarning",
    "DeepContractParams",
    "DeepContractResult",
    "DeepContractTrainer",
    "MetaAlgorithmParams",
    "PrincipalAgentEnv",
    "PrincipalAgentMDP",
    "SPEResult",
    "agent_best_response",
    "coin_game_optimal_welfare",
    "coin_game_spe",
    "evaluate_contracts",
    "make_tree_mdp",
    "meta_algorithm",
    "minimal_contracts_two_actions",
    "minimal_implementing_contracts",
    "optimal_contract",
    "solve_spe",
]

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("econcs-contracts")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
