"""Churn and multiplicity measures against hand-computed values and the paper's bound."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from econcs.churn import (
    RashomonSet,
    ambiguity,
    churn,
    churn_bound,
    discrepancy,
    expected_churn,
    load_dataset,
    make_separable,
    multiplicity,
    multiplicity_from_predictions,
    pairwise_disagreement,
)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_dataset("breast_cancer")
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    sc = StandardScaler().fit(X[~test])
    return sc.transform(X[~test]), y[~test], sc.transform(X[test]), y[test]


@pytest.fixture(scope="module")
def cancer_set(cancer):
    X, y, _, _ = cancer
    return RashomonSet(epsilon=0.02, n_models=60, perturbation=("bootstrap", "hyper"),
                       random_state=0).fit(X, y)


def test_multiplicity_hand_computed():
    p0 = np.array([0, 0, 1, 1])
    P = np.array([[0, 0, 1, 1],   # churn 0
                  [1, 0, 1, 1],   # churn 1/4
                  [1, 1, 1, 0]])  # churn 3/4
    m = multiplicity_from_predictions(p0, P)
    assert_allclose(m.ambiguity, 0.75)
    assert_allclose(m.discrepancy, 0.75)
    assert_allclose(m.expected_churn, (0 + 0.25 + 0.75) / 3)
    # pairwise churn: (0,1) 1/4, (0,2) 3/4, (1,2) 2/4 -> mean 1/2
    assert_allclose(m.pairwise_disagreement, 0.5)
    assert m.ambiguous.tolist() == [True, True, False, True]
    empty = multiplicity_from_predictions(p0, np.empty((0, 4), dtype=int))
    assert (empty.ambiguity, empty.discrepancy, empty.expected_churn) == (0.0, 0.0, 0.0)


def test_pairwise_disagreement_multiclass_matches_loop():
    rng = np.random.default_rng(1)
    P = rng.integers(0, 3, size=(7, 50))
    loop = np.mean([np.mean(P[i] != P[j]) for i in range(7) for j in range(7) if i != j])
    assert_allclose(multiplicity_from_predictions(P[0], P).pairwise_disagreement, loop,
                    rtol=1e-12)


def test_churn_self_zero_and_symmetric(cancer):
    X, y, Xt, _ = cancer
    a = LogisticRegression().fit(X, y)
    b = LogisticRegression(C=0.01).fit(X[::2], y[::2])
    assert churn(a, a, Xt) == 0.0
    assert churn(a, b, Xt) == churn(b, a, Xt)
    assert_allclose(churn(a, b, Xt), np.mean(a.predict(Xt) != b.predict(Xt)))
    assert churn(a, b, Xt) > 0  # C=0.01 on half the data does move some test labels


def test_measures_agree_with_explicit_loop(cancer_set, cancer):
    _, _, Xt, _ = cancer
    rs = cancer_set
    p0 = rs.baseline_.predict(Xt)
    per = np.array([np.mean(m.predict(Xt) != p0) for m in rs.models_])
    assert len(per) > 5
    assert_allclose(discrepancy(rs, Xt), per.max())
    assert_allclose(expected_churn(rs, Xt), per.mean())
    flips = np.any([m.predict(Xt) != p0 for m in rs.models_], axis=0)
    assert_allclose(ambiguity(rs, Xt), flips.mean())
    assert 0 <= pairwise_disagreement(rs, Xt) <= 2 * discrepancy(rs, Xt) + 1e-12


def test_ambiguity_grows_with_epsilon(cancer_set, cancer):
    _, _, Xt, _ = cancer
    values = [ambiguity(cancer_set, Xt, epsilon=e) for e in (0.0, 0.005, 0.01, 0.02)]
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[-1] > values[0]  # a wider set flips more test points


def test_churn_bound_holds(cancer_set, cancer):
    X, y, Xt, yt = cancer
    train = churn_bound(cancer_set, X, y)
    assert train.holds and train.max_excess_risk <= cancer_set.epsilon + 1e-12
    test = churn_bound(cancer_set, Xt, yt)
    assert test.holds, test
    assert_allclose(test.bound, 2 * np.mean(cancer_set.predict(Xt) != yt) + 0.02)


def test_separable_ambiguity_zero_at_small_epsilon():
    X, y = make_separable(300, 2, margin=4.0, seed=0)
    Xt, _yt = make_separable(200, 2, margin=4.0, seed=0)  # same hyperplane, other points
    rs = RashomonSet(epsilon=0.001, n_models=40, perturbation=("bootstrap", "hyper"),
                     random_state=0).fit(X, y)
    assert rs.baseline_loss_ == 0.0 and len(rs.models_) == 40
    assert ambiguity(rs, X) == 0.0
    assert ambiguity(rs, Xt) == 0.0


def test_measures_bad_input(cancer_set, cancer):
    _, _, Xt, yt = cancer
    with pytest.raises(TypeError, match="rashomon_set"):
        ambiguity(LogisticRegression(), Xt)
    bad = Xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        ambiguity(cancer_set, bad)
    with pytest.raises(ValueError, match="X"):
        churn(cancer_set, cancer_set, np.full_like(Xt, np.inf))
    with pytest.raises(TypeError, match="model_b"):
        churn(cancer_set, object(), Xt)
    with pytest.raises(ValueError, match="epsilon"):
        ambiguity(cancer_set, Xt, epsilon=-0.1)
    with pytest.raises(ValueError, match="y"):
        churn_bound(cancer_set, Xt, yt[:-1])
    with pytest.raises(ValueError, match="predictions"):
        multiplicity_from_predictions(np.zeros(3), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="features"):
        multiplicity(cancer_set, Xt[:, :5])
