"""The Coin Game, a sequential social dilemma, as a batched simulator and a PettingZoo parallel env.

Lerer and Peysakhovich, "Maintaining cooperation in complex social dilemmas using deep RL" (2017),
in the variant of Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement
Learning" (arXiv 2407.18074), Section 5: two agents (red, blue) move on a ``size x size`` torus
(up, down, left, right); one coin, red or blue, lies on a free cell. Stepping on a coin of one's
own colour pays 1, on the other's 0.2, and the coin's owner loses nothing (when both agents reach
the coin at once, both collect, as in the LOLA implementation of the game); a new coin of a random
colour then appears on a random cell free of agents. Welfare is highest when each agent leaves the
other's coins alone, but a selfish agent takes every coin. Episodes last ``max_steps`` steps
(3x3 with 20 steps, 7x7 with 50 in the paper).

Observations are egocentric ``(4, size, size)`` grids: own position, the other's position, coins of
one's own colour, coins of the other's colour.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import torch
from pettingzoo import ParallelEnv

from econcs.shared.validation import check_bool, check_int

__all__ = [
    "CoinGameEnv",
    "CoinGameState",
    "coin_game_observe",
    "coin_game_optimal_welfare",
    "coin_game_reset",
    "coin_game_step",
]

_MOVES = torch.tensor([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right
OWN_REWARD = 1.0
OTHER_REWARD = 0.2


class CoinGameState:
    """A batch of Coin Game states (tensors on one device).

    Attributes
    ----------
    pos
        (batch, 2, 2) long, agent positions (row, col).
    coin
        (batch, 2) long, coin position.
    color
        (batch,) long, the coin's owner (0 red, 1 blue).
    t
        (batch,) long, steps taken.
    """

    def __init__(self, pos, coin, color, t, size, max_steps):
        self.pos, self.coin, self.color, self.t = pos, coin, color, t
        self.size, self.max_steps = size, max_steps

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"pos": self.pos, "coin": self.coin, "color": self.color, "t": self.t}


def _spawn(pos, size, generator, noise=None):
    """Random cells not occupied by an agent, and random colours: (batch, 2), (batch,).

    ``noise`` (batch, 2) uniforms in [0, 1), if given, replace the generator: the coin goes to
    the ``floor(noise[:, 0] * n_free)``-th free cell (row-major) and is red iff ``noise[:, 1] <
    0.5``; the same noise gives the same coin wherever the agents stand (common random numbers).
    """
    b = pos.shape[0]
    dev = pos.device
    cells = torch.arange(size * size, device=dev)
    occupied = (pos[..., 0] * size + pos[..., 1])  # (B, 2)
    free = (cells[None, :, None] != occupied[:, None, :]).all(-1)  # (B, cells)
    if noise is None:
        idx = torch.multinomial(free.float(), 1, generator=generator).squeeze(1)
        color = torch.randint(0, 2, (b,), generator=generator, device=dev)
    else:
        n_free = free.sum(-1)
        k = torch.minimum((noise[:, 0] * n_free).long(), n_free - 1)
        idx = (free.cumsum(-1) <= k[:, None]).sum(-1)  # the k-th free cell
        color = (noise[:, 1] >= 0.5).long()
    coin = torch.stack([idx // size, idx % size], dim=-1)
    return coin, color


def coin_game_reset(batch: int, size: int, max_steps: int, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> CoinGameState:
    """Fresh games: random agent positions, a random coin on a free cell."""
    batch = check_int(batch, "batch", low=1)
    size = check_int(size, "size", low=2)
    max_steps = check_int(max_steps, "max_steps", low=1)
    pos = torch.randint(0, size, (batch, 2, 2), generator=generator, device=device)
    coin, color = _spawn(pos, size, generator)
    return CoinGameState(pos, coin, color, torch.zeros(batch, dtype=torch.long, device=device),
                         size, max_steps)


def coin_game_step(state: CoinGameState, actions: torch.Tensor, generator: torch.Generator,
                   auto_reset: bool = True, spawn_noise: torch.Tensor | None = None):
    """Advance every game by one step.

    Parameters
    ----------
    state
        the batch (updated in place).
    actions
        (batch, 2) long in ``0..3``.
    auto_reset
        reset finished games in place (for batched training).
    spawn_noise
        optional (batch, 2) uniforms in [0, 1) that place and colour the new coins instead of
        ``generator`` (see ``_spawn``): evaluation gives every learner the same noise for the
        k-th coin of each episode, so that welfare differences are paired.

    Returns
    -------
    rewards
        (batch, 2) float32.
    done
        (batch,) bool, the episode ended (time limit); reset in place if ``auto_reset``.
    own_picked, other_picked
        (batch, 2) bool, who took a coin of its own / the other's colour.
    """
    size = state.size
    moves = _MOVES.to(state.pos.device)
    state.pos = (state.pos + moves[actions]) % size
    on_coin = (state.pos == state.coin[:, None, :]).all(-1)  # (B, 2)
    own = on_coin & (state.color[:, None] == torch.arange(2, device=state.pos.device))
    other = on_coin & ~own  # both agents collect when they reach the coin at once
    rewards = own.float() * OWN_REWARD + other.float() * OTHER_REWARD
    taken = on_coin.any(-1)
    if bool(taken.any()):
        coin, color = _spawn(state.pos, size, generator, spawn_noise)
        state.coin = torch.where(taken[:, None], coin, state.coin)
        state.color = torch.where(taken, color, state.color)
    state.t = state.t + 1
    done = state.t >= state.max_steps
    if auto_reset:
        reset_finished(state, done, generator)
    return rewards, done, own, other


def reset_finished(state: CoinGameState, done: torch.Tensor, generator: torch.Generator) -> None:
    """Reset the games flagged in ``done`` (batch,) bool in place (draws a whole fresh batch
    from ``generator`` when any game is done, as ``coin_game_step(auto_reset=True)`` does)."""
    if not bool(done.any()):
        return
    fresh = coin_game_reset(int(done.shape[0]), state.size, state.max_steps, generator,
                            state.pos.device)
    state.pos = torch.where(done[:, None, None], fresh.pos, state.pos)
    state.coin = torch.where(done[:, None], fresh.coin, state.coin)
    state.color = torch.where(done, fresh.color, state.color)
    state.t = torch.where(done, fresh.t, state.t)


def coin_game_observe(state: CoinGameState, dtype=torch.float32,
                      centered: bool = False) -> torch.Tensor:
    """Egocentric observations of both agents: (batch, 2, 4, size, size).

    Channels, for each agent: own position, the other's position, coins of its own colour, coins
    of the other's colour. With ``centered=True`` each agent's grid is also rolled on the torus so
    that the agent sits at the centre cell ``(size // 2, size // 2)``: the view then shows the
    coin and the other agent at their offsets from it, so one move toward a coin is one pattern
    wherever the agent stands.
    """
    b, size = state.pos.shape[0], state.size
    dev = state.pos.device
    grid = torch.zeros(b, 4, size * size, dtype=dtype, device=dev)
    flat = state.pos[..., 0] * size + state.pos[..., 1]  # (B, 2)
    ar = torch.arange(b, device=dev)
    grid[ar, 0, flat[:, 0]] = 1.0  # red's position
    grid[ar, 1, flat[:, 1]] = 1.0  # blue's position
    coin_flat = state.coin[:, 0] * size + state.coin[:, 1]
    grid[ar, 2 + state.color, coin_flat] = 1.0  # channel 2: red coin, 3: blue coin
    red = grid.view(b, 4, size, size)
    blue = red[:, [1, 0, 3, 2]]
    obs = torch.stack([red, blue], dim=1)
    if centered:
        # cell (i, j) of agent k's view is cell (pos_k + (i, j) - centre) mod size of the grid
        shift = torch.arange(size, device=dev) - size // 2
        rows = (state.pos[..., 0, None] + shift) % size  # (B, 2, size)
        cols = (state.pos[..., 1, None] + shift) % size
        obs = obs[ar[:, None, None, None, None], torch.arange(2, device=dev)[:, None, None, None],
                  torch.arange(4, device=dev)[:, None, None], rows[:, :, None, :, None],
                  cols[:, :, None, None, :]]
    return obs


class CoinGameEnv(ParallelEnv):
    """PettingZoo parallel Coin Game (agents ``"red"`` and ``"blue"``).

    Parameters
    ----------
    size
        grid side (3 or 7 in the paper).
    max_steps
        episode length (20 or 50 in the paper).
    centered
        observations centred on each agent (see :func:`coin_game_observe`).
    """

    metadata = {"name": "coin_game_v0", "render_modes": []}  # noqa: RUF012

    def __init__(self, size: int = 3, max_steps: int = 20, centered: bool = False) -> None:
        self.size = check_int(size, "size", low=2)
        self.max_steps = check_int(max_steps, "max_steps", low=1)
        self.centered = check_bool(centered, "centered")
        self.possible_agents = ["red", "blue"]
        self.agents: list[str] = []
        self._gen = torch.Generator()
        self._gen.manual_seed(0)
        self._state: CoinGameState | None = None

    @functools.cache  # noqa: B019 (PettingZoo's documented pattern)
    def observation_space(self, agent: str) -> gym.spaces.Box:
        return gym.spaces.Box(0.0, 1.0, (4, self.size, self.size), dtype=np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return gym.spaces.Discrete(4)

    def _obs(self) -> dict[str, np.ndarray]:
        obs = coin_game_observe(self._state, centered=self.centered)[0].numpy()
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._gen.manual_seed(check_int(seed, "seed", low=0))
        self.agents = list(self.possible_agents)
        self._state = coin_game_reset(1, self.size, self.max_steps, self._gen)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        if self._state is None or not self.agents:
            raise RuntimeError("step: call reset() first (the episode is over).")
        if set(actions) != set(self.agents):
            raise ValueError(f"actions: expected one action for each of {self.agents}, got "
                             f"keys {sorted(actions)}.")
        act = torch.tensor([[check_int(int(actions[a]) if isinstance(actions[a], np.integer)
                                       else actions[a], f"actions[{a!r}]", low=0, high=3)
                             for a in self.possible_agents]])
        rewards, done, own, other = coin_game_step(self._state, act, self._gen, auto_reset=False)
        trunc = bool(done[0])
        obs = self._obs()
        names = self.possible_agents
        rew = {a: float(rewards[0, i]) for i, a in enumerate(names)}
        infos = {a: {"own_coin": bool(own[0, i]), "other_coin": bool(other[0, i])}
                 for i, a in enumerate(names)}
        terms = {a: False for a in names}
        truncs = {a: trunc for a in names}
        if trunc:
            self.agents = []
        return obs, rew, terms, truncs, infos


def _grid_tables(size: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cell tables of the exact solvers: ``n`` cells, ``nxt (4, n)`` the cell after each move,
    ``cells (n,)``, ``free (p1, p2, c)`` whether a coin may spawn at ``c`` (no agent on it) and
    ``n_free (p1, p2)`` how many cells are free."""
    n = size * size
    rows, cols = np.divmod(np.arange(n), size)
    moves = _MOVES.numpy()
    nxt = np.stack([((rows + dr) % size) * size + (cols + dc) % size for dr, dc in moves])
    cells = np.arange(n)
    free = (cells[None, None, :] != cells[:, None, None]) & (cells[None, None, :]
                                                             != cells[None, :, None])
    return n, nxt, cells, free, free.sum(-1)


def coin_game_optimal_welfare(size: int = 3, max_steps: int = 20) -> float:
    """Expected welfare per episode of a central planner controlling both agents (exact DP).

    Finite-horizon dynamic programming over (red position, blue position, coin position, coin
    colour) with the coin respawn averaged out; the start state is drawn as in
    :func:`coin_game_reset`. This is the welfare upper bound of every learner in the game.

    Examples
    --------
    >>> round(coin_game_optimal_welfare(3, 1), 6)  # one step: some agent must be next to the coin
    0.6
    """
    size = check_int(size, "size", low=2)
    max_steps = check_int(max_steps, "max_steps", low=1)
    n, nxt, cells, free, n_free = _grid_tables(size)

    def respawn_mean(v):  # (p1, p2, c, col) -> (p1, p2) mean over free cells and colours
        return (v.sum(-1) * free).sum(-1) / (2.0 * n_free)

    p1 = cells[:, None, None, None]
    p2 = cells[None, :, None, None]
    c = cells[None, None, :, None]
    col = np.arange(2)[None, None, None, :]
    v = np.zeros((n, n, n, 2))
    for _ in range(max_steps):
        spawn = respawn_mean(v)  # (n, n)
        best = np.full(v.shape, -np.inf)
        for a1 in range(4):
            q1 = nxt[a1][p1]
            on1 = q1 == c
            for a2 in range(4):
                q2 = nxt[a2][p2]
                on2 = q2 == c
                owner_on = np.where(col == 0, on1, on2)
                other_on = np.where(col == 0, on2, on1)
                reward = owner_on * OWN_REWARD + other_on * OTHER_REWARD
                picked = on1 | on2
                cont = np.where(picked, spawn[q1, q2], v[q1, q2, c, col])
                best = np.maximum(best, reward + cont)
        v = best
    return float(respawn_mean(v).mean())
