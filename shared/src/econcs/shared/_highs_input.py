"""Input checks for :mod:`econcs.shared.solvers` and the silent HiGHS instance it solves on.

Kept apart from the solver so that ``solvers.py`` reads as the model and its two entry points; every
check raises a ``ValueError``/``TypeError`` naming the argument, at the public boundary.
"""

from __future__ import annotations

import math
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from econcs.shared.validation import check_array, check_float

_INF = math.inf

# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _check_matrix(A: Any, name: str, n_cols: int) -> sp.csr_array:
    """A dense or sparse ``(m, n_cols)`` matrix as a float64 CSR array (sparse stays sparse)."""
    if sp.issparse(A):
        if A.ndim != 2 or A.shape[1] != n_cols:
            raise ValueError(
                f"{name}: expected a matrix of shape (any, {n_cols}) (one column per entry of c), "
                f"got a sparse matrix of shape {A.shape}."
            )
        if not np.issubdtype(A.dtype, np.number) or np.issubdtype(A.dtype, np.complexfloating):
            raise TypeError(f"{name}: expected real numbers, got a sparse matrix of {A.dtype}.")
        out = sp.csr_array(A, dtype=np.float64, copy=True)
        if not np.all(np.isfinite(out.data)):
            raise ValueError(f"{name}: expected finite values, got NaN or infinite entries.")
        return out
    arr = check_array(A, name, ndim=2, shape=(None, n_cols), non_empty=False)
    return sp.csr_array(arr)


def _check_block(
    A: Any, b: Any, name_a: str, name_b: str, n_cols: int
) -> tuple[sp.csr_array, np.ndarray]:
    """Check one block of rows ``A x (op) b``; both or neither must be given."""
    if A is None and b is None:
        return sp.csr_array((0, n_cols)), np.zeros(0)
    if A is None or b is None:
        missing, given = (name_a, name_b) if A is None else (name_b, name_a)
        raise ValueError(f"{missing}: required when {given} is given (pass both or neither).")
    mat = _check_matrix(A, name_a, n_cols)
    rhs = check_array(b, name_b, ndim=1, non_empty=False)
    if rhs.shape[0] != mat.shape[0]:
        raise ValueError(
            f"{name_b}: expected {mat.shape[0]} entries (one per row of {name_a}), "
            f"got shape {rhs.shape}."
        )
    return mat, rhs


def _as_limits(value: Any, name: str, size: int, fill: float) -> np.ndarray:
    """Scalar or length-``size`` array of limits, ``None`` entries -> ``fill`` (+-inf)."""
    if value is None:
        return np.full(size, fill)
    obj = np.array(value, dtype=object)
    if obj.ndim > 1 or (obj.ndim == 1 and obj.shape[0] != size):
        raise ValueError(f"{name}: expected a number or {size} numbers, got shape {obj.shape}.")
    obj = np.where(np.equal(obj, None), fill, obj)
    try:
        out = np.broadcast_to(obj.astype(np.float64), (size,)).copy()
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected numbers or None, got {value!r:.60}.") from None
    if np.any(np.isnan(out)):
        raise ValueError(f"{name}: expected numbers or None (unbounded), got NaN.")
    return out


def _check_lo_hi(lo: np.ndarray, hi: np.ndarray, name: str, what: str) -> None:
    bad = np.flatnonzero((lo > hi) | (lo == _INF) | (hi == -_INF))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}: expected lower <= upper (finite lower < inf, upper > -inf) for every "
            f"{what}, got lower {lo[i]} and upper {hi[i]} for {what} {i}."
        )


def _parse_bounds(bounds: Any, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds as in scipy's ``linprog``: one ``(lo, hi)`` pair or ``n_cols`` pairs; None = inf."""
    if bounds is None:  # scipy's linprog treats None as the default (0, None)
        bounds = (0.0, None)
    if isinstance(bounds, (str, bytes)):
        raise TypeError(f"bounds: expected a (lo, hi) pair or a list of pairs, got {bounds!r}.")
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        lo = _as_limits(bounds.lb, "bounds.lb", n_cols, -_INF)
        hi = _as_limits(bounds.ub, "bounds.ub", n_cols, _INF)
    else:
        try:
            obj = np.array(bounds, dtype=object)
        except ValueError:  # ragged
            obj = np.empty(0, dtype=object)
        if obj.shape == (2,) and not any(isinstance(v, (list, tuple, np.ndarray)) for v in obj):
            obj = np.broadcast_to(obj, (n_cols, 2))
        elif obj.shape == (1, 2):
            obj = np.broadcast_to(obj, (n_cols, 2))
        if obj.shape != (n_cols, 2):
            raise ValueError(
                f"bounds: expected one (lo, hi) pair or {n_cols} pairs (one per entry of c), "
                f"got {bounds!r:.80}."
            )
        lo = _as_limits(obj[:, 0], "bounds", n_cols, -_INF)
        hi = _as_limits(obj[:, 1], "bounds", n_cols, _INF)
    _check_lo_hi(lo, hi, "bounds", "variable")
    return lo, hi


def _parse_integrality(integrality: Any, n_cols: int, default: int) -> np.ndarray:
    """0 continuous, 1 integer, 2 semi-continuous, 3 semi-integer (as scipy's ``milp``)."""
    if integrality is None:
        return np.full(n_cols, default, dtype=np.int32)
    arr = check_array(integrality, "integrality", ndim=(0, 1), dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] != n_cols:
        raise ValueError(
            f"integrality: expected {n_cols} entries (one per entry of c) or one number, "
            f"got shape {arr.shape}."
        )
    if not np.all(np.isin(arr, (0, 1, 2, 3))):
        raise ValueError(
            "integrality: expected entries in {0 continuous, 1 integer, 2 semi-continuous, "
            f"3 semi-integer}}, got {np.unique(arr)[:8].tolist()}."
        )
    return np.broadcast_to(arr, (n_cols,)).astype(np.int32)


def _check_time_limit(time_limit: Any) -> float | None:
    if time_limit is None:
        return None
    return check_float(time_limit, "time_limit", low=0.0, low_inclusive=False, finite=False)


def _check_indices(idx: Any, name: str, size: int, what: str) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer) or arr.ndim > 1:
        raise TypeError(f"{name}: expected an integer or a 1-D array of integers, got {idx!r:.60}.")
    arr = np.atleast_1d(arr).astype(np.int64)
    if arr.size and (arr.min() < -size or arr.max() >= size):
        raise ValueError(
            f"{name}: expected {what} indices in [0, {size}), got values in "
            f"[{arr.min()}, {arr.max()}]."
        )
    arr = np.where(arr < 0, arr + size, arr)
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{name}: expected distinct {what} indices, got repeats.")
    return arr.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# HiGHS
# ---------------------------------------------------------------------------------------------


def _new_highs() -> Any:
    """A silent HiGHS instance.

    ``highspy.Highs()`` registers its Python callbacks in ``__init__``, and that first call into
    HiGHS prints the licence banner before ``output_flag`` can be switched off; the compiled base
    class ``highspy._core._Highs`` has the same solver methods without that side effect.
    """
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    h = core() if core is not None else highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


_MANAGED_OPTIONS = {"time_limit": "time_limit", "mip_rel_gap": "mip_rel_gap"}


def _check_options(options: Any) -> dict[str, Any]:
    """Validate ``options`` (HiGHS option name -> value) on a scratch instance."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options: expected a dict of HiGHS option names to values, got "
                        f"{type(options).__name__}.")
    scratch = _new_highs()
    out: dict[str, Any] = {}
    for name, value in options.items():
        if not isinstance(name, str):
            raise TypeError(f"options: expected option names as str, got {name!r:.60}.")
        if name in _MANAGED_OPTIONS:
            raise ValueError(f"options: {name!r} is set by the keyword argument "
                             f"{_MANAGED_OPTIONS[name]}=; pass it there instead.")
        status, kind = scratch.getOptionType(name)
        if status == highspy.HighsStatus.kError:
            raise ValueError(f"options: unknown HiGHS option {name!r} (see the HiGHS options "
                             "reference, e.g. 'threads', 'presolve', 'mip_heuristic_effort').")
        if (kind == highspy.HighsOptionType.kDouble and isinstance(value, (int, np.integer))
                and not isinstance(value, (bool, np.bool_))):
            value = float(value)  # highspy dispatches a Python int to the int overload
        if scratch.setOptionValue(name, value) == highspy.HighsStatus.kError:
            raise ValueError(f"options: HiGHS rejected {name}={value!r:.60} (wrong type or out "
                             f"of range for a {kind.name[1:].lower()} option).")
        out[name] = value
    return out
