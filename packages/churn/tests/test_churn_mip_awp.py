"""Exact MIPs against brute-force enumeration, and AWP / sampling as lower bounds of them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import scale

from econcs.churn import (
    RashomonSet,
    awp_search,
    load_dataset,
    make_separable,
    mip_multiplicity,
    multiplicity,
)


def _all_linear_labelings(X):
    """Every labelling of 2-d points in general position by a line (and the two constants)."""
    n = len(X)
    out = {tuple([0] * n), tuple([1] * n)}
    for i, j in itertools.combinations(range(n), 2):
        d = X[j] - X[i]
        normal = np.array([-d[1], d[0]])
        side = (X - X[i]) @ normal > 0
        for si, sj in itertools.product([False, True], repeat=2):
            lab = side.copy()
            lab[i], lab[j] = si, sj
            out.add(tuple(lab.astype(int)))
            out.add(tuple((~lab).astype(int)))
    return np.array(sorted(out))


@pytest.mark.parametrize("solver", ["bnb", "highs"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_mip_equals_brute_force_in_2d(epsilon, solver):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(14, 2))
    y = (X[:, 0] + 0.8 * rng.normal(size=14) > 0).astype(int)
    base = LogisticRegression().fit(X, y)
    p = base.predict(X)
    budget = int(np.sum(p != y)) + int(np.floor(epsilon * 14 + 1e-9))
    labs = _all_linear_labelings(X)
    members = labs[(labs != y).sum(axis=1) <= budget]
    flips = members != p
    res = mip_multiplicity(X, y, p, epsilon=epsilon, classes=base.classes_, margin=1e-4,
                           solver=solver)
    assert_allclose(res.ambiguity, flips.any(axis=0).mean())
    assert_allclose(res.discrepancy, flips.mean(axis=1).max())
    assert res.discrepancy_status == "optimal"
    assert_allclose(res.discrepancy_bound, res.discrepancy, atol=1e-6)
    assert set(res.status) <= {"solved", "covered", "infeasible"}
    for m in res.models:  # every model returned is a verified member
        assert np.sum(m.predict(X) != y) <= budget


@pytest.fixture(scope="module")
def small():
    X, y = load_dataset("synthetic", n_samples=30, n_features=3, seed=2)
    return scale(X), y


def test_mip_dominates_sampling_and_awp(small):
    X, y = small
    eps = 0.04
    mip = RashomonSet(epsilon=eps, n_models=30, method="mip", random_state=0).fit(X, y)
    sampled = RashomonSet(epsilon=eps, n_models=200, perturbation=("bootstrap", "hyper"),
                          hyper_scale=10.0, random_state=0).fit(X, y)
    awp = RashomonSet(epsilon=eps, n_models=30, method="awp", random_state=0).fit(X, y)
    m_mip, m_s, m_awp = (multiplicity(r, X) for r in (mip, sampled, awp))
    assert_allclose(m_mip.ambiguity, mip.search_.ambiguity)
    assert_allclose(m_mip.discrepancy, mip.search_.discrepancy)
    assert m_s.n_models > 10
    assert m_mip.discrepancy >= m_s.discrepancy
    assert m_mip.ambiguity >= m_s.ambiguity
    assert m_mip.ambiguity >= m_awp.ambiguity
    assert m_mip.ambiguity > 0


def test_bnb_agrees_with_highs_on_noisy_data(small):
    # the branch-and-bound and HiGHS's MIPs are independent exact solvers of the same problem
    # (margin gamma): no point one proves unflippable is flipped by a member the other found.
    # The branch-and-bound's members need no margin, so it may flip a point HiGHS's margin-gamma
    # MIP cannot.
    X, y = small
    base = LogisticRegression().fit(X, y)
    p = base.predict(X)
    runs = {solver: mip_multiplicity(X, y, p, epsilon=0.04, classes=base.classes_,
                                     solver=solver, time_limit=None,
                                     discrepancy_time_limit=None)
            for solver in ("bnb", "highs")}
    bnb, highs = runs["bnb"], runs["highs"]
    assert set(bnb.status) <= {"solved", "infeasible"} and bnb.n_cells > 0
    assert set(highs.status) <= {"solved", "covered", "infeasible"}
    assert not np.any(highs.flippable & (bnb.status == "infeasible"))
    assert not np.any(bnb.flippable & ~highs.flippable & (highs.status != "infeasible"))
    assert 0.0 < bnb.ambiguity < 1.0 and bnb.ambiguity >= highs.ambiguity
    assert bnb.discrepancy_status == highs.discrepancy_status == "optimal"
    assert highs.discrepancy <= bnb.discrepancy_bound + 1e-12
    assert bnb.discrepancy >= highs.discrepancy - 1e-12
    assert_allclose(bnb.discrepancy_bound, bnb.discrepancy)
    for m in bnb.models:
        assert np.sum(m.predict(X) != y) <= bnb.max_errors
        assert np.any(m.predict(X) != p)
    # a cell budget too small to finish leaves the rest to HiGHS: every point still decided
    capped = mip_multiplicity(X, y, p, epsilon=0.04, classes=base.classes_, max_cells=1,
                              time_limit=None, discrepancy_time_limit=None)
    assert capped.n_cells <= 2 * 3 * 2
    assert set(capped.status) <= {"solved", "covered", "infeasible"}
    assert not np.any(capped.flippable & (bnb.status == "infeasible"))
    unproved = highs.status != "infeasible"
    assert not np.any(bnb.flippable & (capped.status == "infeasible") & unproved)
    assert capped.discrepancy_status == "optimal"


def test_mip_zero_on_separable_at_epsilon_zero():
    X, y = make_separable(40, 2, margin=3.0, seed=1)
    rs = RashomonSet(epsilon=0.0, n_models=40, method="mip").fit(X, y)
    assert rs.search_.ambiguity == 0.0 and rs.search_.discrepancy == 0.0
    assert set(rs.search_.status) == {"infeasible"}


def test_awp_linear_flips_are_members():
    X, y = load_dataset("breast_cancer", n_samples=150, seed=0)
    X = scale(X)
    base = LogisticRegression().fit(X, y)
    res = awp_search(base, X, y, epsilon=0.02, targets=np.arange(60), max_iter=150)
    assert res.flippable.sum() > 0
    p = base.predict(X)
    err0 = np.mean(p != y)
    for k, m in zip(res.targets[res.flippable], res.models):
        assert m.predict(X[k:k + 1])[0] != p[k]
        assert np.mean(m.predict(X) != y) <= err0 + 0.02 + 1e-12
    # log-loss membership
    res_ll = awp_search(base, X, y, epsilon=0.05, metric="log_loss", targets=np.arange(20),
                        max_iter=150)
    from sklearn.metrics import log_loss

    ll0 = log_loss(y, base.predict_proba(X))
    for m in res_ll.models:
        assert log_loss(y, m.predict_proba(X)) <= ll0 + 0.05 + 1e-9


def test_awp_mlp():
    X, y = load_dataset("wine")
    X = scale(X)
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3000, random_state=0).fit(X, y)
    rs = RashomonSet(mlp, epsilon=0.03, n_models=40, method="awp", random_state=0,
                     method_params={"max_iter": 100}).fit(X, y)
    p = rs.predict(X)
    for k, m in zip(rs.search_.targets[rs.search_.flippable], rs.models_):
        assert m.predict(X[k:k + 1])[0] != p[k]
    assert np.all(rs.losses_ <= rs.baseline_loss_ + 0.03 + 1e-12)


def test_awp_nothing_on_separable_at_epsilon_zero():
    X, y = make_separable(60, 3, margin=4.0, seed=0)
    rs = RashomonSet(epsilon=0.0, n_models=60, method="awp", random_state=0,
                     method_params={"max_iter": 60}).fit(X, y)
    assert len(rs.models_) == 0  # flipping any training point costs a mistake


def test_search_bad_input(small):
    X, y = small
    base = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="margin"):
        mip_multiplicity(X, y, base.predict(X), epsilon=0.0, classes=base.classes_, margin=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        mip_multiplicity(X, y, base.predict(X), epsilon=-1.0, classes=base.classes_)
    with pytest.raises(ValueError, match="baseline_pred"):
        mip_multiplicity(X, y, base.predict(X)[:-1], epsilon=0.0, classes=base.classes_)
    with pytest.raises(ValueError, match=r"^solver"):
        mip_multiplicity(X, y, base.predict(X), epsilon=0.0, classes=base.classes_,
                         solver="cplex")
    with pytest.raises(ValueError, match=r"^max_cells"):
        mip_multiplicity(X, y, base.predict(X), epsilon=0.0, classes=base.classes_,
                         max_cells=0)
    with pytest.raises(ValueError, match="metric"):
        awp_search(base, X, y, epsilon=0.0, metric="auc")
    with pytest.raises(TypeError, match="estimator"):
        awp_search(object(), X, y, epsilon=0.0)


def test_mip_params_bounds_and_overrides(small):
    from econcs.churn import MIPParams

    with pytest.raises(ValueError, match=r"^time_limit"):
        MIPParams(time_limit=0.0)
    with pytest.raises(ValueError, match=r"^solver"):
        MIPParams(solver="cplex")
    X, y = small
    base = LogisticRegression().fit(X, y)
    p = base.predict(X)
    with pytest.raises(TypeError, match="unknown parameter"):
        mip_multiplicity(X, y, p, epsilon=0.0, classes=base.classes_, steps=3)
    a = mip_multiplicity(X, y, p, MIPParams(solver="highs"), epsilon=0.04,
                         classes=base.classes_)
    b = mip_multiplicity(X, y, p, epsilon=0.04, classes=base.classes_, solver="highs")
    assert a.converged and b.converged
    assert_allclose([a.ambiguity, a.discrepancy], [b.ambiguity, b.discrepancy])


def test_mip_warns_at_its_limits():
    from econcs.shared import ConvergenceWarning

    X, y = load_dataset("breast_cancer", n_samples=120, seed=0)
    X = scale(X[:, :3])
    base = LogisticRegression().fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lower bounds"):
        res = mip_multiplicity(X, y, base.predict(X), epsilon=0.02, classes=base.classes_,
                               max_cells=50, time_limit=0.5, discrepancy_time_limit=1.0)
    assert not res.converged and res.discrepancy_status != "optimal"


def test_awp_params_bounds_and_overrides():
    from econcs.churn import AWPParams

    with pytest.raises(ValueError, match=r"^lr"):
        AWPParams(lr=0.0)
    with pytest.raises(ValueError, match=r"^mu_growth"):
        AWPParams(mu_growth=0.5)
    X, y = load_dataset("breast_cancer", n_samples=80, seed=0)
    X = scale(X)
    base = LogisticRegression().fit(X, y)
    with pytest.raises(TypeError, match="unknown parameter"):
        awp_search(base, X, y, epsilon=0.02, n_iter=10)
    a = awp_search(base, X, y, AWPParams(max_iter=30), epsilon=0.02, targets=np.arange(20))
    b = awp_search(base, X, y, epsilon=0.02, targets=np.arange(20), max_iter=30)
    assert a.n_steps == 30
    assert_allclose(a.losses, b.losses)
    assert (a.flippable == b.flippable).all()
