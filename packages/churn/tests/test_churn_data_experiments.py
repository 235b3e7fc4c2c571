"""Datasets, the CSV loader, uncertainty-aware churn and the two experiments."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from econcs.churn import (
    ensemble_predict_proba,
    load_csv,
    load_dataset,
    make_separable,
    predict_with_abstention,
    selective_churn,
)
from econcs.churn._experiments import EXPERIMENTS
from econcs.shared.experiments import ConfigError, config_from_overrides, run_experiment


@pytest.mark.parametrize(("name", "shape"), [("breast_cancer", (569, 30)), ("wine", (178, 13)),
                                             ("digits", (1797, 64))])
def test_bundled_datasets_are_binary(name, shape):
    X, y = load_dataset(name)
    assert X.shape == shape and set(np.unique(y)) == {0, 1}


def test_separable_margin():
    data = make_separable(100, 3, margin=2.0, seed=0)
    w = LogisticRegression(C=1e4, max_iter=10000).fit(data.X, data.y)
    assert np.mean(w.predict(data.X) == data.y) == 1.0
    X, _y = load_dataset("synthetic", n_samples=120, n_features=5, seed=0)
    assert X.shape == (120, 5)


def test_csv_loader(tmp_path):
    path = tmp_path / "credit.csv"
    path.write_text("age,income,housing,default\n"
                    "25,1000,rent,no\n"
                    "40,,own,yes\n"
                    "35,3000,,no\n"
                    "50,5000,own,yes\n"
                    ",2000,rent,\n")
    data = load_csv(path, "default", positive_label="yes")
    assert data.feature_names == ("age", "income", "housing=<missing>", "housing=own",
                                  "housing=rent")
    assert data.y.tolist() == [0, 1, 0, 1]  # the unlabelled row is dropped
    assert_allclose(data.X[1, 1], 3000.0)  # mean of 1000, 3000, 5000
    assert_allclose(data.X[:, 2:].sum(axis=1), 1.0)
    med = load_csv(path, "default", missing="median")
    assert med.y.tolist() == [0, 1, 0, 1]
    dropped = load_csv(path, "default", missing="drop")
    assert dropped.X.shape[0] == 3
    with pytest.raises(ValueError, match="missing"):
        load_csv(path, "default", missing="error")
    with pytest.raises(ValueError, match="target"):
        load_csv(path, "label")
    with pytest.raises(FileNotFoundError, match="path"):
        load_csv(tmp_path / "nope.csv", "default")
    with pytest.raises(ValueError, match="name"):
        load_dataset("adult")


def test_abstention_and_ensembles():
    X, y = load_dataset("breast_cancer")
    X = (X - X.mean(0)) / X.std(0)
    a = LogisticRegression().fit(X[::2], y[::2])
    b = LogisticRegression(C=0.05).fit(X[1::2], y[1::2])
    plain = selective_churn(a, b, X, margin=0.0)
    assert_allclose(plain.churn, np.mean(a.predict(X) != b.predict(X)))
    strict = selective_churn(a, b, X, margin=0.8)
    assert strict.churn <= plain.churn and strict.coverage < 1.0
    labels, confident = predict_with_abstention(a, X, margin=0.5)
    assert labels.shape == confident.shape == (569,)
    assert_allclose(ensemble_predict_proba([a, b], X),
                    (a.predict_proba(X) + b.predict_proba(X)) / 2)
    with pytest.raises(ValueError, match="margin"):
        selective_churn(a, b, X, margin=1.5)
    with pytest.raises(ValueError, match="models"):
        ensemble_predict_proba([], X)


def _exp(name):
    return next(e for e in EXPERIMENTS.experiments if e.name == name)


def test_rashomon_experiment(tmp_path):
    exp = _exp("churn.rashomon")
    rec = run_experiment(exp, exp.config(dataset="separable", n_features=2, n_models=20),
                         seed=0, device="cpu", out_dir=tmp_path)
    for key in ("ambiguity", "discrepancy", "expected_churn", "baseline_accuracy"):
        assert 0.0 <= rec.metrics[key] <= 1.0
    for key, ref in rec.references.items():
        assert ref.holds(rec.metrics[key]), (key, rec.metrics[key], ref)
    assert rec.metrics["ambiguity_eps_min"] == 0.0
    assert (tmp_path / "churn_vs_epsilon.png").exists()


def test_update_experiment_and_mip_experiment(tmp_path):
    exp = _exp("churn.update")
    rec = run_experiment(exp, exp.config(dataset="wine", n_models=10, n_ensemble=5), seed=0,
                         device="cpu", out_dir=tmp_path / "u")
    assert rec.references["bound_slack"].holds(rec.metrics["bound_slack"])
    assert 0 <= rec.metrics["realised_churn"] <= 1
    exp = _exp("churn.rashomon")
    rec = run_experiment(exp, exp.config(dataset="synthetic", method="mip", max_samples=30,
                                         n_features=2, epsilon=0.05, n_models=30),
                         seed=0, device="cpu", out_dir=tmp_path / "m")
    assert rec.references["mip_discrepancy"].holds(rec.metrics["mip_discrepancy"])
    assert rec.references["mip_ambiguity"].holds(rec.metrics["mip_ambiguity"])


def test_experiment_configs_reject_bad_values():
    exp = _exp("churn.rashomon")
    for bad in ({"epsilon": "-1"}, {"n_models": "0"}, {"dataset": "adult"}, {"test_size": "1"}):
        with pytest.raises(ConfigError):
            config_from_overrides(exp.config, bad)


def test_experiment_configs_nest_the_search_parameters():
    from econcs.churn import AWPParams, MIPParams

    exp = _exp("churn.rashomon")
    assert exp.config().mip == MIPParams(time_limit=20.0, discrepancy_time_limit=100.0)
    cfg = config_from_overrides(exp.config, ["method=mip", "time_limit=5", "max_iter=30",
                                             "discrepancy_time_limit=25", "mip.solver=highs"])
    assert cfg.mip == MIPParams(time_limit=5.0, discrepancy_time_limit=25.0, solver="highs")
    assert cfg.awp == AWPParams(max_iter=30)
    with pytest.raises(ConfigError, match="max_cells"):
        config_from_overrides(exp.config, {"max_cells": 0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epsilon = 0.5


def test_data_seed_rng_and_deprecated_random_state():
    a = load_dataset("breast_cancer", n_samples=50, seed=3)
    b = load_dataset("breast_cancer", n_samples=50, rng=np.random.default_rng(3))
    assert_allclose(a.X, b.X)
    with pytest.warns(DeprecationWarning, match="random_state"):
        c = load_dataset("breast_cancer", n_samples=50, random_state=3)
    assert_allclose(a.X, c.X)
    with pytest.warns(DeprecationWarning, match="random_state"):
        d = make_separable(20, 2, random_state=np.random.default_rng(1))
    assert_allclose(d.X, make_separable(20, 2, seed=1).X)
    with pytest.raises(TypeError, match="both"), pytest.warns(DeprecationWarning):
        load_dataset("wine", seed=1, random_state=1)
    with pytest.raises(TypeError, match="unexpected"):
        make_separable(20, 2, n_iter=3)
    with pytest.raises(TypeError, match="rng"):
        make_separable(20, 2, rng=3)


def test_version():
    import econcs.churn

    assert isinstance(econcs.churn.__version__, str) and econcs.churn.__version__
    assert "__version__" not in econcs.churn.__all__
