"""The commons-harvest gridworld (the Apple Picking Game of Zhang et al., ICML 2024, Sec. 5).

Zhang, Zhao, Lin, ..., Parkes (arXiv 2402.14090) take Melting Pot's *Commons Harvest* as their
running example: agents walk a grid and collect apples; an empty orchard cell regrows an apple
with a probability that rises with the apples near it (``regrowth[min(k, 3)]`` for ``k`` apples
within Euclidean radius 2: [0, 0.0025, 0.005, 0.025]), so an orchard harvested bare never comes
back. Every ``tax_period`` steps the principal's bracket tax ``T`` is levied on the apples each
agent collected in the period (brackets from ``cutoffs``, one marginal rate per bracket: ``phi``),
and the revenue is rebated equally. An agent of type (selfishness ``sigma``, trust ``beta``) is
paid ``beta r_ext + (1 - beta) r_int`` with ``r_ext = a - T(a) + mean_j T(a_j)`` and
``r_int = sigma a + (1 - sigma) (sum_j a_j - a)`` (``a`` its apples).

:class:`HarvestGame` is the batched core (``(batch, ...)`` tensors; no Python loop over agents
or games): actions 0 stay, 1 up, 2 down, 3 left, 4 right (the border blocks); an agent collects
the apple of the cell it ends its move on (the lowest-indexed agent when several share it);
then empty, unoccupied orchard cells regrow. :class:`HarvestEnv` is its single-game PettingZoo
``ParallelEnv`` face. :func:`harvest_optimum` is the exact social optimum of a small instance:
a planner who may pick any apples at any step (no walking), by backward induction over the
orchard's apple configurations; patches further than 2 apart regrow independently and are solved
one by one. It bounds what any agents can collect.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import torch
from pettingzoo import ParallelEnv

from econcs.contracts.social._tax_economy import check_rates
from econcs.shared.validation import check_array, check_int

__all__ = ["DEFAULT_LAYOUT", "HarvestEnv", "HarvestGame", "harvest_optimum", "walking_optimum"]

#: the default map: four 3 x 3 orchards ('A') four cells apart (36 apples), floor '.'
DEFAULT_LAYOUT = (
    "...........",
    ".AAA...AAA.",
    ".AAA...AAA.",
    ".AAA...AAA.",
    "...........",
    "...........",
    "...........",
    ".AAA...AAA.",
    ".AAA...AAA.",
    ".AAA...AAA.",
    "...........",
)
_MOVES = torch.tensor([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])
_RADIUS = 2.0


class HarvestGame:
    """The batched commons-harvest game.

    Parameters
    ----------
    n_agents
        agents ``n >= 1`` (the paper: 7).
    layout
        rows of the map: ``A`` an orchard cell (starts with an apple), ``.`` floor.
    regrowth
        (4,) regrowth probability of an empty orchard cell with 0, 1, 2, >= 3 apples within
        radius 2 (the paper's, after Melting Pot: [0, 0.0025, 0.005, 0.025]).
    cutoffs
        increasing lower bounds (apples per period, > 0) of tax brackets 2, 3, ...; ``phi`` holds
        ``len(cutoffs) + 1`` marginal rates in [0, 1] (the paper: brackets 1-10, 11-20, 21+).
    tax_period
        steps between tax collections (the paper: 50).
    max_steps
        steps per episode (the paper: 1000).
    selfishness, trust
        (n_agents,) each agent's type ``sigma``, ``beta`` in [0, 1] (default: 1, purely selfish
        agents paid their extrinsic reward).

    Examples
    --------
    >>> game = HarvestGame(2, layout=("A.", ".."), max_steps=3)
    >>> game.n_apples, game.n_params
    (1, 3)
    """

    def __init__(self, n_agents: int = 7, layout=DEFAULT_LAYOUT,
                 regrowth=(0.0, 0.0025, 0.005, 0.025), cutoffs=(10.0, 20.0),
                 tax_period: int = 50, max_steps: int = 1000, selfishness=None,
                 trust=None) -> None:
        self.n_agents = check_int(n_agents, "n_agents", low=1)
        rows = [str(r) for r in layout]
        if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
            raise ValueError(f"layout: expected equally long, non-empty rows, got {rows!r}.")
        if set("".join(rows)) - {"A", "."}:
            raise ValueError("layout: expected only 'A' (orchard) and '.' (floor) cells.")
        self.layout = tuple(rows)
        self.orchard = torch.tensor([[c == "A" for c in r] for r in rows])
        self.height, self.width = self.orchard.shape
        self.n_apples = int(self.orchard.sum())
        if self.n_apples == 0:
            raise ValueError("layout: expected at least one orchard cell 'A'.")
        reg = check_array(regrowth, "regrowth", shape=(4,))
        if np.any(reg < 0) or np.any(reg > 1):
            raise ValueError(f"regrowth: expected probabilities in [0, 1], got {reg.tolist()}.")
        self.regrowth = torch.as_tensor(reg)
        cut = check_array(cutoffs, "cutoffs", ndim=1) if len(cutoffs) else np.zeros(0)
        if cut.size and (cut[0] <= 0 or np.any(np.diff(cut) <= 0)):
            raise ValueError(f"cutoffs: expected increasing positive bracket bounds, got "
                             f"{cut.tolist()}.")
        self.cutoffs = torch.as_tensor(cut, dtype=torch.float64)
        self.n_params = cut.size + 1
        self.tax_period = check_int(tax_period, "tax_period", low=1)
        self.max_steps = check_int(max_steps, "max_steps", low=1)
        self.selfishness = self._type(selfishness, "selfishness")
        self.trust = self._type(trust, "trust")
        self._typed = bool((self.trust < 1).any())
        # the orchard as a vector: apples are (batch, n_apples) booleans; cells are flat ids
        cells = np.argwhere(self.orchard.numpy())
        self.orchard_cells = torch.as_tensor(cells)
        flat = torch.full((self.height * self.width,), -1, dtype=torch.long)
        flat[self.orchard_cells[:, 0] * self.width + self.orchard_cells[:, 1]] = \
            torch.arange(self.n_apples)
        self.orchard_index = flat  # (H W,) orchard index of each cell, -1 on the floor
        yy, xx = np.divmod(np.arange(self.height * self.width), self.width)
        grid = np.stack([yy, xx], -1)
        d2 = ((grid[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
        near = (d2 <= _RADIUS**2) & (d2 > 0)
        #: (H W, n_apples): orchard cell j lies within radius 2 of cell c (c itself excluded)
        self.near_cells = torch.as_tensor(near, dtype=torch.float64)
        #: (n_apples, n_apples): the same between orchard cells (symmetric)
        self.near_orchard = self.near_cells[torch.as_tensor(cells[:, 0] * self.width
                                                            + cells[:, 1])]
        nxt = grid[:, None, :] + _MOVES.numpy()[None, :, :]
        nxt[..., 0] = nxt[..., 0].clip(0, self.height - 1)
        nxt[..., 1] = nxt[..., 1].clip(0, self.width - 1)
        #: (H W, 5): the cell each action leads to (the border blocks)
        self.next_cell = torch.as_tensor(nxt[..., 0] * self.width + nxt[..., 1])

    def _type(self, value, name: str) -> torch.Tensor:
        if value is None:
            return torch.ones(self.n_agents, dtype=torch.float64)
        v = check_array(value, name, shape=(self.n_agents,))
        if np.any(v < 0) or np.any(v > 1):
            raise ValueError(f"{name}: expected values in [0, 1], got {v.tolist()}.")
        return torch.as_tensor(v)

    # tax ------------------------------------------------------------------------------------------
    def check_phi(self, phi) -> torch.Tensor:
        t = check_rates(phi, "tax")
        if t.ndim == 0 or t.shape[-1] != self.n_params:
            raise ValueError(f"tax: expected a last axis of {self.n_params} bracket rate(s), got "
                             f"shape {tuple(t.shape)}.")
        return t

    def tax(self, apples, phi) -> torch.Tensor:
        """Tax on ``apples (..., n)`` collected in a period under rates ``phi (..., n_params)``."""
        a = torch.as_tensor(apples, dtype=torch.float64)
        rates = self.check_phi(phi).to(a)[..., None, :]
        low = torch.cat([torch.zeros(1, dtype=a.dtype), self.cutoffs.to(a)])
        high = torch.cat([self.cutoffs.to(a), torch.full((1,), torch.inf, dtype=a.dtype)])
        inside = (a[..., None] - low).clamp(min=0).minimum(high - low)
        return (inside * rates).sum(-1)

    # dynamics -------------------------------------------------------------------------------------
    def reset(self, batch: int, generator: torch.Generator | None = None) -> dict:
        """``batch`` games: every orchard cell has an apple, agents on random distinct floor cells
        (or random distinct cells when there is too little floor).

        The state: ``apples (batch, n_apples)`` booleans, ``cell (batch, n_agents)`` each agent's
        flat cell ``y * width + x``, ``period (batch, n_agents)`` apples collected this tax
        period, ``t`` the step."""
        batch = check_int(batch, "batch", low=1)
        free = (self.orchard_index < 0).double()
        score = torch.rand(batch, free.shape[0], generator=generator, dtype=torch.float64)
        if int(free.sum()) >= self.n_agents:
            score = score + free  # floor cells first
        return {"apples": torch.ones(batch, self.n_apples, dtype=torch.bool),
                "cell": score.topk(self.n_agents, dim=-1).indices,
                "period": torch.zeros(batch, self.n_agents, dtype=torch.float64), "t": 0}

    def grid(self, apples: torch.Tensor) -> torch.Tensor:
        """The apples ``(batch, n_apples)`` drawn on the map: ``(batch, H, W)`` booleans."""
        out = torch.zeros(apples.shape[0], self.height * self.width, dtype=torch.bool)
        out[:, self.orchard_index >= 0] = apples
        return out.reshape(-1, self.height, self.width)

    def local_apples(self, apples: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Apples within radius 2 of each agent's cell: ``(batch, n_agents)``."""
        return (apples.double() @ self.near_cells.T).gather(1, cell)

    def step(self, state: dict, actions: torch.Tensor, phi,
             generator: torch.Generator | None = None):
        """One step of every game: ``actions (batch, n)`` in 0..4, ``phi (batch, n_params)``.

        Returns ``(state, reward, extrinsic, apples)``: the next state, the typed rewards and
        the extrinsic rewards ``(batch, n)`` (taxes and rebates in the last step of a period),
        and the apples collected this step ``(batch, n)``.
        """
        apples = state["apples"]
        cell = self.next_cell[state["cell"], torch.as_tensor(actions).long()]
        orch = self.orchard_index[cell]  # (batch, n), -1 on the floor
        on = orch >= 0
        here = apples.gather(1, orch.clamp(min=0)) & on
        same = cell[:, :, None] == cell[:, None, :]
        first = ~(same & torch.ones_like(same[0]).tril(-1)).any(-1)  # no lower index shares it
        got = (here & first).double()
        occupied = torch.zeros(apples.shape, dtype=torch.float64).scatter_add(
            1, orch.clamp(min=0), on.double()) > 0
        apples = apples & ~occupied
        k = (apples.double() @ self.near_orchard).long().clamp(max=3)
        grow = torch.rand(apples.shape, generator=generator, dtype=torch.float64) < \
            self.regrowth[k]
        apples = apples | (grow & ~occupied)
        t = state["t"] + 1
        period = state["period"] + got
        ext = got
        if t % self.tax_period == 0 or t == self.max_steps:
            due = self.tax(period, phi)
            ext = got - due + due.mean(-1, keepdim=True)
            period = torch.zeros_like(period)
        if not self._typed:
            reward = ext
        else:
            sig, beta = self.selfishness, self.trust
            intrinsic = sig * got + (1 - sig) * (got.sum(-1, keepdim=True) - got)
            reward = beta * ext + (1 - beta) * intrinsic
        return {"apples": apples, "cell": cell, "period": period, "t": t}, reward, ext, got


class HarvestEnv(ParallelEnv):
    """PettingZoo parallel environment of one :class:`HarvestGame` under bracket rates ``phi``.

    Each agent observes a ``(2r + 1) x (2r + 1)`` window (``r = view``) of apples and of other
    agents around itself (outside the map: 0), the apples it collected this tax period, the share
    of the episode gone, and ``phi``.

    Examples
    --------
    >>> env = HarvestEnv(HarvestGame(2, layout=("AA.", "..."), max_steps=4), phi=[0, 0, 1])
    >>> obs, _ = env.reset(seed=0)
    >>> obs["agent_0"].shape
    (55,)
    """

    metadata = {"name": "sed_harvest_v0", "render_modes": []}  # noqa: RUF012

    def __init__(self, game: HarvestGame, phi, view: int = 2) -> None:
        self.game = game
        self.view = check_int(view, "view", low=0)
        self.possible_agents = [f"agent_{i}" for i in range(game.n_agents)]
        self.agents: list[str] = []
        self._phi = game.check_phi(torch.as_tensor(np.asarray(phi, dtype=np.float64)))
        self._state: dict | None = None
        self._gen = torch.Generator().manual_seed(0)

    @functools.cache  # noqa: B019 (PettingZoo's documented pattern)
    def observation_space(self, agent: str) -> gym.spaces.Box:
        side = 2 * self.view + 1
        return gym.spaces.Box(0.0, np.inf, (2 * side * side + 2 + self.game.n_params,),
                              dtype=np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return gym.spaces.Discrete(5)

    def _obs(self) -> dict[str, np.ndarray]:
        s, v, g = self._state, self.view, self.game
        apples = g.grid(s["apples"])[0].double()
        cell = s["cell"][0]
        ys, xs = (cell // g.width).tolist(), (cell % g.width).tolist()
        out = {}
        for i, a in enumerate(self.possible_agents):
            layers = torch.zeros(2, g.height + 2 * v, g.width + 2 * v, dtype=torch.float64)
            layers[0, v:v + g.height, v:v + g.width] = apples
            for j in range(g.n_agents):
                if j != i:
                    layers[1, ys[j] + v, xs[j] + v] += 1
            win = layers[:, ys[i]:ys[i] + 2 * v + 1, xs[i]:xs[i] + 2 * v + 1]
            extra = [float(s["period"][0, i]), s["t"] / g.max_steps, *self._phi.tolist()]
            out[a] = np.concatenate([win.flatten().numpy(), extra]).astype(np.float32)
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._gen.manual_seed(check_int(seed, "seed", low=0))
        options = options or {}
        if "phi" in options:
            self._phi = self.game.check_phi(torch.as_tensor(np.asarray(options["phi"],
                                                                       dtype=np.float64)))
        self._state = self.game.reset(1, generator=self._gen)
        self.agents = list(self.possible_agents)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("step: call reset() first (the episode is over).")
        if set(actions) != set(self.agents):
            raise ValueError(f"actions: expected one action for each of {self.agents}, got "
                             f"keys {sorted(actions)}.")
        act = np.array([int(np.asarray(actions[a]).reshape(-1)[0]) for a in self.possible_agents])
        if np.any(act < 0) or np.any(act > 4):
            raise ValueError(f"actions: expected actions in 0..4, got {act.tolist()}.")
        self._state, reward, ext, got = self.game.step(
            self._state, torch.as_tensor(act)[None], self._phi[None], generator=self._gen)
        names = self.possible_agents
        trunc = self._state["t"] >= self.game.max_steps
        rewards = {a: float(reward[0, i]) for i, a in enumerate(names)}
        infos = {a: {"apples": float(got[0, i]), "extrinsic": float(ext[0, i])}
                 for i, a in enumerate(names)}
        obs = self._obs()
        if trunc:
            self.agents = []
        return obs, rewards, {a: False for a in names}, {a: trunc for a in names}, infos


def _patches(orchard: np.ndarray) -> list[np.ndarray]:
    """The orchard's cells grouped into patches that regrow independently (no two cells of
    different patches within radius 2): a list of (m, 2) coordinates."""
    cells = np.argwhere(orchard)
    near = ((cells[:, None, :] - cells[None, :, :]) ** 2).sum(-1) <= _RADIUS**2
    label = -np.ones(len(cells), dtype=np.int64)
    for start in range(len(cells)):
        if label[start] >= 0:
            continue
        label[start] = start
        stack = [start]
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(near[i] & (label < 0)):
                label[j] = start
                stack.append(j)
    return [cells[label == lab] for lab in np.unique(label)]


def _patch_optimum(cells: np.ndarray, regrowth: np.ndarray, max_steps: int) -> float:
    """Expected apples a planner collects from one full patch in ``max_steps`` steps."""
    m = len(cells)
    states = np.arange(2**m)
    bits = (states[:, None] >> np.arange(m)[None, :]) & 1  # (2^m, m) apple present
    near = (((cells[:, None, :] - cells[None, :, :]) ** 2).sum(-1) <= _RADIUS**2)
    np.fill_diagonal(near, False)
    k = np.minimum(bits @ near.astype(np.int64), 3)  # (2^m, m) neighbours after harvest
    p = np.where(bits == 1, 1.0, regrowth[k])  # present stays; empty regrows w.p. p
    # P[c, s']: s' ⊇ c, each empty cell of c regrows independently
    nxt = bits[None, :, :]  # (1, 2^m, m)
    trans = np.where(nxt == 1, p[:, None, :], 1 - p[:, None, :]).prod(-1)
    count = bits.sum(1)
    # subsets c ⊆ s enumerated once: pairs (s, c) with c & ~s == 0
    s_idx, c_idx = np.nonzero((states[None, :] & ~states[:, None]) == 0)
    value = np.zeros(2**m)
    for _ in range(max_steps):
        cont = trans @ value  # expected value after regrowth from c
        gain = count[s_idx] - count[c_idx] + cont[c_idx]
        best = np.full(2**m, -np.inf)
        np.maximum.at(best, s_idx, gain)
        value = best
    return float(value[-1])


def harvest_optimum(game: HarvestGame, max_steps: int | None = None) -> float:
    """The exact expected number of apples a planner collects in ``max_steps`` (default: the
    game's) steps from the full orchard, picking any apples at any step (an upper bound on what
    walking agents collect: they cannot be everywhere). Each step the planner collects, then the
    orchard regrows, as in :meth:`HarvestGame.step`.

    Raises ``ValueError`` when a patch (cells linked within radius 2) has more than 12 cells.

    >>> game = HarvestGame(1, layout=("AA",), regrowth=(0, 0.5, 0.5, 0.5), max_steps=2)
    >>> harvest_optimum(game)  # take one, keep one: 1 + (1 + 0.5); or both at once: 2
    2.5
    """
    steps = game.max_steps if max_steps is None else check_int(max_steps, "max_steps", low=1)
    reg = game.regrowth.numpy()
    total = 0.0
    cache: dict[tuple, float] = {}
    for cells in _patches(game.orchard.numpy()):
        if len(cells) > 12:
            raise ValueError(f"layout: a patch of {len(cells)} cells (linked within radius 2); "
                             "the exact optimum handles at most 12.")
        key = tuple(map(tuple, cells - cells.min(0)))
        if key not in cache:
            cache[key] = _patch_optimum(cells - cells.min(0), reg, steps)
        total += cache[key]
    return total


def walking_optimum(game: HarvestGame, max_steps: int | None = None) -> float:
    """The exact expected apples of one agent who walks the map (the game's own moves,
    collection and regrowth) with full sight and an optimal policy, from a uniformly random
    floor cell and the full orchard: backward induction over (cell, apple configuration).

    What a learning agent of a one-agent game can reach at most (its return under no tax: it
    gets its own tax back); :func:`harvest_optimum`, which needs no walking, bounds it. Raises
    ``ValueError`` unless ``game`` has one agent and at most 8 orchard cells.

    >>> game = HarvestGame(1, layout=("A.",), regrowth=(0, 0, 0, 0), max_steps=2)
    >>> walking_optimum(game)  # step left onto the apple; then nothing regrows
    1.0
    """
    if game.n_agents != 1:
        raise ValueError(f"game: expected one agent, got n_agents={game.n_agents}.")
    m = game.n_apples
    if m > 8:
        raise ValueError(f"layout: {m} orchard cells; the walking optimum handles at most 8.")
    steps = game.max_steps if max_steps is None else check_int(max_steps, "max_steps", low=1)
    states = np.arange(2**m)
    bits = (states[:, None] >> np.arange(m)[None, :]) & 1  # (2^m, m) apple present
    near = game.near_orchard.numpy() > 0
    k = np.minimum(bits @ near.astype(np.int64), 3)
    reg = game.regrowth.numpy()
    trans = []  # per occupied orchard cell (m: none), P[c, s'] after collection left c
    for occ in range(m + 1):
        p = np.where(bits == 1, 1.0, reg[k])  # an empty cell regrows w.p. regrowth[k]
        if occ < m:
            p[:, occ] = np.where(bits[:, occ] == 1, 1.0, 0.0)  # the agent's cell: no regrowth
        nxt = bits[None, :, :]
        trans.append(np.where(nxt == 1, p[:, None, :], 1 - p[:, None, :]).prod(-1))
    trans = np.stack(trans)  # (m + 1, 2^m, 2^m)
    nxt_cell = game.next_cell.numpy()  # (H W, 5)
    occ_of = game.orchard_index.numpy()  # (H W,), -1 on the floor
    n_cells = nxt_cell.shape[0]
    value = np.zeros((n_cells, 2**m))
    for _ in range(steps):
        new = np.full((n_cells, 2**m), -np.inf)
        for a in range(5):
            dest = nxt_cell[:, a]  # (cells,)
            occ = occ_of[dest]
            got = np.where(occ[:, None] >= 0, bits[:, occ.clip(min=0)].T, 0)  # (cells, 2^m)
            cleared = np.where(got == 1, states[None, :] & ~(1 << occ.clip(min=0))[:, None],
                               states[None, :])
            occ_row = np.where(occ >= 0, occ, m)
            cont = np.einsum("cst,ct->cs", trans[occ_row[:, None], cleared], value[dest])
            new = np.maximum(new, got + cont)
        value = new
    floor = occ_of < 0
    start = floor if floor.any() else np.ones(n_cells, dtype=bool)
    return float(value[start, -1].mean())
