"""The single-buyer data market: experiments, their value to a buyer, and obedience.

A seller who will learn the state ``omega`` of ``n_states`` sells *experiments*: an experiment
``pi`` is a ``(n_states, n_signals)`` row-stochastic matrix, ``pi[omega, s] = P(signal s | omega)``.
A buyer of type ``(theta, v)`` (belief ``theta`` over states, value ``v >= 0``) who sees signal ``s``
takes the action ``a`` of ``n_actions`` that maximises its posterior payoff ``v U[a, omega]``, so the
experiment is worth (Ravindranath, Jiang, Parkes 2023, Sec. 3; Bergemann, Bonatti, Smolin 2018)

    V(pi; theta, v) = v * sum_s max_a sum_omega theta_omega pi[omega, s] U[a, omega],

against the outside option ``v * max_a sum_omega theta_omega U[a, omega]`` of acting on the prior.
With ``n_signals == n_actions`` signal ``s`` *recommends* action ``s``; the experiment is obedient
for the buyer when following every recommendation is a best response, i.e. when the obedient value
``v * sum_s sum_omega theta_omega pi[omega, s] U[s, omega]`` equals ``V``. Their difference (>= 0)
is the obedience violation.

All functions are batched torch code (any device, differentiable in the experiments).
"""

from __future__ import annotations

import numpy as np
import torch

from econcs.datamarkets._types import Mixture, TypeGrid, parse_mixture, type_grid
from econcs.shared import check_array, check_int, check_tensor

__all__ = [
    "DataMarket",
    "best_posted_price",
    "experiment_value",
    "obedience_gap",
    "obedient_value",
    "prior_value",
]


def _experiments(experiments: torch.Tensor) -> torch.Tensor:
    """``(K, S, G)`` or ``(B, K, S, G)`` as ``(B or 1, K, S, G)``."""
    return experiments.unsqueeze(0) if experiments.dim() == 3 else experiments


def experiment_value(beliefs: torch.Tensor, experiments: torch.Tensor,
                     payoff: torch.Tensor) -> torch.Tensor:
    """Best-response value ``sum_s max_a sum_omega theta_omega pi[omega, s] U[a, omega]`` (v = 1).

    Parameters
    ----------
    beliefs
        ``(B, S)`` beliefs.
    experiments
        ``(K, S, G)`` one menu of experiments, or ``(B, K, S, G)`` one per buyer.
    payoff
        ``(A, S)`` payoff ``U[a, omega]``.

    Returns
    -------
    torch.Tensor
        ``(B, K)``; differentiable in ``experiments`` (subgradient of the max).

    >>> theta = torch.tensor([[0.25, 0.75]])
    >>> full, none = torch.eye(2), torch.full((2, 2), 0.5)
    >>> experiment_value(theta, torch.stack([full, none]), torch.eye(2)).tolist()
    [[1.0, 0.75]]
    """
    if experiments.dim() == 3:  # one menu: act = beliefs @ M, M[omega, (k, g, a)] small
        k, s, g = experiments.shape
        if payoff.shape[0] == 2:
            # max(x, y) = (x + y) / 2 + |x - y| / 2: a (B, K) and a (B, K G) product instead of
            # the (B, K, G, 2) tensor and its max (the training step's costliest backward)
            mid = 0.5 * (payoff[0] + payoff[1])  # (S,)
            half = 0.5 * (payoff[0] - payoff[1])
            base = beliefs @ (experiments.sum(dim=-1) * mid).T  # (B, K)
            spread = beliefs @ (experiments * half[:, None]).permute(1, 0, 2).reshape(s, k * g)
            return base + spread.abs().view(-1, k, g).sum(dim=-1)
        mat = experiments.permute(1, 0, 2).unsqueeze(-1) * payoff.T[:, None, None, :]
        act = (beliefs @ mat.reshape(s, -1)).view(-1, k * g, payoff.shape[0])
        # max(dim) rather than amax: its backward is a scatter, not a tie-counting mask
        return act.max(dim=-1).values.view(-1, k, g).sum(dim=-1)
    joint = beliefs[:, None, :, None] * experiments  # (B, K, S, G)
    act = torch.einsum("bksg,as->bkga", joint, payoff)  # (B, K, G, A)
    return act.amax(dim=-1).sum(dim=-1)


def obedient_value(beliefs: torch.Tensor, experiments: torch.Tensor,
                   payoff: torch.Tensor) -> torch.Tensor:
    """Value of following every recommendation: ``sum_s sum_omega theta pi[omega, s] U[s, omega]``.

    ``experiments`` ``(K, S, A)`` or ``(B, K, S, A)`` (one signal per action); returns ``(B, K)``.
    """
    joint = beliefs[:, None, :, None] * _experiments(experiments)
    return torch.einsum("bksa,as->bk", joint, payoff)


def obedience_gap(beliefs: torch.Tensor, experiments: torch.Tensor,
                  payoff: torch.Tensor) -> torch.Tensor:
    """``experiment_value - obedient_value >= 0``: what disobeying gains, ``(B, K)``."""
    return (experiment_value(beliefs, experiments, payoff)
            - obedient_value(beliefs, experiments, payoff)).clamp(min=0.0)


def prior_value(beliefs: torch.Tensor, payoff: torch.Tensor) -> torch.Tensor:
    """Outside option ``max_a sum_omega theta_omega U[a, omega]`` (v = 1), ``(B,)``."""
    return (beliefs @ payoff.T).amax(dim=-1)


def best_posted_price(gains, weights=None) -> tuple[float, float]:
    """The best single posted price for one experiment: ``max_p p * P(gain >= p)``.

    ``gains`` ``(T,)`` are the types' values of the experiment minus their outside option (for full
    information ``v (1 - max_omega theta_omega)`` with the identity payoff), ``weights`` their
    probabilities (default uniform: then ``gains`` can be a Monte Carlo sample). A buyer indifferent
    at the price buys. Returns ``(price, revenue)``.

    >>> price, revenue = best_posted_price([0.1, 0.3, 0.4])  # 0.3 sells to two of three
    >>> price, round(revenue, 12)
    (0.3, 0.2)
    """
    g = check_array(gains, "gains", ndim=1)
    w = (np.full(g.size, 1.0 / g.size) if weights is None
         else check_array(weights, "weights", ndim=1, shape=(g.size,)))
    if np.any(w < 0):
        raise ValueError("weights: expected nonnegative probabilities.")
    order = np.argsort(-g, kind="stable")
    rev = g[order] * np.cumsum(w[order])
    best = int(np.argmax(rev))
    return float(g[order][best]), float(rev[best])


class DataMarket:
    """One seller, one buyer with a private belief and value, finite states and actions.

    Parameters
    ----------
    n_states
        number of states ``S`` (>= 2).
    n_actions
        number of actions ``A`` (default ``n_states``); experiments have ``A`` signals.
    payoff
        ``(n_actions, n_states)`` payoff ``U[a, omega]``; default the identity (payoff 1 for
        matching the state), which needs ``n_actions == n_states``.
    belief
        spec of the belief (see :mod:`econcs.datamarkets._types`), default ``"uniform(0,1)"``.
    value
        spec of the value ``v``, or ``None`` for ``v = 1``.

    Examples
    --------
    >>> m = DataMarket(belief="uniform(0,1)")
    >>> theta, v = m.sample(3, generator=torch.Generator().manual_seed(0))
    >>> theta.shape, v.tolist()
    (torch.Size([3, 2]), [1.0, 1.0, 1.0])
    """

    def __init__(self, n_states: int = 2, n_actions: int | None = None, *,
                 payoff=None, belief: str = "uniform(0,1)", value: str | None = None) -> None:
        self.n_states = check_int(n_states, "n_states", low=2)
        self.n_actions = self.n_states if n_actions is None else check_int(n_actions, "n_actions",
                                                                            low=2)
        if payoff is None:
            if self.n_actions != self.n_states:
                raise ValueError(
                    f"payoff: the default identity payoff needs n_actions == n_states, got "
                    f"n_actions={self.n_actions}, n_states={self.n_states}; pass a "
                    f"({self.n_actions}, {self.n_states}) payoff matrix."
                )
            payoff = np.eye(self.n_states)
        self.payoff = check_array(payoff, "payoff", ndim=2, shape=(self.n_actions, self.n_states))
        self.payoff.setflags(write=False)
        dim = 1 if self.n_states == 2 else self.n_states
        self.belief: Mixture = parse_mixture(belief, dim, name="belief")
        if self.n_states == 2 and (self.belief.low < 0 or self.belief.high > 1):
            raise ValueError(
                f"belief: theta = P(state 1) must lie in [0, 1], but {belief!r} has support "
                f"[{self.belief.low:g}, {self.belief.high:g}]; truncate it, e.g. "
                f"'{belief}[0,1]'."
            )
        if self.n_states > 2 and self.belief.low < 0:
            raise ValueError(f"belief: state weights must be >= 0, but {belief!r} has support "
                             f"from {self.belief.low:g}.")
        self.value: Mixture | None = None
        if value is not None:
            self.value = parse_mixture(value, 1, name="value")
            if self.value.low < 0:
                raise ValueError(f"value: values must be >= 0, but {value!r} has support from "
                                 f"{self.value.low:g}.")

    def __repr__(self) -> str:
        v = None if self.value is None else self.value.spec
        return (f"DataMarket(n_states={self.n_states}, n_actions={self.n_actions}, "
                f"belief={self.belief.spec!r}, value={v!r})")

    def payoff_tensor(self, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(A, S)`` payoff as a tensor."""
        return torch.tensor(np.array(self.payoff), dtype=dtype, device=device)

    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None,
               dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` types: beliefs ``(n, S)`` and values ``(n,)``."""
        n = check_int(n, "n", low=1)
        raw = self.belief.sample(n, generator=generator, device=device, dtype=torch.float64)
        if self.n_states == 2:
            beliefs = torch.cat([1 - raw, raw], dim=1)
        else:
            beliefs = raw / raw.sum(dim=1, keepdim=True).clamp(min=1e-300)
        if self.value is None:
            values = torch.ones(n, dtype=torch.float64, device=beliefs.device)
        else:
            values = self.value.sample(n, generator=generator, device=device,
                                       dtype=torch.float64)[:, 0]
        return beliefs.to(dtype), values.to(dtype)

    def grid(self, n_beliefs: int, n_values: int = 1) -> TypeGrid:
        """The type grid of :func:`econcs.datamarkets.type_grid` (binary states only)."""
        if self.n_states != 2:
            raise ValueError(f"n_states: type grids are for binary states, got "
                             f"n_states={self.n_states}; pass a TypeGrid of your own.")
        if self.value is None and n_values != 1:
            raise ValueError(f"n_values: the value is fixed at 1, so n_values must be 1, got "
                             f"{n_values}.")
        return type_grid(self.belief, self.value, n_beliefs, n_values)

    def check_experiments(self, experiments) -> torch.Tensor:
        """Validate ``(K, S, A)`` row-stochastic experiments; returns a float64 tensor."""
        e = check_tensor(experiments, "experiments", ndim=3,
                         shape=(None, self.n_states, self.n_actions), dtype=torch.float64)
        if bool((e < -1e-9).any()) or float((e.sum(-1) - 1).abs().max()) > 1e-6:
            raise ValueError("experiments: expected rows pi[k, omega, :] that are probability "
                             "vectors (nonnegative, summing to 1).")
        return e
