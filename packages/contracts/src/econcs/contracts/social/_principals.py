"""Principal learners: choose ``phi`` among candidates to maximise an objective of learning agents.

Zhang et al. (ICML 2024, arXiv 2402.14090), Def. 3.2: the principal's design step. The principal
does not know the agents' responses: a *pull* plays one candidate ``phi`` (the agents learn in it for
``agent_steps`` periods) and observes the elected objective of the last period's realised play,
averaged over the batch of economies (a noisy measurement). Three learners:

- ``grid``: pull every candidate in turn (all at once: the agents' learning is vectorised over the
  candidates) and keep the best mean;
- ``ucb``: UCB1 (Auer et al. 2002) with the exploration bonus scaled by the observed spread,
  ``mean_a + c * spread * sqrt(2 ln N / n_a)``;
- ``thompson``: Gaussian Thompson sampling (posterior ``N(mean_a, s^2 / n_a)`` with the pooled
  residual variance ``s^2``);
- ``gradient``: a policy-gradient principal (the gradient bandit of Sutton and Barto 2018,
  Sec. 2.8, in its actor-critic form): a softmax policy over the candidates, each pull drawn
  from it; after each pull the policy climbs the gradient of its expected value under the current
  mean observations (the critic; scaled by their spread), by ``torch.optim.SGD``. A REINFORCE
  update on the pulled arm alone was biased here: the agents keep learning, so a candidate's
  later observations are better than its earlier ones and the first arms pulled ran away.

Every candidate is pulled once first. The result is the candidate with the best mean observation
(ties toward the lowest index); for ``gradient``, the policy's most likely candidate. The agents
keep what they learned between pulls (their policy is tabular in the observed ``phi``), so a later
pull of a candidate measures better-trained agents.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import torch

from econcs.contracts.social._objectives import Objective
from econcs.shared import Params, history_tuple, make_rng, param

__all__ = ["DesignResult", "PrincipalParams", "design"]


@dataclasses.dataclass(frozen=True)
class PrincipalParams(Params):
    """Parameters of the principal's design step (:func:`design`)."""

    method: Literal["grid", "ucb", "thompson", "gradient"] = param(
        "grid", "grid search, UCB1, Thompson sampling or a softmax policy gradient over the "
        "candidates")
    max_iter: int = param(42, "pulls per round (grid: rounded up to whole sweeps)", low=1)
    agent_steps: int = param(60, "agents' learning periods per pull", low=1)
    ucb_c: float = param(0.5, "UCB exploration coefficient (times the observed spread)", low=0.0)
    pg_lr: float = param(2.0, "gradient principal: SGD step on the softmax logits (the "
                         "advantage is scaled by the observed spread)", low=0.0,
                         low_inclusive=False)


@dataclasses.dataclass(frozen=True)
class DesignResult:
    """The principal's choice.

    Attributes
    ----------
    index
        the chosen candidate's index (into the learners' contexts).
    means, counts
        (n_candidates,) mean observation and pulls of each candidate.
    iterations
        pulls made.
    history
        one row per pull: ``step``, ``arm``, ``observation``.
    policy
        ``gradient``: the softmax policy over the candidates after the last pull; else empty.
    """

    index: int
    means: np.ndarray
    counts: np.ndarray
    iterations: int
    history: tuple[dict, ...]
    policy: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))


def design(learners, objective: Objective, candidates=None,
           params: PrincipalParams | None = None, /, *, seed: int = 0,
           rng: np.random.Generator | None = None, **overrides) -> DesignResult:
    """Choose the candidate ``phi`` (a context of ``learners``) that maximises ``objective``.

    Parameters
    ----------
    learners
        the agents (they learn during the pulls): an
        :class:`~econcs.contracts.social.IndependentLearners`, a
        :class:`~econcs.contracts.social.HarvestLearners`, or anything with ``contexts`` and
        ``observe(objective, arms, steps)``.
    objective
        the elected :class:`~econcs.contracts.social.Objective` (or a name without a
        parameter: ``"nash"``).
    candidates
        indices of the learners' contexts allowed this round (default: all).
    params
        a :class:`PrincipalParams` (or keyword overrides).
    seed, rng
        Thompson sampling's generator (``rng`` wins when given).
    """
    from econcs.shared import resolve_params

    p = resolve_params(PrincipalParams, params, **overrides)
    if isinstance(objective, str):
        objective = Objective(objective)
    if not isinstance(objective, Objective):
        raise TypeError(f"objective: expected an Objective or an objective's name, got "
                        f"{type(objective).__name__}.")
    n_all = learners.contexts.shape[0]
    cand = np.arange(n_all) if candidates is None else np.asarray(candidates, dtype=np.int64)
    if cand.ndim != 1 or cand.size == 0 or cand.min() < 0 or cand.max() >= n_all:
        raise ValueError(f"candidates: expected a non-empty list of context indices in "
                         f"0..{n_all - 1}, got {np.asarray(candidates).tolist()}.")
    rng = make_rng(seed) if rng is None else rng
    k = cand.size
    # running statistics per candidate (Welford): O(1) per pull, not a pass over every pull
    counts = np.zeros(k, dtype=np.int64)
    means = np.zeros(k)
    m2 = np.zeros(k)  # sum of squared deviations from the running mean
    rows: list[dict] = []

    def pull(local: np.ndarray) -> None:
        vals = learners.observe(objective, torch.as_tensor(cand[local]), p.agent_steps)
        for j, v in zip(local, vals):
            v = float(v)
            counts[j] += 1
            d = v - means[j]
            means[j] += d / counts[j]
            m2[j] += d * (v - means[j])
            rows.append({"step": len(rows) + 1, "arm": int(cand[j]), "observation": v})

    if p.method == "grid":
        for _ in range(math.ceil(p.max_iter / k)):
            pull(np.arange(k))
    elif p.method == "gradient":
        return _gradient_design(p, k, cand, rng, pull, means, counts, rows)
    else:
        pull(np.arange(k))  # every candidate once
        while len(rows) < max(p.max_iter, k):
            if p.method == "ucb":
                spread = max(means.max() - means.min(), 1e-12)
                score = means + p.ucb_c * spread * np.sqrt(2 * np.log(len(rows)) / counts)
            else:
                dof = max(len(rows) - k, 1)  # the pooled residual variance
                s2 = max(float(m2.sum()) / dof, 1e-12 * (1 + float(np.abs(means).max())))
                score = means + np.sqrt(s2 / counts) * rng.standard_normal(k)
            pull(np.array([int(np.argmax(score))]))
    return DesignResult(int(cand[int(np.argmax(means))]), means.copy(), counts.copy(),
                        len(rows), history_tuple(rows))


def _gradient_design(p: PrincipalParams, k: int, cand: np.ndarray, rng: np.random.Generator,
                     pull, means: np.ndarray, counts: np.ndarray, rows: list) -> DesignResult:
    """The softmax policy-gradient principal (gradient bandit): ``pull`` updates ``means`` and
    ``counts`` in place and appends to ``rows``."""
    logits = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=p.pg_lr)

    def update() -> None:
        # the softmax policy's gradient of its expected value under the current mean estimates
        # (an actor-critic step; times k, so that from the uniform policy a logit moves by
        # pg_lr times its candidate's scaled advantage)
        scale = max(float(means.max() - means.min()), 1e-12)
        value = torch.as_tensor((means - means.mean()) / scale)
        opt.zero_grad()
        (-k * (torch.softmax(logits, 0) * value).sum()).backward()
        opt.step()

    pull(np.arange(k))  # every candidate once
    update()
    while len(rows) < max(p.max_iter, k):
        probs = torch.softmax(logits.detach(), 0).numpy()
        pull(np.array([int(rng.choice(k, p=probs / probs.sum()))]))
        update()
    policy = torch.softmax(logits.detach(), 0).numpy()
    return DesignResult(int(cand[int(np.argmax(policy))]), means.copy(), counts.copy(),
                        len(rows), history_tuple(rows), policy)
