"""Deep principal-agent RL: DQN-style principal and agent Q-networks with nudged contracts.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning" (arXiv
2407.18074), Section 4. Transitions and rewards are unknown and learned from sampled experience;
the outcome distributions ``O(s, a)`` define the contracting problem and are known to the principal
(they enter the minimal-contract LP). Two networks are trained together by Q-learning on a shared
replay buffer:

- the agent's ``Qbar_theta(s, a)``: its value of action ``a`` excluding this step's payment, with
  target ``r(s, a) + gamma max_a' [Qbar(s', a') + O(s', a') . b(s')]`` where ``b(s')`` is the
  principal's current contract at ``s'`` (the agent best-responds to the principal's policy);
- the principal's gross value ``G_phi(s, a)``: ``E[rp(s, o) + gamma V_p(s')]`` when the agent takes
  ``a``; its contract policy picks the target ``a_p`` maximising
  ``G(s, a_p) - O(s, a_p) . b*(s, a_p)``, where ``b*`` is the minimal contract implementing ``a_p``
  against ``Qbar_theta`` with IC margin ``xi`` ("nudging": the agent's learned Q-values are only
  approximately right, and the margin keeps the true best response on the target). The paper
  sets ``xi = 2 E_t`` from the agent's Q error; here the margin is per state and target,
  ``xi(s, t) = min(margin_max, margin + margin_scale * D(s) + max(0, e(s, t) - e(s, u)))``:
  ``D(s)`` bounds the error of ``Qbar(s, 1) - Qbar(s, 0)`` from noise-free Bellman residuals
  (outcome distributions known) propagated down the horizon, and ``e = Qbar - Qbar*`` is a
  *signed* estimate of the agent's error, from running averages of the true agent's value
  ``max_a Qbar*(s', a) + O(s', a) . b(s')`` under the reported contracts (the bound is 5-10x
  loose near the root, where the errors of the two subtrees partly cancel; the signed estimate
  is not). See ``DeepContractTrainer.margins``.

The reported policy comes from Polyak averages of the networks (``polyak``), which removes most
of the drift of the greedy policy between evaluations.

This is the simultaneous (interleaved) version of the paper's meta-algorithm, whose fixed point is
the SPE. Closed-form minimal contracts restrict it to two actions (any number of outcomes).
Training is centralised: the replay buffer records the agent's executed action.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch
from torch import nn

from econcs.contracts._mdp import PrincipalAgentMDP
from econcs.contracts._networks import _StateQNet
from econcs.contracts._nudging import AgentErrorEstimate
from econcs.contracts._oneshot import minimal_contracts_two_actions
from econcs.contracts._spe import _principal_values, evaluate_contracts
from econcs.contracts._training import RENAMES, SteppedTrainer, budget, generators
from econcs.shared import (
    Callback,
    Params,
    apply_renames,
    cpu_threads,
    history_tuple,
    param,
    resolve_params,
)
from econcs.shared.device import resolve_device, resolve_dtype
from econcs.shared.validation import check_float, check_int

__all__ = ["DeepContractParams", "DeepContractResult", "DeepContractTrainer"]


@dataclasses.dataclass(frozen=True)
class DeepContractResult:
    """The learned contract policy, evaluated against an exactly best-responding agent.

    Attributes
    ----------
    principal_utility
        principal's value at ``s0`` when the true agent best-responds.
    contracts
        (n_states, n_outcomes) learned contracts.
    targets
        (n_states,) actions the principal aims to implement.
    actions
        (n_states,) the true agent's best responses to ``contracts``.
    follow_rate
        share of states where ``actions == targets``.
    iterations
        training iterations done.
    learned_agent_utility
        principal's value at ``s0`` when the agent acts greedily on its
        learned ``Qbar`` (ties towards the target): the weaker, training-time notion.
    history
        the trainer's step outputs every ``history_every`` iterations (``step``, ``epsilon``,
        ``agent_loss``, ``principal_loss``; agent-only rows after ``max_iter``).
    """

    principal_utility: float
    contracts: np.ndarray
    targets: np.ndarray
    actions: np.ndarray
    follow_rate: float
    iterations: int
    learned_agent_utility: float = float("nan")
    history: tuple[dict[str, float], ...] = dataclasses.field(default=(), repr=False)


@dataclasses.dataclass(frozen=True)
class DeepContractParams(Params):
    """Training parameters of :class:`DeepContractTrainer` (Ivanov et al. 2024, Sec. 4; the
    paper's scale: 20k iterations of 8 environment steps, batch 128, 2 x 256 ReLU networks)."""

    max_iter: int = param(20_000, "training iterations (each: n_envs environment steps and one "
                          "gradient step per network)", low=1)
    n_envs: int = param(8, "parallel environments", low=1)
    batch_size: int = param(128, "replay minibatch size", low=1)
    hidden: int = param(256, "hidden units per layer (MLP on one-hot states)", low=1)
    layers: int = param(2, "hidden layers", low=1)
    lr: float = param(1e-3, "initial Adam learning rate", low=0.0, low_inclusive=False)
    lr_final: float = param(1e-4, "final learning rate (linear decay from lr)", low=0.0,
                            low_inclusive=False)
    target_every: int = param(100, "target network period (iterations)", low=1)
    eps_start: float = param(1.0, "initial exploration rate of both players", low=0.0, high=1.0)
    eps_end: float = param(0.0, "final exploration rate", low=0.0, high=1.0)
    eps_decay: float = param(1.0, "share of the run over which epsilon decays", low=0.0,
                             high=1.0, low_inclusive=False)
    margin: float = param(0.01, "nudging IC margin xi (with adaptive_margin: the floor of the "
                          "per-state margins)", low=0.0)
    adaptive_margin: bool = param(True, "per-state margin from the estimated error of the "
                                  "agent's Q-values")
    margin_scale: float = param(0.1, "adaptive margin = margin + margin_scale * error bound",
                                low=0.0)
    margin_max: float = param(0.2, "cap of the adaptive margin (>= margin)", low=0.0)
    signed_error: Literal["off", "margin", "correct"] = param(
        "margin", "propagated signed error e of the agent's Qbar: off, add the one-sided "
        "e(s,t) - e(s,u) to the margins, or also contract against Qbar - e")
    polyak: float = param(0.995, "report the policy of Polyak-averaged networks (decay per "
                          "iteration; 0: the online ones)", low=0.0, high=1.0,
                          high_inclusive=False)
    stat_decay: float = param(0.1, "weight of a new minibatch in the running averages behind "
                              "the error estimate", low=0.0, high=1.0, low_inclusive=False)
    buffer_size: int = param(100_000, "replay capacity (transitions, >= batch_size)", low=1)
    max_steps: int = param(1000, "episodes are truncated after this many steps", low=1)
    refine_iter: int = param(0, "agent-only best-response iterations after training (targets "
                             "frozen; see DeepContractTrainer.refine)", low=0)
    refine_eps: float = param(0.2, "exploration rate of the agent-only phase", low=0.0, high=1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.margin_max < self.margin:
            raise ValueError(f"margin_max: expected >= margin = {self.margin}, got "
                             f"{self.margin_max}.")
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size: expected >= batch_size = {self.batch_size}, got "
                             f"{self.buffer_size}.")


class DeepContractTrainer(SteppedTrainer):
    """Train principal and agent Q-networks on a principal-agent MDP (two actions).

    ``DeepContractTrainer(mdp, params)`` or ``DeepContractTrainer(mdp, max_iter=500, ...)``: the
    hyperparameters are a :class:`DeepContractParams` (or keyword overrides of it; the released
    names ``n_iter`` and ``n_layers`` still work, with a ``DeprecationWarning``). Its fields:

    - ``margin``: the nudging IC margin ``xi`` of the contracts (in reward units); with
      ``adaptive_margin`` the floor of per-state margins set from an estimate of the agent's Q
      error there (the paper's ``xi = 2 E_t``, here per state): see :meth:`margins`;
    - ``margin_scale``, ``margin_max``: the adaptive margin is ``min(margin_max, margin +
      margin_scale * D(s) [+ signed term])`` with ``D(s)`` the estimated error bound of
      ``Qbar(s, 1) - Qbar(s, 0)``;
    - ``signed_error``: ``"margin"`` adds ``max(0, e(s, t) - e(s, u))`` to the margin of target
      ``t``, where ``e = Qbar - Qbar*`` is the propagated signed estimate of the agent's error
      (``q_true`` holds the estimate of ``Qbar*``); ``"correct"`` computes the reported contracts
      against ``Qbar*`` itself (can also lower payments, less robust); ``"off"``: the bound alone;
    - ``polyak``: the reported policy (``policy``, ``result``) uses Polyak averages of the
      networks, ``avg <- polyak * avg + (1 - polyak) * online`` after every gradient step.

    :meth:`train` returns a :class:`DeepContractResult` (its ``history``: the step outputs every
    ``history_every`` iterations); :meth:`refine` the agent-only phase after it.

    Parameters
    ----------
    mdp
        the environment (sampled only through its transitions; ``outcome_probs`` are known).
    params
        a :class:`DeepContractParams` (default ``DeepContractParams()``); ``**overrides`` change
        its fields.
    device, dtype
        where and in which precision the networks live.
    num_threads
        CPU threads used while training (None: leave PyTorch's setting); the
        networks are tiny, so one thread is fastest.
    seed, generator, init_generator
        ``generator``: a ``torch.Generator`` on ``device`` for exploration and sampling;
        ``init_generator``: a CPU generator for the network initialisation; when not given they
        are seeded with ``seed`` and ``seed + 1``.
    history_every
        iterations between rows of the result's ``history``.
    """

    def __init__(
        self,
        mdp: PrincipalAgentMDP,
        params: DeepContractParams | None = None,
        /,
        *,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype | None = None,
        num_threads: int | None = 1,
        seed: int = 0,
        generator: torch.Generator | None = None,
        init_generator: torch.Generator | None = None,
        history_every: int = 100,
        **overrides,
    ) -> None:
        if not isinstance(mdp, PrincipalAgentMDP):
            raise TypeError(f"mdp: expected a PrincipalAgentMDP, got {type(mdp).__name__}.")
        if mdp.n_actions != 2:
            raise ValueError(
                f"mdp: the deep trainer uses closed-form contracts for 2 actions, got "
                f"{mdp.n_actions}; use meta_algorithm() for more actions."
            )
        p = resolve_params(DeepContractParams, params,
                           **apply_renames(overrides, RENAMES, "DeepContractTrainer"))
        self.mdp, self.params = mdp, p
        self.history_every = check_int(history_every, "history_every", low=1)
        self.device = resolve_device(device)
        self.num_threads = None if num_threads is None else check_int(num_threads, "num_threads",
                                                                      low=1)
        self.dtype = resolve_dtype(dtype)
        self.gen, init_gen = generators(seed, self.device, generator, init_generator)
        dev, dt = self.device, self.dtype
        self.probs = torch.as_tensor(mdp.outcome_probs, dtype=dt, device=dev)  # (S, A, O)
        self.trans = torch.as_tensor(mdp.transitions, dtype=dt, device=dev)  # (S, O, S)
        self.agent_rewards = torch.as_tensor(mdp.agent_rewards, dtype=dt, device=dev)
        self.principal_rewards = torch.as_tensor(mdp.principal_rewards, dtype=dt, device=dev)
        self.terminal = self.trans.sum(-1) < 0.5  # (S, O)
        n_s = mdp.n_states
        # drawn in this order from init_gen: online, target and averaged copies
        (self.agent, self.principal, self.agent_target, self.principal_target, self.agent_avg,
         self.principal_avg) = (_StateQNet(n_s, p.hidden, 2, p.layers, init_gen).to(dev, dt)
                                for _ in range(6))
        self.agent_avg.load_state_dict(self.agent.state_dict())
        self.principal_avg.load_state_dict(self.principal.state_dict())
        nets = (self.agent, self.principal)
        dense = [w for net in nets for n, w in net.named_parameters() if n != "embed.weight"]
        self.optimizer = torch.optim.Adam(dense, lr=p.lr, foreach=True)
        self.sparse_optimizer = torch.optim.SparseAdam([net.embed.weight for net in nets],
                                                       lr=p.lr)
        long = dict(dtype=torch.long, device=dev)
        self.buf_s = torch.zeros(p.buffer_size, **long)
        self.buf_a = torch.zeros(p.buffer_size, **long)
        self.buf_o = torch.zeros(p.buffer_size, **long)
        self.buf_next = torch.zeros(p.buffer_size, **long)
        self.buf_done = torch.zeros(p.buffer_size, dtype=dt, device=dev)
        self.buf_ptr = 0
        self.buf_len = 0
        self.states = torch.full((p.n_envs,), mdp.initial_state, **long)
        self.steps = torch.zeros(p.n_envs, **long)
        # running statistics behind the adaptive margin (see ``margins``)
        self.nudging = AgentErrorEstimate(self.probs, self.agent_rewards, mdp.gamma, p)
        self._sync_targets()
        self.iteration = 0
        self.frozen_targets: torch.Tensor | None = None
        self.refine_iteration = 0
        self._history: list[dict[str, float]] = []  # rows every history_every iterations

    # policies ---------------------------------------------------------------------------------
    def _contracts(self, s, qbar, gross, margin=None):
        """Principal's greedy targets and contracts at states ``s`` from (B, 2) Q-values."""
        margin = self.nudging.state_margin[s] if margin is None else margin
        pay, expected, feasible = minimal_contracts_two_actions(self.probs[s], qbar, margin)
        value = torch.where(feasible, gross - expected, torch.full_like(gross, -torch.inf))
        target = value.argmax(-1)
        if self.frozen_targets is not None:  # agent best-response phase: targets fixed
            frozen = self.frozen_targets[s]
            target = torch.where(feasible.gather(1, frozen[:, None]).squeeze(1), frozen, target)
        return target, pay[torch.arange(len(s), device=s.device), target], value, feasible

    @torch.no_grad()
    def policy(self, states=None):
        """Targets (B,), contracts (B, n_outcomes) and principal values (B,) at ``states``."""
        s = torch.arange(self.mdp.n_states, device=self.device) if states is None else states
        target, contract, value, _ = self._report_contracts(s)
        return target, contract, value.max(-1).values

    def _report_contracts(self, s):
        """The reported contract policy at states ``s`` (see ``_contracts``)."""
        agent, principal = self._eval_nets()
        qbar = agent(s)
        if not self.params.adaptive_margin:
            return self._contracts(s, qbar, principal(s))
        if self.params.signed_error == "correct":
            # contracts against the estimate Qbar* of the agent's true Q-values
            qbar, margin = self.nudging.correct(s, qbar)
        else:
            margin = self.nudging.margins(s, qbar)
        return self._contracts(s, qbar, principal(s), margin)

    def _eval_nets(self):
        """The networks behind the reported policy: Polyak averages if ``polyak > 0``."""
        if self.params.polyak > 0:
            return self.agent_avg, self.principal_avg
        return self.agent, self.principal

    # one iteration ----------------------------------------------------------------------------
    @torch.no_grad()
    def _collect(self, eps: float) -> None:
        s = self.states
        x = s
        qbar = self.agent(x)
        target, contract, _, feasible = self._contracts(s, qbar, self.principal(x))
        b = len(s)
        explore_p = torch.rand(b, generator=self.gen, device=self.device) < eps
        rand_t = torch.multinomial(feasible.to(self.dtype), 1, generator=self.gen).squeeze(1)
        pay, _, _ = minimal_contracts_two_actions(self.probs[s], qbar, self.nudging.state_margin[s])
        target = torch.where(explore_p, rand_t, target)
        contract = torch.where(explore_p[:, None], pay[torch.arange(b, device=s.device), target],
                               contract)
        agent_q = qbar + (self.probs[s] * contract[:, None, :]).sum(-1)
        greedy = agent_q.argmax(-1)
        tie = agent_q.gather(1, target[:, None]).squeeze(1) >= agent_q.max(-1).values - 1e-6
        greedy = torch.where(tie, target, greedy)
        explore_a = torch.rand(b, generator=self.gen, device=self.device) < eps
        rand_a = torch.randint(0, 2, (b,), generator=self.gen, device=self.device)
        a = torch.where(explore_a, rand_a, greedy)
        o = torch.multinomial(self.probs[s, a], 1, generator=self.gen).squeeze(1)
        done = self.terminal[s, o]
        rows = self.trans[s, o]
        rows = torch.where(done[:, None], torch.ones_like(rows), rows)
        nxt = torch.multinomial(rows, 1, generator=self.gen).squeeze(1)
        idx = (self.buf_ptr + torch.arange(b, device=self.device)) % self.params.buffer_size
        self.buf_s[idx], self.buf_a[idx], self.buf_o[idx] = s, a, o
        self.buf_next[idx], self.buf_done[idx] = nxt, done.to(self.dtype)
        self.buf_ptr = int((self.buf_ptr + b) % self.params.buffer_size)
        self.buf_len = min(self.params.buffer_size, self.buf_len + b)
        self.steps = self.steps + 1
        reset = done | (self.steps >= self.params.max_steps)
        self.states = torch.where(reset, torch.full_like(nxt, self.mdp.initial_state), nxt)
        self.steps = torch.where(reset, torch.zeros_like(self.steps), self.steps)

    def _learn(self) -> tuple[float, float]:
        idx = torch.randint(0, self.buf_len, (self.params.batch_size,), generator=self.gen,
                            device=self.device)
        s, a, o = self.buf_s[idx], self.buf_a[idx], self.buf_o[idx]
        nxt, done = self.buf_next[idx], self.buf_done[idx]
        gamma = self.mdp.gamma
        with torch.no_grad():
            xn = nxt
            qbar_n = self.agent_target(xn)
            _, contract_n, value_n, _ = self._contracts(nxt, qbar_n, self.principal_target(xn))
            agent_v = (qbar_n + (self.probs[nxt] * contract_n[:, None, :]).sum(-1)).max(-1).values
            true_v = None
            if self.params.signed_error != "off":
                # the true agent's value at s' under the reported contracts, from the estimate
                # of its true Q-values (the learned ones where s' was never sampled)
                _, contract_r, _, _ = self._report_contracts(nxt)
                seen = self.nudging.state_seen[nxt][:, None]
                q_true_n = torch.where(seen, self.nudging.q_true[nxt], self._eval_nets()[0](nxt))
                true_v = (q_true_n + (self.probs[nxt] * contract_r[:, None, :]).sum(-1)).max(
                    -1).values
            principal_v = value_n.max(-1).values
            y_agent = self.agent_rewards[s, a] + gamma * (1 - done) * agent_v
            y_principal = self.principal_rewards[s, o] + gamma * (1 - done) * principal_v
        x = s
        q_all = self.agent(x)
        q_agent = q_all.gather(1, a[:, None]).squeeze(1)
        loss_a = nn.functional.mse_loss(q_agent, y_agent)
        loss = loss_a
        if self.frozen_targets is None:  # the principal learns only outside the agent's phase
            q_principal = self.principal(x).gather(1, a[:, None]).squeeze(1)
            loss_p = nn.functional.mse_loss(q_principal, y_principal)
            loss = loss_a + loss_p
        else:
            loss_p = torch.zeros((), dtype=self.dtype, device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        self.sparse_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.sparse_optimizer.step()
        if self.params.adaptive_margin:
            self.nudging.update(s, o, nxt, done, agent_v, true_v, q_all.detach())
        if self.params.polyak > 0:
            with torch.no_grad():
                for avg, net in ((self.agent_avg, self.agent), (self.principal_avg,
                                                                self.principal)):
                    for pa, pn in zip(avg.parameters(), net.parameters(), strict=True):
                        pa.lerp_(pn, 1 - self.params.polyak)
        return float(loss_a.detach()), float(loss_p.detach())

    def margins(self) -> torch.Tensor:
        """(n_states, 2) the nudging margin of the contract implementing each action (training).

        Fixed ``margin`` or, with ``adaptive_margin``, ``min(margin_max, margin + margin_scale *
        D(s) + max(0, e(s, t) - e(s, u)))`` where ``D(s)`` bounds the error of the agent's
        learned ``Qbar(s, 1) - Qbar(s, 0)`` (estimated from Bellman residuals, see
        ``AgentErrorEstimate.update`` in ``_nudging.py``) and ``e`` is the signed error estimate
        (``signed_error``); states never sampled get ``margin_max``.
        """
        return self.nudging.state_margin.clone()

    @property
    def q_true(self) -> torch.Tensor:
        """(n_states, 2) the running estimate of the true agent's ``Qbar*`` (``signed_error``)."""
        return self.nudging.q_true

    def _sync_targets(self) -> None:
        self.agent_target.load_state_dict(self.agent.state_dict())
        self.principal_target.load_state_dict(self.principal.state_dict())

    def _learn_step(self) -> dict[str, float]:
        """The gradient step of one training iteration, at the scheduled learning rate."""
        p = self.params
        frac = self.iteration / max(1, p.max_iter - 1)
        for group in [*self.optimizer.param_groups, *self.sparse_optimizer.param_groups]:
            group["lr"] = p.lr + min(1.0, frac) * (p.lr_final - p.lr)
        agent_loss, principal_loss = self._learn()
        return {"agent_loss": agent_loss, "principal_loss": principal_loss}

    def _train_result(self) -> DeepContractResult:
        return self.result()

    def refine(self, *, max_iter: int | None = None, eps: float | None = None,
               callback: Callback | None = None, **renamed) -> DeepContractResult:
        """Agent best-response phase (step 1 of the meta-algorithm) after training.

        The principal's targets are frozen at its current greedy policy and only the agent's
        ``Qbar`` keeps learning (epsilon ``eps``, default ``params.refine_eps``; learning rate
        ``lr_final``) for ``max_iter`` iterations (default ``params.refine_iter``), against the
        contracts that implement those targets at minimal cost; this lowers the agent's Q error
        that the nudging margin must cover. ``callback(refine_iteration, {"agent_loss": ...},
        state_fn)`` is called after each. Resumable (``refine_iteration`` is checkpointed).
        """
        stop = budget(max_iter, self.params.refine_iter, "DeepContractTrainer.refine", renamed)
        eps = self.params.refine_eps if eps is None else check_float(eps, "eps", low=0.0,
                                                                      high=1.0)
        if self.frozen_targets is None:
            self.frozen_targets = self.policy()[0]
        for group in [*self.optimizer.param_groups, *self.sparse_optimizer.param_groups]:
            group["lr"] = self.params.lr_final
        with cpu_threads(self.num_threads, self.device):
            while self.refine_iteration < stop:
                self._collect(eps)
                out = {"agent_loss": self._learn()[0]}
                self.refine_iteration += 1
                if self.refine_iteration % self.params.target_every == 0:
                    self._sync_targets()
                self.record(self.iteration + self.refine_iteration, out)
                if callback is not None:
                    callback(self.refine_iteration, out, self.state_dict)
        return self.result()

    def result(self) -> DeepContractResult:
        """Evaluate the learned contract policy against an exactly best-responding agent."""
        target, contract, _ = self.policy()
        contracts = contract.double().clamp_min(0).cpu().numpy()
        targets = target.cpu().numpy()
        ev = evaluate_contracts(self.mdp, contracts, targets)
        with torch.no_grad():
            s = torch.arange(self.mdp.n_states, device=self.device)
            q = self._eval_nets()[0](s) + (self.probs * contract[:, None, :]).sum(-1)
            tie = q.gather(1, target[:, None]).squeeze(1) >= q.max(-1).values - 1e-6
            learned = torch.where(tie, target, q.argmax(-1)).cpu().numpy()
        vp = _principal_values(self.mdp, contracts, learned)
        return DeepContractResult(ev.principal_utility, contracts, targets, ev.actions,
                                  float(np.mean(ev.actions == targets)), self.iteration,
                                  float(vp[self.mdp.initial_state]),
                                  history_tuple(self._history))

    # checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "agent": self.agent.state_dict(), "principal": self.principal.state_dict(),
            "agent_target": self.agent_target.state_dict(),
            "principal_target": self.principal_target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sparse_optimizer": self.sparse_optimizer.state_dict(),
            "buffer": {"s": self.buf_s, "a": self.buf_a, "o": self.buf_o, "next": self.buf_next,
                       "done": self.buf_done},
            "buf_ptr": self.buf_ptr, "buf_len": self.buf_len, "states": self.states,
            "steps": self.steps, "iteration": self.iteration,
            "refine_iteration": self.refine_iteration, "history": list(self._history),
            "margin_stats": self.nudging.state_dict(),
            "agent_avg": self.agent_avg.state_dict(),
            "principal_avg": self.principal_avg.state_dict(),
            "frozen_targets": (self.frozen_targets if self.frozen_targets is not None
                               else torch.empty(0, dtype=torch.long)),
        }

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.principal.load_state_dict(state["principal"])
        self.agent_target.load_state_dict(state["agent_target"])
        self.principal_target.load_state_dict(state["principal_target"])
        self.agent_avg.load_state_dict(state["agent_avg"])
        self.principal_avg.load_state_dict(state["principal_avg"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sparse_optimizer.load_state_dict(state["sparse_optimizer"])
        buf = state["buffer"]
        for name in ("s", "a", "o", "next", "done"):
            getattr(self, f"buf_{name}").copy_(buf[name])
        self.buf_ptr, self.buf_len = int(state["buf_ptr"]), int(state["buf_len"])
        self.states = state["states"].to(self.device)
        self.steps = state["steps"].to(self.device)
        self.iteration = int(state["iteration"])
        self.refine_iteration = int(state.get("refine_iteration", 0))
        self._history = [dict(row) for row in state.get("history", [])]
        self.nudging.load_state_dict(state.get("margin_stats", {}))
        frozen = state.get("frozen_targets")
        self.frozen_targets = (frozen.to(self.device) if frozen is not None and frozen.numel()
                               else None)
