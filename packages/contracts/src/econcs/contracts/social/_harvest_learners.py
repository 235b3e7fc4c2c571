"""Independent policy-gradient agents with parameter sharing in the commons-harvest gridworld.

The agents of Zhang et al.'s Apple Picking Game (ICML 2024, arXiv 2402.14090, Sec. 5) learn in
the economy the principal's tax induces. Here each agent follows one shared softmax policy over
the five moves, tabular in a small local observation: which of its four neighbouring cells hold
an apple, its tax bracket this period (the apples it collected so far against ``cutoffs``), and
the apples within radius 2 of it (0, 1-2, 3-5, 6+), 16 x n_brackets x 4 states. Training is
REINFORCE (Williams 1992, ``update="reinforce"``) or PPO-clip (Schulman et al. 2017,
``update="ppo"``: ``ppo_epochs`` steps per episode on the clipped surrogate) on each agent's own
discounted reward-to-go (independent learning: the agents share the parameters, not the credit),
with the batch mean at each step and agent as the baseline, and ``torch.optim.Adam``. As in
:class:`~econcs.contracts.social.IndependentLearners`, the policy is tabular in the observed tax
``phi`` (one table per candidate context, each with its own Adam moments and step count), and
``batch_size`` games of every context are played at once: one learning step is one episode of
``(n_contexts, batch_size)`` games.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch

from econcs.contracts.social._harvest import HarvestGame
from econcs.contracts.social._objectives import Objective
from econcs.shared import DivergenceError, Params, make_generator, param, resolve_params
from econcs.shared.validation import check_int, check_tensor

__all__ = ["HarvestLearnerParams", "HarvestLearners"]

_LOCAL_BUCKETS = torch.tensor([0, 1, 1, 2, 2, 2, 3])  # apples within radius 2 -> bucket (6+: 3)


@dataclasses.dataclass(frozen=True)
class HarvestLearnerParams(Params):
    """Learning parameters of :class:`HarvestLearners`."""

    batch_size: int = param(16, "games played in parallel per context and learning step", low=1)
    lr: float = param(0.1, "Adam learning rate of the policy logits", low=0.0,
                      low_inclusive=False)
    gamma: float = param(0.95, "discount of the reward-to-go", low=0.0, high=1.0)
    entropy: float = param(0.01, "entropy bonus per step", low=0.0)
    update: Literal["reinforce", "ppo"] = param(
        "reinforce", "the agents' update per episode: one REINFORCE step, or PPO-clip steps on "
        "the episode")
    ppo_epochs: int = param(4, "PPO: optimiser steps on each episode's clipped surrogate", low=1)
    clip: float = param(0.2, "PPO: the probability ratio's clip range 1 +- clip", low=0.0,
                        low_inclusive=False)


class HarvestLearners:
    """Shared tabular softmax policies, one per candidate ``phi``, trained by REINFORCE.

    Parameters
    ----------
    game
        a :class:`~econcs.contracts.social.HarvestGame`.
    contexts
        (n_contexts, n_params) the candidate bracket rates the agents may face.
    params
        a :class:`HarvestLearnerParams` (or keyword overrides of it).
    seed, generator
        the generator of the games and actions (``generator`` wins when given).
    """

    def __init__(self, game: HarvestGame, contexts, params: HarvestLearnerParams | None = None,
                 /, *, seed: int = 0, generator: torch.Generator | None = None,
                 **overrides) -> None:
        self.params = resolve_params(HarvestLearnerParams, params, **overrides)
        self.economy = self.game = game
        phi = check_tensor(torch.as_tensor(contexts, dtype=torch.float64), "contexts", ndim=2)
        self.contexts = game.check_phi(phi)
        self.generator = generator if generator is not None else \
            make_generator(check_int(seed, "seed", low=0), "cpu")
        self.n_obs = 16 * game.n_params * 4
        n_ctx = phi.shape[0]
        self._logits = [torch.zeros(self.n_obs, 5, dtype=torch.float64, requires_grad=True)
                        for _ in range(n_ctx)]
        # one fused Adam group; a table not played has no gradient and keeps its moments and step
        self.optimizer = torch.optim.Adam(self._logits, lr=self.params.lr, fused=True)
        self.updates = torch.zeros(n_ctx, dtype=torch.long)
        self._bit = torch.tensor([1, 2, 4, 8])
        self.steps = 0
        self.last_returns: torch.Tensor | None = None

    def observe_ids(self, state: dict) -> torch.Tensor:
        """The agents' observation indices ``(batch, n_agents)`` in ``0..n_obs - 1``."""
        g = self.game
        apples, cell = state["apples"], state["cell"]
        nb = g.orchard_index[g.next_cell[cell][..., 1:]]  # (batch, n, 4) up, down, left, right
        has = (apples.gather(1, nb.clamp(min=0).flatten(1)).reshape(nb.shape) & (nb >= 0))
        bits = (has.long() * self._bit).sum(-1)
        bracket = (state["period"][..., None] >= g.cutoffs).sum(-1)
        near = g.local_apples(apples, cell).long().clamp(max=6)
        return (bits * g.n_params + bracket) * 4 + _LOCAL_BUCKETS[near]

    def _rollout(self, idx: torch.Tensor, greedy: bool = False) -> dict:
        """One episode of ``batch_size`` games per context in ``idx``, without autograd: the
        observation ids and actions ``(T, len(idx) B, n)``, the advantages (reward-to-go minus
        the mean over the context's games at that step and agent) and the extrinsic returns
        ``(len(idx), B, n)``."""
        g, p = self.game, self.params
        k, bsz = len(idx), p.batch_size
        state = g.reset(k * bsz, generator=self.generator)
        phi = self.contexts[idx].repeat_interleave(bsz, 0)
        table = torch.stack([self._logits[i].detach() for i in idx.tolist()])  # (k, n_obs, 5)
        ctx = torch.arange(k).repeat_interleave(bsz)[:, None]
        obs_ids, actions, rewards = [], [], []
        ext_total = torch.zeros(k * bsz, g.n_agents, dtype=torch.float64)
        for _ in range(g.max_steps):
            ids = self.observe_ids(state)
            logits = table[ctx, ids]  # (k B, n, 5)
            if greedy:
                act = logits.argmax(-1)
            else:
                u = torch.rand(logits.shape, generator=self.generator, dtype=torch.float64)
                act = (logits - torch.log(-torch.log(u))).argmax(-1)  # Gumbel-max
            obs_ids.append(ids)
            actions.append(act)
            state, reward, ext, _ = g.step(state, act, phi, generator=self.generator)
            rewards.append(reward)
            ext_total += ext
        rew = torch.stack(rewards)  # (T, k B, n)
        ret = torch.zeros_like(rew)
        run = torch.zeros_like(rew[0])
        for t in range(rew.shape[0] - 1, -1, -1):
            run = rew[t] + p.gamma * run
            ret[t] = run
        ret = ret.reshape(ret.shape[0], k, bsz, -1)
        adv = (ret - ret.mean(2, keepdim=True)).reshape(ret.shape[0], k * bsz, -1)
        return {"obs": torch.stack(obs_ids), "actions": torch.stack(actions), "adv": adv,
                "ctx": ctx, "ext": ext_total.reshape(k, bsz, -1)}

    def _log_probs(self, idx: torch.Tensor, roll: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities ``(T, len(idx) B, n)`` of the rollout's actions under the current
        tables (with autograd, one batched log-softmax) and the mean policy entropy."""
        table = torch.stack([self._logits[i] for i in idx.tolist()])
        logp_all = torch.log_softmax(table[roll["ctx"][None], roll["obs"]], -1)  # (T, kB, n, 5)
        logp = logp_all.gather(-1, roll["actions"][..., None])[..., 0]
        return logp, -(logp_all.exp() * logp_all).sum(-1).mean()

    def _update(self, idx: torch.Tensor, roll: dict) -> None:
        """The agents' update on one rollout: one REINFORCE step, or ``ppo_epochs`` steps on
        PPO's clipped surrogate ``min(r A, clip(r, 1 - eps, 1 + eps) A)`` with ``r`` the
        probability ratio to the rollout's policy (Schulman et al. 2017); the first PPO step is
        the REINFORCE step."""
        p, steps = self.params, self.game.max_steps
        adv, bsz = roll["adv"], p.batch_size
        old = None
        for _ in range(p.ppo_epochs if p.update == "ppo" else 1):
            logp, ent = self._log_probs(idx, roll)
            if p.update == "ppo":
                old = logp.detach() if old is None else old
                ratio = (logp - old).exp()
                surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - p.clip, 1 + p.clip) * adv)
            else:
                surrogate = logp * adv
            loss = -(surrogate.sum() / bsz + p.entropy * ent * steps)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def learn(self, idx=None, steps: int = 1) -> torch.Tensor:
        """``steps`` learning episodes in the contexts ``idx`` (default: all); returns the last
        episode's extrinsic returns ``(len(idx), batch_size, n_agents)``."""
        idx = torch.arange(self.contexts.shape[0]) if idx is None else \
            torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        steps = check_int(steps, "steps", low=1)
        for _ in range(steps):
            roll = self._rollout(idx)
            self._update(idx, roll)
            self.updates[idx] += 1
            self.steps += 1
        if not all(bool(torch.isfinite(w).all()) for w in self._logits):
            raise DivergenceError(f"HarvestLearners: NaN logits after {self.steps} steps; lower "
                                  "lr.")
        self.last_returns = roll["ext"]
        return roll["ext"]

    def evaluate(self, idx, n_games: int | None = None) -> torch.Tensor:
        """Extrinsic returns ``(len(idx), n_games, n_agents)`` of the current (sampled) policies,
        without learning."""
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        with torch.no_grad():
            old = self.params
            if n_games is not None:
                self.params = dataclasses.replace(old, batch_size=check_int(n_games, "n_games",
                                                                           low=1))
            try:
                return self._rollout(idx)["ext"]
            finally:
                self.params = old

    def observe(self, objective: Objective, arms, steps: int) -> np.ndarray:
        """The principal's measurement: learn ``steps`` episodes in ``arms``, then the objective
        of the last episode's extrinsic returns, averaged over its games: ``(len(arms),)``."""
        ext = self.learn(arms, steps)
        return objective(ext).mean(1).numpy()

    def state_dict(self) -> dict:
        """The full state (``load_state_dict`` continues from it): tables, optimiser, counts,
        the generator and the last episode's returns."""
        state = {"logits": torch.stack([w.detach() for w in self._logits]),
                 "optimizer": self.optimizer.state_dict(), "updates": self.updates.clone(),
                 "steps": self.steps, "generator": self.generator.get_state()}
        if self.last_returns is not None:
            state["last_returns"] = self.last_returns.clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for w, row in zip(self._logits, torch.as_tensor(state["logits"])):
                w.copy_(row)
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates.copy_(torch.as_tensor(state["updates"]))
        self.steps = int(state["steps"])
        self.generator.set_state(torch.as_tensor(state["generator"]).cpu())
        last = state.get("last_returns")
        self.last_returns = None if last is None else torch.as_tensor(last).clone()
