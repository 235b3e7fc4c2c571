"""Principal-agent MDPs as arrays and as a Gymnasium environment; the paper's random tree MDPs.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning: Orchestrating
AI Agents with Contracts" (arXiv 2407.18074), Section 2. At state ``s`` the principal offers a
contract ``b(s) >= 0`` (a payment per outcome); the agent takes a hidden action ``a`` and earns
``r(s, a)``; an outcome ``o ~ O(s, a)`` is observed by both; the principal earns
``rp(s, o) - b(o)``, the agent ``r(s, a) + b(o)``, and the next state is drawn from ``T(s, o)``.
Rows of ``T`` sum to 1, or to 0 where the episode ends after that outcome (so finite-horizon and
tree MDPs need no extra absorbing state).

:func:`make_tree_mdp` builds the paper's benchmark (Section 5 / Appendix): a complete binary tree,
two actions, two outcomes, ``P(o1 | a1) = 0.9``, ``P(o1 | a0) = 0.1``, ``o0`` leads to the left
child and ``o1`` to the right one; the agent's cost of ``a1`` is ``u ~ U[0, 1 - v]`` with
``v ~ U[0, 1]``, the principal's reward for ``o1`` is ``u ~ U[0, 2 - v]`` with ``v ~ U[0, 2]``;
``gamma = 1``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from econcs.shared.device import make_rng
from econcs.shared.validation import (
    check_array,
    check_float,
    check_int,
    check_probabilities,
)

__all__ = ["PrincipalAgentEnv", "PrincipalAgentMDP", "make_tree_mdp"]


@dataclasses.dataclass(frozen=True)
class PrincipalAgentMDP:
    """A principal-agent MDP given by arrays.

    Parameters
    ----------
    outcome_probs
        (n_states, n_actions, n_outcomes) ``O(s, a)``: rows are distributions.
    agent_rewards
        (n_states, n_actions) ``r(s, a)``, the agent's reward (minus its cost).
    principal_rewards
        (n_states, n_outcomes) ``rp(s, o)``.
    transitions
        (n_states, n_outcomes, n_states) ``T(s, o)``: each row sums to 1, or to 0 where
        the episode ends.
    initial_state
        the start state ``s0``.
    gamma
        discount in ``[0, 1]``; ``gamma = 1`` needs an MDP whose episodes end (e.g. a tree).
    """

    outcome_probs: np.ndarray
    agent_rewards: np.ndarray
    principal_rewards: np.ndarray
    transitions: np.ndarray
    initial_state: int = 0
    gamma: float = 1.0

    def __post_init__(self) -> None:
        probs = check_probabilities(self.outcome_probs, "outcome_probs", ndim=3)
        n_states, n_actions, n_outcomes = probs.shape
        rew = check_array(self.agent_rewards, "agent_rewards", shape=(n_states, n_actions))
        prew = check_array(
            self.principal_rewards, "principal_rewards", shape=(n_states, n_outcomes)
        )
        trans = check_array(self.transitions, "transitions", shape=(n_states, n_outcomes, n_states))
        if np.any(trans < -1e-9) or np.any(trans > 1 + 1e-9):
            raise ValueError(
                "transitions: expected probabilities in [0, 1], got values in "
                f"[{trans.min():.6g}, {trans.max():.6g}]."
            )
        sums = trans.sum(-1)
        bad = ~(np.isclose(sums, 1.0, atol=1e-6) | np.isclose(sums, 0.0, atol=1e-6))
        if bad.any():
            s, o = np.argwhere(bad)[0]
            raise ValueError(
                f"transitions: each row T[s, o] must sum to 1 (or to 0 where the episode ends), "
                f"got T[{s}, {o}] summing to {sums[s, o]:.6g}; normalise the rows."
            )
        s0 = check_int(self.initial_state, "initial_state", low=0, high=n_states - 1)
        gamma = check_float(self.gamma, "gamma", low=0.0, high=1.0)
        for name, value in [
            ("outcome_probs", probs), ("agent_rewards", rew), ("principal_rewards", prew),
            ("transitions", trans), ("initial_state", s0), ("gamma", gamma),
        ]:
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        return int(self.outcome_probs.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.outcome_probs.shape[1])

    @property
    def n_outcomes(self) -> int:
        return int(self.outcome_probs.shape[2])

    def topological_order(self) -> np.ndarray | None:
        """States in an order where every successor comes later; None if the MDP has a cycle."""
        adj = self.transitions.sum(1) > 0  # (S, S)
        indeg = adj.sum(0).astype(np.int64)
        order, frontier = [], list(np.flatnonzero(indeg == 0))
        while frontier:
            s = frontier.pop()
            order.append(s)
            for t in np.flatnonzero(adj[s]):
                indeg[t] -= 1
                if indeg[t] == 0:
                    frontier.append(t)
        return np.asarray(order, dtype=np.int64) if len(order) == self.n_states else None

    def to_env(self, max_steps: int | None = None) -> PrincipalAgentEnv:
        """This MDP as a Gymnasium environment (see :class:`PrincipalAgentEnv`)."""
        return PrincipalAgentEnv(self, max_steps=max_steps)


def make_tree_mdp(
    depth: int = 10,
    seed: int | np.random.Generator | None = 0,
    *,
    p_high: float = 0.9,
    p_low: float = 0.1,
    rng: np.random.Generator | None = None,
) -> PrincipalAgentMDP:
    """The paper's random binary-tree MDP with ``2**depth - 1`` states (heap order).

    State ``s`` has children ``2s + 1`` (after outcome 0) and ``2s + 2`` (after outcome 1); the
    episode ends after the leaves act.

    Parameters
    ----------
    depth
        number of levels, 1 to 11 (the paper uses 10: 1023 states).
    seed, rng
        the rewards are drawn from ``rng`` when given, else from ``default_rng(seed)`` (``seed``
        may also be a ``numpy.random.Generator``).
    p_high, p_low
        ``P(o1 | a1)`` and ``P(o1 | a0)``.

    Examples
    --------
    >>> mdp = make_tree_mdp(depth=3, seed=0)
    >>> mdp.n_states, mdp.n_actions, mdp.n_outcomes
    (7, 2, 2)
    """
    depth = check_int(depth, "depth", low=1, high=11)
    p_high = check_float(p_high, "p_high", low=0.0, high=1.0)
    p_low = check_float(p_low, "p_low", low=0.0, high=1.0)
    if rng is None:
        rng = make_rng(seed)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}.")
    n = 2**depth - 1
    probs = np.empty((n, 2, 2))
    probs[:, 0] = [1 - p_low, p_low]
    probs[:, 1] = [1 - p_high, p_high]
    v = rng.uniform(0.0, 1.0, n)
    cost = rng.uniform(0.0, 1.0, n) * (1.0 - v)
    agent_rewards = np.stack([np.zeros(n), -cost], axis=1)
    v = rng.uniform(0.0, 2.0, n)
    gain = rng.uniform(0.0, 1.0, n) * (2.0 - v)
    principal_rewards = np.stack([np.zeros(n), gain], axis=1)
    trans = np.zeros((n, 2, n))
    inner = np.arange(2 ** (depth - 1) - 1)
    trans[inner, 0, 2 * inner + 1] = 1.0
    trans[inner, 1, 2 * inner + 2] = 1.0
    return PrincipalAgentMDP(probs, agent_rewards, principal_rewards, trans, 0, 1.0)


class PrincipalAgentEnv(gym.Env):
    """Gymnasium view of a :class:`PrincipalAgentMDP` (one step = one contract and one action).

    The action is a dict ``{"contract": (n_outcomes,) payments >= 0, "action": agent action}``;
    the observation is the state index; the reward is the principal's ``rp(s, o) - b(o)`` and
    ``info`` holds ``agent_reward`` (``r(s, a) + b(o)``), ``outcome`` and ``payment``. The episode
    terminates when ``T(s, o)`` sums to 0 and is truncated after ``max_steps``. ``max_payment``
    only bounds the advertised action space (payments above it are still accepted).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium convention)

    def __init__(
        self, mdp: PrincipalAgentMDP, max_steps: int | None = None, max_payment: float = 1e6
    ) -> None:
        if not isinstance(mdp, PrincipalAgentMDP):
            raise TypeError(f"mdp: expected a PrincipalAgentMDP, got {type(mdp).__name__}.")
        self.mdp = mdp
        self.max_steps = None if max_steps is None else check_int(max_steps, "max_steps", low=1)
        max_payment = check_float(max_payment, "max_payment", low=0.0, low_inclusive=False)
        self.observation_space = gym.spaces.Discrete(mdp.n_states)
        self.action_space = gym.spaces.Dict({
            "contract": gym.spaces.Box(0.0, max_payment, (mdp.n_outcomes,), dtype=np.float64),
            "action": gym.spaces.Discrete(mdp.n_actions),
        })
        self._state = mdp.initial_state
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = self.mdp.initial_state
        self._steps = 0
        return self._state, {}

    def step(self, action):
        if not isinstance(action, dict) or set(action) != {"contract", "action"}:
            raise TypeError("action: expected a dict with keys 'contract' and 'action'.")
        mdp = self.mdp
        pay = check_array(action["contract"], "contract", shape=(mdp.n_outcomes,))
        if np.any(pay < 0):
            raise ValueError(
                f"contract: payments must be >= 0 (limited liability), got minimum {pay.min():.6g}."
            )
        a = check_int(action["action"], "action", low=0, high=mdp.n_actions - 1)
        s = self._state
        o = int(self.np_random.choice(mdp.n_outcomes, p=mdp.outcome_probs[s, a]))
        principal_reward = float(mdp.principal_rewards[s, o] - pay[o])
        agent_reward = float(mdp.agent_rewards[s, a] + pay[o])
        row = mdp.transitions[s, o]
        terminated = bool(row.sum() < 0.5)
        if not terminated:
            self._state = int(self.np_random.choice(mdp.n_states, p=row / row.sum()))
        self._steps += 1
        truncated = bool(self.max_steps is not None and self._steps >= self.max_steps)
        info = {"agent_reward": agent_reward, "outcome": o, "payment": float(pay[o])}
        return self._state, principal_reward, terminated, truncated and not terminated, info
