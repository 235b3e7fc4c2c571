"""Finite Dec-POMDPs with exact posteriors over the global state (Wang et al. 2025, Sec. 2-3).

A :class:`TabularDecPOMDP` holds the initial distribution, the transition tensor indexed by every
agent's action, each agent's observation matrix (observations depend on the current state) and a
vector of features per state (what the diffusion models reconstruct). An episode starts in
``s_0 ~ initial``; at each step every agent sees ``o_i,t ~ O_i(. | s_t)``, acts ``a_i,t``, and the
state moves to ``s_t+1 ~ T(. | a_t, s_t)``. A history of ``horizon`` steps is
``o_0, a_0, ..., a_{H-1}, o_H``; its target is the state ``s_H``.

Policies are *reactive*: agent ``i`` draws ``a_i,t ~ pi_i(. | o_i,t)`` (an array
``(n_agents, n_obs, n_actions)``; ``None`` is uniform). Under a reactive policy the other agents'
actions depend on the state only through their current observations, so the exact posterior over
``s_t`` given one agent's history is a forward filter over the states alone, with the others'
actions marginalised (:meth:`TabularDecPOMDP.posterior`); given all agents' histories it is the
ordinary filter. These posteriors are the ground truth the diffusion models are held to.

A Dec-POMDP is *collectively observable* (CO) when the joint history pins down the state; the
sufficient check :attr:`TabularDecPOMDP.one_step_co` asks that no two states can emit the same joint
observation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from econcs.shared import check_array, check_int, check_probabilities, check_type, make_rng

__all__ = ["Histories", "TabularDecPOMDP", "uniform_policy"]

_MAX_TRANSITION_ENTRIES = 50_000_000


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``probs`` (B, K): ints (B,)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((cum < u).sum(axis=1), probs.shape[1] - 1)


def uniform_policy(n_agents: int, n_obs: int, n_actions: int) -> np.ndarray:
    """The uniform reactive policy: (n_agents, n_obs, n_actions), every row 1 / n_actions."""
    return np.full((n_agents, n_obs, n_actions), 1.0 / n_actions)


@dataclasses.dataclass(frozen=True, eq=False)
class Histories:
    """A batch of episodes: local histories of every agent and the global states.

    Attributes
    ----------
    states : (batch, horizon + 1) int
        the state index at each time; the reconstruction target is ``states[:, -1]``.
    obs : (batch, n_agents, horizon + 1) int
        each agent's observations.
    actions : (batch, n_agents, horizon) int
        each agent's actions.
    policy : (n_agents, n_obs, n_actions)
        the reactive policy the episodes were drawn from (the posteriors need it).
    env_name : str
        the name of the environment that drew them.
    """

    states: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    policy: np.ndarray
    env_name: str

    @property
    def batch_size(self) -> int:
        return int(self.states.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.states.shape[1]) - 1

    def subset(self, index) -> Histories:
        """The episodes ``index`` (a slice, an int array or a boolean mask)."""
        return dataclasses.replace(self, states=self.states[index], obs=self.obs[index],
                                   actions=self.actions[index])


class TabularDecPOMDP:
    """A finite Dec-POMDP: ``initial`` (S,), ``transition`` (A,)*N + (S, S), ``observation``
    (N, S, n_obs), ``features`` (S, state_dim).

    ``transition[a_1, ..., a_N, s, s']`` is the probability of ``s'`` after joint action ``a`` in
    ``s``; ``observation[i, s, o]`` that agent ``i`` sees ``o`` in ``s``; ``features[s]`` the real
    vector of state ``s`` (distinct rows).

    Examples
    --------
    >>> import numpy as np
    >>> env = TabularDecPOMDP(
    ...     initial=[0.5, 0.5], transition=np.eye(2)[None, None].repeat(1, 0),
    ...     observation=[np.eye(2), np.full((2, 2), 0.5)], features=[[-1.0], [1.0]])
    >>> env.n_agents, env.n_states, env.one_step_co
    (2, 2, True)
    """

    def __init__(self, initial, transition, observation, features, *, name: str = "custom"):
        self.name = check_type(name, "name", str)
        self.initial = check_probabilities(initial, "initial", ndim=1)
        n_states = self.initial.shape[0]
        obs = check_array(observation, "observation", ndim=3)
        if obs.shape[1] != n_states:
            raise ValueError(f"observation: expected shape (n_agents, {n_states}, n_obs), got "
                             f"{obs.shape}.")
        self.observation = check_probabilities(obs, "observation", axis=2)
        n_agents = obs.shape[0]
        trans = np.asarray(transition, dtype=np.float64)
        if trans.ndim != n_agents + 2 or trans.shape[-2:] != (n_states, n_states):
            raise ValueError(f"transition: expected shape (n_actions,) * {n_agents} + "
                             f"({n_states}, {n_states}), got {trans.shape}.")
        if len(set(trans.shape[:n_agents])) != 1:
            raise ValueError(f"transition: expected the same number of actions for every agent, "
                             f"got {trans.shape[:n_agents]}.")
        if trans.size > _MAX_TRANSITION_ENTRIES:
            raise ValueError(f"transition: {trans.size} entries is more than "
                             f"{_MAX_TRANSITION_ENTRIES}; use fewer agents, states or actions.")
        self.transition = check_probabilities(trans, "transition", axis=-1)
        self.features = check_array(features, "features", ndim=2, shape=(n_states, None))
        if len(np.unique(self.features, axis=0)) != n_states:
            raise ValueError("features: expected a distinct row for every state.")
        self.n_states = n_states
        self.n_agents = n_agents
        self.n_actions = int(trans.shape[0])
        self.n_obs = int(obs.shape[2])
        self.state_dim = int(self.features.shape[1])

    def __repr__(self) -> str:
        return (f"TabularDecPOMDP(name={self.name!r}, n_agents={self.n_agents}, "
                f"n_states={self.n_states}, n_actions={self.n_actions}, n_obs={self.n_obs})")

    @property
    def one_step_co(self) -> bool:
        """True when no two states can emit the same joint observation (then the joint history
        pins down every state: the Dec-POMDP is collectively observable)."""
        support = self.observation > 0
        shared = np.ones((self.n_states, self.n_states), dtype=bool)
        for i in range(self.n_agents):
            shared &= (support[i].astype(float) @ support[i].T.astype(float)) > 0
        return bool(np.array_equal(shared, np.eye(self.n_states, dtype=bool)))

    # validation -------------------------------------------------------------------------------
    def check_policy(self, policy) -> np.ndarray:
        """The reactive policy as an array (n_agents, n_obs, n_actions); ``None`` is uniform."""
        if policy is None:
            return uniform_policy(self.n_agents, self.n_obs, self.n_actions)
        return check_probabilities(policy, "policy", axis=2,
                                   shape=(self.n_agents, self.n_obs, self.n_actions))

    def check_agent(self, agent) -> int:
        return check_int(agent, "agent", low=0, high=self.n_agents - 1)

    def _check_history(self, obs, actions, agent):
        obs_a = np.asarray(obs)
        act_a = np.asarray(actions)
        want = 3 if agent is None else 2
        for arr, name in ((obs_a, "obs"), (act_a, "actions")):
            if arr.ndim != want:
                what = "(batch, n_agents, T)" if agent is None else "(batch, T)"
                raise ValueError(f"{name}: expected shape {what}, got shape {arr.shape}.")
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"{name}: expected integer indices, got dtype {arr.dtype}.")
        if agent is None and (obs_a.shape[1] != self.n_agents or act_a.shape[1] != self.n_agents):
            raise ValueError(f"obs, actions: expected {self.n_agents} agents on axis 1, got "
                             f"{obs_a.shape[1]} and {act_a.shape[1]}.")
        if obs_a.shape[0] != act_a.shape[0] or obs_a.shape[-1] != act_a.shape[-1] + 1:
            raise ValueError(f"obs, actions: expected histories of the same batch with one more "
                             f"observation than actions, got shapes {obs_a.shape} and "
                             f"{act_a.shape}.")
        if obs_a.size and (obs_a.min() < 0 or obs_a.max() >= self.n_obs):
            raise ValueError(f"obs: expected indices in [0, {self.n_obs}), got "
                             f"[{obs_a.min()}, {obs_a.max()}].")
        if act_a.size and (act_a.min() < 0 or act_a.max() >= self.n_actions):
            raise ValueError(f"actions: expected indices in [0, {self.n_actions}), got "
                             f"[{act_a.min()}, {act_a.max()}].")
        return obs_a, act_a

    # sampling ---------------------------------------------------------------------------------
    def collect(self, batch_size: int, horizon: int, *, policy=None, seed: int = 0,
                rng: np.random.Generator | None = None) -> Histories:
        """Draw ``batch_size`` episodes of ``horizon`` steps under a reactive ``policy``.

        Vectorised over the batch (the loop runs over time and agents only).
        """
        batch_size = check_int(batch_size, "batch_size", low=1)
        horizon = check_int(horizon, "horizon", low=0)
        pol = self.check_policy(policy)
        rng = make_rng(seed) if rng is None else check_type(rng, "rng", np.random.Generator)
        n = self.n_agents
        states = np.empty((batch_size, horizon + 1), dtype=np.int64)
        obs = np.empty((batch_size, n, horizon + 1), dtype=np.int64)
        actions = np.empty((batch_size, n, horizon), dtype=np.int64)
        states[:, 0] = _categorical(np.broadcast_to(self.initial, (batch_size, self.n_states)), rng)
        for t in range(horizon + 1):
            for i in range(n):
                obs[:, i, t] = _categorical(self.observation[i, states[:, t]], rng)
            if t == horizon:
                break
            for i in range(n):
                actions[:, i, t] = _categorical(pol[i, obs[:, i, t]], rng)
            rows = self.transition[tuple(actions[:, :, t].T)][np.arange(batch_size), states[:, t]]
            states[:, t + 1] = _categorical(rows, rng)
        return Histories(states, obs, actions, pol, self.name)

    # exact posteriors -------------------------------------------------------------------------
    def _agent_transition(self, agent: int, pol: np.ndarray) -> np.ndarray:
        """(n_actions, S, S): agent ``agent``'s action fixed, the others' marginalised given s."""
        trans = self.transition
        names = "abcdefghijklmnop"
        left = names[: self.n_agents]  # the axes of trans still to contract, one letter per agent
        for j in range(self.n_agents):
            if j == agent:
                continue
            p_act = self.observation[j] @ pol[j]  # (S, n_actions): P(a_j | s)
            rest = left.replace(names[j], "")
            trans = np.einsum(f"{left}st,s{names[j]}->{rest}st", trans, p_act)
            left = rest
        return trans.reshape(self.n_actions, self.n_states, self.n_states)

    def posterior(self, obs, actions, *, agent: int | None = None, policy=None) -> np.ndarray:
        """Exact posterior over the last state given histories, by forward filtering.

        Parameters
        ----------
        obs, actions
            all agents' histories, ``(batch, n_agents, T + 1)`` and ``(batch, n_agents, T)``
            (``agent=None``), or one agent's, ``(batch, T + 1)`` and ``(batch, T)``.
        agent
            whose history conditions (the others' actions are marginalised under ``policy``);
            ``None`` conditions on the joint history.
        policy
            the reactive policy the histories came from (``None``: uniform). The joint posterior
            does not depend on it.

        Returns
        -------
        (batch, n_states) array of probabilities.
        """
        if agent is not None:
            agent = self.check_agent(agent)
        pol = self.check_policy(policy)
        obs_a, act_a = self._check_history(obs, actions, agent)
        if agent is None:
            like = np.prod([self.observation[i][:, obs_a[:, i, :]] for i in range(self.n_agents)],
                           axis=0)  # (S, B, T + 1)
            flat = self.transition.reshape(-1, self.n_states, self.n_states)
            joint = np.ravel_multi_index(tuple(act_a.transpose(1, 0, 2)),
                                         (self.n_actions,) * self.n_agents)  # (B, T)
        else:
            like = self.observation[agent][:, obs_a]  # (S, B, T + 1)
            flat = self._agent_transition(agent, pol)
            joint = act_a
        belief = self.initial[None, :] * like[:, :, 0].T
        belief = self._normalise(belief, 0)
        for t in range(obs_a.shape[-1] - 1):
            belief = np.einsum("bs,bst->bt", belief, flat[joint[:, t]]) * like[:, :, t + 1].T
            belief = self._normalise(belief, t + 1)
        return belief

    @staticmethod
    def _normalise(belief: np.ndarray, t: int) -> np.ndarray:
        total = belief.sum(axis=1, keepdims=True)
        if np.any(total <= 0):
            bad = int(np.flatnonzero(total[:, 0] <= 0)[0])
            raise ValueError(f"obs, actions: history {bad} is impossible under the model "
                             f"(probability 0 at time {t}).")
        return belief / total

    def nearest_state(self, x) -> np.ndarray:
        """The index of the state whose features are nearest to each row of ``x`` (B, state_dim)."""
        x = check_array(x, "x", ndim=2, shape=(None, self.state_dim))
        d = ((x[:, None, :] - self.features[None]) ** 2).sum(-1)
        return d.argmin(axis=1)
