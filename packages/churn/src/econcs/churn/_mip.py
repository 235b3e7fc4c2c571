"""Exact ambiguity and discrepancy of linear classifiers by mixed-integer programming.

Marx, Calmon and Ustun (2020), "Predictive Multiplicity in Classification" (ICML), Sec. 3: for a
baseline ``h0`` with ``L0`` training mistakes, the epsilon-level set of linear classifiers
``h(x) = [w @ x + b > 0]`` is those with at most ``L0 + floor(epsilon * n)`` training mistakes.

- **Ambiguity**: point ``k`` is ambiguous iff some member labels it differently from ``h0``; one
  feasibility MIP per point: flip ``k`` subject to the mistake budget.
- **Discrepancy**: the most points a member can flip: one MIP maximising the number of flips.

Formulation (our rendering; their code needs CPLEX, we use HiGHS through
:class:`econcs.shared.solvers.LinearModel`). Features are standardised (the class of linear
classifiers does not change); ``|w_j| <= 1``, ``|b| <= B = max_i ||x_i||_1 + 1``; labels
``y_i, p_i in {-1, +1}`` (truth, baseline); mistake indicators ``l_i`` and flip indicators ``f_i``:

    y_i (w @ x_i + b) >= gamma - M_i l_i                  (a correct point has margin gamma)
    sum_i l_i <= L0 + floor(epsilon * n)                  (the Rashomon budget)
    p_k (w @ x_k + b) <= -gamma                           (ambiguity MIP for point k)
    p_i (w @ x_i + b) <= -gamma + M_i (1 - f_i),  max sum_i f_i   (discrepancy MIP)

with ``M_i = gamma + ||x_i||_1 + B`` (a valid big-M under the box). The margin ``gamma`` (relative
to the standardised scale) excludes classifiers that pass within ``gamma`` of a point; every model
returned is re-verified with the true 0-1 loss, so the ambiguity and discrepancy found are always
achieved by genuine members (lower bounds), and exact up to that margin when every MIP is solved.
Points already flipped by a verified model are not solved again.

Solvers (``solver=``). ``"bnb"`` (default): one hinge-loss LP per point on HiGHS finds members,
then a branch-and-bound on the ``d + 1`` continuous variables with ``||w||_inf = 1`` decides the
rest and the discrepancy exactly (:mod:`econcs.churn._mip_bnb`): the big-M relaxation above lets
``w`` shrink to 0 and proves almost nothing on a few hundred noisy points, while interval bounds
on small boxes of weights prune quickly in low dimension. If the branch-and-bound reaches
``max_cells`` boxes, the points it left open and the discrepancy go to HiGHS's MIPs below.
``"highs"``: HiGHS's branch-and-cut on the MIPs above only (greedy covering, then one proof).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from econcs.churn._mip_bnb import hinge_cover, interval_bnb
from econcs.churn._models import LinearClassifier
from econcs.shared import check_array, check_choice, check_float, check_int
from econcs.shared.solvers import InfeasibleError, LinearModel, SolverError

__all__ = ["MIPResult", "mip_multiplicity"]


@dataclasses.dataclass(frozen=True)
class MIPResult:
    """Ambiguity and discrepancy of linear classifiers from the MIPs of Marx et al. (2020).

    Attributes
    ----------
    ambiguity
        share of the target points flipped by a verified member.
    discrepancy
        churn on the targets of the best verified member found by the discrepancy MIP.
    discrepancy_bound
        HiGHS's proven upper bound on the discrepancy (equal when optimal).
    discrepancy_status
        ``"optimal"``, ``"time_limit"``, ..., or ``"skipped"``.
    targets
        (n_targets,) indices of the points searched.
    flippable
        (n_targets,) bool, some verified member flips the point.
    status
        (n_targets,) str: ``"solved"`` (a model found by the search flips it),
        ``"covered"`` (a start model, or with ``solver="highs"`` a model found for another
        point, flips it), ``"infeasible"`` (proved not flippable), ``"unknown"`` (time or cell
        limit, or a numerically unverified solution).
    models
        the verified members found (``LinearClassifier``), in the original feature space.
    max_errors
        the mistake budget ``L0 + floor(epsilon * n)``.
    n_solves
        LPs and MIPs solved; n_cells : boxes of the branch-and-bound; seconds : wall-clock.
    """

    ambiguity: float
    discrepancy: float
    discrepancy_bound: float
    discrepancy_status: str
    targets: np.ndarray
    flippable: np.ndarray
    status: np.ndarray
    models: list = dataclasses.field(repr=False)
    max_errors: int = 0
    n_solves: int = 0
    seconds: float = 0.0
    n_cells: int = 0


def mip_multiplicity(
    X: Any,
    y: Any,
    baseline_pred: Any,
    *,
    epsilon: float,
    classes: Any,
    targets: Any = None,
    margin: float = 1e-3,
    time_limit: float | None = 10.0,
    discrepancy: bool = True,
    discrepancy_time_limit: float | None = 60.0,
    start_models: Any = (),
    solver: str = "bnb",
    max_cells: int = 2_000_000,
) -> MIPResult:
    """Solve the ambiguity (one MIP per target point) and discrepancy MIPs.

    Parameters
    ----------
    X
        (n_samples, n_features) training features.
    y
        (n_samples,) training labels, two classes.
    baseline_pred
        (n_samples,) labels of the baseline on ``X`` (its mistakes set the budget).
    epsilon
        error-rate tolerance (>= 0): the budget is ``L0 + floor(epsilon * n_samples)``.
    classes
        (2,) the labels; ``classes[1]`` is the positive side ``w @ x + b > 0``.
    targets
        indices of the points to search (default all).
    margin
        the margin ``gamma`` in standardised units (> 0).
    time_limit
        seconds per ambiguity MIP (``None``: no limit).
    discrepancy
        also solve the discrepancy MIP.
    discrepancy_time_limit
        seconds for the discrepancy MIP.
    start_models
        linear classifiers already known to be members (e.g. sampled ones): the points
        they flip are not solved again, and the best one warm-starts the discrepancy MIP.
    solver
        ``"bnb"`` (hinge LPs + branch-and-bound on the weights, HiGHS MIPs for what it
        leaves after ``max_cells`` boxes) or ``"highs"`` (HiGHS MIPs only); module docstring.
    max_cells
        box budget of each branch-and-bound (ambiguity, discrepancy).
    """
    t0 = time.perf_counter()
    X = check_array(X, "X", ndim=2)
    n, d = X.shape
    classes = np.asarray(classes)
    if classes.shape != (2,):
        raise ValueError(f"y: the MIP method needs exactly two classes, got {classes.shape[0]}.")
    y = np.asarray(y)
    p = np.asarray(baseline_pred)
    if y.shape != (n,) or p.shape != (n,):
        raise ValueError(f"y and baseline_pred: expected shape ({n},), got {y.shape} and "
                         f"{p.shape}.")
    eps = check_float(epsilon, "epsilon", low=0.0)
    gamma = check_float(margin, "margin", low=0.0, low_inclusive=False)
    check_choice(solver, "solver", ("bnb", "highs"))
    max_cells = check_int(max_cells, "max_cells", low=1)
    targets = np.arange(n) if targets is None else np.asarray(targets, dtype=np.int64)
    ys = np.where(y == classes[1], 1.0, -1.0)
    ps = np.where(p == classes[1], 1.0, -1.0)
    max_errors = int(np.sum(p != y)) + math.floor(eps * n + 1e-9)

    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    Z = (X - mu) / sd
    norm1 = np.abs(Z).sum(axis=1)
    B = float(norm1.max()) + 1.0
    M = gamma + norm1 + B

    def to_model(x: np.ndarray) -> LinearClassifier:
        w, b = x[:d], x[d]
        return LinearClassifier((w / sd)[None, :], [b - float(np.sum(w * mu / sd))], classes)

    def verify(model: LinearClassifier) -> np.ndarray | None:
        pred = model.predict(X)
        if int(np.sum(pred != y)) > max_errors:
            return None
        return pred != p

    # rows over [w (d), b, l (n)]: -y_i (z_i w + b) - M_i l_i <= -gamma ; sum l <= max_errors
    mistake = sp.hstack([sp.csr_array(-ys[:, None] * Z), sp.csr_array(-ys[:, None]),
                         sp.diags_array(-M)], format="csr")
    budget = sp.csr_array(np.concatenate([np.zeros(d + 1), np.ones(n)])[None, :])
    flips = sp.hstack([sp.csr_array(ps[:, None] * Z), sp.csr_array(ps[:, None]),
                       sp.csr_array((n, n))], format="csr")
    bounds = [(-1.0, 1.0)] * d + [(-B, B)] + [(0.0, 1.0)] * n
    integrality = np.concatenate([np.zeros(d + 1, dtype=int), np.ones(n, dtype=int)])

    nt = len(targets)
    flip_rows = sp.hstack([flips[targets], sp.csr_array(
        (M[targets], (np.arange(nt), np.arange(nt))), shape=(nt, nt))], format="csr")
    A_flip = sp.vstack([sp.hstack([mistake, sp.csr_array((n, nt))]),
                        sp.hstack([budget, sp.csr_array((1, nt))]), flip_rows], format="csr")
    b_flip = np.concatenate([np.full(n, -gamma), [max_errors], M[targets] - gamma])
    c_flip = np.concatenate([np.zeros(d + 1 + n), np.ones(nt)])
    f_cols = d + 1 + n + np.arange(nt)

    def flip_model(gap: float, limit: float | None) -> LinearModel:
        return LinearModel(c_flip, A_ub=A_flip, b_ub=b_flip, bounds=bounds + [(0.0, 1.0)] * nt,
                           integrality=np.concatenate([integrality, np.ones(nt, dtype=int)]),
                           maximize=True, time_limit=limit, mip_rel_gap=gap)

    models: list[LinearClassifier] = []
    covered = np.zeros(n, dtype=bool)
    for model in start_models:
        f = verify(model)
        if f is not None:
            covered |= f
    status = np.array(["covered" if covered[k] else "" for k in targets], dtype=object)
    n_solves = n_cells = 0
    is_target = np.zeros(n, dtype=bool)
    is_target[targets] = True
    counts = {"best": 0}

    def accept(w: np.ndarray, b: float) -> np.ndarray | None:
        """Verify a classifier in standardised coordinates; keep it if it adds something."""
        model = to_model(np.r_[w, b])
        f = verify(model)
        if f is None:
            return None
        count = int(np.sum(f & is_target))
        if (f & is_target & ~covered).any() or count > counts["best"]:
            models.append(model)
            counts["best"] = max(counts["best"], count)
            covered[:] |= f
        return f

    if solver == "bnb" and (status == "").any():
        open_ = is_target & ~covered
        n_solves += int(open_.sum())
        open_ = hinge_cover(Z, ys, ps, open_, accept)
        out = interval_bnb(Z, ys, ps, max_errors, gamma, accept, open_=open_,
                           max_cells=max_cells)
        n_cells += out.n_cells
        status[(status == "") & covered[targets]] = "solved"
        if out.done:
            status[status == ""] = "infeasible"
    # Ambiguity by greedy covering: maximise the flips among the open targets, but stop at the
    # first incumbent with a flip (relative gap > nt); one last solve proves that no open target
    # can be flipped (optimum 0), instead of one infeasibility proof per point.
    am = flip_model(gap=float(nt + 1), limit=time_limit)
    while True:
        open_ = status == ""
        if not open_.any():
            break
        if (~open_).any():
            am.set_col_bounds(f_cols[~open_], 0.0, 0.0)
        n_solves += 1
        try:
            res = am.solve()
        except InfeasibleError:  # no linear classifier meets the budget with margin gamma
            status[open_] = "infeasible"
            break
        except SolverError:
            status[open_] = "unknown"
            break
        x = np.asarray(res.x)
        if res.objective < 0.5:
            proved = res.status == "optimal" or (res.dual_bound is not None
                                                 and res.dual_bound < 1.0 - 1e-6)
            status[open_] = "infeasible" if proved else "unknown"
            break
        model = to_model(x)
        f = verify(model)
        newly = np.zeros(nt, dtype=bool) if f is None else f[targets] & open_
        if not newly.any():  # the solution did not verify (numerics): give those points up
            claimed = (x[f_cols] > 0.5) & open_
            status[claimed if claimed.any() else open_] = "unknown"
            continue
        models.append(model)
        covered |= f
        status[newly] = "solved"
        status[(status == "") & covered[targets]] = "covered"

    disc, disc_bound, disc_status = 0.0, math.nan, "skipped"
    bnb_bound = None
    if discrepancy and solver == "bnb":
        for model in list(start_models) + models:
            f = verify(model)
            if f is not None:
                counts["best"] = max(counts["best"], int(np.sum(f & is_target)))
        can_flip = np.ones(n, dtype=bool)
        can_flip[targets[status.astype(str) == "infeasible"]] = False
        out = interval_bnb(Z, ys, ps, max_errors, gamma, accept, targets=is_target,
                           flippable=can_flip, best=counts["best"], max_cells=max_cells)
        n_cells += out.n_cells
        disc = out.best / nt
        if out.done:
            disc_status, disc_bound = "optimal", disc
        else:
            bnb_bound = out.bound / nt
    if discrepancy and not (solver == "bnb" and disc_status == "optimal"):
        dm = flip_model(gap=1e-6, limit=discrepancy_time_limit)
        proved = status.astype(str) == "infeasible"
        if proved.any():  # flip indicators of points proved unflippable are 0
            dm.set_col_bounds(f_cols[proved], 0.0, 0.0)
        start = _best_start(list(start_models) + models, Z, ys, ps, sd, mu, gamma, B, targets,
                            max_errors, verify)
        n_solves += 1
        try:
            res = dm.solve(start=start)
            disc_status, disc_bound = res.status, float(res.dual_bound) / nt
            model = to_model(np.asarray(res.x))
            f = verify(model)
            if f is not None:
                models.append(model)
                disc = float(f[targets].mean())
        except (InfeasibleError, SolverError):
            disc_status = "unknown"
        # a member found by the ambiguity MIPs may flip more targets than the incumbent
        for model in models:
            f = verify(model)
            if f is not None:
                disc = max(disc, float(f[targets].mean()))
        if bnb_bound is not None:
            disc_bound = bnb_bound if math.isnan(disc_bound) else min(disc_bound, bnb_bound)
    # a member found for the discrepancy may flip points the ambiguity search left undecided
    status[np.isin(status, ["", "unknown"]) & covered[targets]] = "solved"
    flippable = covered[targets]
    return MIPResult(
        ambiguity=float(flippable.mean()), discrepancy=disc, discrepancy_bound=disc_bound,
        discrepancy_status=disc_status, targets=targets, flippable=flippable,
        status=status.astype(str), models=models, max_errors=max_errors, n_solves=n_solves,
        seconds=time.perf_counter() - t0, n_cells=n_cells)


def _best_start(models, Z, ys, ps, sd, mu, gamma, B, targets, max_errors, verify):
    """A feasible incumbent for the discrepancy MIP: the verified model flipping most targets,
    mapped to standardised coordinates and scaled into the box with margin ``gamma``."""
    best, best_count = None, -1
    for model in models:
        coef = np.asarray(model.coef_, dtype=np.float64).ravel()
        if coef.shape[0] != Z.shape[1]:
            continue
        f = verify(model)
        if f is None:
            continue
        w = coef * sd
        b = float(np.asarray(model.intercept_).ravel()[0]) + float(np.sum(coef * mu))
        s = Z @ w + b
        smallest = float(np.min(np.abs(s)))
        if smallest <= 0:
            continue
        factor = gamma / smallest  # every point gets margin >= gamma
        size = max(float(np.abs(w).max()), abs(b) / B) * factor
        if size > 1.0:  # needs a margin the box cannot give
            continue
        w, b, s = w * factor, b * factor, s * factor
        count = int(f[targets].sum())
        l = (ys * s < gamma * (1 - 1e-9)).astype(float)
        if count > best_count and l.sum() <= max_errors:
            fl = (ps[targets] * s[targets] <= -gamma * (1 - 1e-9)).astype(float)
            best, best_count = np.concatenate([w, [b], l, fl]), count
    return best
