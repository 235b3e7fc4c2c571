"""Linear and mixed-integer programming on HiGHS.

:func:`solve_lp` and :func:`solve_milp` solve ``min`` (or ``max``) ``c @ x`` subject to
``A_ub @ x <= b_ub``, ``A_eq @ x == b_eq``, ``A_lb @ x >= b_lb``, bounds on ``x`` and, for MILPs,
integrality, with the HiGHS solvers (Huangfu and Hall, "Parallelizing the dual revised simplex
method", Math. Prog. Comp. 10, 2018, for the dual simplex; HiGHS's branch-and-cut for MILPs) through
``highspy``. The data may be numpy arrays or scipy.sparse matrices; sparse input is never densified.
Both return a frozen :class:`LPResult`; an infeasible or unbounded problem raises
:class:`InfeasibleError` or :class:`UnboundedError` instead of returning a status to be checked.

:class:`LinearModel` keeps one HiGHS instance alive so that thousands of similar problems (GemNet
re-solves its menu MILP for every price on a grid) are solved by changing costs, bounds or rows
and re-solving: an LP restarts from the previous optimal basis, a MILP can take a starting
incumbent.

Signs of the duals: ``duals_*`` and ``reduced_costs`` are sensitivities of the returned objective
(in the user's sense: the maximum when ``maximize=True``) to the right-hand sides and to the active
variable bounds. For a minimisation they equal ``scipy.optimize.linprog(method="highs")``'s
``ineqlin.marginals``, ``eqlin.marginals`` and ``lower.marginals + upper.marginals``.

Examples
--------
>>> res = solve_lp([-1.0, -2.0], A_ub=[[1.0, 1.0]], b_ub=[4.0], bounds=(0, 3))
>>> res.status, round(res.objective, 9), res.x.round(9).tolist()
('optimal', -7.0, [1.0, 3.0])
>>> res.duals_ub.round(9).tolist()  # one more unit of b_ub lowers the minimum by 1
[-1.0]
>>> knap = solve_milp([5, 4, 3], A_ub=[[2, 3, 1]], b_ub=[5], bounds=(0, 1), maximize=True)
>>> round(knap.objective, 9), knap.x.round().astype(int).tolist()
(9.0, [1, 1, 0])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from econcs.shared._highs_input import (
    _as_limits,
    _check_block,
    _check_indices,
    _check_lo_hi,
    _check_matrix,
    _check_options,
    _check_time_limit,
    _new_highs,
    _parse_bounds,
    _parse_integrality,
)
from econcs.shared.validation import check_array, check_bool, check_float

__all__ = [
    "InfeasibleError",
    "LPResult",
    "LinearModel",
    "SolverError",
    "UnboundedError",
    "solve_lp",
    "solve_milp",
]

_INF = math.inf
_MS = highspy.HighsModelStatus
_FEASIBLE = 2  # highspy.SolutionStatus.kSolutionStatusFeasible
_LIMIT_STATUS = {
    _MS.kTimeLimit: "time_limit",
    _MS.kIterationLimit: "iteration_limit",
    _MS.kSolutionLimit: "solution_limit",
    _MS.kObjectiveBound: "objective_bound",
    _MS.kObjectiveTarget: "objective_target",
    _MS.kInterrupt: "interrupted",
    _MS.kMemoryLimit: "memory_limit",
}


class SolverError(RuntimeError):
    """HiGHS failed, or stopped at a limit before it found a feasible point."""


class InfeasibleError(SolverError):
    """No point satisfies the constraints, bounds and integrality."""


class UnboundedError(SolverError):
    """The objective can be improved without limit over the feasible set."""


@dataclass(frozen=True, eq=False)
class LPResult:
    """Solution of an LP or a MILP (arrays are read-only).

    Attributes
    ----------
    status : str
        ``"optimal"``, or the limit that stopped HiGHS with a feasible point: ``"time_limit"``,
        ``"iteration_limit"``, ``"solution_limit"``, ``"interrupted"``, ``"memory_limit"``.
    x : np.ndarray, shape (n_cols,)
        The solution (the best incumbent when a MILP stopped at a limit).
    objective : float
        ``c @ x``: the minimum, or the maximum when ``maximize=True``.
    duals_ub, duals_eq, duals_lb : np.ndarray or None, shapes (n_ub,), (n_eq,), (n_lb,)
        Row duals of the ``A_ub``, ``A_eq`` and ``A_lb`` blocks: d objective / d right-hand side.
        For a minimisation ``duals_ub <= 0`` and ``duals_lb >= 0``, as scipy's ``linprog``
        marginals. ``None`` for a MILP or an LP stopped before optimality.
    row_duals : np.ndarray or None, shape (n_rows,)
        All row duals in the model's row order (``A_ub`` rows, ``A_eq`` rows, ``A_lb`` rows, then
        rows added with :meth:`LinearModel.add_rows`); ``None`` when the duals are.
    reduced_costs : np.ndarray or None, shape (n_cols,)
        Column duals: d objective / d active bound of each variable; ``None`` when the duals are.
    seconds : float
        Wall-clock time of the HiGHS solve.
    iterations : int
        Simplex (plus interior-point) iterations for an LP, branch-and-bound nodes for a MILP.
    mip_gap : float or None
        Relative gap ``|objective - dual_bound| / |objective|`` of a MILP; ``None`` for an LP.
    dual_bound : float or None
        Best proven bound on the MILP objective; ``None`` for an LP.
    """

    status: str
    x: np.ndarray
    objective: float
    duals_ub: np.ndarray | None
    duals_eq: np.ndarray | None
    duals_lb: np.ndarray | None
    row_duals: np.ndarray | None
    reduced_costs: np.ndarray | None
    seconds: float
    iterations: int
    mip_gap: float | None = None
    dual_bound: float | None = None


def _readonly(a: Any) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


class LinearModel:
    """A re-solvable LP / MILP on one HiGHS instance.

    ``min`` (or ``max``) ``c @ x`` s.t. ``A_ub @ x <= b_ub``, ``A_eq @ x == b_eq``,
    ``A_lb @ x >= b_lb``, bounds and integrality. The rows are numbered in that order (then rows
    added by :meth:`add_rows`); every row is stored as ``lo <= a @ x <= hi``. Change costs, bounds
    or rows and call :meth:`solve` again: an LP restarts from the previous basis (usually far fewer
    simplex iterations than a fresh solve); a MILP can be given a starting incumbent.

    Parameters
    ----------
    c : array_like, shape (n_cols,)
        Objective coefficients.
    A_ub, b_ub : array_like or sparse, shapes (n_ub, n_cols) and (n_ub,), optional
        Rows ``A_ub @ x <= b_ub``.
    A_eq, b_eq : array_like or sparse, shapes (n_eq, n_cols) and (n_eq,), optional
        Rows ``A_eq @ x == b_eq``.
    bounds : (lo, hi) pair, sequence of n_cols pairs, or scipy.optimize.Bounds, default (0, None)
        Variable bounds as in ``scipy.optimize.linprog``; ``None`` means unbounded.
    A_lb, b_lb : array_like or sparse, shapes (n_lb, n_cols) and (n_lb,), optional
        Rows ``A_lb @ x >= b_lb``.
    integrality : int or array_like of int, shape (n_cols,), optional
        0 continuous, 1 integer, 2 semi-continuous, 3 semi-integer (scipy's ``milp`` coding).
        Default: all continuous.
    maximize : bool, default False
        Maximise instead of minimise.
    time_limit : float, optional
        Seconds allowed for each :meth:`solve` (HiGHS's own limit counts the instance's whole
        life; this class re-arms it per solve).
    mip_rel_gap : float, default 1e-6
        Relative gap at which a MILP counts as solved.
    options : dict, optional
        Further HiGHS options, name -> value, passed to ``Highs.setOptionValue`` (for example
        ``{"threads": 1, "mip_heuristic_effort": 0.3, "presolve": "off"}``); an unknown name or
        a rejected value raises ``ValueError``. ``time_limit`` and ``mip_rel_gap`` have their
        own keywords. HiGHS's thread pool is process-wide and refuses a ``threads`` other than
        the one it started with, so a model given ``threads`` resets the pool before each solve
        (do not solve concurrently from several Python threads with different ``threads``).
    """

    def __init__(
        self,
        c: Any,
        A_ub: Any = None,
        b_ub: Any = None,
        A_eq: Any = None,
        b_eq: Any = None,
        bounds: Any = (0, None),
        *,
        A_lb: Any = None,
        b_lb: Any = None,
        integrality: Any = None,
        maximize: bool = False,
        time_limit: float | None = None,
        mip_rel_gap: float = 1e-6,
        options: dict[str, Any] | None = None,
    ) -> None:
        cost = check_array(c, "c", ndim=1)
        n = cost.shape[0]
        a_ub, r_ub = _check_block(A_ub, b_ub, "A_ub", "b_ub", n)
        a_eq, r_eq = _check_block(A_eq, b_eq, "A_eq", "b_eq", n)
        a_lb, r_lb = _check_block(A_lb, b_lb, "A_lb", "b_lb", n)
        col_lo, col_hi = _parse_bounds(bounds, n)
        integ = _parse_integrality(integrality, n, default=0)
        self._maximize = check_bool(maximize, "maximize")
        self._time_limit = _check_time_limit(time_limit)
        gap = check_float(mip_rel_gap, "mip_rel_gap", low=0.0)
        opts = _check_options(options)
        self._n_ub, self._n_eq, self._n_lb = len(r_ub), len(r_eq), len(r_lb)
        self._is_mip = bool(np.any(integ != 0))

        mat = sp.vstack([a_ub, a_eq, a_lb], format="csc")
        mat = sp.csc_array(mat, copy=True)
        mat.sum_duplicates()
        mat.eliminate_zeros()
        row_lo = np.concatenate([np.full(self._n_ub, -_INF), r_eq, r_lb])
        row_hi = np.concatenate([r_ub, r_eq, np.full(self._n_lb, _INF)])

        self._h = _new_highs()
        self._h.setOptionValue("mip_rel_gap", gap)
        for name, value in opts.items():
            self._h.setOptionValue(name, value)
        self._reset_threads = "threads" in opts
        status = self._h.passModel(
            n,
            mat.shape[0],
            mat.nnz,
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMaximize if self._maximize else highspy.ObjSense.kMinimize),
            0.0,
            cost,
            col_lo,
            col_hi,
            row_lo,
            row_hi,
            mat.indptr.astype(np.int32),
            mat.indices.astype(np.int32),
            mat.data,
            integ,  # always n entries: highspy reads garbage from an empty integrality array
        )
        self._check_call(status, "passing the model")

    # -- properties ------------------------------------------------------------------------

    @property
    def n_cols(self) -> int:
        """Number of variables."""
        return int(self._h.getNumCol())

    @property
    def n_rows(self) -> int:
        """Number of rows (constraints), including rows added by :meth:`add_rows`."""
        return int(self._h.getNumRow())

    @property
    def is_mip(self) -> bool:
        """Whether any variable has integrality other than continuous."""
        return self._is_mip

    # -- modifications -----------------------------------------------------------------------

    def set_costs(self, c: Any, idx: Any = None) -> None:
        """Replace objective coefficients.

        Parameters
        ----------
        c : array_like, shape (n_cols,) or (len(idx),)
            New costs (of all variables, or of the variables ``idx``).
        idx : int or array_like of int, optional
            Variables to change; default all.
        """
        cols = (
            np.arange(self.n_cols, dtype=np.int32)
            if idx is None
            else _check_indices(idx, "idx", self.n_cols, "variable")
        )
        cost = check_array(c, "c", ndim=(0, 1), non_empty=False)
        if cost.ndim == 1 and cost.shape[0] != cols.size:
            raise ValueError(f"c: expected {cols.size} entries, got shape {cost.shape}.")
        cost = np.broadcast_to(cost, cols.shape).astype(np.float64)
        self._check_call(self._h.changeColsCost(cols.size, cols, cost), "changing costs")

    def set_col_bounds(self, idx: Any, lo: Any, hi: Any) -> None:
        """Change variable bounds ``lo[k] <= x[idx[k]] <= hi[k]`` (``None`` = unbounded).

        Parameters
        ----------
        idx : int or array_like of int, shape (k,)
            Variables to change.
        lo, hi : float, None or array_like, shape (k,)
            New lower and upper bounds.
        """
        cols = _check_indices(idx, "idx", self.n_cols, "variable")
        low = _as_limits(lo, "lo", cols.size, -_INF)
        high = _as_limits(hi, "hi", cols.size, _INF)
        _check_lo_hi(low, high, "lo, hi", "variable")
        status = self._h.changeColsBounds(cols.size, cols, low, high)
        self._check_call(status, "changing variable bounds")

    def set_row_bounds(self, idx: Any, lo: Any, hi: Any) -> None:
        """Change row limits ``lo[k] <= (A @ x)[idx[k]] <= hi[k]`` (``None`` = unbounded).

        Rows are numbered ``A_ub`` rows, ``A_eq`` rows, ``A_lb`` rows, then added rows. A
        ``<=`` row of ``A_ub`` has ``lo=None``; an equality row ``lo == hi``.

        Parameters
        ----------
        idx : int or array_like of int, shape (k,)
            Rows to change.
        lo, hi : float, None or array_like, shape (k,)
            New lower and upper limits.
        """
        rows = _check_indices(idx, "idx", self.n_rows, "row")
        low = _as_limits(lo, "lo", rows.size, -_INF)
        high = _as_limits(hi, "hi", rows.size, _INF)
        _check_lo_hi(low, high, "lo, hi", "row")
        status = self._h.changeRowsBounds(rows.size, rows, low, high)
        self._check_call(status, "changing row bounds")

    def add_rows(self, A: Any, lo: Any, hi: Any) -> np.ndarray:
        """Append rows ``lo <= A @ x <= hi`` (``None`` = unbounded side).

        Parameters
        ----------
        A : array_like or sparse, shape (k, n_cols)
            Coefficients of the new rows.
        lo, hi : float, None or array_like, shape (k,)
            Lower and upper limits of the new rows.

        Returns
        -------
        np.ndarray of int, shape (k,)
            Indices of the new rows (for :meth:`set_row_bounds` and ``LPResult.row_duals``).
        """
        mat = _check_matrix(A, "A", self.n_cols)
        mat.sum_duplicates()
        mat.eliminate_zeros()
        k = mat.shape[0]
        low = _as_limits(lo, "lo", k, -_INF)
        high = _as_limits(hi, "hi", k, _INF)
        _check_lo_hi(low, high, "lo, hi", "row")
        first = self.n_rows
        if k:
            status = self._h.addRows(
                k,
                low,
                high,
                mat.nnz,
                mat.indptr[:-1].astype(np.int32),
                mat.indices.astype(np.int32),
                mat.data,
            )
            self._check_call(status, "adding rows")
        return np.arange(first, first + k)

    # -- solving -----------------------------------------------------------------------------

    def solve(self, start: Any = None) -> LPResult:
        """Solve the current model, warm-starting from the previous solve.

        Parameters
        ----------
        start : array_like, shape (n_cols,), optional
            A starting point handed to HiGHS (``setSolution``): for a MILP a feasible ``start``
            becomes the first incumbent (an infeasible one is ignored); for an LP HiGHS builds
            its starting basis from it (by crossover) instead of using the previous basis.

        Returns
        -------
        LPResult

        Raises
        ------
        InfeasibleError, UnboundedError
            When the model has no feasible point / an unbounded objective.
        SolverError
            When HiGHS fails, or a limit stops it before it finds a feasible point.
        """
        h = self._h
        if start is not None:
            x0 = check_array(start, "start", ndim=1, shape=(self.n_cols,))
            sol = highspy.HighsSolution()
            sol.col_value = x0.tolist()
            sol.value_valid = True
            self._check_call(h.setSolution(sol), "setting the starting solution")
        if self._time_limit is not None:
            # HiGHS compares time_limit with the instance's cumulative run time: re-arm it.
            h.setOptionValue("time_limit", h.getRunTime() + self._time_limit)
        if self._reset_threads:
            type(h).resetGlobalScheduler(True)
        t0 = time.perf_counter()
        run_status = h.run()
        seconds = time.perf_counter() - t0
        model_status = h.getModelStatus()
        if model_status == _MS.kUnboundedOrInfeasible:
            model_status = self._disambiguate()
        if model_status == _MS.kInfeasible:
            raise InfeasibleError(
                f"The {self._kind} is infeasible: no x satisfies all rows, bounds"
                f"{' and integrality' if self._is_mip else ''}. Check the data for "
                "contradictory constraints (e.g. with scipy.optimize.linprog or HiGHS's IIS)."
            )
        if model_status == _MS.kUnbounded:
            direction = "above" if self._maximize else "below"
            raise UnboundedError(
                f"The {self._kind} is unbounded: the objective is not bounded {direction} on the "
                "feasible set. Add bounds on x or constraints that limit the objective."
            )
        info = h.getInfo()
        if model_status == _MS.kOptimal:
            status = "optimal"
        elif model_status in _LIMIT_STATUS:
            status = _LIMIT_STATUS[model_status]
            if info.primal_solution_status != _FEASIBLE:
                limit = f"time limit of {self._time_limit} s" if status == "time_limit" else status
                raise SolverError(
                    f"HiGHS stopped at the {limit} before it found a feasible point of the "
                    f"{self._kind}; raise the limit or give a feasible start."
                )
        else:
            raise SolverError(
                f"HiGHS could not solve the {self._kind}: model status "
                f"'{h.modelStatusToString(model_status)}' (run status {run_status.name})."
            )
        return self._result(status, info, seconds)

    @property
    def _kind(self) -> str:
        return "MILP" if self._is_mip else "LP"

    def _disambiguate(self) -> Any:
        """HiGHS's presolve may only know 'infeasible or unbounded': test feasibility alone."""
        h = self._h
        n = self.n_cols
        cols = np.arange(n, dtype=np.int32)
        costs = np.asarray(h.getLp().col_cost_, dtype=np.float64)
        h.changeColsCost(n, cols, np.zeros(n))
        h.setOptionValue("presolve", "off")
        try:
            h.run()
            status = h.getModelStatus()
        finally:
            h.setOptionValue("presolve", "choose")
            h.changeColsCost(n, cols, costs)
        if status == _MS.kOptimal:
            return _MS.kUnbounded
        if status == _MS.kInfeasible:
            return _MS.kInfeasible
        return _MS.kUnboundedOrInfeasible

    def _result(self, status: str, info: Any, seconds: float) -> LPResult:
        sol = self._h.getSolution()
        x = _readonly(sol.col_value)
        duals = reduced = d_ub = d_eq = d_lb = None
        if not self._is_mip and status == "optimal" and sol.dual_valid:
            duals = _readonly(sol.row_dual)
            reduced = _readonly(sol.col_dual)
            i, j = self._n_ub, self._n_ub + self._n_eq
            d_ub, d_eq, d_lb = duals[:i], duals[i:j], duals[j : j + self._n_lb]
        if self._is_mip:
            iterations = max(int(info.mip_node_count), 0)
            gap, bound = float(info.mip_gap), float(info.mip_dual_bound)
        else:
            iterations = max(int(info.simplex_iteration_count), 0)
            iterations += max(int(info.ipm_iteration_count), 0)
            gap = bound = None
        return LPResult(
            status=status,
            x=x,
            objective=float(info.objective_function_value),
            duals_ub=d_ub,
            duals_eq=d_eq,
            duals_lb=d_lb,
            row_duals=duals,
            reduced_costs=reduced,
            seconds=seconds,
            iterations=iterations,
            mip_gap=gap,
            dual_bound=bound,
        )

    @staticmethod
    def _check_call(status: Any, what: str) -> None:
        if status == highspy.HighsStatus.kError:
            raise SolverError(f"HiGHS reported an error while {what}.")


def solve_lp(
    c: Any,
    A_ub: Any = None,
    b_ub: Any = None,
    A_eq: Any = None,
    b_eq: Any = None,
    bounds: Any = (0, None),
    *,
    A_lb: Any = None,
    b_lb: Any = None,
    maximize: bool = False,
    time_limit: float | None = None,
    options: dict[str, Any] | None = None,
) -> LPResult:
    """Solve an LP with HiGHS.

    ``min`` (or ``max``) ``c @ x`` s.t. ``A_ub @ x <= b_ub``, ``A_eq @ x == b_eq``,
    ``A_lb @ x >= b_lb``, ``lo <= x <= hi``.

    Parameters
    ----------
    c : array_like, shape (n_cols,)
        Objective coefficients.
    A_ub, b_ub : array_like or sparse, shapes (n_ub, n_cols) and (n_ub,), optional
        Rows ``A_ub @ x <= b_ub``.
    A_eq, b_eq : array_like or sparse, shapes (n_eq, n_cols) and (n_eq,), optional
        Rows ``A_eq @ x == b_eq``.
    bounds : (lo, hi) pair, sequence of n_cols pairs, or scipy.optimize.Bounds, default (0, None)
        Variable bounds as in ``scipy.optimize.linprog``; ``None`` means unbounded.
    A_lb, b_lb : array_like or sparse, shapes (n_lb, n_cols) and (n_lb,), optional
        Rows ``A_lb @ x >= b_lb``.
    maximize : bool, default False
        Maximise instead of minimise.
    time_limit : float, optional
        Seconds; an LP stopped with a feasible point has status ``"time_limit"`` and no duals.
    options : dict, optional
        Further HiGHS options (name -> value), as in :class:`LinearModel`.

    Returns
    -------
    LPResult
        With duals ``duals_ub`` (n_ub,), ``duals_eq`` (n_eq,), ``duals_lb`` (n_lb,) and
        ``reduced_costs`` (n_cols,).

    Raises
    ------
    InfeasibleError, UnboundedError, SolverError
        See :meth:`LinearModel.solve`.
    ValueError, TypeError
        For malformed input, naming the argument.
    """
    return LinearModel(
        c, A_ub, b_ub, A_eq, b_eq, bounds,
        A_lb=A_lb, b_lb=b_lb, maximize=maximize, time_limit=time_limit, options=options,
    ).solve()  # fmt: skip


def solve_milp(
    c: Any,
    A_ub: Any = None,
    b_ub: Any = None,
    A_eq: Any = None,
    b_eq: Any = None,
    bounds: Any = (0, None),
    *,
    A_lb: Any = None,
    b_lb: Any = None,
    integrality: Any = None,
    maximize: bool = False,
    time_limit: float | None = None,
    mip_rel_gap: float = 1e-6,
    options: dict[str, Any] | None = None,
) -> LPResult:
    """Solve a mixed-integer LP with HiGHS's branch-and-cut.

    Parameters
    ----------
    c, A_ub, b_ub, A_eq, b_eq, bounds, A_lb, b_lb, maximize
        As in :func:`solve_lp`.
    integrality : int or array_like of int, shape (n_cols,), optional
        0 continuous, 1 integer, 2 semi-continuous, 3 semi-integer (scipy's ``milp`` coding).
        Default: **every variable integer** (unlike scipy's ``milp``, whose default is
        continuous; use :func:`solve_lp` for a continuous problem).
    time_limit : float, optional
        Seconds; a MILP stopped with an incumbent returns it with status ``"time_limit"`` and its
        ``mip_gap``; stopped without one it raises :class:`SolverError`.
    mip_rel_gap : float, default 1e-6
        Relative gap at which HiGHS stops.
    options : dict, optional
        Further HiGHS options (name -> value), as in :class:`LinearModel`.

    Returns
    -------
    LPResult
        ``x`` (n_cols,), ``objective``, ``mip_gap``, ``dual_bound``, ``iterations`` = nodes;
        the duals are ``None`` unless every variable is continuous.

    Raises
    ------
    InfeasibleError, UnboundedError, SolverError
        See :meth:`LinearModel.solve`.
    ValueError, TypeError
        For malformed input, naming the argument.
    """
    n = check_array(c, "c", ndim=1).shape[0]
    integ = _parse_integrality(integrality, n, default=1)
    return LinearModel(
        c, A_ub, b_ub, A_eq, b_eq, bounds,
        A_lb=A_lb, b_lb=b_lb, integrality=integ, maximize=maximize, time_limit=time_limit,
        mip_rel_gap=mip_rel_gap, options=options,
    ).solve()  # fmt: skip
