"""A static common-pool resource game with a Pigouvian tax (Ostrom, Gardner and Walker 1994).

Each of ``n`` agents splits an endowment ``e`` between a safe asset paying ``w`` per unit and a
common pool; a total investment ``X`` returns ``a X - b X^2``, shared in proportion to what each
put in. With a tax ``tau`` per unit invested (rebated equally, as in the tax economy, from the
previous period's revenue so that it does not change the marginal incentive), agent ``i`` earns

    u_i = w (e - x_i) + x_i (a - b X) - tau x_i + tau X / n.

Its best response to the others' ``X_{-i}`` is ``x_i = (a - w - tau - b X_{-i}) / (2b)``; the
symmetric Nash equilibrium invests ``X = n (a - w - tau) / (b (n + 1))`` in total, the group
optimum ``X* = (a - w) / (2b)``, and the Pigouvian tax ``tau* = (a - w) (n - 1) / (2n)`` moves the
Nash outcome to ``X*``. Zhang et al. (ICML 2024, arXiv 2402.14090) name the tax on a commons as a
principal's lever; with ``n = 8, a = 23, b = 1/4, w = 5``: Nash 64 (8 each), optimum 36,
``tau* = 7.875``.

Every method is vectorised: ``invest (..., n_agents)``, ``phi (..., 1)``.
"""

from __future__ import annotations

import torch

from econcs.shared.validation import check_float, check_int

__all__ = ["CommonPoolResource"]


class CommonPoolResource:
    """The common-pool resource game; ``phi = (tau,)`` the tax per unit invested.

    Parameters
    ----------
    n_agents
        players ``n >= 1``.
    endowment
        each player's tokens ``e`` (the action bound).
    a, b, w
        the pool's return ``a X - b X^2`` and the safe asset's return ``w`` per token
        (``a > w``, ``b > 0``).
    max_tax
        the largest tax the principal may set (default ``a - w``, which stops all investment).

    Examples
    --------
    >>> cpr = CommonPoolResource()
    >>> cpr.nash_total(), cpr.optimal_total(), cpr.pigouvian_tax()
    (64.0, 36.0, 7.875)
    """

    def __init__(self, n_agents: int = 8, endowment: float = 25.0, a: float = 23.0,
                 b: float = 0.25, w: float = 5.0, max_tax: float | None = None) -> None:
        self.n_agents = check_int(n_agents, "n_agents", low=1)
        self.endowment = check_float(endowment, "endowment", low=0.0, low_inclusive=False)
        self.b = check_float(b, "b", low=0.0, low_inclusive=False)
        self.w = check_float(w, "w", low=0.0)
        self.a = check_float(a, "a", low=self.w, low_inclusive=False)
        self.max_tax = check_float(self.a - self.w if max_tax is None else max_tax, "max_tax",
                                   low=0.0)
        self.n_params = 1
        self.action_high = torch.full((self.n_agents,), self.endowment, dtype=torch.float64)
        #: what each agent observes of itself (its endowment)
        self.agent_types = self.action_high

    def _check_phi(self, phi) -> torch.Tensor:
        t = torch.as_tensor(phi)
        if not t.is_floating_point():
            t = t.to(torch.float64)
        if t.ndim == 0 or t.shape[-1] != 1:
            raise ValueError(f"tax: expected a last axis of 1 rate, got shape {tuple(t.shape)}.")
        if (not bool(torch.isfinite(t).all()) or bool((t < 0).any())
                or bool((t > self.max_tax).any())):
            raise ValueError(f"tax: expected taxes in [0, {self.max_tax:g}], got "
                             f"{t.flatten()[:8].tolist()}.")
        return t

    def step(self, invest, phi, rebate=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One period: rewards ``(..., n)`` (with ``rebate`` added, the previous period's revenue
        over ``n``) and this period's revenue over ``n`` ``(...)``."""
        x = torch.as_tensor(invest)
        if x.ndim == 0 or x.shape[-1] != self.n_agents:
            raise ValueError(f"invest: expected a last axis of n_agents={self.n_agents}, got "
                             f"shape {tuple(x.shape)}.")
        tau = self._check_phi(phi).to(x)
        total = x.sum(-1, keepdim=True)
        reward = self.w * (self.endowment - x) + x * (self.a - self.b * total) - tau * x
        if rebate is not None:
            reward = reward + torch.as_tensor(rebate).to(x)[..., None]
        return reward, (tau * total).squeeze(-1) / self.n_agents

    def outcome(self, invest, phi) -> dict[str, torch.Tensor]:
        """Stationary outcome: ``utility`` / ``income`` ``(..., n)`` (the same here),
        ``revenue``, ``productivity`` (the pool's net return ``a X - b X^2 - w X``), ``(...)``."""
        x = torch.as_tensor(invest)
        private, rebate = self.step(x, phi)
        u = private + rebate[..., None]
        total = x.sum(-1)
        return {"utility": u, "income": u, "revenue": rebate * self.n_agents,
                "productivity": self.a * total - self.b * total**2 - self.w * total,
                "total_investment": total}

    def best_response(self, phi) -> torch.Tensor:
        """The symmetric Nash equilibrium investments ``(..., n)`` under tax ``phi (..., 1)``
        (unique: the game is strictly diagonally concave); clipped to ``[0, e]``."""
        tau = self._check_phi(phi)
        each = (self.a - self.w - tau) / (self.b * (self.n_agents + 1))
        return each.clamp(0.0, self.endowment).expand(*tau.shape[:-1], self.n_agents).clone()

    def nash_total(self, tax: float = 0.0) -> float:
        """Total Nash investment ``n (a - w - tau) / (b (n + 1))`` (interior case)."""
        return float(self.best_response(torch.tensor([float(tax)], dtype=torch.float64)).sum())

    def optimal_total(self) -> float:
        """The group optimum ``(a - w) / (2b)`` of ``a X - b X^2 - w X``."""
        return (self.a - self.w) / (2 * self.b)

    def pigouvian_tax(self) -> float:
        """The tax whose Nash equilibrium is the group optimum: ``(a - w) (n - 1) / (2n)``."""
        return (self.a - self.w) * (self.n_agents - 1) / (2 * self.n_agents)
