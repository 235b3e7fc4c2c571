"""Plots of the fixed points against the true states and of the composite process's convergence
(Wang et al. 2025, Figs. of Sec. 4-5). matplotlib is the ``plot`` extra; it is imported only here.

:func:`plot_fixed_points` draws, in the plane of the first two state features, the states, the
true states and the fixed points (coloured by a Jacobian's rank), with the deviation against the rank
beside it. :func:`plot_composite` draws the mean distance to the true state after each round of
the denoising map, one curve per process (composite and each single agent), from
:func:`~econcs.decpomdp_diffusion.composite_trajectory`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from econcs.decpomdp_diffusion._dec_pomdp import TabularDecPOMDP
from econcs.decpomdp_diffusion._fixed_points import FixedPoints
from econcs.shared import check_choice, check_type

__all__ = ["plot_composite", "plot_fixed_points"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as err:  # the plot extra is missing
        raise ImportError("plots need matplotlib: pip install "
                          "'econcs-decpomdp-diffusion[plot]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fixed_points(fp: FixedPoints, env: TabularDecPOMDP, true_states=None, *,
                      n_histories: int = 12, rank: str = "map", title: str = "") -> Any:
    """A figure: (left) states (grey), fixed points of the first ``n_histories`` histories
    coloured by Jacobian rank (``rank="map"``, the paper's: of the denoising map; ``"network"``: of
    the diffusion network) and joined to their history's true state (black); (right) each fixed point's
    deviation from the nearest state against its rank. Needs matplotlib."""
    check_type(fp, "fp", FixedPoints)
    check_type(env, "env", TabularDecPOMDP)
    check_choice(rank, "rank", ("network", "map"))
    ranks = fp.network_rank if rank == "network" else fp.rank
    plt = _pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    feats = env.features[:, :2] if env.state_dim > 1 else np.c_[env.features, 0 * env.features]
    pts = fp.points[:n_histories, :, :2] if env.state_dim > 1 else np.concatenate(
        [fp.points[:n_histories], 0 * fp.points[:n_histories]], -1)
    ax.scatter(*feats.T, s=200, marker="s", c="0.85", label="states", zorder=0)
    if true_states is not None:
        true = feats[np.asarray(true_states)[:n_histories]]
        for b in range(pts.shape[0]):
            for k in range(pts.shape[1]):
                ax.plot([true[b, 0], pts[b, k, 0]], [true[b, 1], pts[b, k, 1]], c="0.6", lw=0.5,
                        zorder=1)
        ax.scatter(*true.T, marker="x", c="k", s=40, label="true state", zorder=3)
    sc = ax.scatter(pts[..., 0].ravel(), pts[..., 1].ravel(), c=ranks[:n_histories].ravel(),
                    cmap="viridis", vmin=0, vmax=env.state_dim, s=14, zorder=2,
                    label="fixed points")
    fig.colorbar(sc, ax=ax, label=f"{rank} Jacobian rank")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.legend(fontsize=7, loc="best")
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.15, 0.15, ranks.size)
    ax2.scatter(ranks.ravel() + jitter, fp.deviation.ravel(), s=6, alpha=0.5)
    ax2.set_xlabel(f"{rank} Jacobian rank (jittered)")
    ax2.set_ylabel("deviation from the nearest state")
    ax2.set_xticks(range(env.state_dim + 1))
    if title:
        fig.suptitle(title)
    return fig


def plot_composite(trajectories: Mapping[str, np.ndarray], env: TabularDecPOMDP, true_states, *,
                   title: str = "") -> Any:
    """A figure: for each labelled trajectory ``(n_rounds + 1, batch, state_dim)``, the mean
    (and 10-90% band) over histories of the distance to the true state after each round of the
    denoising map (round 0: the DDIM sample). Needs matplotlib."""
    check_type(env, "env", TabularDecPOMDP)
    if not trajectories:
        raise ValueError("trajectories: expected at least one labelled trajectory.")
    true = env.features[np.asarray(true_states)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    for label, traj in trajectories.items():
        traj = np.asarray(traj)
        if traj.ndim != 3 or traj.shape[1:] != true.shape:
            raise ValueError(f"trajectories[{label!r}]: expected (rounds, {true.shape[0]}, "
                             f"{true.shape[1]}), got {traj.shape}.")
        err = np.linalg.norm(traj - true[None], axis=-1)  # (rounds, batch)
        rounds = np.arange(err.shape[0])
        line, = ax.plot(rounds, err.mean(1), label=label)
        ax.fill_between(rounds, *np.quantile(err, [0.1, 0.9], axis=1), alpha=0.15,
                        color=line.get_color())
    ax.set_xlabel("round of the denoising map")
    ax.set_ylabel("distance to the true state")
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
