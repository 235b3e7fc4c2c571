"""The one-step tax economy of a Social Environment Design principal: skills, labour, a tax, a rebate.

Zhang et al. (ICML 2024, arXiv 2402.14090) take the AI Economist (Zheng et al. 2022) as their
running example of an economy a principal designs. Here its one-step core: agent ``i`` with skill
``s_i`` works ``l_i`` hours, earns ``y_i = s_i l_i`` and pays tax ``T(y_i)``; the revenue
``R = sum_i T(y_i)`` is rebated equally, so

    u_i = s_i l_i - T(s_i l_i) - c l_i^2 + R / n.

``T`` is linear (``phi = (t,)``) or a bracket tax (``phi`` = one marginal rate per bracket,
``cutoffs`` the income brackets' lower bounds above 0), every rate in [0, 1].

The rebate is lump-sum, paid from the revenue of the *previous* tax period (as the AI Economist
redistributes at the end of a period): an agent's labour does not change its own rebate, its best
response to a linear tax is ``l* = (1 - t) s / (2c)`` and, in the stationary state, its utility is the
formula above. With it, for a linear tax (``S2 = mean(s^2)``): revenue is maximised at ``t = 1/2``,
the utilitarian optimum is ``t* = 0`` and the maximin optimum ``t* = (S2 - s_min^2) / (2 S2 -
s_min^2)`` (13/28 for skills [1, 2, 3, 4]).

Every method is vectorised: ``labour (..., n_agents)``, ``phi (..., n_rates)``.
"""

from __future__ import annotations

import numpy as np
import torch

from econcs.shared.validation import check_array, check_float

__all__ = ["TaxEconomy", "check_rates"]


def check_rates(phi, name: str = "tax") -> torch.Tensor:
    """``phi`` as a float tensor with every entry in [0, 1] (a clear ``ValueError`` otherwise)."""
    t = torch.as_tensor(phi)
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()) or bool((t > 1).any()):
        raise ValueError(f"{name}: expected tax rates in [0, 1], got {t.flatten()[:8].tolist()}.")
    return t


class TaxEconomy:
    """Heterogeneous skills, quadratic effort cost, a linear or bracket income tax, equal rebate.

    Parameters
    ----------
    skills
        (n_agents,) positive skills ``s_i``.
    cost
        the effort cost ``c > 0`` in ``c l^2``.
    cutoffs
        () for a linear tax, else the increasing lower income bounds (> 0) of brackets 2, 3, ...;
        ``phi`` then holds ``len(cutoffs) + 1`` marginal rates.

    Examples
    --------
    >>> eco = TaxEconomy([1.0, 2.0, 3.0, 4.0], cost=0.5)
    >>> eco.best_response([0.5]).tolist()  # (1 - t) s / (2c)
    [0.5, 1.0, 1.5, 2.0]
    >>> round(eco.maximin_tax(), 6), 13 / 28
    (0.464286, 0.4642857142857143)
    """

    def __init__(self, skills, cost: float = 0.5, cutoffs=()) -> None:
        s = check_array(skills, "skills", ndim=1)
        if np.any(s <= 0):
            raise ValueError(f"skills: expected positive skills, got {s.tolist()}.")
        self.skills = torch.as_tensor(s)
        self.n_agents = int(s.shape[0])
        #: what each agent observes of itself (its skill)
        self.agent_types = self.skills
        self.cost = check_float(cost, "cost", low=0.0, low_inclusive=False)
        b = check_array(cutoffs, "cutoffs", ndim=1, non_empty=False)
        if b.size and (np.any(b <= 0) or np.any(np.diff(b) <= 0)):
            raise ValueError(f"cutoffs: expected increasing positive bracket bounds, got "
                             f"{b.tolist()}.")
        self.cutoffs = torch.as_tensor(b)
        self.n_params = int(b.size) + 1
        #: each agent's action bound: twice its untaxed best response ``s / (2c)``
        self.action_high = self.skills / self.cost

    # taxes ---------------------------------------------------------------------------------------
    def _check_phi(self, phi) -> torch.Tensor:
        t = check_rates(phi, "tax")
        if t.ndim == 0 or t.shape[-1] != self.n_params:
            raise ValueError(f"tax: expected a last axis of {self.n_params} rate(s), got shape "
                             f"{tuple(t.shape)}.")
        return t

    def _edges(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = torch.cat([torch.zeros(1, dtype=like.dtype, device=like.device),
                         self.cutoffs.to(like)])
        high = torch.cat([self.cutoffs.to(like),
                          torch.full((1,), torch.inf, dtype=like.dtype, device=like.device)])
        return low, high

    def tax(self, income, phi) -> torch.Tensor:
        """Tax due on ``income (..., n)`` under rates ``phi (..., n_rates)``: ``(..., n)``."""
        y = torch.as_tensor(income)
        return self._due(y, self._check_phi(phi).to(y)[..., None, :])

    def _due(self, y: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """Tax on ``y`` with ``rates`` broadcast against ``(*y.shape, n_rates)``."""
        low, high = self._edges(y)
        inside = (y[..., None].clamp(min=0) - low).clamp(min=0).minimum(high - low)
        return (inside * rates).sum(-1)

    # payoffs -------------------------------------------------------------------------------------
    def step(self, labour, phi, rebate=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One tax period: rewards ``(..., n)`` and the period's revenue ``(...)``.

        The reward is ``s l - T(s l) - c l^2`` plus ``rebate`` (the previous period's revenue
        divided by ``n``; 0 when None).
        """
        lab = torch.as_tensor(labour)
        if lab.ndim == 0 or lab.shape[-1] != self.n_agents:
            raise ValueError(f"labour: expected a last axis of n_agents={self.n_agents}, got "
                             f"shape {tuple(lab.shape)}.")
        s = self.skills.to(lab)
        y = s * lab
        due = self.tax(y, phi)
        reward = y - due - self.cost * lab**2
        if rebate is not None:
            reward = reward + torch.as_tensor(rebate).to(lab)[..., None]
        return reward, due.sum(-1) / self.n_agents

    def outcome(self, labour, phi) -> dict[str, torch.Tensor]:
        """The stationary outcome of ``labour`` (the rebate from this period's own revenue).

        Returns ``utility``, ``income`` (post-tax income plus rebate, the AI Economist's coin),
        both ``(..., n)``; ``revenue`` and ``productivity`` (total pre-tax income), ``(...)``.
        """
        lab = torch.as_tensor(labour)
        private, rebate = self.step(lab, phi)
        y = self.skills.to(lab) * lab
        due = self.tax(y, phi)
        return {"utility": private + rebate[..., None],
                "income": y - due + rebate[..., None],
                "revenue": rebate * self.n_agents, "productivity": y.sum(-1)}

    def best_response(self, phi) -> torch.Tensor:
        """Each agent's exact best response ``(..., n)`` to rates ``phi (..., n_rates)``.

        In each bracket the payoff ``y - T(y) - c y^2 / s^2`` is a concave quadratic in income
        ``y``, maximised at ``(1 - rate) s^2 / (2c)`` clipped to the bracket; the best of the
        brackets is the best response (any rates, progressive or not).
        """
        rates = self._check_phi(phi)
        s = self.skills.to(rates)
        low, high = self._edges(rates)
        y = ((1 - rates[..., None, :]) * (s**2)[:, None] / (2 * self.cost))
        y = y.clamp(min=low, max=high)  # (..., n, brackets)
        lab = y / s[:, None]
        value = y - self._due(y, rates[..., None, None, :]) - self.cost * lab**2
        best = value.argmax(-1, keepdim=True)
        return lab.gather(-1, best).squeeze(-1)

    # closed forms (linear tax) -------------------------------------------------------------------
    def _s2(self) -> tuple[float, float]:
        s = self.skills.numpy()
        return float(np.mean(s**2)), float(s.min())

    def maximin_tax(self) -> float:
        """The linear tax maximising the worst-off agent's utility: ``(S2 - s_min^2) / (2 S2 -
        s_min^2)``, ``S2 = mean(s^2)``."""
        s2, smin = self._s2()
        return (s2 - smin**2) / (2 * s2 - smin**2)

    @staticmethod
    def revenue_maximising_tax() -> float:
        """The linear tax maximising revenue ``t (1 - t) sum s^2 / (2c)``: 1/2."""
        return 0.5

    @staticmethod
    def utilitarian_tax() -> float:
        """The linear tax maximising total utility ``n S2 (1 - t^2) / (4c)``: 0."""
        return 0.0
