"""The estimate of the agent's Q-error behind the deep trainer's adaptive nudging margins.

Ivanov et al. 2024 (arXiv 2407.18074), Section 4, set the nudging margin to ``xi = 2 E_t`` from
the agent's Q error; :class:`AgentErrorEstimate` estimates that error per state from the sampled
transitions the trainer learns from (outcome distributions known): a bound ``D(s)`` on the error
of ``Qbar(s, 1) - Qbar(s, 0)`` from noise-free Bellman residuals propagated down the horizon, and
a *signed* estimate ``e = Qbar - Qbar*`` from running averages of the true agent's value under the
reported contracts. The margin of the contract implementing target ``t`` at ``s`` is
``min(margin_max, margin + margin_scale * D(s) + max(0, e(s, t) - e(s, u)))``. It is a module of
its own because it is a statistic of the replay stream, separate from the Q-learning itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from econcs.contracts._deep import DeepContractParams

#: the estimate's tensors, as the trainer's checkpoints hold them (``"margin_stats"``)
STATS = ("cont", "cont_err", "cont_count", "residual", "q_error", "state_margin", "cont_true",
         "q_true", "error_bound", "state_seen")


class AgentErrorEstimate:
    """Running statistics of the agent's Q-error, per state, and the margins they give.

    Parameters
    ----------
    probs
        (n_states, 2, n_outcomes) outcome distributions.
    agent_rewards
        (n_states, 2) the agent's rewards.
    gamma
        the MDP's discount.
    params
        the trainer's :class:`~econcs.contracts.DeepContractParams` (``margin``,
        ``margin_scale``, ``margin_max``, ``signed_error``, ``stat_decay``, ``adaptive_margin``).
    """

    def __init__(self, probs: torch.Tensor, agent_rewards: torch.Tensor, gamma: float,
                 params: DeepContractParams) -> None:
        self.probs, self.agent_rewards, self.gamma, self.params = probs, agent_rewards, gamma, params
        n_s, _, n_o = probs.shape
        p, kw = params, dict(dtype=probs.dtype, device=probs.device)
        self.cont = torch.zeros(n_s, n_o, **kw)  # E[gamma V_agent(s') | s, o]
        self.cont_err = torch.zeros(n_s, n_o, **kw)  # E[gamma E(s') | s, o]
        self.cont_count = torch.zeros(n_s, n_o, **kw)
        self.residual = torch.zeros(n_s, 2, **kw)  # Bellman residual of Qbar
        self.cont_true = torch.zeros(n_s, n_o, **kw)  # E[gamma V*(s') | s, o]
        self.q_true = torch.zeros(n_s, 2, **kw)  # estimate of the true Qbar*
        self.error_bound = torch.zeros(n_s, **kw)  # bound D(s) on |e(1) - e(0)|
        self.state_seen = torch.zeros(n_s, dtype=torch.bool, device=probs.device)
        self.q_error = torch.full((n_s, 2), p.margin_max, **kw)  # bound E
        self.state_margin = torch.full((n_s, 2), p.margin_max if p.adaptive_margin else p.margin,
                                       **kw)

    @torch.no_grad()
    def update(self, s, o, nxt, done, agent_v, true_v, qbar) -> None:
        """Update the estimate from one minibatch: states ``s``, outcomes ``o``, next states
        ``nxt``, ``done`` flags, the agent's target values ``agent_v`` at ``nxt``, the true
        agent's ``true_v`` (None with ``signed_error="off"``) and its learned ``qbar`` (B, 2).

        The outcome distributions are known, so the Bellman target of ``Qbar(s, a)`` splits into
        ``r(s, a) + sum_o O(s, a, o) C(s, o)`` with ``C(s, o) = gamma E[V_agent(s') | s, o]``
        (shared by both actions); ``C`` is a running average over sampled transitions, which
        removes the outcome noise from the residual ``res(s, a) = target - Qbar(s, a)``. The
        error of ``Qbar`` obeys ``|Qbar - Qbar*|(s, a) <= E(s, a) = |res(s, a)| + sum_o O(s, a, o)
        gamma E[max_a' E(s', a') | s, o]`` (the agent's value is a max over actions, which is
        1-Lipschitz), and the error of the difference that the contract must cover is
        ``D(s) <= |res(s, 1) - res(s, 0)| + sum_o |O(s, 1, o) - O(s, 0, o)| gamma E[max E(s')]``.

        Signed estimate (``signed_error``): ``Qbar*(s, a) ~ r(s, a) + sum_o O(s, a, o) C*(s, o)``
        with ``C*(s, o)`` the running average of ``gamma max_a' [Qbar*(s', a') + O(s', a') .
        b(s')]`` (``true_v``), ``b`` the reported contracts and ``Qbar*`` at ``s'`` the estimate
        itself (the learned ``Qbar`` where ``s'`` was never sampled): policy evaluation of the
        true agent's best response along the sampled transitions.
        """
        n_o = self.cont.shape[1]
        key = s * n_o + o
        live = self.gamma * (1 - done)
        count = torch.zeros(self.cont.numel(), dtype=self.cont.dtype, device=self.cont.device)
        count.index_add_(0, key, torch.ones_like(live))
        hit = count > 0
        tables = [(self.cont, live * agent_v),
                  (self.cont_err, live * self.q_error[nxt].max(-1).values)]
        if true_v is not None:
            tables.append((self.cont_true, live * true_v))
        for table, value in tables:
            total = torch.zeros_like(count).index_add_(0, key, value)
            flat = table.view(-1)
            w = torch.where(self.cont_count.view(-1) > 0,
                            1 - (1 - self.params.stat_decay) ** count, torch.ones_like(count))
            flat.copy_(torch.where(hit, flat + w * (total / count.clamp_min(1) - flat), flat))
        self.cont_count.view(-1).add_(count)
        probs = self.probs[s]  # (B, 2, O)
        seen = ((self.cont_count[s][:, None, :] > 0) | (probs <= 0)).all(-1)  # (B, 2)
        res = self.agent_rewards[s] + (probs * self.cont[s][:, None, :]).sum(-1) - qbar
        self.residual[s] = res
        err = res.abs() + (probs * self.cont_err[s][:, None, :]).sum(-1)
        self.q_error[s] = torch.where(seen, err, torch.full_like(err, self.params.margin_max))
        self.q_true[s] = self.agent_rewards[s] + (probs * self.cont_true[s][:, None, :]).sum(-1)
        self.error_bound[s] = ((res[:, 1] - res[:, 0]).abs()
                               + ((probs[:, 1] - probs[:, 0]).abs() * self.cont_err[s]).sum(-1))
        self.state_seen[s] = seen.all(-1)
        self.state_margin[s] = self.margins(s, qbar)

    def margins(self, s, qbar):
        """(B, 2) margins of the contracts implementing each action at states ``s`` given the
        agent's learned ``qbar`` (B, 2) there."""
        p = self.params
        margin = p.margin + p.margin_scale * self.error_bound[s][:, None].expand(-1, 2)
        if p.signed_error != "off":  # target t needs xi >= e(s, t) - e(s, u)
            signed = torch.where(self.state_seen[s][:, None], qbar - self.q_true[s], 0.0)
            margin = margin + (signed - signed.flip(-1)).clamp_min(0)
        margin = margin.clamp_max(p.margin_max)
        return torch.where(self.state_seen[s][:, None], margin,
                           torch.full_like(margin, p.margin_max))

    def correct(self, s: torch.Tensor, qbar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``signed_error="correct"``: the estimate ``Qbar*`` (the learned ``qbar`` where a state
        was never sampled) and the bound-only margins (B,) at states ``s``."""
        p, seen = self.params, self.state_seen[s]
        qbar = torch.where(seen[:, None], self.q_true[s], qbar)
        margin = (p.margin + p.margin_scale * self.error_bound[s]).clamp_max(p.margin_max)
        return qbar, torch.where(seen, margin, p.margin_max)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in STATS}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            getattr(self, name).copy_(value)
