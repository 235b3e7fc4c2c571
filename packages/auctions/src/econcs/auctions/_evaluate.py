"""Evaluation of a mechanism: revenue, ex-post regret, IR violation, feasibility; allocation plots.

Regret follows Dütting et al. (2019, Sec. 4.2 and 5.1): for every held-out profile and bidder, the
largest utility gain from a unilateral misreport, found by gradient ascent from many random
starting misreports (:func:`econcs.shared.best_response_search`, straight-through gradients for
argmax mechanisms). Gradient ascent only gives a lower bound on the true regret, so for settings of
at most two items every misreport on a uniform grid over the support is tried exactly as well, and
the best grid point seeds one of the ascent restarts; the reported regret is the larger of the two.
With one item the grid is exact (:func:`~econcs.auctions.single_item_regret`: 401 reports per
bidder, zoomed three times), and both figures are reported (``regret_grid_mean`` beside
``regret_gradient_mean``).

The search's budget is one of :data:`REGRET_SEARCHES`: a mechanism that is exactly incentive
compatible by construction (menus, VCG, item-wise Myerson, bundle, AMA, GemNet after the transform)
gets the small ``"sanity"`` search by default, whose finding must be 0 (a check of the code, not of
the design); others (RegretNet) the ``"standard"`` search, in proportion to a default training run;
``"full"`` is the large search (1000 profiles x 100 restarts x 100 steps). Each stage reports its
progress on stderr when asked (``progress=True``): a tqdm bar on a terminal, else one line when
its first piece is done (with an estimate of the rest) and one when it ends.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from econcs.auctions._mechanism import Mechanism, unit_grid
from econcs.auctions._single_item import single_item_regret
from econcs.shared import (
    best_response_search,
    check_choice,
    check_int,
    check_type,
    make_generator,
    misreport_utilities,
)
from econcs.shared.progress import stage_progress

__all__ = ["REGRET_SEARCHES", "EvaluationReport", "evaluate", "grid_regret", "plot_allocation"]

#: the regret-search budgets ``(profiles, restarts, steps)`` by name (profiles are the first of the
#: held-out ones; the exact grid of up to 2 items runs on the same profiles). ``"sanity"``: the
#: default for exactly IC mechanisms (the finding must be 0); ``"standard"``: the default for the
#: others, about the cost of the quick rows' search; ``"full"``: the search of the first releases.
REGRET_SEARCHES: dict[str, tuple[int, int, int]] = {
    "sanity": (100, 10, 20),
    "standard": (500, 20, 40),
    "full": (1000, 100, 100),
}


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate` measured (money in value units, per profile).

    revenue, revenue_se : mean total payment and its standard error over ``n_samples`` profiles.
    regret_mean, regret_max : mean over bidders of the mean regret per profile, and the largest
        regret of any bidder on any profile (the larger of the grid and ascent estimates).
    regret_per_bidder : mean regret of each bidder.
    regret_grid_mean : mean regret from the exact grid search alone (``nan`` if not run; one
        item: the zoomed 401-point grid, exact up to ``width / (400 * 200^3)``).
    regret_gradient_mean : mean regret from the gradient-ascent search alone (``nan`` if not run).
    ir_violation : mean over profiles of ``sum_i max(0, -u_i)`` under truthful reports.
    infeasibility : mean over profiles of the total over-allocation of items (and, for unit-demand
        bidders, of bidders' lotteries above 1); 0 for a feasible mechanism.
    n_samples, n_regret_samples : profiles used for revenue and for regret.
    regret_search : the search's budget by name (:data:`REGRET_SEARCHES`), or ``"custom"``.
    n_restarts, n_steps : the gradient search's restarts per profile and bidder and its steps.
    seconds : wall time of the evaluation.
    """

    revenue: float
    revenue_se: float
    regret_mean: float
    regret_max: float
    regret_per_bidder: tuple[float, ...]
    regret_grid_mean: float
    ir_violation: float
    infeasibility: float
    n_samples: int
    n_regret_samples: int
    seconds: float
    regret_search: str = "custom"
    n_restarts: int = 0
    n_steps: int = 0
    regret_gradient_mean: float = math.nan

    def as_metrics(self) -> dict[str, float]:
        """The experiment metrics (``revenue``, ``regret_mean``, ``regret_max``, ...); the
        regret ones only when regret was measured (``n_regret_samples > 0``)."""
        regret = ({"regret_mean": self.regret_mean, "regret_max": self.regret_max}
                  if self.n_regret_samples else {})
        for key in ("regret_grid_mean", "regret_gradient_mean"):
            if self.n_regret_samples and not math.isnan(getattr(self, key)):
                regret[key] = getattr(self, key)
        return {"revenue": self.revenue, "revenue_se": self.revenue_se, **regret,
                "ir_violation": self.ir_violation, "infeasibility": self.infeasibility}


def _grid(mech: Mechanism, points: int) -> torch.Tensor:
    """``(points^m, n, m)`` grid misreports, each bidder over its own support box."""
    m = mech.setting.n_items
    mesh = unit_grid(points, m, device=mech.device_, dtype=mech.dtype_).reshape(-1, 1, m)
    return mech._low + mesh * (mech._high - mech._low)


def grid_regret(mech: Mechanism, values: torch.Tensor, points: int = 51,
                chunk: int = 200_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact regret over a grid of ``points^m`` misreports per bidder (``m <= 2``).

    Returns ``(regret (B, n), best grid misreport (B, n, m))``.
    """
    n, m = mech.setting.shape
    if m > 2:
        raise ValueError(f"grid_regret: needs n_items <= 2, got {m}.")
    grid = _grid(mech, points)  # (G, n, m)
    g = grid.shape[0]
    per = max(1, chunk // (g * n))
    regrets, best_mis = [], []
    with torch.no_grad():
        for vals in values.split(per):
            mis = grid.unsqueeze(0).expand(vals.shape[0], -1, -1, -1)
            util = misreport_utilities(mech.outcome, vals, mis)  # (b, G, n)
            alloc, pay = mech.outcome(vals)
            truthful = (alloc * vals).sum(-1) - pay
            best_u, arg = util.max(dim=1)
            regrets.append((best_u - truthful).clamp(min=0.0))
            best_mis.append(grid[arg, torch.arange(n, device=vals.device)])  # (b, n, m)
    return torch.cat(regrets), torch.cat(best_mis)


def _search_budget(mech: Mechanism, search: str | None, n_regret_samples: int | None,
                   n_restarts: int | None, n_steps: int | None) -> tuple[str, int, int, int]:
    """The search's name and ``(profiles, restarts, steps)``: the named budget (default by
    ``mech.exactly_ic``) with any explicit value in its place (then named ``"custom"``)."""
    name = ("sanity" if mech.exactly_ic else "standard") if search is None else \
        check_choice(search, "regret_search", REGRET_SEARCHES)
    base = REGRET_SEARCHES[name]
    given = (n_regret_samples, n_restarts, n_steps)
    if any(g is not None and g != b for g, b in zip(given, base, strict=True)):
        name = "custom"
    n_reg, restarts, steps = (b if g is None else g for g, b in zip(given, base, strict=True))
    return (name, check_int(n_reg, "n_regret_samples", low=0),
            check_int(restarts, "n_restarts", low=1), check_int(steps, "n_steps", low=0))


def evaluate(
    mech: Mechanism,
    n_samples: int = 10_000,
    *,
    seed: int = 0,
    values: torch.Tensor | None = None,
    regret_search: str | None = None,
    n_regret_samples: int | None = None,
    n_restarts: int | None = None,
    n_steps: int | None = None,
    lr: float = 0.02,
    grid_points: int | None = None,
    chunk: int = 100_000,
    progress: bool = False,
) -> EvaluationReport:
    """Revenue, regret, IR violation and infeasibility of ``mech`` on held-out profiles.

    Parameters
    ----------
    mech
        a :class:`~econcs.auctions.Mechanism` (evaluated exactly: argmax menus, hard choices).
    n_samples
        profiles drawn from the setting's prior (ignored when ``values`` is given).
    seed
        seeds the profiles and the misreport restarts.
    values : optional ``(B, n, m)`` profiles to evaluate on instead.
    regret_search
        the regret search's budget, a name of :data:`REGRET_SEARCHES`: ``"sanity"`` (100
        profiles x 10 restarts x 20 steps; the default for exactly IC mechanisms, which must
        show regret 0), ``"standard"`` (500 x 20 x 40; the default for the others) or
        ``"full"`` (1000 x 100 x 100).
    n_regret_samples
        the first profiles used for regret (default: the search's; 0 skips regret).
    n_restarts, n_steps, lr
        gradient-ascent misreport search (default: the search's; ``lr`` relative to the
        support width).
    grid_points
        grid per item for the exact grid regret (``m <= 2``; default 401 for one item, zoomed
        three times by :func:`~econcs.auctions.single_item_regret`, 21 for two; 0 disables it).
    chunk
        profiles x restarts x bidders evaluated at once (memory bound).
    progress
        report each stage (revenue, grid regret, gradient-search regret) on stderr: a tqdm bar
        on a terminal, else a line with the estimated time left and one when the stage ends
        (:func:`econcs.shared.progress.stage_progress`).
    """
    check_type(mech, "mech", Mechanism)
    start = time.perf_counter()
    n_samples = check_int(n_samples, "n_samples", low=1)
    seed = check_int(seed, "seed", low=0)
    search, n_reg, n_restarts, n_steps = _search_budget(mech, regret_search, n_regret_samples,
                                                        n_restarts, n_steps)
    chunk = check_int(chunk, "chunk", low=1)
    n, m = mech.setting.shape
    name = type(mech).__name__
    gen = make_generator(seed, mech.device_)
    if values is None:
        values = mech.setting.sample(n_samples, generator=gen, device=mech.device_,
                                     dtype=mech.dtype_)
    else:
        values = mech.setting.check_values(values).to(mech.device_, mech.dtype_)
    b = values.shape[0]
    n_reg = min(n_reg, b)
    if grid_points is None:
        grid_points = {1: 401, 2: 21}.get(m, 0)
    grid_points = check_int(grid_points, "grid_points", low=0)
    if grid_points == 1:
        raise ValueError("grid_points: expected 0 (off) or >= 2.")
    quiet = not progress
    mech.eval()
    with stage_progress(1, f"evaluate {name}: revenue on {b} profiles", unit="pass",
                        disable=quiet) as bar, torch.no_grad():
        alloc, pay = mech.outcome(values)
        bar.update(1)
    total = pay.sum(-1).double()
    util = (alloc * values).sum(-1) - pay
    ir = float(torch.relu(-util).sum(-1).double().mean())
    over = torch.relu(alloc.sum(1) - 1).sum(-1)
    if mech.setting.valuation == "unit-demand":
        over = over + torch.relu(alloc.sum(2) - 1).sum(-1)
    infeas = float(over.double().mean())

    regret = torch.zeros(n_reg, n, dtype=torch.float64, device=values.device)
    grid_mean = gradient_mean = math.nan
    if n_reg > 0:
        rv = values[:n_reg]
        seeds = None
        if 0 < grid_points and m <= 2:
            what = (f"{grid_points}-point grid zoomed 3 times" if m == 1 else
                    f"{grid_points}^{m} grid")
            with stage_progress(1, f"evaluate {name}: exact regret on a {what} x {n_reg} "
                                "profiles", unit="pass", disable=quiet) as bar:
                if m == 1:
                    seeds, g_reg = single_item_regret(mech.outcome, rv, mech._low, mech._high,
                                                      points=grid_points, chunk=chunk)
                else:
                    g_reg, seeds = grid_regret(mech, rv, grid_points, chunk)
                bar.update(1)
            regret = torch.maximum(regret, g_reg.double())
            grid_mean = float(g_reg.double().mean())
        # at least ~10 pieces, so that the first one gives an estimate of the rest
        per = max(1, min(chunk // (n_restarts * n), -(-n_reg // 10)))
        width = mech._high - mech._low
        parts = []
        with stage_progress(n_reg, f"evaluate {name}: {search} regret search ({n_reg} profiles "
                            f"x {n_restarts} restarts x {n_steps} steps)", unit="profiles",
                            disable=quiet) as bar:
            for k, vals in enumerate(rv.split(per)):
                u = torch.rand((vals.shape[0], n_restarts, n, m), generator=gen,
                               device=vals.device, dtype=vals.dtype)
                init = mech._low + u * width
                if seeds is not None:
                    init[:, 0] = seeds[k * per: k * per + vals.shape[0]]
                br = best_response_search(mech.search_outcome, vals, low=mech._low,
                                          high=mech._high, init=init, n_steps=n_steps,
                                          lr=lr * float(width.mean()))
                # re-evaluate the found misreports with the exact mechanism
                with torch.no_grad():
                    ex = misreport_utilities(mech.outcome, vals, br.misreports.unsqueeze(1))[:, 0]
                    a, p = mech.outcome(vals)
                    parts.append((ex - ((a * vals).sum(-1) - p)).clamp(min=0.0).double())
                bar.update(vals.shape[0])
        gradient_regret = torch.cat(parts)
        regret = torch.maximum(regret, gradient_regret)
        gradient_mean = float(gradient_regret.mean())
    per_bidder = tuple(float(x) for x in regret.mean(0)) if n_reg else (math.nan,) * n
    return EvaluationReport(
        revenue=float(total.mean()),
        revenue_se=float(total.std() / math.sqrt(b)) if b > 1 else math.nan,
        regret_mean=float(regret.mean()) if n_reg else math.nan,
        regret_max=float(regret.max()) if n_reg else math.nan,
        regret_per_bidder=per_bidder,
        regret_grid_mean=grid_mean,
        ir_violation=ir,
        infeasibility=infeas,
        n_samples=b,
        n_regret_samples=n_reg,
        seconds=time.perf_counter() - start,
        regret_search=search,
        n_restarts=n_restarts,
        n_steps=n_steps,
        regret_gradient_mean=gradient_mean,
    )


def plot_allocation(mech: Mechanism, *, bidder: int = 0, resolution: int = 101,
                    others: torch.Tensor | None = None) -> Any:
    """Heat maps of bidder ``bidder``'s allocation probability of each item over its 2-item value
    box, the other bidders reporting ``others`` (default: their support midpoints), as in the
    figures of Dütting et al. (2019). Needs matplotlib (the ``plot`` extra); returns the figure.
    """
    check_type(mech, "mech", Mechanism)
    n, m = mech.setting.shape
    if m != 2:
        raise ValueError(f"mech: allocation plots need a 2-item setting, got n_items={m}.")
    bidder = check_int(bidder, "bidder", low=0, high=n - 1)
    resolution = check_int(resolution, "resolution", low=2)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = _grid(mech, resolution)[:, 0]  # (G, 2), bidder-0 box; rescale to this bidder's box
    lo, hi = mech._low[bidder], mech._high[bidder]
    grid = lo + (grid - mech._low[0]) / (mech._high[0] - mech._low[0]) * (hi - lo)
    base = (mech._low + mech._high) / 2 if others is None else others.to(mech._low)
    profiles = base.expand(grid.shape[0], n, m).clone()
    profiles[:, bidder] = grid
    with torch.no_grad():
        alloc, _ = mech.outcome(profiles)
    a = alloc[:, bidder].reshape(resolution, resolution, m).cpu().numpy()
    fig, axes = plt.subplots(1, m, figsize=(4.2 * m, 3.6))
    extent = [float(lo[1]), float(hi[1]), float(lo[0]), float(hi[0])]
    for j, ax in enumerate(axes):
        im = ax.imshow(a[..., j], origin="lower", extent=extent, vmin=0, vmax=1, cmap="YlOrRd",
                       aspect="auto")
        ax.set_xlabel("$v_2$")
        ax.set_ylabel("$v_1$")
        ax.set_title(f"{type(mech).__name__}: P(item {j + 1} to bidder {bidder + 1})")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig
