"""The Bayes-optimal denoiser of a finite Dec-POMDP's posterior: the ideal model of Sec. 4.

Given a history ``h``, the state's features are ``f_s`` with probability ``p(s | h)`` (the exact
posterior of :meth:`TabularDecPOMDP.posterior`), and the minimum-MSE noise prediction is in closed
form: ``x_t ~ N(sqrt(ab) f_s, (1 - ab) I)`` gives ``E[x_0 | x_t] = sum_s w_s f_s`` with
``w_s`` proportional to ``p(s | h) exp(-|x_t - sqrt(ab) f_s|^2 / (2 (1 - ab)))``, and
``E[eps | x_t] = (x_t - sqrt(ab) E[x_0 | x_t]) / sqrt(1 - ab)``. :class:`ExactDiffusion` plugs this
into the same sampler and fixed-point code as a learned model: the limit a learned model tends to,
and the ground truth the fixed-point and composite theory tests check.
"""

from __future__ import annotations

import numpy as np
import torch

from econcs.decpomdp_diffusion._dec_pomdp import TabularDecPOMDP
from econcs.decpomdp_diffusion._diffusion import ConditionalDiffusion
from econcs.shared import check_int, check_type

__all__ = ["ExactDiffusion"]


class ExactDiffusion(ConditionalDiffusion):
    """The exact denoiser of ``p(s | agent's history)`` (``agent=None``: the joint history).

    Its :meth:`context` is the posterior itself, (batch, n_states); histories may have any length.

    >>> from econcs.decpomdp_diffusion import make_env
    >>> env = make_env("sensor")
    >>> hist = env.collect(4, 2)
    >>> model = ExactDiffusion(env, None)
    >>> x = model.sample(model.context(hist.obs, hist.actions), generator=torch.Generator())
    >>> bool((env.nearest_state(x.numpy()) == hist.states[:, -1]).all())
    True
    """

    def __init__(self, env: TabularDecPOMDP, agent: int | None, *, n_steps: int = 50,
                 policy=None):
        check_type(env, "env", TabularDecPOMDP)
        if agent is not None:
            agent = env.check_agent(agent)
        n_steps = check_int(n_steps, "n_steps", low=2)
        super().__init__(n_obs=env.n_obs, n_actions=env.n_actions, state_dim=env.state_dim,
                         n_agents_in=1 if agent is not None else env.n_agents, hidden=1,
                         layers=1, n_steps=n_steps,
                         meta={"env": env.name, "agent": agent, "horizon": None})
        self.env = env
        self.agent = agent
        self.policy = env.check_policy(policy)
        self.register_buffer("feats", torch.as_tensor(env.features, dtype=torch.float32),
                             persistent=False)

    def context(self, obs, actions) -> torch.Tensor:
        post = self.env.posterior(obs, actions, agent=self.agent, policy=self.policy)
        return torch.as_tensor(post, dtype=torch.float32, device=self.alpha_bar.device)

    def forward(self, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar[t][:, None]  # (B, 1)
        mean = ab.sqrt()[:, :, None] * self.feats[None]  # (B, S, d)
        logw = -((x[:, None, :] - mean) ** 2).sum(-1) / (2 * (1 - ab))
        logw = logw + torch.where(ctx > 0, ctx.clamp_min(1e-38).log(),
                                  torch.full_like(ctx, -1e30))
        x0 = torch.softmax(logw, dim=1) @ self.feats
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    def posterior_spread(self, obs, actions, true_states) -> np.ndarray:
        """``sum_s p(s | h) |f_s - f_true|`` (batch,): the mean error of a posterior sample."""
        post = self.context(obs, actions).cpu().numpy()
        dist = np.linalg.norm(self.env.features[None] -
                              self.env.features[np.asarray(true_states)][:, None], axis=-1)
        return (post * dist).sum(1)
