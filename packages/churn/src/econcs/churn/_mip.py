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

The code follows the stages: :func:`_build` sets up the instance (:class:`_Problem`, which also
holds the verified members found so far), :func:`_ambiguity` decides every target point and
:func:`_discrepancy` maximises the flips; :func:`mip_multiplicity` runs them in turn.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from econcs.churn._mip_bnb import hinge_cover, interval_bnb
from econcs.churn._models import LinearClassifier
from econcs.shared import (
    ConvergenceWarning,
    Params,
    check_array,
    check_float,
    param,
    resolve_params,
)
from econcs.shared.solvers import InfeasibleError, LinearModel, SolverError

__all__ = ["MIPParams", "MIPResult", "mip_multiplicity"]


@dataclasses.dataclass(frozen=True)
class MIPParams(Params):
    """Parameters of :func:`mip_multiplicity` (Marx, Calmon and Ustun 2020, Sec. 3)."""

    margin: float = param(1e-3, "margin gamma of the MIPs, in standardised units", low=0.0,
                          low_inclusive=False)
    time_limit: float | None = param(10.0, "seconds per ambiguity MIP (None: no limit)", low=0.0,
                                     low_inclusive=False)
    discrepancy: bool = param(True, "also solve the discrepancy MIP")
    discrepancy_time_limit: float | None = param(
        60.0, "seconds for the discrepancy MIP (None: no limit)", low=0.0, low_inclusive=False)
    solver: Literal["bnb", "highs"] = param(
        "bnb", "bnb: hinge LPs + branch-and-bound on the weights, HiGHS for what it leaves; "
        "highs: HiGHS MIPs only")
    max_cells: int = param(2_000_000, "box budget of each branch-and-bound", low=1)


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

    @property
    def converged(self) -> bool:
        """Every target decided and the discrepancy proven (or skipped): no limit was hit."""
        return not np.any(self.status == "unknown") and self.discrepancy_status in (
            "optimal", "skipped")


@dataclasses.dataclass(eq=False)
class _Problem:
    """One instance in standardised coordinates, and the verified members found so far.

    ``models``, ``covered`` (points some verified member flips) and ``best`` (the most targets one
    flips) grow as the stages run; everything else is fixed by :func:`_build`.
    """

    X: np.ndarray
    y: np.ndarray
    p: np.ndarray
    classes: np.ndarray
    targets: np.ndarray
    gamma: float
    max_errors: int
    Z: np.ndarray  # (n, d) standardised features
    ys: np.ndarray  # (n,) labels in {-1, +1}
    ps: np.ndarray  # (n,) baseline labels in {-1, +1}
    mu: np.ndarray
    sd: np.ndarray
    B: float
    M: np.ndarray  # (n,) big-M of each point
    models: list = dataclasses.field(default_factory=list)
    best: int = 0
    covered: np.ndarray = dataclasses.field(init=False)  # (n,) bool
    is_target: np.ndarray = dataclasses.field(init=False)  # (n,) bool

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        self.covered = np.zeros(n, dtype=bool)
        self.is_target = np.zeros(n, dtype=bool)
        self.is_target[self.targets] = True

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def to_model(self, x: np.ndarray) -> LinearClassifier:
        """The classifier ``x = (w, b)`` (standardised coordinates) in the original features."""
        d = self.Z.shape[1]
        w, b = x[:d], x[d]
        return LinearClassifier((w / self.sd)[None, :],
                                [b - float(np.sum(w * self.mu / self.sd))], self.classes)

    def verify(self, model: LinearClassifier) -> np.ndarray | None:
        """(n,) bool flips against the baseline of a member, ``None`` for a non-member."""
        pred = model.predict(self.X)
        if int(np.sum(pred != self.y)) > self.max_errors:
            return None
        return pred != self.p

    def accept(self, w: np.ndarray, b: float) -> np.ndarray | None:
        """Verify a classifier in standardised coordinates; keep it if it adds something."""
        model = self.to_model(np.r_[w, b])
        f = self.verify(model)
        if f is None:
            return None
        count = int(np.sum(f & self.is_target))
        if (f & self.is_target & ~self.covered).any() or count > self.best:
            self.models.append(model)
            self.best = max(self.best, count)
            self.covered[:] |= f
        return f

    def flip_model(self, gap: float, limit: float | None) -> tuple[LinearModel, np.ndarray]:
        """The MIP maximising the flips of the targets under the budget, and the columns of its
        flip indicators. Variables: ``[w (d), b, l (n), f (n_targets)]``."""
        Z, ys, ps, M, gamma, targets = self.Z, self.ys, self.ps, self.M, self.gamma, self.targets
        n, d = Z.shape
        nt = self.n_targets
        # rows: -y_i (z_i w + b) - M_i l_i <= -gamma ; sum l <= max_errors ;
        # p_k (z_k w + b) + M_k f_k <= M_k - gamma
        mistake = sp.hstack([sp.csr_array(-ys[:, None] * Z), sp.csr_array(-ys[:, None]),
                             sp.diags_array(-M)], format="csr")
        budget = sp.csr_array(np.concatenate([np.zeros(d + 1), np.ones(n)])[None, :])
        flips = sp.hstack([sp.csr_array(ps[:, None] * Z), sp.csr_array(ps[:, None]),
                           sp.csr_array((n, n))], format="csr")
        flip_rows = sp.hstack([flips[targets], sp.csr_array(
            (M[targets], (np.arange(nt), np.arange(nt))), shape=(nt, nt))], format="csr")
        A = sp.vstack([sp.hstack([mistake, sp.csr_array((n, nt))]),
                       sp.hstack([budget, sp.csr_array((1, nt))]), flip_rows], format="csr")
        b_ub = np.concatenate([np.full(n, -gamma), [self.max_errors], M[targets] - gamma])
        cost = np.concatenate([np.zeros(d + 1 + n), np.ones(nt)])
        bounds = [(-1.0, 1.0)] * d + [(-self.B, self.B)] + [(0.0, 1.0)] * (n + nt)
        integrality = np.concatenate([np.zeros(d + 1, dtype=int), np.ones(n + nt, dtype=int)])
        model = LinearModel(cost, A_ub=A, b_ub=b_ub, bounds=bounds, integrality=integrality,
                            maximize=True, time_limit=limit, mip_rel_gap=gap)
        return model, d + 1 + n + np.arange(nt)


def _build(X: Any, y: Any, baseline_pred: Any, *, epsilon: float, classes: Any, targets: Any,
           margin: float) -> _Problem:
    """Check the data and set up the instance: standardised features, budget, box and big-Ms."""
    X = check_array(X, "X", ndim=2)
    n = X.shape[0]
    classes = np.asarray(classes)
    if classes.shape != (2,):
        raise ValueError(f"y: the MIP method needs exactly two classes, got {classes.shape[0]}.")
    y = np.asarray(y)
    p = np.asarray(baseline_pred)
    if y.shape != (n,) or p.shape != (n,):
        raise ValueError(f"y and baseline_pred: expected shape ({n},), got {y.shape} and "
                         f"{p.shape}.")
    eps = check_float(epsilon, "epsilon", low=0.0)
    targets = np.arange(n) if targets is None else np.asarray(targets, dtype=np.int64)
    max_errors = int(np.sum(p != y)) + math.floor(eps * n + 1e-9)
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    Z = (X - mu) / sd
    norm1 = np.abs(Z).sum(axis=1)
    B = float(norm1.max()) + 1.0
    return _Problem(X=X, y=y, p=p, classes=classes, targets=targets, gamma=margin,
                    max_errors=max_errors, Z=Z, ys=np.where(y == classes[1], 1.0, -1.0),
                    ps=np.where(p == classes[1], 1.0, -1.0), mu=mu, sd=sd, B=B,
                    M=margin + norm1 + B)


def _ambiguity(prob: _Problem, status: np.ndarray, params: MIPParams) -> tuple[int, int]:
    """Decide every open target (``status == ""``, changed in place); returns (solves, cells).

    ``solver="bnb"``: hinge LPs, then the branch-and-bound; what it leaves (cell budget) and
    everything with ``solver="highs"`` goes to HiGHS by greedy covering: maximise the flips among
    the open targets, but stop at the first incumbent with a flip (relative gap > n_targets); one
    last solve proves that no open target can be flipped (optimum 0), instead of one
    infeasibility proof per point.
    """
    n_solves = n_cells = 0
    targets = prob.targets
    if params.solver == "bnb" and (status == "").any():
        open_ = prob.is_target & ~prob.covered
        n_solves += int(open_.sum())
        open_ = hinge_cover(prob.Z, prob.ys, prob.ps, open_, prob.accept)
        out = interval_bnb(prob.Z, prob.ys, prob.ps, prob.max_errors, prob.gamma, prob.accept,
                           open_=open_, max_cells=params.max_cells)
        n_cells += out.n_cells
        status[(status == "") & prob.covered[targets]] = "solved"
        if out.done:
            status[status == ""] = "infeasible"
    if not (status == "").any():
        return n_solves, n_cells
    am, f_cols = prob.flip_model(gap=float(prob.n_targets + 1), limit=params.time_limit)
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
        model = prob.to_model(x)
        f = prob.verify(model)
        newly = np.zeros(prob.n_targets, dtype=bool) if f is None else f[targets] & open_
        if not newly.any():  # the solution did not verify (numerics): give those points up
            claimed = (x[f_cols] > 0.5) & open_
            status[claimed if claimed.any() else open_] = "unknown"
            continue
        prob.models.append(model)
        prob.covered |= f
        status[newly] = "solved"
        status[(status == "") & prob.covered[targets]] = "covered"
    return n_solves, n_cells


def _discrepancy(prob: _Problem, status: np.ndarray, params: MIPParams,
                 start_models: list) -> tuple[float, float, str, int, int]:
    """The most targets one member flips: the branch-and-bound (``solver="bnb"``), then HiGHS's
    discrepancy MIP unless that proved the optimum. Returns ``(discrepancy, bound, status,
    solves, cells)``."""
    if not params.discrepancy:
        return 0.0, math.nan, "skipped", 0, 0
    nt = prob.n_targets
    targets = prob.targets
    disc, disc_bound, disc_status = 0.0, math.nan, "skipped"
    bnb_bound = None
    n_cells = 0
    if params.solver == "bnb":
        for model in start_models + prob.models:
            f = prob.verify(model)
            if f is not None:
                prob.best = max(prob.best, int(np.sum(f & prob.is_target)))
        can_flip = np.ones(prob.X.shape[0], dtype=bool)
        can_flip[targets[status.astype(str) == "infeasible"]] = False
        out = interval_bnb(prob.Z, prob.ys, prob.ps, prob.max_errors, prob.gamma, prob.accept,
                           targets=prob.is_target, flippable=can_flip, best=prob.best,
                           max_cells=params.max_cells)
        n_cells = out.n_cells
        disc = out.best / nt
        if out.done:
            return disc, disc, "optimal", 0, n_cells
        bnb_bound = out.bound / nt
    dm, f_cols = prob.flip_model(gap=1e-6, limit=params.discrepancy_time_limit)
    proved = status.astype(str) == "infeasible"
    if proved.any():  # flip indicators of points proved unflippable are 0
        dm.set_col_bounds(f_cols[proved], 0.0, 0.0)
    start = _best_start(prob, start_models + prob.models)
    try:
        res = dm.solve(start=start)
        disc_status, disc_bound = res.status, float(res.dual_bound) / nt
        model = prob.to_model(np.asarray(res.x))
        f = prob.verify(model)
        if f is not None:
            prob.models.append(model)
            disc = float(f[targets].mean())
    except (InfeasibleError, SolverError):
        disc_status = "unknown"
    # a member found by the ambiguity MIPs may flip more targets than the incumbent
    for model in prob.models:
        f = prob.verify(model)
        if f is not None:
            disc = max(disc, float(f[targets].mean()))
    if bnb_bound is not None:
        disc_bound = bnb_bound if math.isnan(disc_bound) else min(disc_bound, bnb_bound)
    return disc, disc_bound, disc_status, 1, n_cells


def mip_multiplicity(
    X: Any,
    y: Any,
    baseline_pred: Any,
    params: MIPParams | None = None,
    /,
    *,
    epsilon: float,
    classes: Any,
    targets: Any = None,
    start_models: Any = (),
    **overrides: Any,
) -> MIPResult:
    """Solve the ambiguity (one MIP per target point) and discrepancy MIPs.

    Warns with :class:`~econcs.shared.ConvergenceWarning` when a time or cell limit leaves a
    target undecided or the discrepancy unproven (``MIPResult.converged`` is then False).

    Parameters
    ----------
    X
        (n_samples, n_features) training features.
    y
        (n_samples,) training labels, two classes.
    baseline_pred
        (n_samples,) labels of the baseline on ``X`` (its mistakes set the budget).
    params, **overrides
        :class:`MIPParams` (``margin``, ``time_limit``, ``discrepancy``,
        ``discrepancy_time_limit``, ``solver``, ``max_cells``), or keyword overrides of it.
    epsilon
        error-rate tolerance (>= 0): the budget is ``L0 + floor(epsilon * n_samples)``.
    classes
        (2,) the labels; ``classes[1]`` is the positive side ``w @ x + b > 0``.
    targets
        indices of the points to search (default all).
    start_models
        linear classifiers already known to be members (e.g. sampled ones): the points
        they flip are not solved again, and the best one warm-starts the discrepancy MIP.
    """
    t0 = time.perf_counter()
    params = resolve_params(MIPParams, params, **overrides)
    prob = _build(X, y, baseline_pred, epsilon=epsilon, classes=classes, targets=targets,
                  margin=params.margin)
    start_models = list(start_models)
    for model in start_models:
        f = prob.verify(model)
        if f is not None:
            prob.covered |= f
    status = np.array(["covered" if prob.covered[k] else "" for k in prob.targets], dtype=object)
    n_solves, n_cells = _ambiguity(prob, status, params)
    disc, disc_bound, disc_status, solves, cells = _discrepancy(prob, status, params,
                                                                start_models)
    # a member found for the discrepancy may flip points the ambiguity search left undecided
    status[np.isin(status, ["", "unknown"]) & prob.covered[prob.targets]] = "solved"
    flippable = prob.covered[prob.targets]
    result = MIPResult(
        ambiguity=float(flippable.mean()), discrepancy=disc, discrepancy_bound=disc_bound,
        discrepancy_status=disc_status, targets=prob.targets, flippable=flippable,
        status=status.astype(str), models=prob.models, max_errors=prob.max_errors,
        n_solves=n_solves + solves, seconds=time.perf_counter() - t0, n_cells=n_cells + cells)
    if not result.converged:
        warnings.warn(
            f"mip_multiplicity: stopped at a limit with {int(np.sum(result.status == 'unknown'))}"
            f" of {prob.n_targets} targets undecided and the discrepancy {disc_status}; the "
            "ambiguity and discrepancy are lower bounds (raise time_limit, "
            "discrepancy_time_limit or max_cells).", ConvergenceWarning, stacklevel=2)
    return result


def _best_start(prob: _Problem, models: list) -> np.ndarray | None:
    """A feasible incumbent for the discrepancy MIP: the verified model flipping most targets,
    mapped to standardised coordinates and scaled into the box with margin ``gamma``."""
    Z, ys, ps, gamma, targets = prob.Z, prob.ys, prob.ps, prob.gamma, prob.targets
    best, best_count = None, -1
    for model in models:
        coef = np.asarray(model.coef_, dtype=np.float64).ravel()
        if coef.shape[0] != Z.shape[1]:
            continue
        f = prob.verify(model)
        if f is None:
            continue
        w = coef * prob.sd
        b = float(np.asarray(model.intercept_).ravel()[0]) + float(np.sum(coef * prob.mu))
        s = Z @ w + b
        smallest = float(np.min(np.abs(s)))
        if smallest <= 0:
            continue
        factor = gamma / smallest  # every point gets margin >= gamma
        size = max(float(np.abs(w).max()), abs(b) / prob.B) * factor
        if size > 1.0:  # needs a margin the box cannot give
            continue
        w, b, s = w * factor, b * factor, s * factor
        count = int(f[targets].sum())
        l = (ys * s < gamma * (1 - 1e-9)).astype(float)
        if count > best_count and l.sum() <= prob.max_errors:
            fl = (ps[targets] * s[targets] <= -gamma * (1 - 1e-9)).astype(float)
            best, best_count = np.concatenate([w, [b], l, fl]), count
    return best
