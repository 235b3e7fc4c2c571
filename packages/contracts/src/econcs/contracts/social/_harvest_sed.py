"""The Social Environment Design loop on the commons-harvest gridworld.

Zhang et al. (ICML 2024, arXiv 2402.14090), Sec. 5: each round the agents report their eta (the
paper: their selfishness ``sigma``) and the mean (or median) elects ``eta * sum + (1 - eta) * min``
of the agents' extrinsic returns (or a fixed objective), the principal
(:func:`~econcs.contracts.social.design`) picks bracket rates among the candidates within the
divergence budget ``max |phi - phi_prev| <= delta`` while the agents learn in them, and the agents
play (and keep learning) the chosen rates. Unlike the tax economy no exact best response is known,
so ranked votes over objectives are not offered here; per round the loop records the elected
objective, ``phi``, the welfare, the agents' apples, their Gini and the harvest's share of the
exact planner's optimum (:func:`~econcs.contracts.social.harvest_optimum`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch

from econcs.contracts.social._harvest import HarvestGame, harvest_optimum
from econcs.contracts.social._harvest_learners import HarvestLearnerParams, HarvestLearners
from econcs.contracts.social._objectives import Objective, gini
from econcs.contracts.social._principals import PrincipalParams, design
from econcs.contracts.social._sed_loop import SEDResult
from econcs.contracts.social._voting import vote
from econcs.shared import Callback, Params, history_tuple, nested, param, resolve_params
from econcs.shared.validation import check_array, check_int

__all__ = ["HarvestSEDParams", "run_sed_harvest"]


@dataclasses.dataclass(frozen=True)
class HarvestSEDParams(Params):
    """Parameters of the harvest SED loop (:func:`run_sed_harvest`)."""

    rounds: int = param(1, "rounds of vote -> design -> play", low=1)
    voting: Literal["none", "mean", "median"] = param(
        "mean", "voting rule over the reported etas (none: the fixed objective)")
    objective: Literal["utilitarian", "nash", "egalitarian", "eta_mix",
                       "equality_productivity"] = param("eta_mix", "the objective when "
                                                        "voting=none")
    eta: float = param(0.5, "eta of objective=eta_mix", low=0.0, high=1.0)
    etas: tuple[float, ...] = param((), "reported etas (default: the agents' selfishness, else "
                                    "U[0, 1] from the seed)", low=0.0, high=1.0)
    delta: float = param(1.0, "divergence budget: max |phi - phi_prev| per round", low=0.0)
    play_steps: int = param(10, "episodes the agents play (and learn) the chosen phi per round",
                            low=1)
    principal: PrincipalParams = nested(PrincipalParams, "the principal's design step",
                                        max_iter=3, agent_steps=20)
    agents: HarvestLearnerParams = nested(HarvestLearnerParams, "the agents' learning")


def _elect(p: HarvestSEDParams, etas: np.ndarray) -> Objective:
    if p.voting == "none":
        return Objective(p.objective, p.eta if p.objective == "eta_mix" else None)
    return Objective("eta_mix", vote(p.voting, etas).value)


def run_sed_harvest(game: HarvestGame, candidates, params: HarvestSEDParams | None = None, /, *,
                    phi0=None, seed: int = 0, generator: torch.Generator | None = None,
                    callback: Callback | None = None, resume: tuple[int, dict] | None = None,
                    **overrides) -> tuple[SEDResult, HarvestLearners]:
    """Run the SED loop on ``game``; returns the result and the learners (to evaluate them).

    Parameters
    ----------
    game
        a :class:`~econcs.contracts.social.HarvestGame`.
    candidates
        (n_candidates, n_params) the bracket rates the principal may choose.
    phi0
        (n_params,) the rates before round 1 (default: the first candidate).
    seed, generator
        randomness (the games and the agents' actions; the principal's draws and default etas
        derive from ``seed``).
    callback
        ``callback(round, metrics, state_fn)`` after each round; ``resume=(round, state)``
        continues from ``state_fn()``'s state (the learners' tables, optimiser and generator,
        the last ``phi``, the rounds' rows and elected objectives) and ends as an uninterrupted
        run (the principal's draws of round ``r`` derive from ``(seed, r)``).
    """
    p = resolve_params(HarvestSEDParams, params, **overrides)
    seed = check_int(seed, "seed", low=0)
    g = game.check_phi(torch.as_tensor(check_array(candidates, "candidates", ndim=2)))
    prev = g[0] if phi0 is None else game.check_phi(
        torch.as_tensor(check_array(phi0, "phi0", shape=(g.shape[1],))))
    if p.etas and len(p.etas) != game.n_agents:
        raise ValueError(f"etas: expected one reported eta per agent ({game.n_agents}), got "
                         f"{len(p.etas)}.")
    if p.etas:
        etas = np.asarray(p.etas)
    elif bool((game.selfishness < 1).any()):
        etas = game.selfishness.numpy()
    else:
        etas = np.random.default_rng([seed, 7]).uniform(0, 1, game.n_agents)
    learners = HarvestLearners(game, g, p.agents, seed=seed, generator=generator)
    optimum = harvest_optimum(game)
    rows: list[dict] = []
    objectives: list[Objective] = []
    start = 0
    if resume is not None:
        start, state = resume
        learners.load_state_dict(state["learners"])
        prev = torch.as_tensor(state["phi_prev"], dtype=torch.float64)
        rows = [dict(r) for r in state["history"]]
        objectives = [Objective(name, None if eta < 0 else float(eta))
                      for name, eta in zip(state["elected"], state["elected_eta"])]
        if start != len(rows) or start > p.rounds:
            raise ValueError(f"resume: a state of {len(rows)} rounds at round {start} does not "
                             f"continue a run of {p.rounds} rounds.")
    for rnd in range(start, p.rounds):
        allowed = np.flatnonzero((g - prev).abs().max(-1).values <= p.delta + 1e-9)
        if allowed.size == 0:
            raise ValueError(f"delta: no candidate lies within delta={p.delta} of phi0="
                             f"{prev.tolist()}; raise delta or start on a candidate.")
        elected = _elect(p, etas)
        choice = design(learners, elected, allowed, p.principal,
                        rng=np.random.default_rng([seed, rnd]))
        ext = learners.learn([choice.index], p.play_steps)[0]  # (batch, n) the last episode
        harvest = float(ext.sum(-1).mean())
        rows.append({"step": rnd + 1, "index": choice.index, "pulls": choice.iterations,
                     "tax": float(g[choice.index].max()),
                     **{f"rate_{j}": float(g[choice.index, j]) for j in range(g.shape[1])},
                     "welfare": float(elected(ext).mean()), "apples": harvest,
                     "gini": float(gini(ext.clamp(min=0)).mean()),
                     "optimum_share": harvest / optimum, "elected_eta": float(elected.eta or 0)})
        objectives.append(elected)
        prev = g[choice.index]
        if callback is not None:
            callback(rnd + 1, {k: v for k, v in rows[-1].items() if k != "step"},
                     lambda prev=prev: {
                         "learners": learners.state_dict(), "phi_prev": prev.clone(),
                         "history": [dict(r) for r in rows],
                         "elected": [o.name for o in objectives],
                         "elected_eta": [-1.0 if o.eta is None else o.eta for o in objectives]})
    per_agent = learners.last_returns[0].mean(0).numpy()
    phis = np.stack([g[r["index"]].numpy() for r in rows])
    return (SEDResult(phis, tuple(o.label for o in objectives), tuple(objectives), per_agent,
                      len(rows), history_tuple(rows)), learners)
