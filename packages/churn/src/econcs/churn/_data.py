"""Datasets for churn experiments: scikit-learn's bundled sets, CSV files and synthetic data.

Everything is local (no download at run time). Binary versions of the multi-class bundled sets
follow common practice in the predictive-multiplicity literature (Marx et al. 2020; Watson-Daniels
et al. 2024 use tabular credit / recidivism / income data, which we do not ship: any such CSV loads
with :func:`load_csv`).

- ``breast_cancer``: 569 x 30, malignant (0) vs benign (1);
- ``wine``: 178 x 13, class 0 vs the rest;
- ``digits``: 1797 x 64, digits 0-4 (0) vs 5-9 (1);
- ``synthetic``: ``make_classification`` with label noise (``flip_y``);
- ``separable``: two Gaussian clouds separated by a wide margin (linear ambiguity 0 at small
  epsilon), from :func:`make_separable`.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from econcs.shared import apply_renames, check_choice, check_float, check_int, check_type, make_rng

__all__ = ["DATASETS", "Dataset", "load_csv", "load_dataset", "make_separable"]

DATASETS = ("breast_cancer", "wine", "digits", "synthetic", "separable")
_MISSING = {"", "na", "nan", "null", "none", "?", "n/a"}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Features ``X`` (n_samples, n_features) float64, labels ``y`` (n_samples,) int, names."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    name: str

    def __iter__(self):  # ``X, y = load_dataset(...)``
        return iter((self.X, self.y))


def _rng(seed: int | None, rng: np.random.Generator | None, deprecated: dict[str, Any],
         owner: str) -> np.random.Generator:
    """The generator of a data function: ``rng`` if given, else one from ``seed``; the released
    keyword ``random_state`` (an int or a Generator) is accepted with a ``DeprecationWarning``."""
    apply_renames(deprecated, {"random_state": "seed"}, owner, stacklevel=4)  # via _rng
    if "seed" in deprecated:
        if seed is not None:
            raise TypeError(f"{owner}: got both 'random_state' and its new name 'seed'; use 'seed'.")
        seed = deprecated.pop("seed")
    if deprecated:
        raise TypeError(f"{owner}: unexpected keyword(s) {', '.join(sorted(deprecated))}.")
    if rng is not None:
        return check_type(rng, "rng", np.random.Generator)
    return make_rng(seed)


def make_separable(n_samples: int = 200, n_features: int = 2, *, margin: float = 4.0,
                   seed: int | None = None, rng: np.random.Generator | None = None,
                   **deprecated: Any) -> Dataset:
    """Two classes on either side of a random hyperplane, with a gap of ``margin``.

    Points are standard normal, moved by ``+-margin / 2`` along a random unit normal ``u`` after
    removing their component along ``u`` beyond ``[0, 1]``: every point has distance at least
    ``margin / 2`` from the hyperplane ``u @ x = 0``. Randomness: ``rng`` if given, else
    ``seed`` (``None``: fresh entropy).
    """
    rng = _rng(seed, rng, deprecated, "make_separable")
    n_samples = check_int(n_samples, "n_samples", low=2)
    n_features = check_int(n_features, "n_features", low=1)
    margin = check_float(margin, "margin", low=0.0, low_inclusive=False)
    u = rng.normal(size=n_features)
    u /= np.linalg.norm(u)
    Z = rng.normal(size=(n_samples, n_features))
    along = np.abs(Z @ u)
    Z = Z - np.outer(Z @ u, u)  # orthogonal part
    y = np.arange(n_samples) % 2
    rng.shuffle(y)
    sign = np.where(y == 1, 1.0, -1.0)
    X = Z + np.outer(sign * (margin / 2 + along), u)
    return Dataset(X, y.astype(np.int64), tuple(f"x{j}" for j in range(n_features)), "separable")


def load_dataset(name: str, *, n_samples: int | None = None, n_features: int = 20,
                 seed: int | None = None, rng: np.random.Generator | None = None,
                 **deprecated: Any) -> Dataset:
    """Load a named dataset (see the module docstring), optionally subsampled to ``n_samples``.

    Parameters
    ----------
    name
        one of :data:`DATASETS`.
    n_samples
        keep a random (stratified by nothing, seeded) subset of this many rows; for
        ``synthetic`` / ``separable`` the number generated (default 1000 / 200).
    n_features
        features of ``synthetic`` / ``separable``.
    seed, rng
        randomness of the subsample or the generator: ``rng`` if given, else ``seed``
        (``None``: fresh entropy).
    """
    rng = _rng(seed, rng, deprecated, "load_dataset")
    check_choice(name, "name", DATASETS)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", low=2)
    if name == "synthetic":
        from sklearn.datasets import make_classification

        n = 1000 if n_samples is None else n_samples
        informative = min(n_features, max(2, n_features // 2))
        X, y = make_classification(n_samples=n, n_features=n_features,
                                   n_informative=informative,
                                   n_redundant=min(2, n_features - informative),
                                   n_clusters_per_class=2 if informative >= 2 else 1,
                                   flip_y=0.05, class_sep=1.0,
                                   random_state=int(rng.integers(2**31 - 1)))
        return Dataset(X, y.astype(np.int64), tuple(f"x{j}" for j in range(n_features)), name)
    if name == "separable":
        data = make_separable(200 if n_samples is None else n_samples, n_features, rng=rng)
        return data
    from sklearn import datasets

    if name == "breast_cancer":
        bunch = datasets.load_breast_cancer()
        y = bunch.target
    elif name == "wine":
        bunch = datasets.load_wine()
        y = (bunch.target != 0).astype(np.int64)
    else:
        bunch = datasets.load_digits()
        y = (bunch.target >= 5).astype(np.int64)
    X = np.asarray(bunch.data, dtype=np.float64)
    names = tuple(str(f) for f in bunch.feature_names)
    if n_samples is not None and n_samples < X.shape[0]:
        rows = np.sort(rng.choice(X.shape[0], n_samples, replace=False))
        X, y = X[rows], y[rows]
    return Dataset(X, y.astype(np.int64), names, name)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path: str | Path, target: str, *, categorical: tuple[str, ...] | None = None,
             missing: str = "mean", positive_label: str | None = None,
             delimiter: str = ",") -> Dataset:
    """Load a CSV with a header row into numeric features and integer labels.

    Parameters
    ----------
    path
        the file.
    target
        the label column; its values are mapped to ``0..k-1`` in sorted order, or to
        ``1`` for ``positive_label`` and ``0`` for everything else. Rows without a label are
        dropped.
    categorical
        columns to one-hot encode (default: every column with a non-numeric value);
        a missing categorical value becomes its own category ``"<missing>"``.
    missing
        numeric missing values (empty, ``NA``, ``?``, ...): ``"mean"`` / ``"median"``
        imputation, ``"drop"`` the rows, or ``"error"``.
    positive_label
        binarise the target.
    delimiter
        field separator.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}.")
    check_choice(missing, "missing", ("mean", "median", "drop", "error"))
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter))
    if len(rows) < 2:
        raise ValueError(f"path: {path.name} needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    body = [[c.strip() for c in r] for r in rows[1:] if any(c.strip() for c in r)]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise ValueError(f"path: rows {bad[:5]} of {path.name} do not have {len(header)} fields.")
    if target not in header:
        raise ValueError(f"target: no column {target!r} in {path.name}; columns: {header}.")
    t = header.index(target)
    body = [r for r in body if r[t].lower() not in _MISSING]
    if not body:
        raise ValueError(f"target: every row of {path.name} misses the label {target!r}.")
    labels = np.array([r[t] for r in body])
    if positive_label is not None:
        y = (labels == str(positive_label)).astype(np.int64)
    else:
        _, y = np.unique(labels, return_inverse=True)
    features = [j for j in range(len(header)) if j != t]
    if categorical is None:
        categorical = tuple(header[j] for j in features if any(
            r[j].lower() not in _MISSING and not _is_number(r[j]) for r in body))
    unknown = sorted(set(categorical) - set(header))
    if unknown:
        raise ValueError(f"categorical: no column(s) {unknown} in {path.name}.")
    columns, names = [], []
    keep = np.ones(len(body), dtype=bool)
    for j in features:
        raw = [r[j] for r in body]
        if header[j] in categorical:
            vals = np.array(["<missing>" if v.lower() in _MISSING else v for v in raw])
            for level in np.unique(vals):
                columns.append((vals == level).astype(np.float64))
                names.append(f"{header[j]}={level}")
            continue
        col = np.array([np.nan if v.lower() in _MISSING else float(v) for v in raw])
        holes = np.isnan(col)
        if holes.any():
            if missing == "error":
                raise ValueError(f"missing: column {header[j]!r} has {int(holes.sum())} missing "
                                 "values; pass missing='mean', 'median' or 'drop'.")
            if missing == "drop":
                keep &= ~holes
            elif holes.all():
                col = np.zeros_like(col)
            else:
                fill = np.nanmean(col) if missing == "mean" else np.nanmedian(col)
                col = np.where(holes, fill, col)
        columns.append(col)
        names.append(header[j])
    if not columns:
        raise ValueError(f"path: {path.name} has no feature columns besides {target!r}.")
    X = np.stack(columns, axis=1)[keep]
    y = y[keep].astype(np.int64)
    if X.shape[0] == 0:
        raise ValueError("missing: missing='drop' removed every row.")
    return Dataset(X, y, tuple(names), path.stem)
