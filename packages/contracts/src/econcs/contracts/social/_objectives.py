"""Social-welfare objectives the agents vote over, and the inequality measures reported per round.

Zhang et al. (ICML 2024, arXiv 2402.14090), Sec. 3: utilitarian (the sum of utilities), Nash (the
geometric mean), egalitarian (the minimum) and the paper's Apple-Picking objective
``eta * sum + (1 - eta) * min``; and the AI Economist's ``equality x productivity`` (Zheng et al.
2022), with equality ``1 - Gini`` in the ``n / (n - 1)`` normalisation (so that one agent holding
everything has Gini 1). Every function is vectorised over leading batch dimensions: the last axis
is the agents'.
"""

from __future__ import annotations

import dataclasses

import torch

from econcs.shared.validation import check_choice, check_float

__all__ = ["OBJECTIVES", "Objective", "gini", "objective_value"]

#: the objectives by name (``eta_mix`` needs ``eta``)
OBJECTIVES = ("utilitarian", "nash", "egalitarian", "eta_mix", "equality_productivity")


def _as_tensor(x) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if t.is_floating_point() else t.to(torch.float64)


def gini(x) -> torch.Tensor:
    """Gini coefficient over the last axis, ``sum_ij |x_i - x_j| / (2 n (n - 1) mean(x))``.

    ``x`` (..., n_agents), non-negative; 0 for equal values, 1 when one agent holds everything
    (the ``n / (n - 1)`` normalisation of the AI Economist); 0 when the total is 0.

    >>> float(gini([0.0, 0.0, 0.0, 4.0]))
    1.0
    >>> float(gini([1.0, 1.0, 1.0]))
    0.0
    """
    x = _as_tensor(x)
    n = x.shape[-1]
    if n < 2:
        return torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
    diff = (x[..., :, None] - x[..., None, :]).abs().sum((-1, -2))
    total = x.sum(-1)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, diff / (2 * (n - 1) * safe), torch.zeros_like(total))


@dataclasses.dataclass(frozen=True)
class Objective:
    """A social-welfare objective, by name (one of :data:`OBJECTIVES`).

    Calling it on utilities ``(..., n_agents)`` gives the welfare ``(...)``:

    - ``utilitarian``: ``sum_i u_i``;
    - ``nash``: ``(prod_i u_i) ** (1 / n)``, 0 when some ``u_i <= 0``;
    - ``egalitarian``: ``min_i u_i``;
    - ``eta_mix``: ``eta * sum_i u_i + (1 - eta) * min_i u_i`` (the paper's objective);
    - ``equality_productivity``: ``(1 - gini(x)) * sum_i x_i``, of ``incomes`` when given
      (the AI Economist's coin), else of the utilities.

    >>> Objective("eta_mix", eta=0.5)([1.0, 3.0]).item()
    2.5
    >>> Objective("nash")([1.0, 4.0]).item()
    2.0
    """

    name: str
    eta: float | None = None

    def __post_init__(self) -> None:
        check_choice(self.name, "objective", OBJECTIVES)
        if self.name == "eta_mix":
            if self.eta is None:
                raise ValueError("eta: the eta_mix objective needs eta in [0, 1], got None.")
            object.__setattr__(self, "eta", check_float(self.eta, "eta", low=0.0, high=1.0))
        elif self.eta is not None:
            raise ValueError(f"eta: only the eta_mix objective takes eta, got eta={self.eta} "
                             f"for {self.name!r}.")

    @property
    def label(self) -> str:
        """The name, with eta for ``eta_mix`` (``eta_mix(0.25)``)."""
        return f"eta_mix({self.eta:g})" if self.name == "eta_mix" else self.name

    def __call__(self, utilities, incomes=None) -> torch.Tensor:
        u = _as_tensor(utilities)
        if self.name == "utilitarian":
            return u.sum(-1)
        if self.name == "egalitarian":
            return u.min(-1).values
        if self.name == "eta_mix":
            return self.eta * u.sum(-1) + (1 - self.eta) * u.min(-1).values
        if self.name == "nash":
            pos = (u > 0).all(-1)
            logs = torch.log(torch.where(u > 0, u, torch.ones_like(u))).mean(-1)
            return torch.where(pos, logs.exp(), torch.zeros_like(logs))
        x = u if incomes is None else _as_tensor(incomes)
        return (1 - gini(x)) * x.sum(-1)


def objective_value(name: str, utilities, incomes=None, *, eta: float | None = None) -> float:
    """The welfare of one profile of utilities ``(n_agents,)`` under objective ``name``.

    >>> objective_value("egalitarian", [2.0, 1.0, 3.0])
    1.0
    """
    return float(Objective(name, eta)(utilities, incomes))
