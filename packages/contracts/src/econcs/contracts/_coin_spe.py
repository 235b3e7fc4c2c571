"""Exact subgame-perfect equilibrium of the principal paying agents in the Coin Game.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning" (arXiv
2407.18074), Section 5: at every step the principal recommends a joint action and pays agent
``i`` the minimal amount that makes following a best response, ``max_a Qbar_i(s, a) -
Qbar_i(s, a_i)`` (ties broken in the principal's favour, so no margin), where ``Qbar_i`` is agent
``i``'s value excluding this step's payment when the other agent follows; the principal maximises
``(1/alpha) * welfare - payments``. Backward induction over the finite horizon (the time step is
part of the state) on the exact game of :mod:`econcs.contracts._coin_game` (coin respawn averaged
out) gives the principal's optimal recommendations and payments, and so the reference for the
learned principal's welfare and payment share. With ``alpha -> 0`` the welfare tends to the
planner's optimum (:func:`coin_game_optimal_welfare`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from econcs.contracts._coin_game import OTHER_REWARD, OWN_REWARD, _grid_tables
from econcs.shared.validation import check_float, check_int

__all__ = ["CoinGameSPE", "coin_game_spe"]


@dataclasses.dataclass(frozen=True)
class CoinGameSPE:
    """Expected per-episode values at the SPE (start state drawn as in ``coin_game_reset``).

    Attributes
    ----------
    welfare
        sum of both agents' rewards (without payments).
    payments
        total payments to both agents.
    payment_share
        ``payments / welfare``.
    principal_utility
        ``welfare / alpha - payments``.
    """

    welfare: float
    payments: float
    payment_share: float
    principal_utility: float


def _pick(x: np.ndarray, best: np.ndarray) -> np.ndarray:
    """(4, 4, *state) joint-action table -> (*state) at the joint action ``best`` (1, *state)."""
    return np.take_along_axis(x.reshape(16, *x.shape[2:]), best, 0)[0]


def coin_game_spe(size: int = 3, max_steps: int = 20, alpha: float = 0.1) -> CoinGameSPE:
    """The principal's optimal recommendations and minimal payments by backward induction.

    Parameters
    ----------
    size, max_steps
        the game (3/20 or 7/50 in the paper).
    alpha
        the principal maximises ``(1/alpha) * welfare - payments``.

    Examples
    --------
    >>> spe = coin_game_spe(3, 1)  # one step: the planner's optimum 0.6, paid for where needed
    >>> round(spe.welfare, 6), spe.payments >= 0
    (0.6, True)
    """
    size = check_int(size, "size", low=2)
    max_steps = check_int(max_steps, "max_steps", low=1)
    alpha = check_float(alpha, "alpha", low=0.0, low_inclusive=False)
    n, nxt, cells, free, n_free = _grid_tables(size)

    def respawn_mean(v):  # (p1, p2, c, col) -> (p1, p2)
        return (v.sum(-1) * free).sum(-1) / (2.0 * n_free)

    p1 = cells[:, None, None, None]
    p2 = cells[None, :, None, None]
    c = cells[None, None, :, None]
    col = np.arange(2)[None, None, None, :]
    shape = (n, n, n, 2)
    # per-agent steps: where each agent lands and whether it is on the coin, for each action
    land = [np.stack([np.broadcast_to(nxt[a][p], shape) for a in range(4)]) for p in (p1, p2)]
    on = [land_i == c for land_i in land]  # (4, n, n, n, 2)
    owner = [col == 0, col == 1]
    # tables at t + 1: agents' values V_i, principal's utility U, welfare W, payments P
    tables = np.zeros((5, *shape))
    for _ in range(max_steps):
        spawn = np.stack([respawn_mean(t) for t in tables])  # (5, n, n)
        reward = np.zeros((2, 4, 4, *shape))  # (agent, a1, a2, ...)
        cont = np.zeros((5, 4, 4, *shape))
        for a1 in range(4):
            for a2 in range(4):
                q1, q2 = land[0][a1], land[1][a2]
                for i, hit in enumerate((on[0][a1], on[1][a2])):
                    reward[i, a1, a2] = hit * np.where(owner[i], OWN_REWARD, OTHER_REWARD)
                picked = on[0][a1] | on[1][a2]
                cont[:, a1, a2] = np.where(picked, spawn[:, q1, q2], tables[:, q1, q2, c, col])
        qbar = reward + cont[:2]  # (2, a1, a2, ...): agent i's value of the joint action
        # agent 1 deviates over a1 given a2, agent 2 over a2 given a1
        pay = np.stack([qbar[0].max(0, keepdims=True) - qbar[0],
                        qbar[1].max(1, keepdims=True) - qbar[1]])  # (2, a1, a2, ...)
        welfare = reward.sum(0)
        paid = pay.sum(0)
        value = welfare - alpha * paid + alpha * cont[2]  # alpha * U, in welfare units
        best = value.reshape(16, *shape).argmax(0)[None]
        tables = np.stack([_pick(x, best) for x in (
            qbar[0].max(0, keepdims=True).repeat(4, 0),  # agents are paid up to their max
            qbar[1].max(1, keepdims=True).repeat(4, 1),
            value / alpha,
            welfare + cont[3],
            paid + cont[4])])
    start = np.stack([respawn_mean(t).mean() for t in tables])
    w, p = float(start[3]), float(start[4])
    return CoinGameSPE(welfare=w, payments=p, payment_share=p / w if w > 0 else 0.0,
                       principal_utility=float(start[2]))
