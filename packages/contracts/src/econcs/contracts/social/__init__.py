"""Social Environment Design: agents vote on the objective, a principal designs their economy.

Zhang, Zhao, Lin, ..., Parkes, "Position: Social Environment Design Should be Further Developed for
AI-based Policy-Making" (ICML 2024, arXiv 2402.14090). A round (Def. 3.1-3.4): the agents vote over
social-welfare objectives (:func:`vote`), the principal picks environment parameters ``phi`` within
a divergence budget of the last round's to maximise the elected objective, and learning agents
play the induced economy (:class:`TaxEconomy`, :class:`CommonPoolResource`, as PettingZoo
environments through :class:`EconomyEnv`; the commons-harvest gridworld :class:`HarvestGame` /
:class:`HarvestEnv` with :func:`run_sed_harvest`).
"""

from econcs.contracts.social._commons import CommonPoolResource
from econcs.contracts.social._economy_env import EconomyEnv
from econcs.contracts.social._harvest import (
    DEFAULT_LAYOUT,
    HarvestEnv,
    HarvestGame,
    harvest_optimum,
    walking_optimum,
)
from econcs.contracts.social._harvest_learners import HarvestLearnerParams, HarvestLearners
from econcs.contracts.social._harvest_sed import HarvestSEDParams, run_sed_harvest
from econcs.contracts.social._learners import AgentLearnerParams, IndependentLearners
from econcs.contracts.social._objectives import OBJECTIVES, Objective, gini, objective_value
from econcs.contracts.social._plots import plot_rounds, plot_tax_schedule
from econcs.contracts.social._principals import DesignResult, PrincipalParams, design
from econcs.contracts.social._sed_loop import SEDParams, SEDResult, run_sed
from econcs.contracts.social._tax_economy import TaxEconomy
from econcs.contracts.social._voting import (
    RANKED_RULES,
    RULES,
    VoteResult,
    condorcet_winner,
    impartial_culture,
    pairwise_margins,
    rankings_from_utilities,
    single_peaked_ballots,
    vote,
    weighted_median,
)

__all__ = [
    "DEFAULT_LAYOUT",
    "OBJECTIVES",
    "RANKED_RULES",
    "RULES",
    "AgentLearnerParams",
    "CommonPoolResource",
    "DesignResult",
    "EconomyEnv",
    "HarvestEnv",
    "HarvestGame",
    "HarvestLearnerParams",
    "HarvestLearners",
    "HarvestSEDParams",
    "IndependentLearners",
    "Objective",
    "PrincipalParams",
    "SEDParams",
    "SEDResult",
    "TaxEconomy",
    "VoteResult",
    "condorcet_winner",
    "design",
    "gini",
    "harvest_optimum",
    "impartial_culture",
    "objective_value",
    "pairwise_margins",
    "plot_rounds",
    "plot_tax_schedule",
    "rankings_from_utilities",
    "run_sed",
    "run_sed_harvest",
    "single_peaked_ballots",
    "vote",
    "walking_optimum",
    "weighted_median",
]
