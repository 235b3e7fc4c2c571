"""What the sampling learners need of any environment: legal masks, metrics, and environments by name.

:func:`make_env` is the experiments' name -> environment table; :func:`env_metrics` evaluates a
learner's current and average policies on each kind of environment; :func:`legal_mask` is the
``(n_infosets, n_actions)`` legal-action table of any environment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from econcs.abcs._cartpole import CartPoleEnv
from econcs.abcs._cartpole_leduc import CartPoleLeducEnv
from econcs.abcs._exploitability import exploitability
from econcs.abcs._game import load_game
from econcs.abcs._tabular_mdp import TabularMDP, make_mdp
from econcs.abcs._tree_env import TreeEnv
from econcs.abcs._weighted_rps import weighted_rps

__all__ = ["env_metrics", "legal_mask", "make_env"]


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
