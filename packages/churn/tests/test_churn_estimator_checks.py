"""scikit-learn's estimator contract for RashomonSet (``parametrize_with_checks``)."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from econcs.churn import RashomonSet


@parametrize_with_checks([
    RashomonSet(LogisticRegression(), n_models=3, random_state=0),
    RashomonSet(DecisionTreeClassifier(max_depth=3), n_models=3,
                perturbation=("seed", "bootstrap", "hyper"), random_state=0),
])
def test_sklearn_contract(estimator, check):
    check(estimator)
