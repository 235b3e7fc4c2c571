"""Branch-and-bound over the weights for the ambiguity / discrepancy MIPs of linear classifiers.

The MIPs of Marx, Calmon and Ustun (2020, Sec. 3; see :mod:`econcs.churn._mip`) have ``d + 1``
continuous variables ``(w, b)`` and one indicator per point; every indicator is determined by
``(w, b)``. HiGHS branches on the indicators, and the big-M relaxation is weak: it lets ``w``
shrink towards 0, where every point is "almost" correct, so it proves almost nothing on a few
hundred noisy points. Here we branch on the continuous variables instead (a spatial
branch-and-bound in ``d`` dimensions), which is exact and cheap in low dimension:

1. **Scale normalisation.** A linear classifier does not change when ``(w, b)`` is scaled, so we
   fix ``||w||_inf = 1``: ``2 d`` root boxes ``w_j = +-1``, ``|w_i| <= 1``, ``|b| <= B`` with
   ``B = max_i ||z_i||_1 + gamma`` (a larger ``|b|`` puts every point on one side with margin
   ``gamma``, as ``b = +-B`` does). Any member of the MIP's box with margin ``gamma`` scales into
   one of these boxes with margin ``>= gamma``, so a proof there is a proof for the MIP.
2. **Interval bounds.** On a box the score ``s_i = w @ z_i + b`` ranges exactly over
   ``[c_i - r_i, c_i + r_i]`` (centre ``c_i``, radius ``r_i = |z_i| @ half-widths``). A point
   whose best margin ``max y_i s_i`` is below ``gamma`` is a mistake of every classifier in the
   box (``l_i = 1`` in the MIP), so their count is a lower bound on the mistakes; point ``k`` can
   flip in the box only if ``min p_k s_k <= -gamma``.
3. **Pruning.** Ambiguity: a box is discarded when its lower bound exceeds the budget or when no
   undecided point can flip in it. Discrepancy: when the lower bound exceeds the budget or the
   number of points that can flip in it is at most the best count found.
4. **Incumbents.** The centre of every surviving box is a classifier; when it looks like a member
   that flips new points (or more points), the caller verifies it with the true 0-1 loss in the
   original feature space (``accept``), and only verified models decide anything.
5. **Branching.** Split the box at the midpoint of the coordinate with the largest
   ``width_j * sum_i |z_ij|`` over the points whose side is still undecided in the box.

When every box is discarded the search is a proof: the undecided points cannot be flipped by any
member with margin ``gamma`` (ambiguity), or no member flips more points than the best found
(discrepancy). :func:`hinge_cover` finds many members first, by one LP per point (a hinge-loss
fit that must flip the point, on HiGHS), so that the branch-and-bound has little left to decide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from econcs.shared.solvers import LinearModel, SolverError

__all__ = ["BnBOutcome", "hinge_cover", "interval_bnb"]

Accept = Callable[[np.ndarray, float], "np.ndarray | None"]


@dataclasses.dataclass(frozen=True)
class BnBOutcome:
    """Result of :func:`interval_bnb`.

    Attributes
    ----------
    done
        every box was discarded (the search is a proof).
    open
        (n,) bool, ambiguity: points still undecided (all proved unflippable when ``done``).
    best
        discrepancy: the most target points a verified member flips (found so far).
    bound
        discrepancy: proven upper bound on that count (``== best`` when ``done``).
    n_cells
        boxes examined.
    """

    done: bool
    open: np.ndarray
    best: int
    bound: int
    n_cells: int


def hinge_cover(Z: np.ndarray, ys: np.ndarray, ps: np.ndarray, open_: np.ndarray,
                accept: Accept, *, rounds: int = 3) -> np.ndarray:
    """Find members that flip the open points, one hinge-loss LP per point.

    For each open point ``k`` solve ``min sum_i h_i`` s.t. ``h_i >= 1 - y_i (w @ z_i + b)``,
    ``h >= 0``, ``p_k (w @ z_k + b) <= -1`` (one HiGHS LP, re-solved from the previous basis with
    point ``k``'s row switched on); if the classifier is not a member, drop the points with the
    largest hinge loss from the objective and re-solve (up to ``rounds`` LPs). Each classifier is
    handed to ``accept``; a verified one closes every point it flips.

    Parameters
    ----------
    Z
        (n, d) standardised features. ys, ps : (n,) labels and baseline labels in {-1, +1}.
    open_
        (n,) bool, the points to try (not modified).
    accept
        ``accept(w, b)`` -> (n,) bool flip mask of a verified member, or ``None``.

    Returns
    -------
    (n,) bool: the points still open.
    """
    n, d = Z.shape
    open_ = open_.copy()
    fit = sp.hstack([sp.csr_array(-ys[:, None] * Z), sp.csr_array(-ys[:, None]),
                     -sp.eye_array(n)], format="csr")
    flip = sp.hstack([sp.csr_array(ps[:, None] * Z), sp.csr_array(ps[:, None]),
                      sp.csr_array((n, n))], format="csr")
    cost = np.concatenate([np.zeros(d + 1), np.ones(n)])
    h_cols = np.arange(d + 1, d + 1 + n)
    lp = LinearModel(cost, A_ub=fit, b_ub=-np.ones(n),
                     bounds=[(None, None)] * (d + 1) + [(0.0, None)] * n)
    lp.add_rows(flip, None, None)  # rows n..2n-1, off (free) except the current point's
    for k in np.flatnonzero(open_):
        if not open_[k]:
            continue
        lp.set_row_bounds(n + k, None, -1.0)
        weights = np.ones(n)
        for _ in range(rounds):
            try:
                x = np.asarray(lp.solve().x)
            except SolverError:  # numerically troubled LP: leave the point to the B&B
                break
            f = accept(x[:d], float(x[d]))
            if f is not None:
                open_ &= ~f
                break
            hinge = x[d + 1:]
            weights = np.where(hinge > 1.0 + np.quantile(hinge, 0.5), 0.0, weights)
            lp.set_costs(weights, h_cols)
        lp.set_row_bounds(n + k, None, None)
        if (weights != 1.0).any():
            lp.set_costs(1.0, h_cols)
    return open_


def interval_bnb(Z: np.ndarray, ys: np.ndarray, ps: np.ndarray, max_errors: int, gamma: float,
                 accept: Accept, *, open_: np.ndarray | None = None,
                 targets: np.ndarray | None = None, flippable: np.ndarray | None = None,
                 best: int = 0, max_cells: int = 2_000_000,
                 batch_size: int = 4096) -> BnBOutcome:
    """Exact branch-and-bound over ``(w, b)`` for ambiguity or discrepancy (module docstring).

    Parameters
    ----------
    Z
        (n, d) standardised features. ys, ps : (n,) labels and baseline labels in {-1, +1}.
    max_errors
        the mistake budget. gamma : the margin (> 0).
    accept
        ``accept(w, b)`` -> (n,) bool flip mask of a verified member, or ``None``.
    open_
        (n,) bool. **Ambiguity** mode: the points to decide.
    targets, flippable
        (n,) bool. **Discrepancy** mode (when ``open_`` is None): maximise the
        flips on ``targets``; only ``flippable`` points (those not proved unflippable) count in
        the bound. ``best`` is the count of a member already known.
    max_cells
        stop (``done=False``) after this many boxes.
    batch_size
        boxes bounded together (one ``(n, batch_size)`` matrix product).
    """
    n, d = Z.shape
    ambiguity = open_ is not None
    open_ = np.zeros(n, dtype=bool) if open_ is None else open_.copy()
    Zb = np.hstack([Z, np.ones((n, 1))])
    aZ = np.abs(Zb)
    B = float(np.abs(Z).sum(axis=1).max()) + max(1.0, gamma)
    tol = 1e-9 * (1.0 + float(aZ.sum(axis=1).max())) * max(1.0, B)
    lo0 = np.tile(np.r_[np.full(d, -1.0), -B], (2 * d, 1))
    hi0 = np.tile(np.r_[np.full(d, 1.0), B], (2 * d, 1))
    for j in range(d):
        lo0[2 * j, j] = hi0[2 * j, j] = 1.0
        lo0[2 * j + 1, j] = hi0[2 * j + 1, j] = -1.0
    if not ambiguity:
        cand = targets & flippable
    pending = [(lo0, hi0)]
    n_cells = 0
    bound = best
    while pending:
        if ambiguity and not open_.any():
            pending = []
            break
        lo, hi = pending.pop()
        if lo.shape[0] > batch_size:
            pending.append((lo[batch_size:], hi[batch_size:]))
            lo, hi = lo[:batch_size], hi[:batch_size]
        if n_cells >= max_cells:
            pending.append((lo, hi))
            break
        n_cells += lo.shape[0]
        centre, radius, lower = _box_scores(Zb, aZ, ys, lo, hi, gamma, tol)
        if ambiguity:
            can = _can_flip(ps, centre, radius, open_, gamma, tol).any(axis=0)
        else:
            can = _can_flip(ps, centre, radius, cand, gamma, tol).sum(axis=0) > best
        keep = (lower <= max_errors) & can
        if not keep.any():
            continue
        lo, hi, centre, radius = lo[keep], hi[keep], centre[:, keep], radius[:, keep]
        pos = centre > 0
        members = np.sum(pos != (ys[:, None] > 0), axis=0) <= max_errors
        flips = pos != (ps[:, None] > 0)  # (n, m)
        mid = (lo + hi) / 2
        if ambiguity:
            while members.any():
                new = np.where(members, np.sum(flips & open_[:, None], axis=0), 0)
                i = int(np.argmax(new))
                if new[i] == 0:
                    break
                members[i] = False
                f = accept(mid[i, :d], float(mid[i, d]))
                if f is not None:
                    open_ &= ~f
        else:
            count = np.where(members, np.sum(flips & targets[:, None], axis=0), -1)
            for i in np.argsort(-count)[:3]:
                if count[i] <= best:
                    break
                f = accept(mid[i, :d], float(mid[i, d]))
                if f is not None:
                    best = max(best, int(np.sum(f & targets)))
        pending.append(_branch(lo, hi, mid, centre, radius, aZ, gamma))
    done = not pending
    if not ambiguity:
        bound = best
        for lo, hi in pending:  # boxes left: their bound still counts
            centre, radius, lower = _box_scores(Zb, aZ, ys, lo, hi, gamma, tol)
            ub = _can_flip(ps, centre, radius, cand, gamma, tol).sum(axis=0)
            bound = max(bound, int(ub[lower <= max_errors].max(initial=0)))
    return BnBOutcome(done=done, open=open_, best=best, bound=bound, n_cells=n_cells)


def _box_scores(Zb: np.ndarray, aZ: np.ndarray, ys: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                gamma: float, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval bounds on boxes ``lo, hi`` (m, d + 1): the (n, m) scores at their centres, the
    (n, m) half-ranges of the scores over them, and the (m,) mistakes every member makes."""
    centre = Zb @ ((lo + hi) / 2).T
    radius = aZ @ ((hi - lo) / 2).T
    lower = np.sum(ys[:, None] * centre + radius < gamma - tol, axis=0)
    return centre, radius, lower


def _can_flip(ps: np.ndarray, centre: np.ndarray, radius: np.ndarray, points: np.ndarray,
              gamma: float, tol: float) -> np.ndarray:
    """(n_points, m) bool: the selected ``points`` can flip (margin gamma) somewhere in the box."""
    return ps[points, None] * centre[points] - radius[points] <= -gamma + tol


def _branch(lo: np.ndarray, hi: np.ndarray, mid: np.ndarray, centre: np.ndarray,
            radius: np.ndarray, aZ: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Split each box at the midpoint of the coordinate that decides the most undecided scores."""
    undecided = (centre - radius < gamma) & (centre + radius > -gamma)
    score = (undecided.T.astype(np.float64) @ aZ) * (hi - lo)
    j = np.argmax(score, axis=1)
    rows = np.arange(lo.shape[0])
    cut = mid[rows, j]
    hi_left, lo_right = hi.copy(), lo.copy()
    hi_left[rows, j] = cut
    lo_right[rows, j] = cut
    return np.vstack([lo, lo_right]), np.vstack([hi_left, hi])
