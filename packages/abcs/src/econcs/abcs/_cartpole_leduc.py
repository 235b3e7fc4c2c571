"""The paper's combined tree: player 0 balances a CartPole, then both players play Leduc poker.

D'Amico-Wong et al. 2024 (arXiv 2402.11835, sec. 5.3): the CartPole part is an MDP (stationary
children: ABCs learns it like Q-learning), the Leduc part a two-player zero-sum game (non-stationary
children: ABCs expands them like CFR). Built from :class:`~econcs.abcs.CartPoleEnv` and a
:class:`~econcs.abcs.TreeEnv` of Leduc poker.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from econcs.abcs._cartpole import CartPoleEnv
from econcs.abcs._game import CompiledGame, load_game
from econcs.abcs._tree_env import PolicyFn, TreeEnv

__all__ = ["CartPoleLeducEnv"]


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
