"""Experiments of econcs-decpomdp-diffusion for the ``econcs`` CLI.

- ``decpomdp.train``: one diffusion model per agent on episodes of a Dec-POMDP; held-out error of
  the composite process (after all steps and after a quarter of them) against a single agent's
  model and the exact posterior spread, the Spearman correlation of the denoising map's Jacobian
  rank with the fixed points' deviation (``rank_deviation_spearman``; the diffusion network's
  Jacobian rank in ``network_rank_deviation_spearman``), and the share of held-out histories with
  a certified surrogate-regression bound that holds (``bound_coverage``; see ``_bound``).
- ``decpomdp.reconstruct``: the same models (or the regression baseline), one method's error, and
  the total variation between the reconstructed states' distribution and the exact joint
  posterior (forward filtering), next to the TV of as many exact posterior draws.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np
from scipy.stats import spearmanr

from econcs.decpomdp_diffusion._bound import deviation_bound
from econcs.decpomdp_diffusion._diffusion import (
    DiffusionParams,
    init_model,
    save_model,
    train_diffusion,
)
from econcs.decpomdp_diffusion._envs import make_env
from econcs.decpomdp_diffusion._exact_denoiser import ExactDiffusion
from econcs.decpomdp_diffusion._fixed_points import (
    composite_trajectory,
    fixed_points,
    posterior_tv,
    reconstruct,
    sample_distribution,
)
from econcs.decpomdp_diffusion._regression import (
    RegressionParams,
    predict_regression,
    train_regression,
)
from econcs.shared import (
    ConvergenceWarning,
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Params,
    Reference,
    Reproduction,
    RunContext,
    nested,
    param,
)

__all__ = ["EXPERIMENTS", "ReconstructConfig", "TrainConfig"]


@dataclasses.dataclass(frozen=True)
class TrainConfig(Params):
    """Config of ``decpomdp.train``."""

    env: Literal["sensor", "sensor-gap", "grid", "grid-row"] = param("sensor", "Dec-POMDP")
    n_agents: int = param(2, "agents", low=1)
    horizon: int = param(3, "steps per history", low=1)
    n_train: int = param(4000, "training episodes", low=1)
    n_test: int = param(300, "held-out episodes", low=1)
    noise: float = param(0.1, "noise std of the fixed-point map", low=0.0, high=1.0,
                         low_inclusive=False)
    n_analysis: int = param(100, "held-out histories for the fixed-point and bound analysis",
                            low=1)
    n_starts: int = param(4, "random starts of the fixed-point iteration per history", low=1)
    rank_tol: float = param(0.1, "singular values above this count towards a Jacobian's rank",
                            low=0.0, low_inclusive=False)
    radius: float = param(0.8, "largest ball of the surrogate regression around the state",
                          low=0.0, low_inclusive=False)
    n_radii: int = param(5, "balls of radius radius / 2^k, k < n_radii, tried for the bound",
                         low=1)
    paper_claims: bool = param(False, "also hold rank_deviation_spearman < 0 and bound_coverage "
                               ">= 0.95 (the paper's claims; for budgets where ranks vary)")
    plot: bool = param(False, "save plots of the fixed points and composite convergence "
                       "(needs matplotlib)")
    train: DiffusionParams = nested(DiffusionParams, "training", max_iter=400, batch_size=128,
                                    hidden=32, encoder="mlp", lr=1e-2)
    checkpoint_every: int = param(0, "checkpoint every this many steps (0: never)", low=0)


@dataclasses.dataclass(frozen=True)
class ReconstructConfig(TrainConfig):
    """Config of ``decpomdp.reconstruct``."""

    method: Literal["single", "composite", "regression"] = param("composite",
                                                                 "reconstruction method")
    n_samples: int = param(32, "samples per history for posterior_tv", low=1)


def _env(cfg: TrainConfig):
    return make_env(cfg.env, cfg.n_agents, **({"size": 2} if cfg.env.startswith("grid") else {}))


def _train_models(cfg: TrainConfig, ctx: RunContext, env, data):
    """One model per agent, trained in turn; a checkpoint holds the finished ones. Also each
    agent's weights after a quarter of its steps (``early``: the error's fall with training)."""
    models, first, resume = [], 0, None
    loaded = ctx.load_checkpoint()
    if loaded is not None:
        step, state = loaded
        first = state["agent"]
        resume = (step - first * cfg.train.max_iter, state["trainer"])
    finished: dict[str, dict] = {} if loaded is None else loaded[1]["finished"]
    early: dict[str, dict] = {} if loaded is None else dict(loaded[1].get("early", {}))
    early_step = max(1, cfg.train.max_iter // 4)
    for i in range(cfg.n_agents):
        gen = ctx.generator(f"init{i}", "cpu")
        if i < first:  # finished before the checkpoint: its weights, no training
            model = init_model(env, i, data.horizon, cfg.train, generator=gen)
            model.load_state_dict(finished[str(i)])
            models.append(model.eval())
            continue
        offset = i * cfg.train.max_iter
        log = ctx.callback(log_every=cfg.train.log_every, offset=offset)

        def callback(step, metrics, state_fn, i=i, log=log):
            if step == early_step:
                early[str(i)] = {k: v.detach().clone() for k, v in state_fn()["model"].items()}
            log(step, {f"loss{i}": metrics["loss"]}, lambda: {
                "agent": i, "trainer": dict(state_fn()), "early": dict(early),
                "finished": {str(j): m.state_dict() for j, m in enumerate(models)}})

        res = train_diffusion(env, data, i, cfg.train, generator=gen, callback=callback,
                              resume=resume if i == first else None)
        models.append(res.model)
        save_model(res.model, ctx.out_dir / f"model_agent{i}")
    early_models = []
    for i in range(cfg.n_agents):
        model = init_model(env, i, data.horizon, cfg.train)
        model.load_state_dict(early[str(i)])
        early_models.append(model.eval())
    return models, early_models


def _errors(x, env, states) -> float:
    return float(np.linalg.norm(x - env.features[states], axis=1).mean())


def run_train(cfg: TrainConfig, ctx: RunContext) -> ExperimentResult:
    env = _env(cfg)
    rng = ctx.rng("data")
    data, test = env.collect(cfg.n_train, cfg.horizon, rng=rng), env.collect(
        cfg.n_test, cfg.horizon, rng=rng)
    models, early_models = _train_models(cfg, ctx, env, data)
    true = test.states[:, -1]
    comp = reconstruct(models, env, test.obs, test.actions, noise=cfg.noise, seed=ctx.seed)
    comp_early = reconstruct(early_models, env, test.obs, test.actions, noise=cfg.noise,
                             seed=ctx.seed)
    single = [reconstruct(models, env, test.obs, test.actions, method="single", agent=i,
                          noise=cfg.noise, seed=ctx.seed) for i in range(env.n_agents)]
    spread = np.mean([ExactDiffusion(env, i).posterior_spread(test.obs[:, i],
                                                              test.actions[:, i], true).mean()
                      for i in range(env.n_agents)])
    n_fp = min(cfg.n_test, cfg.n_analysis)
    obs0, act0 = test.obs[:n_fp, 0], test.actions[:n_fp, 0]
    with warnings.catch_warnings():  # reported as fixed_point_converged instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        fp = fixed_points(models[0], env, obs0, act0, true_states=true[:n_fp],
                          n_starts=cfg.n_starts, noise=cfg.noise, rank_tol=cfg.rank_tol,
                          seed=ctx.seed)
        kw = {"noise": cfg.noise, "radius": cfg.radius, "n_radii": cfg.n_radii,
              "rank_tol": cfg.rank_tol, "seed": ctx.seed}
        bound = deviation_bound(models[0], env, obs0, act0, true[:n_fp], **kw)
        comp_bound = deviation_bound(models, env, test.obs[:n_fp], test.actions[:n_fp],
                                     true[:n_fp], **kw)
    deviation = fp.deviation.ravel()

    def _spearman(rank):  # undefined when every rank (or deviation) is equal: then rho = 0
        if np.ptp(rank) == 0 or np.ptp(deviation) == 0:
            return 0.0, 1.0
        rho, p = spearmanr(rank, deviation)
        return float(rho), float(p)

    # the paper's Jacobian: the denoising map's J_G at the fixed points; next to it the
    # diffusion network's d eps / d x_t = (I - J_G) / sqrt(1 - ab_t)
    rho, p_value = _spearman(fp.rank.ravel())
    net_rho, net_p = _spearman(fp.network_rank.ravel())
    state_error = _errors(comp, env, true)
    metrics = {
        "state_error": state_error,
        "state_error_early": _errors(comp_early, env, true),
        "state_error_ratio": state_error / max(_errors(comp_early, env, true), 1e-12),
        "single_error": float(np.mean([_errors(x, env, true) for x in single])),
        "posterior_spread": float(spread),
        "composite_accuracy": float((env.nearest_state(comp) == true).mean()),
        "rank_deviation_spearman": rho,
        "rank_deviation_p": p_value,
        # one-sided: the evidence that the correlation is negative (p / 2 when rho < 0)
        "rank_deviation_p_negative": p_value / 2 if rho < 0 else 1.0 - p_value / 2,
        "mean_rank": float(fp.rank.mean()),
        "rank_spread": float(np.ptp(fp.rank)),
        "network_rank_deviation_spearman": net_rho,
        "network_rank_deviation_p": net_p,
        "mean_network_rank": float(fp.network_rank.mean()),
        "fixed_point_deviation": float(fp.deviation.mean()),
        "fixed_point_converged": float(fp.converged.mean()),
        "bound_coverage": bound.coverage,
        "bound_certified": bound.certified_share,
        "bound_deviation": float(bound.deviation.mean()),
        "composite_bound_coverage": comp_bound.coverage,
        "composite_bound_certified": comp_bound.certified_share,
    }
    if bound.certified.any():  # where the bound's assumptions held
        metrics["bound_certified_coverage"] = bound.certified_coverage
        metrics["bound_mean"] = float(bound.bound[bound.certified].mean())
    if cfg.plot and ctx.plots_enabled:
        from econcs.decpomdp_diffusion._plots import plot_composite, plot_fixed_points

        ctx.save_figure(plot_fixed_points(fp, env, true[:n_fp]), "fixed_points")
        n_tr = min(n_fp, 50)
        trajs = {"composite": composite_trajectory(models, env, test.obs[:n_tr],
                                                   test.actions[:n_tr], noise=cfg.noise,
                                                   seed=ctx.seed)}
        for i in range(env.n_agents):
            trajs[f"agent {i}"] = composite_trajectory(
                models, env, test.obs[:n_tr], test.actions[:n_tr], method="single", agent=i,
                noise=cfg.noise, seed=ctx.seed)
        ctx.save_figure(plot_composite(trajs, env, true[:n_tr]), "composite")
    refs = {}
    if env.one_step_co:
        refs = {
            # CO: the composite process finds the state (measured 0.16-0.37 at 200-400 steps)
            "state_error": Reference(0.25, "composite recovers the state in CO (Wang et al. "
                                     "2025, Thm. 5.2)", atol=0.05, relation="le"),
            "single_error": Reference(float(spread), "a single agent: its exact posterior spread",
                                      rtol=0.25),
            "state_error_ratio": Reference(1.0, "the composite error falls with training: "
                                           "after all steps / after a quarter of them",
                                           relation="le"),
        }
    if cfg.paper_claims:
        refs["rank_deviation_spearman"] = Reference(  # strictly negative: rho = 0 fails
            -1e-9, "deviation falls with the rank of the denoising map's Jacobian at the fixed "
            "points (Wang et al. 2025, Sec. 5); its p-value is rank_deviation_p",
            relation="le")
        refs["rank_deviation_p_negative"] = Reference(  # a sign alone (rho -0.02, p 0.6) is noise
            0.05, "the negative rank-deviation correlation is significant (one-sided p <= 0.05)",
            relation="le")
        refs["bound_coverage"] = Reference(0.95, "the surrogate regression's deviation bound "
                                           "is certified and holds on >= 95% of held-out "
                                           "histories", relation="ge")
    return ExperimentResult(metrics=metrics, references=refs)


# the stated thresholds of posterior_tv for composite samples (see MEASUREMENTS.md)
_TV_THRESHOLD = {"sensor-gap": 0.35}


def _posterior_draws(joint: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The empirical distribution (batch, n_states) of ``n_samples`` draws from each row."""
    counts = np.stack([rng.multinomial(n_samples, p / p.sum()) for p in joint])
    return counts / n_samples


def run_reconstruct(cfg: ReconstructConfig, ctx: RunContext) -> ExperimentResult:
    env = _env(cfg)
    rng = ctx.rng("data")
    data, test = env.collect(cfg.n_train, cfg.horizon, rng=rng), env.collect(
        cfg.n_test, cfg.horizon, rng=rng)
    true = test.states[:, -1]
    n_tv = min(cfg.n_test, cfg.n_analysis)
    joint = env.posterior(test.obs[:n_tv], test.actions[:n_tv])
    if cfg.method == "regression":
        res = train_regression(env, data, RegressionParams.from_diffusion(cfg.train),
                               generator=ctx.generator("init", "cpu"))
        x = predict_regression(res.model, env, test.obs, test.actions)
        # a point estimate: all its mass on the nearest state
        dist = np.eye(env.n_states)[env.nearest_state(x[:n_tv])]
    else:
        models, _ = _train_models(cfg, ctx, env, data)
        x = reconstruct(models, env, test.obs, test.actions, method=cfg.method, noise=cfg.noise,
                        seed=ctx.seed)
        dist = sample_distribution(models, env, test.obs[:n_tv], test.actions[:n_tv],
                                   n_samples=cfg.n_samples, method=cfg.method, noise=cfg.noise,
                                   seed=ctx.seed)
    floor = posterior_tv(_posterior_draws(joint, cfg.n_samples, ctx.rng("floor")), joint)
    exact = [ExactDiffusion(env, i) for i in range(env.n_agents)]
    exact_dist = sample_distribution(exact, env, test.obs[:n_tv], test.actions[:n_tv],
                                     n_samples=cfg.n_samples, method="composite",
                                     noise=cfg.noise, seed=ctx.seed)
    metrics = {
        "state_error": _errors(x, env, true),
        "posterior_tv": float(posterior_tv(dist, joint).mean()),
        "posterior_tv_floor": float(floor.mean()),
        "posterior_tv_exact": float(posterior_tv(exact_dist, joint).mean()),
        "joint_support_share": float((joint[np.arange(n_tv), env.nearest_state(x[:n_tv])]
                                      > 0).mean()),
    }
    refs = {}
    if env.one_step_co and cfg.method == "composite":
        refs["state_error"] = Reference(0.25, "composite recovers the state in CO", atol=0.05,
                                        relation="le")
    if cfg.method == "composite" and cfg.env in _TV_THRESHOLD:
        refs["posterior_tv"] = Reference(_TV_THRESHOLD[cfg.env], "composite samples match the "
                                         "exact joint posterior (Wang et al. 2025, Sec. 4)",
                                         relation="le")
    return ExperimentResult(metrics=metrics, references=refs)


_TRAIN = Experiment("decpomdp.train", TrainConfig, run_train,
                    "one diffusion model per agent; composite vs single-agent error, rank vs "
                    "deviation")
_RECON = Experiment("decpomdp.reconstruct", ReconstructConfig, run_reconstruct,
                    "single / composite / regression reconstruction, TV to the joint posterior")

EXPERIMENTS = ExperimentSuite(
    package="decpomdp",
    experiments=[_TRAIN, _RECON],
    quick=[
        # CO sensor network, 2 sensors: composite vs single agent at a CPU budget
        Reproduction("decpomdp.train", {"max_iter": 300, "n_train": 2000},
                     "sensor network (CO), 2 agents"),
        # the non-CO sensor network: TV of composite samples to the exact joint posterior
        Reproduction("decpomdp.reconstruct", {"env": "sensor-gap", "max_iter": 300,
                                              "n_train": 2000, "n_test": 100},
                     "sensor network with a gap (non-CO), composite"),
    ],
    full=[
        # the rank claim: one fixed point per held-out history (independent samples for the
        # p-value) at a budget where the Jacobian ranks vary (MEASUREMENTS.md)
        Reproduction("decpomdp.train", {"max_iter": 3000, "n_train": 20000, "n_test": 1000,
                                        "hidden": 64, "n_analysis": 1000, "n_starts": 1,
                                        "paper_claims": True, "plot": True},
                     "sensor network (CO), rank vs deviation and the bound, 3000 steps"),
        # the same claims with the GRU encoder (the issue's), the same independent analysis
        Reproduction("decpomdp.train", {"max_iter": 5000, "n_train": 20000, "n_test": 1000,
                                        "hidden": 64, "encoder": "gru", "n_analysis": 1000,
                                        "n_starts": 1, "paper_claims": True},
                     "sensor network (CO), GRU, rank vs deviation and the bound, 5000 steps"),
        Reproduction("decpomdp.train", {"env": "grid", "max_iter": 5000, "n_train": 20000,
                                        "hidden": 64, "encoder": "gru"}, "grid world (CO), GRU"),
        Reproduction("decpomdp.reconstruct", {"env": "sensor-gap", "max_iter": 5000,
                                              "n_train": 20000, "hidden": 64},
                     "sensor network with a gap (non-CO)"),
        Reproduction("decpomdp.reconstruct", {"method": "regression", "max_iter": 5000,
                                              "n_train": 20000, "hidden": 64},
                     "regression baseline, sensor network (CO)"),
    ],
    smoke=[
        Reproduction("decpomdp.train", {"max_iter": 5, "n_train": 100, "n_test": 20}),
        Reproduction("decpomdp.reconstruct", {"max_iter": 5, "n_train": 100, "n_test": 20,
                                              "method": "regression"}),
    ],
)
