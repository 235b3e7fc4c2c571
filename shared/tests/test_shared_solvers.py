"""Tests of econcs.shared.solvers against scipy's HiGHS wrappers and known optima."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from econcs.shared import solvers
from econcs.shared.solvers import (
    InfeasibleError,
    LinearModel,
    LPResult,
    SolverError,
    UnboundedError,
    solve_lp,
    solve_milp,
)

SPARSE_FORMATS = (sp.csr_array, sp.csc_matrix, sp.coo_array)


# ---------------------------------------------------------------------------------------------
# random instances, feasible by construction (x0 satisfies every row)
# ---------------------------------------------------------------------------------------------


def _random_instance(rng: np.random.Generator, *, integer: bool) -> dict:
    n = int(rng.integers(2, 13))
    m_ub, m_eq, m_lb = (int(k) for k in rng.integers(0, 5, size=3))
    m_eq = min(m_eq, n - 1)
    if integer:
        integrality = rng.integers(0, 2, size=n)
        lo = rng.integers(-3, 1, size=n).astype(float)
        hi = lo + rng.integers(1, 6, size=n)
        x0 = np.where(integrality == 1, rng.integers(lo, hi + 1), rng.uniform(lo, hi))

        def matrix(m):
            return rng.integers(-5, 6, size=(m, n)).astype(float)
    else:
        integrality = np.zeros(n, dtype=int)
        lo = rng.uniform(-2.0, 0.0, size=n)
        hi = lo + rng.uniform(0.5, 3.0, size=n)
        x0 = rng.uniform(lo, hi)

        def matrix(m):
            a = rng.normal(size=(m, n))
            a[rng.uniform(size=(m, n)) < 0.3] = 0.0
            return a

    # some variables without a lower or upper bound (the rows below may keep them bounded)
    lo_b = [None if rng.uniform() < 0.15 else float(v) for v in lo]
    hi_b = [None if rng.uniform() < 0.15 else float(v) for v in hi]
    bounds = list(zip(lo_b, hi_b))
    A_ub, A_eq, A_lb = matrix(m_ub), matrix(m_eq), matrix(m_lb)
    inst = {
        "c": rng.normal(size=n).round(3) if not integer else rng.integers(-9, 10, n) * 1.0,
        "A_ub": A_ub,
        "b_ub": A_ub @ x0 + rng.uniform(0.0, 2.0, m_ub),
        "A_eq": A_eq,
        "b_eq": A_eq @ x0,
        "A_lb": A_lb,
        "b_lb": A_lb @ x0 - rng.uniform(0.0, 2.0, m_lb),
        "bounds": bounds,
        "integrality": integrality,
        "maximize": bool(rng.uniform() < 0.5),
        "sparse": bool(rng.uniform() < 0.5),
        "fmt": SPARSE_FORMATS[int(rng.integers(len(SPARSE_FORMATS)))],
    }
    return inst


def _ours_kwargs(inst: dict) -> dict:
    kw = {"bounds": inst["bounds"], "maximize": inst["maximize"]}
    for name in ("ub", "eq", "lb"):
        A = inst["A_" + name]
        if A.shape[0] == 0:
            continue
        kw["A_" + name] = inst["fmt"](A) if inst["sparse"] else A
        kw["b_" + name] = inst["b_" + name]
    return kw


def _scipy_lp(inst: dict):
    sign = -1.0 if inst["maximize"] else 1.0
    A_ub = np.vstack([inst["A_ub"], -inst["A_lb"]])
    b_ub = np.concatenate([inst["b_ub"], -inst["b_lb"]])
    return linprog(
        sign * inst["c"],
        A_ub=A_ub if len(b_ub) else None,
        b_ub=b_ub if len(b_ub) else None,
        A_eq=inst["A_eq"] if len(inst["b_eq"]) else None,
        b_eq=inst["b_eq"] if len(inst["b_eq"]) else None,
        bounds=inst["bounds"],
        method="highs",
    )


def _assert_feasible(inst: dict, x: np.ndarray, tol: float = 1e-7) -> None:
    lo = np.array([-np.inf if b[0] is None else b[0] for b in inst["bounds"]])
    hi = np.array([np.inf if b[1] is None else b[1] for b in inst["bounds"]])
    assert np.all(x >= lo - tol) and np.all(x <= hi + tol)
    assert np.all(inst["A_ub"] @ x <= inst["b_ub"] + tol)
    assert np.all(inst["A_lb"] @ x >= inst["b_lb"] - tol)
    assert_allclose(inst["A_eq"] @ x, inst["b_eq"], atol=tol)
    ints = inst["integrality"] == 1
    assert_allclose(x[ints], np.round(x[ints]), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# agreement with scipy
# ---------------------------------------------------------------------------------------------


def test_lp_matches_linprog_on_random_instances():
    rng = np.random.default_rng(20240601)
    compared = unbounded = 0
    seen = set()
    while compared < 60:
        inst = _random_instance(rng, integer=False)
        ref = _scipy_lp(inst)
        if ref.status == 3:
            unbounded += 1
            with pytest.raises(UnboundedError):
                solve_lp(inst["c"], **_ours_kwargs(inst))
            continue
        assert ref.status == 0, ref.message
        res = solve_lp(inst["c"], **_ours_kwargs(inst))
        sign = -1.0 if inst["maximize"] else 1.0
        assert res.status == "optimal"
        assert_allclose(res.objective, sign * ref.fun, rtol=1e-7, atol=1e-9)
        assert_allclose(res.objective, inst["c"] @ res.x, rtol=1e-7, atol=1e-9)
        _assert_feasible(inst, res.x)
        m_ub = len(inst["b_ub"])
        assert res.duals_ub.shape == (m_ub,)
        assert res.duals_eq.shape == (len(inst["b_eq"]),)
        assert res.duals_lb.shape == (len(inst["b_lb"]),)
        # d objective / d rhs in the user's sense; scipy's marginals for min(sign * c @ x)
        assert_allclose(res.duals_ub, sign * ref.ineqlin.marginals[:m_ub], atol=1e-7)
        assert_allclose(res.duals_lb, -sign * ref.ineqlin.marginals[m_ub:], atol=1e-7)
        assert_allclose(res.duals_eq, sign * ref.eqlin.marginals, atol=1e-7)
        assert_allclose(
            res.reduced_costs, sign * (ref.lower.marginals + ref.upper.marginals), atol=1e-7
        )
        assert res.mip_gap is None and res.iterations >= 0 and res.seconds >= 0
        compared += 1
        seen.add((inst["sparse"], inst["maximize"]))
    assert seen == set(itertools.product((False, True), repeat=2))
    assert unbounded < compared


def test_milp_matches_scipy_milp_on_random_instances():
    rng = np.random.default_rng(7)
    compared = 0
    seen = set()
    while compared < 50:
        inst = _random_instance(rng, integer=True)
        sign = -1.0 if inst["maximize"] else 1.0
        rows = [inst["A_ub"], inst["A_eq"], inst["A_lb"]]
        A = np.vstack(rows)
        lo = np.concatenate([np.full(len(inst["b_ub"]), -np.inf), inst["b_eq"], inst["b_lb"]])
        hi = np.concatenate([inst["b_ub"], inst["b_eq"], np.full(len(inst["b_lb"]), np.inf)])
        b_lo = [-np.inf if b[0] is None else b[0] for b in inst["bounds"]]
        b_hi = [np.inf if b[1] is None else b[1] for b in inst["bounds"]]
        ref = milp(
            sign * inst["c"],
            constraints=[LinearConstraint(A, lo, hi)] if len(A) else None,
            integrality=inst["integrality"],
            bounds=Bounds(b_lo, b_hi),
            options={"mip_rel_gap": 1e-9},
        )
        if ref.status != 0:  # unbounded (or infeasible): ours must raise the same
            assert "unbounded" in ref.message.lower() or "infeasible" in ref.message.lower()
            with pytest.raises((UnboundedError, InfeasibleError)):
                solve_milp(inst["c"], integrality=inst["integrality"], **_ours_kwargs(inst))
            continue
        res = solve_milp(
            inst["c"], integrality=inst["integrality"], mip_rel_gap=1e-9, **_ours_kwargs(inst)
        )
        assert res.status == "optimal"
        assert_allclose(res.objective, sign * ref.fun, rtol=1e-7, atol=1e-9)
        assert_allclose(res.objective, inst["c"] @ res.x, rtol=1e-7, atol=1e-7)
        _assert_feasible(inst, res.x, tol=1e-6)
        if inst["integrality"].any():
            assert res.duals_ub is None and res.reduced_costs is None
            assert res.mip_gap is not None and res.mip_gap <= 1e-6
        compared += 1
        seen.add((inst["sparse"], inst["maximize"]))
    assert seen == set(itertools.product((False, True), repeat=2))


def test_sparse_input_is_not_densified(monkeypatch):
    # a 20000 x 20000 identity would need 3.2 GB dense
    n = 20_000
    eye = sp.eye_array(n, format="csr")
    monkeypatch.setattr(sp.csr_array, "toarray", lambda *a, **k: pytest.fail("densified"))
    res = solve_lp(-np.ones(n), A_ub=eye, b_ub=np.full(n, 2.0), bounds=(0, None))
    assert_allclose(res.objective, -2.0 * n)
    assert_allclose(res.duals_ub, -1.0)


# ---------------------------------------------------------------------------------------------
# known problems
# ---------------------------------------------------------------------------------------------

# Knapsack P01 (Kreher and Stinson; J. Burkardt's test set): optimum 309 with items 1-4 and 6.
WEIGHTS = np.array([23, 31, 29, 44, 53, 38, 63, 85, 89, 82], dtype=float)
PROFITS = np.array([92, 57, 49, 68, 60, 43, 67, 84, 87, 72], dtype=float)


def test_knapsack_known_optimum():
    res = solve_milp(PROFITS, A_ub=[WEIGHTS], b_ub=[165], bounds=(0, 1), maximize=True)
    assert res.status == "optimal"
    assert_allclose(res.objective, 309.0, rtol=1e-9)
    assert_allclose(res.x, [1, 1, 1, 1, 0, 1, 0, 0, 0, 0], atol=1e-9)
    brute = max(
        PROFITS @ np.array(s)
        for s in itertools.product((0, 1), repeat=10)
        if WEIGHTS @ np.array(s) <= 165
    )
    assert brute == 309.0
    # as a minimisation with a >= row (cover the complement), same optimum
    res_min = solve_milp(-PROFITS, A_lb=[-WEIGHTS], b_lb=[-165], bounds=(0, 1))
    assert_allclose(res_min.objective, -309.0, rtol=1e-9)


def test_lp_duals_are_sensitivities_for_max_and_min():
    # max 3x + 2y s.t. x + y <= 4, x + 3y <= 6, x <= 3.5 (bound): optimum (3.5, 0.5), value 11.5
    A, b = np.array([[1.0, 1.0], [1.0, 3.0]]), np.array([4.0, 6.0])
    res = solve_lp([3.0, 2.0], A, b, bounds=[(0, 3.5), (0, None)], maximize=True)
    assert_allclose(res.x, [3.5, 0.5], atol=1e-9)
    assert_allclose(res.objective, 11.5)
    eps = 1e-3
    for i in range(2):
        bumped = b.copy()
        bumped[i] += eps
        up = solve_lp([3.0, 2.0], A, bumped, bounds=[(0, 3.5), (0, None)], maximize=True)
        assert_allclose(res.duals_ub[i], (up.objective - res.objective) / eps, atol=1e-6)
    assert_allclose(res.duals_ub, [2.0, 0.0], atol=1e-9)
    assert_allclose(res.reduced_costs, [1.0, 0.0], atol=1e-9)  # bound x <= 3.5 is active
    lo = solve_lp([-3.0, -2.0], A, b, bounds=[(0, 3.5), (0, None)])
    assert_allclose(lo.duals_ub, [-2.0, 0.0], atol=1e-9)


def test_no_rows_and_all_continuous_milp():
    res = solve_lp([1.0, -1.0], bounds=[(-1, 2), (None, 5)])
    assert_allclose(res.x, [-1.0, 5.0])
    assert res.duals_ub.shape == (0,) and res.row_duals.shape == (0,)
    res = solve_milp([1.0, 1.0], A_lb=[[1.0, 1.0]], b_lb=[1.5], integrality=0)
    assert_allclose(res.objective, 1.5)
    assert_allclose(res.duals_lb, [1.0])  # a continuous "MILP" is an LP with duals
    res = solve_milp([1.0, 1.0], A_lb=[[1.0, 1.0]], b_lb=[1.5])  # default: all integer
    assert_allclose(res.objective, 2.0)


@pytest.mark.parametrize(
    "bounds",
    [
        [(-1, 2), (None, 5)],
        np.array([[-1.0, 2.0], [-np.inf, 5.0]]),
        Bounds([-1.0, -np.inf], [2.0, 5.0]),
    ],
)
def test_bounds_formats(bounds):
    res = solve_lp([1.0, -1.0], bounds=bounds)
    assert_allclose(res.x, [-1.0, 5.0])
    assert_allclose(res.reduced_costs, [1.0, -1.0])


def test_default_and_shared_bounds():
    for bounds in [(0, None), None, [(0, None)], (0.0, np.inf)]:
        res = solve_lp([1.0, 2.0], A_lb=[[1.0, 1.0]], b_lb=[3.0], bounds=bounds)
        assert_allclose(res.x, [3.0, 0.0])
    res = solve_lp([1.0, 2.0], A_lb=[[1.0, 1.0]], b_lb=[3.0], bounds=(1, 2))
    assert_allclose(res.x, [2.0, 1.0])


def test_infeasible_lp_and_milp():
    with pytest.raises(InfeasibleError, match="infeasible"):
        solve_lp([1.0, 1.0], A_ub=[[1.0, 1.0]], b_ub=[1.0], A_lb=[[1.0, 1.0]], b_lb=[2.0])
    # LP relaxation feasible, no integer point: 2 x = 1
    with pytest.raises(InfeasibleError, match="MILP is infeasible"):
        solve_milp([1.0], A_eq=[[2.0]], b_eq=[1.0], bounds=(None, None))
    # primal infeasible and dual infeasible: presolve can only say "infeasible or unbounded"
    with pytest.raises(InfeasibleError):
        solve_lp([-1.0, 0.0], A_ub=[[0.0, 1.0]], b_ub=[-1.0])
    assert issubclass(InfeasibleError, SolverError) and issubclass(SolverError, RuntimeError)


def test_unbounded_lp_and_milp():
    with pytest.raises(UnboundedError, match="not bounded below"):
        solve_lp([-1.0, 0.0], A_ub=[[1.0, -1.0]], b_ub=[1.0])
    with pytest.raises(UnboundedError, match="not bounded above"):
        solve_lp([1.0, 1.0], A_lb=[[1.0, 1.0]], b_lb=[1.0], maximize=True)
    with pytest.raises(UnboundedError):
        solve_milp([-1.0, -1.0], A_ub=[[1.0, -1.0]], b_ub=[0.5])


def _market_split(rng, m, n):
    """Cornuejols-Dawande market split rows: notoriously hard for branch-and-bound."""
    A = rng.integers(0, 100, (m, n)).astype(float)
    return A, np.floor(A.sum(axis=1) / 2)


def test_time_limit_with_incumbent_returns_status():
    rng = np.random.default_rng(1)
    m, n = 5, 40
    A, b = _market_split(rng, m, n)
    # min total violation |A x - b| (x = 0 is feasible): proving optimality takes minutes
    A_eq = np.hstack([A, np.eye(m), -np.eye(m)])
    c = np.r_[np.zeros(n), np.ones(2 * m)]
    integrality = np.r_[np.ones(n), np.zeros(2 * m)]
    bounds = [(0, 1)] * n + [(0, None)] * (2 * m)
    res = solve_milp(c, A_eq=A_eq, b_eq=b, bounds=bounds, integrality=integrality, time_limit=0.2)
    assert res.status == "time_limit"
    assert res.seconds < 2.0
    assert_allclose(A_eq @ res.x, b, atol=1e-6)
    assert res.mip_gap > 1e-6 and res.dual_bound < res.objective


def test_time_limit_without_feasible_point_raises():
    A, b = _market_split(np.random.default_rng(1), 4, 30)
    with pytest.raises(SolverError, match="before it found a feasible point"):
        solve_milp(np.zeros(30), A_eq=A, b_eq=b, bounds=(0, 1), time_limit=0.2)


def test_highs_prints_nothing(capfd):
    solve_lp([1.0, 2.0], A_lb=[[1.0, 1.0]], b_lb=[1.0])
    solve_milp([-1.0, -1.0], A_ub=[[2.0, 3.0]], b_ub=[4.0], bounds=(0, 3))
    assert capfd.readouterr() == ("", "")


def test_highs_prints_no_banner_in_a_fresh_process():
    # highspy.Highs() prints its licence banner once per process, so only a fresh interpreter
    # shows it. Importing econcs.shared would import torch (seconds): load solvers.py alone,
    # with a stand-in torch that econcs.shared.validation only uses for isinstance checks.
    code = textwrap.dedent(
        f"""
        import sys, types
        torch = types.ModuleType("torch")
        torch.__getattr__ = lambda name: type(name, (), {{}})
        sys.modules["torch"] = torch
        shared = types.ModuleType("econcs.shared")
        shared.__path__ = [{str(Path(solvers.__file__).parent)!r}]
        sys.modules["econcs.shared"] = shared
        from econcs.shared.solvers import solve_lp, solve_milp, LinearModel
        solve_lp([1.0, 2.0], A_lb=[[1.0, 1.0]], b_lb=[1.0])
        solve_milp([-1.0, -1.0], A_ub=[[2.0, 3.0]], b_ub=[4.0], bounds=(0, 3))
        LinearModel([1.0], bounds=(1, 2)).solve()
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_result_is_frozen():
    res = solve_lp([1.0], bounds=(1, 2))
    assert isinstance(res, LPResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.objective = 0.0
    with pytest.raises(ValueError, match="read-only"):
        res.x[0] = 5.0


# ---------------------------------------------------------------------------------------------
# LinearModel
# ---------------------------------------------------------------------------------------------


def _random_lp(seed: int, m: int = 120, n: int = 160):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.0, 1.0, (m, n))
    A[rng.uniform(size=(m, n)) < 0.5] = 0.0
    b = A.sum(axis=1) * 0.3 + 0.1
    c = -rng.uniform(0.5, 1.5, n)
    return rng, A, b, c


def _assert_same(res: LPResult, fresh: LPResult) -> None:
    assert res.status == fresh.status == "optimal"
    assert_allclose(res.objective, fresh.objective, rtol=1e-9)
    assert_allclose(res.row_duals, fresh.row_duals, atol=1e-8)


def test_linear_model_resolves_match_fresh_solves():
    rng, A, b, c = _random_lp(3, m=40, n=60)
    A_s = sp.csr_array(A)
    model = LinearModel(c, A_s, b, bounds=(0, 2))
    assert (model.n_rows, model.n_cols) == (40, 60) and not model.is_mip
    _assert_same(model.solve(), solve_lp(c, A_s, b, bounds=(0, 2)))

    c2 = c * rng.uniform(0.5, 1.5, c.size)
    model.set_costs(c2)
    _assert_same(model.solve(), solve_lp(c2, A_s, b, bounds=(0, 2)))

    model.set_costs([-10.0, -20.0], idx=[0, 5])
    c2[[0, 5]] = [-10.0, -20.0]
    _assert_same(model.solve(), solve_lp(c2, A_s, b, bounds=(0, 2)))

    bounds = [(0.0, 2.0)] * 60
    bounds[3], bounds[7] = (0.5, 1.0), (0.0, None)
    model.set_col_bounds([3, 7], [0.5, 0.0], [1.0, None])
    _assert_same(model.solve(), solve_lp(c2, A_s, b, bounds=bounds))

    b2 = b.copy()
    b2[:5] *= 0.5
    model.set_row_bounds(np.arange(5), None, b2[:5])
    _assert_same(model.solve(), solve_lp(c2, A_s, b2, bounds=bounds))

    new = rng.uniform(0.0, 1.0, (3, 60))
    rows = model.add_rows(sp.coo_array(new), 1.0, [2.0, None, 3.0])
    assert rows.tolist() == [40, 41, 42] and model.n_rows == 43
    res = model.solve()
    ref = solve_lp(
        c2,
        sp.vstack([A_s, sp.csr_array(new[[0, 2]])]),
        np.r_[b2, 2.0, 3.0],
        bounds=bounds,
        A_lb=new,
        b_lb=np.ones(3),
    )
    assert_allclose(res.objective, ref.objective, rtol=1e-9)
    assert res.duals_ub.shape == (40,) and res.row_duals.shape == (43,)
    assert_allclose(res.duals_ub, ref.duals_ub[:40], atol=1e-8)
    # a ranged row's dual is that of its active side
    added = ref.duals_lb + np.r_[ref.duals_ub[40], 0.0, ref.duals_ub[41]]
    assert_allclose(res.row_duals[40:], added, atol=1e-8)
    model.set_row_bounds(rows[1], None, None)  # free row: no longer binds
    ref = solve_lp(
        c2,
        sp.vstack([A_s, sp.csr_array(new[[0, 2]])]),
        np.r_[b2, 2.0, 3.0],
        bounds=bounds,
        A_lb=new[[0, 2]],
        b_lb=np.ones(2),
    )
    assert_allclose(model.solve().objective, ref.objective, rtol=1e-9)


def test_linear_model_warm_start_takes_fewer_iterations():
    rng, A, b, c = _random_lp(5)
    model = LinearModel(c, A, b)
    cold = model.solve()
    assert cold.iterations > 50
    c2 = c * (1.0 + 1e-3 * rng.standard_normal(c.size))
    model.set_costs(c2)
    warm = model.solve()
    fresh = solve_lp(c2, A, b)
    assert_allclose(warm.objective, fresh.objective, rtol=1e-9)
    assert warm.iterations < fresh.iterations / 2
    b2 = b * (1.0 + 1e-3 * rng.standard_normal(b.size))
    model.set_row_bounds(np.arange(b.size), None, b2)
    warm = model.solve()
    fresh = solve_lp(c2, A, b2)
    assert_allclose(warm.objective, fresh.objective, rtol=1e-9)
    assert warm.iterations < fresh.iterations / 2
    # a fresh model started at the optimum needs (almost) no simplex iterations
    started = LinearModel(c2, A, b2).solve(start=fresh.x)
    assert_allclose(started.objective, fresh.objective, rtol=1e-9)
    assert started.iterations < fresh.iterations / 2


def test_linear_model_time_limit_is_per_solve():
    # HiGHS's own time_limit counts the instance's whole life; the model re-arms it per solve
    rng, A, b, c = _random_lp(11)
    model = LinearModel(c, A, b, time_limit=0.25)
    total = 0.0
    for _ in range(100):
        model.set_costs(-rng.uniform(0.5, 1.5, c.size))
        res = model.solve()
        assert res.status == "optimal"
        total += res.seconds
        if total > 0.5:
            break
    assert total > 0.25


def test_linear_model_milp_with_start_and_changes():
    model = LinearModel(PROFITS, [WEIGHTS], [165], bounds=(0, 1), integrality=1, maximize=True)
    assert model.is_mip
    start = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    res = model.solve(start=start)
    assert_allclose(res.objective, 309.0)
    model.set_col_bounds(0, 0, 0)  # drop item 1: brute force the new optimum
    res = model.solve(start=np.zeros(10))
    best = max(
        PROFITS @ np.array(s)
        for s in itertools.product((0, 1), repeat=10)
        if WEIGHTS @ np.array(s) <= 165 and s[0] == 0
    )
    assert_allclose(res.objective, best)
    model.set_costs(-PROFITS)  # maximise -profit: take nothing
    assert_allclose(model.solve().objective, 0.0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

C2 = [1.0, 2.0]
A2 = [[1.0, 1.0]]


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"c": [1.0, np.nan]}, ValueError, "c"),
        ({"c": [[1.0, 2.0]]}, ValueError, "c"),
        ({"c": []}, ValueError, "c"),
        ({"c": "ab"}, TypeError, "c"),
        ({"A_ub": [[1.0, 1.0, 1.0]], "b_ub": [1.0]}, ValueError, "A_ub"),
        ({"A_ub": sp.csr_array(np.ones((1, 3))), "b_ub": [1.0]}, ValueError, "A_ub"),
        ({"A_ub": sp.csr_array(np.array([[np.nan, 1.0]])), "b_ub": [1.0]}, ValueError, "A_ub"),
        ({"A_ub": [1.0, 1.0], "b_ub": [1.0]}, ValueError, "A_ub"),
        ({"A_ub": A2, "b_ub": [1.0, 2.0]}, ValueError, "b_ub"),
        ({"A_ub": A2}, ValueError, "b_ub"),
        ({"b_eq": [1.0]}, ValueError, "A_eq"),
        ({"A_eq": [[np.nan, 1.0]], "b_eq": [1.0]}, ValueError, "A_eq"),
        ({"A_eq": A2, "b_eq": [np.inf]}, ValueError, "b_eq"),
        ({"A_lb": A2, "b_lb": ["x"]}, TypeError, "b_lb"),
        ({"bounds": (2, 1)}, ValueError, "bounds"),
        ({"bounds": [(0, 1), (3, 2)]}, ValueError, "bounds"),
        ({"bounds": [(0, 1)] * 3}, ValueError, "bounds"),
        ({"bounds": (0, np.nan)}, ValueError, "bounds"),
        ({"bounds": (np.inf, None)}, ValueError, "bounds"),
        ({"bounds": ("a", 1)}, TypeError, "bounds"),
        ({"bounds": "01"}, TypeError, "bounds"),
        ({"maximize": "yes"}, TypeError, "maximize"),
        ({"time_limit": -1.0}, ValueError, "time_limit"),
        ({"time_limit": "1"}, TypeError, "time_limit"),
    ],
)
def test_bad_input_solve_lp(kwargs, error, name):
    kwargs = {"c": C2, **kwargs}
    with pytest.raises(error, match=rf"^{name}:"):
        solve_lp(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"integrality": [1, 1, 1]}, ValueError, "integrality"),
        ({"integrality": [0.5, 1]}, ValueError, "integrality"),
        ({"integrality": [4, 0]}, ValueError, "integrality"),
        ({"integrality": "ab"}, TypeError, "integrality"),
        ({"mip_rel_gap": -1e-3}, ValueError, "mip_rel_gap"),
        ({"A_ub": [[1.0]], "b_ub": [1.0]}, ValueError, "A_ub"),
    ],
)
def test_bad_input_solve_milp(kwargs, error, name):
    with pytest.raises(error, match=rf"^{name}:"):
        solve_milp(C2, **kwargs)


def test_bad_input_linear_model():
    model = LinearModel(C2, A2, [1.0])
    with pytest.raises(ValueError, match=r"^c:"):
        model.set_costs([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^idx:"):
        model.set_costs([1.0], idx=[2])
    with pytest.raises(TypeError, match=r"^idx:"):
        model.set_col_bounds(0.5, 0, 1)
    with pytest.raises(ValueError, match=r"^idx:"):
        model.set_col_bounds([0, 0], 0, 1)
    with pytest.raises(ValueError, match=r"^lo, hi:"):
        model.set_col_bounds([0, 1], [0, 2], [1, 1])
    with pytest.raises(ValueError, match=r"^lo:"):
        model.set_col_bounds([0, 1], [0, 1, 2], 3)
    with pytest.raises(ValueError, match=r"^idx:"):
        model.set_row_bounds(1, 0, 1)
    with pytest.raises(ValueError, match=r"^lo, hi:"):
        model.set_row_bounds(0, 2, 1)
    with pytest.raises(ValueError, match=r"^A:"):
        model.add_rows([[1.0, 2.0, 3.0]], 0, 1)
    with pytest.raises(ValueError, match=r"^hi:"):
        model.add_rows([[1.0, 2.0]], 0, np.nan)
    with pytest.raises(ValueError, match=r"^start:"):
        model.solve(start=[1.0])
    assert model.add_rows(np.zeros((0, 2)), 0, 1).shape == (0,)
    assert model.n_rows == 1
    assert model.solve().status == "optimal"  # the failed edits left the model usable


def test_options_reach_highs():
    c, a, b = [5.0, 4.0, 3.0], [[2.0, 3.0, 1.0]], [5.0]
    opts = {"presolve": "off", "threads": 1, "mip_heuristic_effort": 0, "random_seed": 3}
    res = solve_milp(c, A_ub=a, b_ub=b, bounds=(0, 1), maximize=True, options=opts)
    assert_allclose(res.objective, 9.0, atol=1e-9)  # the knapsack optimum is unchanged
    model = LinearModel(c, A_ub=a, b_ub=b, bounds=(0, 1), options=opts)
    assert model._h.getOptionValue("presolve")[1] == "off"
    assert model._h.getOptionValue("mip_heuristic_effort")[1] == 0.0  # int -> float option
    assert model._h.getOptionValue("random_seed")[1] == 3
    for threads in (1, 2, 1):  # HiGHS's process-wide thread pool is reset to match
        again = solve_milp(c, A_ub=a, b_ub=b, bounds=(0, 1), maximize=True,
                           options={"threads": threads})
        assert_allclose(again.objective, 9.0, atol=1e-9)
    assert_allclose(solve_milp(c, A_ub=a, b_ub=b, bounds=(0, 1), maximize=True).objective, 9.0)
    # an option with an observable effect: no simplex iterations, HiGHS stops at x = 0
    stopped = solve_lp([-1.0, -2.0], A_ub=[[1.0, 1.0]], b_ub=[4.0], bounds=(0, 3),
                       options={"simplex_iteration_limit": 0, "presolve": "off"})
    assert stopped.status == "iteration_limit" and stopped.objective == 0.0
    lp = solve_lp([-1.0, -2.0], A_ub=[[1.0, 1.0]], b_ub=[4.0], bounds=(0, 3), options={})
    assert_allclose(lp.objective, -7.0, atol=1e-9)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"no_such_option": 1}, ValueError),
        ({"threads": "two"}, ValueError),
        ({"mip_heuristic_effort": 2.0}, ValueError),
        ({"presolve": "sometimes"}, ValueError),
        ({"time_limit": 1.0}, ValueError),
        ({"mip_rel_gap": 0.1}, ValueError),
        ({1: 1}, TypeError),
        ([("threads", 1)], TypeError),
    ],
)
def test_bad_options(options, error):
    with pytest.raises(error, match=r"^options:"):
        solve_milp(C2, options=options)
    with pytest.raises(error, match=r"^options:"):
        solve_lp(C2, options=options)
    with pytest.raises(error, match=r"^options:"):
        LinearModel(C2, options=options)
