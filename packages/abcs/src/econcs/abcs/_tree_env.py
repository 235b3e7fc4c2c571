"""A compiled game seen by one player (the *traverser*) at a time: the interface of every environment.

Following D'Amico-Wong et al. 2024 (arXiv 2402.11835, sec. 5), the sampling learners (ABCs, Boltzmann
Q-learning, outcome-sampling MCCFR) see every environment as a game from one traverser's point of
view: chance and the other players' moves (drawn from the learner's own exploration policy) are folded
into the transition, so a two-player game and a Gymnasium MDP look alike. :class:`TreeEnv` is that
view of a compiled OpenSpiel game (:func:`econcs.abcs.load_game`); its docstring documents the
interface (``reset``, ``step``, ``infoset``, ``legal``, ``outcome_key``, ``oracle_stationary``) the
other environments (:mod:`econcs.abcs._tabular_mdp`, :mod:`econcs.abcs._cartpole`,
:mod:`econcs.abcs._cartpole_leduc`) follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from econcs.abcs._game import CHANCE, TERMINAL, CompiledGame

__all__ = ["PolicyFn", "TreeEnv"]

#: the other players' moves inside ``reset`` / ``step``: information set -> action
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

