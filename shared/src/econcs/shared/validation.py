"""Argument validation at the public boundary of every econcs package.

Every public constructor and entry point checks its arguments with these helpers, so that bad input
fails early with a ``ValueError`` or ``TypeError`` that names the argument, says what was expected and
what was received, and how to fix it -- never a deep shape error, an ``assert`` or a silent NaN.

Examples
--------
>>> check_int(3, "n_bidders", low=1)
3
>>> check_int(0, "n_bidders", low=1)
Traceback (most recent call last):
...
ValueError: n_bidders: expected an integer >= 1, got 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_array",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_probabilities",
    "check_same_length",
    "check_tensor",
    "check_type",
]


def _describe(value: Any) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _bounds_text(low, high, low_inclusive=True, high_inclusive=True) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high}")
    return " and ".join(parts)


def check_type(value: Any, name: str, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise ``TypeError``."""
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        raise TypeError(f"{name}: expected {names}, got {_describe(value)}.")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a ``bool`` (or numpy bool), else raise ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {_describe(value)}.")
    return bool(value)


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Check an integer (``bool`` and floats rejected) in ``[low, high]``; return it as ``int``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {_describe(value)}.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}: expected an integer {_bounds_text(low, high)}, got {value}.")
    return value


def check_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = True,
) -> float:
    """Check a real number in a range; return it as ``float``.

    ``low_inclusive=False`` asks for ``value > low`` (for temperatures, learning rates, ...).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {_describe(value)}.")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name}: expected a finite number, got {value}.")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        bounds = _bounds_text(low, high, low_inclusive, high_inclusive)
        raise ValueError(f"{name}: expected a number {bounds}, got {value}.")
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``."""
    choices = list(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable values
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {listed}, got {_describe(value)}.")
    return value


def _check_shape(shape: tuple[int, ...], name: str, ndim, expected) -> None:
    if ndim is not None:
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if len(shape) not in ndims:
            want = " or ".join(str(n) for n in ndims)
            raise ValueError(
                f"{name}: expected an array with {want} dimension(s), got shape {shape}."
            )
    if expected is not None:
        expected = tuple(expected)
        ok = len(shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected, shape)
        )
        if not ok:
            want = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
            raise ValueError(f"{name}: expected shape {want}, got shape {shape}.")


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: Any = np.float64,
    finite: bool = True,
    non_empty: bool = True,
) -> np.ndarray:
    """Convert ``x`` to a numpy array of ``dtype`` and check its shape and values.

    ``shape`` may hold ``None`` for a free dimension, e.g. ``shape=(None, 3)``.
    Torch tensors are accepted (moved to the CPU and detached).
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name}: expected an array-like of numbers, got {_describe(x)}.")
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name}: expected an array-like of numbers, got {_describe(x)} ({err})."
        ) from None
    _check_shape(arr.shape, name, ndim, shape)
    if non_empty and arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}.")
    if finite and np.issubdtype(arr.dtype, np.number) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name}: expected finite values, got {bad} NaN or infinite entries; "
            "remove or impute them first."
        )
    return arr


def check_tensor(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    non_empty: bool = True,
) -> torch.Tensor:
    """Convert ``x`` to a torch tensor (optionally of ``dtype`` on ``device``) and check it.

    Shape checks as in ``check_array``. Tensors keep their autograd graph.
    """
    if not isinstance(x, torch.Tensor):
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"{name}: expected a tensor or array of numbers, got {_describe(x)}.")
        try:
            x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name}: expected a tensor or array of numbers, got {_describe(x)} ({err})."
            ) from None
        if dtype is None:
            dtype = torch.get_default_dtype()
    if dtype is not None or device is not None:
        x = x.to(dtype=dtype, device=device)
    _check_shape(tuple(x.shape), name, ndim, shape)
    if non_empty and x.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor, got shape {tuple(x.shape)}.")
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or infinite entries.")
    return x


def check_probabilities(
    p: Any,
    name: str,
    *,
    axis: int = -1,
    atol: float = 1e-6,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
) -> np.ndarray:
    """Check a probability vector, or a matrix whose slices along ``axis`` are distributions.

    Entries must be finite and in ``[0, 1]`` and sum to 1 along ``axis`` within ``atol``.
    """
    arr = check_array(p, name, ndim=ndim, shape=shape)
    if np.any(arr < -atol) or np.any(arr > 1 + atol):
        raise ValueError(
            f"{name}: expected probabilities in [0, 1], got values in "
            f"[{arr.min():.6g}, {arr.max():.6g}]."
        )
    sums = arr.sum(axis=axis)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > atol:
        raise ValueError(
            f"{name}: expected entries summing to 1 along axis {axis}, got sums off by up to "
            f"{worst:.3g}; normalise each row (p / p.sum(axis={axis}, keepdims=True))."
        )
    return arr


def check_same_length(a: Any, name_a: str, b: Any, name_b: str) -> None:
    """Check that two sequences/arrays have the same first dimension."""
    len_a, len_b = len(a), len(b)
    if len_a != len_b:
        raise ValueError(
            f"{name_a} and {name_b}: expected the same number of rows, got {len_a} and {len_b}."
        )
