"""econcs-datamarkets: revenue-optimal data markets (Ravindranath, Jiang, Parkes, NeurIPS 2023).

A seller who will learn the state of the world sells *experiments* (signalling schemes) to a buyer
with a private belief and value. This package has

- the buyer's value of an experiment, its outside option and obedience (:mod:`._market`);
- type distributions and grids, with mixtures (:mod:`._types`);
- the exact revenue-optimal menu on a finite type set, an LP on HiGHS (:func:`solve_experiment_lp`);
- a learned menu of experiments, RochetNet-style (:class:`ExperimentMenu`);
- several buyers with an externality (:class:`MultiBuyerMarket`): the exact BIC / ex post optimum
  on a finite value set (:func:`solve_multi_lp`), the ex post optimum by virtual values
  (:func:`ex_post_optimum`) and a learned mechanism, RegretNet-style (:class:`MultiBuyerMechanism`).
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.datamarkets._lp import ExperimentLPResult, best_response_values, solve_experiment_lp
from econcs.datamarkets._market import (
    DataMarket,
    best_posted_price,
    experiment_value,
    obedience_gap,
    obedient_value,
    prior_value,
)
from econcs.datamarkets._menu import ExperimentMenu, MenuEvaluation, MenuParams
from econcs.datamarkets._multi_lp import MultiLPResult, solve_multi_lp
from econcs.datamarkets._multi_market import (
    MultiBuyerMarket,
    ex_post_grid_optimum,
    ex_post_optimum,
)
from econcs.datamarkets._multi_mech import MultiBuyerMechanism, MultiEvaluation, MultiParams
from econcs.datamarkets._types import Mixture, TypeGrid, parse_mixture, type_grid

try:
    __version__ = version("econcs-datamarkets")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "DataMarket",
    "ExperimentLPResult",
    "ExperimentMenu",
    "MenuEvaluation",
    "MenuParams",
    "Mixture",
    "MultiBuyerMarket",
    "MultiBuyerMechanism",
    "MultiEvaluation",
    "MultiLPResult",
    "MultiParams",
    "TypeGrid",
    "best_posted_price",
    "best_response_values",
    "ex_post_grid_optimum",
    "ex_post_optimum",
    "experiment_value",
    "obedience_gap",
    "obedient_value",
    "parse_mixture",
    "prior_value",
    "solve_experiment_lp",
    "solve_multi_lp",
    "type_grid",
]
