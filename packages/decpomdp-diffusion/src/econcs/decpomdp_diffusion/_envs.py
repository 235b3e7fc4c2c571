"""The Dec-POMDPs of the paper's experiments, and their PettingZoo ``ParallelEnv`` (Wang et al. 2025,
Sec. 6: sensor networks; a small grid world stands in for SMACv2, which needs StarCraft II).

- :func:`sensor_network`: a target walks on a ``width x height`` grid; sensor ``i`` watches a block
  of ``cells_per_sensor`` columns and reports the target's cell there, or "not here". With every
  column watched and no missed detections the network is collectively observable (CO); ``gap``
  unwatched columns or a ``miss`` probability make it non-CO. Actions have no effect (one action).
- :func:`grid_world`: agents move on a ``size x size`` grid (stay, up, down, left, right; a move
  fails with probability ``slip``); the state is every agent's cell. ``observe="cell"``: each sees
  its own cell (CO); ``observe="row"``: only its own row (non-CO).

:func:`make_env` builds one by name; :class:`DecPOMDPEnv` runs any :class:`TabularDecPOMDP` as a
PettingZoo ``ParallelEnv`` (discrete observations and actions, zero rewards, truncation at
``horizon``, the global state's features from ``state()``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from econcs.decpomdp_diffusion._dec_pomdp import TabularDecPOMDP
from econcs.shared import check_choice, check_float, check_int, make_rng

__all__ = ["ENVIRONMENTS", "DecPOMDPEnv", "grid_world", "make_env", "sensor_network"]

_MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]])  # stay, up, down, left, right


def _scale(coord: np.ndarray, n: int) -> np.ndarray:
    """Cell index 0..n-1 to [-1, 1] (0 when n == 1)."""
    return np.zeros_like(coord, dtype=float) if n == 1 else 2.0 * coord / (n - 1) - 1.0


def _walk(width: int, height: int, move: float) -> np.ndarray:
    """(S, S) random walk on the grid: stay w.p. 1 - move, else one of 4 neighbours (walls: stay)."""
    n = width * height
    x, y = np.arange(n) % width, np.arange(n) // width
    trans = np.zeros((n, n))
    trans[np.arange(n), np.arange(n)] += 1.0 - move
    for dx, dy in _MOVES[1:]:
        nx, ny = np.clip(x + dx, 0, width - 1), np.clip(y + dy, 0, height - 1)
        np.add.at(trans, (np.arange(n), ny * width + nx), move / 4)
    return trans


def sensor_network(n_agents: int = 2, *, cells_per_sensor: int = 2, height: int = 2, gap: int = 0,
                   miss: float = 0.0, move: float = 0.6) -> TabularDecPOMDP:
    """A target tracked by ``n_agents`` sensors, each watching ``cells_per_sensor`` columns.

    States are the target's cells (``width = n_agents * cells_per_sensor + gap`` columns), features
    its (x, y) scaled to [-1, 1]. Sensor ``i`` sees the target's cell within its block
    (``cells_per_sensor * height`` values) or "not here" (the last observation), and misses a
    target in its block with probability ``miss``.

    >>> sensor_network(2).one_step_co, sensor_network(2, gap=1).one_step_co
    (True, False)
    """
    n_agents = check_int(n_agents, "n_agents", low=1)
    c = check_int(cells_per_sensor, "cells_per_sensor", low=1)
    height = check_int(height, "height", low=1)
    gap = check_int(gap, "gap", low=0)
    miss = check_float(miss, "miss", low=0.0, high=1.0)
    move = check_float(move, "move", low=0.0, high=1.0)
    width = n_agents * c + gap
    n = width * height
    x, y = np.arange(n) % width, np.arange(n) // width
    n_obs = c * height + 1
    obs = np.zeros((n_agents, n, n_obs))
    for i in range(n_agents):
        inside = (x >= i * c) & (x < (i + 1) * c)
        local = (y * c + (x - i * c))[inside]
        obs[i, np.flatnonzero(inside), local] = 1.0 - miss
        obs[i, np.flatnonzero(inside), n_obs - 1] += miss
        obs[i, np.flatnonzero(~inside), n_obs - 1] = 1.0
    trans = _walk(width, height, move).reshape((1,) * n_agents + (n, n))
    feats = np.stack([_scale(x, width), _scale(y, height)], axis=1)
    kind = "co" if gap == 0 and miss == 0 else "gap"
    return TabularDecPOMDP(np.full(n, 1.0 / n), trans, obs, feats,
                           name=f"sensor-{kind}-{n_agents}")


def grid_world(n_agents: int = 2, *, size: int = 3, slip: float = 0.2,
               observe: str = "cell") -> TabularDecPOMDP:
    """``n_agents`` agents on a ``size x size`` grid; the state is every agent's cell.

    Features: each agent's (x, y) scaled to [-1, 1], ``2 * n_agents`` numbers. Actions: stay, up,
    down, left, right; a move fails (the agent stays) with probability ``slip``; walls stop it.
    ``observe="cell"``: an agent sees its own cell (CO); ``"row"``: its own row only (non-CO).

    >>> env = grid_world(2, size=2)
    >>> env.n_states, env.n_actions, env.one_step_co
    (16, 5, True)
    """
    n_agents = check_int(n_agents, "n_agents", low=1)
    size = check_int(size, "size", low=1)
    slip = check_float(slip, "slip", low=0.0, high=1.0)
    check_choice(observe, "observe", ("cell", "row"))
    cells = size * size
    if cells ** (2 * n_agents) * 5 ** n_agents > 50_000_000:
        raise ValueError(f"n_agents: {n_agents} agents on a {size}x{size} grid make a transition "
                         "tensor too large for exact filtering; use fewer agents or a smaller size.")
    cx, cy = np.arange(cells) % size, np.arange(cells) // size
    one = np.zeros((5, cells, cells))  # one agent's moves
    for a, (dx, dy) in enumerate(_MOVES):
        nx, ny = np.clip(cx + dx, 0, size - 1), np.clip(cy + dy, 0, size - 1)
        one[a, np.arange(cells), ny * size + nx] += 1.0 - slip
        one[a, np.arange(cells), np.arange(cells)] += slip
    n = cells ** n_agents
    pos = np.stack(np.unravel_index(np.arange(n), (cells,) * n_agents), axis=1)  # (S, N)
    trans = np.ones((5,) * n_agents + (n, n))
    for i in range(n_agents):
        factor = one[:, pos[:, i][:, None], pos[:, i][None, :]]  # (5, S, S)
        shape = [1] * n_agents + [n, n]
        shape[i] = 5
        trans = trans * factor.reshape(shape)
    n_obs = cells if observe == "cell" else size
    obs = np.zeros((n_agents, n, n_obs))
    for i in range(n_agents):
        seen = pos[:, i] if observe == "cell" else cy[pos[:, i]]
        obs[i, np.arange(n), seen] = 1.0
    feats = np.concatenate([np.stack([_scale(cx[pos[:, i]], size), _scale(cy[pos[:, i]], size)],
                                     axis=1) for i in range(n_agents)], axis=1)
    return TabularDecPOMDP(np.full(n, 1.0 / n), trans, obs, feats,
                           name=f"grid-{observe}-{n_agents}")


#: name -> (constructor, keyword arguments); ``make_env(name, n_agents)`` builds one
ENVIRONMENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "sensor": (sensor_network, {}),
    "sensor-gap": (sensor_network, {"gap": 1}),
    "grid": (grid_world, {"observe": "cell"}),
    "grid-row": (grid_world, {"observe": "row"}),
}


def make_env(env: str, n_agents: int = 2, **kwargs: Any) -> TabularDecPOMDP:
    """The Dec-POMDP called ``env`` (a key of :data:`ENVIRONMENTS`) with ``n_agents`` agents.

    ``sensor`` and ``grid`` are CO, ``sensor-gap`` and ``grid-row`` are not. ``kwargs`` go to the
    constructor (``size=2``, ``miss=0.1``, ...).

    >>> make_env("sensor-gap", 3).n_states
    14
    """
    check_choice(env, "env", ENVIRONMENTS)
    n_agents = check_int(n_agents, "n_agents", low=1)
    build, defaults = ENVIRONMENTS[env]
    return build(n_agents, **{**defaults, **kwargs})


class DecPOMDPEnv(ParallelEnv):
    """A :class:`TabularDecPOMDP` as a PettingZoo ``ParallelEnv``.

    Agents are ``"agent_0", ...``; observations and actions are ``Discrete``; rewards are 0 (the
    task is state reconstruction); every agent is truncated after ``horizon`` steps. ``state()``
    returns the global state's features; ``infos[agent]["state"]`` is its index.

    >>> env = DecPOMDPEnv(make_env("sensor"), horizon=2)
    >>> obs, infos = env.reset(seed=0)
    >>> sorted(obs)
    ['agent_0', 'agent_1']
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "decpomdp_v0", "render_modes": []}

    def __init__(self, model: TabularDecPOMDP, horizon: int = 10):
        if not isinstance(model, TabularDecPOMDP):
            raise TypeError(f"model: expected a TabularDecPOMDP, got {type(model).__name__}.")
        self.model = model
        self.horizon = check_int(horizon, "horizon", low=1)
        self.possible_agents = [f"agent_{i}" for i in range(model.n_agents)]
        self.agents: list[str] = []
        self._obs_spaces = {a: spaces.Discrete(model.n_obs) for a in self.possible_agents}
        self._act_spaces = {a: spaces.Discrete(model.n_actions) for a in self.possible_agents}
        self.state_space = spaces.Box(-np.inf, np.inf, (model.state_dim,), dtype=np.float64)
        self._rng = make_rng(0)
        self._s = 0
        self._t = 0

    def observation_space(self, agent: str) -> spaces.Discrete:
        return self._obs_spaces[agent]  # the same object every call, as PettingZoo asks

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    def _observe(self) -> dict[str, int]:
        probs = self.model.observation[:, self._s]  # (N, n_obs)
        return {a: int(self._rng.choice(self.model.n_obs, p=probs[i]))
                for i, a in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = make_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._s = int(self._rng.choice(self.model.n_states, p=self.model.initial))
        return self._observe(), {a: {"state": self._s} for a in self.agents}

    def step(self, actions: dict[str, int]):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions: expected an action for every live agent, missing {missing}.")
        joint = tuple(int(actions[a]) for a in self.agents)
        if any(not 0 <= a < self.model.n_actions for a in joint):
            raise ValueError(f"actions: expected indices in [0, {self.model.n_actions}), got "
                             f"{joint}.")
        row = self.model.transition[joint][self._s]
        self._s = int(self._rng.choice(self.model.n_states, p=row))
        self._t += 1
        obs = self._observe()
        done = self._t >= self.horizon
        rewards = dict.fromkeys(self.agents, 0.0)
        terminated = dict.fromkeys(self.agents, False)
        truncated = dict.fromkeys(self.agents, done)
        infos = {a: {"state": self._s} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminated, truncated, infos

    def state(self) -> np.ndarray:
        return self.model.features[self._s].copy()
