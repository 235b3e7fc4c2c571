"""RashomonSet: membership, the retrain perturbations, warm starts, vectorised scoring, errors."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import scale

from econcs.churn import (
    AWPParams,
    LinearClassifier,
    MIPParams,
    RashomonSet,
    load_dataset,
    predict_many,
    predict_proba_many,
)


@pytest.fixture(scope="module")
def wine():
    X, y = load_dataset("wine")
    return scale(X), y


def test_members_are_within_epsilon(wine):
    X, y = wine
    rs = RashomonSet(epsilon=0.02, n_models=30, perturbation=("bootstrap", "hyper"),
                     random_state=0).fit(X, y)
    errors = np.array([np.mean(m.predict(X) != y) for m in rs.candidates_])
    assert_allclose(rs.candidate_losses_, errors, atol=1e-12)
    assert_allclose(rs.baseline_loss_, np.mean(rs.baseline_.predict(X) != y))
    keep = errors <= rs.baseline_loss_ + 0.02 + 1e-12
    assert len(rs.models_) == keep.sum() and np.all(rs.losses_ <= rs.baseline_loss_ + 0.02 + 1e-12)
    assert_allclose(rs.predict(X), rs.baseline_.predict(X))
    assert_allclose(rs.predict_proba(X), rs.baseline_.predict_proba(X))


def test_log_loss_metric(wine):
    X, y = wine
    rs = RashomonSet(epsilon=0.05, n_models=10, metric="log_loss", random_state=1).fit(X, y)
    from sklearn.metrics import log_loss

    want = [log_loss(y, m.predict_proba(X), labels=rs.classes_) for m in rs.candidates_]
    assert_allclose(rs.candidate_losses_, want, rtol=1e-9)


def test_warm_start_is_exact_for_logistic(wine):
    X, y = wine
    kw = dict(epsilon=0.05, n_models=8, perturbation="bootstrap", random_state=3)
    warm = RashomonSet(LogisticRegression(tol=1e-10, max_iter=5000), warm_start=True, **kw)
    cold = RashomonSet(LogisticRegression(tol=1e-10, max_iter=5000), warm_start=False, **kw)
    warm.fit(X, y)
    cold.fit(X, y)
    for a, b in zip(warm.candidates_, cold.candidates_):  # same bootstrap rows, convex optimum
        assert_allclose(a.coef_, b.coef_, atol=1e-4)


def test_seed_perturbation_changes_nonconvex_models(wine):
    X, y = wine
    rs = RashomonSet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2000), n_models=3,
                     perturbation="seed", epsilon=0.2, random_state=0).fit(X, y)
    seeds = {m.random_state for m in rs.candidates_}
    assert len(seeds) == 3
    assert not np.allclose(rs.candidates_[0].coefs_[0], rs.candidates_[1].coefs_[0])


def test_hyper_perturbation_range(wine):
    X, y = wine
    rs = RashomonSet(LogisticRegression(C=1.0), n_models=20, perturbation="hyper",
                     hyper_scale=4.0, random_state=0).fit(X, y)
    Cs = np.array([m.C for m in rs.candidates_])
    assert np.all((Cs >= 0.25) & (Cs <= 4.0)) and Cs.std() > 0


def test_vectorised_scoring_matches_loop(wine):
    X, y = wine
    rs = RashomonSet(n_models=5, random_state=0).fit(X, y)
    loop = np.stack([m.predict(X) for m in rs.candidates_])
    assert np.array_equal(predict_many(rs.candidates_, X), loop)
    proba = np.stack([m.predict_proba(X) for m in rs.candidates_])
    assert_allclose(predict_proba_many(rs.candidates_, X), proba, atol=1e-10)
    mlps = [MLPClassifier(hidden_layer_sizes=(3,), max_iter=3000, random_state=s).fit(X, y)
            for s in range(2)]
    assert np.array_equal(predict_many(mlps, X), np.stack([m.predict(X) for m in mlps]))
    assert_allclose(predict_proba_many(mlps, X), np.stack([m.predict_proba(X) for m in mlps]),
                    atol=1e-10)
    lin = LinearClassifier(rs.baseline_.coef_, rs.baseline_.intercept_, rs.classes_)
    assert np.array_equal(lin.predict(X), rs.baseline_.predict(X))


def test_multiclass_and_gbt():
    X, y = load_dataset("digits", n_samples=300, seed=0)
    from sklearn.datasets import load_iris

    Xi, yi = load_iris(return_X_y=True)
    rs = RashomonSet(n_models=5, epsilon=0.05, random_state=0).fit(scale(Xi), yi)
    assert rs.predict_members(scale(Xi)).shape == (len(rs.models_), 150)
    gbt = HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=4, early_stopping=False)
    rs = RashomonSet(gbt, n_models=3, epsilon=0.05, random_state=0).fit(X, y)
    assert len(rs.candidates_) == 3


def test_random_state_reproducible(wine):
    X, y = wine
    a = RashomonSet(n_models=5, perturbation=("bootstrap", "hyper"), random_state=7).fit(X, y)
    b = RashomonSet(n_models=5, perturbation=("bootstrap", "hyper"), random_state=7).fit(X, y)
    assert_allclose(a.candidate_losses_, b.candidate_losses_)
    assert_allclose(a.candidates_[2].coef_, b.candidates_[2].coef_)


class _NoPredict:
    def fit(self, X, y):
        return self

    def get_params(self, deep=True):
        return {}


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"epsilon": -0.1}, ValueError, "epsilon"),
    ({"epsilon": float("nan")}, ValueError, "epsilon"),
    ({"n_models": 0}, ValueError, "n_models"),
    ({"n_models": 2.5}, TypeError, "n_models"),
    ({"method": "dropout"}, ValueError, "method"),
    ({"metric": "auc"}, ValueError, "metric"),
    ({"perturbation": ("seed", "noise")}, ValueError, "perturbation"),
    ({"hyper_scale": 0.5}, ValueError, "hyper_scale"),
    ({"method": "mip", "metric": "log_loss"}, ValueError, "metric"),
    ({"method": "awp", "method_params": {"steps": 3}}, ValueError, "method_params"),
    ({"method": "awp", "method_params": MIPParams()}, TypeError, "AWPParams"),
    ({"method_params": AWPParams()}, TypeError, "method_params"),
    ({"method": "awp", "method_params": [("max_iter", 3)]}, TypeError, "method_params"),
    ({"estimator": _NoPredict()}, TypeError, "estimator"),
])
def test_bad_parameters(wine, kwargs, exc, match):
    X, y = wine
    with pytest.raises(exc, match=match):
        RashomonSet(**kwargs).fit(X, y)


def test_bad_data(wine):
    X, y = wine
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X"):
        RashomonSet(n_models=2).fit(bad, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="X"):
        RashomonSet(n_models=2).fit(bad, y)
    with pytest.raises(ValueError, match="X and y"):
        RashomonSet(n_models=2).fit(X, y[:-1])
    with pytest.raises(ValueError, match="y: expected at least two classes"):
        RashomonSet(n_models=2).fit(X, np.ones(len(y)))
    with pytest.raises(ValueError, match="two classes"):
        RashomonSet(n_models=2, method="awp").fit(X, np.arange(len(y)) % 3)
    with pytest.raises(TypeError, match="linear"):
        RashomonSet(HistGradientBoostingClassifier(), n_models=2, method="mip").fit(X, y)
    rs = RashomonSet(n_models=2, method="awp", method_params={"max_iter": 2}).fit(X, y)
    with pytest.raises(ValueError, match="epsilon"):
        rs.members_mask(0.5)


def test_method_params_object_equals_dict(wine):
    X, y = wine
    kw = dict(n_models=6, method="awp", epsilon=0.03, random_state=0)
    a = RashomonSet(method_params=AWPParams(max_iter=20, lr=0.1), **kw).fit(X, y)
    b = RashomonSet(method_params={"max_iter": 20, "lr": 0.1}, **kw).fit(X, y)
    assert_array_equal(a.search_.flippable, b.search_.flippable)
    assert_array_equal(a.losses_, b.losses_)
