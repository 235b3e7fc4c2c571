"""Gymnasium toy-text MDPs (FrozenLake, CliffWalking, Taxi) with their exact model, as one-player games.

:class:`TabularMDP` holds the model (``env.unwrapped.P``) and samples it through the interface of
:class:`~econcs.abcs.TreeEnv` (``infoset == state``); it also solves it exactly: value iteration
(:func:`econcs.shared.value_iteration`, Puterman 1994, sec. 6.3) and finite-horizon policy evaluation,
the references of the learners' MDP experiments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from econcs.abcs._tree_env import PolicyFn
from econcs.shared import check_choice, check_float, check_int, value_iteration

__all__ = ["TabularMDP", "make_mdp"]


class TabularMDP:
    """A finite MDP with its exact model, as a one-player game (``infoset == state``).

    Parameters
    ----------
    probs, next_states, rewards, dones
        (n_states, n_actions, n_outcomes) transition outcomes
        (probability, next state, reward, episode ends), padded with probability 0.
    initial
        (n_states,) initial-state distribution.
    max_steps
        episodes are truncated after this many steps (the Gymnasium ``TimeLimit``).
    name
        label.
    """

    n_players = 1

    def __init__(self, probs: np.ndarray, next_states: np.ndarray, rewards: np.ndarray,
                 dones: np.ndarray, initial: np.ndarray, max_steps: int, name: str = "mdp"):
        self.probs = np.asarray(probs, dtype=np.float64)
        self.next_states = np.asarray(next_states, dtype=np.int64)
        self.rewards = np.asarray(rewards, dtype=np.float64)
        self.dones = np.asarray(dones, dtype=bool)
        self.initial = np.asarray(initial, dtype=np.float64)
        self.max_steps = check_int(max_steps, "max_steps", low=1)
        self.name = name
        if self.probs.ndim != 3 or self.probs.size == 0:
            raise ValueError(f"probs: expected a non-empty (n_states, n_actions, n_outcomes) "
                             f"array, got shape {self.probs.shape}.")
        for arr, label in ((self.next_states, "next_states"), (self.rewards, "rewards"),
                           (self.dones, "dones")):
            if arr.shape != self.probs.shape:
                raise ValueError(f"{label}: expected shape {self.probs.shape} like probs, got "
                                 f"{arr.shape}.")
        if not (np.all(np.isfinite(self.probs)) and np.all(self.probs >= 0)
                and np.allclose(self.probs.sum(axis=2), 1.0)):
            raise ValueError("probs: each (state, action) needs non-negative outcome "
                             "probabilities summing to 1.")
        if not np.all(np.isfinite(self.rewards)):
            raise ValueError("rewards: contains NaN or infinite values.")
        n_states = self.probs.shape[0]
        if np.any(self.next_states < 0) or np.any(self.next_states >= n_states):
            raise ValueError(f"next_states: expected states in [0, {n_states}).")
        if self.initial.shape != (n_states,) or not np.isclose(self.initial.sum(), 1.0):
            raise ValueError(f"initial: expected a ({n_states},) distribution.")
        self.n_infosets, self.n_actions, _ = self.probs.shape
        self._all = np.arange(self.n_actions)
        self._cdf = np.cumsum(self.probs, axis=2).tolist()
        self._init_cdf = np.cumsum(self.initial)

    def legal(self, infoset: int) -> np.ndarray:
        return self._all

    def infoset(self, state: tuple[int, int]) -> int:
        return state[0]

    def reset(self, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        s = int(np.searchsorted(self._init_cdf, rng.random() * self._init_cdf[-1], side="right"))
        return (min(s, self.n_infosets - 1), 0), 0.0, False

    def step(self, state: tuple[int, int], action: int, p: int, policy_fn: PolicyFn,
             rng: np.random.Generator):
        s, t = state
        cdf = self._cdf[s][action]
        u = rng.random() * cdf[-1]
        k = 0
        while cdf[k] <= u:
            k += 1
        ns = int(self.next_states[s, action, k])
        term = bool(self.dones[s, action, k])
        return (ns, t + 1), float(self.rewards[s, action, k]), term, t + 1 >= self.max_steps

    def outcome_key(self, state: Any, reward: float, terminated: bool) -> Any:
        return (-1, reward) if terminated else state[0]

    def oracle_stationary(self, infoset: int, action: int) -> bool:
        return True

    # exact solutions ------------------------------------------------------------------------
    def _backup(self, v: np.ndarray, gamma: float) -> np.ndarray:
        cont = np.where(self.dones, 0.0, v[self.next_states])
        return (self.probs * (self.rewards + gamma * cont)).sum(axis=2)  # (S, A)

    def value_iteration(self, gamma: float = 1.0, tol: float = 1e-12,
                        max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
        """Optimal state values and a greedy optimal policy (infinite horizon).

        Both Bellman iterations (the optimal values, then the expected steps to the end of the
        episode among optimal actions) run through :func:`econcs.shared.value_iteration`, which
        warns (``ConvergenceWarning``) when ``max_iter`` sweeps (10_000 for the steps) do not reach
        the tolerance (``tol``, times ``1 - gamma`` when ``gamma < 1``; 1e-9 for the steps).

        Returns
        -------
        values
            (n_states,)
        policy
            (n_states, n_actions) deterministic greedy policy.
        """
        gamma = check_float(gamma, "gamma", low=0.0, high=1.0)
        v = value_iteration(lambda v: self._backup(v, gamma).max(axis=1), np.zeros(self.n_infosets),
                            gamma=gamma, tol=tol, max_iter=max_iter,
                            name=f"{self.name} optimal values").values
        q = self._backup(v, gamma)
        # among optimal actions, pick those that end the episode soonest (with gamma = 1 a greedy
        # policy may otherwise loop forever, e.g. walking into a wall of a deterministic lake)
        optimal = q >= q.max(axis=1, keepdims=True) - 1e-9
        last: dict[str, np.ndarray] = {}

        def steps_backup(steps: np.ndarray) -> np.ndarray:
            cont = np.where(self.dones, 0.0, steps[self.next_states])
            last["tq"] = np.where(optimal, (self.probs * (1.0 + cont)).sum(axis=2), np.inf)
            return last["tq"].min(axis=1)

        value_iteration(steps_backup, np.zeros(self.n_infosets), tol=1e-9, max_iter=10_000,
                        name=f"{self.name} steps to the end under optimal actions")
        pol = np.zeros_like(q)
        pol[np.arange(q.shape[0]), last["tq"].argmin(axis=1)] = 1.0
        return v, pol

    def policy_return(self, policy: np.ndarray, horizon: int | None = None) -> float:
        """Exact expected return of a stationary ``policy`` (n_states, n_actions) over ``horizon``
        steps (default ``max_steps``) from the initial distribution (undiscounted)."""
        horizon = self.max_steps if horizon is None else check_int(horizon, "horizon", low=1)
        policy = np.asarray(policy, dtype=np.float64)
        if policy.shape != (self.n_infosets, self.n_actions):
            raise ValueError(f"policy: expected shape ({self.n_infosets}, {self.n_actions}), got "
                             f"{policy.shape}.")
        v = np.zeros(self.n_infosets)
        for _ in range(horizon):
            v = (policy * self._backup(v, 1.0)).sum(axis=1)
        return float(self.initial @ v)

    def optimal_return(self, horizon: int | None = None) -> float:
        """Return over ``horizon`` of the greedy policy of (infinite-horizon) value iteration."""
        return self.policy_return(self.value_iteration()[1], horizon)


_MDPS = {"FrozenLake": ("FrozenLake-v1", 100), "CliffWalking": ("CliffWalking-v1", 200),
         "Taxi": ("Taxi-v4", 200)}


def make_mdp(name: str, max_steps: int | None = None, **kwargs: Any) -> TabularMDP:
    """A Gymnasium toy-text MDP with its exact model (``env.unwrapped.P``).

    Parameters
    ----------
    name
        ``"FrozenLake"``, ``"CliffWalking"`` or ``"Taxi"``.
    max_steps
        truncation (default: FrozenLake 100 as in Gymnasium, CliffWalking 200, Taxi 200).
    **kwargs
        passed to ``gymnasium.make`` (e.g. ``is_slippery=False``, ``map_name="8x8"``).

    Examples
    --------
    >>> mdp = make_mdp("CliffWalking")
    >>> mdp.optimal_return()
    -13.0
    """
    import gymnasium as gym

    check_choice(name, "name", tuple(_MDPS))
    env_id, default_steps = _MDPS[name]
    env = gym.make(env_id, **kwargs)
    u = env.unwrapped
    S, A = u.observation_space.n, u.action_space.n
    K = max(len(u.P[s][a]) for s in range(S) for a in range(A))
    probs = np.zeros((S, A, K))
    nxt = np.zeros((S, A, K), dtype=np.int64)
    rew = np.zeros((S, A, K))
    done = np.zeros((S, A, K), dtype=bool)
    for s in range(S):
        for a in range(A):
            for k, (pr, ns, r, d) in enumerate(u.P[s][a]):
                probs[s, a, k], nxt[s, a, k], rew[s, a, k], done[s, a, k] = pr, ns, r, d
    init = np.asarray(u.initial_state_distrib, dtype=np.float64)
    env.close()
    steps = default_steps if max_steps is None else max_steps
    return TabularMDP(probs, nxt, rew, done, init, steps, name=name)

