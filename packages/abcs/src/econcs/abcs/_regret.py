"""What the regret minimisers (CFR, MCCFR) share: regret matching and the state of their tables.

Regret matching (Hart & Mas-Colell 2000; Zinkevich et al. 2007, sec. 4) plays each action in
proportion to its positive cumulative regret. Both solvers keep ``(n_infosets, n_actions)`` tables of
cumulative regrets and cumulative (reach-weighted) policies plus two counters, which is all a
checkpoint needs (:class:`RegretTables`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RegretTables", "regret_matching"]


def regret_matching(regrets: np.ndarray, legal_mask: np.ndarray) -> np.ndarray:
    """Policy proportional to positive regrets; uniform over legal actions where none is positive.

    Parameters
    ----------
    regrets
        (n_infosets, n_actions) cumulative regrets.
    legal_mask
        (n_infosets, n_actions) bool.

    Returns
    -------
    (n_infosets, n_actions) float64 policy.

    Examples
    --------
    >>> regret_matching(np.array([[1.0, 3.0], [-1.0, 0.0]]), np.ones((2, 2), bool)).tolist()
    [[0.25, 0.75], [0.5, 0.5]]
    """
    pos = np.where(legal_mask, np.maximum(regrets, 0.0), 0.0)
    total = np.zeros((pos.shape[0], 1))
    for a in range(pos.shape[1]):  # sequential sum, as OpenSpiel's Python ``sum``
        total[:, 0] = total[:, 0] + pos[:, a]
    uniform = legal_mask / legal_mask.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, pos / np.where(total > 0, total, 1.0), uniform)


class RegretTables:
    """The state of a regret minimiser: ``regrets`` and ``cumulative_policy`` (both
    ``(n_infosets, n_actions)``), ``iteration`` and ``nodes_touched``, set by the subclass."""

    regrets: np.ndarray
    cumulative_policy: np.ndarray
    iteration: int
    nodes_touched: int

    def state_dict(self) -> dict[str, Any]:
        """The solver's state (numpy arrays and numbers; a generator is not included), which
        :meth:`load_state_dict` restores."""
        return {"regrets": self.regrets.copy(), "cumulative_policy": self.cumulative_policy.copy(),
                "iteration": self.iteration, "nodes_touched": self.nodes_touched}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (of a solver of the same kind on the same game)."""
        self.regrets[:] = np.asarray(state["regrets"], dtype=np.float64)
        self.cumulative_policy[:] = np.asarray(state["cumulative_policy"], dtype=np.float64)
        self.iteration = int(state["iteration"])
        self.nodes_touched = int(state["nodes_touched"])
