"""Predictive churn and multiplicity over the Rashomon set of good models.

Implements Watson-Daniels, Calmon, D'Amour, Long, Parkes, Ustun (2024), "Predictive Churn with the
Set of Good Models" (arXiv 2402.07745) on scikit-learn: empirical epsilon-Rashomon sets by
re-training, adversarial weight perturbation and exact mixed-integer programs (Marx, Calmon, Ustun
2020), the churn / ambiguity / discrepancy / expected-churn measures, uncertainty-aware models, and
datasets.
"""

from econcs.churn._awp import AWPParams, AWPResult, awp_search
from econcs.churn._data import DATASETS, Dataset, load_csv, load_dataset, make_separable
from econcs.churn._measures import (
    ChurnBound,
    Multiplicity,
    ambiguity,
    churn,
    churn_bound,
    discrepancy,
    expected_churn,
    multiplicity,
    multiplicity_from_predictions,
    pairwise_disagreement,
)
from econcs.churn._mip import MIPParams, MIPResult, mip_multiplicity
from econcs.churn._models import LinearClassifier, MLPModel, predict_many, predict_proba_many
from econcs.churn._rashomon import RashomonSet
from econcs.churn._uncertainty import (
    SelectiveChurn,
    ensemble_predict_proba,
    predict_with_abstention,
    selective_churn,
)

__all__ = [
    "DATASETS",
    "AWPParams",
    "AWPResult",
    "ChurnBound",
    "Dataset",
    "LinearClassifier",
    "MIPParams",
    "MIPResult",
    "MLPModel",
    "Multiplicity",
    "RashomonSet",
    "SelectiveChurn",
    "ambiguity",
    "awp_search",
    "churn",
    "churn_bound",
    "discrepancy",
    "ensemble_predict_proba",
    "expected_churn",
    "load_csv",
    "load_dataset",
    "make_separable",
    "mip_multiplicity",
    "multiplicity",
    "multiplicity_from_predictions",
    "pairwise_disagreement",
    "predict_many",
    "predict_proba_many",
    "predict_with_abstention",
    "selective_churn",
]

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("econcs-churn")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
