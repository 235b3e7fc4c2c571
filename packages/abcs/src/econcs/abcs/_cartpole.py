"""CartPole with the paper's discretised observation, as a one-player game.

D'Amico-Wong et al. 2024 (arXiv 2402.11835, sec. 5): Gymnasium's CartPole dynamics (Euler step, tau
0.02), observation discretised into 10 bins per feature on +-2.4, +-3.0, +-0.5, +-2.0, termination
probability 1/200 per step (so that the discretised problem stays Markovian) and at most 500 steps.
The physics is written once for a single state and for a batch (the batched evaluator simulates all
evaluation episodes at once).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from econcs.abcs._tree_env import PolicyFn
from econcs.shared import check_float, check_int

__all__ = ["CartPoleEnv"]

_RANGES = (2.4, 3.0, 0.5, 2.0)
_N_BINS = 10
_EDGES = [np.linspace(-r, r, _N_BINS + 1)[1:-1].tolist() for r in _RANGES]


_THETA_LIMIT = 12 * 2 * math.pi / 360


def _cartpole_physics(x, x_dot, th, th_dot, force, cos, sin):
    """Gymnasium's CartPole Euler step (tau 0.02) on floats or arrays alike; ``cos``/``sin``
    of ``th`` are given by the caller (``math`` for one state, ``numpy`` for a batch)."""
    temp = (force + 0.05 * th_dot * th_dot * sin) / 1.1
    th_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos * cos / 1.1))
    x_acc = temp - 0.05 * th_acc * cos / 1.1
    return x + 0.02 * x_dot, x_dot + 0.02 * x_acc, th + 0.02 * th_dot, th_dot + 0.02 * th_acc


def _cartpole_step(s: tuple[float, float, float, float], action: int):
    """Gymnasium's CartPole dynamics for one state; returns (state, terminated)."""
    th = s[2]
    ns = _cartpole_physics(*s, 10.0 if action == 1 else -10.0, math.cos(th), math.sin(th))
    term = not (-2.4 <= ns[0] <= 2.4 and -_THETA_LIMIT <= ns[2] <= _THETA_LIMIT)
    return ns, term


def _cartpole_step_batch(s: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_cartpole_step` for a batch: ``s`` (E, 4), ``action`` (E,) in {0, 1} ->
    next states (E, 4) and terminated (E,) bool."""
    th = s[:, 2]
    ns = np.stack(_cartpole_physics(*s.T, np.where(action == 1, 10.0, -10.0), np.cos(th),
                                    np.sin(th)), axis=1)
    term = (np.abs(ns[:, 0]) > 2.4) | (np.abs(ns[:, 2]) > _THETA_LIMIT)
    return ns, term


def _bin(value: float, edges: list[float]) -> int:
    k = 0
    while k < len(edges) and value >= edges[k]:
        k += 1
    return k


_EDGES_ARR = np.array(_EDGES)
_POWERS = _N_BINS ** np.arange(4)


def _cartpole_infosets(states: np.ndarray) -> np.ndarray:
    """(E, 4) CartPole states -> (E,) information sets (bin indices), as
    :meth:`CartPoleEnv.infoset`."""
    bins = np.stack([np.searchsorted(_EDGES_ARR[k], states[:, k], side="right")
                     for k in range(4)], axis=1)
    return bins @ _POWERS


class CartPoleEnv:
    """CartPole as a one-player game with a discretised observation (10 bins per feature).

    States are ``((x, x_dot, theta, theta_dot), steps)``; the information set is the bin index
    ``sum_k bin_k * 10**k`` (10_000 of them); reward 1 per step.

    Parameters
    ----------
    term_prob
        probability that an episode ends after any step (keeps the discretised problem
        Markovian; the paper uses 1/200).
    max_steps
        truncation.
    """

    n_players = 1
    n_infosets = _N_BINS**4
    n_actions = 2

    def __init__(self, term_prob: float = 1 / 200, max_steps: int = 500) -> None:
        self.term_prob = check_float(term_prob, "term_prob", low=0.0, high=1.0)
        self.max_steps = check_int(max_steps, "max_steps", low=1)
        self._all = np.arange(2)

    def legal(self, infoset: int) -> np.ndarray:
        return self._all

    def infoset(self, state) -> int:
        s = state[0]
        return sum(_bin(s[k], _EDGES[k]) * _N_BINS**k for k in range(4))

    def reset(self, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        return (tuple(rng.uniform(-0.05, 0.05, size=4).tolist()), 0), 0.0, False

    def step(self, state, action: int, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        s, t = state
        ns, term = _cartpole_step(s, int(action))
        if not term and rng.random() < self.term_prob:
            term = True
        return (ns, t + 1), 1.0, term, t + 1 >= self.max_steps

    def outcome_key(self, state: Any, reward: float, terminated: bool) -> Any:
        # the exact next state, as in the authors' code: the physics are stationary
        return (-1, reward) if terminated else state[0]

    def oracle_stationary(self, infoset: int, action: int) -> bool:
        return True

    def evaluate(self, policy: np.ndarray, rng: np.random.Generator, episodes: int = 100,
                 max_steps: int = 200) -> float:
        """Mean return of ``policy`` over ``episodes`` episodes of at most ``max_steps`` steps,
        without the random termination, all episodes simulated at once.

        ``policy`` is an (n_infosets, 2) table of action probabilities (rows need not be
        normalised); actions are drawn from it. The paper averages 10 episodes; the returns are
        bimodal (~200 or an early fall), so 10 episodes move the mean by +-15 between evaluations
        of one policy: 100 is the default here.
        """
        policy = np.asarray(policy, dtype=np.float64)
        if policy.shape != (self.n_infosets, self.n_actions) or not np.isfinite(policy).all():
            raise ValueError(f"policy: expected a finite ({self.n_infosets}, {self.n_actions}) "
                             f"table, got shape {policy.shape}.")
        episodes = check_int(episodes, "episodes", low=1)
        max_steps = check_int(max_steps, "max_steps", low=1)
        first = policy[:, 0] / policy.sum(axis=1)
        s = rng.uniform(-0.05, 0.05, size=(episodes, 4))
        alive = np.ones(episodes, dtype=bool)
        total = 0
        for _ in range(max_steps):  # a loop over time steps, each step batched over episodes
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            total += idx.size
            act = (rng.random(idx.size) >= first[_cartpole_infosets(s[idx])]).astype(np.int64)
            s[idx], term = _cartpole_step_batch(s[idx], act)
            alive[idx[term]] = False
        return total / episodes

