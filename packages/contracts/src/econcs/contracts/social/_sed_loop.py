"""The Social Environment Design loop: vote, design within the divergence budget, play; repeat.

Zhang et al. (ICML 2024, arXiv 2402.14090), Def. 3.1-3.4. Each round

1. the agents vote (:func:`~econcs.contracts.social.vote`) over the candidate objectives, sincerely:
   each ranks an objective by its own utility at the parameters that objective's optimum would give
   (the voters know their type and the economy: its exact best responses), or reports its eta
   (``mean`` / ``median`` rules elect ``eta * sum + (1 - eta) * min``);
2. the principal (:func:`~econcs.contracts.social.design`) picks ``phi`` among the candidates
   within the divergence budget ``max |phi - phi_prev| <= delta`` of the last round's, without
   knowing the agents' responses: the agents learn during its pulls;
3. the agents play (and keep learning) the chosen ``phi`` for ``play_steps`` periods.

The next round starts from the agents' state. Per round the loop records the elected objective,
``phi``, the welfare of the agents' learned play under the elected and every candidate objective,
the Gini of incomes, productivity, and the gap to the exact optimum within the budget (the best
candidate for the elected objective under exact best responses).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch

from econcs.contracts.social._learners import AgentLearnerParams, IndependentLearners
from econcs.contracts.social._objectives import OBJECTIVES, Objective, gini
from econcs.contracts.social._principals import PrincipalParams, design
from econcs.contracts.social._voting import rankings_from_utilities, vote
from econcs.shared import Callback, Params, history_tuple, nested, param, resolve_params
from econcs.shared.validation import check_array, check_int

__all__ = ["SEDParams", "SEDResult", "run_sed"]

_BALLOT_OBJECTIVES = tuple(o for o in OBJECTIVES if o != "eta_mix")


@dataclasses.dataclass(frozen=True)
class SEDParams(Params):
    """Parameters of the Social Environment Design loop (:func:`run_sed`)."""

    rounds: int = param(3, "rounds of vote -> design -> play", low=1)
    voting: Literal["none", "plurality", "borda", "irv", "copeland", "condorcet", "approval",
                    "mean", "median"] = param("none", "voting rule (none: the fixed objective)")
    objective: Literal["utilitarian", "nash", "egalitarian", "eta_mix",
                       "equality_productivity"] = param("egalitarian",
                                                        "the objective when voting=none")
    eta: float = param(0.5, "eta of objective=eta_mix", low=0.0, high=1.0)
    candidates: tuple[str, ...] = param(("utilitarian", "nash", "egalitarian"),
                                        "the objectives on the ballot (ranked / approval rules)")
    etas: tuple[float, ...] = param((), "reported etas of the voters (mean / median rules; "
                                    "default: drawn U[0, 1] from the seed)", low=0.0, high=1.0)
    delta: float = param(1.0, "divergence budget: max |phi - phi_prev| per round", low=0.0)
    play_steps: int = param(50, "periods the agents play (and learn) the chosen phi per round",
                            low=1)
    principal: PrincipalParams = nested(PrincipalParams, "the principal's design step")
    agents: AgentLearnerParams = nested(AgentLearnerParams, "the agents' learning")

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [c for c in self.candidates if c not in _BALLOT_OBJECTIVES]
        if bad or not self.candidates:
            raise ValueError(f"candidates: expected objectives among {_BALLOT_OBJECTIVES}, got "
                             f"{self.candidates}.")
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError(f"candidates: repeated objective in {self.candidates}.")


@dataclasses.dataclass(frozen=True)
class SEDResult:
    """The rounds of a Social Environment Design run.

    Attributes
    ----------
    phi
        (rounds, n_params) the principal's parameters, round by round.
    elected
        the elected objective's label per round (``eta_mix(0.25)``).
    objectives
        the elected :class:`~econcs.contracts.social.Objective` per round.
    actions
        (n_agents,) the agents' learned actions under the last ``phi``.
    rounds
        rounds done.
    history
        one row per round (``step`` = round): ``tax`` (phi[0]), ``welfare`` (the elected
        objective), ``welfare_<objective>``, ``gini``, ``productivity``, ``closed_form_tax``,
        ``gap_to_closed_form``, ``elected_index``.
    """

    phi: np.ndarray
    elected: tuple[str, ...]
    objectives: tuple[Objective, ...]
    actions: np.ndarray
    rounds: int
    history: tuple[dict, ...]


def _exact_outcome(economy, grid: torch.Tensor) -> dict[str, torch.Tensor]:
    """The outcome of every grid point under exact best responses, computed once per run (the
    grid and the economy do not change between rounds; each round indexes its allowed subset)."""
    phi = grid.double()
    return economy.outcome(economy.best_response(phi), phi)


def _exact_optima(exact: dict[str, torch.Tensor], allowed: np.ndarray,
                  objectives: list[Objective]) -> tuple[np.ndarray, torch.Tensor]:
    """Indices (into the grid) of each objective's exact optimum among ``allowed``, and the
    agents' utilities there ``(n_objectives, n_agents)``; ``exact`` from :func:`_exact_outcome`."""
    sel = torch.as_tensor(allowed)
    util, inc = exact["utility"][sel], exact["income"][sel]
    pos = [int(o(util, inc).argmax()) for o in objectives]
    return allowed[pos], util[pos]


def _elect(p: SEDParams, exact, allowed, etas: np.ndarray) -> Objective:
    if p.voting == "none":
        return Objective(p.objective, p.eta if p.objective == "eta_mix" else None)
    if p.voting in ("mean", "median"):
        return Objective("eta_mix", vote(p.voting, etas).value)
    cands = [Objective(c) for c in p.candidates]
    _, util = _exact_optima(exact, allowed, cands)
    u = util.T.cpu().numpy()  # (voters, candidates)
    if p.voting == "approval":  # approve what is at least as good as one's average candidate
        res = vote("approval", u >= u.mean(1, keepdims=True) - 1e-12)
    else:
        res = vote(p.voting, rankings_from_utilities(u))
    # no Condorcet winner: the Copeland winner (the Condorcet winner whenever one exists)
    winner = res.winner if res.winner is not None else \
        vote("copeland", rankings_from_utilities(u)).winner
    return cands[winner]


def _round_metrics(economy, learners, grid, exact, index, allowed, elected,
                   p) -> dict[str, float]:
    act = learners.actions([index]).double()
    phi = grid[index][None].double()
    out = economy.outcome(act, phi)
    best, _ = _exact_optima(exact, allowed, [elected])
    row = {"tax": float(grid[index, 0]), "welfare": float(elected(out["utility"], out["income"])),
           "gini": float(gini(out["income"])), "productivity": float(out["productivity"]),
           "revenue": float(out["revenue"]), "closed_form_tax": float(grid[best[0], 0]),
           "gap_to_closed_form": float((grid[index] - grid[best[0]]).abs().max())}
    names = list(dict.fromkeys([*p.candidates, p.objective]))
    for name in names:
        obj = Objective(name, p.eta if name == "eta_mix" else None)
        row[f"welfare_{name}"] = float(obj(out["utility"], out["income"]))
    return row


def run_sed(economy, grid, params: SEDParams | None = None, /, *, phi0=None, seed: int = 0,
            generator: torch.Generator | None = None, device: torch.device | str = "cpu",
            dtype: torch.dtype = torch.float32, callback: Callback | None = None,
            resume: tuple[int, dict] | None = None, **overrides) -> SEDResult:
    """Run the Social Environment Design loop on ``economy``.

    Parameters
    ----------
    economy
        a :class:`~econcs.contracts.social.TaxEconomy` or
        :class:`~econcs.contracts.social.CommonPoolResource`.
    grid
        (n_candidates, n_params) the parameters the principal may choose.
    params
        an :class:`SEDParams` (or keyword overrides, nested keys by their bare names are not
        accepted here: pass ``principal=PrincipalParams(...)``).
    phi0
        (n_params,) the initial parameters (default: the first grid point); the first round's
        choice lies within ``delta`` of it.
    seed, generator
        randomness (the agents' sampling; the principal's Thompson draws and the voters' etas
        derive from ``seed``).
    callback
        ``callback(round, metrics, state_fn)`` after each round; ``resume=(round, state)``
        continues from ``state_fn()``'s state.
    """
    p = resolve_params(SEDParams, params, **overrides)
    seed = check_int(seed, "seed", low=0)
    g = torch.as_tensor(check_array(grid, "grid", ndim=2))
    prev = g[0] if phi0 is None else torch.as_tensor(check_array(phi0, "phi0",
                                                                 shape=(g.shape[1],)))
    learners = IndependentLearners(economy, g, p.agents, seed=seed, generator=generator,
                                   device=device, dtype=dtype)
    if p.etas and len(p.etas) != economy.n_agents:
        raise ValueError(f"etas: expected one reported eta per agent ({economy.n_agents}), got "
                         f"{len(p.etas)}.")
    etas = np.asarray(p.etas) if p.etas else \
        np.random.default_rng([seed, 7]).uniform(0, 1, economy.n_agents)
    rows: list[dict] = []
    phis: list[np.ndarray] = []
    objectives: list[Objective] = []
    exact = _exact_outcome(economy, g)
    start = 0
    if resume is not None:
        start, state = resume
        learners.load_state_dict(state["learners"])
        prev = torch.as_tensor(state["phi_prev"], dtype=torch.float64)
        rows = [dict(r) for r in state["history"]]
        phis = [g[int(r["index"])].numpy() for r in rows]
        objectives = [Objective(name, None if eta < 0 else float(eta))
                      for name, eta in zip(state["elected"], state["elected_eta"])]
    for rnd in range(start, p.rounds):
        allowed = np.flatnonzero((g - prev).abs().max(-1).values <= p.delta + 1e-9)
        if allowed.size == 0:
            raise ValueError(f"delta: no candidate lies within delta={p.delta} of phi0="
                             f"{prev.tolist()}; raise delta or start on the grid.")
        elected = _elect(p, exact, allowed, etas)
        choice = design(learners, elected, allowed, p.principal,
                        rng=np.random.default_rng([seed, rnd]))
        learners.learn([choice.index], p.play_steps)
        row = {"step": rnd + 1, "index": choice.index, "pulls": choice.iterations,
               **_round_metrics(economy, learners, g, exact, choice.index, allowed, elected, p)}
        rows.append(row)
        phis.append(g[choice.index].numpy())
        objectives.append(elected)
        prev = g[choice.index].double()
        if callback is not None:
            metrics = {k: v for k, v in row.items() if k != "step"}
            callback(rnd + 1, metrics, lambda prev=prev: {
                "learners": learners.state_dict(), "phi_prev": prev.clone(),
                "history": [dict(r) for r in rows], "elected": [o.name for o in objectives],
                "elected_eta": [-1.0 if o.eta is None else o.eta for o in objectives]})
    last = rows[-1]["index"]
    return SEDResult(np.stack(phis), tuple(o.label for o in objectives), tuple(objectives),
                     learners.actions([last])[0].double().cpu().numpy(), len(rows),
                     history_tuple(rows))
