"""Independent policy-gradient agents that learn their best responses in a static economy.

The agents of a Social Environment Design round (Zhang et al., ICML 2024, Def. 3.3) learn in the
economy the principal's ``phi`` induces; they are not given their best responses. Each agent keeps,
for every candidate ``phi`` it may observe (a *context*: the policy is tabular in the observed
``phi``), a Gaussian policy over its action (labour, investment) with a learned mean and a fixed
exploration width, and follows REINFORCE (Williams 1992) from its own rewards only, with mirrored
sampling (each perturbation played with both signs, in two economies; the pair's mean reward is
the baseline; Brockhoff et al. 2010) and ``torch.optim.Adam`` (one parameter per context in one
fused group: each context keeps its own moments and step count, and its step is scaled to its own
decaying step size). ``batch_size`` economies are played in parallel, every context at once:
one learning step is one period of ``(n_contexts, batch_size)`` economies, each paying the
lump-sum rebate of its own previous period. Independent gradient play converges to the best
response in the tax economy (a decision problem for each agent once the rebate is lagged) and to
the unique Nash equilibrium of the common-pool resource game (strictly diagonally concave).
Actions are clipped to their bounds, so a best response on a bound (no labour under a tax near 1)
is learned with a small bias.
"""

from __future__ import annotations

import dataclasses

import torch

from econcs.shared import DivergenceError, Params, make_generator, param
from econcs.shared.validation import check_int, check_tensor

__all__ = ["AgentLearnerParams", "IndependentLearners"]


@dataclasses.dataclass(frozen=True)
class AgentLearnerParams(Params):
    """Learning parameters of :class:`IndependentLearners`."""

    batch_size: int = param(64, "economies played in parallel per learning step (an even "
                            "number: mirrored pairs)", low=2)
    lr: float = param(0.03, "Adam step on the action mean (in shares of the action range)",
                      low=0.0, low_inclusive=False)
    sigma: float = param(0.03, "exploration std, a share of the action range", low=0.0,
                         low_inclusive=False)
    init: float = param(0.3, "initial action mean, a share of the action range", low=0.0,
                        high=1.0)
    lr_decay: float = param(100.0, "the step decays as lr / sqrt(1 + updates / lr_decay)",
                            low=0.0, low_inclusive=False)
    rebate_baseline: bool = param(True, "subtract the rebate received (a lump-sum transfer, "
                                  "independent of the action) from the reward before the baseline")
    beta2: float = param(0.99, "Adam's second-moment decay", low=0.0, high=1.0,
                         high_inclusive=False)


    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size % 2:
            raise ValueError(f"batch_size: expected an even number (mirrored pairs), got "
                             f"{self.batch_size}.")

class IndependentLearners:
    """Tabular-in-``phi`` Gaussian policy-gradient learners, one per agent, vectorised.

    Parameters
    ----------
    economy
        a :class:`~econcs.contracts.social.TaxEconomy` or
        :class:`~econcs.contracts.social.CommonPoolResource`.
    contexts
        (n_contexts, n_params) the candidate ``phi`` the agents may face.
    params
        an :class:`AgentLearnerParams` (or keyword overrides of it).
    seed, generator
        the sampling generator (``generator`` wins when given).
    device, dtype
        where the learners live (float32 by default).
    """

    def __init__(self, economy, contexts, params: AgentLearnerParams | None = None, /, *,
                 seed: int = 0, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 **overrides) -> None:
        from econcs.shared import resolve_params

        self.params = resolve_params(AgentLearnerParams, params, **overrides)
        self.economy = economy
        self.device = torch.device(device)
        self.dtype = dtype
        phi = check_tensor(torch.as_tensor(contexts, dtype=torch.float64), "contexts", ndim=2)
        economy.step(torch.zeros(phi.shape[0], economy.n_agents, dtype=torch.float64), phi)
        self.contexts = phi.to(self.device, dtype)
        self.generator = generator if generator is not None else \
            make_generator(check_int(seed, "seed", low=0), self.device)
        n_ctx, n = phi.shape[0], economy.n_agents
        self.high = economy.action_high.to(self.device, dtype)
        # one parameter per context (the action mean, in shares of the action range; each a view
        # of one row of ``_flat``) in one fused Adam group: the contexts are pulled unevenly and a
        # parameter without a gradient is skipped, so each keeps its own moments and step count
        self._flat = torch.full((n_ctx, n), self.params.init, device=self.device, dtype=dtype)
        self._means = [self._flat[i].detach().requires_grad_() for i in range(n_ctx)]
        fast = {"fused": True} if self.device.type in ("cpu", "cuda") else {"foreach": True}
        self.optimizer = torch.optim.Adam(self._means, lr=self.params.lr,
                                          betas=(0.9, self.params.beta2), eps=1e-8,
                                          maximize=True, **fast)
        self.updates = torch.zeros(n_ctx, device=self.device, dtype=torch.long)
        self.rebate = torch.zeros(n_ctx, self.params.batch_size, device=self.device, dtype=dtype)
        self.steps = 0

    def actions(self, idx=None) -> torch.Tensor:
        """The learned (mean) actions ``(len(idx), n_agents)`` in the contexts ``idx`` (all)."""
        idx = self._idx(idx)
        return self.mean[idx] * self.high

    @property
    def mean(self) -> torch.Tensor:
        """(n_contexts, n_agents) the action means, in shares of the action range (a copy)."""
        return self._flat.clone()

    def _idx(self, idx) -> torch.Tensor:
        if idx is None:
            return torch.arange(self.contexts.shape[0], device=self.device)
        return torch.as_tensor(idx, device=self.device, dtype=torch.long).reshape(-1)

    def learn(self, idx=None, steps: int = 1) -> torch.Tensor:
        """``steps`` learning periods in the contexts ``idx`` (default: all); returns the last
        period's sampled actions ``(len(idx), batch_size, n_agents)``."""
        idx = self._idx(idx)
        steps = check_int(steps, "steps", low=1)
        p = self.params
        phi = self.contexts[idx][:, None, :].expand(-1, p.batch_size, -1)
        chosen = [self._means[i] for i in idx.tolist()]
        h = p.batch_size // 2
        for _ in range(steps):
            mean = self._flat[idx]
            half = torch.randn(len(idx), h, self.economy.n_agents,
                               generator=self.generator, device=self.device, dtype=self.dtype)
            noise = torch.cat([half, -half], dim=1)  # mirrored pairs of economies
            share = (mean[:, None, :] + p.sigma * noise).clamp(0.0, 1.0)
            act = share * self.high
            paid = self.rebate[idx]
            reward, revenue = self.economy.step(act, phi, paid)
            self.rebate[idx] = revenue.to(self.dtype)
            if p.rebate_baseline:
                # the rebate is a lump-sum transfer for last period, independent of this
                # period's action: subtracting it (a control variate) keeps the estimate unbiased
                reward = reward - paid[..., None]
            # each pair's mean reward is its baseline: (r+ - r-) / 2 * eps / sigma
            grad = ((reward[:, :h] - reward[:, h:]) / 2 * half).mean(1) / p.sigma
            grad = grad.to(self.dtype)
            for m, g in zip(chosen, grad):
                m.grad = g
            self.optimizer.step()  # at lr; each context's step is then scaled to its own lr
            with torch.no_grad():
                decay = (1 + self.updates[idx].to(self.dtype) / p.lr_decay).rsqrt()[:, None]
                self._flat[idx] = (mean + decay * (self._flat[idx] - mean)).clamp(0.0, 1.0)
            for m in chosen:
                m.grad = None
            self.updates[idx] += 1
            self.steps += 1
        if not bool(torch.isfinite(self.mean).all()):
            raise DivergenceError(f"IndependentLearners: a NaN action mean after {self.steps} "
                                  "steps; lower lr.")
        return act

    def observe(self, objective, arms, steps: int):
        """The principal's measurement: learn ``steps`` periods in ``arms``, then ``objective``
        of the last period's play, averaged over the batch: ``(len(arms),)`` numpy."""
        act = self.learn(arms, steps)
        phi = self.contexts[arms][:, None, :].expand(-1, act.shape[1], -1)
        out = self.economy.outcome(act.double(), phi.double())
        return objective(out["utility"], out["income"]).mean(1).cpu().numpy()

    def state_dict(self) -> dict:
        """The full state (``load_state_dict`` continues from it)."""
        return {"mean": self.mean.clone(), "optimizer": self.optimizer.state_dict(),
                "updates": self.updates.clone(), "rebate": self.rebate.clone(),
                "steps": self.steps, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self._flat.copy_(torch.as_tensor(state["mean"]))
        self.optimizer.load_state_dict(state["optimizer"])
        for k in ("updates", "rebate"):
            getattr(self, k).copy_(torch.as_tensor(state[k]))
        self.steps = int(state["steps"])
        self.generator.set_state(torch.as_tensor(state["generator"]).cpu())
