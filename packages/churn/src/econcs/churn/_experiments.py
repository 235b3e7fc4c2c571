"""Experiments of econcs-churn (``econcs run churn.rashomon`` / ``churn.update``).

- ``churn.rashomon``: ambiguity, discrepancy and expected churn of the epsilon-Rashomon set of a model
  class on a dataset (held-out points), the curve against epsilon, and the bound
  ``C(h0, h') <= 2 R(h0) + epsilon`` (Watson-Daniels et al. 2024, Sec. 3-4). With ``method="mip"``
  the exact training-set ambiguity and discrepancy are checked to be at least the sampled ones
  (sampling only finds lower bounds; Marx et al. 2020).
- ``churn.update``: anticipated churn of a model update (the expected churn over the Rashomon set of
  prospective models, computed before the update) against the realised churn of retraining on
  more data, and how much ensembles and abstention remove (Sec. 5-6).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits

from econcs.churn._awp import AWPParams
from econcs.churn._data import load_dataset
from econcs.churn._measures import churn, churn_bound, multiplicity, multiplicity_from_predictions
from econcs.churn._mip import MIPParams
from econcs.churn._rashomon import RashomonSet
from econcs.churn._uncertainty import selective_churn
from econcs.shared import Params, nested, param
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
)

__all__ = ["EXPERIMENTS", "RashomonConfig", "UpdateConfig", "make_model"]

PAPER = "Watson-Daniels et al. 2024 (arXiv 2402.07745)"


def make_model(name: str, seed: int):
    """The model classes of the experiments: ``logistic``, ``gbt`` (histogram gradient-boosted
    trees), ``mlp`` (one hidden layer of 16 ReLUs)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if name == "logistic":
        return LogisticRegression(max_iter=1000)
    if name == "gbt":
        return HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=8,
                                              early_stopping=False, random_state=seed)
    return MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, learning_rate_init=0.01,
                         random_state=seed)


def _split(X, y, test_size: float, rng: np.random.Generator):
    from sklearn.preprocessing import StandardScaler

    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):  # stratified
        rows = np.flatnonzero(y == c)
        test[rng.choice(rows, max(1, round(test_size * rows.size)), replace=False)] = True
    scaler = StandardScaler().fit(X[~test])
    return scaler.transform(X[~test]), y[~test], scaler.transform(X[test]), y[test]


def _load(config: _DataConfig, rng: np.random.Generator):
    data = load_dataset(config.dataset, n_samples=config.max_samples or None,
                        n_features=config.n_features, rng=rng)
    return _split(data.X, data.y, config.test_size, rng)


@dataclasses.dataclass(frozen=True)
class _DataConfig(Params):
    """What both experiments read: the data, its split and the model class (:func:`_load`)."""

    dataset: Literal["breast_cancer", "wine", "digits", "synthetic", "separable"] = param(
        "breast_cancer", "dataset name")
    model: Literal["logistic", "gbt", "mlp"] = param("logistic", "logistic | gbt | mlp")
    epsilon: float = param(0.01, "Rashomon tolerance (error rate)", low=0.0)
    max_samples: int = param(0, "subsample the dataset (0: all)", low=0)
    n_features: int = param(10, "features of synthetic/separable", low=1)
    test_size: float = param(0.3, "held-out share", low=0.0, high=1.0, low_inclusive=False,
                             high_inclusive=False)


@dataclasses.dataclass(frozen=True)
class RashomonConfig(_DataConfig):
    n_models: int = param(100, "retrain: candidates; awp/mip: points", low=1)
    method: Literal["retrain", "awp", "mip"] = param("retrain", "exploration method")
    epsilon_grid: tuple[float, ...] = param((0.0, 0.005, 0.01, 0.02, 0.03, 0.05),
                                            "epsilons of the curve", low=0.0)
    awp: AWPParams = nested(AWPParams, "adversarial weight perturbation (method=awp)")
    mip: MIPParams = nested(MIPParams, "mixed-integer programs (method=mip)", time_limit=20.0,
                            discrepancy_time_limit=100.0)


def _plot_curve(ctx: RunContext, grid, curves: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, values in curves.items():
        ax.plot(grid, values, marker="o", label=name)
    ax.set_xlabel("epsilon (error-rate tolerance)")
    ax.set_ylabel("share of test points")
    ax.set_title(title)
    ax.legend()
    ctx.save_figure(fig, "churn_vs_epsilon")


def _one_blas_thread(run):
    """Run the experiment with one BLAS / OpenMP thread: its many small fits on a 2-core budget
    lose to oversubscribed threads."""

    @functools.wraps(run)
    def wrapped(config, ctx: RunContext) -> ExperimentResult:
        with threadpool_limits(limits=1):
            return run(config, ctx)

    return wrapped


@_one_blas_thread
def run_rashomon(config: RashomonConfig, ctx: RunContext) -> ExperimentResult:
    rng = ctx.rng("data")
    X, y, Xt, yt = _load(config, rng)
    seed = int(ctx.rng("model").integers(2**31 - 1))
    est = make_model(config.model, seed)
    params = {"awp": config.awp, "mip": config.mip}.get(config.method)
    rs = RashomonSet(est, epsilon=config.epsilon, n_models=config.n_models, method=config.method,
                     method_params=params, random_state=seed).fit(X, y)
    test = multiplicity(rs, Xt)
    train = multiplicity(rs, X)
    bound = churn_bound(rs, Xt, yt)
    metrics = {
        "ambiguity": test.ambiguity, "discrepancy": test.discrepancy,
        "expected_churn": test.expected_churn, "pairwise_disagreement": test.pairwise_disagreement,
        "ambiguity_train": train.ambiguity, "discrepancy_train": train.discrepancy,
        "baseline_accuracy": float(np.mean(rs.predict(Xt) == yt)),
        "n_members": float(len(rs.models_)), "max_churn": bound.max_churn,
        "churn_bound": bound.bound, "bound_slack": bound.slack, "fit_seconds": rs.fit_seconds_,
    }
    refs = {"bound_slack": Reference(0.0, f"C(h0,h') <= 2 R(h0) + eps on held-out data, {PAPER}",
                                     relation="ge")}
    if config.method == "retrain":
        P = rs.predict_candidates(Xt)
        p0 = rs.predict(Xt)
        grid = sorted(config.epsilon_grid)
        curves = {"ambiguity": [], "discrepancy": [], "expected churn": []}
        for eps in grid:
            m = multiplicity_from_predictions(p0, P[rs.members_mask(eps)])
            curves["ambiguity"].append(m.ambiguity)
            curves["discrepancy"].append(m.discrepancy)
            curves["expected churn"].append(m.expected_churn)
        for k, eps in enumerate(grid):
            ctx.log(k, epsilon=eps, ambiguity=curves["ambiguity"][k],
                    discrepancy=curves["discrepancy"][k],
                    expected_churn=curves["expected churn"][k])
        amb = np.asarray(curves["ambiguity"])
        metrics["ambiguity_monotone"] = float(np.all(np.diff(amb) >= 0))
        refs["ambiguity_monotone"] = Reference(1.0, "the epsilon-sets are nested, so ambiguity "
                                               "grows with epsilon")
        metrics["ambiguity_eps_min"] = float(amb[0])
        if config.dataset == "separable" and config.model == "logistic" and grid[0] == 0.0:
            refs["ambiguity_eps_min"] = Reference(
                0.0, "wide-margin separable data: every 0-error linear model agrees off the "
                "margin, so ambiguity at epsilon=0 is 0")
        if ctx.plots_enabled:
            _plot_curve(ctx, grid, curves, f"{config.dataset}, {config.model}")
    if config.method == "mip":
        s = rs.search_
        metrics["mip_ambiguity"] = s.ambiguity
        metrics["mip_discrepancy"] = s.discrepancy
        metrics["mip_unknown"] = float(np.mean(s.status == "unknown"))
        sampled = RashomonSet(est, epsilon=config.epsilon, n_models=100,
                              perturbation=("bootstrap", "hyper"), random_state=seed).fit(X, y)
        ms = multiplicity(sampled, X)
        refs["mip_discrepancy"] = Reference(
            ms.discrepancy, "MIP discrepancy >= discrepancy of 100 re-trained models (Marx et al. "
            "2020: sampling finds lower bounds)", relation="ge")
        refs["mip_ambiguity"] = Reference(
            ms.ambiguity, "MIP ambiguity >= ambiguity of 100 re-trained models", relation="ge")
    return ExperimentResult(metrics=metrics, references=refs)


@dataclasses.dataclass(frozen=True)
class UpdateConfig(_DataConfig):
    n_models: int = param(100, "prospective models sampled", low=1)
    initial_fraction: float = param(0.5, "share of training data the baseline sees", low=0.0,
                                    high=1.0, low_inclusive=False, high_inclusive=False)
    n_ensemble: int = param(10, "members of each ensemble", low=1)
    margin: float = param(0.2, "abstention probability margin", low=0.0, high=1.0)


@_one_blas_thread
def run_update(config: UpdateConfig, ctx: RunContext) -> ExperimentResult:
    from sklearn.base import clone
    from sklearn.ensemble import BaggingClassifier

    rng = ctx.rng("data")
    X, y, Xt, yt = _load(config, rng)
    first = rng.random(len(y)) < config.initial_fraction  # the data the baseline sees
    seeds = ctx.rng("model").integers(2**31 - 1, size=4)
    est = make_model(config.model, int(seeds[0]))
    # before the update: the Rashomon set of prospective models (bootstrap + seed re-training)
    rs = RashomonSet(est, epsilon=config.epsilon, n_models=config.n_models,
                     random_state=int(seeds[1])).fit(X[first], y[first])
    before = multiplicity(rs, Xt)
    # the update: retrain on all the data with another seed
    h0 = rs.baseline_
    h1 = clone(make_model(config.model, int(seeds[2]))).fit(X, y)
    realised = churn(h0, h1, Xt)
    flips = h0.predict(Xt) != h1.predict(Xt)
    r0 = float(np.mean(h0.predict(Xt) != yt))
    # uncertainty-aware alternatives: bagged ensembles and abstention
    e0 = BaggingClassifier(clone(est), n_estimators=config.n_ensemble,
                           random_state=int(seeds[3])).fit(X[first], y[first])
    e1 = BaggingClassifier(clone(make_model(config.model, int(seeds[2]))),
                           n_estimators=config.n_ensemble,
                           random_state=int(seeds[3]) + 1).fit(X, y)
    sel = selective_churn(h0, h1, Xt, margin=config.margin)
    # the same randomised procedure without averaging: member i of one bag vs member i of the other
    single = float(np.mean([churn(a, b, Xt) for a, b in zip(e0.estimators_, e1.estimators_)]))
    metrics = {
        "expected_churn": before.expected_churn, "ambiguity": before.ambiguity,
        "discrepancy": before.discrepancy, "realised_churn": realised,
        "flips_in_ambiguous": float(before.ambiguous[flips].mean()) if flips.any() else 1.0,
        "baseline_accuracy": 1.0 - r0, "updated_accuracy": float(np.mean(h1.predict(Xt) == yt)),
        "bound_slack": 2 * r0 + config.epsilon - realised,
        "churn_ensemble": churn(e0, e1, Xt), "churn_single_bootstrap": single,
        "churn_selective": sel.churn,
        "coverage_selective": sel.coverage,
    }
    refs = {
        "bound_slack": Reference(0.0, f"C(h0,h') <= 2 R(h0) + eps, {PAPER}", relation="ge"),
        "churn_ensemble": Reference(single, f"an ensemble of {config.n_ensemble} bootstrap models "
                                    f"churns less than one ({PAPER}, Sec. 6)", relation="le"),
        "churn_selective": Reference(realised, f"abstention reduces churn ({PAPER}, Sec. 6)",
                                     atol=0.01, relation="le"),
    }
    return ExperimentResult(metrics=metrics, references=refs)


EXPERIMENTS = ExperimentSuite(
    package="churn",
    experiments=[
        Experiment("churn.rashomon", RashomonConfig, run_rashomon,
                   "ambiguity / discrepancy / expected churn of an epsilon-Rashomon set"),
        Experiment("churn.update", UpdateConfig, run_update,
                   "anticipated vs realised churn of a model update; ensembles and abstention"),
    ],
    quick=[
        # the default setting: the bound and the nested epsilon-curve on tabular data
        Reproduction("churn.rashomon", {"dataset": "breast_cancer"}, "breast cancer, logistic"),
        # a small dataset (178 rows): the same checks with few held-out points
        Reproduction("churn.rashomon", {"dataset": "wine"}, "wine, logistic"),
        # the largest bundled set (1797 x 64); 50 candidates keep it inside the quick budget
        Reproduction("churn.rashomon", {"dataset": "digits", "n_models": 50}, "digits, logistic"),
        # the theory check: wide-margin separable data has ambiguity 0 at epsilon 0
        Reproduction("churn.rashomon", {"dataset": "separable", "n_features": 2},
                     "separable, logistic (ambiguity 0 at epsilon 0)"),
        # a non-linear model class; 20 refits fit the quick budget
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "model": "gbt",
                                        "n_models": 20}, "breast cancer, boosted trees"),
        # a network class; 10 refits, each a full MLP fit
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "model": "mlp",
                                        "n_models": 10}, "breast cancer, MLP"),
        # MIP >= sampling; 60 points and 3 features are what the exact search decides in seconds
        Reproduction("churn.rashomon", {"dataset": "synthetic", "method": "mip",
                                        "max_samples": 60, "n_features": 3, "epsilon": 0.03,
                                        "n_models": 60, "time_limit": 5.0,
                                        "discrepancy_time_limit": 25.0},
                     "synthetic, exact MIP vs sampling"),
        # adversarial weight perturbation on 100 training points of the default setting
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "awp",
                                        "n_models": 100}, "breast cancer, AWP"),
        # anticipated vs realised churn of an update, ensembles and abstention
        Reproduction("churn.update", {"dataset": "breast_cancer"}, "update, breast cancer"),
        # the same on the largest set, 50 prospective models for the quick budget
        Reproduction("churn.update", {"dataset": "digits", "n_models": 50}, "update, digits"),
    ],
    full=[
        # every dataset x model class; candidates scaled to the cost of one fit of the class
        *[Reproduction("churn.rashomon", {"dataset": d, "model": m, "n_models": n},
                       f"{d}, {m}")
          for d in ("breast_cancer", "wine", "digits")
          for m, n in (("logistic", 500), ("gbt", 100), ("mlp", 50))],
        # the theory check (ambiguity 0 at epsilon 0) in the full suite too
        Reproduction("churn.rashomon", {"dataset": "separable", "n_features": 2},
                     "separable, logistic"),
        # the MIP on real data with all 30 features: the time limits bound the run (lower bounds)
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "mip",
                                        "max_samples": 200, "n_models": 200,
                                        "time_limit": 60.0, "discrepancy_time_limit": 300.0},
                     "breast cancer, MIP"),
        # AWP on 400 of the 398 training points (all of them), linear and MLP (200, costlier)
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "awp",
                                        "n_models": 400}, "breast cancer, AWP (linear)"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "awp",
                                        "model": "mlp", "n_models": 200},
                     "breast cancer, AWP (MLP)"),
        # the update experiment over every dataset x model class
        *[Reproduction("churn.update", {"dataset": d, "model": m}, f"update, {d}, {m}")
          for d in ("breast_cancer", "wine", "digits") for m in ("logistic", "gbt", "mlp")],
    ],
    smoke=[
        Reproduction("churn.rashomon", {"dataset": "wine", "n_models": 10}),
        Reproduction("churn.update", {"dataset": "wine", "n_models": 10, "n_ensemble": 3}),
    ],
)
