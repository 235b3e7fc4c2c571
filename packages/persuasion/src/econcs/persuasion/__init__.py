"""econcs-persuasion: multi-sender Bayesian persuasion (Hossain, Wang, Lin, Chen, Parkes, Xu,
"Multi-Sender Persuasion: A Computational Perspective", ICML 2024, arXiv 2402.04971).

- the game and its exact utilities, vectorised over joint signals and batched over profiles
  (:class:`PersuasionGame`, :func:`receiver_best_response`, :func:`sender_utilities`);
- the single-sender optimum by the obedience LP (:func:`optimal_scheme`), the no-information
  and full-revelation benchmarks;
- one sender's exact best response (MILP on HiGHS, or enumeration) and the exact NE gap;
- instance generators (random families, prosecutors, advocates, product recommendation);
- utility networks, extra-gradient to certified local equilibria, utility landscapes.
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.persuasion._best_response import (
    MAX_BINARIES,
    MAX_ENUMERATION,
    BestResponseResult,
    NEGapResult,
    best_response,
    exact_ne_gap,
)
from econcs.persuasion._equilibrium import (
    EquilibriumParams,
    EquilibriumResult,
    extragradient_equilibria,
    local_ne_gap,
)
from econcs.persuasion._game import (
    TIE_BREAKS,
    PersuasionGame,
    check_schemes,
    joint_signal_probabilities,
    receiver_best_response,
    sender_utilities,
)
from econcs.persuasion._instances import (
    RANDOM_FAMILIES,
    STRUCTURED_FAMILIES,
    advocates_game,
    make_game,
    product_recommendation_game,
    prosecutor_game,
    random_game,
)
from econcs.persuasion._networks import (
    NETWORKS,
    UtilityNetwork,
    count_parameters,
    hidden_for_budget,
)
from econcs.persuasion._plots import Landscape, plot_landscape, utility_landscape
from econcs.persuasion._single import (
    SingleSenderResult,
    full_revelation_profile,
    full_revelation_utilities,
    no_information_utilities,
    optimal_scheme,
)
from econcs.persuasion._utility_fit import (
    UtilityFitParams,
    UtilityFitResult,
    fit_utility_network,
    sample_profiles,
)

try:
    __version__ = version("econcs-persuasion")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "MAX_BINARIES",
    "MAX_ENUMERATION",
    "NETWORKS",
    "RANDOM_FAMILIES",
    "STRUCTURED_FAMILIES",
    "TIE_BREAKS",
    "BestResponseResult",
    "EquilibriumParams",
    "EquilibriumResult",
    "Landscape",
    "NEGapResult",
    "PersuasionGame",
    "SingleSenderResult",
    "UtilityFitParams",
    "UtilityFitResult",
    "UtilityNetwork",
    "advocates_game",
    "best_response",
    "check_schemes",
    "count_parameters",
    "exact_ne_gap",
    "extragradient_equilibria",
    "fit_utility_network",
    "full_revelation_profile",
    "full_revelation_utilities",
    "hidden_for_budget",
    "joint_signal_probabilities",
    "local_ne_gap",
    "make_game",
    "no_information_utilities",
    "optimal_scheme",
    "plot_landscape",
    "product_recommendation_game",
    "prosecutor_game",
    "random_game",
    "receiver_best_response",
    "sample_profiles",
    "sender_utilities",
    "utility_landscape",
]
