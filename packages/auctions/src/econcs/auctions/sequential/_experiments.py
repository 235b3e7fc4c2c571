"""The ``auctions.sequential`` experiment for the ``econcs`` CLI (``econcs run auctions.sequential``).

One experiment, every method: ``method=dp|dp-sym|itemwise|bundle`` learns (or solves) a policy for
``n_bidders x n_items`` in setting ``A``-``F``, saves it (``policy.safetensors``, setting and class
as JSON metadata), evaluates it by exact rollouts on held-out draws and returns ``revenue``
(and ``revenue_se``, ``welfare``, ``items_sold``, ``revenue_to_go``: the DP's own estimate of the
first state's value). References are the paper's numbers (Ravindranath et al. 2024, Tables 1-3)
or closed forms; a killed DP run resumes from its last bidder checkpoint to the same metrics.

Registered as its own suite ``auctions.sequential`` (a second entry point of econcs-auctions), so
``econcs reproduce --quick --only auctions.sequential`` runs these rows alone.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import torch

from econcs.auctions.sequential._dp import DPParams, bundlewise, dp, dp_sym, itemwise
from econcs.auctions.sequential._evaluate import evaluate_sequential
from econcs.auctions.sequential._fpi import FPIParams, fpi
from econcs.auctions.sequential._fpi_entry import fpi_entry_fee
from econcs.auctions.sequential._ppo import PPOParams, ppo
from econcs.auctions.sequential._setting import MENUS, SETTINGS, SequentialSetting
from econcs.shared import (
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

__all__ = ["EXPERIMENTS", "SequentialConfig"]

METHODS = {"dp": dp, "dp-sym": dp_sym, "itemwise": itemwise, "bundle": bundlewise, "fpi": fpi,
           "ppo": ppo}


@dataclasses.dataclass(frozen=True)
class SequentialConfig(Params):
    """A sequential auction, a method, its training and the held-out evaluation."""

    n_bidders: int = param(5, "bidders, visited in order", low=1)
    n_items: int = param(5, "items", low=1)
    setting: str = param("A", "valuations: A additive U[0,1], B additive U[0,j/m], C unit-demand, "
                         "D 3-demand, E independent bundle values, F complements/substitutes",
                         choices=tuple(SETTINGS))
    method: str = param("dp", "dp | dp-sym (i.i.d. items) | itemwise | bundle (posted prices) | "
                        "fpi (actor-critic networks) | ppo (stable-baselines3, the [rl] extra)",
                        choices=tuple(METHODS))
    menu: str = param("bundle", "bundle (a price per bundle, m <= 10) or entry-fee (item prices "
                      "and a fee)", choices=MENUS)
    train: DPParams = nested(DPParams, "the offset RochetNet at every state (DP methods)")
    fpi: FPIParams = nested(FPIParams, "fitted policy iteration (method=fpi)")
    ppo: PPOParams = nested(PPOParams, "PPO on the Gymnasium environment (method=ppo)")
    n_eval: int = param(100_000, "held-out episodes for revenue", low=1)
    ref_revenue: float | None = param(None, "reference revenue (the paper's)")
    ref_rtol: float = param(0.01, "relative tolerance on the revenue reference", low=0.0)
    ref_relation: str = param("eq", "how revenue compares to the reference",
                              choices=("eq", "ge", "le"))
    ref_source: str = param("Ravindranath et al. 2024", "where the reference comes from")
    checkpoint_every: int = param(0, "checkpoint every this many steps: bidders (DP), "
                                  "iterations (FPI, a multiple of fpi.log_every) or updates "
                                  "(PPO, a multiple of ppo.eval_every); 0: never", low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sequential_setting  # noqa: B018 -- made (and checked) with the config

    @functools.cached_property
    def sequential_setting(self) -> SequentialSetting:
        return SequentialSetting(self.n_bidders, self.n_items, self.setting, self.menu)


def run_sequential(cfg: SequentialConfig, ctx: RunContext) -> ExperimentResult:
    s = cfg.sequential_setting
    solve = METHODS[cfg.method]
    if cfg.method == "fpi" and cfg.menu == "entry-fee":
        solve = fpi_entry_fee
    params = {"fpi": cfg.fpi, "ppo": cfg.ppo}.get(cfg.method, cfg.train)
    policy = solve(s, params, generator=ctx.generator("train"), device=ctx.device,
                   callback=ctx.callback(log_every=1), resume=ctx.load_checkpoint())
    policy.save(ctx.out_dir / "policy.safetensors")
    ctx.artifacts["policy"] = "policy.safetensors"
    report = evaluate_sequential(policy, cfg.n_eval, seed=ctx.seed + 1)
    metrics = report.as_metrics()
    values = getattr(policy, "values_", None)
    if cfg.method == "fpi":  # the critic's value of the first state
        first = torch.zeros(1, dtype=torch.long, device=policy.device)
        with torch.no_grad():
            metrics["revenue_to_go"] = float(policy.value(first, torch.ones(
                1, s.n_items, dtype=torch.bool, device=policy.device)))
    elif values is not None:
        metrics["revenue_to_go"] = float(values[0].max() if values.dim() > 1 else values[0])
    refs = {}
    if cfg.ref_revenue is not None:
        refs["revenue"] = Reference(cfg.ref_revenue, cfg.ref_source, rtol=cfg.ref_rtol,
                                    relation=cfg.ref_relation)
    return ExperimentResult(metrics, refs)


def _row(label: str, **overrides: Any) -> Reproduction:
    return Reproduction("auctions.sequential", overrides, label)


# 100 full-batch steps on 2048 draws per bidder: the opportunity-cost start is within ~1% after
# them (MEASUREMENTS.md: 200 steps gain < 0.1%)
_DP_QUICK = {"train.max_iter": 100, "n_train": 2048, "n_val": 2 ** 15}
# DP-Sym starts every state at its best item price (item_start) and keeps that menu where
# training does worse; temperature 0.02: 10x10 A 7.5986 (0.01: 7.5981; 0.05: 7.5883), 20x20 A
# 17.1477. Without the item-price start 0.01 (the authors') stalled at 7.31 on 10x10 A, below
# the item-wise 7.41 that size menus contain (MEASUREMENTS.md)
_DP_FULL = {"train.max_iter": 300, "n_train": 4096, "n_val": 2 ** 16, "train.temperature": 0.02}

QUICK = [
    _row("DP 5x5 A (paper 3.13, 1%)", method="dp", ref_revenue=3.13, **_DP_QUICK),
    _row("DP 5x5 C (paper 2.43, 1%)", method="dp", setting="C", ref_revenue=2.43, **_DP_QUICK),
    _row("item-wise 5x5 A (paper 3.00; exact 3.0037)", method="itemwise", ref_revenue=3.00),
    _row("item-wise 5x5 C (paper 2.42, 1%)", method="itemwise", setting="C", ref_revenue=2.42,
         **_DP_QUICK),
    # FPI at a quarter of the full row's 600 iterations: 3.1022 (seed 0) / 3.0986 (seed 1),
    # ~25 CPU s; 100 iterations: 3.0956. FPI 5x5 C stays a --full row: 150 iterations give
    # 2.40607 (-0.98%), too close to its 1% for a quick row (MEASUREMENTS.md)
    _row("FPI 5x5 A (paper 3.12, 1%; 150 iterations)", method="fpi", ref_revenue=3.12,
         **{"fpi.max_iter": 150, "log_every": 50}),
]

# FPI: 3x256 tanh actor and critic (paper); MEASUREMENTS.md for the budgets
_FPI_5 = {"fpi.max_iter": 600, "log_every": 50}
_FPI_10 = {"fpi.max_iter": 1500, "n_values": 16, "lr_actor": 1e-4, "log_every": 100,
           "fpi.temperature": 0.05, "table_mix": 0.2}

FULL = [
    _row("FPI 5x5 A (paper 3.12)", method="fpi", ref_revenue=3.12, **_FPI_5),
    _row("FPI 5x5 C (paper 2.43)", method="fpi", setting="C", ref_revenue=2.43, **_FPI_5),
    # PPO through the Gymnasium environment's MDP (econcs-auctions[rl]): must land below FPI's
    # 3.12; the paper's PPO 3.09 within 1% (the window's top, 3.1209, is FPI's 3.12). 600
    # updates of 1024 episodes (3.072M steps, ~1230 s CPU): 3.0624 (-0.89%); 300 updates:
    # 3.0573 (-1.06%, fails) (MEASUREMENTS.md)
    _row("PPO 5x5 A (paper 3.09, 1%: below FPI 3.12; 600 updates)", method="ppo",
         total_timesteps=3_072_000, eval_every=50, checkpoint_every=50, ref_revenue=3.09),
    _row("FPI 10x10 A (paper 7.59)", method="fpi", n_bidders=10, n_items=10, ref_revenue=7.59,
         **_FPI_10),
    # every bundle an independent value: 2^10 values per bidder; the DP's 3^10 (state, bundle)
    # pairs per bidder do not fit the hour, so FPI only (the paper's DP 7.01). Temperature 0.01
    # (the authors'): 6.9744; with A's 0.05, 6.9153 (-1.2%) (MEASUREMENTS.md; two runs, one
    # seed each)
    _row("FPI 10x10 E (paper 7.00)", method="fpi", n_bidders=10, n_items=10, setting="E",
         ref_revenue=7.00, **{**_FPI_10, "fpi.temperature": 0.01}),
    _row("FPI 20x20 A entry fee (paper 17.11)", method="fpi", n_bidders=20, n_items=20,
         menu="entry-fee", ref_revenue=17.11, **{"fpi.max_iter": 1500, "n_values": 16,
                                                 "log_every": 100}),
    _row("DP-Sym 10x10 A (paper 7.60)", method="dp-sym", n_bidders=10, n_items=10,
         ref_revenue=7.60, **_DP_FULL),
    _row("item-wise 10x10 A (paper 7.41; exact 7.4149)", method="itemwise", n_bidders=10,
         n_items=10, ref_revenue=7.41),
    # the paper's DP row; DP-Sym is the same optimum for i.i.d. items at 11 states per bidder
    _row("DP-Sym 10x10 C (paper DP 6.00)", method="dp-sym", n_bidders=10, n_items=10,
         setting="C", ref_revenue=6.00, **_DP_FULL),
    # our item-wise prices depend on the state (the DP over item-price menus); for unit demand
    # they reach the DP's revenue (5x5 C: 2.43241 both; 10x10 C: 5.9954 against DP-Sym's
    # 5.9886), above the paper's item-wise 5.92 by 1.3%: the reference is the paper's DP
    _row("item-wise 10x10 C (paper DP 6.00; paper item-wise 5.92)", method="itemwise",
         n_bidders=10, n_items=10, setting="C", ref_revenue=6.00,
         ref_source="Ravindranath et al. 2024, DP (unit demand: item prices reach it)",
         **_DP_QUICK),
    _row("DP-Sym 10x10 D (paper DP 7.54)", method="dp-sym", n_bidders=10, n_items=10,
         setting="D", ref_revenue=7.54, **_DP_FULL),
    _row("DP-Sym 20x20 A (paper 17.14)", method="dp-sym", n_bidders=20, n_items=20,
         menu="entry-fee", ref_revenue=17.14, **_DP_FULL),
    # exact optimum 16.9239 by the closed form: the paper's 16.42 is 3% below it
    _row("item-wise 20x20 A (exact 16.9239; paper 16.42)", method="itemwise", n_bidders=20,
         n_items=20, menu="entry-fee", ref_revenue=16.9239, ref_rtol=0.005,
         ref_source="closed form (p = (1 + V) / 2 per item)"),
    # reduced budget, 100 steps x 2048 draws per bidder, 2^15 continuation draws: 46.6635
    # (506 s CPU). Before the item-price start this budget failed: 45.947 (and 300 x 2048:
    # 46.019), below the item-wise 46.4788 (MEASUREMENTS.md)
    _row("DP-Sym 50x50 A (paper 46.54; 100 steps x 2048 draws per bidder, 1%)",
         method="dp-sym", n_bidders=50, n_items=50, menu="entry-fee", ref_revenue=46.54,
         **{**_DP_FULL, "train.max_iter": 100, "n_train": 2048, "n_val": 2 ** 15}),
    # reduced budget: 1500 iterations (the authors' run: 8029 s on a GPU; README for the
    # paper-scale command); 1% of the authors' log 46.54 (paper table 46.71)
    _row("FPI 50x50 A entry fee (authors' log 46.54, paper 46.71; reduced budget, 1%)",
         method="fpi", n_bidders=50, n_items=50, menu="entry-fee", ref_revenue=46.54,
         **{"fpi.max_iter": 1500, "n_values": 16, "log_every": 100}),
    _row("item-wise 50x50 A (paper 46.47; exact 46.4788)", method="itemwise", n_bidders=50,
         n_items=50, menu="entry-fee", ref_revenue=46.47),
]

#: Paper-scale rows beyond an hour on 2 CPU cores (``econcs reproduce --paper --only
#: auctions.sequential``, for a GPU or a Ray cluster); neither has been run to its end here
PAPER = [
    # the authors' 50x50 FPI ran 8029 s on a GPU (their log: 46.54); our analogue of its budget
    _row("FPI 50x50 A entry fee (authors' log 46.54, paper 46.71; paper scale)", method="fpi",
         n_bidders=50, n_items=50, menu="entry-fee", ref_revenue=46.54,
         **{"fpi.max_iter": 20_000, "n_values": 64, "n_states": 1024, "log_every": 500,
            "checkpoint_every": 500}),
    # the 10- and 20-item rows' budget (300 steps x 4096 draws per bidder): ~2 h on one thread
    _row("DP-Sym 50x50 A (paper 46.54; the 10- and 20-item rows' budget)", method="dp-sym",
         n_bidders=50, n_items=50, menu="entry-fee", ref_revenue=46.54, **_DP_FULL),
]

EXPERIMENTS = ExperimentSuite(
    package="auctions.sequential",
    experiments=[
        Experiment("auctions.sequential", SequentialConfig, run_sequential,
                   "sequential combinatorial auctions: DP, DP-Sym, posted prices "
                   "(Ravindranath et al. 2024)"),
    ],
    quick=QUICK,
    full=FULL,
    paper=PAPER,
    smoke=[
        Reproduction("auctions.sequential", {"n_bidders": 2, "n_items": 2, "train.max_iter": 5,
                                             "n_train": 64, "n_val": 256, "n_eval": 500}),
    ],
)
