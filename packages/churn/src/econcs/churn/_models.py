"""Light fitted models and vectorised scoring of many classifiers at once.

A Rashomon set holds hundreds or thousands of fitted classifiers; scoring them one ``predict``
call at a time dominates the run time of the multiplicity measures. This module stacks models of
the same kind into tensors and scores them together:

- linear classifiers (anything with ``coef_`` / ``intercept_``: scikit-learn's linear models and
  :class:`LinearClassifier`): one matrix product ``X @ W.T`` for all models;
- binary multi-layer perceptrons (scikit-learn's ``MLPClassifier`` and :class:`MLPModel`) with the
  same architecture: one batched ``einsum`` per layer;
- anything else: a loop over ``predict`` / ``predict_proba``.

:class:`LinearClassifier` and :class:`MLPModel` are the members that the adversarial weight
perturbation (:mod:`econcs.churn._awp`) and the mixed-integer programs (:mod:`econcs.churn._mip`)
return: they are parameter vectors, not trained estimators, but predict like one. See
Watson-Daniels et al. (2024), "Predictive Churn with the Set of Good Models", Sec. 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit, softmax

__all__ = ["LinearClassifier", "MLPModel", "predict_many", "predict_proba_many", "scores_many"]


class LinearClassifier:
    """A fixed linear classifier ``h(x) = classes[1 if x @ coef.T + intercept > 0 else 0]``.

    ``predict_proba`` applies the logistic (two classes) or softmax link to the scores; for a model
    found by a mixed-integer program the probabilities carry no calibration, only the label.

    Parameters
    ----------
    coef
        (1, n_features) for two classes, (n_classes, n_features) for more.
    intercept
        (1,) or (n_classes,).
    classes
        (n_classes,) the labels, in the order of the scores.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray) -> None:
        self.coef_ = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        self.intercept_ = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = self.coef_.shape[1]

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores: (n_samples,) for two classes, (n_samples, n_classes) for more."""
        s = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return s[:, 0] if s.shape[1] == 1 else s

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels, (n_samples,)."""
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else s.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities, (n_samples, n_classes)."""
        s = self.decision_function(X)
        if s.ndim == 1:
            p = expit(s)
            return np.stack([1 - p, p], axis=1)
        return softmax(s, axis=1)

    def __repr__(self) -> str:
        return f"LinearClassifier(n_features={self.coef_.shape[1]}, n_classes={len(self.classes_)})"


_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": expit,
    "identity": lambda z: z,
}


class MLPModel:
    """A fixed binary multi-layer perceptron (the layout of scikit-learn's ``MLPClassifier``).

    Parameters
    ----------
    coefs : list of weight matrices, layer ``l`` of shape (n_in_l, n_out_l); one output at the end.
    intercepts : list of bias vectors, (n_out_l,).
    activation
        hidden activation, one of ``relu``, ``tanh``, ``logistic``, ``identity``.
    classes
        (2,) the labels; the output logit is the score of ``classes[1]``.
    """

    def __init__(self, coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray],
                 activation: str, classes: np.ndarray) -> None:
        self.coefs_ = [np.asarray(c, dtype=np.float64) for c in coefs]
        self.intercepts_ = [np.asarray(b, dtype=np.float64) for b in intercepts]
        self.activation = activation
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = self.coefs_[0].shape[0]

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The output logit, (n_samples,)."""
        return _mlp_logits_batched([self], np.asarray(X, dtype=np.float64))[0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels, (n_samples,)."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities, (n_samples, 2)."""
        p = expit(self.decision_function(X))
        return np.stack([1 - p, p], axis=1)

    def __repr__(self) -> str:
        sizes = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        return f"MLPModel(layers={sizes}, activation={self.activation!r})"


# ---------------------------------------------------------------------------------------------
# stacking


def _is_linear(model: Any) -> bool:
    return hasattr(model, "coef_") and hasattr(model, "intercept_") and not hasattr(
        model, "coefs_")


def _is_binary_mlp(model: Any) -> bool:
    if isinstance(model, MLPModel):
        return True
    return (hasattr(model, "coefs_") and hasattr(model, "intercepts_")
            and getattr(model, "out_activation_", None) == "logistic"
            and len(getattr(model, "classes_", ())) == 2)


def _linear_has_logistic_proba(model: Any) -> bool:
    from sklearn.linear_model import LogisticRegression

    return isinstance(model, (LinearClassifier, LogisticRegression))


def _same_classes(models: Sequence[Any]) -> bool:
    first = np.asarray(models[0].classes_)
    return all(np.array_equal(np.asarray(m.classes_), first) for m in models[1:])


def _mlp_logits_batched(models: Sequence[Any], X: np.ndarray) -> np.ndarray:
    """(n_models, n_samples) output logits of binary MLPs of one architecture."""
    act = _ACTIVATIONS[models[0].activation]
    h = None
    n_layers = len(models[0].coefs_)
    for layer in range(n_layers):
        W = np.stack([m.coefs_[layer] for m in models])  # (m, n_in, n_out)
        b = np.stack([m.intercepts_[layer] for m in models])  # (m, n_out)
        h = (np.einsum("nd,mdo->mno", X, W) if h is None else np.einsum("mnd,mdo->mno", h, W))
        h = h + b[:, None, :]
        if layer < n_layers - 1:
            h = act(h)
    return h[:, :, 0]


def _same_mlp_architecture(models: Sequence[Any]) -> bool:
    first = models[0]
    shapes = [c.shape for c in first.coefs_]
    return all(m.activation == first.activation and [c.shape for c in m.coefs_] == shapes
               for m in models[1:])


def scores_many(models: Sequence[Any], X: np.ndarray) -> np.ndarray | None:
    """Stacked decision scores when the models allow it, else ``None``.

    Returns (n_models, n_samples) for binary models, (n_models, n_samples, n_classes) for
    multiclass linear models.
    """
    if len(models) == 0 or not _same_classes(models):
        return None
    if all(_is_linear(m) for m in models):
        W = np.stack([np.atleast_2d(m.coef_) for m in models])  # (m, k, d)
        b = np.stack([np.atleast_1d(m.intercept_) for m in models])  # (m, k)
        if W.shape[1] == 1:
            return W[:, 0, :] @ np.asarray(X, dtype=np.float64).T + b[:, 0][:, None]
        return np.einsum("nd,mkd->mnk", np.asarray(X, dtype=np.float64), W) + b[:, None, :]
    if all(_is_binary_mlp(m) for m in models) and _same_mlp_architecture(models):
        return _mlp_logits_batched(models, np.asarray(X, dtype=np.float64))
    return None


def predict_many(models: Sequence[Any], X: np.ndarray) -> np.ndarray:
    """Labels of every model on every row: (n_models, n_samples).

    Parameters
    ----------
    models
        fitted classifiers with ``predict`` (and ``classes_``).
    X
        (n_samples, n_features).
    """
    if len(models) == 0:
        return np.empty((0, len(X)), dtype=object)
    s = scores_many(models, X)
    if s is None:
        return np.stack([np.asarray(m.predict(X)) for m in models])
    classes = np.asarray(models[0].classes_)
    if s.ndim == 3:
        return classes[s.argmax(axis=2)]
    return classes[(s > 0).astype(int)]


def predict_proba_many(models: Sequence[Any], X: np.ndarray) -> np.ndarray:
    """Probabilities of every model on every row: (n_models, n_samples, n_classes)."""
    if len(models) == 0:
        return np.empty((0, len(X), 0))
    usable = all(_is_binary_mlp(m) for m in models) or all(
        _is_linear(m) and _linear_has_logistic_proba(m) for m in models)
    s = scores_many(models, X) if usable else None
    if s is None:
        return np.stack([np.asarray(m.predict_proba(X)) for m in models])
    if s.ndim == 3:
        return softmax(s, axis=2)
    p = expit(s)
    return np.stack([1 - p, p], axis=2)
