"""The ``econcs`` experiments of Social Environment Design: ``contracts.voting``, ``contracts.sed-tax``,
``contracts.sed-harvest``.

Zhang et al. (ICML 2024, arXiv 2402.14090) report no numbers; the references are textbook
profiles (the Tennessee capital, the Condorcet cycle, the median-voter theorem) and the tax
economy's closed forms (``l* = (1 - t) s / (2c)``; utilitarian ``t* = 0``, maximin
``t* = (S2 - s_min^2) / (2 S2 - s_min^2)``, the others' exact optimum on a fine grid under exact
best responses); on the harvest gridworld, the exact planner's optimum (an upper bound) and the
paired comparison with no tax. The suite of econcs-contracts lists these experiments and rows.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import numpy as np
import torch

from econcs.contracts.social._harvest import HarvestGame, harvest_optimum
from econcs.contracts.social._harvest_sed import HarvestSEDParams, run_sed_harvest
from econcs.contracts.social._objectives import OBJECTIVES, Objective, gini
from econcs.contracts.social._sed_loop import SEDParams, run_sed
from econcs.contracts.social._tax_economy import TaxEconomy
from econcs.contracts.social._voting import (
    condorcet_winner,
    impartial_culture,
    single_peaked_ballots,
    vote,
    weighted_median,
)
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    Reference,
    Reproduction,
    RunContext,
)
from econcs.shared.params import Params, nested, param

__all__ = ["EXPERIMENTS", "FULL", "QUICK", "SMOKE"]

SED = "Zhang et al. 2024 (arXiv 2402.14090)"
_TENNESSEE = np.array([[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 1, 0], [3, 2, 1, 0]])
_TENNESSEE_SHARES = np.array([42.0, 26.0, 15.0, 17.0])
_CYCLE = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
_RANKED = ("plurality", "borda", "irv", "copeland", "condorcet")


# voting -------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class VotingConfig(Params):
    """Config of ``contracts.voting``."""

    profile: Literal["tennessee", "cycle", "single_peaked", "impartial"] = param(
        "tennessee", "the ballots: a textbook profile or random ones from the seed")
    rule: Literal["plurality", "borda", "irv", "copeland", "condorcet", "approval", "mean",
                  "median"] = param("borda", "the rule whose winner is the metric 'winner'")
    n_voters: int = param(25, "voters of the random profiles", low=1)
    n_candidates: int = param(11, "candidates of the random profiles", low=2)
    n_profiles: int = param(200, "random profiles (single_peaked, impartial)", low=1)


def _textbook(config: VotingConfig) -> ExperimentResult:
    ballots, weights = ((_TENNESSEE, _TENNESSEE_SHARES) if config.profile == "tennessee"
                        else (_CYCLE, None))
    metrics: dict[str, float] = {}
    for rule in _RANKED:
        res = vote(rule, ballots, weights)
        metrics[f"winner_{rule}"] = -1.0 if res.winner is None else float(res.winner)
        metrics[f"tied_{rule}"] = float(len(res.tied))
    if config.rule in _RANKED:
        metrics["winner"] = metrics[f"winner_{config.rule}"]
    if config.profile == "tennessee":
        src = "Tennessee capital (0 Memphis, 1 Nashville, 2 Chattanooga, 3 Knoxville)"
        refs = {f"winner_{r}": Reference(float(w), src, atol=0)
                for r, w in (("plurality", 0), ("borda", 1), ("condorcet", 1), ("irv", 3))}
        metrics["borda_nashville"] = float(vote("borda", ballots, weights).scores[1])
        refs["borda_nashville"] = Reference(194.0, "Borda points: 42*2 + 26*3 + 15 + 17", atol=0)
    else:
        refs = {"winner_condorcet": Reference(-1.0, "a Condorcet cycle: no winner", atol=0),
                "tied_borda": Reference(3.0, "a Condorcet cycle: a three-way Borda tie", atol=0)}
    return ExperimentResult(metrics, refs)


def run_voting(config: VotingConfig, ctx: RunContext) -> ExperimentResult:
    """Textbook profiles against their known winners; random single-peaked profiles against the
    median-voter theorem; impartial-culture profiles: how often a Condorcet winner exists."""
    if config.profile in ("tennessee", "cycle"):
        return _textbook(config)
    rng = ctx.rng("profiles")
    positions = np.linspace(0.0, 1.0, config.n_candidates)
    agree = exists = same_borda = 0
    for _ in range(config.n_profiles):
        if config.profile == "single_peaked":
            peaks = rng.uniform(0, 1, config.n_voters)
            ballots = single_peaked_ballots(peaks, positions)
        else:
            ballots = impartial_culture(config.n_voters, config.n_candidates, rng=rng)
        cw = condorcet_winner(ballots)
        exists += cw is not None
        if config.profile == "single_peaked":
            agree += cw is not None and positions[cw] == weighted_median(positions[ballots[:, 0]])
        same_borda += cw is not None and vote("borda", ballots).winner == cw
    metrics = {"condorcet_exists": exists / config.n_profiles,
               "borda_is_condorcet": same_borda / max(exists, 1)}
    refs: dict[str, Reference] = {}
    if config.profile == "single_peaked":
        metrics["median_is_condorcet"] = agree / config.n_profiles
        refs["median_is_condorcet"] = Reference(
            1.0, "median-voter theorem (Black 1948): odd voters, single-peaked", atol=0) \
            if config.n_voters % 2 else Reference(0.0, "even voters: not guaranteed",
                                                  relation="ge")
    return ExperimentResult(metrics, refs)


# the tax economy ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SEDTaxConfig(Params):
    """Config of ``contracts.sed-tax``."""

    skills: tuple[float, ...] = param((1.0, 2.0, 3.0, 4.0), "agents' skills", low=0.0,
                                      low_inclusive=False)
    cost: float = param(0.5, "effort cost c in c l^2", low=0.0, low_inclusive=False)
    n_taxes: int = param(21, "candidate linear taxes, evenly spaced on [0, 1]", low=2)
    sed: SEDParams = nested(SEDParams, "the SED loop (voting, objective, rounds, delta, "
                            "principal, agents)")
    principal: Literal["", "grid", "ucb", "thompson", "gradient"] = param(
        "", "the principal: grid, ucb, thompson or gradient (empty: the key method)")
    checkpoint_every: int = param(0, "checkpoint every this many rounds (0: never)", low=0)
    plot: bool = param(False, "save plots of welfare, Gini, productivity and the tax per round "
                       "(needs matplotlib)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.skills:
            raise ValueError("skills: expected at least one agent's skill (n_agents >= 1).")


@functools.lru_cache(maxsize=64)
def _fine_optimum(skills: tuple[float, ...], cost: float, objective: Objective, lo: float,
                  hi: float) -> float:
    """The objective's optimum over 20001 linear taxes under exact best responses, cached by
    the economy's and the objective's parameters (several metrics and rows ask for it)."""
    eco = TaxEconomy(list(skills), cost=cost)
    fine = torch.linspace(lo, hi, 20_001, dtype=torch.float64)[:, None]
    out = eco.outcome(eco.best_response(fine), fine)
    return float(fine[objective(out["utility"], out["income"]).argmax(), 0])


def _sed_params(config):
    """The config's SED parameters with ``principal=`` (when set) as the principal's method."""
    if not config.principal:
        return config.sed
    return dataclasses.replace(config.sed, principal=dataclasses.replace(
        config.sed.principal, method=config.principal))


def _exact_tax(eco: TaxEconomy, objective: Objective, lo: float = 0.0, hi: float = 1.0) -> float:
    if objective.name == "utilitarian":
        return TaxEconomy.utilitarian_tax()
    if objective.name == "egalitarian":
        return eco.maximin_tax()
    return _fine_optimum(tuple(eco.skills.tolist()), eco.cost, objective, lo, hi)


def run_sed_tax(config: SEDTaxConfig, ctx: RunContext) -> ExperimentResult:
    """The SED loop on the one-step tax economy; the last round's tax against the closed form."""
    eco = TaxEconomy(list(config.skills), cost=config.cost)
    grid = torch.linspace(0, 1, config.n_taxes, dtype=torch.float64)[:, None]
    step = 1.0 / (config.n_taxes - 1)
    p = _sed_params(config)
    res = run_sed(eco, grid, p, seed=ctx.seed, generator=ctx.generator("agents"),
                  device=ctx.device, callback=ctx.callback(log_every=1),
                  resume=ctx.load_checkpoint())
    last = res.history[-1]
    objective = res.objectives[-1]
    name = objective.name
    # the whole grid within reach: the closed form itself; else the exact optimum among the
    # candidates the budget allowed in the last round (exact best responses)
    whole = p.delta >= 1.0
    exact = _exact_tax(eco, objective) if whole else last["closed_form_tax"]
    fine_phi = torch.tensor([[exact]], dtype=torch.float64)
    out = eco.outcome(eco.best_response(fine_phi), fine_phi)
    exact_welfare = float(objective(out["utility"], out["income"])[0])
    names = [*p.candidates, "eta_mix", "equality_productivity"]
    metrics = {"elected_objective": float(names.index(name) if name in names else -1),
               "tax": last["tax"], "welfare": last["welfare"], "gini": last["gini"],
               "productivity": last["productivity"], "revenue": last["revenue"],
               "closed_form_tax": exact, "closed_form_welfare": exact_welfare,
               "gap_to_closed_form": abs(last["tax"] - exact),
               "unconstrained_optimum": _exact_tax(eco, objective)}
    for key, value in last.items():
        if key.startswith("welfare_"):
            metrics[key] = value
    src = {"utilitarian": "closed form t* = 0",
           "egalitarian": "closed form (S2 - s_min^2) / (2 S2 - s_min^2)"}.get(
               name, "exact optimum under exact best responses (fine grid)")
    if not whole:
        src = f"exact optimum within the budget delta = {p.delta:g} (exact best responses)"
    refs = {"gap_to_closed_form": Reference(step, f"{src}: within one grid step",
                                            relation="le", atol=1e-9),
            "welfare": Reference(exact_welfare, f"{src}: the elected objective there",
                                 rtol=0.02, relation="ge")}
    if config.plot and ctx.plots_enabled:
        _save_plots(ctx, res.history, ("welfare", "gini", "productivity"))
    return ExperimentResult(metrics, refs)


# the commons-harvest gridworld -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SEDHarvestConfig(Params):
    """Config of ``contracts.sed-harvest``."""

    n_agents: int = param(3, "agents (the paper: 7)", low=1)
    patches: int = param(1, "3 x 3 orchards in a row, 5 cells apart (regrowing independently)",
                         low=1)
    regrowth: tuple[float, ...] = param((0.0, 0.02, 0.04, 0.15), "regrowth probability with 0, "
                                        "1, 2, >= 3 apples within radius 2 (the paper's "
                                        "[0, 0.0025, 0.005, 0.025] over 1000 steps)",
                                        low=0.0, high=1.0)
    cutoffs: tuple[float, ...] = param((1.0, 2.0), "apples per period where tax brackets 2, 3 "
                                       "begin (the paper: 10, 20)", low=0.0, low_inclusive=False)
    tax_period: int = param(10, "steps per tax period (the paper: 50)", low=1)
    max_steps: int = param(50, "steps per episode (the paper: 1000)", low=1)
    taxes: tuple[float, ...] = param((0.0, 0.5, 1.0), "candidate rates t, the first 0 (no tax)",
                                     low=0.0, high=1.0)
    schedule: Literal["flat", "progressive"] = param(
        "flat", "bracket rates of a candidate t: (t, t, t) or progressive (0, t/2, t)")
    random_types: bool = param(False, "agents' selfishness and trust drawn U[0, 1] (the paper; "
                               "they report their selfishness as eta); else selfish agents")
    n_seeds: int = param(3, "paired learning runs (tax vs no tax, each from its own seed)", low=2)
    n_eval: int = param(64, "evaluation games per policy", low=1)
    sed: HarvestSEDParams = nested(HarvestSEDParams, "the SED loop (voting, rounds, delta, "
                                   "principal, agents)")
    principal: Literal["", "grid", "ucb", "thompson", "gradient"] = param(
        "", "the principal: grid, ucb, thompson or gradient (empty: the key method)")
    plot: bool = param(False, "save plots of welfare, apples and the tax per round (needs "
                       "matplotlib)")
    checkpoint_every: int = param(0, "checkpoint every this many rounds, counted over the "
                                  "seeds (0: never)", low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.taxes[0] != 0.0:
            raise ValueError(f"taxes: the first candidate must be 0 (no tax, the baseline), got "
                             f"{self.taxes}.")
        if len(self.regrowth) != 4:
            raise ValueError(f"regrowth: expected 4 probabilities, got {self.regrowth}.")


def harvest_layout(patches: int) -> tuple[str, ...]:
    """Five rows with ``patches`` 3 x 3 orchards, five floor cells apart."""
    width = 7 * patches
    rows = ["." * width] + ["".join(".AAA..."[c % 7] for c in range(width))] * 3
    return (*rows, "." * width)


def _harvest_candidates(config: SEDHarvestConfig, n_params: int) -> torch.Tensor:
    t = torch.tensor(config.taxes, dtype=torch.float64)[:, None]
    shape = torch.ones(n_params, dtype=torch.float64) if config.schedule == "flat" else \
        torch.linspace(0.0, 1.0, n_params, dtype=torch.float64)
    return t * shape


def _harvest_types(config: SEDHarvestConfig, ctx: RunContext, s: int) -> dict:
    if not config.random_types:
        return {}
    rng = ctx.rng(f"types{s}")
    return {"selfishness": torch.as_tensor(rng.uniform(0, 1, config.n_agents)),
            "trust": torch.as_tensor(rng.uniform(0, 1, config.n_agents))}


def _harvest_evaluate(config: SEDHarvestConfig, res, learners) -> dict[str, float]:
    """The chosen tax against no tax (trained as long) on the elected objective, one seed."""
    chosen = res.history[-1]["index"]
    deficit = int(learners.updates[chosen] - learners.updates[0])
    if deficit > 0:  # no tax trained as long as the chosen tax
        learners.learn([0], deficit)
    ev = learners.evaluate([0, chosen], config.n_eval)  # (2, games, n)
    w = res.objectives[-1](ev).mean(1)
    return {"welfare_none": float(w[0]), "welfare": float(w[1]), "gain": float(w[1] - w[0]),
            "apples_none": float(ev[0].sum(-1).mean()), "apples": float(ev[1].sum(-1).mean()),
            "gini": float(gini(ev[1].clamp(min=0)).mean())}


def run_sed_harvest_experiment(config: SEDHarvestConfig, ctx: RunContext) -> ExperimentResult:
    """SED on the harvest gridworld, one learning run per seed; the chosen tax against no tax
    (paired over the seeds) on the elected objective, and the harvest against the exact optimum.

    The run's step is ``seed * rounds + round``; a checkpoint (every ``checkpoint_every`` rounds)
    holds the finished seeds' evaluations, seed 0's rounds, the current seed's agent types and
    its SED loop's state, so a killed run resumes to the metrics of an uninterrupted one."""
    layout = harvest_layout(config.patches)
    sed = _sed_params(config)
    rounds = sed.rounds
    # the finished seeds' evaluations; seed 0's rounds and elected objective (metrics, plots)
    book: dict = {"done": [], "first": None}
    start, resume, saved_types = 0, None, None
    loaded = ctx.load_checkpoint()
    if loaded is not None:
        step, state = loaded
        book = {"done": [dict(d) for d in state["done"]], "first": state["first"]}
        start, saved_types = int(state["seed"]), dict(state["types"])
        resume = (step - start * rounds, state["sed"])
    log = ctx.callback(log_every=1)
    for s in range(start, config.n_seeds):
        types = saved_types if s == start and saved_types is not None else \
            _harvest_types(config, ctx, s)
        game = HarvestGame(config.n_agents, layout, config.regrowth, config.cutoffs,
                           config.tax_period, config.max_steps, **types)

        def callback(rnd, metrics, state_fn, s=s, types=types):
            log(s * rounds + rnd, metrics, lambda: {
                "seed": s, "types": types, "done": [dict(d) for d in book["done"]],
                "first": book["first"], "sed": state_fn()})

        res, learners = run_sed_harvest(
            game, _harvest_candidates(config, game.n_params), sed,
            seed=ctx.seed * 1000 + s, generator=ctx.generator(f"seed{s}"), callback=callback,
            resume=resume if s == start else None)
        book["done"].append(_harvest_evaluate(config, res, learners))
        if book["first"] is None:
            obj = res.objectives[-1]
            book["first"] = {"history": [dict(r) for r in res.history], "elected": obj.name,
                             "eta": -1.0 if obj.eta is None else float(obj.eta)}
    done, first = book["done"], book["first"]
    gains = [d["gain"] for d in done]
    apples = float(np.mean([d["apples"] for d in done]))
    apples_none = float(np.mean([d["apples_none"] for d in done]))
    optimum = harvest_optimum(game)
    gain = float(np.mean(gains))
    se = float(np.std(gains, ddof=1) / np.sqrt(len(gains)))
    metrics = {"elected_objective": float(OBJECTIVES.index(first["elected"])),
               "elected_eta": max(float(first["eta"]), 0.0),
               "tax": first["history"][-1]["tax"],
               "welfare": float(np.mean([d["welfare"] for d in done])),
               "welfare_no_tax": float(np.mean([d["welfare_none"] for d in done])),
               "tax_gain": gain, "tax_gain_se": se, "tax_gain_lcb": gain - 2 * se,
               "apples": apples, "apples_no_tax": apples_none,
               "harvest_gain": apples - apples_none, "harvest_optimum": optimum,
               "optimum_share": apples / optimum, "gap_to_closed_form": optimum - apples,
               "gini": float(np.mean([d["gini"] for d in done])), "productivity": apples}
    refs = {"tax_gain_lcb": Reference(0.0, "the principal's tax beats no tax on the elected "
                                      "objective by 2 paired standard errors", relation="ge"),
            "harvest_gain": Reference(0.0, "the tax moves the harvest toward the exact "
                                      "optimum", relation="ge"),
            "apples": Reference(optimum, "exact planner's optimum (backward induction over the "
                                "orchard's configurations): an upper bound", relation="le",
                                atol=1e-9)}
    if config.plot and ctx.plots_enabled:
        _save_plots(ctx, first["history"], ("welfare", "apples", "gini"))
    return ExperimentResult(metrics, refs)


def _save_plots(ctx: RunContext, history, keys) -> None:
    from econcs.contracts.social._plots import plot_rounds, plot_tax_schedule

    ctx.save_figure(plot_rounds(history, keys), "rounds")
    ctx.save_figure(plot_tax_schedule(history), "tax_schedule")


EXPERIMENTS = [
    Experiment("contracts.voting", VotingConfig, run_voting,
               "Voting rules on textbook and random profiles (SED's vote step)."),
    Experiment("contracts.sed-tax", SEDTaxConfig, run_sed_tax,
               "Social Environment Design on a one-step tax economy: vote, a principal learns "
               "the tax with learning agents, against the closed forms."),
    Experiment("contracts.sed-harvest", SEDHarvestConfig, run_sed_harvest_experiment,
               "Social Environment Design on the commons-harvest gridworld: a bracket tax on "
               "apples against no tax, and the exact planner's optimum."),
]

QUICK = [
    # the textbook profile where four rules elect three cities
    Reproduction("contracts.voting", {"profile": "tennessee"}, "Tennessee capital"),
    Reproduction("contracts.voting", {"profile": "cycle"}, "Condorcet cycle"),
    # odd voters: the median voter's favourite is the Condorcet winner in every profile
    Reproduction("contracts.voting", {"profile": "single_peaked", "n_profiles": 200},
                 "single-peaked: median = Condorcet winner"),
    # one round, the whole grid in reach: grid search with agents learning 80 periods per tax
    Reproduction("contracts.sed-tax", {"objective": "egalitarian", "rounds": 1,
                                       "max_iter": 21, "agent_steps": 80},
                 "maximin tax 13/28 (grid principal)"),
    Reproduction("contracts.sed-tax", {"objective": "utilitarian", "rounds": 1,
                                       "max_iter": 21, "agent_steps": 80},
                 "utilitarian tax 0 (grid principal)"),
    Reproduction("contracts.sed-tax", {"objective": "egalitarian", "rounds": 1,
                                       "method": "thompson", "n_taxes": 11, "max_iter": 24,
                                       "agent_steps": 40},
                 "maximin tax 13/28 (Thompson principal, 11 taxes)"),
    # the policy-gradient principal (softmax over the taxes) on the same budget
    Reproduction("contracts.sed-tax", {"objective": "egalitarian", "rounds": 1,
                                       "method": "gradient", "n_taxes": 11, "max_iter": 24,
                                       "agent_steps": 40},
                 "maximin tax 13/28 (policy-gradient principal, 11 taxes)"),
    # reported etas, median rule: the eta-mix objective; AI Economist's equality x productivity
    Reproduction("contracts.sed-tax", {"voting": "median", "rounds": 1, "max_iter": 21,
                                       "agent_steps": 80}, "median-eta objective (grid)"),
    Reproduction("contracts.sed-tax", {"objective": "equality_productivity", "rounds": 1,
                                       "max_iter": 21, "agent_steps": 80},
                 "equality x productivity (grid)"),
    # sincere Borda voters elect Nash, then (as the tax rises) utilitarian; budget 0.1 per round
    Reproduction("contracts.sed-tax", {"voting": "borda", "rounds": 3, "delta": 0.1,
                                       "method": "ucb", "max_iter": 12, "agent_steps": 40},
                 "Borda-elected objective, divergence budget 0.1 (UCB principal)"),
    # harvest gridworld, 3 agents, one 3 x 3 orchard, 50 steps: the mean-eta objective, grid
    # principal over flat taxes 0 / 0.5 / 1, three paired seeds; the exact planner's bound
    Reproduction("contracts.sed-harvest", {"agent_steps": 10, "play_steps": 5},
                 "harvest: tax beats no tax (paired), below the exact optimum"),
    # the same with parameter-shared PPO-clip agents (4 epochs per episode)
    Reproduction("contracts.sed-harvest", {"agent_steps": 10, "play_steps": 5, "update": "ppo"},
                 "harvest, PPO agents: tax beats no tax (paired)"),
]

FULL = [
    Reproduction("contracts.voting", {"profile": "tennessee"}, "Tennessee capital"),
    Reproduction("contracts.voting", {"profile": "single_peaked", "n_profiles": 5000,
                                      "n_voters": 101}, "single-peaked, 101 voters"),
    Reproduction("contracts.sed-tax", {"objective": "egalitarian", "rounds": 10, "delta": 0.05,
                                       "n_taxes": 101, "method": "thompson", "max_iter": 300,
                                       "agent_steps": 60},
                 "maximin tax, 101 taxes, budget 0.05 per round (Thompson)"),
    Reproduction("contracts.sed-tax", {"voting": "median", "rounds": 5, "n_taxes": 101,
                                       "max_iter": 101, "agent_steps": 150},
                 "median-eta objective, 101 taxes (grid)"),
    # harvest gridworld, PPO agents and the policy-gradient principal, two rounds, 5 paired seeds
    Reproduction("contracts.sed-harvest", {"update": "ppo", "principal": "gradient",
                                           "max_iter": 8, "agent_steps": 20, "play_steps": 10,
                                           "rounds": 2, "n_seeds": 5},
                 "harvest: PPO agents, policy-gradient principal, 2 rounds"),
    # harvest gridworld, 5 agents, two orchards, 100 steps, three rounds with budget 0.5 over
    # progressive schedules (0, t/2, t), five paired seeds
    Reproduction("contracts.sed-harvest", {"n_agents": 5, "patches": 2, "max_steps": 100,
                                           "rounds": 3, "delta": 0.5, "schedule": "progressive",
                                           "taxes": (0.0, 0.25, 0.5, 0.75, 1.0), "max_iter": 5,
                                           "agent_steps": 40, "play_steps": 20, "n_seeds": 5},
                 "harvest: progressive tax, 3 rounds, budget 0.5"),
]

SMOKE = [
    Reproduction("contracts.voting", {"profile": "cycle"}),
    Reproduction("contracts.voting", {"profile": "impartial", "n_profiles": 5}),
    Reproduction("contracts.sed-tax", {"rounds": 1, "n_taxes": 5, "max_iter": 5,
                                       "agent_steps": 5, "play_steps": 2}),
    Reproduction("contracts.sed-harvest", {"max_steps": 10, "agent_steps": 1, "play_steps": 1,
                                           "n_seeds": 2, "n_eval": 4}),
]
