"""The ``econcs`` experiments of econcs-contracts: one-shot LPs, tree-MDP SPEs, deep RL, Coin Game,
and Social Environment Design's (``econcs.contracts.social``: voting, the tax economy).

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning" (arXiv
2407.18074). Every experiment checks its metrics against references that can fail: closed forms,
an independent exact solver, or the paper's reported numbers (with the tolerance stated).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch

from econcs.contracts._coin_game import coin_game_optimal_welfare
from econcs.contracts._coin_principal import CoinGameParams, CoinGameTrainer
from econcs.contracts._coin_spe import coin_game_spe
from econcs.contracts._deep import DeepContractParams, DeepContractTrainer
from econcs.contracts._mdp import make_tree_mdp
from econcs.contracts._oneshot import optimal_contract
from econcs.contracts._spe import meta_algorithm, solve_spe
from econcs.contracts.social import _experiments as social
from econcs.shared import Callback
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
)
from econcs.shared.params import Params, nested, param

PAPER = "Ivanov et al. 2024 (arXiv 2407.18074)"


# one-shot ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OneShotConfig(Params):
    p_low: float = param(0.1, "P(good outcome | low effort)", low=0.0, high=1.0)
    p_high: float = param(0.9, "P(good outcome | high effort) (> p_low)", low=0.0, high=1.0)
    cost: float = param(0.4, "agent's cost of high effort", low=0.0)
    reward: float = param(1.0, "principal's reward for the good outcome", low=0.0)
    n_random: int = param(20, "random 2-action instances to check", low=0)
    n_outcomes: int = param(5, "outcomes of the random instances", low=2)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.p_high <= self.p_low:
            raise ValueError(f"p_high: expected > p_low = {self.p_low}, got {self.p_high}.")


def run_oneshot(config: OneShotConfig, ctx: RunContext) -> ExperimentResult:
    pl, ph, c, r = config.p_low, config.p_high, config.cost, config.reward
    res = optimal_contract([[1 - pl, pl], [1 - ph, ph]], [0.0, c], [0.0, r])
    t = c / (ph - pl)  # closed form: pay only on the good outcome
    closed_high = ph * (r - t)
    closed = max(closed_high, pl * r)
    rng = ctx.rng("oneshot")
    worst = 0.0
    for _ in range(config.n_random):
        probs = rng.dirichlet(np.ones(config.n_outcomes), size=2)
        cost = np.array([0.0, rng.uniform(0.05, 0.5)])
        sol = optimal_contract(probs, cost, rng.uniform(0, 2, config.n_outcomes))
        diff = probs[1] - probs[0]
        o = int(np.argmax(np.where(diff > 0, diff / probs[1], -1.0)))
        worst = max(worst, abs(sol.expected_payments[1] - cost[1] * probs[1, o] / diff[o]))
    metrics = {
        "principal_utility": res.principal_utility,
        "good_outcome_payment": float(res.payments[1]) if res.action == 1 else t,
        "max_closed_form_error": worst,
    }
    refs = {
        "principal_utility": Reference(closed, "closed form max(p_h (R - c/(p_h - p_l)), p_l R)",
                                       atol=1e-9),
        "good_outcome_payment": Reference(t, "closed form c / (p_h - p_l)", atol=1e-9),
        "max_closed_form_error": Reference(0.0, "likelihood-ratio closed form, 2 actions",
                                           atol=1e-8, relation="le"),
    }
    return ExperimentResult(metrics, refs)


# tree MDP ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TreeMDPConfig(Params):
    depth: int = param(10, "tree levels (10: 1023 states)", low=1, high=11)
    seed: int = param(0, "seed of the random rewards", low=0)
    method: Literal["exact", "tabular", "deep"] = param(
        "exact", "exact backward induction, tabular meta-algorithm, deep RL")
    deep: DeepContractParams = nested(DeepContractParams, "deep RL training (method=deep)")
    tolerance: float = param(0.05, "deep: allowed relative gap to the SPE principal utility",
                             low=0.0)
    min_accuracy: float = param(0.85, "deep: required action accuracy", low=0.0, high=1.0)
    log_every: int = param(1000, "deep: evaluation/log period", low=1)
    checkpoint_every: int = param(0, "deep: checkpoint period (0: off)", low=0)


def run_tree_mdp(config: TreeMDPConfig, ctx: RunContext) -> ExperimentResult:
    mdp = make_tree_mdp(config.depth, seed=config.seed)
    a1_ref = Reference(0.6, f"{PAPER}: the SPE induces a1 in ~60% of states", atol=0.1)
    if config.method == "exact":
        spe = solve_spe(mdp)
        other = meta_algorithm(mdp)
        metrics = {"principal_utility": spe.principal_utility,
                   "spe_principal_utility": spe.principal_utility,
                   "action_accuracy": float(np.mean(spe.actions == other.actions)),
                   "a1_share": float(spe.actions.mean())}
        refs = {"principal_utility": Reference(other.principal_utility,
                                               "tabular meta-algorithm (independent)", atol=1e-6),
                "a1_share": a1_ref}
        return ExperimentResult(metrics, refs)
    spe = solve_spe(mdp) if config.method == "tabular" else meta_algorithm(mdp)
    if config.method == "tabular":
        res = meta_algorithm(mdp)
        metrics = {"principal_utility": res.principal_utility,
                   "spe_principal_utility": spe.principal_utility,
                   "action_accuracy": float(np.mean(res.actions == spe.actions)),
                   "iterations": res.iterations, "a1_share": float(res.actions.mean())}
        refs = {"principal_utility": Reference(spe.principal_utility,
                                               "exact SPE by backward induction (HiGHS LPs)",
                                               atol=1e-6),
                "action_accuracy": Reference(0.99, "exact SPE actions", relation="ge"),
                "iterations": Reference(config.depth + 1, "Theorem 3.3: horizon + 1 rounds",
                                        relation="le"),
                "a1_share": a1_ref}
        return ExperimentResult(metrics, refs)
    return _run_tree_deep(config, ctx, mdp, spe)


def _with_state(callback: Callback, wrap) -> Callback:
    """``callback`` with the trainer's ``state_fn`` wrapped: ``wrap(state)`` is what is saved."""
    return lambda step, metrics, state_fn: callback(step, metrics, lambda: wrap(state_fn()))


def _run_tree_deep(config: TreeMDPConfig, ctx: RunContext, mdp, spe) -> ExperimentResult:
    """The deep branch of ``contracts.tree-mdp``: train (and refine), evaluate against the SPE."""
    p = config.deep
    trainer = DeepContractTrainer(mdp, p, device=ctx.device, generator=ctx.generator("deep"),
                                  init_generator=ctx.generator("deep-init", device="cpu"))
    loaded = ctx.load_checkpoint()
    if loaded is not None:
        trainer.load_state_dict(loaded[1]["trainer"])
    bar = ctx.progress(p.max_iter, "tree-mdp deep", initial=trainer.iteration)
    log = _with_state(ctx.callback(config.log_every), lambda state: {"trainer": state})

    def callback(step, out, state_fn):
        bar.update(1)
        if step % config.log_every == 0 or step == p.max_iter:
            res = trainer.result()
            out = {"principal_utility": res.principal_utility,
                   "action_accuracy": float(np.mean(res.actions == spe.actions)), **out}
            if step % config.log_every:  # the last step, off the log period
                ctx.log(step, **out)
        log(step, out, state_fn)

    res = trainer.train(callback=callback)
    bar.close()
    if p.refine_iter:
        # logs once, at the end of the agent-only phase (step max_iter + refine_iter)
        refine_log = ctx.callback(p.max_iter + p.refine_iter, offset=p.max_iter)
        res = trainer.refine(callback=_with_state(refine_log, lambda state: {"trainer": state}))
    gap = 1.0 - res.principal_utility / spe.principal_utility
    metrics = {"principal_utility": res.principal_utility,
               "spe_principal_utility": spe.principal_utility,
               "action_accuracy": float(np.mean(res.actions == spe.actions)),
               "relative_gap": gap, "follow_rate": res.follow_rate,
               "learned_agent_principal_utility": res.learned_agent_utility,
               "mean_margin": float(trainer.margins().mean())}
    refs = {"principal_utility": Reference(
                spe.principal_utility, f"exact SPE; within {config.tolerance:.0%} "
                f"(paper: ~2% below)", rtol=config.tolerance, relation="ge"),
            "action_accuracy": Reference(config.min_accuracy,
                                         "SPE actions (paper: ~90% accuracy)", relation="ge")}
    return ExperimentResult(metrics, refs)


# Coin Game ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CoinGameConfig(Params):
    size: int = param(3, "grid side (paper: 3 and 7)", low=2, high=15)
    max_steps: int = param(0, "episode length; 0: the paper's (20 for 3x3, 50 for 7x7, else "
                           "7 * size)", low=0)
    # 512 = 16 replays per transition; an ensemble of 5 heads with confidence 3
    train: CoinGameParams = nested(CoinGameParams, "training", max_iter=1500, batch_size=512,
                                   target_every=100, n_heads=5, confidence=3.0)
    baselines: bool = param(True, "also train the three baselines")
    optimum: bool = param(True, "compute the planner's optimum and the exact SPE (DP)")
    min_welfare_ratio: float = param(0.85, "required welfare / planner optimum (paper: "
                                     "near-optimal)", low=0.0, high=1.0)
    payment_share_atol: float = param(0.05, "tolerance of the payment share against the exact "
                                      "SPE's", low=0.0)
    eval_episodes: int = param(4096, "greedy evaluation episodes (the same games for every "
                               "learner)", low=1)
    checkpoint_every: int = param(0, "checkpoint period (0: off)", low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_steps == 0:
            object.__setattr__(self, "max_steps", {3: 20, 7: 50}.get(self.size, 7 * self.size))


def run_coin_game(config: CoinGameConfig, ctx: RunContext) -> ExperimentResult:
    phases = ["principal"] + (["selfish", "cooperative", "constant"] if config.baselines else [])
    loaded = ctx.load_checkpoint()
    done: dict[str, dict[str, float]] = {}
    trainer_state = None
    if loaded is not None:
        done = {k: dict(v) for k, v in loaded[1]["done"].items()}
        trainer_state = loaded[1].get("trainer")
    # common random numbers: every learner is evaluated on the same start states and coin
    # sequences, drawn from fresh generators seeded alike (the base generator is never advanced)
    eval_seed = ctx.generator("coin-eval").initial_seed()
    max_iter = config.train.max_iter
    offset = 0
    for mode in phases:
        if mode in done:
            offset += max_iter
            continue
        beta = done["principal"]["payment_share"] / 2 if mode == "constant" else 0.0
        trainer = CoinGameTrainer(
            mode, config.train, size=config.size, max_steps=config.max_steps, beta=beta,
            device=ctx.device, generator=ctx.generator(f"coin/{mode}"),
            init_generator=ctx.generator(f"coin-init/{mode}", device="cpu"))
        if trainer_state is not None:
            trainer.load_state_dict(trainer_state)
            trainer_state = None
        bar = ctx.progress(max_iter, f"coin game ({mode})", initial=trainer.iteration)
        log = _with_state(ctx.callback(250, offset=offset),
                          lambda state: {"done": done, "trainer": state})

        def callback(step, out, state_fn, bar=bar, log=log, offset=offset):
            bar.update(1)
            if step == max_iter and step % 250:  # the last step, off the log period
                ctx.log(offset + step, **out)
            log(step, out, state_fn)

        trainer.train(callback=callback)
        bar.close()
        eval_gen = torch.Generator(ctx.device)
        eval_gen.manual_seed(eval_seed)
        ev = trainer.evaluate(config.eval_episodes, generator=eval_gen)
        done[mode] = dataclasses.asdict(ev)
        offset += max_iter
        if config.checkpoint_every > 0:
            ctx.save_checkpoint(offset, {"done": done})
    ours = done["principal"]
    metrics = {"welfare": ours["welfare"], "welfare_se": ours["welfare_se"],
               "payment_share": ours["payment_share"],
               "follow_rate": ours["follow_rate"], "own_coin_rate": ours["own_coin_rate"]}
    refs: dict[str, Reference] = {}
    ours_ep = np.asarray(ours["episode_welfare"])
    for mode in phases[1:]:
        metrics[f"welfare_{mode}"] = done[mode]["welfare"]
        metrics[f"welfare_{mode}_se"] = done[mode]["welfare_se"]
        # paired difference per episode (same games): its standard error is far below the
        # unpaired one
        diff = ours_ep - np.asarray(done[mode]["episode_welfare"])
        metrics[f"gain_over_{mode}"] = float(diff.mean())
        metrics[f"gain_over_{mode}_se"] = float(diff.std(ddof=1) / np.sqrt(len(diff))) \
            if len(diff) > 1 else 0.0
    if "constant" in done:
        metrics["payment_share_constant"] = done["constant"]["payment_share"]
    if config.baselines:
        # not worse than selfish play beyond the evaluation noise of the paired difference
        tol = 2 * metrics["gain_over_selfish_se"]
        refs["welfare"] = Reference(done["selfish"]["welfare"],
                                    f"selfish agents (measured, same games; 2 paired SE = "
                                    f"{tol:.3f})", atol=tol, relation="ge")
    if config.optimum:
        opt = coin_game_optimal_welfare(config.size, config.max_steps)
        spe = coin_game_spe(config.size, config.max_steps, config.train.alpha)
        metrics["optimal_welfare"] = opt
        metrics["welfare_ratio"] = ours["welfare"] / opt
        metrics["spe_welfare"] = spe.welfare
        metrics["spe_payment_share"] = spe.payment_share
        refs["welfare_ratio"] = Reference(
            config.min_welfare_ratio, "planner's optimum by DP (paper: near-optimal)",
            relation="ge")
        # the paper reports payments of ~30% of welfare; in this reward variant the exact SPE
        # pays ~1% on 3x3 (the selfish policy is already near-optimal), so the exact SPE is
        # the reference
        refs["payment_share"] = Reference(
            spe.payment_share, "exact SPE by backward induction (paper: ~30%)",
            atol=config.payment_share_atol)
    return ExperimentResult(metrics, refs)


EXPERIMENTS = ExperimentSuite(
    package="contracts",
    experiments=[
        Experiment("contracts.oneshot", OneShotConfig, run_oneshot,
                   "One-shot hidden-action contracts: HiGHS LPs vs closed forms."),
        Experiment("contracts.tree-mdp", TreeMDPConfig, run_tree_mdp,
                   "Random binary-tree principal-agent MDP: exact SPE, tabular meta-algorithm, "
                   "deep RL gap to the SPE."),
        Experiment("contracts.coin-game", CoinGameConfig, run_coin_game,
                   "Coin Game: a principal paying agents vs selfish, cooperative and "
                   "constant-proportion baselines."),
        *social.EXPERIMENTS,
    ],
    quick=[
        Reproduction("contracts.oneshot", {}, "one-shot LP = closed forms"),
        Reproduction("contracts.tree-mdp", {"depth": 10, "method": "tabular"},
                     "depth-10 tree: meta-algorithm = exact SPE"),
        Reproduction("contracts.tree-mdp",
                     {"depth": 6, "method": "deep", "max_iter": 2500, "hidden": 64,
                      "margin": 0.02, "tolerance": 0.10, "min_accuracy": 0.85,
                      "log_every": 2500},
                     "deep RL, depth-6 tree (reduced; looser tolerance)"),
        Reproduction("contracts.coin-game", {"size": 3, "max_iter": 600, "lr": 1e-3,
                                             "target_every": 100, "baselines": False,
                                             "min_welfare_ratio": 0.9,
                                             "payment_share_atol": 0.02},
                     "Coin Game 3x3 (reduced: 600 iterations, principal only)"),
        *social.QUICK,
    ],
    full=[
        Reproduction("contracts.oneshot", {}, "one-shot LP = closed forms"),
        Reproduction("contracts.tree-mdp", {"depth": 10, "method": "exact"},
                     "depth-10 tree: exact SPE"),
        Reproduction("contracts.tree-mdp", {"depth": 10, "method": "tabular"},
                     "depth-10 tree: meta-algorithm = exact SPE"),
        Reproduction("contracts.tree-mdp", {"depth": 10, "method": "deep"},
                     "deep RL, depth-10 tree (paper scale)"),
        Reproduction("contracts.coin-game", {"size": 3, "max_iter": 3000},
                     "Coin Game 3x3 / 20 steps"),
        Reproduction("contracts.coin-game", {"size": 7, "max_iter": 20_000},
                     "Coin Game 7x7 / 50 steps"),
        *social.FULL,
    ],
    smoke=[
        Reproduction("contracts.oneshot", {"n_random": 2}),
        Reproduction("contracts.tree-mdp", {"depth": 3, "method": "tabular"}),
        Reproduction("contracts.tree-mdp", {"depth": 3, "method": "deep", "max_iter": 50,
                                            "hidden": 16, "log_every": 50}),
        Reproduction("contracts.coin-game", {"size": 3, "max_iter": 20, "baselines": False}),
        *social.SMOKE,
    ],
)
