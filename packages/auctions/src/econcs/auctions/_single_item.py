"""Exact regret of single-item mechanisms by a zoomed grid over each bidder's report.

With one item a bidder's type is one number and its utility is linear in it,
``u_i(r) = v_i a_i(r, v_-i) - p_i(r, v_-i)`` (single-parameter, Myerson 1981), so its best
misreport is a one-dimensional search. :func:`single_item_regret` tries every report on a grid of
``points`` per bidder over the support box (all bidders at once: one batched call of the
mechanism on ``B x points x n`` profiles), then ``zooms`` times a grid of ``zoom_points`` over the
two cells around the best report so far; the regret is the best candidate's utility gain over the
truth (:func:`econcs.shared.linear_regret`, the truth being a candidate too). At 401 points and
three zooms of 41 the report is resolved to ``width / (400 * 20^3)``: the search is exact up to
the network's variation inside that (a best report isolated inside one cell of the first grid
aside), which is what the gradient-ascent search (a lower bound) is
checked against in :func:`~econcs.auctions.evaluate`.

RegretNet training on one item (:meth:`~econcs.auctions.RegretNet.fit`) runs the same search at a
coarser, randomly shifted grid each step, so the augmented Lagrangian sees the exact regret
rather than the 3-10x smaller regret that a few steps of gradient ascent find there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from econcs.shared import check_int
from econcs.shared.regret import linear_regret

__all__ = ["single_item_regret"]

Outcome = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Deviation = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def deviation_bids(values: torch.Tensor, reports: torch.Tensor) -> torch.Tensor:
    """``(B, G, n, n)`` bids: row ``[b, g, i]`` is ``values[b]`` (``(B, n, 1)``) with bidder
    ``i``'s bid replaced by ``reports[b, g, i]`` (``(B, G, n)``)."""
    b, _, n = reports.shape
    eye = torch.eye(n, dtype=torch.bool, device=values.device)
    return torch.where(eye, reports.unsqueeze(3), values[..., 0].view(b, 1, 1, n))


def deviations(outcome: Outcome, values: torch.Tensor, reports: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bidder ``i``'s allocation and payment ``(B, G, n)`` each when it alone reports
    ``reports[b, g, i]`` (``(B, G, n)``) and the others their ``values (B, n, 1)``: one call of
    ``outcome`` on ``B G n`` profiles."""
    b, g, n = reports.shape
    alloc, pay = outcome(deviation_bids(values, reports).reshape(b * g * n, n, 1))
    gain = alloc[..., 0].view(b, g, n, n).diagonal(dim1=2, dim2=3)
    return gain, pay.view(b, g, n, n).diagonal(dim1=2, dim2=3)


def _utilities(deviation: Deviation, values: torch.Tensor, reports: torch.Tensor, chunk: int
               ) -> torch.Tensor:
    """``(B, G, n)`` utility of bidder ``i`` reporting ``reports[b, g, i]`` (others truthful),
    ``values (B, n, 1)``, in pieces of at most ``chunk`` profiles."""
    _, g, n = reports.shape
    per = max(1, chunk // max(g * n, 1))
    parts = []
    for v, r in zip(values.split(per), reports.split(per), strict=True):
        gain, price = deviation(v, r)
        parts.append(v[..., 0].unsqueeze(1) * gain - price)
    return torch.cat(parts)


def single_item_regret(
    outcome: Outcome,
    values: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    *,
    points: int = 401,
    zooms: int = 3,
    zoom_points: int = 41,
    shift: torch.Tensor | None = None,
    quantiles: torch.Tensor | None = None,
    chunk: int = 200_000,
    deviation: Deviation | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each bidder's best report on a zoomed grid, and its regret (one item).

    Parameters
    ----------
    outcome
        the mechanism: reports ``(N, n, 1)`` -> ``(allocation (N, n, 1), payment (N, n))``.
    values
        ``(B, n, 1)`` true values.
    low, high
        ``(n, 1)`` (or broadcastable) bounds of the reports.
    points
        candidate reports per bidder on the first grid (>= 2).
    zooms, zoom_points
        refinements, each a grid of ``zoom_points`` over the two cells around the best report
        so far.
    shift
        ``(B, 1)`` or ``(B, n)`` in ``[0, 1)``: shift the first grid by this fraction of a cell
        (a stratified random grid in training); default: the grid includes both bounds.
    quantiles
        ``(Q, n)`` each bidder's reports at ``Q`` evenly spaced probabilities of its value
        distribution: the first grid is then evenly spaced in probability (interpolated in the
        table) instead of in value, so an unbounded law is not searched mostly in its tail.
    chunk
        profiles evaluated at once.
    deviation
        ``(values (B, n, 1), reports (B, G, n)) -> (allocation, payment)``, each ``(B, G, n)``:
        bidder ``i``'s outcome when it alone reports ``reports[b, g, i]``; a mechanism's faster
        equivalent of the default, :func:`deviations` of ``outcome`` (RegretNet's shared
        per-bidder networks evaluate the payment of the deviating bidder only).

    Returns
    -------
    misreports, regret
        ``(B, n, 1)`` the best report found (the truth when no candidate beats it) and
        ``(B, n)`` its utility gain over the truth, ``>= 0``. Nothing is differentiable
        (``torch.no_grad``); re-evaluate the misreports to train on them.

    >>> def second_price(r):  # truthful: no regret
    ...     top = r[..., 0].argmax(1, keepdim=True)
    ...     win = torch.zeros_like(r[..., 0]).scatter(1, top, 1.0)
    ...     return win.unsqueeze(-1), win * r[..., 0].topk(2, dim=1).values[:, 1:]
    >>> v = torch.rand(50, 3, 1, generator=torch.Generator().manual_seed(0))
    >>> float(single_item_regret(second_price, v, torch.zeros(3, 1), torch.ones(3, 1))[1].max())
    0.0
    """
    if values.dim() != 3 or values.shape[-1] != 1:
        raise ValueError(f"values: expected (B, n, 1) single-item profiles, got shape "
                         f"{tuple(values.shape)}.")
    points = check_int(points, "points", low=2)
    zooms = check_int(zooms, "zooms", low=0)
    zoom_points = check_int(zoom_points, "zoom_points", low=2)
    chunk = check_int(chunk, "chunk", low=1)
    b, n, _ = values.shape
    lo = torch.as_tensor(low, dtype=values.dtype, device=values.device).reshape(-1)
    hi = torch.as_tensor(high, dtype=values.dtype, device=values.device).reshape(-1)
    lo, hi = lo.expand(n), hi.expand(n)
    v = values[..., 0]
    if deviation is None:
        deviation = functools.partial(deviations, outcome)
    with torch.no_grad():
        alloc, pay = outcome(values)
        truth_u = v * alloc[..., 0] - pay  # (B, n)
        if shift is None:
            frac = torch.linspace(0, 1, points, dtype=values.dtype, device=values.device)
            frac = frac.view(1, points, 1).expand(b, points, n)
        else:
            k = torch.arange(points, dtype=values.dtype, device=values.device).view(1, points, 1)
            frac = ((k + shift.to(values).view(b, 1, -1)) / points).expand(b, points, n)
        grid = lo + frac * (hi - lo) if quantiles is None else _interp(frac, quantiles)
        best_r, best_u = v.clone(), truth_u.clone()
        t = torch.linspace(0, 1, zoom_points, dtype=values.dtype, device=values.device)
        for level in range(zooms + 1):
            util = _utilities(deviation, values, grid, chunk)
            u, arg = util.max(dim=1)
            better = u > best_u
            best_u = torch.where(better, u, best_u)
            best_r = torch.where(better, grid.gather(1, arg.unsqueeze(1))[:, 0], best_r)
            if level == zooms:
                break
            # the cells on either side of the best report so far (the truth included): from
            # the grid point below it to the one above it
            r = best_r.unsqueeze(1)
            a = torch.where(grid < r, grid, torch.full_like(grid, -torch.inf)).amax(1)
            z = torch.where(grid > r, grid, torch.full_like(grid, torch.inf)).amin(1)
            a, z = torch.maximum(a, lo), torch.minimum(z, hi)
            grid = a.unsqueeze(1) + t.view(1, -1, 1) * (z - a).unsqueeze(1)
        # the regret exactly as linear_regret computes it from the best candidate's outcome
        a_mis, p_mis = deviation(values, best_r.unsqueeze(1))  # (B, 1, n)
        regret, _ = linear_regret(v, alloc[..., 0], pay, a_mis, p_mis)
    return best_r.unsqueeze(-1), regret


def _interp(frac: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``frac (B, G, n)`` in ``[0, 1]`` -> reports by linear interpolation in ``table (Q, n)``."""
    q, n = table.shape
    pos = frac.clamp(0, 1) * (q - 1)
    i0 = pos.floor().long().clamp(max=q - 2)
    w = pos - i0
    cols = torch.arange(n, device=frac.device).expand_as(i0)
    t = table.to(frac)
    return t[i0, cols] * (1 - w) + t[i0 + 1, cols] * w
