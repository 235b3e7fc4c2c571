"""Tabular behaviour policies over a compiled game's information sets, and OpenSpiel conversion.

A :class:`Policy` is a ``(n_infosets, n_actions)`` array of action probabilities (columns are OpenSpiel
action ids) together with the information-state strings of its rows, so that it converts losslessly to
and from ``open_spiel.python.policy.TabularPolicy`` and can be evaluated with OpenSpiel's own tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy

from econcs.abcs._game import CompiledGame

__all__ = ["Policy", "as_policy_array"]


@dataclass(frozen=True, eq=False)
class Policy:
    """Action probabilities per information set.

    Attributes
    ----------
    probs
        (n_infosets, n_actions) float64, rows sum to 1 over legal actions, 0 elsewhere.
    infoset_keys
        the OpenSpiel information-state string of each row.
    """

    probs: np.ndarray
    infoset_keys: tuple[str, ...]

    def __post_init__(self) -> None:
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != len(self.infoset_keys):
            raise ValueError(f"probs: expected shape ({len(self.infoset_keys)}, n_actions), got "
                             f"{probs.shape}.")
        object.__setattr__(self, "probs", probs)

    def action_probabilities(self, infoset_key: str) -> dict[int, float]:
        """``{action: probability}`` at the information set ``infoset_key`` (non-zero entries)."""
        try:
            row = self.infoset_keys.index(infoset_key)
        except ValueError:
            raise KeyError(f"infoset_key: unknown information state {infoset_key!r}.") from None
        return {int(a): float(p) for a, p in enumerate(self.probs[row]) if p > 0}

    def to_openspiel(self, game: CompiledGame | Any) -> os_policy.TabularPolicy:
        """An ``open_spiel.python.policy.TabularPolicy`` of ``game`` (compiled or ``pyspiel.Game``)
        holding these probabilities (rows of information sets this policy does not cover stay
        uniform)."""
        pyspiel_game = game.pyspiel_game if isinstance(game, CompiledGame) else game
        tab = os_policy.TabularPolicy(pyspiel_game)
        for row, key in enumerate(self.infoset_keys):
            idx = tab.state_lookup.get(key)
            if idx is None:
                raise ValueError(f"game: information state {key!r} of this policy is not in the "
                                 "game's TabularPolicy; is it the same game?")
            tab.action_probability_array[idx] = self.probs[row]
        return tab

    @classmethod
    def from_openspiel(cls, tabular_policy: os_policy.TabularPolicy,
                       game: CompiledGame | None = None) -> Policy:
        """Read an OpenSpiel ``TabularPolicy`` (Python, or C++ ``pyspiel.TabularPolicy`` from e.g.
        ``pyspiel.CFRSolver.tabular_average_policy()``, which needs ``game``); with ``game``, rows
        follow ``game``'s information-set order."""
        if isinstance(tabular_policy, pyspiel.TabularPolicy):
            if game is None:
                raise ValueError("game: required to read a C++ pyspiel.TabularPolicy.")
            table = tabular_policy.policy_table()
            probs = np.zeros((game.n_infosets, game.n_actions))
            for row, key in enumerate(game.infoset_keys):
                if key not in table:
                    raise ValueError(f"tabular_policy: has no row for information state {key!r}.")
                for a, pr in table[key]:
                    probs[row, a] = pr
            return cls(probs, game.infoset_keys)
        if not isinstance(tabular_policy, os_policy.TabularPolicy):
            raise TypeError("tabular_policy: expected open_spiel.python.policy.TabularPolicy, got "
                            f"{type(tabular_policy).__name__}.")
        arr = np.asarray(tabular_policy.action_probability_array, dtype=np.float64)
        if game is None:
            keys = tuple(tabular_policy.state_lookup)
            rows = [tabular_policy.state_lookup[k] for k in keys]
            return cls(arr[rows].copy(), keys)
        rows = []
        for key in game.infoset_keys:
            idx = tabular_policy.state_lookup.get(key)
            if idx is None:
                raise ValueError(f"tabular_policy: has no row for information state {key!r} of "
                                 f"{game.name!r}; is it a policy of this game?")
            rows.append(idx)
        return cls(arr[rows].copy(), game.infoset_keys)


def normalise_rows(weights: np.ndarray, legal_mask: np.ndarray) -> np.ndarray:
    """``(n_infosets, n_actions)`` rows of non-negative ``weights`` normalised to policies;
    uniform over the legal actions where a row sums to zero."""
    total = weights.sum(axis=1, keepdims=True)
    uniform = legal_mask / legal_mask.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weights / np.where(total > 0, total, 1.0), uniform)


def as_policy_array(game: CompiledGame, policy: Any, name: str = "policy") -> np.ndarray:
    """A ``(n_infosets, n_actions)`` array from a :class:`Policy`, an OpenSpiel ``TabularPolicy``
    or an array, checked: finite, non-negative, zero on illegal actions, rows summing to 1."""
    if isinstance(policy, os_policy.TabularPolicy):
        policy = Policy.from_openspiel(policy, game)
    if isinstance(policy, Policy):
        if policy.infoset_keys == game.infoset_keys:
            arr = policy.probs
        else:
            index = {k: i for i, k in enumerate(policy.infoset_keys)}
            missing = [k for k in game.infoset_keys if k not in index]
            if missing:
                raise ValueError(f"{name}: no probabilities for information state {missing[0]!r} "
                                 f"of {game.name!r}.")
            arr = policy.probs[[index[k] for k in game.infoset_keys]]
    elif isinstance(policy, np.ndarray):
        arr = policy
    else:
        raise TypeError(f"{name}: expected a Policy, an OpenSpiel TabularPolicy or an array of "
                        f"shape ({game.n_infosets}, {game.n_actions}), got {type(policy).__name__}.")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape != (game.n_infosets, game.n_actions):
        raise ValueError(f"{name}: expected shape ({game.n_infosets}, {game.n_actions}), got "
                         f"{arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or infinite probabilities.")
    if np.any(arr < 0):
        raise ValueError(f"{name}: contains negative probabilities.")
    if np.any(arr[~game.legal_mask] > 1e-12):
        raise ValueError(f"{name}: puts probability on illegal actions.")
    if game.n_infosets and not np.allclose(arr.sum(axis=1), 1.0, atol=1e-6):
        bad = int(np.argmax(np.abs(arr.sum(axis=1) - 1.0)))
        raise ValueError(f"{name}: row {bad} ({game.infoset_keys[bad]!r}) sums to "
                         f"{arr[bad].sum():.6g}, not 1.")
    return arr
