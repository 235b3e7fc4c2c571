"""A PettingZoo ``ParallelEnv`` over a static economy (the tax economy, the common-pool resource).

The environment a principal's ``phi`` induces (Zhang et al., ICML 2024, Def. 3.1: ``P(phi)`` is a
Markov game): ``max_steps`` periods of the one-step economy, every agent choosing its action (labour,
investment) at once. Period ``k`` pays each agent the economy's reward plus the rebate of period
``k - 1``'s revenue (0 in the first period, or ``options["rebate"]`` at reset: a round of Social
Environment Design starts from the last state). The agents observe ``phi`` and their own type
(skill, endowment). The batched core is the economy's ``step``; this class is its single-game
PettingZoo face, as :class:`~econcs.contracts.CoinGameEnv` is the Coin Game's.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import torch
from pettingzoo import ParallelEnv

from econcs.shared.validation import check_float, check_int

__all__ = ["EconomyEnv"]


class EconomyEnv(ParallelEnv):
    """PettingZoo parallel environment of a static economy under environment parameters ``phi``.

    Parameters
    ----------
    economy
        a :class:`~econcs.contracts.social.TaxEconomy` or
        :class:`~econcs.contracts.social.CommonPoolResource` (anything with ``n_agents``,
        ``n_params``, ``action_high``, ``agent_types`` and ``step``).
    phi
        (n_params,) the principal's parameters (tax rates); ``reset(options={"phi": ...})``
        changes them.
    max_steps
        periods per episode.

    Examples
    --------
    >>> from econcs.contracts.social import TaxEconomy
    >>> env = EconomyEnv(TaxEconomy([1.0, 2.0]), phi=[0.5], max_steps=2)
    >>> obs, _ = env.reset(seed=0)
    >>> obs["agent_1"].tolist()  # phi, then the agent's skill
    [0.5, 2.0]
    """

    metadata = {"name": "sed_economy_v0", "render_modes": []}  # noqa: RUF012

    def __init__(self, economy, phi, max_steps: int = 10) -> None:
        self.economy = economy
        self.max_steps = check_int(max_steps, "max_steps", low=1)
        self.possible_agents = [f"agent_{i}" for i in range(economy.n_agents)]
        self.agents: list[str] = []
        self._phi = self._check_phi(phi)
        self._rebate = 0.0
        self._t = 0

    def _check_phi(self, phi) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(phi, dtype=np.float64))
        self.economy.step(torch.zeros(self.economy.n_agents, dtype=torch.float64), t)  # checks
        return t

    @functools.cache  # noqa: B019 (PettingZoo's documented pattern)
    def observation_space(self, agent: str) -> gym.spaces.Box:
        return gym.spaces.Box(0.0, np.inf, (self.economy.n_params + 1,), dtype=np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> gym.spaces.Box:
        high = float(self.economy.action_high[self.possible_agents.index(agent)])
        return gym.spaces.Box(0.0, high, (1,), dtype=np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        phi = self._phi.numpy().astype(np.float32)
        types = self.economy.agent_types.numpy().astype(np.float32)
        return {a: np.append(phi, types[i]) for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            check_int(seed, "seed", low=0)  # the economy is deterministic; accepted for the API
        options = options or {}
        if "phi" in options:
            self._phi = self._check_phi(options["phi"])
        self._rebate = check_float(options.get("rebate", 0.0), "options['rebate']")
        self._t = 0
        self.agents = list(self.possible_agents)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, np.ndarray]):
        if not self.agents:
            raise RuntimeError("step: call reset() first (the episode is over).")
        if set(actions) != set(self.agents):
            raise ValueError(f"actions: expected one action for each of {self.agents}, got "
                             f"keys {sorted(actions)}.")
        high = self.economy.action_high.numpy()
        act = np.array([float(np.asarray(actions[a], dtype=np.float64).reshape(-1)[0])
                        for a in self.possible_agents])
        if not np.all(np.isfinite(act)) or np.any(act < 0) or np.any(act > high + 1e-6):
            raise ValueError(f"actions: expected values in [0, action_high], got {act.tolist()}.")
        reward, rebate = self.economy.step(torch.as_tensor(act), self._phi,
                                           torch.tensor(self._rebate, dtype=torch.float64))
        self._rebate = float(rebate)
        self._t += 1
        trunc = self._t >= self.max_steps
        names = self.possible_agents
        rewards = {a: float(reward[i]) for i, a in enumerate(names)}
        infos = {a: {"rebate_next": self._rebate} for a in names}
        obs = self._obs()
        terms = {a: False for a in names}
        truncs = {a: trunc for a in names}
        if trunc:
            self.agents = []
        return obs, rewards, terms, truncs, infos
