"""Environments for the sampling learners (ABCs, Boltzmann Q-learning), seen by one player at a time.

Following D'Amico-Wong et al. 2024 (arXiv 2402.11835, sec. 5), every environment is a game seen from
one *traverser*: chance and the other players' moves (drawn from the learner's own exploration policy)
are folded into the transition, so a two-player game and a Gymnasium MDP look alike. Provided:

- :class:`TreeEnv`: any compiled OpenSpiel game (:func:`econcs.abcs.load_game`);
- :class:`TabularMDP`: Gymnasium toy-text MDPs with their exact model (FrozenLake, CliffWalking,
  Taxi), with value iteration and exact finite-horizon policy evaluation;
- :class:`CartPoleEnv`: CartPole with the paper's discretised observation (10 bins per feature on
  +-2.4, +-3.0, +-0.5, +-2.0), termination probability 1/200 per step and at most 500 steps;
- :func:`weighted_rps`: the paper's weighted rock-paper-scissors as a compiled turn-based game;
- :class:`CartPoleLeducEnv`: the paper's combined tree (player 0 balances a pole, then both play
  Leduc poker).

The interface (``reset``, ``step``, ``infoset``, ``legal``, ``outcome_key``, ``oracle_stationary``)
is documented on :class:`TreeEnv`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyspiel

from econcs.abcs._exploitability import exploitability
from econcs.abcs._game import CHANCE, TERMINAL, CompiledGame, load_game
from econcs.shared import check_choice, check_float, check_int

__all__ = ["CartPoleEnv", "CartPoleLeducEnv", "TabularMDP", "TreeEnv", "env_metrics", "make_env",
           "make_mdp", "weighted_rps"]

PolicyFn = Callable[[int], int]


class TreeEnv:
    """A compiled game seen by one traverser at a time.

    ``reset(p, policy_fn, rng) -> (state, reward, terminated)`` starts at the root and plays chance
    and the other players (``policy_fn(infoset) -> action``) until ``p`` acts or the game ends;
    ``step(state, action, p, policy_fn, rng) -> (state, reward, terminated, truncated)`` does the same
    after ``p`` plays ``action``. States are node indices; ``infoset(state)`` is the compiled game's
    information-set index; ``outcome_key`` is the next node (or the terminal reward), the sample used
    by ABCs' stationarity test; ``oracle_stationary(infoset, action)`` says whether the next-state
    distribution is independent of the other players' policies (no other player can act before the
    traverser's next decision), the ground truth for the perfect-oracle variant.
    """

    def __init__(self, game: CompiledGame) -> None:
        if not isinstance(game, CompiledGame):
            raise TypeError(f"game: expected a CompiledGame, got {type(game).__name__}.")
        self.game = game
        self.n_players = game.n_players
        self.n_infosets = game.n_infosets
        self.n_actions = game.n_actions
        self._player = game.player.tolist()
        self._infoset = game.infoset.tolist()
        self._children = game.children.tolist()
        self._cdf = np.cumsum(game.chance_probs, axis=1).tolist()
        self._returns = game.returns.tolist()
        self._legal = [np.flatnonzero(m) for m in game.legal_mask]
        self._oracle: np.ndarray | None = None

    def legal(self, infoset: int) -> np.ndarray:
        return self._legal[infoset]

    def infoset(self, state: int) -> int:
        return self._infoset[state]

    def _advance(self, node: int, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        while True:
            pl = self._player[node]
            if pl == TERMINAL:
                return node, self._returns[node][p], True, False
            if pl == p:
                return node, 0.0, False, False
            if pl == CHANCE:
                cdf = self._cdf[node]
                u = rng.random() * cdf[-1]
                j = 0
                while cdf[j] <= u or self._children[node][j] < 0:
                    j += 1
                node = self._children[node][j]
            else:
                node = self._children[node][policy_fn(self._infoset[node])]

    def reset(self, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        node, r, term, _ = self._advance(0, p, policy_fn, rng)
        return node, r, term

    def step(self, state: int, action: int, p: int, policy_fn: PolicyFn,
             rng: np.random.Generator):
        return self._advance(self._children[state][action], p, policy_fn, rng)

    def outcome_key(self, state: Any, reward: float, terminated: bool) -> Any:
        return (-1, reward) if terminated else state

    def oracle_stationary(self, infoset: int, action: int) -> bool:
        if self._oracle is None:
            self._oracle = self._build_oracle()
        return bool(self._oracle[infoset, action])

    def _build_oracle(self) -> np.ndarray:
        g = self.game
        stationary = np.ones((g.n_infosets, g.n_actions), dtype=bool)
        for p in range(g.n_players):
            # other[node]: some other player may act before p's next decision (or the end)
            other = np.zeros(g.n_nodes, dtype=bool)
            for node in range(g.n_nodes - 1, -1, -1):
                pl = self._player[node]
                if pl == CHANCE:
                    other[node] = any(other[c] for c in self._children[node] if c >= 0)
                elif pl >= 0 and pl != p:
                    other[node] = True
            nodes = np.flatnonzero(g.player == p)
            for node in nodes:
                for a in self._legal[self._infoset[node]]:
                    if other[self._children[node][a]]:
                        stationary[self._infoset[node], a] = False
        return stationary


# ------------------------------------------------------------------------------------------------
# tabular MDPs with a known model


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

        Returns
        -------
        values
            (n_states,)
        policy
            (n_states, n_actions) deterministic greedy policy.
        """
        gamma = check_float(gamma, "gamma", low=0.0, high=1.0)
        v = np.zeros(self.n_infosets)
        for _ in range(max_iter):
            q = self._backup(v, gamma)
            new = q.max(axis=1)
            if np.max(np.abs(new - v)) < tol:
                v = new
                break
            v = new
        q = self._backup(v, gamma)
        # among optimal actions, pick those that end the episode soonest (with gamma = 1 a greedy
        # policy may otherwise loop forever, e.g. walking into a wall of a deterministic lake)
        optimal = q >= q.max(axis=1, keepdims=True) - 1e-9
        steps = np.zeros(self.n_infosets)
        for _ in range(10_000):
            cont = np.where(self.dones, 0.0, steps[self.next_states])
            tq = np.where(optimal, (self.probs * (1.0 + cont)).sum(axis=2), np.inf)
            new = tq.min(axis=1)
            if np.max(np.abs(new - steps)) < 1e-9:
                break
            steps = new
        pol = np.zeros_like(q)
        pol[np.arange(q.shape[0]), tq.argmin(axis=1)] = 1.0
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


# ------------------------------------------------------------------------------------------------
# CartPole with a discretised observation

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


def weighted_rps() -> CompiledGame:
    """The paper's weighted rock-paper-scissors (row payoffs R [0,-1,1], P [1,0,-2], S [-1,2,0];
    zero-sum), compiled as a turn-based game (player 1 does not see player 0's move)."""
    row = [[0.0, -1.0, 1.0], [1.0, 0.0, -2.0], [-1.0, 2.0, 0.0]]
    col = [[-v for v in r] for r in row]
    matrix = pyspiel.create_matrix_game("weighted_rps", "Weighted rock-paper-scissors",
                                        ["R", "P", "S"], ["R", "P", "S"], row, col)
    return load_game(pyspiel.convert_to_turn_based(matrix))


class CartPoleLeducEnv:
    """The paper's combined environment: player 0 first plays a CartPole episode (reward 1 per step,
    termination probability ``term_prob``), then both players play Leduc poker (the CartPole part is
    an MDP, the Leduc part a two-player zero-sum game). Player 1 only plays Leduc.

    Information sets ``0 .. 9_999`` are CartPole's, ``10_000 + i`` is Leduc's information set ``i``.
    """

    n_players = 2

    def __init__(self, term_prob: float = 1 / 100, max_steps: int = 500,
                 leduc: CompiledGame | None = None) -> None:
        self.cartpole = CartPoleEnv(term_prob, max_steps)
        self.leduc_game = load_game("leduc_poker") if leduc is None else leduc
        self.leduc = TreeEnv(self.leduc_game)
        self.offset = CartPoleEnv.n_infosets
        self.n_infosets = self.offset + self.leduc.n_infosets
        self.n_actions = max(2, self.leduc.n_actions)

    def legal(self, infoset: int) -> np.ndarray:
        if infoset < self.offset:
            return self.cartpole.legal(infoset)
        return self.leduc.legal(infoset - self.offset)

    def infoset(self, state) -> int:
        part, s = state
        return self.cartpole.infoset(s) if part == "c" else self.offset + self.leduc.infoset(s)

    def _leduc_policy(self, policy_fn: PolicyFn) -> PolicyFn:
        return lambda i: policy_fn(i + self.offset)

    def reset(self, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        if p == 0:
            s, r, term = self.cartpole.reset(p, policy_fn, rng)
            return ("c", s), r, term
        s, r, term = self.leduc.reset(p, self._leduc_policy(policy_fn), rng)
        return ("l", s), r, term

    def step(self, state, action: int, p: int, policy_fn: PolicyFn, rng: np.random.Generator):
        part, s = state
        if part == "c":
            ns, r, term, trunc = self.cartpole.step(s, action, p, policy_fn, rng)
            if term or trunc:
                ls, lr, lterm = self.leduc.reset(p, self._leduc_policy(policy_fn), rng)
                return ("l", ls), r + lr, lterm, False
            return ("c", ns), r, False, False
        ns, r, term, trunc = self.leduc.step(s, action, p, self._leduc_policy(policy_fn), rng)
        return ("l", ns), r, term, trunc

    def outcome_key(self, state: Any, reward: float, terminated: bool) -> Any:
        if terminated:
            return (-1, reward)
        part, s = state
        return (0, *s[0]) if part == "c" else (1, s)

    def oracle_stationary(self, infoset: int, action: int) -> bool:
        if infoset < self.offset:
            return True
        return self.leduc.oracle_stationary(infoset - self.offset, action)


def legal_mask(env: Any) -> np.ndarray:
    """``(n_infosets, n_actions)`` bool: the legal actions of every information set of ``env``."""
    mask = np.zeros((env.n_infosets, env.n_actions), dtype=bool)
    for i in range(env.n_infosets):
        mask[i, env.legal(i)] = True
    return mask


def env_metrics(env: Any, current: np.ndarray, average: np.ndarray,
                rng: np.random.Generator) -> dict[str, float]:
    """A sampling learner's metrics on ``env`` from its ``(n_infosets, n_actions)`` current and
    average policies: ``exploitability`` of the average policy (:class:`TreeEnv`), exact
    ``return`` of the current policy (:class:`TabularMDP`), mean ``return`` of the current policy
    over 100 episodes drawn from ``rng`` (:class:`CartPoleEnv`); both for
    :class:`CartPoleLeducEnv` (the exploitability of its Leduc part)."""
    if isinstance(env, TreeEnv):
        return {"exploitability": exploitability(env.game, average)}
    if isinstance(env, TabularMDP):
        return {"return": env.policy_return(current)}
    if isinstance(env, CartPoleEnv):
        return {"return": env.evaluate(current, rng)}
    if isinstance(env, CartPoleLeducEnv):
        avg = average[env.offset:, :env.leduc_game.n_actions]
        return {"return": env.cartpole.evaluate(current[:env.offset, :2], rng),
                "exploitability": exploitability(env.leduc_game, avg)}
    return {}


_MDP_NAMES = ("FrozenLake", "CliffWalking", "Taxi")


def make_env(name: str) -> Any:
    """An environment or compiled game by name.

    ``"FrozenLake"``, ``"CliffWalking"``, ``"Taxi"`` (:func:`make_mdp`), ``"CartPole"``
    (:class:`CartPoleEnv`), ``"CartPoleLeduc"`` (:class:`CartPoleLeducEnv`), ``"weighted_rps"``
    (:func:`weighted_rps`), or any OpenSpiel game name (:func:`~econcs.abcs.load_game`).
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}.")
    if name in _MDP_NAMES:
        return make_mdp(name)
    if name == "CartPole":
        return CartPoleEnv()
    if name == "CartPoleLeduc":
        return CartPoleLeducEnv()
    if name == "weighted_rps":
        return weighted_rps()
    return load_game(name)
