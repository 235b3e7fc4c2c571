"""The optimal-transport dual of the market-maker problem on a grid (Curry, Fan, Parkes 2024, Sec. 3).

With ``lambda = 1 - l`` the MM's expected profit is ``E[lambda <x - c, grad u(x)> - u(x)]`` for the
trader's convex utility ``u`` (gradients in ``[-1, 1]^m``, ``u`` not decreasing away from ``c`` in any
coordinate). Integrating by parts on ``[0, 1]^m`` turns it into ``int u d mu`` for a signed measure of
total mass zero: the *source* is a unit point mass at ``c`` plus ``lambda f (x - c) . n`` on the
boundary, the *target* ``lambda div((x - c) f) + f`` inside (``(m lambda + 1)`` times Lebesgue for
uniform values). The optimal profit equals the cost of the cheapest transport of source onto target
where a unit of mass moved a unit L1 distance costs 1, a move away from ``c`` in a coordinate is free
(``u`` is monotone there) and a mean-preserving spread is free (``u`` is convex).

:func:`solve_dual` discretises this on an ``grid``-point-per-axis grid (``m <= 2``) as a sparse
min-cost-flow LP solved by HiGHS (:func:`econcs.shared.solve_lp`): one column per move between
neighbouring grid points (cost ``h = 1/(grid - 1)``, or 0 away from ``c``) and per local spread (take
2 from a point, put 1 on each side: along the boundary edges by default, as in the authors' LP, or
at every point along the axes and diagonals); one balance row per grid point.
The measure of each grid point is that of its cell, computed by the divergence theorem (boundary
fluxes of ``lambda f (x - c)`` with Gauss-Legendre quadrature), so it is exact for uniform values.
The LP's duals are the trader's utility on the grid (``DualResult.potential``). The grid problem
is solved for ``c`` moved to the nearest grid point (``DualResult.c``): an atom split between grid
points would pay about ``h`` to cross back over ``c``. So the value is exact in ``c`` only when
``(grid - 1) c`` is an integer (``grid = 61`` or ``301`` for ``c = 1/3``); otherwise it is that
of a ``c`` within ``h/2``.

The constraint matrix is a ``scipy.sparse`` matrix with at most 3 entries per column; a 201 x 201
grid has about 1.6e5 columns (3.2e5 with ``spreads="all"``) and solves in about a minute.
:func:`ot_dual` solves the same problem without spreads as a plain
optimal-transport problem with POT's exact solver (``ot.emd2``), as a cross-check, and the plain-OT
relaxation without free moves (L1 Wasserstein distance) as a baseline.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from econcs.amm._market import check_goods_cost, check_selection
from econcs.amm._values import TraderValues, make_values
from econcs.shared import Params, check_float, param, resolve_params, solve_lp
from econcs.shared.errors import ConvergenceWarning

__all__ = ["DualParams", "DualResult", "duality_gap", "ot_dual", "solve_dual"]


# primal simplex suits the min-cost-flow structure; IPM without crossover is as fast on large grids
_SOLVER_OPTIONS = {
    "simplex": {"solver": "simplex", "simplex_strategy": 4},
    "ipm": {"solver": "ipm", "run_crossover": "off"},
}


@dataclasses.dataclass(frozen=True)
class DualParams(Params):
    """Discretisation and solver settings of :func:`solve_dual`."""

    grid: int = param(101, "grid points per axis (spacing 1/(grid-1))", low=3)
    spreads: str = param("boundary", "free mean-preserving spreads: along the boundary edges, at "
                         "every point along the axes and diagonals (tighter, slower), or none",
                         choices=("all", "boundary", "none"))
    free_moves: bool = param(True, "moves away from c are free (False: plain L1 transport)")
    quad: int = param(3, "Gauss-Legendre points per cell side for the measures", low=1)
    solver: str = param("simplex", "HiGHS LP method: primal simplex, or interior point without "
                        "crossover (approximate duals)", choices=("simplex", "ipm"))
    time_limit: float | None = param(None, "seconds allowed for the LP (None: no limit)",
                                     low=0.0, low_inclusive=False)


@dataclasses.dataclass(frozen=True, eq=False)
class DualResult:
    """The grid dual's optimum.

    Attributes
    ----------
    c : np.ndarray, shape (n_goods,)
        The prior values the grid problem was solved for (the given ``c`` moved to the nearest
        grid point).
    value : float
        Minimal transport cost: an estimate (up to the grid's discretisation) of the optimal
        expected profit.
    status : str
        HiGHS's status (``"optimal"``).
    potential : np.ndarray, shape (grid,) or (grid, grid)
        The LP's duals, the trader's utility ``u`` on the grid (``[i, j]`` at ``(x_i, y_j)``),
        shifted to minimum 0; its differences are the optimal trades.
    mass : np.ndarray, same shape
        The signed measure on the grid (source positive, target negative; sums to 0).
    n_variables, n_constraints, nnz : int
        Size of the LP.
    seconds : float
        Wall-clock time of the HiGHS solve; ``build_seconds`` that of assembling it.
    iterations : int
        HiGHS iterations.
    params : DualParams
        The settings used.
    history : tuple of dict
        One entry ``{"step": iterations, "value": value}`` (the solve is one step).
    """

    c: np.ndarray
    value: float
    status: str
    potential: np.ndarray
    mass: np.ndarray
    n_variables: int
    n_constraints: int
    nnz: int
    seconds: float
    build_seconds: float
    iterations: int
    params: DualParams
    history: tuple[dict[str, Any], ...]


def _check_problem(c: Any, l: Any, values: Any) -> tuple[np.ndarray, float, TraderValues]:
    c = check_goods_cost(c)
    l = check_selection(l)
    if c.shape[0] > 2:
        raise ValueError(
            f"c: the grid LP supports m <= 2 goods (n_goods <= 2; it has grid^m points), got "
            f"{c.shape[0]} goods; use the learned menus (econcs.amm.MenuNet) for more goods."
        )
    return c, l, make_values(values, c.shape[0])


def _snap(c: np.ndarray, grid: int) -> np.ndarray:
    """``c`` moved to the nearest grid point: the grid problem is solved for that ``c``."""
    return np.round(c * (grid - 1)) / (grid - 1)


def _c_index(c: np.ndarray, grid: int) -> np.ndarray:
    """Grid index of each coordinate of ``c`` (already on the grid: :func:`_snap`)."""
    return np.round(c * (grid - 1)).astype(int)


def _cells(grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid points and the lower and upper ends of their cells ``[x - h/2, x + h/2] & [0, 1]``."""
    g = np.linspace(0.0, 1.0, grid)
    h = 1.0 / (grid - 1)
    return g, np.clip(g - h / 2, 0, 1), np.clip(g + h / 2, 0, 1)


def _grid_measure(
    c: np.ndarray, l: float, values: TraderValues, grid: int, quad: int
) -> np.ndarray:
    """Signed measure of each grid cell: source (boundary flux and the atom at c) minus target."""
    lam = 1.0 - l
    m = c.shape[0]
    g, lo, hi = _cells(grid)
    h = 1.0 / (grid - 1)
    t, w = np.polynomial.legendre.leggauss(quad)
    t, w = (t + 1) / 2, w / 2  # on [0, 1]
    # quadrature nodes in every cell along one axis: (grid, quad)
    qx = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    qw = (hi - lo)[:, None] * w[None, :]
    face = g[:-1] + h / 2  # the faces between neighbouring points
    if m == 1:
        mass_cell = (values.density(qx.reshape(-1, 1)).reshape(grid, quad) * qw).sum(1)
        flux = values.density(face[:, None]) * (face - c[0])  # (grid-1,) outward of the left cell
        out = np.zeros(grid)
        out[:-1] += flux
        out[1:] -= flux
        net = -lam * out - mass_cell
    else:
        px = np.broadcast_to(qx[:, :, None, None], (grid, quad, grid, quad))
        py = np.broadcast_to(qx[None, None, :, :], (grid, quad, grid, quad))
        dens = values.density(np.stack([px.ravel(), py.ravel()], 1)).reshape(grid, quad, grid, quad)
        mass_cell = np.einsum("iajb,ia,jb->ij", dens, qw, qw)
        # flux of lambda f (x - c) through the faces x = face_i (along y) and y = face_j (along x)
        fx = np.broadcast_to(face[:, None, None], (grid - 1, grid, quad))
        fy = np.broadcast_to(qx[None, :, :], (grid - 1, grid, quad))
        dx = values.density(np.stack([fx.ravel(), fy.ravel()], 1)).reshape(grid - 1, grid, quad)
        flux_x = (dx * qw[None]).sum(-1) * (face - c[0])[:, None]  # (grid-1, grid)
        dy = values.density(np.stack([fy.ravel(), fx.ravel()], 1)).reshape(grid - 1, grid, quad)
        flux_y = ((dy * qw[None]).sum(-1) * (face - c[1])[:, None]).T  # (grid, grid-1)
        out = np.zeros((grid, grid))
        out[:-1, :] += flux_x
        out[1:, :] -= flux_x
        out[:, :-1] += flux_y
        out[:, 1:] -= flux_y
        net = -lam * out - mass_cell
    # the unit atom at c, split linearly between the surrounding points (mean-preserving); its
    # weight absorbs the quadrature's error so that the measure sums to exactly 0
    atom = -net.sum()
    pos = c * (grid - 1)
    pos = np.where(np.abs(pos - np.round(pos)) < 1e-9, np.round(pos), pos)  # on the grid: exact
    base = np.minimum(np.floor(pos).astype(int), grid - 2)
    frac = pos - base
    for corner in np.ndindex(*(2,) * m):
        wgt = math.prod(frac[k] if corner[k] else 1 - frac[k] for k in range(m))
        net[tuple(base + np.array(corner))] += atom * wgt
    return net


def _arcs(c: np.ndarray, grid: int, free_moves: bool, spreads: str
          ) -> tuple[sp.csc_array, np.ndarray]:
    """Columns of the flow LP (node-arc incidence, 2 or 3 entries each) and their costs."""
    m = c.shape[0]
    h = 1.0 / (grid - 1)
    shape = (grid,) * m
    idx = np.arange(grid**m).reshape(shape)
    coords = np.indices(shape)
    # "away from c" compares grid indices, never floats: linspace's point at c can differ from
    # the snapped c by 1e-17, which made the move down from c cost h (grids 181, 301 at c = 1/3)
    c_idx = _c_index(c, grid)
    rows, vals, costs = [], [], []
    for axis in range(m):
        for step in (1, -1):
            src = [slice(None)] * m
            dst = [slice(None)] * m
            src[axis] = slice(0, grid - 1) if step == 1 else slice(1, grid)
            dst[axis] = slice(1, grid) if step == 1 else slice(0, grid - 1)
            tail, head = idx[tuple(src)].ravel(), idx[tuple(dst)].ravel()
            x = coords[axis][tuple(src)].ravel()
            away = step * (x - c_idx[axis]) >= 0
            cost = np.where(away & free_moves, 0.0, h)
            rows.append(np.stack([tail, head], 1))
            vals.append(np.tile([-1.0, 1.0], (tail.size, 1)))
            costs.append(cost)
    if spreads != "none":
        dirs = [tuple(int(k == a) for k in range(m)) for a in range(m)]
        if m == 2 and spreads == "all":
            dirs += [(1, 1), (1, -1)]
        for d in dirs:
            d = np.array(d)
            centre = [slice(1 if dk else 0, grid - 1 if dk else grid) for dk in np.abs(d)]
            pts = coords[(slice(None), *centre)].reshape(m, -1)
            if spreads == "boundary":  # only along an edge: the spread's axis is the edge's
                other = [k for k in range(m) if d[k] == 0]
                on_edge = np.zeros(pts.shape[1], bool)
                for k in other:
                    on_edge |= (pts[k] == 0) | (pts[k] == grid - 1)
                if m == 1:
                    on_edge[:] = False  # in one dimension the boundary is two points
                pts = pts[:, on_edge]
            mid = np.ravel_multi_index(tuple(pts), shape)
            plus = np.ravel_multi_index(tuple(pts + d[:, None]), shape)
            minus = np.ravel_multi_index(tuple(pts - d[:, None]), shape)
            rows.append(np.stack([mid, plus, minus], 1))
            vals.append(np.tile([-2.0, 1.0, 1.0], (mid.size, 1)))
            costs.append(np.zeros(mid.size))
    per_column = np.repeat([r.shape[1] for r in rows], [r.shape[0] for r in rows])
    indptr = np.concatenate([[0], np.cumsum(per_column)])
    ind = np.concatenate([r.ravel() for r in rows])
    data = np.concatenate([v.ravel() for v in vals])
    mat = sp.csc_array((data, ind, indptr), shape=(grid**m, indptr.size - 1))
    return mat, np.concatenate(costs)


def solve_dual(
    c: Any,
    l: float = 0.0,
    values: str | TraderValues = "uniform(0,1)",
    params: DualParams | None = None,
    /,
    **overrides: Any,
) -> DualResult:
    """Solve the grid dual (a sparse min-cost-flow LP on HiGHS) for one or two goods.

    Parameters
    ----------
    c
        ``(n_goods,)`` the MM's prior values in ``[0, 1]`` (a scalar: one good); ``n_goods <= 2``.
    l
        adverse selection in ``[0, 1]`` (``lambda = 1 - l``).
    values
        the trader's value distribution (:func:`econcs.amm.make_values` spec).
    params, **overrides
        :class:`DualParams` (``grid``, ``spreads``, ``free_moves``, ``quad``, ``solver``,
        ``time_limit``).

    Examples
    --------
    >>> res = solve_dual(0.5, 0.0, grid=201)  # one good: the closed form is 1/8
    >>> round(res.value, 4)
    0.125
    """
    p = resolve_params(DualParams, params, **overrides)
    c, l, vals = _check_problem(c, l, values)
    c = _snap(c, p.grid)
    t0 = time.perf_counter()
    mass = _grid_measure(c, l, vals, p.grid, p.quad)
    mat, cost = _arcs(c, p.grid, p.free_moves, p.spreads)
    build = time.perf_counter() - t0
    res = solve_lp(cost, A_eq=mat, b_eq=-mass.ravel(), bounds=(0, None),
                   time_limit=p.time_limit, options=_SOLVER_OPTIONS[p.solver])
    if res.status != "optimal":
        warnings.warn(f"solve_dual: HiGHS stopped with status {res.status!r} after {res.seconds:.1f} s "
                      f"(time_limit={p.time_limit}); value {res.objective:.6g} is an upper bound on the "
                      "grid dual, not its optimum", ConvergenceWarning, stacklevel=2)
    potential = mass * 0.0
    if res.duals_eq is not None:
        potential = -np.asarray(res.duals_eq).reshape(mass.shape)
        potential = potential - potential.min()
    return DualResult(
        c=c, value=float(res.objective), status=res.status, potential=potential, mass=mass,
        n_variables=int(mat.shape[1]), n_constraints=int(mat.shape[0]), nnz=int(mat.nnz),
        seconds=res.seconds, build_seconds=build, iterations=res.iterations, params=p,
        history=({"step": res.iterations, "value": float(res.objective)},),
    )


def _path_cost(a: np.ndarray, b: np.ndarray, g: np.ndarray, c: float, free: bool) -> np.ndarray:
    """Cost of the cheapest grid path from index ``a`` to index ``b`` along one axis (h per step,
    0 per step away from ``c`` when ``free``); ``a`` (k, 1), ``b`` (1, n)."""
    h = g[1] - g[0]
    if not free:
        return h * np.abs(a - b).astype(np.float64)
    # c is on the grid (index ci), compared by index as in _arcs
    ci = int(np.round(c * (g.size - 1)))
    k_lt = ci  # steps up from index j are costly when j < ci
    k_le = ci + 1  # steps down from index j are costly when j > ci
    up = np.minimum(b, k_lt) - np.minimum(a, k_lt)
    down = np.maximum(0, a - np.maximum(b + 1, k_le) + 1)
    return h * np.where(b >= a, np.maximum(up, 0), down).astype(np.float64)


def _import_ot() -> Any:
    """POT, imported lazily. POT 0.9 compiles with an invalid-escape warning in a docstring
    (DeprecationWarning on Python 3.11, SyntaxWarning from 3.12), which a warnings-as-errors run
    would turn into an import failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import ot
    return ot


def ot_dual(
    c: Any,
    l: float = 0.0,
    values: str | TraderValues = "uniform(0,1)",
    *,
    grid: int = 51,
    free_moves: bool = True,
    quad: int = 3,
) -> float:
    """The grid dual without spreads as a plain OT problem, solved exactly by POT (``ot.emd2``).

    The ground cost between two grid points is that of the cheapest grid path (L1 distance, with
    moves away from ``c`` free when ``free_moves``), so this equals
    ``solve_dual(..., spreads="none")``; with ``free_moves=False`` it is the L1 Wasserstein
    distance between source and target, the plain-OT relaxation. The cost matrix is dense
    (sources x targets), so keep ``grid`` to about 201.

    >>> round(ot_dual(0.5, 0.0, grid=101), 4)  # one good: no spread is needed, 1/8
    0.125
    """
    ot = _import_ot()
    p = DualParams(grid=grid, free_moves=free_moves, quad=quad, spreads="none")
    c, l, vals = _check_problem(c, l, values)
    c = _snap(c, p.grid)
    mass = _grid_measure(c, l, vals, p.grid, p.quad)
    g = np.linspace(0.0, 1.0, p.grid)
    coords = np.indices(mass.shape).reshape(mass.ndim, -1)
    flat = mass.ravel()
    src, dst = np.flatnonzero(flat > 0), np.flatnonzero(flat < 0)
    cost = np.zeros((src.size, dst.size))
    for k in range(mass.ndim):
        cost += _path_cost(coords[k][src][:, None], coords[k][dst][None, :], g, c[k], free_moves)
    a = flat[src]
    b = -flat[dst]
    b = b * (a.sum() / b.sum())  # exact balance for POT's marginal check
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))


def duality_gap(primal: float, dual: float) -> float:
    """``dual - primal``: at least 0 up to the grid's discretisation, 0 at the optimum.

    >>> duality_gap(0.2746, 0.2750)
    0.0004
    """
    primal = check_float(primal, "primal")
    dual = check_float(dual, "dual")
    return round(dual - primal, 15)
