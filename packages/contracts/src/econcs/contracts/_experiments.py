"""The ``econcs`` experiments of econcs-contracts: one-shot LPs, tree-MDP SPEs, deep RL, Coin Game.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, "Principal-Agent Reinforcement Learning" (arXiv
2407.18074). Every experiment checks its metrics against references that can fail: closed forms,
an independent exact solver, or the paper's reported numbers (with the tolerance stated).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Literal

import numpy as np
import torch

from econcs.contracts._coin_game import coin_game_optimal_welfare
from econcs.contracts._coin_principal import CoinGameTrainer
from econcs.contracts._coin_spe import coin_game_spe
from econcs.contracts._deep import DeepContractTrainer
from econcs.contracts._mdp import make_tree_mdp
from econcs.contracts._oneshot import optimal_contract
from econcs.contracts._spe import meta_algorithm, solve_spe
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
)
from econcs.shared.validation import check_bool, check_float, check_int

PAPER = "Ivanov et al. 2024 (arXiv 2407.18074)"


# one-shot ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class OneShotConfig:
    p_low: float = field(default=0.1, metadata={"help": "P(good outcome | low effort)"})
    p_high: float = field(default=0.9, metadata={"help": "P(good outcome | high effort)"})
    cost: float = field(default=0.4, metadata={"help": "agent's cost of high effort"})
    reward: float = field(default=1.0, metadata={"help": "principal's reward for the good outcome"})
    n_random: int = field(default=20, metadata={"help": "random 2-action instances to check"})
    n_outcomes: int = field(default=5, metadata={"help": "outcomes of the random instances"})

    def __post_init__(self) -> None:
        self.p_low = check_float(self.p_low, "p_low", low=0.0, high=1.0)
        self.p_high = check_float(self.p_high, "p_high", low=0.0, high=1.0)
        if self.p_high <= self.p_low:
            raise ValueError(f"p_high: expected > p_low = {self.p_low}, got {self.p_high}.")
        self.cost = check_float(self.cost, "cost", low=0.0)
        self.reward = check_float(self.reward, "reward", low=0.0)
        self.n_random = check_int(self.n_random, "n_random", low=0)
        self.n_outcomes = check_int(self.n_outcomes, "n_outcomes", low=2)


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
@dataclasses.dataclass
class TreeMDPConfig:
    depth: int = field(default=10, metadata={"help": "tree levels (10: 1023 states)"})
    seed: int = field(default=0, metadata={"help": "seed of the random rewards"})
    method: Literal["exact", "tabular", "deep"] = field(
        default="exact",
        metadata={"help": "exact backward induction, tabular meta-algorithm, deep RL"})
    n_iter: int = field(default=20_000, metadata={"help": "deep: training iterations"})
    n_envs: int = field(default=8, metadata={"help": "deep: environment steps per iteration"})
    batch_size: int = field(default=128, metadata={"help": "deep: minibatch size"})
    hidden: int = field(default=256, metadata={"help": "deep: hidden units (2 layers)"})
    lr: float = field(default=1e-3, metadata={"help": "deep: initial learning rate"})
    lr_final: float = field(default=1e-4, metadata={"help": "deep: final learning rate"})
    target_every: int = field(default=100, metadata={"help": "deep: target network period"})
    margin: float = field(default=0.01, metadata={
        "help": "deep: nudging IC margin xi (the floor of the adaptive margins)"})
    adaptive_margin: bool = field(default=True, metadata={
        "help": "deep: per-state margin from the estimated error of the agent's Q-values"})
    margin_scale: float = field(default=0.1, metadata={
        "help": "deep: adaptive margin = margin + margin_scale * error bound"})
    margin_max: float = field(default=0.2, metadata={"help": "deep: cap of the adaptive margin"})
    signed_error: Literal["off", "margin", "correct"] = field(default="margin", metadata={
        "help": "deep: propagated signed error e of the agent's Qbar: off, add the one-sided "
                "e(s,t) - e(s,u) to the margins, or also contract against Qbar - e"})
    polyak: float = field(default=0.995, metadata={
        "help": "deep: report the policy of Polyak-averaged networks (decay per iteration)"})
    refine_iter: int = field(default=0, metadata={
        "help": "deep: agent-only best-response iterations after training (targets frozen)"})
    tolerance: float = field(default=0.05, metadata={
        "help": "deep: allowed relative gap to the SPE principal utility"})
    min_accuracy: float = field(default=0.85, metadata={"help": "deep: required action accuracy"})
    log_every: int = field(default=1000, metadata={"help": "deep: evaluation/log period"})
    checkpoint_every: int = field(default=0, metadata={"help": "deep: checkpoint period (0: off)"})

    def __post_init__(self) -> None:
        self.depth = check_int(self.depth, "depth", low=1, high=11)
        self.seed = check_int(self.seed, "seed", low=0)
        if self.method not in ("exact", "tabular", "deep"):
            raise ValueError(f"method: expected exact, tabular or deep, got {self.method!r}.")
        for name in ("n_iter", "n_envs", "batch_size", "hidden", "target_every", "log_every"):
            setattr(self, name, check_int(getattr(self, name), name, low=1))
        self.checkpoint_every = check_int(self.checkpoint_every, "checkpoint_every", low=0)
        self.refine_iter = check_int(self.refine_iter, "refine_iter", low=0)
        self.lr = check_float(self.lr, "lr", low=0.0, low_inclusive=False)
        self.lr_final = check_float(self.lr_final, "lr_final", low=0.0, low_inclusive=False)
        self.margin = check_float(self.margin, "margin", low=0.0)
        self.adaptive_margin = check_bool(self.adaptive_margin, "adaptive_margin")
        self.margin_scale = check_float(self.margin_scale, "margin_scale", low=0.0)
        self.margin_max = check_float(self.margin_max, "margin_max", low=self.margin)
        if self.signed_error not in ("off", "margin", "correct"):
            raise ValueError(f"signed_error: expected off, margin or correct, got "
                             f"{self.signed_error!r}.")
        self.polyak = check_float(self.polyak, "polyak", low=0.0, high=1.0, high_inclusive=False)
        self.tolerance = check_float(self.tolerance, "tolerance", low=0.0)
        self.min_accuracy = check_float(self.min_accuracy, "min_accuracy", low=0.0, high=1.0)


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
    trainer = DeepContractTrainer(
        mdp, n_iter=config.n_iter, n_envs=config.n_envs, batch_size=config.batch_size,
        hidden=config.hidden, lr=config.lr, lr_final=config.lr_final,
        target_every=config.target_every, margin=config.margin,
        adaptive_margin=config.adaptive_margin, margin_scale=config.margin_scale,
        margin_max=config.margin_max, signed_error=config.signed_error,
        polyak=config.polyak, device=ctx.device,
        generator=ctx.generator("deep"), init_generator=ctx.generator("deep-init", device="cpu"))
    loaded = ctx.load_checkpoint()
    if loaded is not None:
        trainer.load_state_dict(loaded[1]["trainer"])
    bar = ctx.progress(config.n_iter, "tree-mdp deep", initial=trainer.iteration)

    def callback(step, out):
        bar.update(1)
        if step % config.log_every == 0 or step == config.n_iter:
            res = trainer.result()
            ctx.log(step, principal_utility=res.principal_utility,
                    action_accuracy=float(np.mean(res.actions == spe.actions)),
                    epsilon=out["epsilon"], **{k: v for k, v in out.items() if k != "epsilon"})
        if ctx.should_checkpoint(step) and step < config.n_iter:
            ctx.save_checkpoint(step, {"trainer": trainer.state_dict()})

    trainer.train(callback=callback)
    bar.close()
    res = trainer.result()
    if config.refine_iter:
        total = config.n_iter + config.refine_iter

        def refine_callback(step, out):
            if ctx.should_checkpoint(config.n_iter + step) and step < config.refine_iter:
                ctx.save_checkpoint(config.n_iter + step, {"trainer": trainer.state_dict()})
            if step == config.refine_iter:
                ctx.log(total, agent_loss=out["agent_loss"])

        res = trainer.refine(config.refine_iter, callback=refine_callback)
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
@dataclasses.dataclass
class CoinGameConfig:
    size: int = field(default=3, metadata={"help": "grid side (paper: 3 and 7)"})
    max_steps: int = field(default=0, metadata={
        "help": "episode length; 0: the paper's (20 for 3x3, 50 for 7x7, else 7 * size)"})
    max_iter: int = field(default=1500, metadata={"help": "training iterations per learner"})
    n_envs: int = field(default=32, metadata={"help": "parallel games"})
    batch_size: int = field(default=512, metadata={
        "help": "minibatch size (512: 16 replays per transition, for short runs)"})
    lr: float = field(default=5e-4, metadata={"help": "Adam learning rate (initial)"})
    lr_final: float = field(default=0.0, metadata={
        "help": "learning rate at the end (linear decay from lr); 0: constant lr "
                "(5e-5 measured worse)"})
    double: bool = field(default=False, metadata={
        "help": "Double DQN targets for agents and principal (measured: no gain at 3x3)"})
    polyak: float = field(default=0.0, metadata={
        "help": "evaluate Polyak-averaged networks (decay per iteration; 0: the online ones)"})
    target_every: int = field(default=100, metadata={"help": "target network period"})
    buffer_size: int = field(default=100_000,
                             metadata={"help": "replay capacity (joint transitions)"})
    alpha: float = field(default=0.1, metadata={"help": "principal: (1/alpha) welfare - payments"})
    margin: float = field(default=0.01, metadata={"help": "nudging margin of the payments"})
    principal_value: Literal["joint", "vdn"] = field(default="vdn", metadata={
        "help": "principal's Q over joint actions, or VDN (sum of per-agent values, the paper)"})
    n_heads: int = field(default=5, metadata={
        "help": "principal's value heads on one trunk (bootstrapped ensemble); 1: the paper's "
                "single network"})
    confidence: float = field(default=3.0, metadata={
        "help": "with n_heads > 1, recommend a non-favourite action only where the heads' mean "
                "gain minus confidence x their std beats alpha x payment"})
    time_limit: Literal["terminate", "truncate"] = field(default="terminate", metadata={
        "help": "the episode's time limit ends the return, or is a truncation that targets "
                "bootstrap through (measured: no gain at 3x3)"})
    centered: bool = field(default=True, metadata={
        "help": "agents and principal see the grid centred on themselves (torus roll); false: "
                "absolute positions (measured far worse on 7x7)"})
    baselines: bool = field(default=True, metadata={"help": "also train the three baselines"})
    optimum: bool = field(default=True, metadata={"help": "compute the planner's optimum (DP)"})
    min_welfare_ratio: float = field(default=0.85, metadata={
        "help": "required welfare / planner optimum (paper: near-optimal)"})
    payment_share_atol: float = field(default=0.05, metadata={
        "help": "tolerance of the payment share against the exact SPE's"})
    eval_episodes: int = field(default=4096, metadata={
        "help": "greedy evaluation episodes (the same games for every learner)"})
    checkpoint_every: int = field(default=0, metadata={"help": "checkpoint period (0: off)"})

    def __post_init__(self) -> None:
        self.size = check_int(self.size, "size", low=2, high=15)
        self.max_steps = check_int(self.max_steps, "max_steps", low=0)
        if self.max_steps == 0:
            self.max_steps = {3: 20, 7: 50}.get(self.size, 7 * self.size)
        for name in ("max_iter", "n_envs", "batch_size", "eval_episodes", "target_every",
                     "buffer_size"):
            setattr(self, name, check_int(getattr(self, name), name, low=1))
        self.checkpoint_every = check_int(self.checkpoint_every, "checkpoint_every", low=0)
        self.lr = check_float(self.lr, "lr", low=0.0, low_inclusive=False)
        self.lr_final = check_float(self.lr_final, "lr_final", low=0.0)
        self.double = check_bool(self.double, "double")
        self.centered = check_bool(self.centered, "centered")
        self.polyak = check_float(self.polyak, "polyak", low=0.0, high=1.0, high_inclusive=False)
        self.alpha = check_float(self.alpha, "alpha", low=0.0, low_inclusive=False)
        self.margin = check_float(self.margin, "margin", low=0.0)
        self.n_heads = check_int(self.n_heads, "n_heads", low=1)
        self.confidence = check_float(self.confidence, "confidence", low=0.0)
        if self.n_heads > 1 and (self.double or self.principal_value != "vdn"):
            raise ValueError(f"n_heads: an ensemble ({self.n_heads} heads) needs "
                             f"principal_value=vdn and double=false; set n_heads=1.")
        if self.time_limit not in ("terminate", "truncate"):
            raise ValueError(f"time_limit: expected terminate or truncate, got "
                             f"{self.time_limit!r}.")
        if self.principal_value not in ("joint", "vdn"):
            raise ValueError(f"principal_value: expected joint or vdn, got "
                             f"{self.principal_value!r}.")
        self.payment_share_atol = check_float(self.payment_share_atol, "payment_share_atol",
                                              low=0.0)
        self.min_welfare_ratio = check_float(self.min_welfare_ratio, "min_welfare_ratio",
                                             low=0.0, high=1.0)


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
    offset = 0
    for mode in phases:
        if mode in done:
            offset += config.max_iter
            continue
        beta = done["principal"]["payment_share"] / 2 if mode == "constant" else 0.0
        trainer = CoinGameTrainer(
            mode, size=config.size, max_steps=config.max_steps, n_iter=config.max_iter,
            n_envs=config.n_envs, batch_size=config.batch_size, lr=config.lr,
            lr_final=config.lr_final or None, double=config.double, polyak=config.polyak,
            target_every=config.target_every, alpha=config.alpha, margin=config.margin,
            beta=beta, buffer_size=config.buffer_size, device=ctx.device,
            principal_value=config.principal_value, n_heads=config.n_heads,
            confidence=config.confidence, time_limit=config.time_limit, centered=config.centered,
            generator=ctx.generator(f"coin/{mode}"),
            init_generator=ctx.generator(f"coin-init/{mode}", device="cpu"))
        if trainer_state is not None:
            trainer.load_state_dict(trainer_state)
            trainer_state = None
        bar = ctx.progress(config.max_iter, f"coin game ({mode})", initial=trainer.iteration)

        def callback(step, out, mode=mode, trainer=trainer, bar=bar, offset=offset):
            bar.update(1)
            if "loss" in out and (step % 250 == 0 or step == config.max_iter):
                ctx.log(offset + step, loss=out["loss"], epsilon=out["epsilon"])
            if ctx.should_checkpoint(offset + step) and step < config.max_iter:
                ctx.save_checkpoint(offset + step, {"done": done, "trainer": trainer.state_dict()})

        trainer.train(callback=callback)
        bar.close()
        eval_gen = torch.Generator(ctx.device)
        eval_gen.manual_seed(eval_seed)
        ev = trainer.evaluate(config.eval_episodes, generator=eval_gen)
        done[mode] = dataclasses.asdict(ev)
        offset += config.max_iter
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
        spe = coin_game_spe(config.size, config.max_steps, config.alpha)
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
    ],
    quick=[
        Reproduction("contracts.oneshot", {}, "one-shot LP = closed forms"),
        Reproduction("contracts.tree-mdp", {"depth": 10, "method": "tabular"},
                     "depth-10 tree: meta-algorithm = exact SPE"),
        Reproduction("contracts.tree-mdp",
                     {"depth": 6, "method": "deep", "n_iter": 2500, "hidden": 64,
                      "margin": 0.02, "tolerance": 0.10, "min_accuracy": 0.85,
                      "log_every": 2500},
                     "deep RL, depth-6 tree (reduced; looser tolerance)"),
        Reproduction("contracts.coin-game", {"size": 3, "max_iter": 600, "lr": 1e-3,
                                             "target_every": 100, "baselines": False,
                                             "min_welfare_ratio": 0.9,
                                             "payment_share_atol": 0.02},
                     "Coin Game 3x3 (reduced: 600 iterations, principal only)"),
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
    ],
    smoke=[
        Reproduction("contracts.oneshot", {"n_random": 2}),
        Reproduction("contracts.tree-mdp", {"depth": 3, "method": "tabular"}),
        Reproduction("contracts.tree-mdp", {"depth": 3, "method": "deep", "n_iter": 50,
                                            "hidden": 16, "log_every": 50}),
        Reproduction("contracts.coin-game", {"size": 3, "max_iter": 20, "baselines": False}),
    ],
)
