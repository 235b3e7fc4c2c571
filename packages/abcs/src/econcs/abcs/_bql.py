"""Tabular Boltzmann Q-learning, the stationary special case of ABCs.

Boltzmann (softmax) exploration over tabular Q-values with a decaying temperature (Sutton & Barto 2018,
sec. 2.3 and 6.5; Cesa-Bianchi et al. 2017, "Boltzmann exploration done right"), in the form used as a
baseline by D'Amico-Wong et al. 2024 (arXiv 2402.11835, sec. 3 and 5): ABCs with every (information
set, action) treated as stationary, so that only the sampled action is expanded. ``Q(I, a)`` is the
running mean of ``r + gamma * max_b Q(I', b)`` over one-step queries of every legal action at each
visited information set; exploration is ``softmax(Q / T)`` with ``T`` starting at 1 and multiplied by
0.99 every 20 rounds. The budget is counted in nodes touched, exactly as for ABCs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from econcs.abcs._abcs import ABCs, ABCsParams, BoltzmannParams
from econcs.shared import resolve_params

__all__ = ["BQLParams", "BoltzmannQLearning"]


@dataclasses.dataclass(frozen=True)
class BQLParams(BoltzmannParams):
    """Parameters of :class:`BoltzmannQLearning`: ABCs's Q-learning side (temperature schedule,
    discount, step size); every child is stationary, so the test's parameters do not apply."""


class BoltzmannQLearning(ABCs):
    """Tabular Boltzmann Q-learning (ABCs with ``stationarity="stationary"``).

    Parameters
    ----------
    env
        a compiled game or an environment (see :class:`~econcs.abcs.ABCs`).
    params
        a :class:`BQLParams` or its fields (``temperature``, ``temperature_decay``,
        ``decay_every``, ``gamma``, ``lr_power``) as keyword ``overrides``, as for
        :class:`~econcs.abcs.ABCs`.
    seed, rng
        as for :class:`~econcs.abcs.ABCs`.

    Examples
    --------
    >>> from econcs.abcs import make_mdp
    >>> mdp = make_mdp("FrozenLake", is_slippery=False)
    >>> result = BoltzmannQLearning(mdp, seed=0).run(budget_nodes=20_000)
    >>> result.metric == mdp.optimal_return()
    True
    """

    def __init__(self, env: Any, params: BQLParams | None = None, /, *, seed: Any = 0,
                 rng: np.random.Generator | None = None, **overrides: Any) -> None:
        p = resolve_params(BQLParams, params, **overrides)
        super().__init__(env, ABCsParams(stationarity="stationary", boltzmann=True,
                                         **p.to_dict()), seed=seed, rng=rng)
        self.params = p
