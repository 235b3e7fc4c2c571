"""Churn and predictive-multiplicity measures over a Rashomon set.

Definitions (Watson-Daniels, Calmon, D'Amour, Long, Parkes, Ustun 2024, "Predictive Churn with the
Set of Good Models", Sec. 2-3; Marx, Calmon, Ustun 2020, "Predictive Multiplicity in
Classification", Sec. 2), for a baseline ``h0``, a set ``R`` of models and points ``S``:

- churn ``C(hA, hB; S)``: the share of points of ``S`` that ``hA`` and ``hB`` label differently;
- ambiguity: the share of points that at least one member of ``R`` labels differently from ``h0``;
- discrepancy: ``max_{h in R} C(h0, h; S)``;
- expected churn: ``mean_{h in R} C(h0, h; S)``, the anticipated churn of replacing ``h0`` by a
  model drawn from ``R`` (the prospective updates);
- pairwise disagreement: ``mean_{h != h' in R} C(h, h'; S)``;
- the bound ``C(h0, h') <= 2 R(h0) + epsilon`` for ``h'`` with ``R(h') <= R(h0) + epsilon``
  (triangle inequality of the 0-1 loss), checked on held-out data by :func:`churn_bound`.

An empty set (no candidate passed the epsilon test) is the set ``{h0}``: every measure is 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from econcs.shared import check_array, check_float

__all__ = [
    "ChurnBound",
    "Multiplicity",
    "ambiguity",
    "churn",
    "churn_bound",
    "discrepancy",
    "expected_churn",
    "multiplicity",
    "multiplicity_from_predictions",
    "pairwise_disagreement",
]


@dataclasses.dataclass(frozen=True)
class Multiplicity:
    """Multiplicity of a set of models on ``n_samples`` points (all shares in ``[0, 1]``)."""

    ambiguity: float
    discrepancy: float
    expected_churn: float
    pairwise_disagreement: float
    n_models: int
    n_samples: int
    ambiguous: np.ndarray = dataclasses.field(repr=False)  # (n_samples,) bool


@dataclasses.dataclass(frozen=True)
class ChurnBound:
    """Empirical check of ``C(h0, h') <= 2 R(h0) + epsilon`` over the members ``h'``.

    ``max_churn`` is ``max_h' C(h0, h'; S)``, ``bound`` is ``2 R_S(h0) + epsilon``; ``holds`` says
    whether ``max_churn <= bound``; ``slack = bound - max_churn``. ``max_excess_risk`` is
    ``max_h' R_S(h') - R_S(h0)`` on the same points (the bound needs it to be <= epsilon).
    """

    max_churn: float
    bound: float
    baseline_risk: float
    epsilon: float
    max_excess_risk: float
    holds: bool
    slack: float


def _check_X(X: Any, name: str = "X") -> np.ndarray:
    return check_array(X, name, ndim=2)


def _check_model(model: Any, name: str) -> None:
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"{name}: expected a fitted classifier with a predict method, got "
                        f"{type(model).__name__}.")


def churn(model_a: Any, model_b: Any, X: Any) -> float:
    """Share of the rows of ``X`` that ``model_a`` and ``model_b`` label differently.

    Parameters
    ----------
    model_a, model_b
        fitted classifiers with ``predict``.
    X
        (n_samples, n_features) finite features.

    Returns
    -------
    float in ``[0, 1]``; symmetric, and 0 for a model with itself.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> m = LogisticRegression().fit(X, y)
    >>> churn(m, m, X)
    0.0
    """
    _check_model(model_a, "model_a")
    _check_model(model_b, "model_b")
    X = _check_X(X)
    return float(np.mean(np.asarray(model_a.predict(X)) != np.asarray(model_b.predict(X))))


def multiplicity_from_predictions(baseline: Any, predictions: Any) -> Multiplicity:
    """All multiplicity measures from label arrays.

    Parameters
    ----------
    baseline
        (n_samples,) labels of the baseline ``h0``.
    predictions
        (n_models, n_samples) labels of the members.
    """
    p0 = np.asarray(baseline)
    P = np.asarray(predictions)
    if p0.ndim != 1 or p0.size == 0:
        raise ValueError(f"baseline: expected a non-empty 1-d array of labels, got shape "
                         f"{p0.shape}.")
    if P.ndim != 2 or P.shape[1] != p0.shape[0]:
        raise ValueError(f"predictions: expected shape (n_models, {p0.shape[0]}), got "
                         f"{P.shape}.")
    m, n = P.shape
    if m == 0:
        return Multiplicity(0.0, 0.0, 0.0, 0.0, 0, n, np.zeros(n, dtype=bool))
    flips = P != p0[None, :]  # (m, n)
    per_model = flips.mean(axis=1)
    ambiguous = flips.any(axis=0)
    if m > 1:
        # disagreeing ordered pairs per point: m^2 - sum_c count_c^2, over m (m - 1) ordered pairs
        _, inverse = np.unique(P, return_inverse=True)
        codes = inverse.reshape(P.shape)
        n_codes = int(codes.max()) + 1
        counts = np.zeros((n_codes, n), dtype=np.int64)
        np.add.at(counts, (codes, np.broadcast_to(np.arange(n), P.shape)), 1)
        agree = (counts * (counts - 1)).sum(axis=0)
        pairwise = float(1.0 - agree.sum() / (n * m * (m - 1)))
    else:
        pairwise = 0.0
    return Multiplicity(
        ambiguity=float(ambiguous.mean()), discrepancy=float(per_model.max()),
        expected_churn=float(per_model.mean()), pairwise_disagreement=pairwise,
        n_models=m, n_samples=n, ambiguous=ambiguous)


def _set_predictions(rashomon_set: Any, X: Any, epsilon: float | None):
    from econcs.churn._rashomon import RashomonSet

    if not isinstance(rashomon_set, RashomonSet):
        raise TypeError(f"rashomon_set: expected a fitted RashomonSet, got "
                        f"{type(rashomon_set).__name__}.")
    X = _check_X(X)
    return rashomon_set.baseline_predict(X), rashomon_set.predict_members(X, epsilon=epsilon)


def multiplicity(rashomon_set: Any, X: Any, *, epsilon: float | None = None) -> Multiplicity:
    """Ambiguity, discrepancy, expected churn and pairwise disagreement of a Rashomon set on ``X``.

    Parameters
    ----------
    rashomon_set
        a fitted :class:`~econcs.churn.RashomonSet`.
    X
        (n_samples, n_features) points to measure on (training points, or held-out ones).
    epsilon
        evaluate the sub-set at another tolerance (``method="retrain"`` only; the candidates
        are filtered again, nothing is refitted); ``None`` uses the set's own ``epsilon``.
    """
    return multiplicity_from_predictions(*_set_predictions(rashomon_set, X, epsilon))


def ambiguity(rashomon_set: Any, X: Any, *, epsilon: float | None = None) -> float:
    """Share of rows of ``X`` that some member labels differently from the baseline.

    See :func:`multiplicity` for the arguments.
    """
    return multiplicity(rashomon_set, X, epsilon=epsilon).ambiguity


def discrepancy(rashomon_set: Any, X: Any, *, epsilon: float | None = None) -> float:
    """Largest churn between the baseline and a member on ``X``; see :func:`multiplicity`."""
    return multiplicity(rashomon_set, X, epsilon=epsilon).discrepancy


def expected_churn(rashomon_set: Any, X: Any, *, epsilon: float | None = None) -> float:
    """Mean churn between the baseline and the members on ``X`` (the anticipated churn of an
    update drawn from the set); see :func:`multiplicity`."""
    return multiplicity(rashomon_set, X, epsilon=epsilon).expected_churn


def pairwise_disagreement(rashomon_set: Any, X: Any, *, epsilon: float | None = None) -> float:
    """Mean churn between two distinct members on ``X``; see :func:`multiplicity`."""
    return multiplicity(rashomon_set, X, epsilon=epsilon).pairwise_disagreement


def churn_bound(rashomon_set: Any, X: Any, y: Any, *, epsilon: float | None = None) -> ChurnBound:
    """Check ``max_{h'} C(h0, h'; S) <= 2 R_S(h0) + epsilon`` on labelled points ``S = (X, y)``.

    On the training data with ``metric="error"`` this holds by construction; on held-out data it
    holds as long as no member's held-out excess risk exceeds ``epsilon``: this checks it.

    Parameters
    ----------
    rashomon_set
        a fitted :class:`~econcs.churn.RashomonSet`.
    X
        (n_samples, n_features); y : (n_samples,) true labels.
    epsilon
        the tolerance in the bound (default: the set's ``epsilon``).
    """
    p0, P = _set_predictions(rashomon_set, X, epsilon)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != p0.shape[0]:
        raise ValueError(f"y: expected shape ({p0.shape[0]},) to match X, got {y.shape}.")
    eps = rashomon_set.epsilon if epsilon is None else check_float(epsilon, "epsilon", low=0.0)
    r0 = float(np.mean(p0 != y))
    if len(P) == 0:
        max_churn, excess = 0.0, 0.0
    else:
        max_churn = float((P != p0[None, :]).mean(axis=1).max())
        excess = float((P != y[None, :]).mean(axis=1).max() - r0)
    bound = 2.0 * r0 + eps
    return ChurnBound(max_churn=max_churn, bound=bound, baseline_risk=r0, epsilon=eps,
                      max_excess_risk=excess, holds=max_churn <= bound + 1e-12,
                      slack=bound - max_churn)
