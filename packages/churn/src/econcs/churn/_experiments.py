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
from dataclasses import field
from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits

from econcs.churn._data import load_dataset
from econcs.churn._measures import churn, churn_bound, multiplicity, multiplicity_from_predictions
from econcs.churn._rashomon import RashomonSet
from econcs.churn._uncertainty import selective_churn
from econcs.shared import check_float, check_int
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
)

__all__ = ["EXPERIMENTS", "RashomonConfig", "UpdateConfig", "make_model"]

Dataset_ = Literal["breast_cancer", "wine", "digits", "synthetic", "separable"]
Model_ = Literal["logistic", "gbt", "mlp"]
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


def _load(config, rng):
    data = load_dataset(config.dataset, n_samples=config.max_samples or None,
                        n_features=config.n_features, random_state=rng)
    return _split(data.X, data.y, config.test_size, rng)


@dataclasses.dataclass
class RashomonConfig:
    dataset: Dataset_ = field(default="breast_cancer", metadata={"help": "dataset name"})
    model: Model_ = field(default="logistic", metadata={"help": "logistic | gbt | mlp"})
    epsilon: float = field(default=0.01, metadata={"help": "Rashomon tolerance (error rate)"})
    n_models: int = field(default=100, metadata={"help": "retrain: candidates; awp/mip: points"})
    method: Literal["retrain", "awp", "mip"] = field(default="retrain",
                                                    metadata={"help": "exploration method"})
    max_samples: int = field(default=0, metadata={"help": "subsample the dataset (0: all)"})
    n_features: int = field(default=10, metadata={"help": "features of synthetic/separable"})
    test_size: float = field(default=0.3, metadata={"help": "held-out share"})
    epsilon_grid: tuple[float, ...] = field(default=(0.0, 0.005, 0.01, 0.02, 0.03, 0.05),
                                            metadata={"help": "epsilons of the curve"})
    mip_time_limit: float = field(default=20.0, metadata={"help": "seconds per MIP"})

    def __post_init__(self) -> None:
        check_float(self.epsilon, "epsilon", low=0.0)
        check_int(self.n_models, "n_models", low=1)
        check_int(self.max_samples, "max_samples", low=0)
        check_int(self.n_features, "n_features", low=1)
        check_float(self.test_size, "test_size", low=0.0, high=1.0, low_inclusive=False,
                    high_inclusive=False)
        for e in self.epsilon_grid:
            check_float(e, "epsilon_grid", low=0.0)
        check_float(self.mip_time_limit, "mip_time_limit", low=0.0, low_inclusive=False)


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


def run_rashomon(config: RashomonConfig, ctx: RunContext) -> ExperimentResult:
    # small fits on a 2-core budget: one BLAS / OpenMP thread avoids oversubscription
    with threadpool_limits(limits=1):
        return _run_rashomon(config, ctx)


def _run_rashomon(config: RashomonConfig, ctx: RunContext) -> ExperimentResult:
    rng = ctx.rng("data")
    X, y, Xt, yt = _load(config, rng)
    seed = int(ctx.rng("model").integers(2**31 - 1))
    est = make_model(config.model, seed)
    params = {"time_limit": config.mip_time_limit,
              "discrepancy_time_limit": 5 * config.mip_time_limit} if config.method == "mip" \
        else None
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


@dataclasses.dataclass
class UpdateConfig:
    dataset: Dataset_ = field(default="breast_cancer", metadata={"help": "dataset name"})
    model: Model_ = field(default="logistic", metadata={"help": "logistic | gbt | mlp"})
    epsilon: float = field(default=0.01, metadata={"help": "Rashomon tolerance (error rate)"})
    n_models: int = field(default=100, metadata={"help": "prospective models sampled"})
    initial_fraction: float = field(default=0.5, metadata={"help": "share of training data "
                                                           "the baseline sees"})
    n_ensemble: int = field(default=10, metadata={"help": "members of each ensemble"})
    margin: float = field(default=0.2, metadata={"help": "abstention probability margin"})
    max_samples: int = field(default=0, metadata={"help": "subsample the dataset (0: all)"})
    n_features: int = field(default=10, metadata={"help": "features of synthetic/separable"})
    test_size: float = field(default=0.3, metadata={"help": "held-out share"})

    def __post_init__(self) -> None:
        check_float(self.epsilon, "epsilon", low=0.0)
        check_int(self.n_models, "n_models", low=1)
        check_float(self.initial_fraction, "initial_fraction", low=0.0, high=1.0,
                    low_inclusive=False, high_inclusive=False)
        check_int(self.n_ensemble, "n_ensemble", low=1)
        check_float(self.margin, "margin", low=0.0, high=1.0)
        check_int(self.max_samples, "max_samples", low=0)
        check_int(self.n_features, "n_features", low=1)
        check_float(self.test_size, "test_size", low=0.0, high=1.0, low_inclusive=False,
                    high_inclusive=False)


def run_update(config: UpdateConfig, ctx: RunContext) -> ExperimentResult:
    with threadpool_limits(limits=1):
        return _run_update(config, ctx)


def _run_update(config: UpdateConfig, ctx: RunContext) -> ExperimentResult:
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
        Reproduction("churn.rashomon", {"dataset": "breast_cancer"}, "breast cancer, logistic"),
        Reproduction("churn.rashomon", {"dataset": "wine"}, "wine, logistic"),
        Reproduction("churn.rashomon", {"dataset": "digits", "n_models": 50}, "digits, logistic"),
        Reproduction("churn.rashomon", {"dataset": "separable", "n_features": 2},
                     "separable, logistic (ambiguity 0 at epsilon 0)"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "model": "gbt",
                                        "n_models": 20}, "breast cancer, boosted trees"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "model": "mlp",
                                        "n_models": 10}, "breast cancer, MLP"),
        Reproduction("churn.rashomon", {"dataset": "synthetic", "method": "mip",
                                        "max_samples": 60, "n_features": 3, "epsilon": 0.03,
                                        "n_models": 60, "mip_time_limit": 5.0},
                     "synthetic, exact MIP vs sampling"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "awp",
                                        "n_models": 100}, "breast cancer, AWP"),
        Reproduction("churn.update", {"dataset": "breast_cancer"}, "update, breast cancer"),
        Reproduction("churn.update", {"dataset": "digits", "n_models": 50}, "update, digits"),
    ],
    full=[
        *[Reproduction("churn.rashomon", {"dataset": d, "model": m, "n_models": n},
                       f"{d}, {m}")
          for d in ("breast_cancer", "wine", "digits")
          for m, n in (("logistic", 500), ("gbt", 100), ("mlp", 50))],
        Reproduction("churn.rashomon", {"dataset": "separable", "n_features": 2},
                     "separable, logistic"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "mip",
                                        "max_samples": 200, "n_models": 200,
                                        "mip_time_limit": 60.0}, "breast cancer, MIP"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "awp",
                                        "n_models": 400}, "breast cancer, AWP (linear)"),
        Reproduction("churn.rashomon", {"dataset": "breast_cancer", "method": "awp",
                                        "model": "mlp", "n_models": 200},
                     "breast cancer, AWP (MLP)"),
        *[Reproduction("churn.update", {"dataset": d, "model": m}, f"update, {d}, {m}")
          for d in ("breast_cancer", "wine", "digits") for m in ("logistic", "gbt", "mlp")],
    ],
    smoke=[
        Reproduction("churn.rashomon", {"dataset": "wine", "n_models": 10}),
        Reproduction("churn.update", {"dataset": "wine", "n_models": 10, "n_ensemble": 3}),
    ],
)
