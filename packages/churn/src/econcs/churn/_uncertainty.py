"""Uncertainty-aware predictions and the churn they remove.

Watson-Daniels et al. (2024), "Predictive Churn with the Set of Good Models", Sec. 6: models that
know when they are unsure churn less. Two mechanisms:

- **abstention by probability margin**: predict only when ``max_c p(c | x) - second largest >=
  margin``; churn between two models is then measured on the points where both predict
  (:func:`selective_churn`, with the coverage it keeps);
- **ensembles**: average the probabilities of several models (e.g. scikit-learn's
  ``BaggingClassifier`` or the members of a Rashomon set, :func:`ensemble_predict_proba`); an
  average of ``k`` draws from the training procedure varies less between two draws than one model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from econcs.churn._models import predict_proba_many
from econcs.shared import check_array, check_float

__all__ = ["SelectiveChurn", "ensemble_predict_proba", "predict_with_abstention",
           "selective_churn"]


@dataclasses.dataclass(frozen=True)
class SelectiveChurn:
    """Churn among the points where both models predict (``coverage`` = their share)."""

    churn: float
    coverage: float
    n_covered: int


def _check_proba_model(model: Any, name: str) -> None:
    if not callable(getattr(model, "predict_proba", None)):
        raise TypeError(f"{name}: expected a fitted classifier with predict_proba, got "
                        f"{type(model).__name__}.")


def predict_with_abstention(model: Any, X: Any, *, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and a mask of the points the model is confident about.

    Parameters
    ----------
    model
        fitted classifier with ``predict_proba`` and ``classes_``.
    X
        (n_samples, n_features).
    margin : float in [0, 1]: predict when the top probability beats the runner-up by ``margin``.

    Returns
    -------
    labels
        (n_samples,) the argmax labels (also where the model abstains).
    confident
        (n_samples,) bool.
    """
    _check_proba_model(model, "model")
    margin = check_float(margin, "margin", low=0.0, high=1.0)
    X = check_array(X, "X", ndim=2)
    proba = np.asarray(model.predict_proba(X))
    top2 = np.sort(proba, axis=1)[:, -2:]
    confident = (top2[:, 1] - top2[:, 0]) >= margin
    return np.asarray(model.classes_)[proba.argmax(axis=1)], confident


def selective_churn(model_a: Any, model_b: Any, X: Any, *, margin: float) -> SelectiveChurn:
    """Churn between two abstaining models on the points where both are confident.

    ``margin=0`` gives the plain churn (up to ties of the argmax); an empty overlap gives churn 0
    and coverage 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.linspace(0.0, 3.0, 4)[:, None]
    >>> m = LogisticRegression().fit(X, X[:, 0] > 1.5)
    >>> selective_churn(m, m, X, margin=0.0)
    SelectiveChurn(churn=0.0, coverage=1.0, n_covered=4)
    """
    la, ca = predict_with_abstention(model_a, X, margin=margin)
    lb, cb = predict_with_abstention(model_b, X, margin=margin)
    both = ca & cb
    n = int(both.sum())
    value = float(np.mean(la[both] != lb[both])) if n else 0.0
    return SelectiveChurn(churn=value, coverage=n / len(both), n_covered=n)


def ensemble_predict_proba(models: Sequence[Any], X: Any) -> np.ndarray:
    """Mean probabilities of ``models`` (same ``classes_``): (n_samples, n_classes)."""
    if len(models) == 0:
        raise ValueError("models: expected at least one fitted model, got an empty list.")
    for i, m in enumerate(models):
        _check_proba_model(m, f"models[{i}]")
    X = check_array(X, "X", ndim=2)
    return predict_proba_many(list(models), X).mean(axis=0)
