"""econcs-shared's own experiments, which exercise the registry, runner and optimisers.

``shared.augmented-lagrangian``: maximise the stochastic concave objective
``E_xi[-|x - (a + xi)|^2]`` (``xi ~ N(0, sigma^2 I)``, minibatches from the run's generator) subject
to the regret-like constraint ``g(x) = relu(<c, x> - b) = 0``. With ``<c, a> > b`` the optimum is the
projection ``x* = a - (<c, a> - b) c / |c|^2`` onto the half-space, with multiplier
``lambda* = 2 (<c, a> - b) / |c|^2`` (KKT). Checkpoints and resumes.

``shared.extragradient``: the bilinear zero-sum game ``min_x max_y x^T A y`` with a random
non-singular ``A``; its unique equilibrium is ``(0, 0)``. Extra-gradient converges to it; simultaneous
gradient descent-ascent from the same start spirals away.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from econcs.shared.augmented_lagrangian import AugmentedLagrangian
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
)
from econcs.shared.extragradient import ExtraGradient, game_closure
from econcs.shared.params import Params, param


@dataclasses.dataclass(frozen=True)
class ALConfig(Params):
    """Config of ``shared.augmented-lagrangian``."""

    dim: int = param(10, "dimension of x", low=1)
    max_iter: int = param(3000, "gradient steps", low=1)
    batch_size: int = param(64, "noise samples per step", low=1)
    noise: float = param(0.1, "std of the objective noise", low=0.0)
    lr: float = param(0.02, "Adam step size (decays to 1%)", low=0.0, low_inclusive=False)
    rho: float = param(1.0, "initial penalty", low=0.0, low_inclusive=False)
    update_every: int = param(20, "steps per lambda update", low=1)
    log_every: int = param(100, "steps per metrics line", low=1)
    checkpoint_every: int = param(500, "0: no checkpoints", low=0)


def run_augmented_lagrangian(cfg: ALConfig, ctx: RunContext) -> ExperimentResult:
    dtype = torch.float64
    problem = torch.Generator().manual_seed(ctx.seed)  # the problem instance, fixed by the seed
    a = torch.rand(cfg.dim, generator=problem, dtype=dtype) + 0.5
    c = torch.rand(cfg.dim, generator=problem, dtype=dtype) + 0.5
    b = 0.5 * float(c @ a)  # the unconstrained optimum a is infeasible
    a, c = a.to(ctx.device), c.to(ctx.device)
    x_star = a - (c @ a - b) * c / (c @ c)
    lambda_star = float(2 * (c @ a - b) / (c @ c))
    opt_value = -float(((x_star - a) ** 2).sum())

    x = torch.zeros(cfg.dim, dtype=dtype, device=ctx.device, requires_grad=True)
    opt = torch.optim.Adam([x], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.01 ** (t / cfg.max_iter))
    al = AugmentedLagrangian(
        1, rho=cfg.rho, update_every=cfg.update_every, device=ctx.device, dtype=dtype
    )
    gen = ctx.generator("noise")
    start = 0
    loaded = ctx.load_checkpoint()
    if loaded is not None:
        start, state = loaded
        with torch.no_grad():
            x.copy_(state["x"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        al.load_state_dict(state["al"])
    bar = ctx.progress(cfg.max_iter, "augmented Lagrangian", initial=start)
    for step in range(start + 1, cfg.max_iter + 1):
        xi = torch.randn(cfg.batch_size, cfg.dim, generator=gen, device=ctx.device, dtype=dtype)
        objective = -((x - a - cfg.noise * xi) ** 2).sum(dim=1).mean()
        g = torch.relu(c @ x - b).reshape(1)
        loss = al.loss(objective, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        al.step(g)
        bar.update()
        if step % cfg.log_every == 0:
            ctx.log(
                step,
                objective=objective.item(),
                violation=g.item(),
                lam=al.lambdas.item(),
                distance=float((x.detach() - x_star).norm()),
            )
        if ctx.should_checkpoint(step):
            ctx.save_checkpoint(
                step,
                {
                    "x": x.detach(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "al": al.state_dict(),
                },
            )
    bar.close()
    with torch.no_grad():
        value = -float(((x - a) ** 2).sum())
        violation = float(torch.relu(c @ x - b))
        distance = float((x - x_star).norm())
    ctx.plot_metrics(
        "convergence",
        ["distance", "violation"],
        logy=True,
        title="augmented Lagrangian: distance to x* and constraint violation",
    )
    return ExperimentResult(
        metrics={
            "objective": value,
            "optimum": opt_value,
            "violation": violation,
            "distance": distance,
            "lambda": al.lambdas.item(),
            "lambda_star": lambda_star,
        },
        references={
            "objective": Reference(opt_value, "KKT: projection onto the half-space", rtol=2e-3),
            "violation": Reference(0.0, "feasibility", atol=1e-2, relation="le"),
            "distance": Reference(0.0, "distance to the KKT point x*", atol=1e-2, relation="le"),
            # relu(.) is an exact penalty: x* is stationary iff lambda >= the KKT multiplier
            "lambda": Reference(
                lambda_star, "exact penalty: lambda >= KKT multiplier", rtol=0.02, relation="ge"
            ),
        },
    )


@dataclasses.dataclass(frozen=True)
class EGConfig(Params):
    """Config of ``shared.extragradient``."""

    dim: int = param(5, "size of x and y", low=1)
    max_iter: int = param(1000, "steps of each method", low=1)
    lr: float = param(0.3, "step size", low=0.0, low_inclusive=False)


def run_extragradient(cfg: EGConfig, ctx: RunContext) -> ExperimentResult:
    dtype = torch.float64
    gen = ctx.generator("game", device="cpu")
    q, _ = torch.linalg.qr(torch.randn(cfg.dim, cfg.dim, generator=gen, dtype=dtype))
    a_mat = (q * (0.5 + torch.rand(cfg.dim, generator=gen, dtype=dtype))).to(ctx.device)
    x0 = torch.randn(cfg.dim, generator=gen, dtype=dtype).to(ctx.device)
    y0 = torch.randn(cfg.dim, generator=gen, dtype=dtype).to(ctx.device)
    start_distance = float(torch.cat([x0, y0]).norm())

    def play(method: str) -> float:
        x, y = x0.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        value = lambda: x @ a_mat @ y  # noqa: E731
        closure = game_closure([[x], [y]], lambda: (value(), -value()))
        opt = (
            ExtraGradient([x, y], lr=cfg.lr)
            if method == "eg"
            else torch.optim.SGD([x, y], lr=cfg.lr)
        )
        for step in range(1, cfg.max_iter + 1):
            if method == "eg":
                opt.step(closure)
            else:
                closure()
                opt.step()
            if step % 100 == 0:
                dist = float(torch.cat([x, y]).detach().norm())
                if not math.isfinite(dist) or dist > 1e12:
                    return math.inf if method == "gda" else dist
                ctx.log(step, **{f"{method}_distance": dist})
        return float(torch.cat([x, y]).detach().norm())

    eg = play("eg")
    gda = play("gda")
    ctx.plot_metrics(
        "distance",
        ["eg_distance", "gda_distance"],
        logy=True,
        title="distance to the equilibrium of x^T A y",
    )
    return ExperimentResult(
        metrics={
            "eg_distance": eg,
            "gda_distance": min(gda, 1e12),
            "start_distance": start_distance,
        },
        references={
            "eg_distance": Reference(
                0.0, "unique equilibrium (0, 0) of x^T A y", atol=1e-3, relation="le"
            ),
            "gda_distance": Reference(
                start_distance, "GDA spirals out on bilinear games", relation="ge"
            ),
        },
    )


EXPERIMENTS = ExperimentSuite(
    package="shared",
    experiments=[
        Experiment(
            "shared.augmented-lagrangian",
            ALConfig,
            run_augmented_lagrangian,
            "augmented Lagrangian on a constrained problem with a known KKT point",
        ),
        Experiment(
            "shared.extragradient",
            EGConfig,
            run_extragradient,
            "extra-gradient vs gradient descent-ascent on a bilinear game",
        ),
    ],
    quick=[
        Reproduction("shared.augmented-lagrangian", {}, "AL: constrained quadratic"),
        Reproduction("shared.extragradient", {}, "EG: bilinear game"),
    ],
    full=[
        Reproduction(
            "shared.augmented-lagrangian",
            {"dim": 100, "max_iter": 20000},
            "AL: constrained quadratic, dim 100",
        ),
        Reproduction(
            "shared.extragradient", {"dim": 50, "max_iter": 20000}, "EG: bilinear, dim 50"
        ),
    ],
    smoke=[
        Reproduction("shared.augmented-lagrangian", {"max_iter": 50, "log_every": 10}),
        Reproduction("shared.extragradient", {"max_iter": 50}),
    ],
)
