"""The exact revenue-optimal menu of experiments for a finite type set, as an LP on HiGHS.

By the revelation principle for data markets (Bergemann, Bonatti, Smolin 2018; the LP of Cai and
Velegkas 2021, used as the baseline in Ravindranath, Jiang, Parkes 2023, Sec. 5) the seller can
offer each type ``t`` one experiment ``pi_t`` whose signals are action recommendations it obeys,
at a price ``p_t``. With ``c_t[omega, a] = v_t theta_t[omega] U[a, omega]`` the LP is

    max   sum_t w_t p_t
    s.t.  sum_a pi_t[omega, a] = 1,  pi_t >= 0                                  (experiments)
          sum_omega theta_t[omega] pi_t[omega, a] (U[a, omega] - U[a', omega]) >= 0   (obedience)
          <c_t, pi_t> - p_t >= v_t max_a theta_t . U[a]                          (IR)
          <c_t, pi_t> - p_t >= v_t sum_s max_a' theta_t . (pi_t'[:, s] * U[a'])  - p_t'   (IC)

The IC right-hand side (type ``t`` buys ``t'``'s experiment and best-responds to each of its
signals) is a maximum of linear functions, one per deviation map ``delta: signal -> action``, so
IC is ``A^A`` linear rows per pair. They are generated lazily (cutting planes on one
:class:`econcs.shared.LinearModel`, re-solved from the previous basis): start with the pairs of
neighbouring types (the next cells in every coordinate of a grid, both ways) under
``delta = identity``, then add, for each type, its ``cuts_per_type`` most profitable misreports
with their best deviation maps, until no IC row is violated by more than ``tol``. The separation
never holds all ``T^2`` pairs' ``(signal, action)`` values at once: each chunk of types is one
matmul against all experiments, reduced at once to its best misreports. HiGHS's primal feasibility
tolerance is set below ``tol`` so that the added rows hold to it. The final solution satisfies every
IC row up to ``tol``, so its revenue is the optimum of the full LP.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.sparse as sp

from econcs.datamarkets._types import TypeGrid, check_types
from econcs.shared import (
    ConvergenceWarning,
    LinearModel,
    check_array,
    check_float,
    check_int,
    history_tuple,
)

__all__ = ["ExperimentLPResult", "best_response_values", "solve_experiment_lp"]


@dataclasses.dataclass(frozen=True, eq=False)
class ExperimentLPResult:
    """The optimal menu on a finite type set.

    Attributes
    ----------
    revenue : float
        Expected revenue ``sum_t w_t p_t``.
    experiments : np.ndarray, shape (T, n_states, n_actions)
        Each type's experiment (signal ``a`` recommends action ``a``).
    prices : np.ndarray, shape (T,)
    status : str
        ``"optimal"``, or ``"max_iter"`` when the cutting planes stopped with IC violated.
    iterations : int
        LP solves (cutting-plane rounds).
    ic_violation : float
        Largest IC violation (utility gain from any misreport and deviation) at the solution.
    n_rows : int
        Rows of the final LP.
    history : tuple of dict
        ``{"step", "revenue", "ic_violation", "n_rows"}`` per round.
    """

    revenue: float
    experiments: np.ndarray
    prices: np.ndarray
    status: str
    iterations: int
    ic_violation: float
    n_rows: int
    seconds: float
    history: tuple[dict, ...]


def best_response_values(beliefs: np.ndarray, experiments: np.ndarray,
                         payoff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``V[t, k] = sum_s max_a theta_t . (pi_k[:, s] * U[a])`` and the maximising actions.

    Shapes: beliefs ``(T, S)``, experiments ``(K, S, G)``, payoff ``(A, S)``; returns ``(T, K)``
    and ``(T, K, G)`` (numpy, float64).
    """
    # act[t, k, g, a] = sum_omega theta[t, omega] pi[k, omega, g] U[a, omega]
    act = np.einsum("ts,ksg,as->tkga", beliefs, experiments, payoff, optimize=True)
    return act.max(axis=-1).sum(axis=-1), act.argmax(axis=-1)


def _most_violated(beliefs: np.ndarray, values: np.ndarray, experiments: np.ndarray,
                   prices: np.ndarray, own: np.ndarray, payoff: np.ndarray, k: int,
                   chunk_size: int | None = None):
    """IC separation without the ``(T, T, G, A)`` tensor: for every type ``t`` the ``k`` reports
    ``t'`` with the largest gain ``v_t V[t, t'] - p_t' - own_t`` (best response to each signal of
    ``pi_t'``), computed in chunks of types as one matmul ``theta @ M`` per chunk, with
    ``M[omega, (a, g, t')] = pi_t'[omega, g] U[a, omega]``.

    Returns ``(t, t', gain, delta)`` flat over the ``T k`` pairs, ``delta (T k, G)`` the best
    action after each signal (the deviation map of the IC row).
    """
    t_n, s = beliefs.shape
    n_exp, _, g_n = experiments.shape
    a_n = payoff.shape[0]
    k = min(k, n_exp)
    # mat[omega, a, g, t'] = pi_t'[omega, g] U[a, omega]
    mat = (payoff.T[:, :, None, None] * experiments.transpose(1, 2, 0)[:, None]).reshape(s, -1)
    chunk = chunk_size or max(1, (1 << 22) // (a_n * g_n * n_exp))
    top = np.empty((t_n, k), dtype=np.int64)
    gain = np.empty((t_n, k))
    for lo in range(0, t_n, chunk):
        hi = min(lo + chunk, t_n)
        act = (beliefs[lo:hi] @ mat).reshape(hi - lo, a_n, g_n, n_exp)
        viol = act.max(axis=1).sum(axis=1)  # (chunk, T'): V[t, t']
        viol *= values[lo:hi, None]
        viol -= prices[None, :]
        viol -= own[lo:hi, None]
        idx = (np.argpartition(-viol, k - 1, axis=1)[:, :k] if k < n_exp
               else np.broadcast_to(np.arange(n_exp), (hi - lo, k)))
        top[lo:hi] = idx
        gain[lo:hi] = np.take_along_axis(viol, idx, axis=1)
    tt = np.repeat(np.arange(t_n), k)
    t2 = top.ravel()
    act = np.einsum("ns,nsg,as->nga", beliefs[tt], experiments[t2], payoff)
    return tt, t2, gain.ravel(), act.argmax(axis=-1)


def _neighbours(beliefs: np.ndarray, values: np.ndarray, chunk_size: int = 1024,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(t, t')`` of neighbouring types, both ways: each type's ``2 d`` nearest types in
    the ``d`` coordinates that vary (beliefs but the last, and the value), each coordinate
    scaled by its range (on a product grid: the next cells in theta and in v)."""
    feats = np.concatenate([beliefs[:, :-1], values[:, None]], axis=1)
    span = np.ptp(feats, axis=0)
    feats = feats[:, span > 0] / span[span > 0]
    t_n = feats.shape[0]
    k = min(2 * feats.shape[1], t_n - 1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    near = np.empty((t_n, k), dtype=np.int64)
    sq = (feats**2).sum(axis=1)
    for lo in range(0, t_n, chunk_size):
        hi = min(lo + chunk_size, t_n)
        dist = sq[lo:hi, None] + sq[None, :] - 2 * feats[lo:hi] @ feats.T
        dist[np.arange(hi - lo), np.arange(lo, hi)] = np.inf
        near[lo:hi] = np.argpartition(dist, k - 1, axis=1)[:, :k]
    pairs = np.stack([np.repeat(np.arange(t_n), k), near.ravel()], axis=1)
    pairs = np.unique(np.concatenate([pairs, pairs[:, ::-1]]), axis=0)
    return pairs[:, 0], pairs[:, 1]


class _Rows:
    """Builds the LP's sparse rows for T types, S states, A actions (signals = actions)."""

    def __init__(self, beliefs: np.ndarray, values: np.ndarray, payoff: np.ndarray) -> None:
        self.b, self.v, self.u = beliefs, values, payoff
        self.t, self.s = beliefs.shape
        self.a = payoff.shape[0]
        self.n_pi = self.t * self.s * self.a
        # own[t, omega, a] = v_t theta_t[omega] U[a, omega]
        self.own = values[:, None, None] * beliefs[:, :, None] * payoff.T[None]

    def pi_index(self, t: np.ndarray) -> np.ndarray:
        """``(len(t), S, A)`` column indices of pi_t."""
        return (t[:, None, None] * self.s * self.a + np.arange(self.s)[:, None] * self.a
                + np.arange(self.a)[None, :])

    def sums(self) -> sp.csr_array:
        t = np.arange(self.t)
        cols = self.pi_index(t).reshape(self.t * self.s, self.a)
        rows = np.repeat(np.arange(self.t * self.s), self.a)
        return sp.csr_array((np.ones(cols.size), (rows, cols.ravel())),
                            shape=(self.t * self.s, self.n_pi + self.t))

    def obedience(self) -> sp.csr_array:
        """Rows for each (t, a, a' != a): sum_omega theta pi[omega, a] (U[a] - U[a'])."""
        t, a, a2 = np.meshgrid(np.arange(self.t), np.arange(self.a), np.arange(self.a),
                               indexing="ij")
        keep = a != a2
        t, a, a2 = t[keep], a[keep], a2[keep]
        n = t.size
        omega = np.arange(self.s)
        coef = self.b[t] * (self.u[a] - self.u[a2])  # (n, S)
        cols = (t[:, None] * self.s * self.a + omega[None] * self.a + a[:, None])
        rows = np.repeat(np.arange(n), self.s)
        return sp.csr_array((coef.ravel(), (rows, cols.ravel())),
                            shape=(n, self.n_pi + self.t))

    def ir(self) -> tuple[sp.csr_array, np.ndarray]:
        t = np.arange(self.t)
        cols = np.concatenate([self.pi_index(t).reshape(self.t, -1),
                               (self.n_pi + t)[:, None]], axis=1)
        data = np.concatenate([self.own.reshape(self.t, -1), -np.ones((self.t, 1))], axis=1)
        rows = np.repeat(t, cols.shape[1])
        mat = sp.csr_array((data.ravel(), (rows, cols.ravel())), shape=(self.t, self.n_pi + self.t))
        rhs = self.v * (self.b @ self.u.T).max(axis=1)
        return mat, rhs

    def ic(self, t: np.ndarray, t2: np.ndarray, delta: np.ndarray) -> sp.csr_array:
        """Rows ``<c_t, pi_t> - p_t - v_t sum theta_t pi_t2[:, g] U[delta_g] + p_t2 >= 0``.

        ``t, t2`` ``(n,)``, ``delta`` ``(n, A)`` the action taken after each signal.
        """
        n = t.size
        if n == 0:
            return sp.csr_array((0, self.n_pi + self.t))
        own_cols = self.pi_index(t).reshape(n, -1)
        own = self.own[t].reshape(n, -1)
        dev_cols = self.pi_index(t2).reshape(n, -1)
        # dev[n, omega, g] = v_t theta_t[omega] U[delta[n, g], omega]
        dev = self.v[t, None, None] * self.b[t][:, :, None] * self.u[delta].transpose(0, 2, 1)
        cols = np.concatenate([own_cols, dev_cols, (self.n_pi + t)[:, None],
                               (self.n_pi + t2)[:, None]], axis=1)
        data = np.concatenate([own, -dev.reshape(n, -1), -np.ones((n, 1)), np.ones((n, 1))],
                              axis=1)
        rows = np.repeat(np.arange(n), cols.shape[1])
        mat = sp.coo_array((data.ravel(), (rows, cols.ravel())), shape=(n, self.n_pi + self.t))
        return mat.tocsr()  # sums the duplicates of t == t2


def solve_experiment_lp(
    beliefs=None,
    values=None,
    weights=None,
    *,
    payoff=None,
    grid: TypeGrid | None = None,
    tol: float = 1e-9,
    max_iter: int = 200,
    cuts_per_type: int = 4,
    time_limit: float | None = None,
) -> ExperimentLPResult:
    """Revenue-optimal menu of experiments for a finite type set (exact LP, HiGHS).

    Parameters
    ----------
    beliefs : array_like, shape (T, n_states)
        The types' beliefs (rows on the simplex). Or give ``grid``.
    values : array_like, shape (T,), optional
        The types' values ``v >= 0`` (default all 1).
    weights : array_like, shape (T,), optional
        Type probabilities (default uniform).
    payoff : array_like, shape (n_actions, n_states), optional
        ``U[a, omega]``; default the identity.
    grid : TypeGrid, optional
        Beliefs, values and weights in one object (:meth:`DataMarket.grid`).
    tol : float
        IC violation allowed at the end (absolute, in payoff units).
    max_iter : int
        Cutting-plane rounds (LP solves) at most.
    cuts_per_type : int
        Violated IC rows added per type and round.
    time_limit : float, optional
        Seconds for each LP solve.

    Examples
    --------
    >>> theta = [[0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]
    >>> res = solve_experiment_lp(theta)  # full information: 1/2 to one type or 1/4 to two
    >>> res.status, round(res.revenue, 6)
    ('optimal', 0.166667)
    """
    if grid is not None:
        if beliefs is not None or values is not None or weights is not None:
            raise TypeError("grid: give either grid or beliefs/values/weights, not both.")
        beliefs, values, weights = grid.beliefs, grid.values, grid.weights
    if beliefs is None:
        raise TypeError("beliefs: expected a (T, n_states) array of beliefs or a grid.")
    n_states = np.shape(beliefs)[1] if np.ndim(beliefs) == 2 else None
    if n_states is None:
        raise ValueError(f"beliefs: expected a 2-D array (T, n_states), got shape "
                         f"{np.shape(beliefs)}.")
    b, v, w = check_types(beliefs, values, weights, n_states)
    u = (np.eye(n_states) if payoff is None
         else check_array(payoff, "payoff", ndim=2, shape=(None, n_states)))
    if u.shape[0] < 2:
        raise ValueError(f"payoff: expected at least 2 actions (rows), got shape {u.shape}.")
    tol = check_float(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    cuts_per_type = check_int(cuts_per_type, "cuts_per_type", low=1)
    start = time.perf_counter()

    rows = _Rows(b, v, u)
    t_n, a_n = rows.t, rows.a
    cost = np.concatenate([np.zeros(rows.n_pi), w])
    ir, ir_rhs = rows.ir()
    obed = rows.obedience()
    near, near2 = _neighbours(b, v)
    ic0 = rows.ic(near, near2, np.broadcast_to(np.arange(a_n), (near.size, a_n)))
    a_lb = sp.vstack([ir, obed, ic0], format="csr")
    b_lb = np.concatenate([ir_rhs, np.zeros(obed.shape[0] + ic0.shape[0])])
    bounds = [(0.0, None)] * rows.n_pi + [(None, None)] * t_n
    model = LinearModel(cost, A_eq=rows.sums(), b_eq=np.ones(t_n * rows.s), bounds=bounds,
                        A_lb=a_lb, b_lb=b_lb, maximize=True, time_limit=time_limit,
                        options={"primal_feasibility_tolerance": max(min(1e-7, tol / 2), 1e-9)})
    history = []
    status = "max_iter"
    for it in range(1, max_iter + 1):
        res = model.solve()
        pi = res.x[: rows.n_pi].reshape(t_n, rows.s, a_n).clip(0.0, None)
        price = res.x[rows.n_pi:]
        own = (rows.own * pi).sum(axis=(1, 2)) - price
        tt, t2, gain, delta = _most_violated(b, v, pi, price, own, u, cuts_per_type)
        worst = float(gain.max())
        history.append({"step": it, "revenue": float(res.objective), "ic_violation": worst,
                        "n_rows": model.n_rows})
        if worst <= tol:
            status = "optimal"
            break
        if it == max_iter:
            break
        keep = gain > tol
        tt, t2, delta = tt[keep], t2[keep], delta[keep]
        model.add_rows(rows.ic(tt, t2, delta), 0.0, None)
    if status != "optimal":
        import warnings

        warnings.warn(f"solve_experiment_lp: stopped after max_iter={max_iter} rounds with IC "
                      f"violated by {worst:.3g} > tol={tol:g}.", ConvergenceWarning, stacklevel=2)
    pi.setflags(write=False)
    price = np.array(price)
    price.setflags(write=False)
    return ExperimentLPResult(
        revenue=float(res.objective), experiments=pi, prices=price, status=status,
        iterations=len(history), ic_violation=max(worst, 0.0), n_rows=model.n_rows,
        seconds=time.perf_counter() - start, history=history_tuple(history),
    )
