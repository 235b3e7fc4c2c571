"""The empirical epsilon-Rashomon set of a scikit-learn classifier.

Watson-Daniels, Calmon, D'Amour, Long, Parkes, Ustun (2024), "Predictive Churn with the Set of
Good Models" (arXiv 2402.07745), Sec. 3: the epsilon-Rashomon set of a baseline ``h0`` is the set of
models whose training loss is within ``epsilon`` of the baseline's; the empirical set keeps those
among ``m`` models drawn from a randomised training procedure. Three ways to explore it:

- ``method="retrain"``: re-train with random seeds, stratified bootstrap samples and log-uniform
  perturbations of continuous hyper-parameters (``C``, ``alpha``, ``learning_rate``, ...). Convex
  linear models are warm-started from the baseline (their optimum does not depend on the start, so
  this only saves time), and all candidates are scored together (:mod:`econcs.churn._models`).
- ``method="awp"``: adversarial weight perturbation, one search per training point
  (:mod:`econcs.churn._awp`; Hsu and Calmon 2022).
- ``method="mip"``: exact ambiguity / discrepancy mixed-integer programs for linear classifiers
  (:mod:`econcs.churn._mip`; Marx, Calmon and Ustun 2020).

:class:`RashomonSet` follows scikit-learn's estimator contract: it is a meta-estimator whose
``predict`` is the baseline's, with the set in ``models_``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning  # the estimators' own, see fit
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from econcs.churn._awp import AWPParams, awp_search
from econcs.churn._mip import MIPParams, mip_multiplicity
from econcs.churn._models import predict_many, predict_proba_many
from econcs.shared import Params, check_choice, check_float, check_int

__all__ = ["RashomonSet"]

METHODS = ("retrain", "awp", "mip")
METRICS = ("error", "log_loss")
PERTURBATIONS = ("seed", "bootstrap", "hyper")
# continuous hyper-parameters that "hyper" perturbs (log-uniformly) when the estimator has them
HYPER_PARAMETERS = ("C", "alpha", "learning_rate", "learning_rate_init", "l2_regularization",
                    "l1_ratio", "subsample", "max_features")
# each search's parameter dataclass, and the keywords besides it that method_params may hold
_SEARCHES = {"awp": (AWPParams, ("device", "dtype")), "mip": (MIPParams, ("start_models",))}


def _has_method(obj: Any, name: str) -> bool:
    return callable(getattr(obj, name, None))


def _baseline_has(name: str):
    def check(self) -> bool:
        est = self.baseline_ if hasattr(self, "baseline_") else self._base_estimator()
        return _has_method(est, name)

    return check


def _stratified_bootstrap(y_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap row indices that keep every class's count (so no class goes missing)."""
    parts = []
    for c in np.unique(y_idx):
        rows = np.flatnonzero(y_idx == c)
        parts.append(rows[rng.integers(0, rows.size, rows.size)])
    return np.sort(np.concatenate(parts))


def _is_convex_linear(est: Any) -> bool:
    return isinstance(est, LogisticRegression) and est.get_params().get("penalty", "l2") in (
        "l2", None, "deprecated")


class RashomonSet(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Empirical epsilon-Rashomon set around a baseline classifier.

    Parameters
    ----------
    estimator
        scikit-learn classifier, default ``LogisticRegression()``
        The model class and training procedure; must have ``fit`` and ``predict`` (and
        ``predict_proba`` for ``metric="log_loss"``).
    epsilon : float >= 0, default 0.01
        Tolerance: a model is a member when its training ``metric`` is at most the baseline's plus
        ``epsilon`` (an absolute difference of error rates, or of mean log-losses).
    n_models : int >= 1, default 100
        ``"retrain"``: candidates trained. ``"awp"`` / ``"mip"``: training points searched (one
        search per point; all points when ``n_models >= n_samples``, else a random subset).
    method : {"retrain", "awp", "mip"}, default "retrain"
    metric : {"error", "log_loss"}, default "error" (``"mip"`` needs ``"error"``).
    perturbation : str or tuple of str, default ("seed", "bootstrap")
        What ``"retrain"`` randomises: ``"seed"`` (``random_state``), ``"bootstrap"`` (stratified
        resampling of rows), ``"hyper"`` (continuous hyper-parameters in :data:`HYPER_PARAMETERS`,
        multiplied by a log-uniform factor in ``[1 / hyper_scale, hyper_scale]``, capped at 1 for
        ``l1_ratio``, ``subsample`` and ``max_features``).
    hyper_scale : float >= 1, default 2.0
    warm_start : {"auto", True, False}, default "auto"
        Start each candidate from the baseline's coefficients (``"auto"``: only for
        ``LogisticRegression``, whose optimum does not depend on the start).
    method_params : dict, AWPParams, MIPParams or None, default None
        Options of the search: for ``"awp"`` an :class:`~econcs.churn.AWPParams` or a dict of its
        fields and ``device``, ``dtype`` (see :func:`econcs.churn.awp_search`); for ``"mip"`` a
        :class:`~econcs.churn.MIPParams` or a dict of its fields and ``start_models`` (see
        :func:`econcs.churn.mip_multiplicity`).
    random_state : int, numpy Generator or None
        Seeds the perturbations and the choice of searched points.

    Attributes
    ----------
    baseline_
        the estimator fitted on all of ``(X, y)``.
    baseline_loss_ : float, its training ``metric``.
    candidates_ : list, every model produced (members and not).
    candidate_losses_
        (n_candidates,) their training ``metric``.
    models_ : list, the members (``candidate_losses_ <= baseline_loss_ + epsilon``).
    losses_
        (n_members,) their training ``metric``.
    search_
        ``AWPResult`` / ``MIPResult`` for ``"awp"`` / ``"mip"``, else ``None``.
    classes_, n_features_in_
        as for any classifier.
    n_convergence_warnings_
        candidates whose fit raised a ``ConvergenceWarning`` (one summary
        warning is emitted).
    fit_seconds_
        wall-clock time of ``fit``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from econcs.churn import RashomonSet, ambiguity
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> rs = RashomonSet(epsilon=0.01, n_models=20, random_state=0).fit(scale(X), y)
    >>> 0 < len(rs.models_) <= 20, 0.0 <= ambiguity(rs, scale(X)) <= 1.0
    (True, True)
    """

    def __init__(self, estimator: Any = None, *, epsilon: float = 0.01, n_models: int = 100,
                 method: str = "retrain", metric: str = "error",
                 perturbation: str | tuple[str, ...] = ("seed", "bootstrap"),
                 hyper_scale: float = 2.0, warm_start: str | bool = "auto",
                 method_params: dict | Params | None = None, random_state: Any = None) -> None:
        self.estimator = estimator
        self.epsilon = epsilon
        self.n_models = n_models
        self.method = method
        self.metric = metric
        self.perturbation = perturbation
        self.hyper_scale = hyper_scale
        self.warm_start = warm_start
        self.method_params = method_params
        self.random_state = random_state

    # -- helpers ---------------------------------------------------------------------------------

    def _base_estimator(self) -> Any:
        return LogisticRegression() if self.estimator is None else self.estimator

    def _rng(self) -> np.random.Generator:
        rs = self.random_state
        if isinstance(rs, np.random.Generator):
            return np.random.default_rng(rs.bit_generator.seed_seq.spawn(1)[0]) if hasattr(
                rs.bit_generator, "seed_seq") else rs
        if isinstance(rs, np.random.RandomState):
            return np.random.default_rng(rs.randint(2**31 - 1))
        if rs is not None:
            rs = check_int(rs, "random_state", low=0)
        return np.random.default_rng(rs)

    def _validate_params(self) -> tuple[Any, tuple[str, ...], tuple[Params | None, dict]]:
        est = self._base_estimator()
        for name in ("fit", "predict"):
            if not _has_method(est, name):
                raise TypeError(f"estimator: expected a scikit-learn classifier with fit and "
                                f"predict, got {type(est).__name__} without {name}().")
        check_float(self.epsilon, "epsilon", low=0.0)
        check_int(self.n_models, "n_models", low=1)
        check_choice(self.method, "method", METHODS)
        check_choice(self.metric, "metric", METRICS)
        if self.metric == "log_loss" and not _has_method(est, "predict_proba"):
            raise TypeError(f"estimator: metric='log_loss' needs predict_proba, which "
                            f"{type(est).__name__} lacks; use metric='error'.")
        if self.method == "mip" and self.metric != "error":
            raise ValueError("metric: method='mip' counts mistakes; use metric='error'.")
        if self.method == "mip" and not isinstance(est, LinearClassifierMixin):
            raise TypeError(f"estimator: method='mip' needs a linear classifier (coef_, "
                            f"intercept_), got {type(est).__name__}.")
        pert = (self.perturbation,) if isinstance(self.perturbation, str) else self.perturbation
        if not isinstance(pert, (tuple, list)) or len(pert) == 0:
            raise TypeError(f"perturbation: expected a non-empty tuple of {PERTURBATIONS}, got "
                            f"{self.perturbation!r}.")
        for p in pert:
            check_choice(p, "perturbation", PERTURBATIONS)
        check_float(self.hyper_scale, "hyper_scale", low=1.0)
        if not (isinstance(self.warm_start, bool) or self.warm_start == "auto"):
            raise ValueError(f"warm_start: expected 'auto', True or False, got "
                             f"{self.warm_start!r}.")
        return est, tuple(pert), self._search_params()

    def _search_params(self) -> tuple[Params | None, dict]:
        """``method_params`` as (the search's parameter object or None, other keywords)."""
        params = {} if self.method_params is None else self.method_params
        cls, extra = _SEARCHES.get(self.method, (None, ()))
        if isinstance(params, Params):
            if cls is None or not isinstance(params, cls):
                expected = "a dict or None" if cls is None else f"{cls.__name__}, a dict or None"
                raise TypeError(f"method_params: expected {expected} for method={self.method!r}, "
                                f"got {type(params).__name__}.")
            return params, {}
        if not isinstance(params, dict):
            raise TypeError(f"method_params: expected a dict or None, got "
                            f"{type(params).__name__}.")
        allowed = () if cls is None else (*(f.name for f in dataclasses.fields(cls)), *extra)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"method_params: unknown key(s) {unknown} for method="
                             f"{self.method!r}; valid keys: {list(allowed)}.")
        return None, dict(params)

    def _losses(self, models: list, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Training metric of every model, (n_models,), scored together where possible."""
        if len(models) == 0:
            return np.empty(0)
        if self.metric == "error":
            return (predict_many(models, X) != y[None, :]).mean(axis=1)
        proba = predict_proba_many(models, X)  # (m, n, k)
        col = np.searchsorted(np.asarray(self.classes_), y)
        p = np.clip(proba[:, np.arange(len(y)), col], 1e-15, 1.0)
        return -np.log(p).mean(axis=1)

    # -- fit -------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> RashomonSet:
        """Fit the baseline on ``(X, y)`` and explore its epsilon-Rashomon set.

        Parameters
        ----------
        X
            (n_samples, n_features) finite features.
        y
            (n_samples,) labels, at least two classes.

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        est, pert, params = self._validate_params()
        if y is None:
            raise ValueError("y: RashomonSet requires y to be passed, but the target y is None.")
        try:
            n_x, n_y = _num_samples(X), _num_samples(y)
        except TypeError:
            n_x = n_y = None
        if n_x is not None and n_x != n_y:
            raise ValueError(f"X and y: expected the same number of rows, got {n_x} and {n_y}.")
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(f"y: expected at least two classes, got only one class "
                             f"({classes[0]!r}); a Rashomon set of a constant is not defined.")
        self.baseline_ = clone(est).fit(X, y)
        self.classes_ = np.asarray(self.baseline_.classes_)
        self.baseline_loss_ = float(self._losses([self.baseline_], X, y)[0])
        self.n_convergence_warnings_ = 0
        self.search_ = None
        rng = self._rng()
        if self.method == "retrain":
            # many small fits: one BLAS / OpenMP thread each beats oversubscribed threads
            with threadpool_limits(limits=1):
                self.candidates_ = self._retrain(est, X, y, pert, rng)
            self.candidate_losses_ = self._losses(self.candidates_, X, y)
        else:
            if self.classes_.size != 2:
                raise ValueError(f"y: method={self.method!r} supports two classes, got "
                                 f"{self.classes_.size}.")
            n = X.shape[0]
            k = min(self.n_models, n)
            targets = np.arange(n) if k == n else np.sort(rng.choice(n, k, replace=False))
            search, kwargs = params
            if self.method == "awp":
                self.search_ = awp_search(self.baseline_, X, y, search, epsilon=self.epsilon,
                                          metric=self.metric, targets=targets, **kwargs)
            else:
                self.search_ = mip_multiplicity(
                    X, y, self.baseline_.predict(X), search, epsilon=self.epsilon,
                    classes=self.classes_, targets=targets, **kwargs)
            self.candidates_ = list(self.search_.models)
            self.candidate_losses_ = self._losses(self.candidates_, X, y)
        mask = self.members_mask()
        self.models_ = [m for m, ok in zip(self.candidates_, mask) if ok]
        self.losses_ = self.candidate_losses_[mask]
        if self.n_convergence_warnings_:
            # scikit-learn's class on purpose: this summarises the scikit-learn estimator's own
            # ConvergenceWarnings (caught per candidate fit), so the filters users set for
            # scikit-learn apply to it
            warnings.warn(f"RashomonSet: {self.n_convergence_warnings_} of {self.n_models} "
                          "candidate fits did not converge; raise the estimator's max_iter.",
                          ConvergenceWarning, stacklevel=2)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _retrain(self, est: Any, X: np.ndarray, y: np.ndarray, pert: tuple[str, ...],
                 rng: np.random.Generator) -> list:
        base_params = est.get_params(deep=False)
        warm = self.warm_start is True or (self.warm_start == "auto" and _is_convex_linear(est))
        warm = warm and "warm_start" in base_params and hasattr(self.baseline_, "coef_")
        y_idx = np.searchsorted(self.classes_, y)
        log_s = math.log(self.hyper_scale)
        candidates = []
        for _ in range(self.n_models):
            model = clone(est)
            new: dict[str, Any] = {}
            if "seed" in pert and "random_state" in base_params:
                new["random_state"] = int(rng.integers(2**31 - 1))
            if "hyper" in pert:
                for name in HYPER_PARAMETERS:
                    value = base_params.get(name)
                    if isinstance(value, float) and not isinstance(value, bool) and value > 0:
                        value = value * math.exp(rng.uniform(-log_s, log_s))
                        if name in ("l1_ratio", "subsample", "max_features"):
                            value = min(value, 1.0)
                        new[name] = value
            if warm:
                new["warm_start"] = True
            model.set_params(**new)
            if warm:
                model.coef_ = self.baseline_.coef_.copy()
                model.intercept_ = np.copy(self.baseline_.intercept_)
            rows = _stratified_bootstrap(y_idx, rng) if "bootstrap" in pert else None
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                if rows is None:
                    model.fit(X, y)
                else:
                    model.fit(X[rows], y[rows])
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                self.n_convergence_warnings_ += 1
            for w in caught:  # re-raise anything that is not a convergence warning
                if not issubclass(w.category, ConvergenceWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            candidates.append(model)
        return candidates

    # -- the set ---------------------------------------------------------------------------------

    def members_mask(self, epsilon: float | None = None) -> np.ndarray:
        """(n_candidates,) bool: which candidates are in the set at tolerance ``epsilon``.

        ``epsilon`` other than the fitted one is only meaningful for ``method="retrain"`` (the
        candidates do not depend on it); for ``"awp"`` / ``"mip"`` it raises ``ValueError``.
        """
        check_is_fitted(self, "candidate_losses_")
        if epsilon is None:
            eps = float(self.epsilon)
        else:
            eps = check_float(epsilon, "epsilon", low=0.0)
            if self.method != "retrain" and eps != float(self.epsilon):
                raise ValueError(f"epsilon: the {self.method!r} search ran at epsilon="
                                 f"{self.epsilon}; refit to use another epsilon.")
        return self.candidate_losses_ <= self.baseline_loss_ + eps + 1e-12

    def predict_members(self, X: Any, *, epsilon: float | None = None) -> np.ndarray:
        """Labels of every member on every row: (n_members, n_samples)."""
        check_is_fitted(self, "models_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        mask = self.members_mask(epsilon)
        models = [m for m, ok in zip(self.candidates_, mask) if ok]
        if len(models) == 0:
            return np.empty((0, X.shape[0]), dtype=self.classes_.dtype)
        return predict_many(models, X)

    def predict_candidates(self, X: Any) -> np.ndarray:
        """Labels of every candidate (member or not): (n_candidates, n_samples)."""
        check_is_fitted(self, "candidates_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if len(self.candidates_) == 0:
            return np.empty((0, X.shape[0]), dtype=self.classes_.dtype)
        return predict_many(self.candidates_, X)

    def baseline_predict(self, X: Any) -> np.ndarray:
        """The baseline's labels, (n_samples,) (the same as :meth:`predict`)."""
        return self.predict(X)

    # -- classifier interface (the baseline's) ---------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """The baseline's labels, (n_samples,)."""
        check_is_fitted(self, "baseline_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.baseline_.predict(X)

    @available_if(_baseline_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        """The baseline's probabilities, (n_samples, n_classes)."""
        check_is_fitted(self, "baseline_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.baseline_.predict_proba(X)
