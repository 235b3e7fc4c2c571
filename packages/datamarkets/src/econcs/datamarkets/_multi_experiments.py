"""Experiments for several buyers: ``datamarkets.multi`` (learned) and ``datamarkets.multi-lp``.

- ``datamarkets.multi``: a learned BIC or ex post IC mechanism (:class:`MultiBuyerMechanism`),
  evaluated with an independent dense misreport grid. Metrics ``revenue``, ``ic_violation`` (mean
  regret), ``ic_violation_max``, ``obedience_violation``, ``ir_violation``.
- ``datamarkets.multi-lp``: the exact optimum on a value grid (:func:`solve_multi_lp`), with the
  grid's bias removed by Richardson extrapolation from the grid and a grid of half the cells
  (the bias is ~c / K). Metrics ``lp_revenue``, ``lp_revenue_coarse``, ``lp_revenue_extrapolated``
  and, ex post, ``virtual_value_revenue`` (the closed form on the same grid); with
  ``alpha = 0``, ``single_buyer_revenue`` (n x the single-buyer LP of
  :func:`solve_experiment_lp` on the same values: the buyers decouple).

References (two buyers, binary states): Bonatti et al.'s BIC closed forms quoted by Ravindranath,
Jiang, Parkes (2023, Sec. 5.2); the ex post optimum by virtual values (:func:`ex_post_optimum`;
the paper quotes 0.2704 / 0.4046 for uniform / exponential values at prior 1/2, alpha 1/2, where
the formula gives 13/48 = 0.27083 / 0.4042).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from econcs.datamarkets._lp import solve_experiment_lp
from econcs.datamarkets._multi_lp import solve_multi_lp
from econcs.datamarkets._multi_market import (
    MultiBuyerMarket,
    ex_post_grid_optimum,
    ex_post_optimum,
)
from econcs.datamarkets._multi_mech import MultiBuyerMechanism, MultiParams
from econcs.shared import (
    ExperimentResult,
    Params,
    Reference,
    RunContext,
    nested,
    param,
)

__all__ = ["BIC_THEORY", "MultiConfig", "MultiLPConfig", "run_multi", "run_multi_lp"]

_BONATTI = "Bonatti et al. (2022) BIC closed form (Ravindranath, Jiang, Parkes 2023, Sec. 5.2)"
#: (values, prior, alpha) -> BIC optimal revenue, two buyers, binary states
BIC_THEORY = {
    ("uniform(0,1)", 0.5, 0.5): 0.39577, ("uniform(0,1)", 0.75, 0.5): 0.23704,
    ("uniform(0,1)", 0.5, 2.0): 1.04167, ("uniform(0,1)", 0.75, 2.0): 0.75001,
    ("exponential(1)", 0.5, 0.5): 0.63259, ("exponential(1)", 0.75, 0.5): 0.44771,
    ("exponential(1)", 0.5, 2.0): 1.61293, ("exponential(1)", 0.75, 2.0): 1.41476,
}


def _market(cfg) -> MultiBuyerMarket:
    return MultiBuyerMarket(cfg.n_buyers, prior=cfg.prior, alpha=cfg.alpha, value=cfg.values)


def _theory(cfg) -> tuple[float, str] | None:
    """The continuum optimum of the config's setting, when one is known."""
    if cfg.ic == "expost":
        try:
            return ex_post_optimum(_market(cfg)), "ex post optimum by virtual values (Myerson)"
        except ValueError:  # irregular
            return None
    if cfg.n_buyers != 2:
        return None
    key = (cfg.values.replace(" ", ""), float(cfg.prior), float(cfg.alpha))
    return (BIC_THEORY[key], _BONATTI) if key in BIC_THEORY else None


@dataclasses.dataclass(frozen=True)
class MultiConfig(Params):
    """Config of ``datamarkets.multi``: a learned mechanism for several buyers."""

    n_buyers: int = param(2, "number of buyers", low=2)
    prior: float = param(0.5, "P(state 1), the common prior (binary states)", low=0.0, high=1.0)
    alpha: float = param(0.5, "externality: a unit of another buyer's correctness costs alpha v",
                         low=0.0)
    values: str = param("uniform(0,1)", "law of every buyer's value")
    ic: str = param("bic", "bic (interim) or expost")
    hidden: int = param(64, "units per hidden layer of both networks", low=1)
    layers: int = param(2, "hidden layers of both networks", low=1)
    inputs: str = param("value", "what the networks see of a report: value (r / mean) or "
                        "value+quantile (also its CDF level)")
    obedience: str = param("penalty", "BIC obedience: penalty (augmented Lagrangian) or mix "
                           "(each report's experiments mixed with full information to the "
                           "obedience bound, by construction)")
    payment: str = param("network", "payments: network (a fraction of the surplus) or "
                         "envelope (the envelope theorem's payment of the gain along the own "
                         "report: BIC the interim gain, ex post the gain at the other's "
                         "report; two buyers ex post)")
    n_eval: int = param(512, "evaluation types (BIC: value quantiles; ex post: profiles)", low=1)
    n_eval_samples: int = param(1024, "other-buyer samples of the evaluation's interim means",
                                low=1)
    n_grid: int = param(1001, "reports of the evaluation's dense misreport grid", low=2)
    rtol: float = param(0.015, "allowed relative gap of revenue to the closed form", low=0.0)
    ic_tol: float = param(1e-3, "allowed mean regret", low=0.0)
    train: MultiParams = nested(MultiParams, "training")
    checkpoint_every: int = param(0, "checkpoint every this many steps (0: never)", low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ic not in ("bic", "expost"):
            raise ValueError(f"ic: expected 'bic' or 'expost', got {self.ic!r}.")
        if self.payment not in ("network", "envelope"):
            raise ValueError(f"payment: expected 'network' or 'envelope', got {self.payment!r}.")
        if self.obedience not in ("penalty", "mix"):
            raise ValueError(f"obedience: expected 'penalty' or 'mix', got {self.obedience!r}.")


def run_multi(cfg: MultiConfig, ctx: RunContext) -> ExperimentResult:
    market = _market(cfg)
    mech = MultiBuyerMechanism(market, cfg.ic, hidden=cfg.hidden, layers=cfg.layers,
                               inputs=cfg.inputs, obedience=cfg.obedience,
                               payment=cfg.payment, device=ctx.device)
    mech.fit(cfg.train, generator=ctx.generator("init", "cpu"), callback=ctx.callback(),
             resume=ctx.load_checkpoint())
    ev = mech.evaluate(n_types=cfg.n_eval, n_samples=cfg.n_eval_samples, n_grid=cfg.n_grid,
                       seed=int(torch.randint(0, 2**31, (1,), generator=ctx.generator("test"))))
    metrics = {"revenue": ev.revenue, "ic_violation": ev.ic_violation,
               "ic_violation_max": ev.ic_violation_max,
               "obedience_violation": ev.obedience_violation, "ir_violation": ev.ir_violation}
    refs = {"ic_violation": Reference(0.0, "mean regret on the dense report grid",
                                      atol=cfg.ic_tol, relation="le"),
            "obedience_violation": Reference(0.0, "augmented Lagrangian on obedience",
                                             atol=cfg.ic_tol, relation="le")}
    known = _theory(cfg)
    if known is not None:
        refs["revenue"] = Reference(known[0], known[1], rtol=cfg.rtol)
    if ctx.plots_enabled and market.n_buyers == 2:
        _plot_allocation(mech, ctx)
    return ExperimentResult(metrics=metrics, references=refs)


def _plot_allocation(mech: MultiBuyerMechanism, ctx: RunContext, k: int = 101) -> None:
    """Buyer 1's correctness ``x_1 = sum_w theta_w pi[w, w]`` (the informativeness of its
    experiment: 1 full information, ``max theta`` none) at each profile of ``k x k`` midpoint
    value quantiles of both buyers, as a heat map (the paper's figures of the two-buyer
    mechanisms). ``obedience="mix"``: each own report's experiments mixed with full information
    by the weight that makes its interim experiment (the mean over the other's quantiles)
    obedient, as the mechanism sells them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = mech.market
    q = m.quantile((torch.arange(k, dtype=torch.float64) + 0.5) / k).to(mech.dtype_)
    q = q.to(mech.device_)
    prof = torch.stack(torch.broadcast_tensors(q[:, None], q[None, :]), -1).reshape(-1, 2)
    with torch.no_grad():
        pi = mech.experiments(prof)[:, 0].reshape(k, k, m.n_states, m.n_states)
        x = m.correctness(pi)  # (own, other)
        if mech.mix:
            lam = mech.mix_weights(pi.mean(1))[:, None]
            x = (1 - lam) * x + lam
    fig, ax = plt.subplots(figsize=(4.5, 3.8))
    qn = q.cpu().numpy()  # quantile-spaced cells, drawn at their values
    im = ax.pcolormesh(qn, qn, x.cpu().T.numpy(), shading="nearest",
                       vmin=float(m.prior_tensor().max()), vmax=1.0, cmap="viridis")
    fig.colorbar(im, ax=ax, label="buyer 1's correctness")
    ax.set_xlabel("value of buyer 1")
    ax.set_ylabel("value of buyer 2")
    ax.set_title(f"{mech.ic}: buyer 1's experiment")
    ctx.save_figure(fig, "allocation")
    plt.close(fig)


@dataclasses.dataclass(frozen=True)
class MultiLPConfig(Params):
    """Config of ``datamarkets.multi-lp``: the exact optimum on a value grid."""

    n_buyers: int = param(2, "number of buyers", low=2)
    prior: float = param(0.5, "P(state 1), the common prior (binary states)", low=0.0, high=1.0)
    alpha: float = param(0.5, "externality", low=0.0)
    values: str = param("uniform(0,1)", "law of every buyer's value")
    ic: str = param("bic", "bic (interim) or expost")
    grid: int = param(41, "value cells (midpoint quantiles)", low=2)
    extrapolate: bool = param(True, "also solve on (grid + 1) // 2 cells and extrapolate the "
                              "grid's ~c/K bias away (Richardson)")
    rtol: float = param(0.01, "allowed gap of the extrapolated revenue to the closed form",
                        low=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ic not in ("bic", "expost"):
            raise ValueError(f"ic: expected 'bic' or 'expost', got {self.ic!r}.")


def run_multi_lp(cfg: MultiLPConfig, ctx: RunContext) -> ExperimentResult:
    market = _market(cfg)
    lp = solve_multi_lp(market, cfg.grid, ic=cfg.ic)
    metrics = {"lp_revenue": lp.revenue, "lp_seconds": lp.seconds}
    refs: dict[str, Reference] = {}
    v, w = market.grid(cfg.grid)
    if cfg.ic == "expost":
        metrics["virtual_value_revenue"] = ex_post_grid_optimum(market, v, w)
        refs["lp_revenue"] = Reference(metrics["virtual_value_revenue"],
                                       "ex post optimum by discrete virtual values, same grid",
                                       rtol=1e-6)
    if cfg.alpha == 0:
        single = solve_experiment_lp(np.tile(market.prior, (v.size, 1)), v, w)
        metrics["single_buyer_revenue"] = cfg.n_buyers * single.revenue
        refs["lp_revenue"] = Reference(metrics["single_buyer_revenue"],
                                       "alpha = 0: n x the single-buyer LP on the same values",
                                       rtol=1e-6)
    if cfg.extrapolate:
        k2 = (cfg.grid + 1) // 2
        coarse = solve_multi_lp(market, k2, ic=cfg.ic).revenue
        metrics["lp_revenue_coarse"] = coarse
        metrics["lp_revenue_extrapolated"] = (cfg.grid * lp.revenue - k2 * coarse) / (
            cfg.grid - k2)
        known = _theory(cfg)
        if known is not None:
            refs["lp_revenue_extrapolated"] = Reference(
                known[0], f"{known[1]}; grids {k2} and {cfg.grid}, bias ~c/K removed",
                rtol=cfg.rtol)
    return ExperimentResult(metrics=metrics, references=refs)
