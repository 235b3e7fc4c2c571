"""Single-sender Bayesian persuasion by linear programming (Kamenica and Gentzkow 2011; Dughmi and
Xu 2016), and the no-information and full-revelation benchmarks.

By the revelation principle an optimal scheme recommends an action. With ``x(w, a) = mu(w) pi(a | w)``
the sender solves

    max  sum_{w,a} x(w, a) u(a, w)
    s.t. sum_a x(w, a) = mu(w)                                   (each state's mass)
         sum_w x(w, a) [v(a, w) - v(a', w)] >= 0   for a != a'    (obedience)
         x >= 0,

whose value is the concavification of the sender's value ``v_hat(p) = u(a*(p), p)`` at the prior
(Kamenica and Gentzkow 2011, Corollary 2). Ties are in the sender's favour, as the LP allows.
The LP runs on HiGHS through :func:`econcs.shared.solve_lp`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from econcs.persuasion._game import PersuasionGame
from econcs.shared import check_array, check_int, check_probabilities, solve_lp

__all__ = [
    "SingleSenderResult",
    "concavification_two_states",
    "full_revelation_profile",
    "full_revelation_utilities",
    "no_information_utilities",
    "optimal_scheme",
]


@dataclasses.dataclass(frozen=True, eq=False)
class SingleSenderResult:
    """An optimal single-sender scheme.

    Attributes
    ----------
    value : float
        The sender's optimal expected utility.
    scheme : np.ndarray, shape (n_states, n_actions)
        ``pi(a | w)``: the probability of recommending action ``a`` in state ``w`` (rows of
        zero-prior states are uniform).
    joint : np.ndarray, shape (n_states, n_actions)
        ``x(w, a) = mu(w) pi(a | w)``.
    receiver_value : float
        The receiver's expected utility under the scheme.
    status : str
        HiGHS's status (``"optimal"``).
    iterations : int
        Simplex iterations.
    """

    value: float
    scheme: np.ndarray
    joint: np.ndarray
    receiver_value: float
    status: str
    iterations: int


def _check_single(prior: Any, sender_utility: Any, receiver_utility: Any):
    mu = check_probabilities(prior, "prior", ndim=1, atol=1e-9)
    u = check_array(sender_utility, "sender_utility", ndim=2)
    v = check_array(receiver_utility, "receiver_utility", ndim=2)
    if u.shape[1] != mu.shape[0]:
        raise ValueError(
            f"sender_utility: expected shape (n_actions, n_states={mu.shape[0]}), got {u.shape}."
        )
    if v.shape != u.shape:
        raise ValueError(
            f"receiver_utility: expected shape {u.shape} (n_actions, n_states), got {v.shape}."
        )
    return mu, u, v


def optimal_scheme(prior: Any, sender_utility: Any, receiver_utility: Any) -> SingleSenderResult:
    """The sender-optimal scheme of a single-sender game, by the obedience LP.

    Parameters
    ----------
    prior : array_like, shape (n_states,)
    sender_utility : array_like, shape (n_actions, n_states)
    receiver_utility : array_like, shape (n_actions, n_states)

    Examples
    --------
    The prosecutor of Kamenica and Gentzkow (2011): prior P(guilty) = 0.3, the judge convicts iff
    P(guilty | signal) >= 1/2.

    >>> res = optimal_scheme([0.7, 0.3], [[0, 0], [1, 1]], [[1, 0], [0, 1]])
    >>> round(res.value, 9), res.scheme.round(6).tolist()
    (0.6, [[0.571429, 0.428571], [0.0, 1.0]])
    """
    mu, u, v = _check_single(prior, sender_utility, receiver_utility)
    n_actions, n_states = u.shape
    n = n_states * n_actions  # x flattened state-major: index w * n_actions + a
    a_eq = np.zeros((n_states, n))
    for w in range(n_states):
        a_eq[w, w * n_actions:(w + 1) * n_actions] = 1.0
    rows = []
    for a in range(n_actions):
        for b in range(n_actions):
            if a != b:
                row = np.zeros((n_states, n_actions))
                row[:, a] = -(v[a] - v[b])  # -(gain of obeying) <= 0
                rows.append(row.ravel())
    a_ub = np.array(rows) if rows else None
    b_ub = np.zeros(len(rows)) if rows else None
    res = solve_lp(u.T.ravel(), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=mu, bounds=(0, None),
                   maximize=True)
    x = np.clip(res.x.reshape(n_states, n_actions), 0.0, None)
    scheme = np.where(mu[:, None] > 0, x / np.where(mu > 0, mu, 1.0)[:, None], 1.0 / n_actions)
    for arr in (x, scheme):
        arr.setflags(write=False)
    return SingleSenderResult(
        value=float(res.objective),
        scheme=scheme,
        joint=x,
        receiver_value=float((x * v.T).sum()),
        status=res.status,
        iterations=res.iterations,
    )


def _favoured(u: np.ndarray, v: np.ndarray, belief: np.ndarray, tol: float) -> np.ndarray:
    """Senders' utilities at ``belief`` (..., n_states), receiver ties to the senders' sum."""
    rv = belief @ v.T  # (..., n_actions)
    su = np.einsum("...w,iaw->...ia", belief, u)
    scale = max(1.0, float(np.abs(v).max()))
    tied = rv >= rv.max(-1, keepdims=True) - tol * scale
    a = np.argmax(np.where(tied, su.sum(-2), -np.inf), axis=-1)
    return np.take_along_axis(su, a[..., None, None].repeat(su.shape[-2], -2), -1)[..., 0]


def no_information_utilities(game: PersuasionGame, tol: float = 1e-9) -> np.ndarray:
    """``(n_senders,)``: the senders' utilities when the receiver acts on the prior alone."""
    return _favoured(game.sender_utility, game.receiver_utility, game.prior, tol)


def full_revelation_utilities(game: PersuasionGame, tol: float = 1e-9) -> np.ndarray:
    """``(n_senders,)``: the senders' utilities when the receiver learns the state.

    ``sum_w mu(w) u_i(a*(w), w)``, ties at each state broken as in
    :func:`~econcs.persuasion.sender_utilities` with ``tie_break="senders"``. It is the utility
    of :func:`full_revelation_profile` (or of any profile in which one sender reveals the state).
    """
    per_state = _favoured(game.sender_utility, game.receiver_utility, np.eye(game.n_states), tol)
    return game.prior @ per_state


def full_revelation_profile(game: PersuasionGame, revealer: int | None = None) -> np.ndarray:
    """A profile ``(n_senders, n_states, n_signals)`` in which the state is revealed.

    Each sender (or only ``revealer``; the others babble with signal 0) sends signal ``w`` in state
    ``w``; this needs ``n_signals >= n_states``.
    """
    if game.n_signals < game.n_states:
        raise ValueError(
            f"game.n_signals: full revelation by one sender needs n_signals >= n_states = "
            f"{game.n_states}, got {game.n_signals}; use full_revelation_utilities for the "
            "utilities, or game.with_signals(n_states)."
        )
    reveal = np.zeros((game.n_states, game.n_signals))
    reveal[np.arange(game.n_states), np.arange(game.n_states)] = 1.0
    profile = np.repeat(reveal[None], game.n_senders, axis=0)
    if revealer is not None:
        check_int(revealer, "revealer", low=0, high=game.n_senders - 1)
        babble = np.zeros_like(reveal)
        babble[:, 0] = 1.0
        profile[:] = babble
        profile[revealer] = reveal
    return profile


def concavification_two_states(sender_utility: Any, receiver_utility: Any, prior: float) -> float:
    """The concave envelope of ``v_hat(p) = u(a*(p), p)`` at ``prior`` for two states, computed
    from the breakpoints of the receiver's best response (an independent check of
    :func:`optimal_scheme`; ``p`` is the probability of state 1, ties for the sender).

    >>> round(concavification_two_states([[0, 0], [1, 1]], [[1, 0], [0, 1]], 0.3), 12)
    0.6
    """
    u = check_array(sender_utility, "sender_utility", ndim=2, shape=(None, 2))
    v = check_array(receiver_utility, "receiver_utility", ndim=2, shape=u.shape)
    p0 = float(prior)
    if not 0.0 <= p0 <= 1.0:
        raise ValueError(f"prior: expected a probability in [0, 1], got {prior}.")
    cands = {0.0, 1.0, p0}
    d = v[:, None, :] - v[None, :, :]  # (a, b, state)
    den = d[..., 0] - d[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        brk = np.where(den != 0, d[..., 0] / np.where(den != 0, den, 1.0), -1.0)
    cands |= {float(x) for x in brk.ravel() if 0.0 <= x <= 1.0}
    pts = np.array(sorted(cands))
    beliefs = np.stack([1 - pts, pts], -1)
    vals = _favoured(u[None], v, beliefs, 1e-12)[:, 0]
    best = float(vals[np.searchsorted(pts, p0)]) if p0 in pts else -np.inf
    for i, p1 in enumerate(pts):
        for j, p2 in enumerate(pts):
            if p1 <= p0 <= p2 and p2 > p1:
                lam = (p2 - p0) / (p2 - p1)
                best = max(best, float(lam * vals[i] + (1 - lam) * vals[j]))
    return best
