"""Augmented Lagrangian method for constrained learning (Dütting et al. 2019, Sec. 4.2; Bertsekas 1982).

To maximise ``objective(theta)`` subject to ``g(theta) = 0`` with ``g >= 0`` (e.g. RegretNet's
per-bidder regrets), minimise over ``theta`` the augmented Lagrangian

    L(theta; lambda, rho) = -objective + sum_k lambda_k g_k + rho / 2 * sum_k g_k^2

by stochastic gradient steps, and every ``update_every`` steps update the multipliers
``lambda_k <- lambda_k + rho * g_k`` (averaged over the steps since the last update). The penalty
``rho`` grows by ``rho_increment`` every ``rho_every`` steps (RegretNet's schedule), up to ``rho_max``.

``AugmentedLagrangian`` holds ``lambda`` and ``rho`` and turns an objective and constraint values
into the loss; ``minimize_augmented_lagrangian`` is a complete trainer for a parameter list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch

from econcs.shared.callbacks import history_tuple
from econcs.shared.errors import DivergenceError
from econcs.shared.validation import check_float, check_int, check_tensor

__all__ = ["ALResult", "AugmentedLagrangian", "minimize_augmented_lagrangian"]


class AugmentedLagrangian:
    """Multipliers and penalty of the augmented Lagrangian for ``n_constraints`` constraints ``g = 0``.

    Parameters
    ----------
    n_constraints
        number of constraints ``K``.
    rho
        initial quadratic penalty (> 0).
    lambda_init
        initial multipliers (RegretNet: 5).
    update_every
        steps between multiplier updates.
    rho_increment, rho_every
        ``rho += rho_increment`` every ``rho_every`` steps.
    rho_max
        cap on ``rho`` (``None``: no cap).
    """

    def __init__(
        self,
        n_constraints: int,
        *,
        rho: float = 1.0,
        lambda_init: float = 0.0,
        update_every: int = 100,
        rho_increment: float = 0.0,
        rho_every: int = 10_000,
        rho_max: float | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.n_constraints = check_int(n_constraints, "n_constraints", low=1)
        rho = check_float(rho, "rho", low=0.0, low_inclusive=False)
        lambda_init = check_float(lambda_init, "lambda_init")
        self.update_every = check_int(update_every, "update_every", low=1)
        self.rho_increment = check_float(rho_increment, "rho_increment", low=0.0)
        self.rho_every = check_int(rho_every, "rho_every", low=1)
        self.rho_max = None if rho_max is None else check_float(rho_max, "rho_max", low=rho)
        self.lambdas = torch.full((self.n_constraints,), lambda_init, device=device, dtype=dtype)
        self._half_rho = torch.empty((), device=device, dtype=dtype)  # rho / 2, read by loss
        self.rho = rho
        self.steps = 0
        self._g_sum = torch.zeros_like(self.lambdas)
        self._g_count = 0

    @property
    def rho(self) -> float:
        """The current penalty (a float; :meth:`loss` reads ``rho / 2`` from a device tensor)."""
        return self._rho

    @rho.setter
    def rho(self, value: float) -> None:
        self._rho = float(value)
        # in place (a recorded CUDA graph reads it), rounded on the host as a Python float
        # multiplying the tensor would be (beyond the dtype's range: inf, where fill_ raises)
        half = torch.tensor(0.5 * self._rho, dtype=torch.float64).to(self._half_rho.dtype)
        self._half_rho.fill_(half.item())

    def loss(self, objective: torch.Tensor, constraints: torch.Tensor) -> torch.Tensor:
        """``-objective + lambda . g + rho/2 |g|^2``; ``objective`` scalar, ``constraints`` ``(K,)``.

        Sync-free: ``lambda`` and ``rho / 2`` are read from tensors that :meth:`step` and
        :meth:`load_state_dict` update in place, so the loss can be recorded once into a CUDA
        graph and replayed while they change.
        """
        g = constraints.reshape(-1)
        if g.shape[0] != self.n_constraints:
            raise ValueError(
                f"constraints: expected {self.n_constraints} values, got shape {tuple(constraints.shape)}."
            )
        lam = self.lambdas.to(g.device, g.dtype)
        half_rho = self._half_rho.to(g.device, g.dtype)
        return -objective + (lam * g).sum() + half_rho * (g * g).sum()

    def step(self, constraints: torch.Tensor) -> None:
        """Record this step's constraint values (detached) and apply the scheduled updates."""
        g = constraints.detach().reshape(-1).to(self._g_sum)
        self._g_sum += g
        self._g_count += 1
        self.steps += 1
        if self.steps % self.update_every == 0:
            self.lambdas += self.rho * self._g_sum / self._g_count
            self._g_sum.zero_()
            self._g_count = 0
        if self.rho_increment and self.steps % self.rho_every == 0:
            self.rho += self.rho_increment
            if self.rho_max is not None:
                self.rho = min(self.rho, self.rho_max)

    def state_dict(self) -> dict:
        return {
            "lambdas": self.lambdas.clone(),
            "rho": self.rho,
            "steps": self.steps,
            "g_sum": self._g_sum.clone(),
            "g_count": self._g_count,
        }

    def load_state_dict(self, state: dict) -> None:
        shape = tuple(state["lambdas"].shape)
        if shape != (self.n_constraints,):
            raise ValueError(f"state: expected {self.n_constraints} multipliers, got shape {shape}.")
        self.lambdas.copy_(state["lambdas"])  # in place, as the updates (see loss)
        self.rho = float(state["rho"])
        self.steps = int(state["steps"])
        self._g_sum.copy_(state["g_sum"])
        self._g_count = int(state["g_count"])


@dataclasses.dataclass(frozen=True)
class ALResult:
    """Result of ``minimize_augmented_lagrangian``: final objective and constraint values,
    multipliers, the number of iterations and a ``history`` of
    ``{"step", "objective", "max_violation"}`` dicts (every ``log_every`` steps and the last)."""

    objective: float
    constraints: torch.Tensor
    lambdas: torch.Tensor
    iterations: int
    history: tuple[dict[str, float], ...]


def minimize_augmented_lagrangian(
    params: Sequence[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    constraints: Callable[[], torch.Tensor],
    *,
    max_iter: int = 5000,
    lr: float = 1e-2,
    rho: float = 1.0,
    lambda_init: float = 0.0,
    update_every: int = 50,
    rho_increment: float = 0.0,
    rho_every: int = 1000,
    log_every: int = 100,
) -> ALResult:
    """Maximise ``objective()`` subject to ``constraints() == 0`` over ``params`` with Adam.

    ``objective`` returns a scalar tensor, ``constraints`` a tensor ``(K,)``; both are recomputed
    from ``params`` at each step. Raises ``econcs.shared.DivergenceError`` if the
    loss becomes NaN or infinite.
    """
    params = list(params)
    max_iter = check_int(max_iter, "max_iter", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    g0 = check_tensor(constraints(), "constraints()", ndim=(0, 1), finite=False)
    al = AugmentedLagrangian(
        g0.numel(),
        rho=rho,
        lambda_init=lambda_init,
        update_every=update_every,
        rho_increment=rho_increment,
        rho_every=rho_every,
        device=g0.device,
        dtype=g0.dtype,
    )
    opt = torch.optim.Adam(params, lr=lr)
    history = []
    for it in range(1, max_iter + 1):
        opt.zero_grad(set_to_none=True)
        obj, g = objective(), constraints().reshape(-1)
        loss = al.loss(obj, g)
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"augmented Lagrangian diverged at iteration {it}: loss {loss.item()}."
            )
        loss.backward()
        opt.step()
        al.step(g)
        if it % log_every == 0 or it == max_iter:
            history.append({"step": it, "objective": float(obj.detach()),
                            "max_violation": float(g.detach().abs().max())})
    with torch.no_grad():
        obj, g = objective(), constraints().reshape(-1)
    return ALResult(float(obj), g.detach(), al.lambdas.clone(), max_iter, history_tuple(history))
