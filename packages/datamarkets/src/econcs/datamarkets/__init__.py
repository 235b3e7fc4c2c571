"""econcs-datamarkets: revenue-optimal data markets (Ravindranath, Jiang, Parkes, NeurIPS 2023).

A seller who will learn the state of the world sells *experiments* (signalling schemes) to a buyer
with a private belief and value. This package has

- the buyer's value of an experiment, its outside option and obedience (:mod:`._market`);
- type distributions and grids, with mixtures (:mod:`._types`);
- the exact revenue-optimal menu on a finite type set, an LP on HiGHS (:func:`solve_experiment_lp`);
- a learned menu of experiments, RochetNet-style (:class:`ExperimentMenu`).
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
    "TypeGrid",
    "best_posted_price",
    "best_response_values",
    "experiment_value",
    "obedience_gap",
    "obedient_value",
    "parse_mixture",
    "prior_value",
    "solve_experiment_lp",
    "type_grid",
]
