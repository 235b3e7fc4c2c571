"""One sender's exact best response to the others' schemes, and the exact Nash-equilibrium gap.

Computing a best response is NP-hard (Hossain et al., ICML 2024, Sec. 3), so this is for small
instances. With the other senders' schemes fixed, let ``c(t, w) = mu(w) prod_{j != i} pi_j(t_j | w)``
for each joint signal ``t`` of the others. Sender ``i`` chooses ``p(s, w) = pi_i(s | w)`` and, for
every joint signal ``(s, t)``, the receiver's action, as binaries ``y(s, t, a)``. The product
``x(s, t, a, w) = y(s, t, a) p(s, w)`` is linearised exactly by ``0 <= x <= y`` and
``sum_a x(s, t, a, w) = p(s, w)`` (since ``sum_a y = 1``). The MILP is

    max  sum x(s, t, a, w) c(t, w) u_i(a, w)
    s.t. sum_s p(s, w) = 1;   sum_a y(s, t, a) = 1;   x <= y;   sum_a x(s, t, a, w) = p(s, w);
         sum_w x(s, t, a, w) c(t, w) [v(a, w) - v(a', w)] >= 0   for a' != a   (obedience),

solved on HiGHS by :func:`econcs.shared.solve_milp`, over the actions that are a receiver best
response at some belief only (one small LP per action first; the others are never obedient).
``method="enumerate"`` instead solves one LP in ``p`` per assignment of all actions to joint
signals (``n_actions ** n_joint_signals`` LPs), an independent check for tiny games.

The receiver breaks ties for sender ``i`` here, so the value is the supremum of what ``i`` can
get by deviating; the NE gap built on it is an upper bound on the gain under any tie rule: an
equilibrium certified with it is certified under every tie rule.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from econcs.persuasion._game import PersuasionGame, _utilities, check_schemes
from econcs.shared import InfeasibleError, check_choice, check_int, solve_lp, solve_milp

__all__ = ["MAX_BINARIES", "MAX_ENUMERATION", "BestResponseResult", "NEGapResult",
           "best_response", "exact_ne_gap"]

#: the largest MILP (binaries = n_signals ** n_senders * n_actions) :func:`best_response` accepts
MAX_BINARIES = 4000
#: the most action assignments (n_actions ** n_joint_signals) ``method="enumerate"`` accepts
MAX_ENUMERATION = 4096


@dataclasses.dataclass(frozen=True, eq=False)
class BestResponseResult:
    """Sender ``sender``'s exact best response.

    Attributes
    ----------
    sender : int
    value : float
        The best utility sender ``sender`` can reach (ties broken in its favour).
    scheme : np.ndarray, shape (n_states, n_signals)
        A best-response scheme ``pi_i(s | w)``.
    actions : np.ndarray of int, shape (n_joint_signals,)
        The receiver action the optimum assigns to each joint signal (row-major order).
    bound : float
        A proven upper bound on the best value (HiGHS's dual bound; ``value`` for enumeration).
    current : float
        The sender's utility at the given profile (the game's tie rule).
    gain : float
        ``bound - current``: a certified upper bound on what deviating gains (>= 0 up to solver
        tolerance).
    status : str
        The solver's status (``"optimal"``).
    method : str
        ``"milp"`` or ``"enumerate"``.
    """

    sender: int
    value: float
    scheme: np.ndarray
    actions: np.ndarray
    bound: float
    current: float
    gain: float
    status: str
    method: str


@dataclasses.dataclass(frozen=True, eq=False)
class NEGapResult:
    """Exact NE gap of a profile: ``gap = max_i gains[i]``; ``responses[i]`` is sender i's."""

    gap: float
    gains: np.ndarray
    responses: tuple[BestResponseResult, ...]


def _others(game: PersuasionGame, pi: np.ndarray, sender: int) -> np.ndarray:
    """``c(t, w)``: (n_other_joint, n_states), others' joint signals in row-major order."""
    c = game.prior[None, :].copy()
    for j in range(game.n_senders):
        if j != sender:
            c = (c[:, None, :] * pi[j].T[None, :, :]).reshape(-1, game.n_states)
    return c


def _obedient_actions(v: np.ndarray) -> np.ndarray:
    """The actions that are a receiver best response at some belief (the LP ``q`` in the simplex,
    ``(v[b] - v[a]) @ q <= 0`` for every ``b``, is feasible).

    Any other action is never obedient at a joint signal of positive probability, and at one of
    probability 0 every action is obedient and worth 0; so the MILP without them has the same
    optimum, with ``n_signals ** n_senders`` binaries fewer per action dropped.
    """
    n_a, n_st = v.shape
    keep = []
    for a in range(n_a):
        diff = np.delete(v, a, axis=0) - v[a]
        try:
            if n_a > 1:
                solve_lp(np.zeros(n_st), A_ub=diff, b_ub=np.zeros(n_a - 1),
                         A_eq=np.ones((1, n_st)), b_eq=np.ones(1), bounds=(0.0, 1.0))
        except InfeasibleError:
            continue
        keep.append(a)
    return np.array(keep, dtype=np.int64)


def _assemble(u: np.ndarray, v: np.ndarray, c: np.ndarray, n_sig: int):
    """The MILP's data for sender utility ``u`` and receiver utility ``v`` (n_a, n_st), others'
    masses ``c`` (T, n_st). Variables: p (n_sig, n_st), y (n_sig, T, n_a), x (n_sig, T, n_a, n_st).
    """
    n_a, n_st = v.shape
    n_t = c.shape[0]
    n_p, n_y = n_sig * n_st, n_sig * n_t * n_a
    n_x = n_y * n_st
    p_idx = np.arange(n_p).reshape(n_sig, n_st)
    y_idx = n_p + np.arange(n_y).reshape(n_sig, n_t, n_a)
    x_idx = n_p + n_y + np.arange(n_x).reshape(n_sig, n_t, n_a, n_st)
    n = n_p + n_y + n_x
    cost = np.zeros(n)
    cost[x_idx] = c[None, :, None, :] * u[None, None, :, :]
    eq_r, eq_c, eq_v = [], [], []
    row = 0
    for w in range(n_st):  # sum_s p(s, w) = 1
        eq_r += [row] * n_sig
        eq_c += list(p_idx[:, w])
        eq_v += [1.0] * n_sig
        row += 1
    ys = y_idx.reshape(-1, n_a)  # sum_a y = 1
    eq_r += list(np.repeat(np.arange(row, row + ys.shape[0]), n_a))
    eq_c += list(ys.ravel())
    eq_v += [1.0] * ys.size
    row += ys.shape[0]
    # sum_a x(s, t, a, w) - p(s, w) = 0
    xs = x_idx.transpose(0, 1, 3, 2).reshape(-1, n_a)  # rows (s, t, w)
    ps = np.broadcast_to(p_idx[:, None, :], (n_sig, n_t, n_st)).ravel()
    rows = np.arange(row, row + xs.shape[0])
    eq_r += list(np.repeat(rows, n_a)) + list(rows)
    eq_c += list(xs.ravel()) + list(ps)
    eq_v += [1.0] * xs.size + [-1.0] * ps.size
    row += xs.shape[0]
    a_eq = sp.csr_array((eq_v, (eq_r, eq_c)), shape=(row, n))
    b_eq = np.concatenate([np.ones(n_st + ys.shape[0]), np.zeros(xs.shape[0])])
    # x - y <= 0
    n_ub = n_x
    ub_r = np.concatenate([np.arange(n_ub), np.arange(n_ub)])
    ub_c = np.concatenate([x_idx.ravel(), np.repeat(y_idx.ravel(), n_st)])
    ub_v = np.concatenate([np.ones(n_ub), -np.ones(n_ub)])
    # obedience as -sum_w x c (v(a) - v(b)) <= 0 for each (s, t, a, b != a)
    ob_r, ob_c, ob_v = [], [], []
    r = n_ub
    for a in range(n_a):
        for b in range(n_a):
            if a == b:
                continue
            coef = -(c * (v[a] - v[b])[None, :])  # (T, n_st)
            for s in range(n_sig):
                rows = r + np.arange(n_t)
                ob_r.append(np.repeat(rows, n_st))
                ob_c.append(x_idx[s, :, a, :].ravel())
                ob_v.append(coef.ravel())
                r += n_t
    if ob_r:
        ub_r = np.concatenate([ub_r, *ob_r])
        ub_c = np.concatenate([ub_c, *ob_c])
        ub_v = np.concatenate([ub_v, *ob_v])
    # symmetry breaking: own signals ordered by p(s, 0) (any optimum can be relabelled so)
    for s in range(n_sig - 1):
        ub_r = np.concatenate([ub_r, [r, r]])
        ub_c = np.concatenate([ub_c, [p_idx[s + 1, 0], p_idx[s, 0]]])
        ub_v = np.concatenate([ub_v, [1.0, -1.0]])
        r += 1
    a_ub = sp.csr_array((ub_v, (ub_r, ub_c)), shape=(r, n))
    integrality = np.zeros(n, dtype=np.int64)
    integrality[y_idx.ravel()] = 1
    bounds = [(0.0, 1.0)] * n
    return cost, a_ub, np.zeros(r), a_eq, b_eq, integrality, bounds, p_idx, y_idx


def _joint_actions(game: PersuasionGame, sender: int, act: np.ndarray) -> np.ndarray:
    """Reorder an action table (n_sig, T) indexed (own signal, others' joint) to row-major s."""
    k, n = game.n_senders, game.n_signals
    shape = [n] * k
    table = act.reshape([n] + [n] * (k - 1))  # axes: own, then others in order
    table = np.moveaxis(table, 0, sender)
    return table.reshape(int(np.prod(shape)))


def _enumerate(game: PersuasionGame, c: np.ndarray, sender: int):
    n_sig, n_st, n_a = game.n_signals, game.n_states, game.n_actions
    n_t = c.shape[0]
    u, v = game.sender_utility[sender], game.receiver_utility
    n_cells = n_sig * n_t
    a_eq = np.zeros((n_st, n_sig * n_st))
    for w in range(n_st):
        a_eq[w, w::n_st] = 1.0
    best = (-np.inf, None, None)
    for assign in itertools.product(range(n_a), repeat=n_cells):
        act = np.array(assign).reshape(n_sig, n_t)
        cost = np.zeros((n_sig, n_st))
        rows = []
        for s in range(n_sig):
            for t in range(n_t):
                a = act[s, t]
                cost[s] += c[t] * u[a]
                for b in range(n_a):
                    if b != a:
                        row = np.zeros((n_sig, n_st))
                        row[s] = -c[t] * (v[a] - v[b])
                        rows.append(row.ravel())
        try:
            res = solve_lp(cost.ravel(), A_ub=np.array(rows) if rows else None,
                           b_ub=np.zeros(len(rows)) if rows else None, A_eq=a_eq,
                           b_eq=np.ones(n_st), bounds=(0.0, 1.0), maximize=True)
        except InfeasibleError:
            continue
        if res.objective > best[0]:
            best = (res.objective, res.x.reshape(n_sig, n_st), act)
    return best


def best_response(game: PersuasionGame, profile: Any, sender: int, *, method: str = "milp",
                  time_limit: float | None = None) -> BestResponseResult:
    """Sender ``sender``'s exact best response to the other schemes of ``profile``.

    Parameters
    ----------
    game : PersuasionGame
    profile : array_like, shape (n_senders, n_states, n_signals)
        The schemes; sender ``sender``'s own entry only sets ``current``.
    sender : int
    method : {"milp", "enumerate"}
        The MILP (at most :data:`MAX_BINARIES` binaries ``n_signals ** n_senders * n_actions``) or
        one LP per action assignment (at most :data:`MAX_ENUMERATION` assignments).
    time_limit : float, optional
        Seconds for the MILP (a ``"time_limit"`` status keeps the incumbent).

    Examples
    --------
    >>> from econcs.persuasion import PersuasionGame
    >>> g = PersuasionGame([0.7, 0.3], [[[0, 0], [1, 1]]], [[1, 0], [0, 1]], n_signals=2)
    >>> br = best_response(g, [[[1.0, 0.0], [1.0, 0.0]]], 0)
    >>> round(br.value, 6), round(br.current, 6)
    (0.6, 0.0)
    """
    check_choice(method, "method", ("milp", "enumerate"))
    pi_t = check_schemes(game, profile, "profile")
    if pi_t.dim() != 3:
        raise ValueError(f"profile: expected one profile of shape {game.scheme_shape}, got "
                         f"{tuple(pi_t.shape)}.")
    check_int(sender, "sender", low=0, high=game.n_senders - 1)
    pi = pi_t.detach().cpu().to(torch.float64).numpy()
    n_bin = game.n_joint_signals * game.n_actions
    if method == "milp" and n_bin > MAX_BINARIES:
        raise ValueError(
            f"game: the best-response MILP supports n_signals ** n_senders * n_actions <= "
            f"{MAX_BINARIES} binaries, got {game.n_signals}**{game.n_senders} * {game.n_actions} "
            f"= {n_bin}; use fewer senders, signals or actions."
        )
    n_assign = float(game.n_actions) ** game.n_joint_signals
    if method == "enumerate" and n_assign > MAX_ENUMERATION:
        raise ValueError(
            f"game: enumeration supports n_actions ** n_joint_signals <= {MAX_ENUMERATION} "
            f"action assignments, got {game.n_actions}**{game.n_joint_signals} = {n_assign:.3g}; "
            "use method='milp'."
        )
    c = _others(game, pi, sender)
    if method == "milp":
        keep = _obedient_actions(game.receiver_utility)
        cost, a_ub, b_ub, a_eq, b_eq, integ, bounds, p_idx, y_idx = _assemble(
            game.sender_utility[sender][keep], game.receiver_utility[keep], c, game.n_signals)
        res = solve_milp(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds,
                         integrality=integ, maximize=True, time_limit=time_limit,
                         mip_rel_gap=1e-7)
        value, status = float(res.objective), res.status
        bound = value if res.dual_bound is None else max(value, float(res.dual_bound))
        p = res.x[p_idx]
        act = keep[np.argmax(res.x[y_idx], axis=-1)]
    else:
        value, p, act = _enumerate(game, c, sender)
        bound, status = value, "optimal"
    scheme = np.clip(p.T, 0.0, None)
    scheme = scheme / scheme.sum(-1, keepdims=True)
    current = float(_utilities(game, torch.from_numpy(pi))[sender])
    return BestResponseResult(
        sender=sender,
        value=value,
        scheme=scheme,
        actions=_joint_actions(game, sender, act),
        bound=bound,
        current=current,
        gain=bound - current,
        status=status,
        method=method,
    )


def exact_ne_gap(game: PersuasionGame, profile: Any, *, method: str = "milp",
                 time_limit: float | None = None) -> NEGapResult:
    """``max_i (best response value of i - U_i(profile))``: 0 exactly at a Nash equilibrium.

    See :func:`best_response` for ``method`` and the size limits.
    """
    responses = tuple(best_response(game, profile, i, method=method, time_limit=time_limit)
                      for i in range(game.n_senders))
    gains = np.array([r.gain for r in responses])
    gains.setflags(write=False)
    return NEGapResult(gap=float(max(gains.max(), 0.0)), gains=gains, responses=responses)
