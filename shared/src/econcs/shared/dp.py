"""Value iteration: the one fixed-point loop of every tabular Bellman operator in econcs.

``value_iteration(backup, init)`` iterates ``v <- backup(v)`` until the sup-norm change is at most
``tol`` (times ``1 - gamma`` for a discounted operator, so that the result is within ``tol`` of the
fixed point: Puterman 1994, Thm. 6.3.1). At ``max_iter`` without convergence it warns
(:class:`econcs.shared.ConvergenceWarning`) and returns the last iterate, with ``converged=False`` in
its result, never silently.

>>> import numpy as np
>>> r = value_iteration(lambda v: 1.0 + 0.5 * v, np.zeros(2), gamma=0.5, tol=1e-12)
>>> np.round(r.values, 9).tolist(), r.converged
([2.0, 2.0], True)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from econcs.shared.errors import ConvergenceWarning
from econcs.shared.validation import check_float, check_int

__all__ = ["ValueIterationResult", "value_iteration"]


@dataclasses.dataclass(frozen=True)
class ValueIterationResult:
    """``values`` (the last iterate, same shape as ``init``), ``iterations`` (sweeps done),
    ``converged`` and ``residual`` (the sup-norm of the last change)."""

    values: np.ndarray
    iterations: int
    converged: bool
    residual: float


def value_iteration(
    backup: Callable[[np.ndarray], np.ndarray],
    init: np.ndarray,
    *,
    gamma: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 100_000,
    name: str = "value iteration",
) -> ValueIterationResult:
    """Iterate ``v <- backup(v)`` from ``init`` to a fixed point.

    Parameters
    ----------
    backup
        the Bellman operator: an array of ``init``'s shape to one of the same shape.
    init
        the first iterate (e.g. ``np.zeros(n_states)``).
    gamma
        the operator's discount in ``[0, 1]``: below 1 the stopping threshold is
        ``tol * (1 - gamma)``; at 1 (episodic, undiscounted) it is ``tol``.
    tol, max_iter
        stopping tolerance on the sup-norm change and the most sweeps.
    name
        what is iterated, for the warning.
    """
    gamma = check_float(gamma, "gamma", low=0.0, high=1.0)
    tol = check_float(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    threshold = tol * (1.0 - gamma) if gamma < 1.0 else tol
    values = np.asarray(init, dtype=np.float64)
    residual = np.inf
    for sweep in range(1, max_iter + 1):
        new = backup(values)
        residual = float(np.max(np.abs(new - values), initial=0.0))
        values = new
        if residual <= threshold:
            return ValueIterationResult(values, sweep, True, residual)
    warnings.warn(f"{name}: value iteration did not converge in max_iter={max_iter} sweeps "
                  f"(last change {residual:.3g} > {threshold:.3g}).", ConvergenceWarning,
                  stacklevel=2)
    return ValueIterationResult(values, max_iter, False, residual)
